"""Shared pieces of the channel tests: events in the gateway's shape, and serving an adapter's routes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

APPROVAL_ID = "ap_7f3c2a9d4b1e4c6f8a0d2b5e9c1f3a7d"
TREE = """stack shop (cluster shop-prod, hetzner fsn1)
├── ingress-nginx 4.10.0       2 replicas
├── cert-manager v1.14.4       1 replica
└── postgresql 15.4.0          1 replica, 20 Gi"""


def reply_event(text: str = "Here are your clusters.", **extra: Any) -> dict[str, Any]:
    event = {"type": "reply", "id": "rep-1", "correlation_id": "msg-1", "kind": "answer", "text": text,
             "final": True, "blocks": [], "approval": None, "source": "planner",
             "created_at": "2024-05-01T12:00:00+00:00"}
    event.update(extra)
    return event


def approval_event(tree: str = TREE, approval_id: str = APPROVAL_ID) -> dict[str, Any]:
    return reply_event(
        text="Draft for stack shop: review the architecture and the bill of materials.",
        id="rep-2", kind="approval",
        blocks=[{"type": "code", "text": tree, "language": ""},
                {"type": "table", "title": "Bill of materials (estimate)",
                 "columns": ["component", "chart", "replicas", "EUR/month"],
                 "rows": [["ingress-nginx", "ingress-nginx/ingress-nginx", "2", "8.00"],
                          ["postgresql", "bitnami/postgresql", "1", "12.50"]]}],
        approval={"approval_id": approval_id, "plan_hash": "sha256:abc", "summary": "Create cluster shop-prod",
                  "steps": [["cluster", "apply", "-f", "stack.yaml"], ["cluster", "get", "shop-prod", "-o", "json"]],
                  "risks": ["creates 3 servers (billed)"], "expires_at": "2030-01-01T00:30:00+00:00",
                  "approvers": []})


def long_tree(lines: int = 400) -> str:
    return "\n".join(f"├── component-{i:04d} chart-{i}/app 1.{i}.0  {i % 5 + 1} replicas" for i in range(lines))


async def serve(routes: list[tuple[str, str, Callable[..., Any]]]) -> TestClient:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for a condition")
        await asyncio.sleep(0.02)
