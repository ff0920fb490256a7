"""The functional core: pure data and decisions, no I/O, no clock, no client library.

One ticket's way through it: `mapping/` turns a raw ticket into the normalized `model.Change`;
`policy/` evaluates it into findings; `planner` turns findings into actions, each with a
deterministic idempotency key; `communications` and `notes/` decide and render the notes a
change gets, `notify/` its chat notifications. Around them: `cursor` and `windows` (the poll
window, planned-window conflicts), `paging` (paginators that only shape requests), `keys`,
`user_input`, `secret_rules` (what outside input and secrets may be), `skips` (why a ticket
was not recorded, as a bounded label), `gate` (which planned writes a source may make: observe
mode) and `errors` (errors named by what the caller does next).
Everything here is imported by the shell and imports nothing from it (checked by lint-imports).
"""
