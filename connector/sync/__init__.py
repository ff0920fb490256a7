"""The sync shell: one poll or drain cycle, from reading tickets to applying the plan.

`runtime` wires a configured source (settings, mapping, policy, adapter, writer, store);
`poller` reads the cursor window through `reader`, `drain` re-reads the tickets that webhooks
named; both hand each ticket to `pipeline` (normalize -> unchanged? -> evaluate -> plan: `page`
is what a batch is on the way, `reads` what the store says for its evaluation), which
`recording` stores in one transaction with the cursor; `executor` then applies the planned
actions (ledger claim -> remote marker check -> adapter call -> record). I/O only through
`connector.systems` and `connector.store`.
"""
