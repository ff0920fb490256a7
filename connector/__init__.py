"""change-connector: change control for the Jira and ServiceNow instances a team already uses."""

__version__ = "0.1.0"
