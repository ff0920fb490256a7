"""GitHub as a GitHub App: read waiting runs, answer custom deployment protection rules.

The one module that talks to GitHub, through githubkit (the app's JWT, the installation token it
exchanges for, the REST calls). The app authenticates with its JWT (RS256, signed by the private
key from `[deploy.github]`), finds the installation of each repository
(`GET /repos/{owner}/{repo}/installation`) and works with that installation's token (githubkit
exchanges and caches it until a minute before it expires):

    GET  /repos/{o}/{r}/actions/runs?status=waiting            runs held by protection rules
    GET  /repos/{o}/{r}/actions/runs/{run_id}/pending_deployments  still waiting, and where
    POST /repos/{o}/{r}/actions/runs/{run_id}/deployment_protection_rule  the answer / a comment

`answer` reads before it writes: a run that is no longer waiting in that environment has had its
rule answered (by an earlier attempt whose result was lost, a worker killed after the call, or a
person bypassing the rule), so nothing is sent twice. TLS verification stays on: `ca_bundle`
adds a private CA (GitHub Enterprise Server behind one, the sandbox). githubkit's own retries stay
off; failures become the connector's errors by status (systems/http.py's table).
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from connector.core.errors import ConfigError, ConnectorError, PermanentError
from connector.systems.http import error_for_status, one_line

if TYPE_CHECKING:  # githubkit takes half a second to import: only workers with a GitHub App do
    from githubkit import GitHub

T = TypeVar("T")
SYSTEM = "GitHub"
WHERE = "deploy.github"


@dataclass(frozen=True)
class AppCredentials:
    """What the client needs from `[deploy.github]`, secrets already read."""

    app_id: str
    private_key: str
    api_url: str = "https://api.github.com"
    ca_bundle: Path | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class WaitingRun:
    """A workflow run held on a protection rule, with the environments it waits for."""

    repo: str
    run_id: int
    sha: str
    actor: str
    created_at: datetime
    url: str
    environments: frozenset[str]
    attempt: int = 1


def read_private_key(*, path: Path | None, text: str | None) -> str:
    """The app's PEM private key from a file or from the config / environment text."""
    if text and text.strip():
        return text.replace("\\n", "\n")
    if path is None:
        raise ConfigError(
            f"{WHERE}.private_key_path: not set; give the app's private key file "
            f"(or its PEM text in CHANGE_CONNECTOR__DEPLOY__GITHUB__PRIVATE_KEY)"
        )
    try:
        pem = path.expanduser().read_text()
    except OSError as exc:
        raise ConfigError(f"{WHERE}.private_key_path: cannot read {path}: {exc.strerror}") from None
    if "PRIVATE KEY-----" not in pem:
        raise ConfigError(f"{WHERE}.private_key_path: {path} is not a PEM private key")
    return pem


