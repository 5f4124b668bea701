"""Hermes on a 3-node NATS cluster: a server dies under load, and nothing is lost or done twice.

- A service's broker connects with the cluster's URLs (HERMES_NATS_URL, comma-separated) and makes
  every stream of the catalog with 3 replicas, as many as the cluster has servers.
- Under a load of requests (chat messages published with `publish_confirmed`, retried with the same id
  until JetStream acknowledges them; a consumer that records each id in Redis, exactly once, and acks),
  the server that leads the stream is killed with SIGKILL: every request is stored once (JetStream
  deduplicates the retries), processed once, and all are answered within a bounded time.

`run_load` is the load both failover tests drive (this one and test_redis_sentinel.py).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
import structlog.testing
from faststream.nats import NatsMessage
from hermes import bus, embedded, subjects
from hermes.contracts import ChatMessage
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from nats.js.api import ConsumerConfig

from tests.waiting import until

pytestmark = pytest.mark.timeout(90)

WORK = subjects.CHAT_RECEIVED
STREAM = subjects.CHAT_STREAM
DURABLE = "failover-load"
ACK_WAIT_SECONDS = 3.0
# Marks the request done and records it, atomically: a redelivered request finds its mark and does nothing.
PROCESS_ONCE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""


@dataclass
class Load:
    """What a load run saw."""

    ids: list[str]
    deliveries: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # id -> stream seqs
    publish_retries: int = 0
    handler_failures: int = 0
    first_ack_after_fault: float | None = None
    first_processed_after_fault: float | None = None
    fault_at: float | None = None
    finished_after_fault: float | None = None


async def _publish_all(runtime: ServiceRuntime, load: Load, queue: asyncio.Queue[str]) -> None:
    """Publish each queued request until JetStream acknowledges it, always under the same id."""
    broker = runtime.broker
    while True:
        try:
            request_id = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        message = ChatMessage(id=request_id, conversation_id="c-load", correlation_id=request_id,
                              text=f"request {request_id}")
        started = time.monotonic()
        while True:
            try:
                await bus.publish_confirmed(broker, message, WORK, timeout=2.0)
                break
            except bus.PublishFailed:
                load.publish_retries += 1
                if not bus.bus_connected(broker):  # the client is reconnecting: wait for it
                    await until(lambda: bus.bus_connected(broker), timeout=30, what="the reconnection to NATS")
                else:
                    await asyncio.sleep(0.05)  # the stream is electing its leader: try again shortly
        if load.fault_at is not None and started > load.fault_at and load.first_ack_after_fault is None:
            load.first_ack_after_fault = time.monotonic() - load.fault_at  # a request first sent after the fault


def subscribe_load(runtime: ServiceRuntime, load: Load, *, replicated: bool = False) -> None:
    """The consumer of the load: it records each request once in Redis (through the service's own
    client), and with `replicated`, acks only once a replica has the record too."""
    processed_key = f"{runtime.settings.redis_prefix}:processed"

    @runtime.broker.subscriber(WORK, stream=bus.jstream(STREAM), durable=DURABLE,
                               pull_sub=bus.pull(batch_size=20), ack_policy=bus.ACK_AFTER_HANDLING,
                               config=ConsumerConfig(filter_subjects=[], ack_wait=ACK_WAIT_SECONDS,
                                                     max_deliver=-1))
    async def handle(body: dict[str, Any], msg: NatsMessage) -> None:
        request_id = body["id"]
        load.deliveries[request_id].append(msg.raw_message.metadata.sequence.stream)
        try:
            redis = runtime.redis
            await redis.eval(PROCESS_ONCE, 2, f"{runtime.settings.redis_prefix}:done:{request_id}",
                             processed_key, request_id)
            if replicated:
                # Redis replicates asynchronously: ack only what a replica holds too (unless none is left).
                if await redis.execute_command("WAIT", 1, 1000) < 1:
                    info = await redis.info("replication")
                    if info.get("connected_slaves", 0):
                        raise RuntimeError(f"{request_id}: no replica confirmed the write")
        except Exception:
            load.handler_failures += 1
            raise
        if load.fault_at is not None and load.first_processed_after_fault is None:
            load.first_processed_after_fault = time.monotonic() - load.fault_at


async def run_load(runtime: ServiceRuntime, load: Load, fault: Callable[[], Awaitable[None]],
                   fault_after: int, publishers: int = 4, finish_within: float = 40.0) -> list[str]:
    """Publish every request of `load` from `publishers` tasks; once `fault_after` are acknowledged, run
    `fault`; return the ids the consumer recorded (in order) once all are recorded."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for request_id in load.ids:
        queue.put_nowait(request_id)
    tasks = [asyncio.create_task(_publish_all(runtime, load, queue)) for _ in range(publishers)]
    processed_key = f"{runtime.settings.redis_prefix}:processed"
    # Failures are logged with their tracebacks; captured, not rendered (rendering costs this 2-core
    # machine a second each, which would measure the console, not the failover).
    with structlog.testing.capture_logs():
        return await _load_and_fault(runtime, load, fault, fault_after, finish_within, queue, tasks,
                                     processed_key, publishers)


