"""`hermes up` as a supervisor, without starting Hermes: state-dir problems are one clear line each,
processes left by an earlier `hermes up` block a second one, a dead child is restarted with backoff
(and given up on when it keeps dying), children die with their parent, and `hermes status` says so.
The real stack (kill -9 of a service, of `hermes up` itself) is in test_up_e2e.py."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hermes import embedded
from hermes_cli import up as up_mod
from hermes_cli.main import app
from hermes_cli.up import Child, Supervisor, UpError, _start_ticks
from rich.console import Console
from typer.testing import CliRunner

from tests.waiting import until

runner = CliRunner()
needs_non_root = pytest.mark.skipif(os.geteuid() == 0, reason="root may write and read anything")


def _up(state: Path) -> tuple[int, str]:
    """`hermes up` on `state` with a gateway port that is busy: it must stop before starting anything,
    by a state-dir check or, when those pass, at the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = runner.invoke(app, ["up", "--state-dir", str(state), "--port", str(busy.getsockname()[1])])
    return result.exit_code, result.output


def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, f"not one line:\n{output}"
    assert "Traceback" not in output
    return lines[0]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


# -- the state dir --------------------------------------------------------------------------------


def test_a_file_as_the_state_dir_is_one_line(clean_env: Path) -> None:
    clean_env.parent.mkdir(parents=True, exist_ok=True)
    clean_env.write_text("not a directory")
    code, output = _up(clean_env)
    line = _one_line(output)
    assert code == 1 and "is a file, not a directory" in line and "--state-dir" in line


def test_a_file_where_a_state_subdirectory_belongs_is_one_line(clean_env: Path) -> None:
    clean_env.mkdir(parents=True)
    (clean_env / "secrets").write_text("oops")
    code, output = _up(clean_env)
    line = _one_line(output)
    assert code == 1 and f"{clean_env / 'secrets'} is a file where Hermes keeps a directory" in line


@needs_non_root
def test_a_state_dir_that_is_not_writable_is_one_line(clean_env: Path) -> None:
    clean_env.mkdir(parents=True)
    clean_env.chmod(0o500)
    try:
        code, output = _up(clean_env)
    finally:
        clean_env.chmod(0o700)
    line = _one_line(output)
    assert code == 1 and "is not writable by this user" in line and f"chmod u+rwx {clean_env}" in line


