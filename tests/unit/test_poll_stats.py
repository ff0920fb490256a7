"""A poll cycle's counts: a ticket the cycle evaluates twice (revisited, then read again by the
scan) has its withheld writes counted once, as its last evaluation planned them."""

from __future__ import annotations

from connector.sync.poller import PollStats


def test_a_ticket_evaluated_twice_in_a_cycle_counts_its_withheld_writes_once() -> None:
    stats = PollStats(source="acme-jira")
    stats.withheld_by_ticket.update({"CHG-1": 3, "CHG-2": 1})  # revisit
    stats.withheld_by_ticket.update({"CHG-1": 2})  # the scan read CHG-1 again
    assert stats.withheld == 3


def test_a_ticket_whose_last_evaluation_withholds_nothing_counts_nothing() -> None:
    stats = PollStats(source="acme-jira")
    stats.withhold({"CHG-1": 3, "CHG-2": 1})  # revisit
    stats.withhold({"CHG-1": 0})  # the scan read CHG-1 again: nothing left to write
    assert stats.withheld == 1
    assert stats.withheld_by_ticket == {"CHG-2": 1}  # a ticket at 0 is not kept


def test_final_counts_are_summed_once_and_replace_what_was_kept_of_the_ticket() -> None:
    stats = PollStats(source="acme-jira")
    stats.withhold({"CHG-1": 3, "CHG-2": 1})  # the scan's pages
    stats.withhold({"CHG-1": 2, "CHG-3": 4, "CHG-4": 1}, final={"CHG-1", "CHG-3"})
    assert stats.withheld == 2 + 4 + 1 + 1
    # what no later step repeats is a sum, not an entry per ticket
    assert stats.withheld_by_ticket == {"CHG-2": 1, "CHG-4": 1}
    assert stats.withheld_final == 6