async def _load_and_fault(runtime: ServiceRuntime, load: Load, fault: Callable[[], Awaitable[None]],
                          fault_after: int, finish_within: float, queue: asyncio.Queue[str],
                          tasks: list[asyncio.Task[None]], processed_key: str, publishers: int) -> list[str]:
    try:
        await until(lambda: len(load.ids) - queue.qsize() - publishers >= fault_after, timeout=30,
                    what=f"{fault_after} requests published")
        load.fault_at = time.monotonic()
        await fault()

        async def all_recorded() -> bool:
            try:
                return await runtime.redis.llen(processed_key) >= len(load.ids) and all(t.done() for t in tasks)
            except Exception:  # Redis is failing over: not yet
                return False

        await until(all_recorded, timeout=finish_within, what=f"all {len(load.ids)} requests processed",
                    every=0.1)
        load.finished_after_fault = time.monotonic() - load.fault_at
        for task in tasks:
            await task  # (raises what a publisher raised)
        return await runtime.redis.lrange(processed_key, 0, -1)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def assert_exactly_once(load: Load, processed: list[str]) -> None:
    lost = set(load.ids) - set(processed)
    duplicated = len(processed) - len(set(processed))
    stored_twice = {i: seqs for i, seqs in load.deliveries.items() if len(set(seqs)) > 1}
    assert not lost, f"{len(lost)} requests lost: {sorted(lost)[:10]}"
    assert duplicated == 0, f"{duplicated} requests processed twice"
    assert not stored_twice, f"{len(stored_twice)} requests stored twice: {list(stored_twice.items())[:5]}"
    assert set(processed) == set(load.ids)


async def consumer_drained(nats_url: str) -> bool:
    nc = await nats.connect(bus.nats_servers(nats_url), connect_timeout=2, max_reconnect_attempts=2)
    try:
        info = await nc.jetstream(timeout=2).consumer_info(STREAM.name, DURABLE)
        return info.num_pending == 0 and info.num_ack_pending == 0
    except Exception:
        return False
    finally:
        await nc.close()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> embedded.NatsCluster:
    cluster = embedded.start_nats_cluster(tmp_path / "nats")
    try:
        yield cluster
    finally:
        cluster.stop()


async def _jetstream_ready(url: str) -> bool:
    """Whether the cluster's JetStream answers (its meta group has elected a leader)."""
    try:
        nc = await nats.connect(url, connect_timeout=1, allow_reconnect=False, max_reconnect_attempts=1)
    except Exception:
        return False
    try:
        await nc.jetstream(timeout=1).account_info()
        return True
    except Exception:
        return False
    finally:
        await nc.close()


