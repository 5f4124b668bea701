"""What every service process has: settings, redaction, logging, the broker and Redis.

A service's `app.py` builds a `ServiceRuntime`, registers its subscribers on `runtime.broker`,
and returns `runtime.app()`: a FastStream application runnable with `faststream run` or
`python -m hermes_<service>`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from faststream import FastStream
from faststream.nats import NatsBroker
from redis.asyncio.connection import parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

from hermes import bus, logs
from hermes.contracts import Envelope
from hermes.keys import Keys
from hermes.redaction import Redactor
from hermes.settings import Settings, get_settings

Hook = Callable[[], Awaitable[Any]]
CONNECT_TIMEOUT = 5.0
"""Seconds to open a connection to Redis before the command fails (a host that does not answer)."""
WAITING_CONNECTIONS = 320
"""Connections of the blocking-read client by default (the gateway sizes it to the long polls and event
streams it admits)."""
WAITING_POOL_TIMEOUT = 5.0
"""Seconds a blocking read waits for a free connection of its pool before it fails."""
PR_SET_DUMPABLE = 4


class BlockingSentinelConnectionPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """The connections of the Sentinels' current primary, at most `max_connections`: a caller beyond
    them waits up to `timeout` seconds for one (as `BlockingConnectionPool`)."""


def redis_client(settings: Settings, *, max_connections: int | None = None, pool_timeout: float | None = None,
                 socket_timeout: float | None = None) -> aioredis.Redis:
    """A Redis client as the settings say; every Redis client of a service is made here.

    With HERMES_REDIS_SENTINELS, the Sentinels name the primary of HERMES_REDIS_SENTINEL_SERVICE and the
    client follows it when they fail over (the database number, and TLS with `rediss://`, still come
    from HERMES_REDIS_URL); without, HERMES_REDIS_URL is the server. Either way it logs in as
    HERMES_REDIS_USER / HERMES_REDIS_PASSWORD. `max_connections`: a pool of at most that many, where a
    caller beyond them waits up to `pool_timeout` seconds; `socket_timeout`: how long a reply may take.
    """
    s = settings
    auth: dict[str, Any] = {
        "decode_responses": True, "username": s.redis_user,
        "password": s.redis_password.get_secret_value() if s.redis_password else None,
        "socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": socket_timeout,
    }
    sentinels = s.sentinel_addresses()
    blocking = {"max_connections": max_connections, "timeout": pool_timeout} if max_connections else {}
    if not sentinels:
        if blocking:
            return aioredis.Redis.from_pool(aioredis.BlockingConnectionPool.from_url(s.redis_url, **auth, **blocking))
        return aioredis.Redis.from_url(s.redis_url, **auth)
    url = parse_url(s.redis_url)
    tls = s.redis_url.startswith("rediss://")
    auth["db"] = url.get("db", 0)
    if tls:
        auth["ssl"] = True
    sentinel = Sentinel(sentinels, sentinel_kwargs={
        "username": s.redis_sentinel_user,
        "password": s.redis_sentinel_password.get_secret_value() if s.redis_sentinel_password else None,
        "socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": CONNECT_TIMEOUT, "ssl": tls,
    })
    pool_class = BlockingSentinelConnectionPool if blocking else SentinelConnectionPool
    return sentinel.master_for(s.redis_sentinel_service, connection_pool_class=pool_class, **auth, **blocking)


def make_undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0): another process of the same user (an `ankra` child included) can
    read neither this process's environment nor its memory, nor attach a debugger. Linux only."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except OSError:
        return False


class ServiceRuntime:
    """The shared parts of one service process."""

    def __init__(self, service: str, settings: Settings | None = None, *, configure_logging: bool = True):
        self.service = service
        self.undumpable = make_undumpable()
        self.settings = settings or get_settings()
        self.redactor = Redactor(self.settings.known_secrets())
        logs.use_secrets(self.settings.known_secrets())
        if configure_logging:
            logs.configure(service, self.settings.log_level, self.settings.log_format)
        self.log = logs.get_logger(f"hermes.{service}")
        self.keys = Keys(self.settings.redis_prefix)
        s = self.settings
        self.broker: NatsBroker = bus.make_broker(
            s.nats_url, service, self.redactor, user=s.nats_user,
            password=s.nats_password.get_secret_value() if s.nats_password else None,
            declare_streams=s.nats_declare_streams, replicas=s.nats_replicas)
        self._redis: aioredis.Redis | None = None
        self._waiting_redis: aioredis.Redis | None = None
        self._startup: list[Hook] = []
        self._shutdown: list[Hook] = []

    def add_secrets(self, values: list[str]) -> None:
        """More secret values to redact everywhere (e.g. tokens read from the config file)."""
        for value in values:
            self.redactor.add_secret(value)
        logs.use_secrets(values)

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            raise RuntimeError(f"{self.service}: Redis is used before the service started")
        return self._redis

    @property
    def waiting_redis(self) -> aioredis.Redis:
        """A second client for blocking reads (long polls): its read timeout outlasts the longest wait,
        and its connections are its own, so waiting readers never hold those other commands need."""
        return self.waiting_client()

    def waiting_client(self, max_connections: int = WAITING_CONNECTIONS) -> aioredis.Redis:
        """The client for blocking reads (long polls, event streams), made on first use: a pool of its own,
        of at most `max_connections` (the first call decides), so that waiting readers neither take the
        connections everything else needs nor open more than that to Redis; a reader beyond them waits
        up to `WAITING_POOL_TIMEOUT` seconds for one, then fails with a Redis ConnectionError. Its read
        timeout outlasts the longest wait (redis-py's default of 5 s would end every longer read)."""
        if self._redis is None:
            raise RuntimeError(f"{self.service}: Redis is used before the service started")
        if self._waiting_redis is None:
            self._waiting_redis = redis_client(self.settings, max_connections=max_connections,
                                               pool_timeout=WAITING_POOL_TIMEOUT,
                                               socket_timeout=self.settings.long_poll_max_seconds + 10)
        return self._waiting_redis

    def on_startup(self, hook: Hook) -> Hook:
        """Run `hook` once the broker is connected and the streams exist."""
        self._startup.append(hook)
        return hook

    def on_shutdown(self, hook: Hook) -> Hook:
        """Run `hook` before the broker and Redis close."""
        self._shutdown.append(hook)
        return hook

    async def publish(self, message: Envelope, subject: str) -> None:
        """Publish a contract on the bus (deduplicated on its id)."""
        await bus.publish(self.broker, message, subject)

    async def start_dependencies(self) -> None:
        self._redis = redis_client(self.settings)
        await self._redis.ping()

    async def _after_startup(self) -> None:
        if self.settings.nats_declare_streams:
            await bus.ensure_streams(self.broker)
        for hook in self._startup:
            await hook()
        self.log.info("service started", nats=self.settings.nats_url)

    async def _on_shutdown(self) -> None:
        for hook in reversed(self._shutdown):
            await hook()
        for client in (self._waiting_redis, self._redis):
            if client is not None:
                await client.aclose()
        self._redis = self._waiting_redis = None
        self.log.info("service stopped")

    def app(self) -> FastStream:
        """The FastStream application of this service."""
        return FastStream(
            self.broker,
            logger=None,
            on_startup=[self.start_dependencies],
            after_startup=[self._after_startup],
            on_shutdown=[self._on_shutdown],
        )
