"""The command line: `cli` parses arguments and is the one place errors become exit codes;
each command's shell lives beside it (worker, report, release notes, CAB, planning, mappings
init / check against a live site, config check, sandbox, demo) and drives the layers below;
`plan_output` is what `plan` and `sync --dry-run` print, `status_view` what `status` shows,
`explain` why one change stands where it does.
"""
