"""NATS permissions, one user per party, checked on a real nats-server started with the generated
configuration (deploy/nats/nats.conf = `hermes.permissions.nats_config()`).

The expectations here are written out by hand from the flows (who produces what, who consumes what):
they are the policy, and `hermes.permissions` must produce exactly it. Every user is tried against
every Hermes subject, every JetStream API call on every stream and durable, and every inbox: what is
allowed must work (JetStream stores it, the API answers), everything else must be refused by the
server (`Permissions Violation`, reported by nats-py through the error callback) and leave nothing
behind (no message stored, no stream or consumer changed or created).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.errors
import pytest
from hermes import bus, permissions, subjects
from hermes.audit import read_audit
from hermes.contracts import AuditRecord
from nats.js.api import ConsumerConfig, StreamConfig

from .conftest import NATS_CONF, AuthNats, start_auth_nats

pytestmark = pytest.mark.timeout(180)

SERVICES = ("gateway", "planner", "guard", "executor")
USERS = (*SERVICES, "bootstrap", "admin", "integration")

DL = subjects.dead_letter_subject
ALL_SUBJECTS = {
    "chat": subjects.CHAT_RECEIVED,
    "plan": subjects.PLAN_PROPOSED,
    "order": subjects.EXEC_ORDER,
    "result": subjects.EXEC_RESULT,
    "reply": subjects.REPLY_CREATED,
    "approval": subjects.APPROVAL_DECIDED,
    "profile": subjects.PROFILE_SWITCH,
    "delivery": subjects.DELIVERY_REQUESTED,
    "audit.guard": "hermes.v1.audit.guard",
    "audit.executor": "hermes.v1.audit.executor",
    "audit.gateway": "hermes.v1.audit.gateway",
    "audit.planner": "hermes.v1.audit.planner",
    "dl.chat": DL(subjects.CHAT_RECEIVED),
    "dl.plan": DL(subjects.PLAN_PROPOSED),
    "dl.order": DL(subjects.EXEC_ORDER),
    "dl.result": DL(subjects.EXEC_RESULT),
    "dl.reply": DL(subjects.REPLY_CREATED),
    "dl.approval": DL(subjects.APPROVAL_DECIDED),
    "dl.profile": DL(subjects.PROFILE_SWITCH),
    "dl.delivery": DL(subjects.DELIVERY_REQUESTED),
    "dl.foreign": DL("acme.orders.created"),
}

# Who may publish what; everything else is refused. The planner no longer decides approvals (the
# gateway recognises "y"/"n"/"approve <id>" itself); only the guard orders, only the executor reports;
# each may dead-letter only what it consumes; other systems may only start a turn.
MAY_PUBLISH: dict[str, set[str]] = {
    "gateway": {"chat", "approval", "reply", "delivery", "dl.reply", "dl.delivery"},
    "planner": {"plan", "profile", "reply", "dl.chat", "dl.result"},
    "guard": {"order", "reply", "audit.guard", "dl.plan", "dl.approval", "dl.profile"},
    "executor": {"result", "reply", "audit.executor", "dl.order"},
    "integration": {"chat"},
    "bootstrap": set(),
    "admin": set(),
}

OWN_DURABLES: dict[str, set[tuple[str, str]]] = {
    "gateway": {("HERMES_REPLIES", "gateway-replies"), ("HERMES_DELIVERY", "gateway-delivery")},
    "planner": {("HERMES_CHAT", "planner-chat"), ("HERMES_RESULTS", "planner-results")},
    "guard": {("HERMES_PLANS", "guard-plans"), ("HERMES_PLANS", "guard-approvals"), ("HERMES_PLANS", "guard-profiles")},
    "executor": {("HERMES_EXEC", "executor-orders")},
}
ALL_DURABLES = {d for ds in OWN_DURABLES.values() for d in ds}
ADMIN_READS = {"HERMES_AUDIT", "HERMES_DEADLETTER"}
STREAM_NAMES = [s.name for s in subjects.STREAMS]


def test_the_written_policy_is_the_catalogs() -> None:
    """The hand-written expectations and the catalogs the configuration is generated from agree."""
    for user, keys in MAY_PUBLISH.items():
        derived = set(subjects.published_by(user)) | (set(subjects.dead_letters_of(user)) if user in SERVICES else set())
        assert {ALL_SUBJECTS[k] for k in keys} == derived, user
    assert {(c.stream, c.durable) for c in subjects.CONSUMERS} == ALL_DURABLES
    for user, durables in OWN_DURABLES.items():
        assert {(c.stream, c.durable) for c in subjects.consumed_by(user)} == durables
    assert set(permissions.NATS_USERS) == set(USERS)


def test_deploy_nats_conf_is_the_generated_configuration() -> None:
    assert NATS_CONF.read_text() == permissions.nats_config(), \
        "deploy/nats/nats.conf is stale: python -m hermes.permissions nats > deploy/nats/nats.conf"


@pytest.mark.parametrize("user", USERS)
def test_inbox_prefix_is_the_users_own_and_the_only_one_it_reads(user: str) -> None:
    prefix = permissions.inbox_prefix(user)
    assert prefix == f"_INBOX_{user}" and not prefix.endswith(".")
    allowed = permissions.nats_permissions(user).subscribe
    assert f"{prefix}.>" in allowed
    assert set(allowed) <= {f"{prefix}.>", "_INBOX.>"} and ("_INBOX.>" in allowed) == (user == "admin")


# -- probes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A JetStream API call (or ack) someone might try."""

    subject: str
    body: bytes = b"{}"
    answers: bool = True  # the server answers an allowed call (acks are fire-and-forget)