@pytest.fixture
async def cluster_runtime(nats_cluster: embedded.NatsCluster, redis_server, redis_prefix) -> AsyncIterator[
        ServiceRuntime]:
    for url in nats_cluster.urls:
        await until(lambda u=url: _jetstream_ready(u), timeout=20, what=f"JetStream on {url}", every=0.2)
    settings = Settings(nats_url=nats_cluster.url, redis_url=redis_server.url, redis_prefix=redis_prefix)
    runtime = ServiceRuntime("planner", settings, configure_logging=False)
    yield runtime
    await runtime.broker.stop()
    await runtime._on_shutdown()


def test_the_settings_take_a_cluster_and_sentinels() -> None:
    settings = Settings(nats_url="nats://a:4222, nats://b:4222,nats://c:4222",
                        redis_sentinels="s1:26379,s2:26379, s3:26380")
    assert settings.nats_servers() == bus.nats_servers(settings.nats_url) == [
        "nats://a:4222", "nats://b:4222", "nats://c:4222"]
    assert settings.sentinel_addresses() == [("s1", 26379), ("s2", 26379), ("s3", 26380)]
    assert settings.redis_sentinel_service == "hermes" and settings.nats_replicas is None
    with pytest.raises(ValueError, match="not host:port"):
        Settings(redis_sentinels="s1:26379,s2")
    # one server: one copy; a cluster: as many as it has servers, at most 3; the setting wins
    assert bus.cluster_size({"server_name": "n"}) == 1
    assert bus.cluster_size({"cluster": "c", "connect_urls": ["a:1", "b:1"]}) == 2

    class Client:
        _server_info = {"cluster": "c", "connect_urls": ["a:1", "b:1", "c:1", "d:1", "e:1"]}

    assert bus.stream_replicas(Client()) == 3 and bus.stream_replicas(Client(), 5) == 5


async def test_a_single_server_keeps_one_copy_of_each_stream(fresh_nats, redis_server, redis_prefix) -> None:
    runtime = ServiceRuntime("planner", Settings(nats_url=fresh_nats.url, redis_url=redis_server.url,
                                                 redis_prefix=redis_prefix), configure_logging=False)
    try:
        await bus.ensure_streams(runtime.broker)
        js = bus.nats_client(runtime.broker).jetstream()
        assert {(await js.stream_info(s.name)).config.num_replicas for s in subjects.STREAMS} == {1}
    finally:
        await runtime.broker.stop()


async def test_killing_the_stream_leader_under_load_loses_and_repeats_nothing(
        nats_cluster: embedded.NatsCluster, cluster_runtime: ServiceRuntime) -> None:
    runtime = cluster_runtime
    load = Load(ids=[f"req-{i:04d}" for i in range(600)])
    subscribe_load(runtime, load)
    await runtime.start_dependencies()
    await runtime.broker.start()  # declares the streams (the development path), then consumes
    js = bus.nats_client(runtime.broker).jetstream(timeout=5)
    for spec in subjects.STREAMS:
        info = await js.stream_info(spec.name)
        assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2, spec.name

    killed: list[str] = []

    async def kill_the_stream_leader() -> None:
        leader = (await js.stream_info(STREAM.name)).cluster.leader
        killed.append(leader)
        nats_cluster.node(leader).process.kill()  # SIGKILL

    processed = await run_load(runtime, load, kill_the_stream_leader, fault_after=200)
    assert_exactly_once(load, processed)
    await until(lambda: consumer_drained(nats_cluster.url), timeout=20, what="the consumer drained", every=0.2)
    # the stream has a new leader among the survivors, and still its 3 replicas (one of them offline)
    info = await bus.nats_client(runtime.broker).jetstream(timeout=5).stream_info(STREAM.name)
    assert info.cluster.leader not in killed and info.config.num_replicas == 3
    redelivered = sum(len(seqs) - 1 for seqs in load.deliveries.values())
    print(f"\nNATS leader {killed[0]} killed: publishes acknowledged again after "
          f"{load.first_ack_after_fault:.2f}s, processing after {load.first_processed_after_fault:.2f}s, "
          f"all {len(load.ids)} done {load.finished_after_fault:.2f}s after the kill; publish retries "
          f"{load.publish_retries}, redeliveries {redelivered}, lost 0, duplicated 0")
    assert load.finished_after_fault < 40
