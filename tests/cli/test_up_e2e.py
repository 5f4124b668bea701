"""`hermes up` for real: NATS, Redis, the emulator and the four services as processes; then
`hermes chat` as a person would use it; then Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hermes import embedded
from hermes_cli import paths

from tests.waiting import until

pytestmark = pytest.mark.e2e

# The installed console script, as a person runs it (fallback: the module, same code).
_SCRIPT = Path(sys.executable).parent / "hermes"
HERMES = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "hermes_cli.main"]


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "ANKRA_"))}
    env.update({"HERMES_STATE_DIR": str(state), "COLUMNS": "160", "PYTHONUNBUFFERED": "1"})
    return env


class Output:
    """Lines of a process's output, read in a thread so that the test can wait for one."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False
            if line is None:
                return False
            self.lines.append(line)
            if needle in line:
                return True
        return False

    def rest(self, timeout: float = 10) -> str:
        self._thread.join(timeout)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)


@pytest.fixture
def hermes_up(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, Path, int]]:
    state = tmp_path / "state"
    port = embedded.free_port()
    proc = subprocess.Popen([*HERMES, "up", "--state-dir", str(state), "--port", str(port)], env=_env(state),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(proc)
    try:
        yield proc, output, state, port
    finally:
        if proc.poll() is None:  # the test failed before stopping it: do it, and then kill
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _chat(state: Path, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HERMES, "chat", "--timeout", "60", text], env=_env(state), capture_output=True,
                          text=True, timeout=90, check=False)


