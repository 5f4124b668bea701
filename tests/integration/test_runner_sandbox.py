"""The executor's sandbox, proven with real child processes.

A small probe program stands in for `ankra` where the test needs to see what the child saw
(its environment, stdin, argv); the emulator is used where the behaviour of `ankra` matters.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hermes.contracts import OrderStep
from hermes.redaction import Redactor
from hermes_executor.runner import (
    RUN_MARKER,
    SANDBOX_HOME,
    AnkraInvocation,
    SandboxLimits,
    build_argv,
    run_step,
)

TOKEN = "ankra_" + "t0k3n" * 6


def bwrap_problem() -> str | None:
    """Why bubblewrap cannot be tested here, or None: it is installed and this machine lets it make the
    namespaces and mounts the runner's sandbox uses.

    Asked of bubblewrap directly, never through the runner's own command line: a runner that built a
    broken sandbox must fail these tests, not skip them."""
    binary = shutil.which("bwrap")
    if binary is None:
        return "bubblewrap is not installed (.ci/run installs it where it can)"
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    argv = [binary, "--unshare-all", "--share-net", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--ro-bind", "/", "/", "--tmpfs", "/tmp", true]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if run.returncode != 0:
        return f"bubblewrap cannot create its namespaces here: {run.stderr.strip() or run.returncode}"
    return None


BWRAP_PROBLEM = bwrap_problem()
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=BWRAP_PROBLEM or "")
# Both ways a step can run: without bubblewrap, and inside it.
MODES = [pytest.param(False, id="plain"), pytest.param(True, id="bwrap", marks=needs_bwrap)]


def _probe(tmp_path: Path, body: str) -> str:
    """An executable Python program at tmp_path/ankra-probe running `body`."""
    path = tmp_path / "ankra-probe"
    path.write_text(f"#!{sys.executable}\nimport sys, os, json, time\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _step(argv: list[str], command: str, risk: str = "read", confirmed: bool = False) -> OrderStep:
    return OrderStep(step_id="s1", argv=argv, command=command, risk=risk, confirmed=confirmed)


@pytest.mark.parametrize("bwrap", MODES)
async def test_child_sees_only_path_home_and_ankra_variables(tmp_path: Path, monkeypatch, bwrap: bool) -> None:
    monkeypatch.setenv("HERMES_SIGNING_KEY", "must-not-leak-signing-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-leak-aws")
    binary = _probe(tmp_path, """
        # /proc/self/environ is what execve passed, before the interpreter coerces the locale
        raw = open("/proc/self/environ", "rb").read().split(bytes(1))
        env = dict(item.decode().split("=", 1) for item in raw if item)
        print(json.dumps({"env": env, "argv": sys.argv[1:], "stdin": sys.stdin.read(),
                          "cwd": os.getcwd(), "pwd_is_cwd": env.get("PWD") == os.getcwd()}))
    """)
    result = await run_step(_step(["cluster", "list"], "cluster list"),
                            AnkraInvocation(binary, TOKEN, "https://platform.ankra.app"),
                            SandboxLimits(timeout_seconds=20, bwrap=bwrap), Redactor())
    assert result.outcome == "ok", result
    seen = json.loads(result.stdout.replace("[REDACTED:ankra-token]", "REDACTED"))
    if bwrap:  # bubblewrap itself sets PWD: the directory it starts the command in, the run's
        assert seen["pwd_is_cwd"] and seen["env"].pop("PWD")
    assert set(seen["env"]) == {"PATH", "HOME", "ANKRA_API_TOKEN", "ANKRA_BASE_URL", RUN_MARKER}
    assert re.fullmatch(r"[0-9a-f]{32}", seen["env"][RUN_MARKER])  # a random run id, naming nothing
    assert seen["stdin"] == ""  # closed: a prompt reads EOF instead of waiting
    assert "hermes-run-" in seen["cwd"]
    if bwrap:  # HOME is an empty tmpfs of its own, not the run directory
        assert seen["env"]["HOME"] == SANDBOX_HOME != seen["cwd"]
    else:
        assert seen["env"]["HOME"] == seen["cwd"]
    assert not Path(seen["cwd"]).exists(), "the per-run HOME is removed afterwards"
    # -o json added for a command that has it, --config points into the per-run HOME
    assert seen["argv"][:4] == ["cluster", "list", "-o", "json"]
    assert seen["argv"][4] == "--config" and seen["argv"][5].startswith(seen["cwd"])


async def test_token_printed_by_the_child_is_redacted_from_the_result(tmp_path: Path) -> None:
    binary = _probe(tmp_path, """
        print("token is " + os.environ["ANKRA_API_TOKEN"])
        print("Error: leaked " + os.environ["ANKRA_API_TOKEN"], file=sys.stderr)
        sys.exit(1)
    """)
    redactor = Redactor([TOKEN])
    result = await run_step(_step(["cluster", "reconcile", "x"], "cluster reconcile", "write"),
                            AnkraInvocation(binary, TOKEN, None), SandboxLimits(timeout_seconds=20), redactor)
    assert result.outcome == "failed" and result.exit_code == 1
    blob = result.model_dump_json()
    assert TOKEN not in blob
    assert "[REDACTED:" in result.stdout and "[REDACTED:" in result.stderr


async def test_hanging_command_is_killed_with_its_whole_process_group(tmp_path: Path) -> None:
    # Without bubblewrap (the sandboxed path, and `setsid` descendants: test_sandbox_descendants.py).
    marker = tmp_path / "grandchild.pid"
    binary = _probe(tmp_path, f"""
        import subprocess
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(marker)!r}, "w").write(str(child.pid))
        time.sleep(60)
    """)
    started = time.monotonic()
    result = await run_step(_step(["cluster", "list"], "cluster list"), AnkraInvocation(binary, TOKEN, None),
                            SandboxLimits(timeout_seconds=1.5, bwrap=False), Redactor())
    assert result.outcome == "timeout"
    assert "killed" in (result.error or "")
    assert time.monotonic() - started < 15
    grandchild = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        try:  # reap if it was re-parented to us
            os.waitpid(grandchild, os.WNOHANG)
        except ChildProcessError:
            pass
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the grandchild survived the timeout")


async def test_huge_output_is_capped_and_marked_truncated(tmp_path: Path) -> None:
    binary = _probe(tmp_path, """
        for _ in range(20000):
            sys.stdout.write("x" * 99 + "\\n")
    """)
    result = await run_step(_step(["cluster", "get", "x"], "cluster get"), AnkraInvocation(binary, TOKEN, None),
                            SandboxLimits(timeout_seconds=20, output_cap_bytes=4096), Redactor())
    assert result.outcome == "ok"
    assert result.truncated is True
    assert len(result.stdout.encode()) <= 4096
    assert result.data is None  # cut JSON is never parsed


async def test_missing_ankra_binary_gives_a_clear_error(tmp_path: Path) -> None:
    result = await run_step(_step(["cluster", "list"], "cluster list"),
                            AnkraInvocation(str(tmp_path / "no-such-ankra"), TOKEN, None),
                            SandboxLimits(timeout_seconds=5), Redactor())
    assert result.outcome == "error"
    assert "not found" in (result.error or "") and "HERMES_ANKRA_BIN" in (result.error or "")


def test_yes_is_added_only_to_confirmed_prompting_steps() -> None:
    unconfirmed = build_argv("ankra", _step(["cluster", "stacks", "delete", "app"], "cluster stacks delete",
                                            "destructive"), "/h/c.yaml")
    confirmed = build_argv("ankra", _step(["cluster", "stacks", "delete", "app"], "cluster stacks delete",
                                          "destructive", confirmed=True), "/h/c.yaml")
    read_confirmed = build_argv("ankra", _step(["cluster", "list"], "cluster list", confirmed=True), "/h/c.yaml")
    assert "--yes" not in unconfirmed
    assert "--yes" in confirmed
    assert "--yes" not in read_confirmed


async def test_command_outside_the_catalog_is_refused_before_anything_runs(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    binary = _probe(tmp_path, f"open({str(ran)!r}, 'w').write('1')")
    result = await run_step(_step(["cluster", "list;", "rm"], "cluster list"), AnkraInvocation(binary, TOKEN, None),
                            SandboxLimits(timeout_seconds=5), Redactor())
    assert result.outcome == "refused"
    assert not ran.exists()


async def test_emulator_prompt_with_closed_stdin_cancels(emulator_state) -> None:
    state, token, wrapper = emulator_state
    # the emulator's state is declared writable, as `hermes up` does: inside bubblewrap nothing else is
    limits = SandboxLimits(timeout_seconds=30, bwrap_writable=(str(state),))
    result = await run_step(_step(["cluster", "stacks", "delete", "monitoring", "--cluster", "production"],
                                  "cluster stacks delete", "destructive"),
                            AnkraInvocation(str(wrapper), token, None), limits, Redactor([token]))
    assert result.outcome == "failed"
    assert result.exit_code == 4, result


@needs_bwrap
async def test_bubblewrap_keeps_the_root_read_only_and_home_writable(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    binary = _probe(tmp_path, f"""
        import os
        open(os.path.join(os.environ["HOME"], "ok.txt"), "w").write("1")
        try:
            open({str(outside)!r}, "w").write("escaped")
            print("wrote outside")
        except OSError as err:
            print("refused:", err.errno)
        print("pid", os.getpid())
    """)
    result = await run_step(_step(["cluster", "get", "x"], "cluster get"), AnkraInvocation(binary, TOKEN, None),
                            SandboxLimits(timeout_seconds=20, bwrap=True), Redactor())
    assert result.outcome == "ok", result
    assert "refused:" in result.stdout and not outside.exists()
    assert "pid 2" in result.stdout or "pid 1" in result.stdout, "its own pid namespace"


@needs_bwrap
async def test_bubblewrap_runs_the_emulator_with_its_state_writable(emulator_state) -> None:
    state, token, wrapper = emulator_state
    limits = SandboxLimits(timeout_seconds=30, bwrap=True, bwrap_writable=(str(state),))
    result = await run_step(_step(["cluster", "list"], "cluster list"), AnkraInvocation(str(wrapper), token, None),
                            limits, Redactor([token]))
    assert result.outcome == "ok", result
    assert {c["name"] for c in result.data} >= {"staging-cluster", "production"}


async def test_bubblewrap_enabled_but_missing_refuses_to_run(tmp_path: Path, monkeypatch) -> None:
    ran = tmp_path / "ran"
    binary = _probe(tmp_path, f"open({str(ran)!r}, 'w').write('1')")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))
    result = await run_step(_step(["cluster", "list"], "cluster list"), AnkraInvocation(binary, TOKEN, None),
                            SandboxLimits(timeout_seconds=5, bwrap=True), Redactor())
    assert result.outcome == "error" and "bwrap" in (result.error or "")
    assert not ran.exists()
