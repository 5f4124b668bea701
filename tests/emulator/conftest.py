"""Fixtures for the Ankra CLI emulator tests: a fresh state dir, a token, and a runner.

Every command runs as a real subprocess through the `ankra` wrapper that
`ankra_emulator.write_wrapper` writes, with the executor's scrubbed environment (PATH, HOME,
ANKRA_API_TOKEN) and stdin closed.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import ankra_emulator
import pytest


@dataclass
class Emu:
    """A fresh emulator: its state dir, token, wrapper, and a HOME of its own."""

    state: Path
    token: str
    wrapper: Path
    home: Path

    def env(self, **extra: str | None) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "ANKRA_API_TOKEN": self.token,
        }
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(
        self, *args: str, stdin: str | None = None, timeout: float = 30, **env: str | None
    ) -> subprocess.CompletedProcess[str]:
        """Run `ankra <args>`; stdin is closed unless text is given."""
        return subprocess.run(
            [str(self.wrapper), *args],
            check=False,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=timeout,
            cwd=self.home,
        )

    def json(self, *args: str) -> object:
        """Run a command with `-o json` and parse its stdout (asserting exit 0)."""
        result = self.run(*args, "-o", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def calls(self) -> list[dict]:
        return ankra_emulator.read_calls(self.state)

    def write_faults(self, **faults: object) -> None:
        (self.state / "faults.json").write_text(json.dumps(faults))


@pytest.fixture
def emu(tmp_path: Path) -> Emu:
    token = "ankra_" + uuid.uuid4().hex + uuid.uuid4().hex[:16]
    state = tmp_path / "state"
    ankra_emulator.init_state(state, token)
    wrapper = ankra_emulator.write_wrapper(tmp_path / "bin", state)
    home = tmp_path / "home"
    home.mkdir()
    return Emu(state=state, token=token, wrapper=wrapper, home=home)


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write a YAML document to a file and return its path."""

    def _write(text: str, name: str = "cluster.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return _write
