"""The HTTP edge under faults, with real servers that the tests stop, pause and start again:

- NATS down: a message is answered 503 ("not queued") only when it certainly was not stored and nothing
  of it is left in the client's buffer to be sent on reconnect; once NATS is back, none of those runs,
  and sending them again (same keys) queues each exactly once.
- NATS not answering (paused): 202 "accepted, the bus is recovering"; the gateway keeps publishing
  with the same id, and each message is stored exactly once.
- Redis down: JSON 503 with Retry-After, logged; the first request after Redis is back succeeds.
- Every error of every route, aiohttp's own included, is JSON.

`running_gateway` (used by the other HTTP test modules too) runs the gateway's HTTP API as the
service does: a ServiceRuntime with its broker and Redis clients, the conversation log, real users.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from hermes import bus, embedded, subjects
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.signing import ServiceKey, generate_keys
from hermes.stores.users import UserStore
from hermes_gateway.http_api import WAIT_LIMITS, HttpApi, WaitLimits, build_http_app
from hermes_gateway.intake import Intake
from hermes_gateway.people import People
from hermes_gateway.service import Gateway

from tests.waiting import until


@dataclass
class ControlledServer:
    """A nats-server or redis-server on a fixed port and data directory, stopped and started by the test."""

    kind: str
    data: Path
    port: int
    server: embedded.ServerProcess | None = None

    def start(self) -> None:
        start = embedded.start_nats if self.kind == "nats" else embedded.start_redis
        self.server = start(self.data, port=self.port)

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop()

    def pause(self) -> None:
        assert self.server is not None
        self.server.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.server is not None
        self.server.process.send_signal(signal.SIGCONT)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url


@contextlib.contextmanager
def controlled(kind: str, data: Path):
    server = ControlledServer(kind, data, embedded.free_port())
    server.start()
    try:
        yield server
    finally:
        if server.server is not None and server.server.alive():
            server.resume()
            server.stop()


@pytest.fixture
def own_nats(tmp_path: Path):
    with controlled("nats", tmp_path / "nats") as server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path):
    with controlled("redis", tmp_path / "redis") as server:
        yield server


@dataclass
class RunningGateway:
    rt: ServiceRuntime
    api: HttpApi
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str = "alice", key: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    @property
    def nc(self) -> Any:
        return bus.nats_client(self.rt.broker)

    async def post(self, path: str, body: dict[str, Any], user: str = "alice", key: str | None = None
                   ) -> tuple[int, dict[str, Any], dict[str, str]]:
        async with self.client.post(path, json=body, headers=self.headers(user, key)) as resp:
            return resp.status, await resp.json(), dict(resp.headers)

    async def get(self, path: str, user: str = "alice", **params: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        async with self.client.get(path, params=params, headers=self.headers(user)) as resp:
            return resp.status, await resp.json(), dict(resp.headers)


async def stored(nats_url: str, stream: str = subjects.CHAT_STREAM.name) -> list[str]:
    """The ids (Nats-Msg-Id) of the messages stored on `stream`, read by a connection of the test's own."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        ids: list[str] = []
        if not info.state.messages:
            return ids
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                msg = await js.get_msg(stream, seq)
                ids.append((msg.headers or {}).get("Nats-Msg-Id"))
        return ids
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def running_gateway(nats_url: str, redis_url: str, redis_prefix: str, *, limits: WaitLimits = WAIT_LIMITS,
                          ack_timeout: float = 1.0, long_poll_max: float = 30.0, approvals: Any = None,
                          users: tuple[str, ...] = ("alice", "bob", "carol")) -> AsyncIterator[RunningGateway]:
    settings = Settings(nats_url=nats_url, redis_url=redis_url, redis_prefix=redis_prefix,
                        long_poll_max_seconds=long_poll_max, trusted_keys=json.dumps(generate_keys(["guard"])[1]))
    rt = ServiceRuntime("gateway", settings, configure_logging=False)
    await rt.start_dependencies()
    await bus.ensure_streams(rt.broker)
    rt.waiting_client(limits.connections)  # sized as the service sizes it, before the log takes it
    gateway = Gateway(rt)
    store = UserStore(rt.redis, rt.keys)
    tokens = {name: (await store.add(name, ["operator", "approver"]))[1] for name in users}
    people = People(store, ServiceKey.generate("gateway"))
    approvals = approvals if approvals is not None else gateway.approvals
    api = HttpApi(gateway.conversations, rt.publish, Intake(people, approvals, rt.redactor), approvals,
                  lambda: asyncio.sleep(0, {"nats": True, "redis": True}), long_poll_max,
                  limits=limits, ack_timeout=ack_timeout)
    client = TestClient(TestServer(build_http_app(api, people), host="127.0.0.1"))
    await client.start_server()
    try:
        yield RunningGateway(rt, api, client, tokens)
    finally:
        await client.close()
        await api.close()
        await rt.broker.stop()
        await rt._on_shutdown()


