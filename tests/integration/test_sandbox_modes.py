"""When bubblewrap is used: `SandboxLimits.bwrap` None (the default) = whenever `bwrap` is installed and
actually works here (probed once, then remembered), else run without it and say so once in the log;
True = required (nothing runs without it); False = off (bwrap is never even asked)."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hermes.contracts import OrderStep
from hermes.redaction import Redactor
from hermes_executor import runner
from hermes_executor.runner import SANDBOX_HOME, AnkraInvocation, SandboxLimits, run_step

from .test_runner_sandbox import needs_bwrap


class Recorder:
    """Stands in for the runner's logger."""

    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.warnings.append((event, fields))


@pytest.fixture
def log(monkeypatch) -> Recorder:
    """A fresh runner state: nothing probed, nothing said yet, and a logger the test can read."""
    recorder = Recorder()
    monkeypatch.setattr(runner, "_log", recorder)
    monkeypatch.setattr(runner, "_probes", {})
    monkeypatch.setattr(runner, "_said_unsandboxed", False)
    return recorder


def _step() -> OrderStep:
    return OrderStep(step_id="s1", argv=["cluster", "list"], command="cluster list", risk="read")


def _where_am_i(tmp_path: Path) -> str:
    """A fake `ankra` that reports whether it sees the test's process (no sandbox) and its HOME."""
    path = tmp_path / "bin" / "ankra"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport json, os\n" + textwrap.dedent(f"""
        print(json.dumps({{"sees_executor": os.path.exists("/proc/{os.getpid()}/status")
                           and {os.getpid()} != os.getpid(), "pid": os.getpid(), "home": os.environ["HOME"]}}))
    """))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _broken_bwrap(tmp_path: Path) -> tuple[Path, Path]:
    """A `bwrap` that is installed but cannot create namespaces (as in a locked-down container)."""
    bin_dir = tmp_path / "fake-bwrap-bin"
    bin_dir.mkdir()
    calls = tmp_path / "bwrap-calls.log"
    path = bin_dir / "bwrap"
    path.write_text("#!/bin/sh\n"
                    f'echo "$1" >> {calls}\n'
                    'echo "bwrap: No permissions to create new namespace" >&2\n'
                    "exit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir, calls


@needs_bwrap
async def test_by_default_bubblewrap_is_used_when_it_works(tmp_path: Path, log: Recorder) -> None:
    result = await run_step(_step(), AnkraInvocation(_where_am_i(tmp_path), None, None),
                            SandboxLimits(timeout_seconds=30), Redactor())
    assert result.outcome == "ok", result
    seen = json.loads(result.stdout)
    assert not seen["sees_executor"] and seen["pid"] <= 3 and seen["home"] == SANDBOX_HOME
    assert log.warnings == []


async def test_by_default_without_bwrap_it_runs_unsandboxed_and_says_so_once(tmp_path: Path, log: Recorder,
                                                                             monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bwrap-here"))
    binary = _where_am_i(tmp_path)
    for _ in range(2):
        result = await run_step(_step(), AnkraInvocation(binary, None, None), SandboxLimits(timeout_seconds=30),
                                Redactor())
        assert result.outcome == "ok", result
        seen = json.loads(result.stdout)
        assert seen["sees_executor"] and seen["home"] != SANDBOX_HOME
    assert len(log.warnings) == 1, log.warnings
    event, fields = log.warnings[0]
    assert "without bubblewrap" in event and "not installed" in fields["reason"]
    assert "HERMES_EXEC_BWRAP=false" in fields["hint"]


async def test_by_default_a_bwrap_that_cannot_sandbox_is_probed_once_then_skipped(tmp_path: Path, log: Recorder,
                                                                                  monkeypatch) -> None:
    bin_dir, calls = _broken_bwrap(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
    binary = _where_am_i(tmp_path)
    for _ in range(3):
        result = await run_step(_step(), AnkraInvocation(binary, None, None), SandboxLimits(timeout_seconds=30),
                                Redactor())
        assert result.outcome == "ok", result
        assert json.loads(result.stdout)["sees_executor"]
    assert calls.read_text().splitlines() == ["--help", "--unshare-all"], "asked once: usage, then one probe"
    assert len(log.warnings) == 1
    assert "No permissions to create new namespace" in log.warnings[0][1]["reason"]


async def test_required_bubblewrap_that_cannot_sandbox_refuses_to_run(tmp_path: Path, log: Recorder,
                                                                      monkeypatch) -> None:
    bin_dir, _calls = _broken_bwrap(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
    ran = tmp_path / "ran"
    binary = tmp_path / "ankra"
    binary.write_text(f"#!{sys.executable}\nopen({str(ran)!r}, 'w').write('1')\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    result = await run_step(_step(), AnkraInvocation(str(binary), None, None),
                            SandboxLimits(timeout_seconds=30, bwrap=True), Redactor())
    assert result.outcome == "error"
    assert "HERMES_EXEC_BWRAP is on but" in (result.error or "") and "nothing was run" in (result.error or "")
    assert "No permissions to create new namespace" in (result.error or "")
    assert not ran.exists()
    assert log.warnings == []  # a refusal, not a fallback


async def test_bubblewrap_off_never_asks_bwrap(tmp_path: Path, log: Recorder, monkeypatch) -> None:
    bin_dir, calls = _broken_bwrap(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
    result = await run_step(_step(), AnkraInvocation(_where_am_i(tmp_path), None, None),
                            SandboxLimits(timeout_seconds=30, bwrap=False), Redactor())
    assert result.outcome == "ok", result
    assert not calls.exists() and log.warnings == []


def test_the_default_is_automatic() -> None:
    assert SandboxLimits().bwrap is None
