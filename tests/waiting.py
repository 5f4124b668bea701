"""Waiting in tests without fixed sleeps.

- `until`: poll recorded state (sync or async probe) until it holds, and fail naming what did not happen
  once the deadline passes.
- `clock_past` / `redis_clock_past`: for a test whose behaviour *is* time passing (a TTL, an expiry),
  wait on the clock that decides it until the instant has passed, checked, rather than a constant.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


async def until(probe: Callable[[], Awaitable[T] | T], timeout: float = 10.0, what: str = "the condition",
                every: float = 0.02) -> T:
    """Poll `probe` until it returns something truthy, and return that; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(every)


async def clock_past(instant: datetime, timeout: float = 30.0) -> None:
    """Wait until the wall clock (what `hermes.contracts.utcnow` reads) is past `instant`."""
    deadline = time.monotonic() + timeout
    while (now := datetime.now(UTC)) <= instant:
        if time.monotonic() > deadline:
            raise AssertionError(f"the clock did not pass {instant.isoformat()} within {timeout}s")
        await asyncio.sleep(min(0.2, max(0.005, (instant - now).total_seconds())))
    assert datetime.now(UTC) > instant


async def redis_now(redis: Any) -> float:
    """The Redis server's clock (what its key expiry goes by), in seconds."""
    seconds, micros = await redis.time()
    return seconds + micros / 1_000_000


async def redis_clock_past(redis: Any, instant: float, timeout: float = 30.0) -> None:
    """Wait until the Redis server's own clock is past `instant` (seconds, as `redis_now` gives)."""
    deadline = time.monotonic() + timeout
    while (now := await redis_now(redis)) <= instant:
        if time.monotonic() > deadline:
            raise AssertionError(f"the Redis clock did not pass {instant} within {timeout}s")
        await asyncio.sleep(min(0.2, max(0.005, instant - now)))
