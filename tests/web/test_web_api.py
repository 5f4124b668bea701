"""The web page's routes on the gateway's HTTP app: served without the token, with strict security
headers, nothing else served from its folder; and the pending-approvals list behind the token."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hermes_gateway.http_api import HttpApi, build_http_app

TOKEN = "t" * 32
PENDING = [{"approval_id": "apr-1", "conversation_id": "c1", "summary": "Build app-data on staging-cluster",
            "cluster": "staging-cluster", "steps": [["cluster", "apply", "-f", "stack.yaml"]], "risks": [],
            "requested_by": "alice", "approvers": ["alice"], "approved_by": [], "profile": "default",
            "created_at": "2026-11-24T10:00:00+00:00", "expires_at": "2026-11-24T10:30:00+00:00"}]


async def client_for(pending=None) -> TestClient:
    api = HttpApi(log=None, publish=None, approval_lookup=None, ready=None, long_poll_max=1, subjects_=None,
                  pending_approvals=pending)
    client = TestClient(TestServer(build_http_app(api, TOKEN), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client():
    async def pending():
        return PENDING

    client = await client_for(pending)
    yield client
    await client.close()


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


@pytest.mark.parametrize("path", ["/web/../http_api.py", "/web/%2e%2e%2fhttp_api.py", "/web/openapi.yaml",
                                  "/web/", "/web/app.js.map"])
async def test_nothing_else_is_served_from_the_web_folder(client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status in (401, 404), (path, resp.status)
    assert "def " not in await resp.text()


async def test_pending_approvals_need_the_token(client) -> None:
    resp = await client.get("/v1/approvals")
    assert resp.status == 401 and "bearer" in (await resp.json())["error"]
    resp = await client.get("/v1/approvals", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200 and (await resp.json()) == {"approvals": PENDING}


async def test_pending_approvals_without_a_store_is_a_clear_503() -> None:
    client = await client_for(None)
    try:
        resp = await client.get("/v1/approvals", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status == 503 and "approval" in (await resp.json())["error"]
    finally:
        await client.close()
