"""`hermes.bus.bootstrap` and the service broker on a real nats-server.

- The bootstrap creates every stream and durable of the catalog, is idempotent, and brings drifted
  streams and consumers back to the declared configuration.
- A durable made by the bootstrap is the same as the one a FastStream subscriber makes on the
  development path, so the two paths never disagree.
- With the generated NATS configuration, every service's FastStream broker (its own user, its own
  inbox prefix, subscribers that do not declare) consumes its durables although its user may create
  neither streams nor consumers; without the bootstrap it stops with a message saying to run it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from faststream.nats import NatsMessage
from hermes import bus, embedded, permissions, subjects
from hermes.contracts import Reply
from hermes.redaction import Redactor
from nats.js.api import ConsumerConfig, StreamConfig

from tests.deploy.conftest import NATS_CONF, AuthNats, start_auth_nats

pytestmark = pytest.mark.timeout(120)

EXEC_ACK_WAIT = 42.0


@pytest.fixture
def plain_nats(tmp_path: Path) -> Iterator[str]:
    server = embedded.start_nats(tmp_path / "plain")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def auth_nats(tmp_path: Path) -> Iterator[AuthNats]:
    server = start_auth_nats(NATS_CONF, tmp_path / "auth")
    try:
        yield server
    finally:
        server.stop()


async def _js(url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(url)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


def _comparable(config: Any) -> dict[str, Any]:
    data = config.as_dict()
    data.pop("created", None)
    return json.loads(json.dumps(data, sort_keys=True, default=str))


async def _snapshot(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        streams = {s.config.name: _comparable(s.config) for s in await js.streams_info()}
        consumers = {}
        for name in streams:
            for info in await js.consumers_info(name):
                consumers[(name, info.name)] = _comparable(info.config)
        return streams, consumers
    finally:
        await nc.close()


async def test_bootstrap_creates_everything_and_is_idempotent(plain_nats: str) -> None:
    await bus.bootstrap(plain_nats, exec_ack_wait_seconds=EXEC_ACK_WAIT)
    streams, consumers = await _snapshot(plain_nats)
    assert sorted(streams) == sorted(s.name for s in subjects.STREAMS)
    assert sorted(consumers) == sorted((c.stream, c.durable) for c in subjects.CONSUMERS)
    for spec in subjects.STREAMS:
        assert streams[spec.name]["subjects"] == list(spec.subjects)
        assert streams[spec.name]["retention"] == spec.retention.value
    for c in subjects.CONSUMERS:
        config = consumers[(c.stream, c.durable)]
        assert config["filter_subject"] == c.subject and config["durable_name"] == c.durable
        expected_wait = EXEC_ACK_WAIT if c.durable == subjects.EXECUTOR_ORDERS_DURABLE else 30.0
        assert config["ack_wait"] == expected_wait * 1e9, c.durable
    await bus.bootstrap(plain_nats, exec_ack_wait_seconds=EXEC_ACK_WAIT)
    assert await _snapshot(plain_nats) == (streams, consumers)


async def test_bootstrap_brings_drifted_streams_and_consumers_back(plain_nats: str) -> None:
    await bus.bootstrap(plain_nats, exec_ack_wait_seconds=EXEC_ACK_WAIT)
    declared = await _snapshot(plain_nats)
    nc = await nats.connect(plain_nats)
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.EXEC_STREAM.name)
        await js.update_stream(info.config.evolve(max_age=600.0, description="changed by hand"))
        consumer = await js.consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
        await js.add_consumer(subjects.EXEC_STREAM.name, consumer.config.evolve(ack_wait=5.0, max_deliver=3))
        await js.delete_consumer(subjects.CHAT_STREAM.name, subjects.PLANNER_CHAT_DURABLE)
        await js.delete_stream(subjects.AUDIT_STREAM.name)
    finally:
        await nc.close()
    assert await _snapshot(plain_nats) != declared
    await bus.bootstrap(plain_nats, exec_ack_wait_seconds=EXEC_ACK_WAIT)
    assert await _snapshot(plain_nats) == declared


async def test_bootstrap_takes_the_executor_ack_wait_from_the_setting(plain_nats: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERMES_EXEC_ACK_WAIT_SECONDS", "75")
    await bus.bootstrap(plain_nats)
    _, consumers = await _snapshot(plain_nats)
    assert consumers[(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)]["ack_wait"] == 75 * 1e9


# -- the services' subscribers ---------------------------------------------------------------------


def _subscribe_like_the_services(broker: Any, service: str, received: asyncio.Queue[tuple[str, Any]]) -> None:
    """The subscribers of `service`, declared as services/<service>/app.py declares them."""
    for consumer in subjects.consumed_by(service):
        spec = next(s for s in subjects.STREAMS if s.name == consumer.stream)
        extra: dict[str, Any] = {"ack_policy": bus.ACK_AFTER_HANDLING}
        if consumer.durable == subjects.EXECUTOR_ORDERS_DURABLE:
            extra = {"config": ConsumerConfig(ack_wait=EXEC_ACK_WAIT, filter_subjects=[]),
                     "ack_policy": bus.AckPolicy.MANUAL}

        def handler(durable: str = consumer.durable) -> Any:
            async def on_message(body: dict[str, Any], msg: NatsMessage) -> None:
                await received.put((durable, body))
                if durable == subjects.EXECUTOR_ORDERS_DURABLE:
                    await msg.in_progress()
                    await msg.ack()
            return on_message

        broker.subscriber(consumer.subject, stream=bus.jstream(spec), durable=consumer.durable,
                          pull_sub=bus.pull(), **extra)(handler())


async def test_a_bootstrapped_durable_is_the_one_faststream_makes_on_the_development_path(
        tmp_path: Path) -> None:
    dev = embedded.start_nats(tmp_path / "dev")
    boot = embedded.start_nats(tmp_path / "boot")
    try:
        received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        brokers = []
        for service in subjects.SERVICES:
            broker = bus.make_broker(dev.url, service, Redactor([]))  # declare_streams: the dev path
            _subscribe_like_the_services(broker, service, received)
            await broker.start()
            brokers.append(broker)
        for broker in brokers:
            await broker.stop()
        await bus.bootstrap(boot.url, exec_ack_wait_seconds=EXEC_ACK_WAIT)
        assert await _snapshot(dev.url) == await _snapshot(boot.url)
    finally:
        dev.stop()
        boot.stop()


async def test_every_service_consumes_as_its_own_user_without_creating_anything(auth_nats: AuthNats) -> None:
    await bus.bootstrap(auth_nats.url(), user="bootstrap", password=auth_nats.passwords["bootstrap"],
                        exec_ack_wait_seconds=EXEC_ACK_WAIT)
    received: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    brokers = []
    try:
        for service in subjects.SERVICES:
            if service == "planner":  # credentials in the URL, as the e2e fixtures and compose give them
                broker = bus.make_broker(auth_nats.url(service), service, Redactor([]), declare_streams=False)
            else:
                broker = bus.make_broker(auth_nats.url(), service, Redactor([]), user=service,
                                         password=auth_nats.passwords[service], declare_streams=False)
            _subscribe_like_the_services(broker, service, received)
            await broker.start()
            brokers.append(broker)
        # one message for every durable, each from a party allowed to publish it
        for consumer in subjects.CONSUMERS:
            producer = subjects.producers_of(consumer.subject)[0]
            nc = await nats.connect(auth_nats.url(producer), inbox_prefix=permissions.inbox_prefix(producer))
            try:
                await nc.jetstream().publish(consumer.subject, json.dumps({"to": consumer.durable}).encode(),
                                             timeout=5)
            finally:
                await nc.close()
        got = {}
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < len(subjects.CONSUMERS):
            durable, body = await asyncio.wait_for(received.get(), deadline - asyncio.get_running_loop().time())
            got[durable] = body
        assert got == {c.durable: {"to": c.durable} for c in subjects.CONSUMERS}
        # and a reply published the way the services publish (JetStream, deduplicated)
        gateway = brokers[0]
        reply = Reply(conversation_id="c", correlation_id="m", text="hi", source="gateway", kind="answer")
        await bus.publish(gateway, reply, subjects.REPLY_CREATED)
        durable, body = await asyncio.wait_for(received.get(), 10)
        assert durable == subjects.GATEWAY_REPLIES_DURABLE and body["id"] == reply.id
    finally:
        for broker in brokers:
            await broker.stop()
    # every message acked, nothing left, no consumer made, and the server refused nothing
    nc = await nats.connect(auth_nats.url("admin"))
    try:
        js = nc.jetstream()
        for consumer in subjects.CONSUMERS:
            info = await js.consumer_info(consumer.stream, consumer.durable)
            assert info.num_pending == 0 and info.num_ack_pending == 0, consumer.durable
        names = {(s.config.name, c.name) for s in await js.streams_info() for c in await js.consumers_info(s.config.name)}
        assert names == {(c.stream, c.durable) for c in subjects.CONSUMERS}
    finally:
        await nc.close()
    log = auth_nats.log.read_text(errors="replace")
    assert "Violation" not in log, [line for line in log.splitlines() if "Violation" in line]


async def test_without_the_bootstrap_a_service_stops_saying_so(auth_nats: AuthNats) -> None:
    broker = bus.make_broker(auth_nats.url(), "guard", Redactor([]), user="guard",
                             password=auth_nats.passwords["guard"], declare_streams=False)
    _subscribe_like_the_services(broker, "guard", asyncio.Queue())
    try:
        with pytest.raises(bus.BusNotBootstrapped, match="hermes bootstrap"):
            await broker.start()
    finally:
        await broker.stop()
    # and a service user that tries to declare the streams itself is refused by the server
    broker = bus.make_broker(auth_nats.url("executor"), "executor", Redactor([]), declare_streams=True)
    try:
        with pytest.raises(bus.BusNotBootstrapped, match="HERMES_NATS_DECLARE_STREAMS=false"):
            await broker.start()
    finally:
        await broker.stop()
    nc = await nats.connect(auth_nats.url("admin"))
    try:
        assert await nc.jetstream().streams_info() == []
    finally:
        await nc.close()


def test_stream_declaration_stays_out_of_the_subscribers() -> None:
    for spec in subjects.STREAMS:
        declared = bus.jstream(spec)
        assert declared.declare is False
        assert isinstance(declared.config, StreamConfig)
