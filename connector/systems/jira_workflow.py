"""Jira workflow moves: transitions by name, checked against what the issue was read with.

A mixin of `JiraAdapter`. A transition is looked up by name among the transitions the issue
offered when its page was read (`expand=transitions`, kept by `jira_seen`); right after this
worker moved the issue, among those other issues of the same project and type offered in that
status (Jira's workflows are per project and type), and, when Jira refuses the id learned
there (a condition hides it on this issue; a 4xx applies nothing), among those the issue itself
offers, read then. A transition whose answer is lost is checked by the issue's status.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector.core.errors import PermanentError
from connector.systems.jira_markers import PROPERTY_KEY
from connector.systems.jira_part import JiraPart
from connector.systems.paths import segment


class JiraWorkflow(JiraPart):
    """Transitions of one Jira site; the adapter gives the session (`_rest`) and the cache."""

    _transition_targets: dict[str, str]  # transition name -> status name, as seen

    def transition_names(self, keys: Iterable[str]) -> set[str]:
        """Names of the transitions available on any of these issues."""
        names: set[str] = set()
        for key in keys:
            names.update(t["name"] for t in self._transitions(key, read=True)[1])
        return names

    def transition(
        self,
        key: str,
        *,
        name: str,
        fields: dict[str, Any] | None = None,
        target_status: str | None = None,
    ) -> bool:
        """Perform the transition called `name`; False (no write) if already in its target status.

        The id is looked up by name among the transitions the issue was read with (or, right
        after this worker moved it, those other issues of its workflow offered in that status;
        one refused there is read on the issue and tried once more). When the transition is
        not offered, its target is `target_status` or what an earlier lookup showed; if the
        issue is there already, nothing is done, otherwise it is a PermanentError.
        """
        status, offered, learned = self._transitions(key)
        match = next((t for t in offered if t["name"].casefold() == name.casefold()), None)
        if learned and match is None:  # not offered elsewhere: what does this issue offer?
            status, offered, learned = self._transitions(key, read=True)
            match = next((t for t in offered if t["name"].casefold() == name.casefold()), None)
        target = match["to"]["name"] if match else target_status
        target = target or self._transition_targets.get(name.casefold())
        if target is not None and target.casefold() == status.casefold():
            return False
        if match is None:
            names = ", ".join(sorted(t["name"] for t in offered)) or "none"
            raise PermanentError(
                f"{self.name}: {key}: transition {name!r} is not available from status "
                f"{status!r} (available: {names})"
            )
        payload: dict[str, Any] = {"transition": {"id": match["id"]}, "fields": fields or {}}
        markers = self.notes.unsaved(key)
        if markers is not None:
            payload["properties"] = [{"key": PROPERTY_KEY, "value": markers}]
        try:
            self._post_transition(key, name, payload, match["to"]["name"])
        except PermanentError:
            if not learned:
                raise
            # Refused: the id learned from another issue is hidden here (a condition), and
            # a 4xx applied nothing. Read what this issue offers and try that once.
            status, offered, _ = self._transitions(key, read=True)
            match = next((t for t in offered if t["name"].casefold() == name.casefold()), None)
            if match is None or status.casefold() == match["to"]["name"].casefold():
                return self.transition(key, name=name, fields=fields, target_status=target)
            payload["transition"] = {"id": match["id"]}
            self._post_transition(key, name, payload, match["to"]["name"])
        if markers is not None:
            self.notes.saved(key)
        self.notes.cache.moved(key, match["to"]["name"])
        return True

    def _post_transition(self, key: str, name: str, payload: dict[str, Any], to: str) -> None:
        self._call(
            lambda: self._rest("POST", f"issue/{segment(key)}/transitions", body=payload),
            f"transition {key} by {name!r}",
            idempotent=False,
            already_done=lambda: self._in_status(key, to),
        )

    def status(self, key: str) -> str:
        """The issue's status as last read (a read page, or this worker's own transition);
        read now when it is not known."""
        seen = self.notes.cache.state(key)
        if seen is not None and seen.status is not None:
            return seen.status
        raw = self._call(
            lambda: self._rest("GET", f"issue/{segment(key)}", params={"fields": "status"}),
            f"read {key}",
        )
        return str(raw["fields"]["status"]["name"])

    def _transitions(
        self, key: str, *, read: bool = False
    ) -> tuple[str, list[dict[str, Any]], bool]:
        """The issue's status name, the transitions it offers and whether those were learned
        from other issues: as read with its page; else, after this worker's own transition,
        as other issues of its workflow offered them in that status; else (or `read`) one GET."""
        seen = self.notes.cache.state(key)
        known = None if seen is None or seen.status is None or read else seen.transitions
        there = None if known is not None or read else self.notes.cache.offered_there(key)
        source = known if known is not None else there
        if seen is not None and seen.status is not None and source is not None:
            status, learned = seen.status, known is None
            offered: list[dict[str, Any]] = [
                {"id": t.id, "name": t.name, "to": {"name": t.to}} for t in source
            ]
        else:
            learned = False
            params = {"fields": "status", "expand": "transitions"}
            raw = self._call(
                lambda: self._rest("GET", f"issue/{segment(key)}", params=params), f"read {key}"
            )
            self.notes.cache.seen(raw)
            status, offered = str(raw["fields"]["status"]["name"]), raw.get("transitions", [])
        for t in offered:
            self._transition_targets[t["name"].casefold()] = t["to"]["name"]
        return status, offered, learned

    def _in_status(self, key: str, status: str) -> bool | None:
        raw = self._rest("GET", f"issue/{segment(key)}", params={"fields": "status"})
        return True if raw["fields"]["status"]["name"] == status else None