def _api_probes() -> list[Probe]:
    api = "$JS.API"
    probes = [Probe(f"{api}.INFO", b""), Probe(f"{api}.STREAM.NAMES"), Probe(f"{api}.STREAM.LIST")]
    for stream in STREAM_NAMES:
        probes += [Probe(f"{api}.STREAM.{op}.{stream}") for op in (
            "CREATE", "UPDATE", "DELETE", "PURGE", "INFO", "MSG.GET", "MSG.DELETE", "SNAPSHOT")]
        probes += [Probe(f"{api}.DIRECT.GET.{stream}"), Probe(f"{api}.CONSUMER.CREATE.{stream}"),
                   Probe(f"{api}.CONSUMER.NAMES.{stream}"), Probe(f"{api}.CONSUMER.LIST.{stream}")]
        durables = [d for s, d in ALL_DURABLES if s == stream] + ["spy"]
        for durable in durables:
            probes += [Probe(f"{api}.CONSUMER.CREATE.{stream}.{durable}"),
                       Probe(f"{api}.CONSUMER.CREATE.{stream}.{durable}.hermes.v1.chat.received"),
                       Probe(f"{api}.CONSUMER.DURABLE.CREATE.{stream}.{durable}"),
                       Probe(f"{api}.CONSUMER.DELETE.{stream}.{durable}"),
                       Probe(f"{api}.CONSUMER.INFO.{stream}.{durable}"),
                       Probe(f"{api}.CONSUMER.MSG.NEXT.{stream}.{durable}", b'{"batch": 1, "no_wait": true}'),
                       Probe(f"$JS.ACK.{stream}.{durable}.1.1.1.0.0", b"+ACK", answers=False)]
    return probes


def _target(subject: str) -> tuple[str, str | None, str | None]:
    """(operation, stream, durable) of a JetStream API or ack subject."""
    parts = subject.split(".")
    if subject.startswith("$JS.ACK."):
        return "ACK", parts[2], parts[3]
    rest = parts[2:]
    for op in ("CONSUMER.DURABLE.CREATE", "CONSUMER.MSG.NEXT", "STREAM.MSG.GET", "STREAM.MSG.DELETE"):
        if ".".join(rest[:3]) == op:
            args = rest[3:]
            return op, args[0] if args else None, args[1] if len(args) > 1 else None
    op, args = ".".join(rest[:2]), rest[2:]
    if rest == ["INFO"]:
        return "INFO", None, None
    return op, args[0] if args else None, args[1] if len(args) > 1 else None