def test_hermes_up_then_chat_then_ctrl_c(hermes_up) -> None:
    proc, output, state, port = hermes_up
    if not output.wait_for("Ready.", timeout=120):
        pytest.fail(f"hermes up did not get ready:\n{output.rest(1)}\n{_logs(state)}")
    assert "EMULATED" in "".join(output.lines)
    info = paths.read_up_info(state)
    assert info is not None and info["url"] == f"http://127.0.0.1:{port}" and info["pid"] == proc.pid
    pids = {name: p["pid"] for name, p in info["processes"].items()}
    assert set(pids) == {"nats-server", "redis-server", "gateway", "planner", "guard", "executor"}
    assert info["ports"]["nats"] != 4222 and info["ports"]["redis"] != 6379

    # The command the ready message names works as printed, from a shell that knows nothing of the state
    # dir (no HERMES_STATE_DIR; the default state dir is elsewhere): here, `--state-dir` and, through its
    # up.json, the gateway on this --port.
    [ready] = [line for line in output.lines if "Talk to Hermes:" in line]
    argv = shlex.split(ready.split("Talk to Hermes:", 1)[1].split("(Ctrl-C", 1)[0])
    assert argv[:4] == ["hermes", "chat", "--state-dir", str(state)], ready
    bare = {k: v for k, v in _env(state).items() if k != "HERMES_STATE_DIR"}
    bare["XDG_STATE_HOME"] = str(state.parent / "elsewhere")
    listed = subprocess.run([*HERMES, *argv[1:-1], "--timeout", "60", argv[-1]], env=bare, capture_output=True,
                            text=True, timeout=90, check=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr + _logs(state)
    assert "staging-cluster" in listed.stdout and "production" in listed.stdout, listed.stdout

    reconciled = _chat(state, "Reconcile the production cluster")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr + _logs(state)
    assert "reconciliation" in reconciled.stdout.lower(), reconciled.stdout

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, output.rest()
    assert "Stopped." in output.rest()
    alive = [name for name, pid in pids.items() if paths.pid_alive(pid)]
    assert not alive, f"still running after hermes up exited: {alive}"
    assert not (state / "up.json").exists()


def _logs(state: Path) -> str:
    out = []
    for log in sorted((state / "logs").glob("*.log")):
        out.append(f"--- {log.name} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]))
    return "\n".join(out)


def _status(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HERMES, "status", "--json"], env=_env(state), capture_output=True, text=True,
                          timeout=60, check=False)


def _ready_or_fail(output: Output, state: Path) -> None:
    if not output.wait_for("Ready.", timeout=120):
        pytest.fail(f"hermes up did not get ready:\n{output.rest(1)}\n{_logs(state)}")


async def test_a_killed_service_is_restarted_and_the_stack_still_answers(hermes_up) -> None:
    proc, output, state, _port = hermes_up
    _ready_or_fail(output, state)
    info = paths.read_up_info(state)
    assert info is not None
    before = {name: p["pid"] for name, p in info["processes"].items()}
    for name in ("planner", "executor"):
        os.kill(before[name], signal.SIGKILL)
        assert output.wait_for(f"{name} restarted", timeout=60), output.rest(1)
    text = "".join(output.lines)
    assert "planner was killed by SIGKILL; restarting it in 1s (restart 1)" in text
    assert str(state / "logs" / "planner.log") in text.replace("\n", "")
    assert proc.poll() is None, "the stack keeps running"

    info = paths.read_up_info(state)
    assert info is not None
    for name in ("planner", "executor"):
        entry = info["processes"][name]
        assert entry["pid"] != before[name] and paths.pid_alive(entry["pid"])
        assert entry["restarts"] == 1 and entry["state"] == "running" and entry["last_exit"] == -9
    assert all(info["processes"][n]["pid"] == before[n] for n in ("gateway", "guard", "nats-server", "redis-server"))
    status = _status(state)
    assert status.returncode == 0, status.stdout + status.stderr
    shown = json.loads(status.stdout)
    assert shown["healthy"] and shown["processes"]["planner"]["restarts"] == 1

    # The restarted planner and executor do their work: a command runs end to end.
    for name in ("planner", "executor"):
        log = state / "logs" / f"{name}.log"
        await until(lambda log=log: log.read_text(errors="replace").count("service started") >= 2, 60,
                    f"the restarted {name} started")
    listed = _chat(state, "List my Ankra clusters")
    assert listed.returncode == 0, listed.stdout + listed.stderr + _logs(state)
    assert "production" in listed.stdout, listed.stdout

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, output.rest()
    info_pids = [p["pid"] for p in info["processes"].values()]
    assert not [pid for pid in info_pids if paths.pid_alive(pid)], "still running after hermes up exited"
    assert not (state / "up.json").exists() and not (state / "up.pids").exists()


async def test_kill_9_of_hermes_up_takes_every_child_with_it_and_one_up_per_state_dir(hermes_up, tmp_path) -> None:
    proc, output, state, port = hermes_up
    _ready_or_fail(output, state)
    info = paths.read_up_info(state)
    assert info is not None
    pids = {name: p["pid"] for name, p in info["processes"].items()}

    # A second `hermes up` on the same state dir, even on another port, is refused while the first runs.
    second = subprocess.run([*HERMES, "up", "--state-dir", str(state), "--port", str(embedded.free_port())],
                            env=_env(state), capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 1 and "already running" in second.stdout, second.stdout + second.stderr
    assert paths.read_up_info(state)["pid"] == proc.pid

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    await until(lambda: not [n for n, pid in pids.items() if paths.pid_alive(pid)], 30,
                "every child of the killed hermes up gone")
    status = _status(state)
    assert status.returncode == 1 and json.loads(status.stdout)["running"] is False

    # Nothing is left to block the next one, which starts on the same data.
    again = subprocess.Popen([*HERMES, "up", "--state-dir", str(state), "--port", str(port)], env=_env(state),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    again_output = Output(again)
    try:
        _ready_or_fail(again_output, state)
        listed = _chat(state, "List my Ankra clusters")
        assert listed.returncode == 0 and "production" in listed.stdout, listed.stdout + listed.stderr
    finally:
        again.send_signal(signal.SIGINT)
        assert again.wait(timeout=60) == 0, again_output.rest()
