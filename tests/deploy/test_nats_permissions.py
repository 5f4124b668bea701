"""NATS permissions, one user per service, checked on a real nats-server started with the project's
own configuration (deploy/nats/nats.conf; the Ankra stack's NATS values are checked the same way in
test_ankra_stack.py). A forbidden publish is refused by the server: nats-py reports the server's
`-ERR 'Permissions Violation ...'` through the error callback, and JetStream never stores the message."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats
import pytest
from hermes import subjects
from nats.js.api import ConsumerConfig, StreamConfig

from .conftest import AuthNats

pytestmark = pytest.mark.timeout(120)

ALL_SUBJECTS = {
    "chat": subjects.CHAT_RECEIVED,
    "plan": subjects.PLAN_PROPOSED,
    "order": subjects.EXEC_ORDER,
    "result": subjects.EXEC_RESULT,
    "reply": subjects.REPLY_CREATED,
    "approval": subjects.APPROVAL_DECIDED,
    "audit": subjects.AUDIT,
    "profile": subjects.PROFILE_SWITCH,
    "deadletter": subjects.dead_letter_subject(subjects.EXEC_ORDER),
}

# Who may publish what (hermes.subjects documents the flows); everything else is refused.
MAY_PUBLISH = {
    "gateway": {"chat", "approval", "reply", "deadletter"},
    "planner": {"plan", "reply", "profile", "approval", "deadletter"},
    "guard": {"order", "reply", "audit", "deadletter"},
    "executor": {"result", "reply", "audit", "deadletter"},
}


@dataclass
class Conn:
    user: str
    nc: nats.NATS
    errors: asyncio.Queue[Exception] = field(default_factory=asyncio.Queue)

    async def violation(self, *needles: str, timeout: float = 3.0) -> str | None:
        """The first permissions violation mentioning every needle within `timeout`, else None."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return None
            try:
                err = await asyncio.wait_for(self.errors.get(), left)
            except TimeoutError:
                return None
            text = str(err).lower()  # nats-py lowercases the server's -ERR text
            if "permissions violation" in text and all(n.lower() in text for n in needles):
                return text


@contextlib.asynccontextmanager
async def connect(server: AuthNats, user: str) -> AsyncIterator[Conn]:
    conn_holder: list[Conn] = []

    async def on_error(err: Exception) -> None:
        if conn_holder:
            conn_holder[0].errors.put_nowait(err)

    nc = await nats.connect(server.url(user), error_cb=on_error, allow_reconnect=False, connect_timeout=5)
    conn = Conn(user, nc)
    conn_holder.append(conn)
    try:
        yield conn
    finally:
        await nc.close()


def _config(spec: subjects.StreamSpec) -> StreamConfig:
    return StreamConfig(name=spec.name, subjects=list(spec.subjects), retention=spec.retention,
                        max_age=spec.max_age_seconds, storage=spec.storage,
                        duplicate_window=spec.duplicate_window_seconds, description=spec.description)


async def _stream_count(server: AuthNats, stream: str) -> int:
    async with connect(server, "admin") as admin:
        info = await admin.nc.jetstream().stream_info(stream)
        return info.state.messages


@pytest.fixture
async def streams(project_nats: AuthNats) -> AuthNats:
    """Every stream declared, as each service does at start-up (here: as the executor, the least
    trusted service; every service may declare streams)."""
    async with connect(project_nats, "executor") as conn:
        js = conn.nc.jetstream()
        for spec in subjects.STREAMS:
            await js.add_stream(_config(spec))
        # a second declaration is an update (what a restarted service does)
        for spec in subjects.STREAMS:
            await js.update_stream(_config(spec))
            await js.stream_info(spec.name)
    return project_nats


async def test_unknown_user_and_wrong_password_are_refused(project_nats: AuthNats) -> None:
    with pytest.raises(Exception):  # noqa: B017 - nats-py raises different errors by version
        await nats.connect(project_nats.url(), allow_reconnect=False, connect_timeout=3, max_reconnect_attempts=0)
    with pytest.raises(Exception):  # noqa: B017
        await nats.connect(f"nats://gateway:wrong@{project_nats.host}:{project_nats.port}",
                           allow_reconnect=False, connect_timeout=3, max_reconnect_attempts=0)


@pytest.mark.parametrize("user", sorted(MAY_PUBLISH))
async def test_each_service_publishes_exactly_its_own_subjects(streams: AuthNats, user: str) -> None:
    async with connect(streams, user) as conn:
        js = conn.nc.jetstream()
        for key, subject in ALL_SUBJECTS.items():
            stream = subjects.stream_for(subject).name
            if key in MAY_PUBLISH[user]:
                ack = await js.publish(subject, b"{}", stream=stream, timeout=5)
                assert ack.stream == stream, (user, subject)
            else:
                before = await _stream_count(streams, stream)
                await conn.nc.publish(subject, b"{}")
                await conn.nc.flush()
                refused = await conn.violation(f'"{subject}"')
                assert refused and "publish" in refused, f"{user} could publish {subject}"
                assert await _stream_count(streams, stream) == before, f"{subject} stored for {user}"


