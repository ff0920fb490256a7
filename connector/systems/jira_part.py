"""What the Jira adapter's parts (workflow moves, issue edits) need of the adapter: its session
(`_rest`, `_submit`) and the markers of the issues read in this cycle (`notes`); `JiraAdapter`
gives both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.systems import http

if TYPE_CHECKING:
    from connector.systems.jira_notes import JiraNotes


class JiraPart(http.PolicyClient):
    """The base of `JiraWorkflow` and `JiraEdits`."""

    notes: JiraNotes

    def _rest(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        raise NotImplementedError

    def _submit(self, path: str, body: Any) -> str:
        """POST `body` to an asynchronous operation; the `Location` of the task it started."""
        raise NotImplementedError