def _api_allowed(user: str, subject: str) -> bool:
    """The policy for the JetStream API, written out."""
    op, stream, durable = _target(subject)
    if op == "INFO":
        return user in (*SERVICES, "bootstrap", "admin")
    if user in SERVICES:
        # look up, pull from and ack its own durables; see the state of their streams
        if op == "STREAM.INFO":
            return stream in {s for s, _ in OWN_DURABLES[user]}
        return op in ("CONSUMER.INFO", "CONSUMER.MSG.NEXT", "ACK") and (stream, durable) in OWN_DURABLES[user]
    if user == "bootstrap":
        # create and update the catalog's streams and durables, nothing else
        if op in ("STREAM.CREATE", "STREAM.UPDATE", "STREAM.INFO"):
            return stream in STREAM_NAMES
        return op in ("CONSUMER.CREATE", "CONSUMER.DURABLE.CREATE", "CONSUMER.INFO") and \
            (stream, durable) in ALL_DURABLES
    if user == "admin":
        # see everything's state; read the audit and the dead letters
        if op in ("STREAM.NAMES", "STREAM.LIST", "STREAM.INFO", "CONSUMER.NAMES", "CONSUMER.LIST", "CONSUMER.INFO"):
            return True
        return op in ("CONSUMER.CREATE", "CONSUMER.DELETE", "CONSUMER.MSG.NEXT", "ACK", "STREAM.MSG.GET",
                      "DIRECT.GET") and stream in ADMIN_READS
    return False  # integration: no JetStream API at all (its publishes get their acks regardless)


# -- connections -----------------------------------------------------------------------------------

_VIOLATION = re.compile(r'permissions violation for (publish|subscription) to "([^"]+)"', re.IGNORECASE)


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

    async def refusals_until(self, sentinel: str, kind: str = "publish", timeout: float = 10.0) -> set[str]:
        """Every subject refused (lowercased) up to and including the refusal of `sentinel`, which the
        caller sent last: the server answers in order, so nothing that was let through is missing."""
        seen: set[str] = set()
        deadline = asyncio.get_running_loop().time() + timeout
        while sentinel.lower() not in seen:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"{self.user}: the server never refused {sentinel}; refused {sorted(seen)}")
            err = await asyncio.wait_for(self.errors.get(), left)
            match = _VIOLATION.search(str(err))
            if match and match.group(1).lower().startswith(kind[:3]):
                seen.add(match.group(2).lower())
        return seen


@contextlib.asynccontextmanager
async def connect(server: AuthNats, user: str, *, own_inbox: bool = True) -> AsyncIterator[Conn]:
    holder: list[Conn] = []

    async def on_error(err: Exception) -> None:
        if holder:
            holder[0].errors.put_nowait(err)

    options = {"inbox_prefix": permissions.inbox_prefix(user)} if own_inbox else {}
    nc = await nats.connect(server.url(user), error_cb=on_error, allow_reconnect=False, connect_timeout=5,
                            **options)
    conn = Conn(user, nc)
    holder.append(conn)
    try:
        yield conn
    finally:
        await nc.close()


def _config(spec: subjects.StreamSpec) -> StreamConfig:
    return StreamConfig(name=spec.name, subjects=list(spec.subjects), retention=spec.retention,
                        max_age=spec.max_age_seconds, storage=spec.storage,
                        duplicate_window=spec.duplicate_window_seconds, description=spec.description)


async def _state(server: AuthNats) -> dict[str, tuple[str, int, list[str]]]:
    """Per stream: its configuration, its message count and its consumers (read as the admin)."""
    async with connect(server, "admin") as admin:
        js = admin.nc.jetstream()
        state = {}
        for name in STREAM_NAMES:
            info = await js.stream_info(name)
            consumers = sorted(c.name for c in await js.consumers_info(name))
            state[name] = (json.dumps(info.config.as_dict(), sort_keys=True, default=str), info.state.messages,
                           consumers)
        return state


@pytest.fixture
async def streams(project_nats: AuthNats) -> AuthNats:
    """The generated configuration, bootstrapped by its bootstrap user (streams and durables)."""
    await bus.bootstrap(project_nats.url(), user="bootstrap", password=project_nats.passwords["bootstrap"])
    return project_nats


