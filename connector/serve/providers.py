"""The deployment providers a worker serves as a gate: GitHub's App and GitLab's approver.

`[deploy.github]` and `[deploy.gitlab]` each become a gate (sync/github_gate.py,
sync/gitlab_gate.py) with its answerer for held deploys, and a webhook handler served by exact
path beside the ticket systems' intake. The GitHub client library is imported only when a GitHub
App is configured: it adds about half a second to every start.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from connector.settings import Settings
from connector.store import Store
from connector.sync.gitlab_gate import GitLabGate
from connector.systems.gitlab import GitLabClient

if TYPE_CHECKING:
    from connector.sync.github_gate import GitHubGate


def open_gitlab_gate(
    settings: Settings, store: Store, *, clock: Callable[[], datetime], worker: str
) -> GitLabGate:
    """The GitLab approver of `[deploy.gitlab]` as a gate."""
    gitlab = settings.deploy.gitlab
    assert gitlab is not None
    return GitLabGate(settings, store, GitLabClient(gitlab), clock=clock, worker=worker)


def open_github_gate(
    settings: Settings, store: Store, *, clock: Callable[[], datetime], worker: str
) -> GitHubGate:
    """The GitHub App of `[deploy.github]` as a gate (its private key read once, never logged)."""
    from connector.sync.github_gate import GitHubGate
    from connector.systems.github import AppCredentials, GitHubApp, read_private_key

    github = settings.deploy.github
    assert github is not None
    key = read_private_key(
        path=github.private_key_path,
        text=github.private_key.get_secret_value() if github.private_key else None,
    )
    app = GitHubApp(
        AppCredentials(
            app_id=github.app_id,
            private_key=key,
            api_url=github.api_url,
            ca_bundle=github.ca_bundle,
            timeout_seconds=github.timeout_seconds,
        )
    )
    return GitHubGate(settings=settings, store=store, app=app, clock=clock, worker=worker)


def provider_hooks(
    settings: Settings, *, gitlab: GitLabGate | None, github: GitHubGate | None
) -> dict[str, ASGIApp]:
    """The open gates' webhook handlers, by the exact path each is served at."""
    hooks: dict[str, ASGIApp] = {}
    server = settings.server
    if gitlab is not None and settings.deploy.gitlab is not None:
        from connector.serve.gitlab_hook import PATH, GitLabHook

        token = settings.deploy.gitlab.webhook_token
        hooks[PATH] = GitLabHook(
            gitlab,
            token=token.get_secret_value() if token else None,
            max_body_bytes=server.max_body_bytes,
            max_depth=server.max_json_depth,
        )
    if github is not None and settings.deploy.github is not None:
        from connector.serve.github_hook import PATH as GITHUB_PATH
        from connector.serve.github_hook import GitHubHook

        secret = settings.deploy.github.webhook_secret
        hooks[GITHUB_PATH] = GitHubHook(
            github,
            secret=secret.get_secret_value() if secret else "",
            max_body_bytes=server.max_body_bytes,
        )
    return hooks