async def test_messages_posted_while_nats_is_down_are_503_and_never_run_later(own_nats, redis_server,
                                                                            redis_prefix) -> None:
    async with running_gateway(own_nats.url, redis_server.url, redis_prefix) as gw:
        own_nats.stop()
        await until(lambda: not gw.nc.is_connected, what="the gateway noticing NATS is down")
        keys = [f"k-{i}-{uuid.uuid4().hex}" for i in range(25)]
        answers = await asyncio.gather(*(gw.post("/v1/messages", {"text": f"list clusters {i}"}, key=key)
                                         for i, key in enumerate(keys)))
        for status, body, headers in answers:
            assert status == 503, body
            assert headers["Content-Type"].startswith("application/json")
            assert int(headers["Retry-After"]) > 0
            assert "not queued" in body["error"] and "will not run" in body["error"]

        own_nats.start()
        await until(lambda: gw.nc.is_connected, timeout=20, what="the gateway reconnecting to NATS")
        await gw.nc.flush()  # whatever the client still held is on the server now
        assert await stored(own_nats.url) == [], "a message answered 503 was queued after all"

        # The client follows the advice and sends them again, with the same keys: each runs once.
        again = await asyncio.gather(*(gw.post("/v1/messages", {"text": f"list clusters {i}"}, key=key)
                                       for i, key in enumerate(keys)))
        assert [status for status, _body, _headers in again] == [202] * 25
        assert {body["status"] for _s, body, _h in again} == {"queued"}
        ids = sorted(body["message_id"] for _s, body, _h in again)
        # ... and once more: the first answers, nothing published again.
        replayed = await asyncio.gather(*(gw.post("/v1/messages", {"text": f"list clusters {i}"}, key=key)
                                          for i, key in enumerate(keys)))
        assert sorted(body["message_id"] for _s, body, _h in replayed) == ids
        assert {h.get("Idempotent-Replayed") for _s, _b, h in replayed} == {"true"}
        await gw.nc.flush()
        assert sorted(await stored(own_nats.url)) == ids


async def test_a_publish_nats_does_not_acknowledge_is_accepted_and_stored_exactly_once(own_nats, redis_server,
                                                                                     redis_prefix) -> None:
    async with running_gateway(own_nats.url, redis_server.url, redis_prefix, ack_timeout=0.5) as gw:
        own_nats.pause()  # connected, but nothing answers: each publish is written and never acknowledged
        try:
            keys = [uuid.uuid4().hex for _ in range(5)]
            answers = await asyncio.gather(*(gw.post("/v1/messages", {"text": f"hello {i}"}, key=key)
                                             for i, key in enumerate(keys)))
            for status, body, _headers in answers:
                assert status == 202, body
                assert body["status"] == "recovering" and "accepted, the bus is recovering" in body["detail"]
            # A repeat meanwhile is accepted again, with the first answer.
            status, body, headers = await gw.post("/v1/messages", {"text": "hello 0"}, key=keys[0])
            assert status == 202 and body["message_id"] == answers[0][1]["message_id"]
            assert headers.get("Idempotent-Replayed") == "true"
        finally:
            own_nats.resume()

        async def all_queued() -> bool:
            repeats = [await gw.post("/v1/messages", {"text": f"hello {i}"}, key=key) for i, key in enumerate(keys)]
            return all(body["status"] == "queued" for _s, body, _h in repeats)

        await until(all_queued, timeout=20, every=0.2, what="the bus confirming every accepted message")
        await gw.nc.flush()
        ids = await stored(own_nats.url)
        assert sorted(ids) == sorted(body["message_id"] for _s, body, _h in answers), "stored once each"


async def test_a_message_still_in_the_clients_buffer_is_taken_back_and_never_sent(own_nats, redis_server,
                                                                                redis_prefix) -> None:
    """What `publish_confirmed` does when its wait ends with the message in nats-py's pending buffer:
    take it out, so that the 503 it answers stays true. The message left there is sent on reconnect."""
    async with running_gateway(own_nats.url, redis_server.url, redis_prefix) as gw:
        own_nats.stop()
        await until(lambda: not gw.nc.is_connected, what="the gateway noticing NATS is down")
        for msg_id in ("withdrawn", "left-behind"):
            await gw.nc.publish(subjects.CHAT_RECEIVED, b"{}", headers={"Nats-Msg-Id": msg_id})
        assert bus.withdraw_pending(gw.nc, "withdrawn") is True
        assert bus.withdraw_pending(gw.nc, "withdrawn") is False
        own_nats.start()
        await until(lambda: gw.nc.is_connected, timeout=20, what="the gateway reconnecting to NATS")
        await gw.nc.flush()
        assert await until(lambda: stored(own_nats.url), what="the buffered message arriving") == ["left-behind"]


