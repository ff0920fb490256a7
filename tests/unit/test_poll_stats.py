"""A poll cycle's counts: a ticket the cycle evaluates twice (revisited, then read again by the
scan) has its withheld writes counted once, as its last evaluation planned them."""

from __future__ import annotations

from connector.sync.poller import PollStats


def test_a_ticket_evaluated_twice_in_a_cycle_counts_its_withheld_writes_once() -> None:
    stats = PollStats(source="acme-jira")
    stats.withheld_by_ticket.update({"CHG-1": 3, "CHG-2": 1})  # revisit
    stats.withheld_by_ticket.update({"CHG-1": 2})  # the scan read CHG-1 again
    assert stats.withheld == 3
