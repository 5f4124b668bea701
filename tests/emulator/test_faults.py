"""Fault injection (latency, fail-next across processes, hang) and the call log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from .conftest import Emu

PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"  # tools/ankra_emulator/seed.py


def production_workers(emu: Emu) -> int:
    return emu.json("cluster", "ovh", "workers", PRODUCTION_ID)["worker_count"]


def test_latency_from_env_and_from_faults_file(emu: Emu) -> None:
    started = time.monotonic()
    fast = emu.run("cluster", "list", "-o", "json")
    fast_took = time.monotonic() - started
    started = time.monotonic()
    slow = emu.run("cluster", "list", "-o", "json", ANKRA_EMULATOR_LATENCY_MS="700")
    slow_took = time.monotonic() - started
    assert fast.returncode == slow.returncode == 0
    assert slow_took >= 0.7 and slow_took > fast_took
    emu.write_faults(latency_ms=600)  # through a scrubbed environment
    started = time.monotonic()
    assert emu.run("cluster", "list").returncode == 0
    assert time.monotonic() - started >= 0.6


def test_fail_next_counts_across_processes(emu: Emu) -> None:
    codes = [emu.run("cluster", "list", ANKRA_EMULATOR_FAIL_NEXT="2") for _ in range(3)]
    assert [c.returncode for c in codes] == [1, 1, 0]
    assert codes[0].stderr.startswith("Error: listing clusters: API request failed: 503")
    # The same value does not fail again; a new tag starts a new series.
    assert emu.run("cluster", "list", ANKRA_EMULATOR_FAIL_NEXT="2").returncode == 0
    assert emu.run("cluster", "list", ANKRA_EMULATOR_FAIL_NEXT="1@second").returncode == 1
    assert emu.run("cluster", "list", ANKRA_EMULATOR_FAIL_NEXT="1@second").returncode == 0


def test_fail_next_from_faults_file_is_decremented_and_filtered(emu: Emu) -> None:
    emu.write_faults(fail_next=1, fail_match=["cluster scale"])
    assert emu.run("cluster", "list").returncode == 0  # not matched: not consumed
    failed = emu.run("cluster", "scale", PRODUCTION_ID, "6")
    assert failed.returncode == 1 and "scaling workers: API request failed" in failed.stderr
    assert json.loads((emu.state / "faults.json").read_text())["fail_next"] == 0
    # The failed scale changed nothing; the retry works.
    assert production_workers(emu) == 5
    assert emu.run("cluster", "scale", PRODUCTION_ID, "6").returncode == 0
    assert production_workers(emu) == 6


def _hanging(emu: Emu, **env: str) -> subprocess.Popen[bytes]:
    """`ankra cluster list` started with `env`, once the emulator has logged that it is hanging."""
    proc = subprocess.Popen([str(emu.wrapper), "cluster", "list"], env=emu.env(**env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while not [c for c in emu.calls() if c.get("note") == "hang"]:
        if proc.poll() is not None:
            raise AssertionError(f"the emulator exited ({proc.returncode}) instead of hanging")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError("the emulator never logged its hang")
        time.sleep(0.02)
    return proc


def _still_hanging_then_killed(proc: subprocess.Popen[bytes]) -> None:
    """Past its hang, the process outlives a deadline (that *is* a hang); then it is killed."""
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    assert proc.returncode == -signal.SIGKILL


def test_hang_is_killed_by_timeout(emu: Emu) -> None:
    _still_hanging_then_killed(_hanging(emu, ANKRA_EMULATOR_HANG="1"))
    hung = [c for c in emu.calls() if c.get("note") == "hang"]
    assert len(hung) == 1 and hung[0]["exit_code"] is None


def test_hang_from_faults_file(emu: Emu) -> None:
    emu.write_faults(hang=True)
    _still_hanging_then_killed(_hanging(emu))
    assert [c["exit_code"] for c in emu.calls()] == [None]


def test_call_log_records_each_invocation_once_with_token_redacted(emu: Emu) -> None:
    emu.run("cluster", "scale", PRODUCTION_ID, "7", "--token", emu.token)
    emu.run("cluster", "info", "nope")
    calls = emu.calls()
    assert [c["command"] for c in calls] == ["cluster scale", "cluster info"]
    assert [c["exit_code"] for c in calls] == [0, 3]
    assert calls[0]["argv"] == ["cluster", "scale", PRODUCTION_ID, "7", "--token", "***"]
    assert all(isinstance(c["pid"], int) and c["ts"].endswith("Z") for c in calls)
    assert emu.token not in (emu.state / "calls.jsonl").read_text()
