"""Adapters to the ticket systems: the only modules that import `jira`, `pysnc` or `requests`.

The sync shell reads tickets through them (`jira`, `servicenow`: paged searches, a ticket by
key) and applies planned actions through `writers` (check the ticket's own marker, then write:
`jira_markers`, `jira_notes`); `http` holds the one retry policy of every call, `paths` quotes
what goes into a URL, `site_reads` and `servicenow_meta` read a site's description for
`mappings init / check --live`.
"""
