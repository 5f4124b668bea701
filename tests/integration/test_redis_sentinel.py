"""Hermes on Redis through Sentinel: the primary dies under load, and nothing is lost or done twice.

A Redis primary, a replica and three Sentinels run on loopback. A service's runtime finds the primary
through the Sentinels (HERMES_REDIS_SENTINELS, HERMES_REDIS_SENTINEL_SERVICE), for its main client and for
its blocking-read client alike. Under a load of requests on the bus (as in test_nats_cluster.py), the
primary is killed with SIGKILL: the Sentinels promote the replica, the clients follow it, the failed
requests are redelivered, and every request is processed exactly once.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hermes import embedded
from hermes.runtime import BlockingSentinelConnectionPool, ServiceRuntime
from hermes.settings import Settings
from redis.asyncio.sentinel import SentinelConnectionPool

from tests.integration.test_nats_cluster import (
    Load,
    assert_exactly_once,
    consumer_drained,
    run_load,
    subscribe_load,
)
from tests.waiting import until

pytestmark = pytest.mark.timeout(90)

SERVICE = "hermes"


@pytest.fixture
def sentinels(tmp_path: Path) -> embedded.RedisSentinels:
    found = embedded.start_redis_sentinel(tmp_path / "redis", service=SERVICE)
    try:
        yield found
    finally:
        found.stop()


async def _sentinel_ready(server: embedded.ServerProcess, primary: embedded.ServerProcess) -> bool:
    """Whether this Sentinel sees the primary, its replica and the two other Sentinels."""
    client = aioredis.Redis(host=server.host, port=server.port, decode_responses=True, socket_timeout=2)
    try:
        master = await client.sentinel_master(SERVICE)
        replicas = await client.sentinel_slaves(SERVICE)
        others = await client.sentinel_sentinels(SERVICE)
        return (int(master["port"]) == primary.port and len(others) == 2
                and any(r.get("master-link-status") == "ok" and not r.get("is_sdown") for r in replicas))
    except Exception:
        return False
    finally:
        await client.aclose()


async def _primary_port(server: embedded.ServerProcess) -> int | None:
    client = aioredis.Redis(host=server.host, port=server.port, decode_responses=True, socket_timeout=2)
    try:
        address = await client.sentinel_get_master_addr_by_name(SERVICE)
        return int(address[1]) if address else None
    finally:
        await client.aclose()


@pytest.fixture
async def sentinel_runtime(sentinels: embedded.RedisSentinels, fresh_nats, redis_prefix) -> AsyncIterator[
        ServiceRuntime]:
    for sentinel in sentinels.sentinels:
        await until(lambda s=sentinel: _sentinel_ready(s, sentinels.primary), timeout=20,
                    what=f"the Sentinel on port {sentinel.port} sees the primary, replica and Sentinels",
                    every=0.1)
    # redis_url points nowhere: with Sentinels, it gives only the database number
    settings = Settings(nats_url=fresh_nats.url, redis_url="redis://127.0.0.1:1/0", redis_prefix=redis_prefix,
                        redis_sentinels=sentinels.addresses, redis_sentinel_service=SERVICE)
    runtime = ServiceRuntime("planner", settings, configure_logging=False)
    yield runtime
    await runtime.broker.stop()
    await runtime._on_shutdown()


async def test_every_redis_client_of_a_service_goes_through_the_sentinels(
        sentinels: embedded.RedisSentinels, sentinel_runtime: ServiceRuntime) -> None:
    runtime = sentinel_runtime
    await runtime.start_dependencies()
    assert isinstance(runtime.redis.connection_pool, SentinelConnectionPool)
    waiting = runtime.waiting_client(max_connections=7)
    assert isinstance(waiting.connection_pool, BlockingSentinelConnectionPool)
    assert waiting.connection_pool.max_connections == 7
    await runtime.redis.set(f"{runtime.settings.redis_prefix}:k", "v")
    assert await waiting.get(f"{runtime.settings.redis_prefix}:k") == "v"
    # a blocking read waits on the primary, and ends as soon as something arrives
    await runtime.redis.rpush(f"{runtime.settings.redis_prefix}:q", "x")
    assert tuple(await waiting.blpop([f"{runtime.settings.redis_prefix}:q"], timeout=5)) == (
        f"{runtime.settings.redis_prefix}:q", "x")
    primary = aioredis.Redis(host=sentinels.primary.host, port=sentinels.primary.port, decode_responses=True)
    try:
        assert await primary.get(f"{runtime.settings.redis_prefix}:k") == "v"
    finally:
        await primary.aclose()


async def test_killing_the_redis_primary_under_load_loses_and_repeats_nothing(
        sentinels: embedded.RedisSentinels, sentinel_runtime: ServiceRuntime, fresh_nats) -> None:
    runtime = sentinel_runtime
    load = Load(ids=[f"req-{i:04d}" for i in range(600)])
    subscribe_load(runtime, load, replicated=True)
    await runtime.start_dependencies()
    await runtime.broker.start()
    old_primary = sentinels.primary
    promoted: dict[str, float] = {}

    async def kill_the_primary() -> None:
        old_primary.process.kill()  # SIGKILL
        killed_at = time.monotonic()

        async def moved() -> bool:
            port = await _primary_port(sentinels.sentinels[0])
            return port is not None and port != old_primary.port

        await until(moved, timeout=20, what="the Sentinels promoting the replica", every=0.05)
        promoted["seconds"] = time.monotonic() - killed_at

    # the requests that failed while the Sentinels elected wait for the consumer's retry schedule
    # (1 s, 5 s, 15 s: ConsumerSpec.retry_delays_seconds), which bounds the end, not the failover
    processed = await run_load(runtime, load, kill_the_primary, fault_after=200, finish_within=50)
    assert_exactly_once(load, processed)
    await until(lambda: consumer_drained(fresh_nats.url), timeout=20, what="the consumer drained", every=0.2)
    assert await _primary_port(sentinels.sentinels[0]) == sentinels.replicas[0].port
    assert load.handler_failures > 0, "the primary's death went unnoticed: the test did not test a failover"
    redelivered = sum(len(seqs) - 1 for seqs in load.deliveries.values())
    print(f"\nRedis primary killed: Sentinels promoted the replica after {promoted['seconds']:.2f}s, processing "
          f"again after {load.first_processed_after_fault:.2f}s, all {len(load.ids)} done "
          f"{load.finished_after_fault:.2f}s after the kill; handler failures {load.handler_failures}, "
          f"redeliveries {redelivered}, lost 0, duplicated 0")
    assert promoted["seconds"] < 15 and load.finished_after_fault < 50
