"""change-connector: change control for the Jira and ServiceNow instances a team already uses.

The folders follow the flow, and a folder says what its modules may do:

    commands/   the command line; each command's shell          (may import everything below)
    serve/      the running worker: schedule, webhook intake, report API, metrics
    reports/    compliance reports, read from the store only
    sync/       one poll / drain cycle: read -> normalize -> evaluate -> plan -> record -> apply
    store/      the database (only here)      systems/  Jira and ServiceNow (only here)
    settings    the configuration tree
    core/       pure: model, mapping, policy, planner, notes, cursor ... (no I/O, no clock)
    sandbox/    the local Jira + ServiceNow simulator (imports only the core)

A layer imports only the layers below it (`lint-imports`, contracts in pyproject.toml).
"""

__version__ = "0.1.0"
