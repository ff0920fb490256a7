"""`python -m connector` runs the same CLI as the `change-connector` script."""

from connector.cli import main

main()