class GitHubApp:
    """A GitHub App's view of its installations; thread-safe (one per worker)."""

    def __init__(self, credentials: AppCredentials) -> None:
        from githubkit import AppAuthStrategy, GitHub
        from githubkit.cache import MemCacheStrategy

        verify: bool | ssl.SSLContext = True
        if credentials.ca_bundle is not None:
            verify = ssl.create_default_context(cafile=os.fspath(credentials.ca_bundle))
        self._app = GitHub(
            AppAuthStrategy(credentials.app_id, credentials.private_key),
            base_url=credentials.api_url.rstrip("/") + "/",
            ssl_verify=verify,
            timeout=credentials.timeout_seconds,
            auto_retry=False,
            http_cache=False,
            trust_env=False,
            # Its own token cache: githubkit's default is one per process keyed by the app id,
            # which would hand a JWT signed with a replaced key to this client.
            cache_strategy=MemCacheStrategy(),
        )
        self._installations: dict[str, GitHub[Any]] = {}
        self._lock = threading.Lock()

    def pending_environments(self, repo: str, run_id: int) -> frozenset[str]:
        """The environments a run still waits on; empty once it has moved on."""
        gh, owner, name = self._installation(repo)
        with gh:  # one connection for the calls of this thread
            return _pending(gh, repo, owner, name, run_id)

    def run_attempt(self, repo: str, run_id: int) -> int:
        """The run's current attempt (a re-run keeps the run id and counts up)."""
        gh, owner, name = self._installation(repo)
        run = _call(
            f"read run {run_id} of {repo}",
            lambda: gh.rest.actions.get_workflow_run(owner, name, run_id).parsed_data,
        )
        return run.run_attempt or 1

    def answer(
        self, repo: str, run_id: int, *, environment: str, approved: bool, comment: str
    ) -> bool:
        """Approve or reject the app's rule for `environment`, unless already answered.

        True when this call sent the answer, False when the run no longer waits there.
        """
        gh, owner, name = self._installation(repo)
        state: Literal["approved", "rejected"] = "approved" if approved else "rejected"
        with gh:
            if environment not in _pending(gh, repo, owner, name, run_id):
                return False
            _call(
                f"answer the protection rule of run {run_id} of {repo}",
                lambda: gh.rest.actions.review_custom_gates_for_run(
                    owner,
                    name,
                    run_id,
                    environment_name=environment,
                    state=state,
                    comment=_comment(comment),
                ),
            )
        return True

    def comment(self, repo: str, run_id: int, *, environment: str, comment: str) -> None:
        """A status comment on the pending rule (why it waits); the rule stays pending."""
        gh, owner, name = self._installation(repo)
        _call(
            f"comment on the protection rule of run {run_id} of {repo}",
            lambda: gh.rest.actions.review_custom_gates_for_run(
                owner, name, run_id, environment_name=environment, comment=_comment(comment)
            ),
        )

    def waiting_runs(self, repo: str) -> list[WaitingRun]:
        """Every run of `repo` waiting on protection rules, with its pending environments."""
        gh, owner, name = self._installation(repo)
        found: list[WaitingRun] = []
        page = 1
        with gh:
            while True:
                listing = _call(
                    f"list waiting runs of {repo}",
                    lambda p=page: (
                        gh.rest.actions.list_workflow_runs_for_repo(  # type: ignore[misc]
                            owner, name, status="waiting", per_page=100, page=p
                        ).parsed_data
                    ),
                )
                for run in listing.workflow_runs:
                    envs = _pending(gh, repo, owner, name, run.id)
                    if envs:
                        actor = run.triggering_actor or run.actor
                        found.append(
                            WaitingRun(
                                repo=repo,
                                run_id=run.id,
                                sha=run.head_sha,
                                actor=actor.login if actor else "",
                                created_at=run.created_at,
                                url=run.html_url,
                                environments=envs,
                                attempt=run.run_attempt or 1,
                            )
                        )
                if len(listing.workflow_runs) < 100:
                    return found
                page += 1

    def close(self) -> None:
        with self._lock:
            self._installations.clear()

    def _installation(self, repo: str) -> tuple[GitHub[Any], str, str]:
        owner, _, name = repo.partition("/")
        if not owner or not name:
            raise PermanentError(f"{WHERE}: {repo!r} is not an owner/repository name")
        with self._lock:
            gh = self._installations.get(repo)
        if gh is None:
            found = _call(
                f"find the app's installation on {repo}",
                lambda: self._app.rest.apps.get_repo_installation(owner, name).parsed_data,
            )
            from githubkit import AppAuthStrategy, GitHub

            auth = self._app.auth
            assert isinstance(auth, AppAuthStrategy)
            gh = GitHub(auth.as_installation(found.id), config=self._app.config)
            with self._lock:
                self._installations[repo] = gh
        return gh, owner, name


def _pending(gh: GitHub[Any], repo: str, owner: str, name: str, run_id: int) -> frozenset[str]:
    """The environments waiting for protection rules in a run (empty once it moved on): GitHub's
    documented list of them, `GET .../actions/runs/{run_id}/pending_deployments`."""
    pending = _call(
        f"read pending deployments of run {run_id} of {repo}",
        lambda: gh.rest.actions.get_pending_deployments_for_run(owner, name, run_id).parsed_data,
    )
    return frozenset(p.environment.name for p in pending if p.environment.name)


#: GitHub keeps a protection rule's comment short; a longer one is cut, not refused.
MAX_COMMENT = 1000


def _comment(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_COMMENT else line[: MAX_COMMENT - 1] + "…"


def _call(what: str, fn: Callable[[], T]) -> T:
    """Run one githubkit call; its failures become the connector's errors, one line each."""
    import httpx
    from githubkit.exception import GitHubException, RequestFailed, RequestTimeout

    try:
        return fn()
    except RequestFailed as exc:
        response = exc.response
        detail = ""
        try:
            body = response.json()
            detail = str(body.get("message", "")) if isinstance(body, dict) else ""
        except ValueError:
            detail = one_line(response.text)
        retry = response.headers.get("retry-after")
        raise error_for_status(
            response.status_code,
            source=WHERE,
            what=what,
            system=SYSTEM,
            detail=detail,
            retry_after=float(retry) if retry and retry.isdigit() else None,
        ) from None
    except RequestTimeout:
        raise error_for_status(None, source=WHERE, what=what, system=SYSTEM) from None
    except GitHubException as exc:
        raise _transport(exc, what) from None
    except httpx.HTTPError as exc:
        raise _transport(exc, what) from None


def _transport(exc: BaseException, what: str) -> ConnectorError:
    text = f"{exc} {exc.__cause__ or ''}"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return ConfigError(
            f"{WHERE}: {what}: the TLS certificate of {SYSTEM} is not trusted; set "
            f"{WHERE}.ca_bundle to a PEM bundle with the CA that issued it"
        )
    return error_for_status(None, source=WHERE, what=what, system=SYSTEM, detail=type(exc).__name__)
