"""Crash safety of the executor, with real processes: `kill -9` in the middle of a slow step.

Two executor processes share the work queue; the emulator sleeps `latency_ms` before every
command, so the kill lands while `ankra` runs. JetStream redelivers the order one ack wait after the
last heartbeat to the survivor (or to the replacement started meanwhile), and the ledger in Redis and
the run directory decide. When only the executor dies, its command ends under its monitor and the
survivor adopts the recorded outcome: a read or a scale is reported with its real result and never run
again. When the command dies with it (the monitor and `ankra` killed too), nothing recorded how it
ended: a read runs again, a scale is reported "outcome unknown", never run twice. The emulator's call
log and its node count are the proof.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
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

ACK_WAIT = 3.0
LATENCY_MS = 1500
ITERATIONS = 20
PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"  # the emulator's `production` cluster


def _matching(entries: list[dict], argv: list[str]) -> list[dict]:
    return [c for c in entries if c["argv"][:len(argv)] == argv]


def _nodes(wrapper: Path, token: str) -> int:
    """The production cluster's node count, as `ankra cluster info -o json` reports it."""
    with tempfile.TemporaryDirectory() as home:
        out = subprocess.run([str(wrapper), "cluster", "info", "production", "-o", "json"], capture_output=True,
                             env={"PATH": os.environ.get("PATH", ""), "ANKRA_API_TOKEN": token, "HOME": home},
                             timeout=60, check=True)
    return int(json.loads(out.stdout)["nodes"])


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_kill_9_mid_step_finishes_on_another_executor_and_never_scales_twice(
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path], redis_client: aioredis.Redis,
        tmp_path: Path) -> None:
    state, token, wrapper = emulator_state
    write_faults(state, latency_ms=LATENCY_MS)
    runs = tmp_path / "runs"
    fleet.extra_env.update({"HERMES_EXEC_ACK_WAIT_SECONDS": str(ACK_WAIT), "HERMES_EXEC_RUNS_DIR": str(runs)})
    await fleet.start_ready(2)
    nodes = _nodes(wrapper, token)
    adopted = unknown = reads_rerun = 0
    started = time.monotonic()
    async with connected(fleet) as bus:
        for i in range(ITERATIONS):
            scale = i % 2 == 1
            whole_run_dies = i % 4 >= 2  # the command and its monitor die with the executor
            if scale:
                target = 6 + i // 2  # a new count each time: 6, 7, … 15 (production allows 3–20)
                argv = ["cluster", "scale", PRODUCTION_ID, str(target)]
                order = bus.order(argv, "cluster scale", "scale")
            else:
                argv = ["cluster", "list"]
                order = bus.order(argv, "cluster list", "read")
            before = len(calls(state))
            ledger_key = f"{fleet.prefix}:ledger:{order.id}:s1"
            await bus.publish(order)

            entry = await until(lambda k=ledger_key: redis_client.hgetall(k), 30, f"step started ({i})")
            victim = int(entry["executor"].rsplit(":", 1)[1])
            assert victim in fleet.alive(), (entry, fleet.alive())
            await until(lambda: emulator_pids(state), 30, f"ankra running ({i})")
            monitor = json.loads((runs / run_key(order.id, "s1") / "run.json").read_text())["pid"]
            fleet.kill9(victim)
            if whole_run_dies:
                for pid in [monitor, *emulator_pids(state)]:
                    os.kill(pid, signal.SIGKILL)
            assert not _matching(calls(state)[before:], argv), "the kill landed after the step had finished"
            replacement = fleet.start()  # two executors again, as soon as it is ready

            result = await bus.result_for(order.id, timeout=ACK_WAIT + 45)
            await until(lambda: not emulator_pids(state), 30, f"no ankra left running ({i})")
            new_calls = _matching(calls(state)[before:], argv)
            entry = await redis_client.hgetall(ledger_key)
            assert entry.get("finished"), entry
            step = result.steps[0]
            if not whole_run_dies:  # the orphaned command's own outcome, adopted: it ran exactly once
                assert result.outcome == "ok" and step.outcome == "ok", result
                assert [c["exit_code"] for c in new_calls] == [0], new_calls
                assert int(entry["executor"].rsplit(":", 1)[1]) == victim, "the step was started again"
                if scale:
                    assert step.data and step.data["new_count"] == target, step
                    nodes = _nodes(wrapper, token)
                    assert step.data["new_count"] == nodes - 1  # one control plane
                else:
                    assert {c["name"] for c in step.data} >= {"production", "staging-cluster"}
                adopted += 1
            elif scale:
                assert result.outcome == "unknown", result
                assert step.outcome == "unknown" and "check its state before retrying" in (step.error or "")
                assert not new_calls, f"the scale ran again: {new_calls}"
                assert _nodes(wrapper, token) == nodes
                unknown += 1
            else:
                assert result.outcome == "ok", result
                names = {c["name"] for c in step.data}
                assert step.outcome == "ok" and names >= {"production", "staging-cluster"}
                assert int(entry["executor"].rsplit(":", 1)[1]) != victim, "the survivor re-ran the read"
                assert [c["exit_code"] for c in new_calls] == [0], new_calls
                reads_rerun += 1
            await fleet.ready(replacement)
            assert len(fleet.alive()) == 2

        # Exactly one result per order: nothing else arrives (a second run would publish again).
        late = await bus.no_more_results("-", wait=ACK_WAIT + 1)
        assert not bus.received, f"unexpected extra results: {bus.received}; {late}"
        info = await bus.js.consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
        assert info.num_ack_pending == 0 and info.num_pending == 0
    print(f"\n{ITERATIONS} kills in {time.monotonic() - started:.0f}s: {adopted} outcomes adopted, "
          f"{reads_rerun} reads re-run, {unknown} scales reported unknown, none run twice")


