"""What leaves the executor, with real processes: a secret printed by a command reaches neither the
bus (results, replies, audit), nor the executor's log, nor any Redis key; a hanging command is
killed at its timeout; huge output is capped."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import sys
import time
import uuid
from pathlib import Path

import ankra_emulator
import pytest
import redis.asyncio as aioredis

from .executor_harness import (
    PRODUCTION_ID,
    ExecutorFleet,
    calls,
    connected,
    emulator_pids,
    fleet_fixture,
    until,
    write_faults,
)
from .test_sandbox_descendants import DAEMONISE, SLEEPER, _alive

# Not shaped like any known token, so only the executor's knowledge of its own secret can hide it.
EXECUTOR_TOKEN = "Plain-Executor-Secret-4f9c2e7a1b"
TOKEN_SHAPE = re.compile(r"ankra_[0-9a-f]{16,}")


def _emulator_state_writable(fleet: ExecutorFleet, state: Path) -> None:
    """As `hermes up` does: inside bubblewrap (used whenever it works) only declared paths are writable."""
    fleet.extra_env["HERMES_EXEC_BWRAP_WRITABLE"] = json.dumps([str(state)])


def _leaky_ankra(wrapper: Path) -> Path:
    """The emulator behind a wrapper that prints the token it was given, as a careless CLI might.
    It sits next to the emulator's wrapper: inside bubblewrap, only the binary's own directory is there."""
    path = wrapper.parent / "leaky-ankra"
    path.write_text(
        "#!/bin/sh\n"
        'echo "Error: debug: authenticating with $ANKRA_API_TOKEN" >&2\n'
        'case "$1 $2" in "cluster scale")\n'
        '  echo "using token $ANKRA_API_TOKEN (Bearer $ANKRA_API_TOKEN)";;\n'
        'esac\n'
        f'exec {wrapper} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


async def _redis_dump(client: aioredis.Redis, prefix: str) -> str:
    """Every key of the prefix with every value, whatever its type."""
    parts: list[str] = []
    async for key in client.scan_iter(f"{prefix}:*"):
        kind = await client.type(key)
        parts.append(key)
        if kind == "string":
            parts.append(await client.get(key) or "")
        elif kind == "hash":
            parts.append(json.dumps(await client.hgetall(key)))
        elif kind == "list":
            parts.extend(await client.lrange(key, 0, -1))
        elif kind == "set":
            parts.extend(await client.smembers(key))
        elif kind == "zset":
            parts.extend(await client.zrange(key, 0, -1))
        elif kind == "stream":
            parts.append(json.dumps(await client.xrange(key)))
        else:
            raise AssertionError(f"unexpected Redis type {kind} of {key}")
    return "\n".join(parts)


async def test_secrets_printed_by_commands_never_reach_the_bus_the_log_or_redis(
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path], redis_client: aioredis.Redis) -> None:
    state, _token, wrapper = emulator_state
    ankra_emulator.add_token(state, EXECUTOR_TOKEN)
    _emulator_state_writable(fleet, state)
    fleet.ankra_token = EXECUTOR_TOKEN
    fleet.ankra_bin = str(_leaky_ankra(wrapper))
    await fleet.start_ready(1)
    async with connected(fleet) as bus:
        orders = {
            "token": bus.order(["tokens", "create", "ci-bot"], "tokens create", "secret"),
            "scale": bus.order(["cluster", "scale", PRODUCTION_ID, "6"], "cluster scale", "scale"),
            "list": bus.order(["cluster", "list"], "cluster list", "read"),
            "fails": bus.order(["cluster", "info", "no-such-cluster"], "cluster info", "read"),
            # a secret pasted into a question travels in the argv itself
            "asks": bus.order(["chat", f"is {EXECUTOR_TOKEN} still valid?"], "chat", "read"),
        }
        for order in orders.values():
            await bus.publish(order)
        results = {name: await bus.result_for(order.id, timeout=60) for name, order in orders.items()}
        replies = await bus.drain(bus.replies)
        audit = await bus.drain(bus.audit)
        result_payloads = list(bus.result_payloads)

    # The commands did print the secrets: the emulator made a token, the wrapper echoed its own.
    created = [c for c in calls(state) if c["command"] == "tokens create"]
    assert len(created) == 1 and created[0]["exit_code"] == 0
    token_result = results["token"].steps[0]
    assert results["token"].outcome == "ok" and "never shows token values" in token_result.stdout
    assert token_result.data is None
    assert results["scale"].outcome == "ok" and "[REDACTED:secret]" in results["scale"].steps[0].stdout
    assert "[REDACTED:secret]" in results["list"].steps[0].stderr
    assert results["fails"].outcome == "failed"
    assert "[REDACTED:secret]" in (results["fails"].steps[0].error or "")

    sinks = {
        "results": b"\n".join(result_payloads).decode(),
        "replies": b"\n".join(replies).decode(),
        "audit": b"\n".join(audit).decode(),
        "executor log": fleet.all_logs(),
        "redis": await _redis_dump(redis_client, fleet.prefix),
    }
    assert '"step finished"' in sinks["executor log"] and "[REDACTED:secret]" in sinks["redis"]
    assert len(result_payloads) == len(orders) and replies and audit
    for where, text in sinks.items():
        assert EXECUTOR_TOKEN not in text, f"the executor's token leaked into {where}"
        assert not TOKEN_SHAPE.search(text), (where, TOKEN_SHAPE.findall(text))


async def test_hanging_command_is_killed_at_its_timeout_and_huge_output_is_capped(
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path]) -> None:
    state, _token, _wrapper = emulator_state
    _emulator_state_writable(fleet, state)
    fleet.extra_env.update(HERMES_EXEC_TIMEOUT_SECONDS="2", HERMES_EXEC_OUTPUT_CAP_BYTES="1024")
    await fleet.start_ready(1)
    async with connected(fleet) as bus:
        big = bus.order(["charts", "list", "--page-size", "100"], "charts list", "read")
        await bus.publish(big)
        capped = (await bus.result_for(big.id, timeout=60)).steps[0]
        assert capped.outcome == "ok" and capped.truncated
        assert 0 < len(capped.stdout.encode()) <= 1024
        assert capped.data is None  # cut JSON is never parsed

        write_faults(state, hang=True)
        hang = bus.order(["cluster", "list"], "cluster list", "read")
        sent = time.monotonic()
        await bus.publish(hang)
        result = await bus.result_for(hang.id, timeout=60)
        took = time.monotonic() - sent
    step = result.steps[0]
    assert result.outcome == "timeout" and step.outcome == "timeout", result
    assert "no answer within 2s; the command was killed" in (step.error or "")
    assert 2 <= took < 15, took
    assert [c for c in calls(state) if c.get("note") == "hang"], "the command did start and hang"
    await until(lambda: not emulator_pids(state), 10, "the hanging ankra is gone")


@pytest.mark.parametrize("bwrap", ["false", "auto"])
async def test_a_daemon_left_by_a_hanging_command_dies_with_it_at_the_timeout(
        fleet: ExecutorFleet, tmp_path: Path, bwrap: str) -> None:
    """The executor process itself: a child subreaper from start-up, so even a double-forked, setsid,
    environment-scrubbing daemon of a timed-out `ankra` is found and killed (and, in bubblewrap, dies
    with the sandbox's PID namespace)."""
    out = tmp_path / "daemon-out"
    out.mkdir()
    token = f"daemon-{uuid.uuid4().hex}"
    fake = tmp_path / "fake-bin" / "ankra"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport os, sys, time\n"
                    f"SLEEPER, UP, TOKEN = {SLEEPER!r}, {str(out / 'up')!r}, {token!r}\n"
                    + DAEMONISE + "sys.stdout.flush()\ntime.sleep(300)\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    fleet.ankra_bin = str(fake)
    fleet.extra_env.update(HERMES_EXEC_TIMEOUT_SECONDS="5", HERMES_EXEC_BWRAP_WRITABLE=json.dumps([str(out)]))
    if bwrap == "false":
        fleet.extra_env["HERMES_EXEC_BWRAP"] = "false"
    try:
        await fleet.start_ready(1)
        async with connected(fleet) as bus:
            order = bus.order(["cluster", "list"], "cluster list", "read")
            await bus.publish(order)
            result = await bus.result_for(order.id, timeout=60)
        assert result.outcome == "timeout" and result.steps[0].outcome == "timeout", result
        assert (out / "up").exists(), "the daemon did start before the timeout"
        await until(lambda: not _alive(token), 5, "the daemon of the timed-out command is gone")
    finally:
        for pid in _alive(token):
            os.kill(pid, signal.SIGKILL)
