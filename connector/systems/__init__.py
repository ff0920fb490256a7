"""Adapters to the ticket systems: the only modules that import `jira`, `pysnc` or `requests`."""
