"""`python -m connector` runs the same CLI as the `change-connector` script."""

from connector.commands.cli import main

if __name__ == "__main__":  # not when a spawned process imports it
    main()
