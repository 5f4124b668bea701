"""The web page's routes on the gateway's HTTP app: served without a token, with strict security
headers, nothing else served from its folder; and, behind a person's own token, what the page calls:
who am I, and the approvals I may decide. People come from a real Redis (UserStore)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from hermes.contracts import Plan, PlanStep, utcnow
from hermes.keys import Keys
from hermes.profiles import Profile
from hermes.signing import ServiceKey
from hermes.stores.approvals import PendingApproval
from hermes.stores.users import UserStore
from hermes_gateway.http_api import HttpApi, build_http_app
from hermes_gateway.people import People


def pending(approval_id: str, requested_by: str, approvers: list[str], *, two_person: bool = False,
            approved_by: list[str] | None = None) -> PendingApproval:
    plan = Plan(conversation_id=f"conv-{approval_id}", correlation_id="m1", message_id="m1",
                requested_by=requested_by, intent="stack.apply", summary=f"Build app-data ({approval_id})",
                cluster="staging-cluster", steps=[PlanStep(argv=["cluster", "apply", "-f", "stack.yaml"])])
    now = utcnow()
    return PendingApproval(approval_id=approval_id, plan=plan, plan_hash="h" * 16,
                           profile=Profile(name="prod" if two_person else "default", two_person=two_person),
                           requested_by=requested_by, approvers=approvers, reasons=["builds a stack"],
                           approved_by=approved_by or [], created_at=now, expires_at=now + timedelta(minutes=30))


class FakeApprovals:
    """The read side of the guard's approval records, as the HTTP API uses it."""

    def __init__(self, items: list[PendingApproval]) -> None:
        self.items = items

    async def pending(self, limit: int = 200) -> list[PendingApproval]:
        return self.items[:limit]

    async def get(self, approval_id: str) -> PendingApproval | None:
        return next((p for p in self.items if p.approval_id == approval_id), None)

    async def outcome(self, _approval_id: str) -> str | None:
        return None

    async def pending_ids(self, conversation_id: str) -> list[str]:
        return [p.approval_id for p in self.items if p.plan.conversation_id == conversation_id]


APPROVALS = [
    pending("apr-anyone", "carol", ["*"]),
    pending("apr-named-bob", "carol", ["bob"]),
    pending("apr-alices-own", "alice", ["*"], two_person=True),
    pending("apr-two-person", "carol", ["*"], two_person=True, approved_by=["dave"]),
]


@pytest.fixture
async def people(redis_client: aioredis.Redis, redis_prefix: str) -> tuple[People, dict[str, str]]:
    store = UserStore(redis_client, Keys(redis_prefix))
    tokens = {}
    for name, roles in (("alice", ["operator", "approver"]), ("bob", ["approver"]), ("vera", ["viewer"])):
        _user, tokens[name] = await store.add(name, roles)
    return People(store, ServiceKey.generate("gateway")), tokens


async def client_for(people: People, approvals: FakeApprovals | None) -> TestClient:
    api = HttpApi(None, None, None, approvals, None, 1)  # type: ignore[arg-type]
    client = TestClient(TestServer(build_http_app(api, people), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(people):
    client = await client_for(people[0], FakeApprovals(APPROVALS))
    yield client
    await client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_page_is_served_without_a_token_with_strict_headers(client) -> None:
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    html = await resp.text()
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    # no inline script or style: everything the CSP allows comes from /web/
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [] and "<style" not in html and " style=" not in html
    for asset, kind in (("/web/app.js", "text/javascript"), ("/web/style.css", "text/css")):
        resp = await client.get(asset)
        assert resp.status == 200 and resp.content_type == kind, asset
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_page_has_no_user_field_and_its_requests_name_no_user(client) -> None:
    html = await (await client.get("/")).text()
    assert 'data-testid="user"' not in html and 'id="user"' not in html
    assert 'data-testid="token"' in html and 'data-testid="sign-out"' in html
    script = await (await client.get("/web/app.js")).text()
    assert "/v1/whoami" in script
    assert not re.search(r"\buser\s*:", script), "no request body carries a user"
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "outerHTML" not in script


@pytest.mark.parametrize("path", ["/web/../http_api.py", "/web/%2e%2e%2fhttp_api.py", "/web/openapi.yaml",
                                  "/web/", "/web/app.js.map"])
async def test_nothing_else_is_served_from_the_web_folder(client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status in (401, 404), (path, resp.status)
    assert "def " not in await resp.text()


async def test_whoami_says_who_the_token_belongs_to(client, people) -> None:
    _people, tokens = people
    resp = await client.get("/v1/whoami", headers=bearer(tokens["alice"]))
    assert resp.status == 200
    me = await resp.json()
    assert me["user"] == "alice" and me["roles"] == ["operator", "approver"] and me["channel"] == "http"
    assert (await (await client.get("/v1/whoami", headers=bearer(tokens["vera"]))).json())["roles"] == ["viewer"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}])
async def test_whoami_and_approvals_need_a_valid_token(client, headers: dict[str, str]) -> None:
    for path in ("/v1/whoami", "/v1/approvals"):
        resp = await client.get(path, headers=headers)
        assert resp.status == 401, (path, headers)
        assert "bearer token" in (await resp.json())["error"]


async def test_a_revoked_token_stops_working_at_once(client, people, redis_client, redis_prefix) -> None:
    _people, tokens = people
    assert (await client.get("/v1/whoami", headers=bearer(tokens["bob"]))).status == 200
    await UserStore(redis_client, Keys(redis_prefix)).revoke("bob")
    resp = await client.get("/v1/whoami", headers=bearer(tokens["bob"]))
    assert resp.status == 401 and "revoked" in (await resp.json())["error"]


async def test_approvals_list_what_the_caller_may_decide_and_their_own_requests(client, people) -> None:
    _people, tokens = people

    async def listed(name: str) -> list[str]:
        resp = await client.get("/v1/approvals", headers=bearer(tokens[name]))
        assert resp.status == 200
        return [a["approval_id"] for a in (await resp.json())["approvals"]]

    # alice: an approver, not named for apr-named-bob; her own two-person request is listed to withdraw it
    assert await listed("alice") == ["apr-anyone", "apr-alices-own", "apr-two-person"]
    assert await listed("bob") == ["apr-anyone", "apr-named-bob", "apr-alices-own", "apr-two-person"]
    assert await listed("vera") == []  # a viewer decides nothing
    resp = await client.get("/v1/approvals", headers=bearer(tokens["alice"]))
    item = next(a for a in (await resp.json())["approvals"] if a["approval_id"] == "apr-two-person")
    assert item["two_person"] is True and item["approved_by"] == ["dave"] and item["requested_by"] == "carol"
    assert item["steps"] == [["cluster", "apply", "-f", "stack.yaml"]] and item["cluster"] == "staging-cluster"


@pytest.mark.parametrize(("path", "body"), [("/v1/messages", {"text": "hi", "user": "bob"}),
                                            ("/v1/approvals/apr-anyone", {"decision": "approve", "user": "bob"})])
async def test_a_body_naming_a_user_is_refused(client, people, path: str, body: dict) -> None:
    _people, tokens = people
    resp = await client.post(path, json=body, headers=bearer(tokens["alice"]))
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert "'user'" in error and "bearer token" in error


async def test_pending_approvals_without_a_store_is_a_clear_503(people) -> None:
    client = await client_for(people[0], None)
    try:
        resp = await client.get("/v1/approvals", headers=bearer(people[1]["alice"]))
        assert resp.status == 503 and "approval" in (await resp.json())["error"]
    finally:
        await client.close()