async def test_redis_down_is_a_json_503_with_retry_after_logged_and_recovery_is_immediate(fresh_nats, own_redis
                                                                                       ) -> None:
    async with running_gateway(fresh_nats.url, own_redis.url, "hermes") as gw:
        status, started, _h = await gw.post("/v1/messages", {"text": "hello"})
        assert status == 202
        conversation = started["conversation_id"]
        own_redis.stop()
        with structlog.testing.capture_logs() as logged:
            for method, path, body in (("GET", "/v1/whoami", None), ("POST", "/v1/messages", {"text": "again"}),
                                       ("GET", f"/v1/conversations/{conversation}/events", None),
                                       ("GET", "/v1/approvals", None),
                                       ("POST", "/v1/approvals/apr-1", {"decision": "approve"})):
                async with gw.client.request(method, path, json=body, headers=gw.headers()) as resp:
                    answer = await resp.json()
                    assert resp.status == 503, (path, answer)
                    assert resp.headers["Content-Type"].startswith("application/json")
                    assert int(resp.headers["Retry-After"]) > 0
                    assert "Redis" in answer["error"] and "Retry after" in answer["error"]
        assert sum(entry["event"] == "redis unavailable: answered 503" for entry in logged) == 5
        assert await stored(fresh_nats.url) == [started["message_id"]], "nothing published while Redis was down"

        own_redis.start()  # same port, same data: the users and the conversation are back
        status, body, _h = await gw.get("/v1/whoami")
        assert status == 200 and body["user"] == "alice"
        status, body, _h = await gw.post("/v1/messages", {"text": "after", "conversation_id": conversation})
        assert status == 202, body
        status, page, _h = await gw.get(f"/v1/conversations/{conversation}/events", wait="1")
        assert status == 200 and [e["text"] for e in page["events"]] == ["hello", "after"]


async def test_every_error_of_every_route_is_json(fresh_nats, redis_server, redis_prefix) -> None:
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        auth = gw.headers()
        deep = "[" * 5000 + "]" * 5000
        cases: list[tuple[str, str, dict[str, str], Any, int]] = [
            ("GET", "/no/such/route", auth, None, 404),
            ("GET", "/no/such/route", {}, None, 401),
            ("DELETE", "/v1/messages", auth, None, 405),
            ("GET", "/v1/messages", auth, None, 405),
            ("PUT", "/healthz", {}, None, 405),
            ("POST", "/v1/messages", auth, "{not json", 400),
            ("POST", "/v1/messages", auth, '{"text": ' + deep + "}", 400),
            ("POST", "/v1/messages", auth, json.dumps({"text": "x" * 70_000}), 413),
            ("POST", "/v1/messages", auth, json.dumps({"text": "hi", "user": "bob"}), 400),
            ("POST", "/v1/messages", auth | {"Idempotency-Key": "has space"}, json.dumps({"text": "hi"}), 400),
            ("POST", "/v1/messages", {"Authorization": "Bearer wrong"}, json.dumps({"text": "hi"}), 401),
            ("POST", "/v1/approvals/apr-none", auth, json.dumps({"decision": "approve"}), 404),
            ("POST", "/v1/approvals/apr-none", auth, deep, 400),
            ("GET", "/v1/conversations/nope/events", auth, None, 404),
            ("GET", "/v1/conversations/nope/events?wait=abc", auth, None, 400),
            ("GET", "/v1/conversations/nope/events?wait=nan", auth, None, 400),
            ("GET", "/v1/conversations/nope/events?cursor=x", auth, None, 400),
            ("GET", "/web/secret.txt", {}, None, 404),
            ("POST", "/openapi.yaml", {}, None, 405),
        ]
        for method, path, headers, data, expected in cases:
            async with gw.client.request(method, path, headers=headers, data=data) as resp:
                text = await resp.text()
                assert resp.status == expected, (method, path, resp.status, text)
                assert resp.headers["Content-Type"].startswith("application/json"), (method, path, text)
                assert isinstance(json.loads(text)["error"], str) and json.loads(text)["error"], (method, path)
                if expected == 405:
                    assert resp.headers.get("Allow"), (method, path)


async def test_an_unexpected_failure_is_a_json_500_with_a_logged_reference(fresh_nats, redis_server,
                                                                         redis_prefix) -> None:
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        async def broken() -> Any:
            raise ValueError("a bug")

        gw.api.ready = broken
        with structlog.testing.capture_logs() as logged:
            async with gw.client.get("/readyz") as resp:
                body = await resp.json()
        assert resp.status == 500 and resp.headers["Content-Type"].startswith("application/json")
        reference = body["error"].split("reference ")[1].split(";")[0]
        assert any(e["event"] == "request failed" and e.get("reference") == reference for e in logged)
        assert "a bug" not in body["error"]


async def test_an_approval_id_with_a_nul_byte_is_a_json_404_not_a_500(fresh_nats, redis_server, redis_prefix) -> None:
    """Found by the chaos benchmark's HTTP fuzz: `POST /v1/approvals/%00` was a 500."""
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        for raw in ("%00", "apr%0Ax", "a%20b"):
            status, body, headers = await gw.post(f"/v1/approvals/{raw}", {"decision": "approve"})
            assert status == 404 and headers["Content-Type"].startswith("application/json"), (raw, status, body)
            assert "approval ids are letters" in body["error"]
