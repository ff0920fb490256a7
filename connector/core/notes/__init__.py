"""Release notes and change communications (pure): InfoSec guidance and audience routing
(`guidance`), and per-change and per-release notes per audience in Jira wiki, ADF, Markdown,
HTML, plain text and ServiceNow journal text (`render`).

In the flow: `core.communications` decides which notes a change gets when it is planned
(step 4); the texts rendered here are posted by the executor like any other action."""
