"""GitLab's Deployment Hook bodies read as gate inputs, from GitLab's published examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.core.deploy.gitlab import PayloadProblem, hook_event, parse_reference, reference
from connector.systems.gitlab import MAX_COMMENT, shorten

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real" / "gitlab"


def real(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((REAL / name).read_text())
    return body


def test_a_lifecycle_event_names_its_deployment_and_who_triggered_it() -> None:
    event = hook_event(real("deployment_hook_success.json"))
    assert (event.project, event.deployment_id) == ("root/test-deployment-webhooks", 15)
    assert (event.status, event.environment, event.username) == ("success", "staging", "root")
    assert event.approval is False


def test_an_approval_event_is_told_apart_from_the_lifecycle() -> None:
    # GitLab's approval events: the approval's status, with `approver` and `approval` added
    body = {
        **real("deployment_hook_success.json"),
        "status": "approved",
        "environment": "production",
        "approver": {"id": 5, "username": "ops_lead"},
        "approval": {"id": 42, "status": "approved", "comment": "LGTM"},
    }
    event = hook_event(body)
    assert event.approval is True
    assert (event.status, event.environment, event.deployment_id) == ("approved", "production", 15)
    assert event.username == "root"  # still the user who triggered the deployment


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"object_kind": "build"}, "not a deployment event"),
        ({"project": {"id": 30}}, "no project.path_with_namespace"),
        ({"deployment_id": "15"}, "no deployment_id"),
        ({"deployment_id": True}, "no deployment_id"),
        ({"deployment_id": 0}, "no deployment_id"),
        ({"status": ""}, "no status"),
    ],
)
def test_a_body_that_names_no_deployment_is_refused(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(PayloadProblem, match=problem):
        hook_event({**real("deployment_hook_success.json"), **change})


def test_references_round_trip_and_nested_groups_keep_their_path() -> None:
    assert parse_reference(reference("acme/platform/payments", 501)) == (
        "acme/platform/payments",
        501,
    )
    for bad in ("acme-payments#1", "acme/payments#x", "acme/payments"):
        with pytest.raises(ValueError, match="not a GitLab deployment reference"):
            parse_reference(bad)


def test_a_comment_fits_gitlabs_limit_on_one_line() -> None:
    long = "deny (PAY-1): " + "The freeze 'Year-end' is in force.\n" * 20
    short = shorten(long)
    assert len(short) == MAX_COMMENT and "\n" not in short and short.endswith("…")
    assert shorten("allow (PAY-1):  ok\n") == "allow (PAY-1): ok"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"url": "http://gitlab.example.com"}, "not an https URL"),
        ({"url": "https://gitlab.example.com/api/v4"}, "without /api/v4"),
        ({"projects": ["payments"]}, "not a project path"),
        ({"projects": [" acme/payments"]}, "not a project path"),
        ({"poll_interval_seconds": 0}, "greater than 0"),
    ],
)
def test_the_gitlab_settings_refuse_what_cannot_work(changes: dict[str, Any], problem: str) -> None:
    from pydantic import ValidationError

    from connector.core.deploy.config import GitlabDeploySettings

    with pytest.raises(ValidationError, match=problem):
        GitlabDeploySettings.model_validate(
            {"url": "https://gitlab.example.com", "token": "glpat-x", **changes}
        )


def test_a_project_deploys_its_configured_service_or_its_own_name() -> None:
    from connector.core.deploy.config import GitlabDeploySettings

    settings = GitlabDeploySettings(
        url="https://gitlab.example.com/", services={"acme/web": "storefront"}
    )
    assert settings.url == "https://gitlab.example.com"
    assert settings.service_of("acme/web") == "storefront"
    assert settings.service_of("acme/platform/payments") == "payments"
