"""GitHub payloads as gate inputs: the protection-rule event (shaped as its published schema
allows) and the published `deployment_status` examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.core.deploy.github import (
    PayloadProblem,
    parse_reference,
    reference,
    rule_deployment,
    status_deployment,
)

REAL = Path(__file__).parents[1] / "fixtures" / "real" / "github"
NOW = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)


def real(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REAL / name).read_text())
    return data


def rule_payload() -> dict[str, Any]:
    """A protection-rule event built from the published example objects."""
    status = real("deployment_status-with-installation.payload.json")
    schema = real("deployment_protection_rule-requested.schema.json")
    payload = {
        "action": "requested",
        "environment": "production",
        "event": "push",
        "deployment_callback_url": "https://api.github.com/repos/Codertocat/Hello-World/"
        "actions/runs/4521/deployment_protection_rule",
        "deployment": status["deployment"],
        "pull_requests": [],
        "repository": status["repository"],
        "sender": status["sender"],
        "installation": status["installation"],
    }
    assert set(payload) <= set(schema["properties"]) and set(schema["required"]) <= set(payload)
    return payload


def test_a_protection_rule_event_is_the_run_in_its_environment() -> None:
    found = rule_deployment(rule_payload(), services={}, received_at=NOW)
    assert found.provider == "github"
    assert found.reference == "Codertocat/Hello-World#4521:production"
    assert parse_reference(found.reference) == ("Codertocat/Hello-World", 4521, "production")
    assert found.service == "Hello-World" and found.environment == "production"
    assert found.commit == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert found.triggered_by == "Codertocat" and found.change_key is None
    assert found.at == datetime(2019, 5, 15, 15, 20, 53, tzinfo=UTC)
    assert found.url == "https://github.com/Codertocat/Hello-World/actions/runs/4521"


def test_services_map_a_repository_and_the_deployment_payload_names_the_change() -> None:
    payload = rule_payload()
    payload["deployment"] = {**payload["deployment"], "payload": {"change": " CHG-7 "}}
    found = rule_deployment(
        payload, services={"Codertocat/Hello-World": "checkout"}, received_at=NOW
    )
    assert found.service == "checkout" and found.change_key == "CHG-7"


@pytest.mark.parametrize(
    ("drop", "problem"),
    [
        ("environment", "environment: missing"),
        ("deployment_callback_url", "deployment_callback_url: missing"),
        ("repository", "repository.full_name: missing"),
    ],
)
def test_a_payload_without_what_the_gate_needs_is_refused(drop: str, problem: str) -> None:
    payload = rule_payload()
    del payload[drop]
    with pytest.raises(PayloadProblem, match=problem):
        rule_deployment(payload, services={}, received_at=NOW)


def test_a_callback_url_that_is_not_a_runs_is_refused() -> None:
    payload = rule_payload()
    payload["deployment_callback_url"] = "https://api.github.com/repos/a/b/deployments/1"
    with pytest.raises(PayloadProblem, match="callback"):
        rule_deployment(payload, services={}, received_at=NOW)


@pytest.mark.parametrize(
    "name",
    ["deployment_status-with-installation.payload.json", "deployment_status-payload.json"],
)
def test_the_published_deployment_status_examples_are_evidence(name: str) -> None:
    found = status_deployment(real(name), services={}, received_at=NOW)
    assert found is not None
    deployment, outcome, finished = found
    assert outcome == "success"
    assert deployment.reference == "Codertocat/Hello-World#deployment:145988746"
    assert deployment.environment == "production" and deployment.triggered_by == "Codertocat"
    assert finished == datetime(2019, 5, 15, 15, 20, 55, tzinfo=UTC)


def test_a_status_of_a_workflow_run_shares_the_gates_key_and_running_is_no_outcome() -> None:
    payload = real("deployment_status-with-installation.payload.json")
    payload["workflow_run"] = {"id": 4521}
    found = status_deployment(payload, services={}, received_at=NOW)
    assert found is not None
    assert found[0].reference == reference("Codertocat/Hello-World", 4521, "production")
    payload["deployment_status"] = {**payload["deployment_status"], "state": "in_progress"}
    assert status_deployment(payload, services={}, received_at=NOW) is None
    payload["deployment_status"] = {**payload["deployment_status"], "state": "error"}
    failed = status_deployment(payload, services={}, received_at=NOW)
    assert failed is not None and failed[1] == "failure"


def test_a_re_run_has_its_attempt_in_the_reference() -> None:
    assert reference("o/r", 7, "production") == "o/r#7:production"
    assert reference("o/r", 7, "production", 2) == "o/r#7.2:production"
    assert parse_reference("o/r#7.2:production") == ("o/r", 7, "production")
    for bad in ("o/r#x:production", "o/r#7.x:production", "o/r#7", "#7:production"):
        with pytest.raises(PayloadProblem):
            parse_reference(bad)
    payload = real("deployment_status-with-installation.payload.json")
    payload["workflow_run"] = {"id": 7, "run_attempt": 3}
    found = status_deployment(payload, services={}, received_at=NOW)
    assert found is not None and found[0].reference == "Codertocat/Hello-World#7.3:production"
