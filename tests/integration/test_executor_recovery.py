"""An order whose executor is killed mid-command is finished within seconds, with the command's real result.

Real executor processes on a NATS and Redis of the test's own, the emulator as `ankra`, slowed down so
that the `kill -9` lands while the command runs. The executors run with the short ack wait that Hermes
uses (`RECOVERY_ACK_WAIT`; heartbeats keep a live executor's order), so the order moves on within
seconds: to the other executor, or to the one started after the kill (as `hermes up` restarts it). The
killed executor's command still ends under its monitor, and the executor that takes over adopts the
outcome and output recorded in the run directory: the scale is reported done with its real output, and
the emulator's call log proves it ran exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hermes import subjects
from hermes_executor.runner import run_key

from .executor_harness import (
    ExecutorFleet,
    calls,
    connected,
    emulator_pids,
    fleet_fixture,
    until,
    write_faults,
)

RECOVERY_ACK_WAIT = 9.0  # seconds: the executor consumer's ack wait Hermes runs with (heartbeat every 3 s)
RECOVERY_BOUND = 15.0  # seconds from the kill to the order's result
LATENCY_MS = 4000  # the emulator's delay before each command: the kill lands while `ankra` runs
PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"  # the emulator's `production` cluster


def _scale_calls(state: Path, since: int) -> list[dict]:
    return [c for c in calls(state)[since:] if c["argv"][:2] == ["cluster", "scale"]]


async def _kill_mid_command(fleet: ExecutorFleet, state: Path, redis_client: aioredis.Redis, order_id: str,
                            runs: Path) -> tuple[int, float]:
    """Wait until the order's `ankra` runs, kill -9 its executor (only it); the victim's pid and the kill's time."""
    entry = await until(lambda: redis_client.hgetall(f"{fleet.prefix}:ledger:{order_id}:s1"), 30, "step started")
    victim = int(entry["executor"].rsplit(":", 1)[1])
    await until(lambda: emulator_pids(state), 30, "ankra running")
    monitor = json.loads((runs / run_key(order_id, "s1") / "run.json").read_text())
    fleet.kill9(victim)
    killed_at = time.monotonic()
    assert os.kill(monitor["pid"], 0) is None, "the command's monitor outlives its executor"
    return victim, killed_at


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("takeover", ["survivor", "restarted"])
async def test_a_killed_executors_scale_is_adopted_by_the_next_executor_within_seconds_and_runs_once(
        takeover: str, fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path], redis_client: aioredis.Redis,
        tmp_path: Path) -> None:
    state, _token, _wrapper = emulator_state
    write_faults(state, latency_ms=LATENCY_MS)
    runs = tmp_path / "runs"
    fleet.extra_env.update({"HERMES_EXEC_ACK_WAIT_SECONDS": str(RECOVERY_ACK_WAIT),
                            "HERMES_EXEC_RUNS_DIR": str(runs)})
    await fleet.start_ready(2 if takeover == "survivor" else 1)
    async with connected(fleet) as bus:
        info = await bus.js.consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
        assert info.config.ack_wait == pytest.approx(RECOVERY_ACK_WAIT)
        before = len(calls(state))
        order = bus.order(["cluster", "scale", PRODUCTION_ID, "8"], "cluster scale", "scale")
        await bus.publish(order)
        victim, killed_at = await _kill_mid_command(fleet, state, redis_client, order.id, runs)
        if takeover == "restarted":
            assert not fleet.alive()
            fleet.start()  # as `hermes up` restarts a crashed service

        result = await bus.result_for(order.id, timeout=RECOVERY_BOUND + 30)
        recovered = time.monotonic() - killed_at
        print(f"\n{takeover}: result {recovered:.1f}s after the kill (ack wait {RECOVERY_ACK_WAIT:g}s)")
        assert recovered <= RECOVERY_BOUND, f"the order took {recovered:.1f}s to recover"

        # The real outcome of the one run, adopted: not "unknown", not run again.
        step = result.steps[0]
        assert result.outcome == "ok" and step.outcome == "ok", result
        assert step.exit_code == 0 and step.data == {"previous_count": 5, "new_count": 8}, step
        scales = _scale_calls(state, before)
        assert [c["exit_code"] for c in scales] == [0], scales
        assert victim not in fleet.alive()
        ledger = await redis_client.hgetall(f"{fleet.prefix}:ledger:{order.id}:s1")
        assert ledger["executor"].endswith(f":{victim}") and ledger.get("finished"), ledger
        assert not (runs / run_key(order.id, "s1")).exists(), "the adopted run's directory is removed"

        # Exactly one result; the order is acked.
        assert not await bus.no_more_results(order.id, wait=RECOVERY_ACK_WAIT + 1)

        async def acked():
            info = await bus.js.consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
            return info if info.num_ack_pending == 0 and info.num_pending == 0 else None

        await until(acked, 15, "the order's ack")
        assert len(_scale_calls(state, before)) == 1


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_a_run_that_died_with_its_executor_is_reported_unknown_and_never_rerun(
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path], redis_client: aioredis.Redis,
        tmp_path: Path) -> None:
    """When the command dies too (the whole machine's processes, say), nothing recorded how it ended: the
    step is reported "unknown", and the scale is not run again."""
    state, _token, _wrapper = emulator_state
    write_faults(state, latency_ms=LATENCY_MS)
    runs = tmp_path / "runs"
    fleet.extra_env.update({"HERMES_EXEC_ACK_WAIT_SECONDS": str(RECOVERY_ACK_WAIT),
                            "HERMES_EXEC_RUNS_DIR": str(runs)})
    await fleet.start_ready(2)
    async with connected(fleet) as bus:
        before = len(calls(state))
        order = bus.order(["cluster", "scale", PRODUCTION_ID, "9"], "cluster scale", "scale")
        await bus.publish(order)
        await _kill_mid_command(fleet, state, redis_client, order.id, runs)
        monitor = json.loads((runs / run_key(order.id, "s1") / "run.json").read_text())
        for pid in [monitor["pid"], *emulator_pids(state)]:
            os.kill(pid, signal.SIGKILL)
        await until(lambda: not emulator_pids(state), 30, "the killed command gone")
        result = await bus.result_for(order.id, timeout=RECOVERY_BOUND + 30)
        assert result.outcome == "unknown", result
        assert "check its state before retrying" in (result.steps[0].error or "")
        assert not _scale_calls(state, before), "the scale ran again"
        assert not await bus.no_more_results(order.id, wait=RECOVERY_ACK_WAIT + 1)
