"""A stand-in for the gateway's HTTP API, for testing the CLI's client side.

It plays the documented API (messages, long-poll events, approvals, whoami, bearer auth, JSON
errors, and the 400 for a body that names a `user`) with scripted replies. The real end-to-end path is tested with the real services elsewhere
(tests/e2e and tests/cli/test_up_e2e.py); this fake only lets the client's rendering and error
handling be tested quickly and deterministically.

It runs in a thread with its own event loop, so tests call the CLI synchronously (the CLI
runs its own `asyncio.run`).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hermes import embedded

TOKEN = "test-token-" + "x" * 20
WHOAMI = {"user": "alice", "roles": ["operator", "approver"], "channel": "http", "at": "2025-01-01T00:00:00+00:00"}

CLUSTERS_TABLE = {"type": "table", "title": "Clusters", "columns": ["NAME", "PROVIDER", "STATE", "WORKERS"],
                  "rows": [["staging-cluster", "hetzner", "running", "3"], ["production", "ovh", "running", "5"]]}


def reply(correlation_id: str, kind: str, text: str = "", *, final: bool = False,
          blocks: list[dict] | None = None, approval: dict | None = None) -> dict[str, Any]:
    return {"type": "reply", "id": uuid.uuid4().hex, "correlation_id": correlation_id, "kind": kind,
            "text": text, "blocks": blocks or [], "final": final, "approval": approval, "source": "fake",
            "created_at": "2025-01-01T00:00:00+00:00"}


def script(text: str, cid: str) -> list[dict[str, Any]]:
    """What the fake Hermes answers to a message."""
    lowered = text.lower()
    if "list my ankra clusters" in lowered:
        return [reply(cid, "progress", "Running `ankra cluster list`..."),
                reply(cid, "answer", "Ran `ankra cluster list`:", final=True, blocks=[CLUSTERS_TABLE])]
    if "break" in lowered:
        return [reply(cid, "error", "`ankra cluster list` failed (exit code 1): boom", final=True)]
    if "delete" in lowered:
        approval = {"approval_id": "apr-123", "plan_hash": "h" * 16, "summary": "Delete stack monitoring",
                    "steps": [["cluster", "stacks", "delete", "monitoring", "--cluster", "staging-cluster"]],
                    "risks": ["destructive: deletes a stack"], "expires_at": "2030-01-01T12:00:00+00:00",
                    "approvers": ["alice"]}
        return [reply(cid, "approval", "Approval needed", final=True, approval=approval)]
    if "silence" in lowered:
        return []
    return [reply(cid, "answer", f"You said: {text}", final=True)]


def _decided(cid: str, decision: str) -> list[dict[str, Any]]:
    """As the guard answers a decision it takes: the approval, then what ran; or the rejection."""
    if decision == "approve":
        return [reply(cid, "progress", "Approved by alice. Running 1 step(s)..."),
                reply(cid, "answer", "Ran `ankra cluster stacks delete monitoring`: deleted.", final=True)]
    return [reply(cid, "answer", "Rejected by alice. Nothing was run.", final=True)]


# The guard's answers to a decision on each approval the fake knows, by approval id (texts as the guard's).
DECISIONS: dict[str, Any] = {
    "apr-123": _decided,
    "apr-mine": lambda cid, _d: [reply(
        cid, "error", "alice asked for this, so cannot be one of the two approvers that profile “production” "
                      "needs; apr-mine still waits", final=True)],
    "apr-two": lambda cid, _d: [reply(
        cid, "answer", "approved by alice (1 of 2); profile “production” needs a second person: another "
                       "approver.", final=True)],
    "apr-fails": lambda cid, _d: [reply(cid, "progress", "Approved by alice. Running 1 step(s)..."),
                                  reply(cid, "error", "`ankra cluster reconcile production` failed (exit code 1): "
                                                      "boom", final=True)],
}


@dataclass
class FakeGateway:
    url: str = ""
    token: str = TOKEN
    conversations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    # Approvals in conversations of another person (bob), whose events the caller may not read: the
    # guard's answer shows only in the pending list (GET /v1/approvals).
    pending: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "apr-bobs": {"approval_id": "apr-bobs", "requested_by": "bob", "approved_by": [], "two_person": True},
        "apr-bobs-last": {"approval_id": "apr-bobs-last", "requested_by": "bob", "approved_by": ["carol"],
                          "two_person": True},
    })
    hidden: set[str] = field(default_factory=set)
    _changed: asyncio.Condition | None = None
    _cursor: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def _auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header:
            raise _error(401, "missing bearer token")
        if header != f"Bearer {self.token}":
            raise _error(401, "invalid bearer token")

    async def _body(self, request: web.Request) -> dict[str, Any]:
        body = await request.json()
        self.requests.append(("POST", request.path, body))
        if "user" in body:  # as the real gateway: who you are comes from the token
            raise _error(400, "field 'user' is not accepted: who you are comes from your bearer token")
        return body

    async def _append(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        assert self._changed is not None
        async with self._changed:
            for event in events:
                event["cursor"] = str(next(self._cursor))
                self.conversations[conversation_id].append(event)
            self._changed.notify_all()

    async def post_message(self, request: web.Request) -> web.Response:
        self._auth(request)
        body = await self._body(request)
        conversation_id = body.get("conversation_id")
        if conversation_id is None:
            conversation_id = uuid.uuid4().hex
            self.conversations[conversation_id] = []
            # another person's turn in the same conversation, to prove the client filters by turn
            await self._append(conversation_id, [reply("someone-else", "answer", "NOT YOURS", final=True)])
        elif conversation_id not in self.conversations:
            raise _error(404, f"unknown conversation {conversation_id!r}")
        cid = uuid.uuid4().hex
        cursor = self.conversations[conversation_id][-1]["cursor"] if self.conversations[conversation_id] else "0"
        await self._append(conversation_id, [{"type": "message", "id": cid, "correlation_id": cid,
                                              "text": body["text"], "user": WHOAMI["user"]}])
        # Replies arrive after the 202, as they do from the real services.
        asyncio.get_running_loop().call_later(
            0.05, lambda: asyncio.ensure_future(self._append(conversation_id, script(body["text"], cid))))
        return web.json_response({"message_id": cid, "conversation_id": conversation_id, "correlation_id": cid,
                                  "cursor": cursor}, status=202)

    async def get_events(self, request: web.Request) -> web.Response:
        self._auth(request)
        conversation_id = request.match_info["conversation_id"]
        if conversation_id not in self.conversations or conversation_id in self.hidden:
            raise _error(404, f"unknown conversation {conversation_id!r}")
        cursor = int(request.query.get("cursor", "0"))
        wait = min(float(request.query.get("wait", "0")), 30.0)
        assert self._changed is not None

        def after() -> list[dict[str, Any]]:
            return [e for e in self.conversations[conversation_id] if int(e["cursor"]) > cursor]

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: bool(after())), timeout=wait)
            except TimeoutError:
                pass
            events = after()
        next_cursor = events[-1]["cursor"] if events else str(cursor)
        return web.json_response({"events": events, "cursor": next_cursor})

    async def post_approval(self, request: web.Request) -> web.Response:
        self._auth(request)
        approval_id = request.match_info["approval_id"]
        body = await self._body(request)
        if approval_id in self.pending:  # bob's conversation: the caller decides but may not read it
            conversation_id = f"conv-of-bob-{approval_id}"
            self.hidden.add(conversation_id)

            def guard_took_it() -> None:  # as the guard does, after the 202
                entry = self.pending[approval_id]
                if len(entry["approved_by"]) + 1 < 2:
                    entry["approved_by"].append(WHOAMI["user"])
                else:
                    del self.pending[approval_id]

            asyncio.get_running_loop().call_later(0.05, guard_took_it)
            return web.json_response({"approval_id": approval_id, "decision": body["decision"],
                                      "conversation_id": conversation_id, "correlation_id": uuid.uuid4().hex,
                                      "cursor": "0"}, status=202)
        if approval_id not in DECISIONS:
            raise _error(404, f"no pending approval {approval_id!r}: it was already decided, expired, or never existed")
        conversation_id = next(iter(self.conversations), None) or uuid.uuid4().hex
        self.conversations.setdefault(conversation_id, [])
        cid = uuid.uuid4().hex
        cursor = self.conversations[conversation_id][-1]["cursor"] if self.conversations[conversation_id] else "0"
        await self._append(conversation_id, [{"type": "message", "id": cid, "correlation_id": cid,
                                              "text": f"{body['decision']} {approval_id}", "user": WHOAMI["user"]}])
        events = DECISIONS[approval_id](cid, body["decision"])
        # The guard's answer arrives after the 202, as it does from the real services.
        asyncio.get_running_loop().call_later(
            0.05, lambda: asyncio.ensure_future(self._append(conversation_id, events)))
        return web.json_response({"approval_id": approval_id, "decision": body["decision"],
                                  "conversation_id": conversation_id, "correlation_id": cid, "cursor": cursor},
                                 status=202)

    async def list_approvals(self, request: web.Request) -> web.Response:
        self._auth(request)
        self.requests.append(("GET", request.path, {}))
        return web.json_response({"approvals": [dict(a, approved_by=list(a["approved_by"]))
                                                for a in self.pending.values()]})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def whoami(self, request: web.Request) -> web.Response:
        self._auth(request)
        self.requests.append(("GET", request.path, {}))
        return web.json_response(WHOAMI)

    def build(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_post("/v1/messages", self.post_message)
        app.router.add_get("/v1/conversations/{conversation_id}/events", self.get_events)
        app.router.add_get("/v1/approvals", self.list_approvals)
        app.router.add_post("/v1/approvals/{approval_id}", self.post_approval)
        app.router.add_get("/v1/whoami", self.whoami)
        return app


def _error(status: int, message: str) -> web.HTTPException:
    import json

    kind = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound}[status]
    return kind(text=json.dumps({"error": message}), content_type="application/json")


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    """The fake gateway listening on a free loopback port, in a thread of its own."""
    gateway = FakeGateway()
    port = embedded.free_port()
    gateway.url = f"http://127.0.0.1:{port}"
    loop = asyncio.new_event_loop()
    started = threading.Event()
    runner_box: dict[str, web.AppRunner] = {}

    async def start() -> None:
        gateway._changed = asyncio.Condition()
        runner = web.AppRunner(gateway.build(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runner_box["r"] = runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True, name="fake-gateway")
    thread.start()
    assert started.wait(10), "the fake gateway did not start"
    try:
        yield gateway
    finally:
        asyncio.run_coroutine_threadsafe(runner_box["r"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No HERMES_/ANKRA_ settings from the outside; an empty state dir of the test's own."""
    import os

    for key in list(os.environ):
        if key.startswith(("HERMES_", "ANKRA_")):
            monkeypatch.delenv(key, raising=False)
    state = tmp_path / "state"
    monkeypatch.setenv("HERMES_STATE_DIR", str(state))
    monkeypatch.setenv("COLUMNS", "120")
    return state