# -- tests -----------------------------------------------------------------------------------------


async def test_unknown_user_and_wrong_password_are_refused(project_nats: AuthNats) -> None:
    with pytest.raises(Exception):
        await nats.connect(project_nats.url(), allow_reconnect=False, connect_timeout=3, max_reconnect_attempts=0)
    with pytest.raises(Exception):
        await nats.connect(f"nats://gateway:wrong@{project_nats.host}:{project_nats.port}",
                           allow_reconnect=False, connect_timeout=3, max_reconnect_attempts=0)


@pytest.mark.parametrize("user", USERS)
async def test_each_user_publishes_exactly_its_own_subjects(streams: AuthNats, user: str) -> None:
    before = await _state(streams)
    refused = {k: s for k, s in ALL_SUBJECTS.items() if k not in MAY_PUBLISH[user]}
    async with connect(streams, user) as conn:
        for subject in refused.values():
            await conn.nc.publish(subject, b"{}")
        sentinel = f"hermes.v1.sentinel.{user}"
        await conn.nc.publish(sentinel, b"{}")
        await conn.nc.flush()
        seen = await conn.refusals_until(sentinel)
        assert seen == {s.lower() for s in refused.values()} | {sentinel}, user
        # nothing refused reached a stream
        assert await _state(streams) == before
        js = conn.nc.jetstream()
        for key in sorted(MAY_PUBLISH[user]):
            subject = ALL_SUBJECTS[key]
            ack = await js.publish(subject, b"{}", stream=subjects.stream_for(subject).name, timeout=5)
            assert ack.stream == subjects.stream_for(subject).name, (user, subject)
        assert conn.errors.empty(), conn.errors.get_nowait()
    after = await _state(streams)
    grew = {name for name in STREAM_NAMES if after[name][1] != before[name][1]}
    assert grew == {subjects.stream_for(ALL_SUBJECTS[k]).name for k in MAY_PUBLISH[user]}


@pytest.mark.parametrize("user", USERS)
async def test_each_user_calls_exactly_its_own_jetstream_api(streams: AuthNats, user: str) -> None:
    """Stream and consumer administration, reading streams by sequence or through someone else's
    consumer, acking for others: every call on every stream and durable, allowed or refused."""
    before = await _state(streams)
    probes = _api_probes()
    allowed = [p for p in probes if _api_allowed(user, p.subject)]
    refused = [p for p in probes if not _api_allowed(user, p.subject)]
    assert refused, user
    async with connect(streams, user) as conn:
        for probe in allowed:
            if probe.answers:
                try:
                    await conn.nc.request(probe.subject, probe.body, timeout=3)
                except nats.errors.NoRespondersError:
                    pass  # let through; nobody serves it (e.g. direct get on a stream without it)
                except nats.errors.TimeoutError:
                    raise AssertionError(f"{user}: no answer to allowed {probe.subject}") from None
            else:
                await conn.nc.publish(probe.subject, probe.body)
        for probe in refused:
            await conn.nc.publish(probe.subject, probe.body, reply=conn.nc.new_inbox())
        sentinel = "$JS.API.SENTINEL"
        await conn.nc.publish(sentinel, b"{}")
        await conn.nc.flush()
        seen = await conn.refusals_until(sentinel)
    expected = {p.subject.lower() for p in refused} | {sentinel.lower()}
    assert not (seen - expected), f"{user}: refused although allowed: {sorted(seen - expected)}"
    assert not (expected - seen), f"{user}: let through although refused: {sorted(expected - seen)}"
    assert await _state(streams) == before, "a stream or consumer changed"


@pytest.mark.parametrize("user", USERS)
async def test_each_user_reads_only_its_own_inbox(streams: AuthNats, user: str) -> None:
    targets = [f"_INBOX_{other}.>" for other in USERS] + [
        "_INBOX.>", ">", "hermes.>", "$JS.API.>", "$JS.ACK.>", "_INBOX_gateway.x.y", *ALL_SUBJECTS.values()]

    def may(subject: str) -> bool:
        return subject.startswith(f"_INBOX_{user}.") or (user == "admin" and subject == "_INBOX.>")

    async with connect(streams, user) as conn:
        for subject in targets:
            await conn.nc.subscribe(subject)
        sentinel = "hermes.v1.sentinel"
        await conn.nc.subscribe(sentinel)
        await conn.nc.flush()
        seen = await conn.refusals_until(sentinel, kind="subscription")
    assert seen == {t.lower() for t in targets if not may(t)} | {sentinel}


