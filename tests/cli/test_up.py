"""`hermes up` refusals that must happen before anything starts."""

from __future__ import annotations

import io
import json
import shlex
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock
from hermes import embedded
from hermes_cli import paths
from hermes_cli.main import app
from hermes_cli.up import AnkraSetup, Supervisor, UpError, real_ankra
from rich.console import Console
from typer.testing import CliRunner

from .conftest import TOKEN, FakeGateway

runner = CliRunner()


@pytest.fixture
def other_process() -> Iterator[int]:
    """A live process that is not this one, standing in for a running `hermes up`."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _running_instance_files(state: Path, pid: int) -> dict:
    info = {"pid": pid, "url": "http://127.0.0.1:8789", "processes": {}}
    state.mkdir(parents=True, exist_ok=True)
    (state / "up.json").write_text(json.dumps(info))
    return info


def test_a_second_hermes_up_on_a_locked_state_dir_refuses_and_exits_1(clean_env: Path, other_process: int) -> None:
    _running_instance_files(clean_env, other_process)
    lock = FileLock(str(clean_env / "up.lock"))
    with lock.acquire(timeout=0):
        result = runner.invoke(app, ["up", "--state-dir", str(clean_env), "--port", str(embedded.free_port())])
    assert result.exit_code == 1, result.output
    assert "already running" in result.output
    assert f"pid {other_process}" in result.output and "http://127.0.0.1:8789" in result.output
    assert not (clean_env / "nats").exists() and not (clean_env / "api-token").exists(), "nothing was started"
    assert (clean_env / "up.json").exists(), "the running instance's up.json is left alone"


def test_a_live_pid_in_up_json_refuses_even_without_the_lock(clean_env: Path, other_process: int) -> None:
    # e.g. on a file system where locks do not hold: the pid check still catches it
    _running_instance_files(clean_env, other_process)
    result = runner.invoke(app, ["up", "--state-dir", str(clean_env), "--port", str(embedded.free_port())])
    assert result.exit_code == 1, result.output
    assert "already running" in result.output and "up.json" in result.output
    assert not (clean_env / "nats").exists()


def test_a_taken_gateway_port_is_named_with_the_port_option(clean_env: Path) -> None:
    # A stale up.json (its process is gone) must not block, and is cleaned up.
    clean_env.mkdir(parents=True)
    (clean_env / "up.json").write_text(json.dumps({"pid": 2**22 + 12345, "url": "http://127.0.0.1:1"}))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["up", "--state-dir", str(clean_env), "--port", str(port)])
    assert result.exit_code == 1, result.output
    assert f"port {port}" in result.output and "already in use" in result.output
    assert "--port" in result.output
    assert not (clean_env / "up.json").exists()
    assert not (clean_env / "nats").exists(), "nothing was started"


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = paths.ensure_secret(tmp_path / "api-token")
    assert len(first) >= 32
    assert paths.ensure_secret(tmp_path / "api-token") == first
    assert stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600


def test_real_ankra_needs_both_a_binary_and_a_token(tmp_path: Path) -> None:
    fake = tmp_path / "ankra"
    fake.write_text("#!/bin/sh\necho 'ankra version v0.13.2'\n")
    fake.chmod(0o755)
    emulator = tmp_path / "emu" / "ankra"
    emulator.parent.mkdir()
    emulator.write_text("#!/bin/sh\necho 'ankra version v0.13.2 (emulator)'\n")
    emulator.chmod(0o755)

    assert real_ankra({"HERMES_ANKRA_BIN": str(fake), "PATH": ""}) is None, "no token: emulate"
    chosen = real_ankra({"HERMES_ANKRA_BIN": str(fake), "ANKRA_API_TOKEN": "t", "PATH": ""})
    assert chosen is not None and chosen.bin == str(fake) and not chosen.emulated
    with pytest.raises(UpError, match="HERMES_ANKRA_BIN"):
        real_ankra({"HERMES_ANKRA_BIN": str(tmp_path / "missing"), "ANKRA_API_TOKEN": "t"})


def test_an_ankra_on_path_counts_as_real_only_when_it_is_not_the_emulator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, version in (("real", "ankra version v0.13.2"), ("emu", "ankra 0.13.2+emulator")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ankra").write_text(f"#!/bin/sh\necho '{version}'\n")
        (tmp_path / name / "ankra").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "real"))
    chosen = real_ankra({"ANKRA_API_TOKEN": "t"})
    assert chosen is not None and chosen.bin == str(tmp_path / "real" / "ankra")
    monkeypatch.setenv("PATH", str(tmp_path / "emu"))
    assert real_ankra({"ANKRA_API_TOKEN": "t"}) is None


def test_run_refuses_an_unknown_service_listing_the_four() -> None:
    result = runner.invoke(app, ["run", "scheduler"])
    assert result.exit_code == 2
    assert "unknown service 'scheduler'" in result.output
    for name in ("gateway", "planner", "guard", "executor"):
        assert name in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("hermes ")
    assert sys.executable  # the CLI runs in this interpreter


# -- the ready message names the command that reaches this instance ------------------------------------


def _ready_text(state: Path, port: int) -> str:
    out = io.StringIO()
    supervisor = Supervisor(state_dir=state, port=port, console=Console(file=out, width=80, color_system=None))
    supervisor._print_ready(AnkraSetup(True, "ankra", "t", "EMULATED"))
    return out.getvalue()


def _chat_hint(text: str) -> list[str]:
    """The argv of the `hermes chat …` the ready message tells a person to run (one line, copy-pasteable)."""
    [line] = [line for line in text.splitlines() if "Talk to Hermes:" in line]
    command = line.split("Talk to Hermes:", 1)[1].split("(Ctrl-C", 1)[0].strip()
    return shlex.split(command)


def test_ready_names_a_state_dir_that_is_not_the_default_and_the_command_works(
        fake_gateway: FakeGateway, clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "elsewhere"
    state.mkdir()
    port = int(fake_gateway.url.rsplit(":", 1)[1])  # a --port other than 8789, as `hermes up --port` gives
    (state / "up.json").write_text(json.dumps({"pid": 1, "url": fake_gateway.url}))
    (state / "api-token").write_text(TOKEN + "\n")
    argv = _chat_hint(_ready_text(state, port))
    assert argv[:2] == ["hermes", "chat"] and argv[2:4] == ["--state-dir", str(state)], argv
    assert "approve, reject, whoami, audit and users take the same --state-dir" in _ready_text(state, port)

    # Run as printed, from a shell that knows nothing of that state dir: it reaches this instance.
    monkeypatch.delenv("HERMES_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "default-home"))
    result = runner.invoke(app, argv[1:])
    assert result.exit_code == 0, result.output
    assert "staging-cluster" in result.output
    assert [path for _, path, _ in fake_gateway.requests] == ["/v1/messages"]


def test_ready_in_the_default_state_dir_names_no_state_dir(clean_env: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERMES_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    text = _ready_text(tmp_path / "xdg" / "hermes", 8790)
    assert _chat_hint(text) == ["hermes", "chat", "List my Ankra clusters"]
    assert "take the same" not in text


def test_ready_names_the_url_when_hermes_url_points_elsewhere(clean_env: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERMES_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HERMES_URL", "http://127.0.0.1:8789")
    argv = _chat_hint(_ready_text(tmp_path / "xdg" / "hermes", 8790))
    assert argv == ["hermes", "chat", "--url", "http://127.0.0.1:8790", "List my Ankra clusters"]
