"""Release notes and change communications (pure): InfoSec guidance and audience routing
(`guidance`), and per-change and per-release notes per audience in Jira wiki, ADF, Markdown,
HTML, plain text and ServiceNow journal text (`render`)."""