async def test_each_service_consumes_its_own_durables_it_did_not_create(streams: AuthNats) -> None:
    """The bootstrap made the durables; each service only looks its own up (pull_subscribe finds
    it: no create call), pulls and acks through its own inbox prefix."""
    producers = {subject: next(iter(subjects.producers_of(subject))) for subject in
                 {c.subject for c in subjects.CONSUMERS}}
    for consumer in subjects.CONSUMERS:
        async with connect(streams, producers[consumer.subject]) as producer:
            await producer.nc.jetstream().publish(consumer.subject, json.dumps({"for": consumer.durable}).encode(),
                                                  timeout=5)
    for service, durables in OWN_DURABLES.items():
        async with connect(streams, service) as conn:
            js = conn.nc.jetstream()
            for stream, durable in sorted(durables):
                subject = next(c.subject for c in subjects.CONSUMERS if c.durable == durable)
                sub = await js.pull_subscribe(subject, durable=durable, stream=stream)
                msgs = await sub.fetch(1, timeout=5)
                assert json.loads(msgs[0].data) == {"for": durable}
                await msgs[0].in_progress()
                await msgs[0].ack_sync(timeout=5)
                info = await js.consumer_info(stream, durable)
                assert info.num_ack_pending == 0 and info.num_pending == 0, (service, durable)
                await sub.unsubscribe()
            assert conn.errors.empty(), (service, conn.errors.get_nowait())
    state = await _state(streams)
    for stream, durables in {s: {d for ss, d in ALL_DURABLES if ss == s} for s, _ in ALL_DURABLES}.items():
        assert set(state[stream][2]) == durables, "a service created a consumer"


async def test_the_gateway_cannot_read_or_change_execution_orders(streams: AuthNats) -> None:
    """The issue's leak: the gateway read an order and changed the HERMES_EXEC stream."""
    exec_stream = subjects.EXEC_STREAM.name
    async with connect(streams, "guard") as guard:
        await guard.nc.jetstream().publish(subjects.EXEC_ORDER, b'{"order": 1}', timeout=5)
    before = await _state(streams)
    async with connect(streams, "gateway") as conn:
        js = conn.nc.jetstream(timeout=1)  # a refused request is dropped: no answer ever comes
        # a consumer of its own on the stream, by every way of creating one
        for name in ("gateway-spy", "gateway-replies"):
            with pytest.raises(nats.errors.TimeoutError):
                await js.add_consumer(exec_stream, ConsumerConfig(durable_name=name))
            assert await conn.violation("$JS.API.CONSUMER.", f".{exec_stream}."), name
        with pytest.raises(nats.errors.TimeoutError):
            await js.pull_subscribe(subjects.EXEC_ORDER, stream=exec_stream)  # an ephemeral consumer
        # the executors' consumer, the message by sequence, a core subscription, another's inbox
        with pytest.raises(nats.errors.TimeoutError):
            await js.get_msg(exec_stream, 1)
        sub = await js.pull_subscribe_bind(durable=subjects.EXECUTOR_ORDERS_DURABLE, stream=exec_stream)
        with pytest.raises(nats.errors.TimeoutError):
            await sub.fetch(1, timeout=1)
        assert await conn.violation(f"$JS.API.CONSUMER.MSG.NEXT.{exec_stream}")
        await conn.nc.subscribe(subjects.EXEC_ORDER)
        await conn.nc.subscribe("_INBOX_executor.>")
        await conn.nc.flush()
        assert await conn.violation(f'subscription to "{subjects.EXEC_ORDER}"')
        assert await conn.violation('subscription to "_inbox_executor.>"')
        # and the stream itself
        config = _config(subjects.EXEC_STREAM)
        config.max_age = 1
        with pytest.raises(nats.errors.TimeoutError):
            await js.update_stream(config)
        with pytest.raises(nats.errors.TimeoutError):
            await js.purge_stream(exec_stream)
        with pytest.raises(nats.errors.TimeoutError):
            await js.delete_stream(exec_stream)
    assert await _state(streams) == before, "the order is still there, for the executors alone"
    # the executor takes it
    async with connect(streams, "executor") as executor:
        sub = await executor.nc.jetstream().pull_subscribe(
            subjects.EXEC_ORDER, durable=subjects.EXECUTOR_ORDERS_DURABLE, stream=exec_stream)
        msgs = await sub.fetch(1, timeout=5)
        assert msgs[0].data == b'{"order": 1}'
        await msgs[0].ack_sync(timeout=5)


