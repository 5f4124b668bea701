"""Nothing a step starts outlives it: a `setsid` grandchild, one that keeps stdout open, a double-forked
daemon that drops its environment, its descriptors and its session - on timeout, on exit and on
cancellation, with and without bubblewrap.

Every grandchild here is a `python -c` sleeper with a token of its own in its argv, so the test can find
it in the host's /proc whatever PID namespace it lives in, and it writes a file once it is up, so the
test knows it did start before asserting that it is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hermes.contracts import OrderStep
from hermes.redaction import Redactor
from hermes_executor.runner import AnkraInvocation, SandboxLimits, run_step

from .test_runner_sandbox import MODES

SLEEPER = "import sys, time; open(sys.argv[1], 'w').write('up'); time.sleep(300)"


def _step() -> OrderStep:
    return OrderStep(step_id="s1", argv=["cluster", "list"], command="cluster list", risk="read")


def _fake_ankra(tmp_path: Path, body: str) -> str:
    """An executable Python program standing in for `ankra`, in a directory of its own."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "ankra"
    path.write_text(f"#!{sys.executable}\nimport os, subprocess, sys, time\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _wait_for_file_in_child(path: Path) -> str:
    """Source for the fake: wait (with a deadline) until the grandchild says it is up."""
    return textwrap.dedent(f"""
        deadline = time.monotonic() + 30
        while not os.path.exists({str(path)!r}) and time.monotonic() < deadline:
            time.sleep(0.01)
    """)


def _alive(token: str) -> list[int]:
    """Live (not zombie) processes of this host whose argv carries `token`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in argv and state not in (b"Z", b"X"):
            found.append(int(entry))
    return found


async def _until_gone(token: str, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := _alive(token)) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if left:
        for pid in left:  # do not leave them behind for the rest of the suite
            os.kill(pid, signal.SIGKILL)
        pytest.fail(f"descendants of the step still alive {timeout}s after it ended: {left}")


async def _until_exists(path: Path, task: asyncio.Task, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if task.done():
            pytest.fail(f"the step ended before its grandchild was up: {task.result()}")
        if time.monotonic() > deadline:
            pytest.fail("the grandchild never came up")
        await asyncio.sleep(0.01)


def _setsid_grandchild(out: Path, token: str) -> str:
    """Source for the fake: start a `setsid` sleeper that inherits (and keeps) stdout and stderr."""
    return (f"subprocess.Popen(['setsid', sys.executable, '-c', {SLEEPER!r}, {str(out / 'up')!r}, {token!r}])\n"
            + _wait_for_file_in_child(out / "up"))


@pytest.fixture
def tokens() -> Iterator[Callable[[str], str]]:
    """Unique tokens for sleepers' argv; whatever still carries one is killed when the test ends."""
    made: list[str] = []

    def new(prefix: str) -> str:
        made.append(f"{prefix}-{uuid.uuid4().hex}")
        return made[-1]

    yield new
    for token in made:
        for pid in _alive(token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """Where the fake's grandchild reports; writable inside bubblewrap too."""
    path = tmp_path / "out"
    path.mkdir()
    return path


@pytest.mark.parametrize("bwrap", MODES)
async def test_timeout_kills_a_setsid_grandchild_that_keeps_stdout_open(tmp_path: Path, out: Path, tokens,
                                                                        bwrap: bool) -> None:
    token = tokens("sleeper")
    binary = _fake_ankra(tmp_path, _setsid_grandchild(out, token) + "print('hanging', flush=True)\ntime.sleep(300)\n")
    limits = SandboxLimits(timeout_seconds=4, bwrap=bwrap, bwrap_writable=(str(out),))
    started = time.monotonic()
    task = asyncio.create_task(run_step(_step(), AnkraInvocation(binary, None, None), limits, Redactor()))
    await _until_exists(out / "up", task)
    assert _alive(token), "the grandchild is running while the step hangs"
    result = await task
    took = time.monotonic() - started
    assert result.outcome == "timeout", result
    assert "no answer within 4s; the command was killed" in (result.error or "")
    assert took < 4 + 3, f"the step took {took:.1f}s: its open stdout held it past the timeout"
    await _until_gone(token)


@pytest.mark.parametrize("bwrap", MODES)
async def test_exit_is_not_held_by_a_grandchild_with_stdout_open_and_leaves_nothing(tmp_path: Path, out: Path,
                                                                                    tokens, bwrap: bool) -> None:
    token = tokens("sleeper")
    binary = _fake_ankra(tmp_path, _setsid_grandchild(out, token) + "print('done', flush=True)\n")
    limits = SandboxLimits(timeout_seconds=60, bwrap=bwrap, bwrap_writable=(str(out),))
    started = time.monotonic()
    result = await run_step(_step(), AnkraInvocation(binary, None, None), limits, Redactor())
    took = time.monotonic() - started
    assert result.outcome == "ok" and result.exit_code == 0, result
    assert result.stdout.strip() == "done"
    assert (out / "up").exists(), "the grandchild did start"
    assert took < 15, f"the step took {took:.1f}s though the command exited at once"
    await _until_gone(token)


@pytest.mark.parametrize("bwrap", MODES)
async def test_cancelling_a_running_step_leaves_nothing_behind(tmp_path: Path, out: Path, tokens,
                                                              bwrap: bool) -> None:
    token = tokens("sleeper")
    binary = _fake_ankra(tmp_path, _setsid_grandchild(out, token)
                         + f"open({str(out / 'cwd')!r}, 'w').write(os.getcwd())\ntime.sleep(300)\n")
    limits = SandboxLimits(timeout_seconds=120, bwrap=bwrap, bwrap_writable=(str(out),))
    task = asyncio.create_task(run_step(_step(), AnkraInvocation(binary, None, None), limits, Redactor()))
    await _until_exists(out / "cwd", task)
    assert _alive(token)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until_gone(token)
    assert not Path((out / "cwd").read_text()).exists(), "the run directory is removed"


@pytest.mark.parametrize("bwrap", MODES)
async def test_one_run_ending_kills_none_of_another_runs_processes(tmp_path: Path, out: Path, tokens,
                                                                   bwrap: bool) -> None:
    """Two steps at once (HERMES_EXEC_MAX_IN_FLIGHT > 1): the first one's end spares the second's."""
    first, second = tokens("first"), tokens("second")
    release = out / "release"
    quick = _fake_ankra(tmp_path / "a", _setsid_grandchild(out / "a", first) + "print('a')\n")
    slow = _fake_ankra(tmp_path / "b", _setsid_grandchild(out / "b", second)
                       + _wait_for_file_in_child(release) + "print('b')\n")
    (out / "a").mkdir()
    (out / "b").mkdir()
    limits = SandboxLimits(timeout_seconds=60, bwrap=bwrap, bwrap_writable=(str(out),))
    task_b = asyncio.create_task(run_step(_step(), AnkraInvocation(slow, None, None), limits, Redactor()))
    try:
        await _until_exists(out / "b" / "up", task_b)
        result_a = await run_step(_step(), AnkraInvocation(quick, None, None), limits, Redactor())
        assert result_a.outcome == "ok", result_a
        await _until_gone(first)
        assert _alive(second), "the other run's grandchild was killed by this run's end"
        assert not task_b.done()
        release.write_text("go")
        result_b = await task_b
        assert result_b.outcome == "ok" and result_b.stdout.strip() == "b", result_b
        await _until_gone(second)
    finally:
        if not task_b.done():
            task_b.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task_b


def test_unrelated_processes_survive_a_step(tmp_path: Path, out: Path, tokens) -> None:
    """The sweep kills the step's processes only: not a process that shares the executor's parent-ship,
    its session or its working directory, nor one that merely started during the step."""
    token = tokens("bystander")
    bystander = subprocess.Popen([sys.executable, "-c", SLEEPER, str(out / "bystander"), token])
    try:
        binary = _fake_ankra(tmp_path, "print('ok')\n")
        result = asyncio.run(run_step(_step(), AnkraInvocation(binary, None, None),
                                      SandboxLimits(timeout_seconds=30, bwrap=False), Redactor()))
        assert result.outcome == "ok"
        assert bystander.poll() is None and _alive(token)
    finally:
        bystander.kill()
        bystander.wait()


# -- the subreaper: an orphan that drops every trace ---------------------------------------------

# The fake `ankra` daemonises a sleeper the classic way and exits: fork, setsid, fork again, chdir /,
# stdio on /dev/null, every other descriptor closed, exec with an empty environment. Nothing ties the
# sleeper to the step any more but that the executor, a child subreaper, inherits it as an orphan.
DAEMONISE = """
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, 65536)
    os.execve(sys.executable, [sys.executable, "-c", SLEEPER, UP, TOKEN], {})
os.waitpid(pid, 0)
""" + textwrap.dedent("""
    deadline = time.monotonic() + 30
    while not os.path.exists(UP) and time.monotonic() < deadline:
        time.sleep(0.01)
    print("daemon up" if os.path.exists(UP) else "daemon never came up")
""")

# A stand-in executor: becomes a subreaper (as the executor does at start-up), runs one step, reports.
EXECUTOR = """
import asyncio, json, sys
from hermes.contracts import OrderStep
from hermes.redaction import Redactor
from hermes_executor.runner import AnkraInvocation, SandboxLimits, become_subreaper, run_step, _is_subreaper

became = become_subreaper()
binary, out, bwrap = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
step = OrderStep(step_id="s1", argv=["cluster", "list"], command="cluster list", risk="read")
limits = SandboxLimits(timeout_seconds=60, bwrap=bwrap, bwrap_writable=(out,))
result = asyncio.run(run_step(step, AnkraInvocation(binary, None, None), limits, Redactor()))
print(json.dumps({"became": became, "is": _is_subreaper(), "outcome": result.outcome,
                  "stdout": result.stdout}))
"""


@pytest.mark.parametrize("bwrap", MODES)
def test_a_daemon_that_drops_every_trace_is_killed_via_the_subreaper(tmp_path: Path, out: Path, tokens,
                                                                    bwrap: bool) -> None:
    token = tokens("daemon")
    up = out / "up"
    binary = _fake_ankra(tmp_path, f"SLEEPER, UP, TOKEN = {SLEEPER!r}, {str(up)!r}, {token!r}\n"
                         + DAEMONISE)
    run = subprocess.run([sys.executable, "-c", EXECUTOR, binary, str(out), "1" if bwrap else "0"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["became"] is True and report["is"] is True
    assert report["outcome"] == "ok" and report["stdout"].strip() == "daemon up", report
    assert up.exists()
    asyncio.run(_until_gone(token))


def test_become_subreaper_makes_this_process_inherit_orphans() -> None:
    run = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os, time
        from hermes_executor.runner import become_subreaper
        assert become_subreaper()
        me = os.getpid()
        r, w = os.pipe()
        child = os.fork()
        if child == 0:
            if os.fork() == 0:  # the grandchild: once its parent is gone, who is its parent now?
                deadline = time.monotonic() + 10
                while os.getppid() != me and time.monotonic() < deadline:
                    time.sleep(0.01)
                os.write(w, str(os.getppid()).encode())
                os._exit(0)
            os._exit(0)
        os.close(w)
        os.waitpid(child, 0)
        new_parent = int(os.read(r, 64))
        os.wait()  # the orphan is this process's to reap
        print(new_parent == me)
    """)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True"
