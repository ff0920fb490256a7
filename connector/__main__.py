"""`python -m connector` runs the same CLI as the `change-connector` script."""

from connector.commands.cli import main

main()
