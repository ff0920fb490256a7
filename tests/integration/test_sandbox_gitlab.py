"""The sandbox's GitLab against GitLab's documentation: the deployments API in the shapes of the
published examples, approvals refused where GitLab refuses them, paging, token auth, and
Deployment Hook deliveries with GitLab's headers. The clients are python-gitlab and requests."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import gitlab
import pytest
import requests
from gitlab_helpers import REAL, Receiver, approval_posts, receiver, spec_of, wait_for
from gitlab_helpers import gitlab as call
from shapes import shape_problems
from sync_helpers import request_log, reset_log

from connector.sandbox import Sandbox
from connector.sandbox.app import CLIENT_CLOSED

SHA = "4bd1a2c5e8f0aa9d0c1e2f3a4b5c6d7e8f9a0b1c"


@pytest.fixture
def hooked(sandbox: Sandbox) -> Iterator[Receiver]:
    with receiver() as got:
        for project in ("acme/payments", "acme/billing"):
            sandbox.gitlab.add_hook(project, url=got.url, token="hook-token-0123456789abcdef")
        yield got
        sandbox.gitlab.hooks.clear()


def client(sandbox: Sandbox, user: str = "connector") -> gitlab.Gitlab:
    info = sandbox.info
    return gitlab.Gitlab(
        info.gitlab_url, private_token=info.gitlab_tokens[user], ssl_verify=info.ca_bundle
    )


def test_a_deployment_reads_in_the_shape_of_gitlabs_example(sandbox: Sandbox) -> None:
    done = sandbox.gitlab.create_deployment("acme/payments", "staging", sha=SHA, user="bob")
    made = sandbox.gitlab.create_deployment("acme/payments", "production", sha=SHA, user="bob")
    project = client(sandbox).projects.get("acme/payments", lazy=True)
    real = json.loads((REAL / "deployment.json").read_text())
    finished = project.deployments.get(done["id"]).asdict()
    assert shape_problems(real, finished, spec_of(real)) == []
    assert finished["status"] == "success" and finished["environment"]["name"] == "staging"
    ours = project.deployments.get(made["id"]).asdict()
    assert (ours["status"], ours["pending_approval_count"], ours["approvals"]) == ("blocked", 1, [])
    assert ours["user"]["username"] == "bob" and ours["deployable"]["finished_at"] is None


def test_approving_answers_like_gitlab_and_unblocks_the_deployment(
    sandbox: Sandbox, hooked: Receiver
) -> None:
    made = sandbox.gitlab.create_deployment("acme/payments", "production", sha=SHA, user="bob")
    answer = call(
        sandbox.info,
        "POST",
        f"/projects/acme%2Fpayments/deployments/{made['id']}/approval",
        json={"status": "approved", "comment": "Change PAY-7 approved"},
    )
    assert answer.status_code == 201
    real = json.loads((REAL / "approval.json").read_text())
    assert shape_problems(real, answer.json(), spec_of(real)) == []
    assert answer.json()["user"]["username"] == "connector"
    after = sandbox.gitlab.deployment(made["id"])
    assert (
        after["status"] == "success" and after["approvals"][0]["comment"] == "Change PAY-7 approved"
    )
    statuses = wait_for(
        "blocked, approved, running, success",
        lambda: (
            [d.body["status"] for d in hooked.deliveries if d.body["deployment_id"] == made["id"]]
            if len([d for d in hooked.deliveries if d.body["deployment_id"] == made["id"]]) >= 4
            else None
        ),
    )
    assert statuses == ["blocked", "approved", "running", "success"]


def test_deployment_hooks_carry_gitlabs_headers_and_shapes(
    sandbox: Sandbox, hooked: Receiver
) -> None:
    made = sandbox.gitlab.create_deployment("acme/payments", "production", sha=SHA, user="bob")
    call(
        sandbox.info,
        "POST",
        f"/projects/101/deployments/{made['id']}/approval",
        data={"status": "rejected", "comment": "Frozen"},
    )
    mine = wait_for(
        "three deliveries",
        lambda: (
            [d for d in hooked.deliveries if d.body["deployment_id"] == made["id"]][:3]
            if len([d for d in hooked.deliveries if d.body["deployment_id"] == made["id"]]) >= 3
            else None
        ),
    )
    assert [d.body["status"] for d in mine] == ["blocked", "rejected", "failed"]
    blocked, rejected, failed = mine
    success = json.loads((REAL / "deployment_hook_success.json").read_text())
    for delivery in mine:
        # the approval event's status_changed_at is ISO 8601 (a string too)
        assert shape_problems(success, delivery.body, spec_of(success)) == []
    assert "approver" not in blocked.body and "approval" not in failed.body
    assert rejected.body["approver"]["username"] == "connector"
    assert set(rejected.body["approval"]) == {
        "id",
        "status",
        "comment",
        "created_at",
        "approval_rule",
    }
    assert rejected.body["approval"]["comment"] == "Frozen"
    for delivery in mine:
        headers = delivery.headers
        assert headers["x-gitlab-event"] == "Deployment Hook"
        assert headers["x-gitlab-token"] == "hook-token-0123456789abcdef"
        assert headers["user-agent"].startswith("GitLab/")
        assert len(headers["x-gitlab-event-uuid"]) == 36
        assert headers["idempotency-key"] == headers["x-gitlab-event-uuid"]
    assert len({d.headers["x-gitlab-event-uuid"] for d in mine}) == 3
    assert sandbox.gitlab.deployment(made["id"])["deployable"]["status"] == "failed"


@pytest.mark.parametrize(
    ("deployer", "approver", "status", "message"),
    [
        ("carol", "carol", "approved", "You cannot approve your own deployment."),
        ("bob", "alice", "approved", "You don't have permission to approve this deployment."),
    ],
)
def test_approvals_gitlab_refuses_are_refused(
    sandbox: Sandbox, deployer: str, approver: str, status: str, message: str
) -> None:
    made = sandbox.gitlab.create_deployment("acme/payments", "production", sha=SHA, user=deployer)
    answer = call(
        sandbox.info,
        "POST",
        f"/projects/acme%2Fpayments/deployments/{made['id']}/approval",
        user=approver,
        json={"status": status},
    )
    assert answer.status_code == 400 and answer.json()["message"].startswith(message)
    assert sandbox.gitlab.deployment(made["id"])["status"] == "blocked"


def test_the_deployment_user_may_reject_but_a_finished_one_waits_for_nobody(
    sandbox: Sandbox,
) -> None:
    made = sandbox.gitlab.create_deployment("acme/payments", "production", sha=SHA, user="carol")
    path = f"/projects/acme%2Fpayments/deployments/{made['id']}/approval"
    assert (
        call(sandbox.info, "POST", path, user="carol", json={"status": "rejected"}).status_code
        == 201
    )
    again = call(sandbox.info, "POST", path, json={"status": "approved"})
    assert again.status_code == 400
    assert again.json() == {"message": "This deployment is not waiting for approvals."}
    staging = sandbox.gitlab.create_deployment("acme/payments", "staging", sha=SHA, user="bob")
    open_env = call(
        sandbox.info,
        "POST",
        f"/projects/acme%2Fpayments/deployments/{staging['id']}/approval",
        json={"status": "approved"},
    )
    assert open_env.json() == {"message": "This environment is not protected."}


def test_the_same_user_approving_twice_gets_its_first_approval_back(sandbox: Sandbox) -> None:
    made = sandbox.gitlab.create_deployment("acme/billing", "production", sha=SHA, user="bob")
    path = f"/projects/acme%2Fbilling/deployments/{made['id']}/approval"
    first = call(sandbox.info, "POST", path, json={"status": "approved", "comment": "first"})
    second = call(sandbox.info, "POST", path, json={"status": "approved", "comment": "second"})
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["comment"] == "first"
    after = sandbox.gitlab.deployment(made["id"])
    assert (after["status"], after["pending_approval_count"], len(after["approvals"])) == (
        "blocked",
        1,
        1,
    )


@pytest.mark.parametrize(
    ("body", "status", "answer"),
    [
        ({"status": "maybe"}, 400, {"error": "status does not have a valid value"}),
        ({"comment": "no status"}, 400, {"error": "status is missing"}),
        (
            {"status": "approved", "comment": "x" * 256},
            400,
            {"message": ["Comment is too long (maximum is 255 characters)"]},
        ),
    ],
)
def test_malformed_approvals_are_refused(
    sandbox: Sandbox, body: dict[str, str], status: int, answer: dict[str, object]
) -> None:
    made = sandbox.gitlab.create_deployment("acme/payments", "production", sha=SHA, user="bob")
    path = f"/projects/acme%2Fpayments/deployments/{made['id']}/approval"
    got = call(sandbox.info, "POST", path, json=body)
    assert (got.status_code, got.json()) == (status, answer)


def test_tokens_are_required_and_unknown_things_are_404(sandbox: Sandbox) -> None:
    info = sandbox.info
    made = sandbox.gitlab.create_deployment("acme/payments", "production", sha=SHA, user="bob")
    reset_log(info)
    bad = gitlab.Gitlab(info.gitlab_url, private_token="glpat-nope", ssl_verify=info.ca_bundle)
    with pytest.raises(gitlab.GitlabAuthenticationError):
        bad.projects.get("acme/payments", lazy=True).deployments.get(made["id"])
    bearer = requests.get(
        f"{info.gitlab_url}/api/v4/user",
        headers={"Authorization": f"Bearer {info.gitlab_tokens['dave']}"},
        verify=info.ca_bundle,
        timeout=30,
    )
    assert bearer.json()["username"] == "dave"
    assert call(info, "GET", "/projects/acme%2Fnope/deployments").status_code == 404
    assert call(info, "GET", "/projects/101/deployments/99999").json() == {
        "message": "404 Not found"
    }
    assert approval_posts(info) == []


def test_lists_filter_by_status_and_page_like_gitlab(sandbox: Sandbox) -> None:
    made = [
        sandbox.gitlab.create_deployment("acme/web", "production", sha=SHA, user="bob")["id"]
        for _ in range(5)
    ]
    sandbox.gitlab.create_deployment("acme/web", "staging", sha=SHA, user="bob")
    project = client(sandbox).projects.get("acme/web", lazy=True)
    pages = project.deployments.list(status="blocked", per_page=2, iterator=True)
    ids = [d.id for d in pages]
    assert set(made) <= set(ids) and all(
        d.status == "blocked" for d in project.deployments.list(status="blocked", get_all=True)
    )
    first = call(sandbox.info, "GET", "/projects/102/deployments", params={"per_page": 2})
    assert first.headers["x-per-page"] == "2" and 'rel="next"' in first.headers["link"]
    assert int(first.headers["x-total"]) >= 6 and len(first.json()) == 2
    refused = call(sandbox.info, "GET", "/projects/102/deployments", params={"state": "x"})
    assert refused.status_code == 400


def test_a_deploy_job_can_be_started_over_http_for_a_sandbox_in_the_foreground(
    sandbox: Sandbox,
) -> None:
    info = sandbox.info
    base = info.gitlab_url.removesuffix("/gitlab") + "/_sandbox/gitlab/deployments"
    body = {"project": "acme/web", "environment": "production", "sha": SHA, "user": "alice"}
    made = requests.post(base, json=body, verify=info.ca_bundle, timeout=30)
    assert made.status_code == 201 and made.json()["status"] == "blocked"
    bad = requests.post(base, json={**body, "sha": "abc"}, verify=info.ca_bundle, timeout=30)
    assert bad.status_code == 400
    staged = requests.post(
        base, json={**body, "environment": "staging"}, verify=info.ca_bundle, timeout=30
    ).json()
    assert staged["status"] == "success"  # an open environment deploys at once


def test_lists_filter_by_update_time_only_in_update_order(sandbox: Sandbox) -> None:
    made = sandbox.gitlab.create_deployment("acme/web", "staging", sha=SHA, user="bob")
    path = "/projects/acme%2Fweb/deployments"
    after = {"updated_after": "2000-01-01T00:00:00Z"}
    refused = call(sandbox.info, "GET", path, params=after)
    assert refused.status_code == 400
    found = call(sandbox.info, "GET", path, params={**after, "order_by": "updated_at"}).json()
    assert made["id"] in [d["id"] for d in found]
    later = {"updated_after": "2999-01-01T00:00:00Z", "order_by": "updated_at"}
    assert call(sandbox.info, "GET", path, params=later).json() == []
    bad = call(
        sandbox.info, "GET", path, params={"updated_after": "soon", "order_by": "updated_at"}
    )
    assert bad.status_code == 400


def test_the_request_log_names_gitlab_and_github_requests_by_their_system(
    sandbox: Sandbox,
) -> None:
    reset_log(sandbox.info)
    client(sandbox).projects.get("acme/payments", lazy=True).deployments.list(get_all=False)
    # any answer will do: the log records refused requests too
    requests.get(
        f"{sandbox.info.github['api_url']}/meta", verify=sandbox.info.ca_bundle, timeout=30
    )
    log = request_log(sandbox.info)
    systems = {entry["path"].split("/")[1]: entry["system"] for entry in log}
    assert {k: v for k, v in systems.items() if k != "_sandbox"} == {
        "gitlab": "gitlab",
        "github": "github",
    }


def test_a_request_its_client_closed_halfway_is_logged_as_reaching_nothing(
    sandbox: Sandbox,
) -> None:
    """A worker killed while sending an approval: the sandbox never had it whole, approves
    nothing, and logs it as nginx does (499), so a test counting writes does not count it."""
    made = sandbox.gitlab.create_deployment("acme/payments", "production", sha=SHA, user="bob")
    reset_log(sandbox.info)
    url = urlsplit(sandbox.info.gitlab_url)
    path = f"{url.path}/api/v4/projects/acme%2Fpayments/deployments/{made['id']}/approval"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"PRIVATE-TOKEN: {sandbox.info.gitlab_tokens['connector']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )
    context = ssl.create_default_context(cafile=sandbox.info.ca_bundle)
    with (
        socket.create_connection((url.hostname, url.port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=url.hostname) as tls,
    ):
        tls.sendall(head.encode() + b'{"status": "appro')  # then gone
    entry = wait_for(
        "the closed request in the log",
        lambda: next((r for r in request_log(sandbox.info) if r["method"] == "POST"), None),
    )
    assert entry["status"] == CLIENT_CLOSED and approval_posts(sandbox.info) == []
    assert sandbox.gitlab.deployment(made["id"])["status"] == "blocked"