async def test_only_the_guard_publishes_execution_orders(streams: AuthNats) -> None:
    for user in ("gateway", "planner", "executor"):
        async with connect(streams, user) as conn:
            await conn.nc.publish(subjects.EXEC_ORDER, b"{}")
            await conn.nc.flush()
            text = await conn.violation(f'publish to "{subjects.EXEC_ORDER}"')
            assert text is not None, f"{user} published an execution order"
            # and JetStream publishing fails too (the server drops it: no ack ever comes)
            with pytest.raises(Exception):  # noqa: B017 - a timeout or a no-responders error
                await conn.nc.jetstream().publish(subjects.EXEC_ORDER, b"{}", timeout=1)
    assert await _stream_count(streams, subjects.EXEC_STREAM.name) == 0
    async with connect(streams, "guard") as guard:
        ack = await guard.nc.jetstream().publish(subjects.EXEC_ORDER, b'{"order": 1}', timeout=5)
        assert ack.stream == subjects.EXEC_STREAM.name and ack.seq == 1


async def test_gateway_cannot_publish_orders_or_results(streams: AuthNats) -> None:
    async with connect(streams, "gateway") as conn:
        for subject in (subjects.EXEC_ORDER, subjects.EXEC_RESULT, subjects.PLAN_PROPOSED, subjects.AUDIT):
            await conn.nc.publish(subject, b"{}")
            await conn.nc.flush()
            assert await conn.violation(f'"{subject}"'), subject


async def test_only_executors_consume_execution_orders(streams: AuthNats) -> None:
    async with connect(streams, "guard") as guard:
        await guard.nc.jetstream().publish(subjects.EXEC_ORDER, b'{"order": 1}', timeout=5)
    # The executor creates its durable consumer and pulls the order (two replicas share it).
    async with connect(streams, "executor") as one, connect(streams, "executor") as two:
        config = ConsumerConfig(ack_wait=30)
        sub_one = await one.nc.jetstream().pull_subscribe(
            subjects.EXEC_ORDER, durable=subjects.EXECUTOR_ORDERS_DURABLE, stream=subjects.EXEC_STREAM.name,
            config=config)
        sub_two = await two.nc.jetstream().pull_subscribe(
            subjects.EXEC_ORDER, durable=subjects.EXECUTOR_ORDERS_DURABLE, stream=subjects.EXEC_STREAM.name)
        msgs = await sub_one.fetch(1, timeout=5)
        assert msgs[0].data == b'{"order": 1}'
        await msgs[0].in_progress()
        await msgs[0].ack_sync(timeout=5)
        with pytest.raises(nats.errors.TimeoutError):
            await sub_two.fetch(1, timeout=1)  # the work queue held one order, now acked
        assert one.errors.empty() and two.errors.empty()
        info = await one.nc.jetstream().consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
        assert info.num_ack_pending == 0
    # Nobody else can read orders: not through the executors' consumer, not with a consumer of
    # their own, not with a core subscription on the subject.
    async with connect(streams, "guard") as guard:
        await guard.nc.jetstream().publish(subjects.EXEC_ORDER, b'{"order": 2}', timeout=5)
    for user in ("gateway", "planner", "guard"):
        async with connect(streams, user) as conn:
            js = conn.nc.jetstream()
            await conn.nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{subjects.EXEC_STREAM.name}.{subjects.EXECUTOR_ORDERS_DURABLE}",
                b'{"batch": 1}', reply=conn.nc.new_inbox())
            await conn.nc.flush()
            assert await conn.violation("$JS.API.CONSUMER.MSG.NEXT.HERMES_EXEC"), user
            with pytest.raises(Exception):  # noqa: B017 - the create request is dropped: timeout
                await js.add_consumer(subjects.EXEC_STREAM.name, ConsumerConfig(durable_name=f"{user}-spy"),
                                      timeout=1)
            assert await conn.violation("$JS.API.CONSUMER.", ".HERMES_EXEC."), user
            await conn.nc.subscribe(subjects.EXEC_ORDER)
            await conn.nc.flush()
            assert await conn.violation(f'subscription to "{subjects.EXEC_ORDER}"'), user
    assert await _stream_count(streams, subjects.EXEC_STREAM.name) == 1, "order 2 still waits for an executor"


async def test_services_cannot_destroy_streams(streams: AuthNats) -> None:
    for user in MAY_PUBLISH:
        async with connect(streams, user) as conn:
            for api in ("STREAM.PURGE", "STREAM.DELETE", "STREAM.MSG.DELETE", "STREAM.MSG.GET"):
                subject = f"$JS.API.{api}.{subjects.AUDIT_STREAM.name}"
                await conn.nc.publish(subject, b"{}", reply=conn.nc.new_inbox())
                await conn.nc.flush()
                assert await conn.violation(f'"{subject}"', timeout=2), (user, api)
