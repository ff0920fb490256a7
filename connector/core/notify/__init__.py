"""Chat notifications, pure part (pipeline step 4, plan): `settings` is the `[[notify]]`
tree of channels, `events` says which events an evaluation means and to whom, `bodies` builds
each channel kind's request body, `plan` turns them into NOTIFY actions with idempotency keys.
The executor posts them through `connector.systems.chat` like any other action.
"""