async def test_no_service_may_create_change_or_delete_streams(project_nats: AuthNats) -> None:
    """Before the bootstrap nothing exists, and no service (nor the admin, nor another system) can
    make it exist: only the bootstrap user creates streams and consumers."""
    for user in (*SERVICES, "admin", "integration"):
        async with connect(project_nats, user) as conn:
            js = conn.nc.jetstream(timeout=1)
            with pytest.raises(nats.errors.TimeoutError):
                await js.add_stream(_config(subjects.CHAT_STREAM))
            assert await conn.violation(f"$JS.API.STREAM.CREATE.{subjects.CHAT_STREAM.name}"), user
    async with connect(project_nats, "admin") as admin:
        assert await admin.nc.jetstream().streams_info() == []
    await bus.bootstrap(project_nats.url("bootstrap"))
    state = await _state(project_nats)
    assert sorted(state) == sorted(STREAM_NAMES)
    assert {(s, d) for s, (_, _, ds) in state.items() for d in ds} == ALL_DURABLES


async def test_the_admin_reads_the_audit_with_hermes_audit(streams: AuthNats) -> None:
    """`hermes audit` (hermes.audit.read_audit, an ephemeral consumer on the audit stream, default
    inbox prefix) works as the admin, and shows both services' records."""
    records = [AuditRecord(conversation_id="c1", correlation_id="m1", event="plan.run", service="guard"),
               AuditRecord(conversation_id="c1", correlation_id="m1", event="order.finished", service="executor",
                           outcome="ok")]
    for record, service in zip(records, ("guard", "executor"), strict=True):
        async with connect(streams, service) as conn:
            await conn.nc.jetstream().publish(subjects.audit_subject(service), record.model_dump_json().encode(),
                                              timeout=5)
    read = await read_audit(streams.url("admin"), conversation_id="c1")
    assert [r.id for r in read] == [r.id for r in records]
    # the audit, not the orders
    async with connect(streams, "admin", own_inbox=False) as admin:
        with pytest.raises(nats.errors.TimeoutError):
            await admin.nc.jetstream(timeout=1).pull_subscribe(subjects.EXEC_ORDER, stream=subjects.EXEC_STREAM.name)


async def test_inline_passwords_render_a_config_the_server_accepts(tmp_path: Path) -> None:
    """`hermes up`'s form: passwords written into a private file, no environment needed."""
    passwords = {user: f"pw-{user}-0123456789" for user in USERS}
    conf = permissions.write_nats_config(tmp_path / "nats.conf", passwords)
    assert conf.stat().st_mode & 0o777 == 0o600
    assert "$HERMES_NATS_" not in conf.read_text()
    server = start_auth_nats(conf, tmp_path / "nats")
    try:
        server.passwords = passwords
        await bus.bootstrap(server.url("bootstrap"))
        async with connect(server, "integration") as conn:
            ack = await conn.nc.jetstream().publish(subjects.CHAT_RECEIVED, b"{}", timeout=5)
            assert ack.stream == subjects.CHAT_STREAM.name
    finally:
        server.stop()
    with pytest.raises(ValueError, match="password"):
        permissions.nats_config({**passwords, "gateway": 'bad"quote'})
    with pytest.raises(ValueError, match="bootstrap"):
        permissions.nats_config({u: p for u, p in passwords.items() if u != "bootstrap"})
