"""What leaves the executor, with real processes: a secret printed by a command reaches neither the
bus (results, replies, audit), nor the executor's log, nor any Redis key; a hanging command is
killed at its timeout; huge output is capped."""

from __future__ import annotations

import json
import re
import stat
import time
from pathlib import Path

import ankra_emulator
import redis.asyncio as aioredis

from .executor_harness import fleet_fixture  # noqa: F401 - the `fleet` fixture
from .executor_harness import ExecutorFleet, calls, connected, emulator_pids, until, write_faults

# Not shaped like any known token, so only the executor's knowledge of its own secret can hide it.
EXECUTOR_TOKEN = "Plain-Executor-Secret-4f9c2e7a1b"
TOKEN_SHAPE = re.compile(r"ankra_[0-9a-f]{16,}")


def _leaky_ankra(tmp_path: Path, wrapper: Path) -> Path:
    """The emulator behind a wrapper that prints the token it was given, as a careless CLI might."""
    path = tmp_path / "leaky-bin" / "ankra"
    path.parent.mkdir(parents=True)
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
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path], redis_client: aioredis.Redis,
        tmp_path: Path) -> None:
    state, _token, wrapper = emulator_state
    ankra_emulator.add_token(state, EXECUTOR_TOKEN)
    fleet.ankra_token = EXECUTOR_TOKEN
    fleet.ankra_bin = str(_leaky_ankra(tmp_path, wrapper))
    await fleet.start_ready(1)
    async with connected(fleet) as bus:
        orders = {
            "token": bus.order(["tokens", "create", "ci-bot"], "tokens create", "secret"),
            "scale": bus.order(["cluster", "scale", "production", "6"], "cluster scale", "scale"),
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