@pytest.mark.slow
async def test_slow_step_longer_than_ack_wait_is_not_redelivered_while_its_executor_lives(
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path]) -> None:
    state, _token, _wrapper = emulator_state
    ack_wait = 2.0
    write_faults(state, latency_ms=int(ack_wait * 3 * 1000))  # the step runs three ack waits
    fleet.extra_env["HERMES_EXEC_ACK_WAIT_SECONDS"] = str(ack_wait)
    await fleet.start_ready(2)
    async with connected(fleet) as bus:
        info = await bus.js.consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
        assert info.config.ack_wait == pytest.approx(ack_wait)
        order = bus.order(["cluster", "list"], "cluster list", "read")
        await bus.publish(order)
        result = await bus.result_for(order.id, timeout=60)
        assert result.outcome == "ok", result
        # A redelivery would have made the other executor re-run the read (a started read runs
        # again) while the first was still busy: its `ankra` would be running or logged by now.
        await until(lambda: not emulator_pids(state), 30, "no ankra left running")
        runs = _matching(calls(state), ["cluster", "list"])
        assert len(runs) == 1, runs
        assert runs[0]["duration_ms"] >= ack_wait * 3 * 1000
        # The executor acks just after publishing the result: wait for that ack, then look.
        async def acked():
            info = await bus.js.consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
            return info if info.num_ack_pending == 0 else None

        info = await until(acked, 15, "the order's ack")
        assert info.num_redelivered == 0


async def test_ack_wait_setting_updates_an_existing_consumer(fleet: ExecutorFleet) -> None:
    fleet.extra_env["HERMES_EXEC_ACK_WAIT_SECONDS"] = "7"
    (first,) = await fleet.start_ready(1)
    async with connected(fleet) as bus:
        info = await bus.js.consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
        assert info.config.ack_wait == pytest.approx(7)
        fleet.kill9(first.pid)
        fleet.extra_env["HERMES_EXEC_ACK_WAIT_SECONDS"] = "4"
        await fleet.start_ready(1)
        info = await bus.js.consumer_info(subjects.EXEC_STREAM.name, subjects.EXECUTOR_ORDERS_DURABLE)
        assert info.config.ack_wait == pytest.approx(4)