@needs_non_root
def test_a_state_dir_that_cannot_be_created_is_one_line(tmp_path: Path, clean_env: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir(mode=0o500)
    try:
        code, output = _up(parent / "state")
    finally:
        parent.chmod(0o700)
    line = _one_line(output)
    assert code == 1 and "cannot create the state dir" in line and "Permission denied" in line


@pytest.mark.parametrize(("target", "mode", "fix"), [("secrets/nats-admin", 0o644, "chmod 600"),
                                                      ("secrets", 0o755, "chmod 700"),
                                                      ("api-token", 0o640, "chmod 600")])
def test_secrets_open_to_others_are_refused_with_the_chmod_that_fixes_them(
        clean_env: Path, target: str, mode: int, fix: str) -> None:
    (clean_env / "secrets").mkdir(parents=True, mode=0o700)
    for name in ("secrets/nats-admin", "api-token"):
        (clean_env / name).write_text("s3cret\n")
        (clean_env / name).chmod(0o600)
    (clean_env / target).chmod(mode)
    code, output = _up(clean_env)
    line = _one_line(output)
    assert code == 1 and f"{clean_env / target} is open to other users (mode {mode:04o})" in line
    assert f"{fix} {clean_env / target}" in line
    (clean_env / target).chmod(0o700 if target == "secrets" else 0o600)
    code, output = _up(clean_env)
    assert code == 1 and "already in use" in output, "with the modes fixed, the checks pass"


def test_a_lock_file_that_is_a_directory_is_one_line(clean_env: Path) -> None:
    (clean_env / "up.lock").mkdir(parents=True)
    code, output = _up(clean_env)
    line = _one_line(output)
    assert code == 1 and "up.lock is a directory" in line and "rmdir" in line


@needs_non_root
def test_a_lock_file_of_another_user_is_one_line(clean_env: Path) -> None:
    clean_env.mkdir(parents=True)
    (clean_env / "up.lock").write_text("")
    (clean_env / "up.lock").chmod(0o000)
    try:
        code, output = _up(clean_env)
    finally:
        (clean_env / "up.lock").chmod(0o600)
    line = _one_line(output)
    assert code == 1 and "cannot be opened by this user" in line and f"rm {clean_env / 'up.lock'}" in line


# -- processes of an earlier hermes up --------------------------------------------------------------


def test_live_processes_of_an_earlier_hermes_up_refuse_a_second(clean_env: Path,
                                                                sleeper: subprocess.Popen[bytes]) -> None:
    clean_env.mkdir(parents=True)
    # Its supervisor is gone (kill -9: no up.json pid alive), but a process it started still runs.
    (clean_env / "up.json").write_text(json.dumps({"pid": 2**22 + 4321, "url": "http://127.0.0.1:1"}))
    (clean_env / "up.pids").write_text(json.dumps({
        "nats-server": {"pid": sleeper.pid, "start": _start_ticks(sleeper.pid)},
        "redis-server": {"pid": 2**22 + 4322, "start": 1}}))
    code, output = _up(clean_env)
    line = _one_line(output)
    assert code == 1 and "processes of an earlier `hermes up`" in line
    assert f"nats-server pid {sleeper.pid}" in line and f"kill {sleeper.pid}" in line
    assert "redis-server" not in line, "a dead one is not named"
    assert not (clean_env / "nats").exists(), "nothing was started"

    status = runner.invoke(app, ["status", "--state-dir", str(clean_env)])
    assert status.exit_code == 1 and f"nats-server pid {sleeper.pid}" in status.output

    sleeper.kill()
    sleeper.wait()
    code, output = _up(clean_env)
    assert code == 1 and "already in use" in output, "once they are gone, nothing blocks"


def test_a_reused_pid_is_not_taken_for_a_leftover(clean_env: Path, sleeper: subprocess.Popen[bytes]) -> None:
    clean_env.mkdir(parents=True)
    start = _start_ticks(sleeper.pid)
    assert start is not None
    (clean_env / "up.pids").write_text(json.dumps({"gateway": {"pid": sleeper.pid, "start": start - 1}}))
    code, output = _up(clean_env)
    assert code == 1 and "already in use" in output and "earlier" not in output


def test_status_without_hermes_up_says_how_to_start_it(clean_env: Path) -> None:
    result = runner.invoke(app, ["status", "--state-dir", str(clean_env)])
    assert result.exit_code == 1
    assert f"Hermes is not running from {clean_env}" in result.output and "hermes up" in result.output


# -- restarts ---------------------------------------------------------------------------------------


class _Dying(Supervisor):
    """A supervisor whose "services" are small programs that exit at once with code 3."""

    def _spawn(self, name: str, env: dict[str, str]) -> Child:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log = self.logs_dir / f"{name}.log"
        log.write_text(f"{name} failing on purpose\n")
        proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
        self.spawned.append(proc)
        return Child(name, proc, log)


async def test_a_dead_child_is_restarted_with_backoff_then_given_up_on(tmp_path: Path) -> None:
    out = io.StringIO()
    supervisor = _Dying(state_dir=tmp_path, console=Console(file=out, width=200, color_system=None))
    supervisor.spawned = []
    supervisor._envs["planner"] = {}
    supervisor.children.append(supervisor._spawn("planner", {}))
    delays = []
    for restart in range(1, up_mod.MAX_QUICK_DEATHS):
        await until(lambda: supervisor.children[0].process.poll() is not None, 10, "the child exits")
        before = time.monotonic()
        supervisor._tend()
        assert "planner" in supervisor._due
        delays.append(round(supervisor._due["planner"] - before))
        assert f"planner exited with code 3; restarting it in {delays[-1]}s (restart {restart})" in out.getvalue()
        supervisor._due["planner"] = time.monotonic()  # the test does not wait the backoff out
        supervisor._tend()
        assert supervisor.restarts["planner"] == restart and "planner" not in supervisor._due
        assert f"planner restarted (pid {supervisor.children[0].process.pid})" in out.getvalue()
    assert delays == [1, 2, 4, 8]
    await until(lambda: supervisor.children[0].process.poll() is not None, 10, "the child exits")
    with pytest.raises(UpError, match=r"planner exited with code 3, the 5th time in a row within 30s .* giving up"):
        supervisor._tend()
    assert len(supervisor.spawned) == up_mod.MAX_QUICK_DEATHS
    assert json.loads((tmp_path / "up.pids").read_text())["planner"]["pid"] == supervisor.children[0].process.pid


async def test_a_child_dies_with_its_parent_even_on_kill_9(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time
        from hermes import embedded
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                 start_new_session=True, preexec_fn=embedded.die_with_parent(signal.SIGKILL))
        open({str(pid_file)!r} + ".tmp", "w").write(str(child.pid))
        os.replace({str(pid_file)!r} + ".tmp", {str(pid_file)!r})
        time.sleep(300)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        await until(pid_file.exists, 30, "the child started")
        child = int(pid_file.read_text())
        assert embedded.die_with_parent() is not None and _alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        await until(lambda: not _alive(child), 10, "the child's death with its parent")
    finally:
        parent.kill()
        parent.wait()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False
