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
from hermes import embedded, permissions

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NATS_CONF = DEPLOY / "nats" / "nats.conf"
CHART = DEPLOY / "helm" / "hermes"
STACK = DEPLOY / "ankra" / "hermes-stack.yaml"
COMPOSE = ROOT / "docker-compose.yml"

SERVICE_USERS = permissions.NATS_USERS  # every user of the generated configuration


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


def start_auth_nats(config_file: Path, data_dir: Path, attempts: int = 3) -> AuthNats:
    """Start nats-server with `config_file`; ports and store directory overridden on the command line
    (command-line flags win over the file), passwords given through the environment as in production.

    Ready means: this process logged that it listens on its port (an open port alone could be another
    process's that took the free port first); a port taken meanwhile is retried with new ports."""
    data_dir.mkdir(parents=True, exist_ok=True)
    host = "127.0.0.1"
    passwords = {user: secrets.token_hex(16) for user in SERVICE_USERS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERMES_NATS_")}
    env.update({f"HERMES_NATS_{user.upper()}_PASSWORD": pw for user, pw in passwords.items()})
    log = data_dir / "nats-server.log"
    for attempt in range(attempts):
        port, monitor = embedded.free_port(host), embedded.free_port(host)
        log.unlink(missing_ok=True)
        cmd = [embedded.find_nats_server(), "-c", str(config_file), "-a", host, "-p", str(port),
               "-m", str(monitor), "-sd", str(data_dir / "jetstream"), "-l", str(log)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        ready = f"Listening for client connections on {host}:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                if "address already in use" in (err + text) and attempt + 1 < attempts:
                    break
                raise AssertionError(f"nats-server refused {config_file}: exit {proc.returncode}\n{err}\n"
                                     f"{text[-3000:]}")
            if ready in text and embedded.port_is_open(host, port):
                return AuthNats(host, port, passwords, proc, log)
            time.sleep(0.05)
        else:
            proc.kill()
            raise AssertionError("nats-server did not start within 20s")
    raise AssertionError("nats-server found no free port")


@pytest.fixture
def project_nats(tmp_path: Path) -> Iterator[AuthNats]:
    """nats-server with deploy/nats/nats.conf (the compose configuration)."""
    server = start_auth_nats(NATS_CONF, tmp_path / "nats")
    try:
        yield server
    finally:
        server.stop()


@dataclass
class AclRedis:
    """A redis-server running the ACL of hermes.permissions.redis_acl (default user off)."""

    server: embedded.ServerProcess
    major: int
    passwords: dict[str, str]

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, user: str) -> str:
        return f"redis://{user}:{self.passwords[user]}@{self.host}:{self.port}/0"

    def stop(self) -> None:
        self.server.stop()


def start_acl_redis(data_dir: Path, prefix: str, binary: str | None = None) -> AclRedis:
    """redis-server (Redis 7 from PATH by default) with an ACL file for `prefix`, mode 0600."""
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = binary or embedded.find_redis_server()
    major = permissions.redis_server_major(binary)
    passwords = {user: secrets.token_hex(16) for user in permissions.REDIS_USERS}
    aclfile = permissions.write_aclfile(data_dir / "users.acl",
                                        permissions.redis_acl(prefix, passwords, redis_major=major))
    server = embedded.start_redis(data_dir, appendonly=False, aclfile=aclfile, binary=binary)
    return AclRedis(server, major, passwords)


# -- the deployment's secrets (tools/deploy_secrets.py) ---------------------------------------------

TOOLS = ROOT / "tools"
DEPLOY_SECRETS = TOOLS / "deploy_secrets.py"


def deploy_secrets_module():  # the tool's module, loaded from its file
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_secrets", DEPLOY_SECRETS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_deploy_secrets(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """tools/deploy_secrets.py as an operator runs it (files owned by whoever runs the tests)."""
    import sys

    owner = f"{os.getuid()}:{os.getgid()}"
    return subprocess.run([sys.executable, str(DEPLOY_SECRETS), *args, "--owner", owner], input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """A secrets folder made by tools/deploy_secrets.py."""
    target = tmp_path / "secrets"
    proc = run_deploy_secrets(str(target))
    assert proc.returncode == 0, proc.stderr
    return target


@dataclass
class FileRedis:
    """redis-server started with a given ACL file."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_redis_with_aclfile(aclfile: Path, data_dir: Path, argv: list[str] | None = None) -> FileRedis:
    """redis-server (Redis 7) with `aclfile` on a free loopback port; `argv` replaces the command (a start
    script's own), to which the port, address and log arguments are appended."""
    data_dir.mkdir(parents=True, exist_ok=True)
    host, port = "127.0.0.1", embedded.free_port()
    log = data_dir / "redis-server.log"
    cmd = (argv or [embedded.find_redis_server(), "--aclfile", str(aclfile), "--save", "", "--appendonly", "no"])
    cmd = [*cmd, "--bind", host, "--port", str(port), "--dir", str(data_dir), "--logfile", str(log),
           "--daemonize", "no"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 20
    while not (log.exists() and "Ready to accept connections" in log.read_text(errors="replace")
               and embedded.port_is_open(host, port)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            text = log.read_text(errors="replace") if log.exists() else ""
            raise AssertionError(f"redis-server did not start with {aclfile}:\n{err}\n{text}")
        time.sleep(0.05)
    return FileRedis(host, port, proc, log)
