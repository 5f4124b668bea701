"""Shared helpers of the deploy tests: paths of the deploy artifacts and a NATS server started with
the project's own NATS configuration (deploy/nats/nats.conf or one rendered from the Ankra stack)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hermes import embedded

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NATS_CONF = DEPLOY / "nats" / "nats.conf"
CHART = DEPLOY / "helm" / "hermes"
STACK = DEPLOY / "ankra" / "hermes-stack.yaml"
COMPOSE = ROOT / "docker-compose.yml"

SERVICE_USERS = ("gateway", "planner", "guard", "executor", "admin")


@dataclass
class AuthNats:
    """A nats-server running a Hermes NATS configuration, with each user's password."""

    host: str
    port: int
    passwords: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, user: str | None = None) -> str:
        if user is None:
            return f"nats://{self.host}:{self.port}"
        return f"nats://{user}:{self.passwords[user]}@{self.host}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_auth_nats(config_file: Path, data_dir: Path) -> AuthNats:
    """Start nats-server with `config_file`; ports and store directory overridden on the command line
    (command-line flags win over the file), passwords given through the environment as in production."""
    data_dir.mkdir(parents=True, exist_ok=True)
    host = "127.0.0.1"
    port, monitor = embedded.free_port(host), embedded.free_port(host)
    passwords = {user: secrets.token_hex(16) for user in SERVICE_USERS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERMES_NATS_")}
    env.update({f"HERMES_NATS_{user.upper()}_PASSWORD": pw for user, pw in passwords.items()})
    log = data_dir / "nats-server.log"
    cmd = [embedded.find_nats_server(), "-c", str(config_file), "-a", host, "-p", str(port),
           "-m", str(monitor), "-sd", str(data_dir / "jetstream"), "-l", str(log)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise AssertionError(f"nats-server refused {config_file}: exit {proc.returncode}\n{err}\n{tail}")
        if embedded.port_is_open(host, port):
            return AuthNats(host, port, passwords, proc, log)
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("nats-server did not start within 20s")


@pytest.fixture
def project_nats(tmp_path: Path) -> Iterator[AuthNats]:
    """nats-server with deploy/nats/nats.conf (the compose configuration)."""
    server = start_auth_nats(NATS_CONF, tmp_path / "nats")
    try:
        yield server
    finally:
        server.stop()
