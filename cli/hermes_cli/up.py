"""`hermes up`: everything on one machine, each part its own child process.

Starts NATS (JetStream) and Redis on free loopback ports, prepares the Ankra emulator unless
a real `ankra` and token are configured, then the four services; waits until the gateway
answers; supervises. Ctrl-C / SIGTERM stops everything (services first, then Redis and
NATS).

Supervision: a child that dies is restarted (NATS and Redis on their own ports and data) after a
backoff of 1, 2, 4 … up to 30 s, and says so here and in `hermes status`; a child that keeps dying
within seconds of its start (5 times in a row) stops everything with exit code 1 and its log. Every
child gets the parent-death signal (Linux), so none outlives a `hermes up` that is killed, even by
`kill -9`.

One `hermes up` per state dir: an exclusive lock on `<state>/up.lock`, the pid in `<state>/up.json`
(for file systems where locks do not hold) and the children's pids in `<state>/up.pids` (so that
processes of an earlier `hermes up` that are somehow still running are found) refuse a second one
clearly. Every problem with the state dir is one line saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from filelock import FileLock, Timeout
from hermes import permissions
from hermes.signing import ServiceKey
from hermes.stores.users import new_token
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hermes_cli import paths


class Vault:
    """The state dir's secrets folder: one 0600 file per secret in a 0700 folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)

    def path(self, name: str) -> Path:
        return self.root / name

    def password(self, name: str) -> str:
        """A generated secret, kept across runs."""
        return paths.ensure_secret(self.path(name), lambda: secrets.token_urlsafe(32))

    def secret(self, name: str, value: str) -> Path:
        """`value` written (0600) to `name`; its path."""
        return self.write(name, value + "\n")

    def write(self, name: str, content: str) -> Path:
        target = self.path(name)
        tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
        os.replace(tmp, target)
        return target

    def service_keys(self, services: tuple[str, ...]) -> dict[str, str]:
        """Each service's own Ed25519 key (made once); their public keys, also written for readers."""
        public = {}
        for name in services:
            text = paths.ensure_secret(self.path(f"{name}.key"), lambda n=name: ServiceKey.generate(n).private_text())
            public[name] = ServiceKey.from_text(name, text).public_text
        (self.root / paths.PUBLIC_KEYS).write_text(json.dumps(public, indent=2) + "\n")
        return public

SERVICES = ("gateway", "planner", "guard", "executor")
HOST = "127.0.0.1"
PREFIX = "hermes"  # the Redis key prefix of the services hermes up starts
LOCAL_ADMIN = "admin"
# Secrets a caller's environment may hold: never passed on as values (the service that needs one gets
# a file). Channel tokens are read by the gateway's config loader from files or the config instead.
SECRET_ENV = frozenset({
    "HERMES_API_TOKEN", "HERMES_SIGNING_KEY", "HERMES_SERVICE_KEY", "ANKRA_API_TOKEN", "HERMES_ANKRA_API_TOKEN",
    "ANTHROPIC_API_KEY", "HERMES_ANTHROPIC_API_KEY", "HERMES_NATS_PASSWORD", "HERMES_REDIS_PASSWORD",
    "OPENAI_API_KEY",
})
EXIT_OK = 0
EXIT_FAILED = 1
STOP_TIMEOUT = 15.0
UP_PIDS = "up.pids"  # the pids (and start times) of everything the running `hermes up` started
RESTART_FIRST_DELAY = 1.0  # seconds before the first restart of a child that died; doubled each time
RESTART_MAX_DELAY = 30.0
STABLE_SECONDS = 30.0  # a child that ran this long before dying starts its backoff afresh
MAX_QUICK_DEATHS = 5  # deaths in a row, each within STABLE_SECONDS of its start, before `hermes up` gives up
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class UpError(Exception):
    """`hermes up` cannot go on; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------
# Checks before starting anything


def port_available(port: int, host: str = HOST) -> bool:
    """Whether the gateway could listen on host:port: nothing answers and the bind works."""
    from hermes.embedded import port_is_open

    if port_is_open(host, port):
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # aiohttp binds with SO_REUSEADDR too, so a port in TIME_WAIT counts as free here as well.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def already_running_message(state_dir: Path, info: dict[str, Any] | None) -> str:
    where = ""
    if info:
        where = f" (pid {info.get('pid', '?')}, gateway {info.get('url', '?')})"
    return (f"Hermes is already running from {state_dir}{where}. Talk to it with `hermes chat`, "
            "or stop it first (Ctrl-C in its terminal, or `kill -INT <pid>`). To run a second, "
            "separate Hermes, use another --state-dir and --port.")


@dataclass
class AnkraSetup:
    """Which `ankra` the executor runs, with which token."""

    emulated: bool
    bin: str
    token: str
    description: str
    base_url: str | None = None


def _is_emulator(binary: str) -> bool:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=15,
                             stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return "emulator" in (out.stdout + out.stderr).lower()


def real_ankra(environ: dict[str, str] | os._Environ[str] = os.environ) -> AnkraSetup | None:
    """The real ankra to use, if one is configured: an executable and a token."""
    token = environ.get("ANKRA_API_TOKEN") or environ.get("HERMES_ANKRA_API_TOKEN")
    if not token:
        return None
    base_url = environ.get("ANKRA_BASE_URL") or environ.get("HERMES_ANKRA_BASE_URL") or None
    configured = environ.get("HERMES_ANKRA_BIN")
    if configured:
        found = shutil.which(configured)
        if found:
            return AnkraSetup(False, found, token, f"real ankra at {found} (HERMES_ANKRA_BIN)", base_url)
        raise UpError(f"HERMES_ANKRA_BIN={configured} is not an executable. Point it at the real ankra "
                      "binary, or unset it (and ANKRA_API_TOKEN) to use the Ankra emulator.")
    on_path = shutil.which("ankra")
    if on_path and not _is_emulator(on_path):
        return AnkraSetup(False, on_path, token, f"real ankra at {on_path} (from PATH)", base_url)
    return None


def emulated_ankra(state_dir: Path) -> AnkraSetup:
    """Seed the emulator's state (once; re-registering the same token is a no-op) and its wrapper."""
    try:
        import ankra_emulator
    except ImportError as err:
        raise UpError(f"the Ankra emulator is not importable ({err}); reinstall the project "
                      "(`pip install -e .`) or configure a real ankra (HERMES_ANKRA_BIN and ANKRA_API_TOKEN).") from None
    token = paths.ensure_secret(state_dir / paths.ANKRA_EMULATOR_TOKEN,
                                lambda: "ankra_" + secrets.token_hex(24))
    emulator_state = state_dir / paths.ANKRA_EMULATOR_STATE
    ankra_emulator.init_state(emulator_state, token)
    wrapper = ankra_emulator.write_wrapper(state_dir / "bin", emulator_state, python=sys.executable)
    return AnkraSetup(True, str(wrapper), token, f"EMULATED (state in {emulator_state})")


# ---------------------------------------------------------------------------------------------
# The state dir: checked before anything starts, every problem one line


_STATE_SUBDIRS = (paths.SECRETS, paths.LOGS, "nats", "redis", "bin", paths.ANKRA_EMULATOR_STATE)
_SECRET_FILES = (paths.API_TOKEN, paths.ANKRA_EMULATOR_TOKEN)


def check_state_dir(state_dir: Path) -> None:
    """Create the state dir (0700) if missing; raise UpError naming the first thing wrong with it: a file
    where a directory should be, a directory this user cannot write, a lock file that cannot be locked,
    secrets that other users can read or that belong to another user."""
    where = "choose another with --state-dir (or HERMES_STATE_DIR)"
    if state_dir.exists() and not state_dir.is_dir():
        raise UpError(f"the state dir {state_dir} is a file, not a directory: move it away, or {where}.")
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as err:
        raise UpError(f"cannot create the state dir {state_dir} ({err.strerror}): {where}.") from None
    if not os.access(state_dir, os.W_OK | os.X_OK):
        raise UpError(f"the state dir {state_dir} is not writable by this user (uid {os.getuid()}): give it "
                      f"back with `chmod u+rwx {state_dir}` (or chown), or {where}.")
    for name in _STATE_SUBDIRS:
        sub = state_dir / name
        if (sub.exists() or sub.is_symlink()) and not sub.is_dir():
            raise UpError(f"{sub} is a file where Hermes keeps a directory: move it away and start again.")
        if sub.is_dir() and not os.access(sub, os.W_OK | os.X_OK):
            raise UpError(f"{sub} is not writable by this user (uid {os.getuid()}): "
                          f"`chmod u+rwx {sub}` (or chown it), or {where}.")
    lock = state_dir / paths.UP_LOCK
    if lock.is_dir():
        raise UpError(f"{lock} is a directory where Hermes keeps its lock file: remove it (`rmdir {lock}`) "
                      "and start again.")
    if lock.exists() and not os.access(lock, os.R_OK | os.W_OK):
        raise UpError(f"the lock file {lock} cannot be opened by this user (uid {os.getuid()}), so it is not "
                      f"this user's `hermes up`: if none runs from {state_dir}, delete it (`rm {lock}`) and retry.")
    secrets_dir = state_dir / paths.SECRETS
    if secrets_dir.is_dir():
        _check_private(secrets_dir, 0o700)
        for entry in sorted(secrets_dir.iterdir()):
            if entry.is_file() and entry.name != paths.PUBLIC_KEYS and not entry.name.startswith("."):
                _check_private(entry, 0o600)
    for name in _SECRET_FILES:
        if (state_dir / name).is_file():
            _check_private(state_dir / name, 0o600)


def _check_private(path: Path, mode: int) -> None:
    """A secret (file or folder) must belong to this user and be closed to everyone else."""
    info = path.stat()
    if info.st_uid != os.getuid():
        raise UpError(f"{path} belongs to uid {info.st_uid}, not to this user (uid {os.getuid()}): a secret "
                      f"must be yours alone; `chown` it to yourself, or use another --state-dir.")
    if info.st_mode & 0o077:
        raise UpError(f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):04o}): "
                      f"run `chmod {mode:o} {path}`, and rotate what it holds if someone else may have read it.")


def _start_ticks(pid: int) -> int | None:
    """When a process started (boot-time ticks), to tell it from a later process with the same pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _same_process(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("pid"), int):
        return False
    pid = entry["pid"]
    if not paths.pid_alive(pid):
        return False
    started = _start_ticks(pid)
    return started is None or entry.get("start") in (None, started)


def leftover_processes(state_dir: Path) -> dict[str, int]:
    """Processes an earlier `hermes up` of this state dir started that still run (name -> pid)."""
    try:
        recorded = json.loads((state_dir / UP_PIDS).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {name: entry["pid"] for name, entry in recorded.items() if _same_process(entry)}


# ---------------------------------------------------------------------------------------------
# The supervisor


@dataclass
class Child:
    """A service process we started."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    address: str = ""
    log_start: int = 0  # offset of this run's output in the log file
    started: float = field(default_factory=time.monotonic)
    _log_handle: IO[bytes] | None = None
    _pump: threading.Thread | None = None

    def alive(self) -> bool:
        return self.process.poll() is None

    def close_log(self) -> None:
        if self._pump is not None:
            self._pump.join(timeout=5)
        if self._log_handle is not None:
            self._log_handle.close()

    def log_tail(self, lines: int = 12) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self.log_start)
                text = handle.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Supervisor:
    state_dir: Path
    port: int = 8789
    foreground_logs: bool = False
    console: Console = field(default_factory=Console)
    ready_timeout: float = 90.0

    servers: list[Any] = field(default_factory=list)  # embedded.ServerProcess, stopped last
    children: list[Child] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)  # name -> how often it was restarted
    last_exit: dict[str, int | None] = field(default_factory=dict)  # name -> exit code of its last death
    _stop: threading.Event = field(default_factory=threading.Event)
    _signal: str | None = None
    _envs: dict[str, dict[str, str]] = field(default_factory=dict)
    _server_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    _server_started: dict[str, float] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)  # name -> when to restart it (monotonic)
    _deaths: dict[str, int] = field(default_factory=dict)  # name -> quick deaths in a row
    _ankra: AnkraSetup | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / paths.LOGS

    # -- entry point ------------------------------------------------------------------------
    def run(self) -> int:
        try:
            check_state_dir(self.state_dir)
        except UpError as err:
            self._fail(str(err))
            return EXIT_FAILED
        lock = FileLock(str(self.state_dir / paths.UP_LOCK))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            self._fail(already_running_message(self.state_dir, paths.read_up_info(self.state_dir)))
            return EXIT_FAILED
        except OSError as err:
            self._fail(f"cannot lock {self.state_dir / paths.UP_LOCK} ({err.strerror or err}): if no `hermes up` "
                       f"runs from {self.state_dir}, delete that file and retry, or use another --state-dir.")
            return EXIT_FAILED
        try:
            info = paths.read_up_info(self.state_dir)
            if info and info.get("pid") != os.getpid() and paths.pid_alive(info.get("pid")):
                self._fail(already_running_message(self.state_dir, info)
                           + f" If pid {info.get('pid')} is not Hermes, delete {self.state_dir / paths.UP_JSON}.")
                return EXIT_FAILED
            leftover = leftover_processes(self.state_dir)
            if leftover:
                listed = ", ".join(f"{name} pid {pid}" for name, pid in leftover.items())
                self._fail(f"processes of an earlier `hermes up` from {self.state_dir} still run ({listed}), "
                           "on the same data: stop them first (`kill " + " ".join(map(str, leftover.values()))
                           + "`), then start again.")
                return EXIT_FAILED
            paths.remove_up_info(self.state_dir)  # stale: its process is gone
            if not port_available(self.port):
                self._fail(f"port {self.port} on {HOST} is already in use, so the gateway cannot listen there. "
                           f"Stop what uses it, or choose another port: `hermes up --port <port>` "
                           f"(then `hermes chat` finds it through {self.state_dir / paths.UP_JSON}).")
                return EXIT_FAILED
            return self._run_locked()
        finally:
            lock.release()

    def _run_locked(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        previous_chld = signal.signal(signal.SIGCHLD, lambda *_: self._stop.set())
        try:
            try:
                ankra = self._start_all()
            except UpError as err:
                self._fail(str(err))
                self._stop_all()
                return EXIT_FAILED
            except OSError as err:  # the state dir changed under us, a full disk…: one line, not a traceback
                where = f" ({err.filename})" if err.filename else ""
                self._fail(f"cannot prepare Hermes in {self.state_dir}: {err.strerror or err}{where}. Fix that "
                           "and start again, or use another --state-dir.")
                self._stop_all()
                return EXIT_FAILED
            except BaseException:
                self._stop_all()  # never leave servers behind, whatever went wrong
                raise
            if ankra is None:  # interrupted while starting
                self._stop_all()
                self.console.print("Stopped before Hermes was ready.")
                return EXIT_OK
            try:
                self._ankra = ankra
                self._write_up_json()
                self._print_ready(ankra)
                return self._supervise()
            finally:
                self._stop_all()  # a no-op after a clean stop; otherwise nothing is left behind
        finally:
            paths.remove_up_info(self.state_dir)
            with contextlib.suppress(FileNotFoundError):
                (self.state_dir / UP_PIDS).unlink()
            signal.signal(signal.SIGCHLD, previous_chld)
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signal = signal.Signals(signum).name
        self._stop.set()

    def _fail(self, message: str) -> None:
        self.console.print(f"[bold red]✗[/] {message}", highlight=False, soft_wrap=True)

    # -- start-up ---------------------------------------------------------------------------
    def _start_all(self) -> AnkraSetup | None:
        from hermes import embedded

        ankra = real_ankra() or emulated_ankra(self.state_dir)
        vault = Vault(self.state_dir / paths.SECRETS)
        api_token = paths.ensure_secret(self.state_dir / paths.API_TOKEN, new_token)
        public_keys = vault.service_keys(SERVICES)
        nats_passwords = {user: vault.password(f"nats-{user}") for user in permissions.NATS_USERS}
        redis_passwords = {user: vault.password(f"redis-{user}") for user in permissions.REDIS_USERS}
        self.logs_dir.mkdir(parents=True, exist_ok=True)

        with self.console.status("Starting NATS and Redis…"):
            try:
                nats_conf = vault.write("nats.conf", permissions.nats_config(nats_passwords))
                nats = self._start_server("nats-server", data_dir=self.state_dir / "nats", host=HOST,
                                          config_file=nats_conf)
                acl = vault.write("redis.acl", "\n".join(permissions.redis_acl(
                    PREFIX, redis_passwords, redis_major=permissions.redis_server_major(embedded.find_redis_server()))) + "\n")
                redis = self._start_server("redis-server", data_dir=self.state_dir / "redis", host=HOST, aclfile=acl)
                asyncio.run(self._prepare(nats.url, redis.url, nats_passwords["bootstrap"],
                                          redis_passwords["admin"], api_token))
            except embedded.EmbeddedServerError as err:
                raise UpError(str(err)) from None
        if self._signal:
            return None

        for name in SERVICES:
            self._envs[name] = self._service_env(name, nats.url, redis.url, vault, public_keys, ankra)
            self.children.append(self._spawn(name, self._envs[name]))
            self._record_pids()

        if not self._wait_ready():
            return None
        return ankra

    async def _prepare(self, nats_url: str, redis_url: str, bootstrap_password: str, redis_admin_password: str,
                       api_token: str) -> None:
        """Streams and consumers (as the bootstrap user), and the local admin whose token is api-token."""
        import redis.asyncio as aioredis
        from hermes import bus
        from hermes.keys import Keys
        from hermes.stores.users import UserStore

        await bus.bootstrap(nats_url, user="bootstrap", password=bootstrap_password,
                            exec_ack_wait_seconds=exec_ack_wait_seconds())
        client = aioredis.Redis.from_url(redis_url, username="admin", password=redis_admin_password,
                                         decode_responses=True)
        try:
            await UserStore(client, Keys(PREFIX)).ensure(LOCAL_ADMIN, ["admin"], api_token)
        finally:
            await client.aclose()

    def _service_env(self, name: str, nats_url: str, redis_url: str, vault: Vault, public_keys: dict[str, str],
                     ankra: AnkraSetup) -> dict[str, str]:
        """One service's environment: the caller's without any secret, with what `hermes up` decides set
        over it. Secrets go by file path (HERMES_…_FILE, mode 0600), each only to the service that uses it."""
        env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
        env.update({
            "HERMES_NATS_URL": nats_url,
            "HERMES_NATS_USER": name,
            "HERMES_NATS_PASSWORD_FILE": str(vault.path(f"nats-{name}")),
            "HERMES_NATS_DECLARE_STREAMS": "false",
            "HERMES_REDIS_URL": redis_url,
            "HERMES_REDIS_USER": name,
            "HERMES_REDIS_PASSWORD_FILE": str(vault.path(f"redis-{name}")),
            "HERMES_REDIS_PREFIX": PREFIX,
            "HERMES_SERVICE_KEY_FILE": str(vault.path(f"{name}.key")),
            "HERMES_TRUSTED_KEYS": json.dumps(public_keys),
            "HERMES_HTTP_HOST": HOST,
            "HERMES_HTTP_PORT": str(self.port),
            "HERMES_STATE_DIR": str(self.state_dir),
            "HERMES_EXEC_ACK_WAIT_SECONDS": str(exec_ack_wait_seconds()),  # as the bootstrap made the consumer
            "PYTHONUNBUFFERED": "1",
        })
        if name == "executor":
            env["HERMES_ANKRA_BIN"] = ankra.bin
            env["HERMES_ANKRA_API_TOKEN_FILE"] = str(vault.secret("ankra-api-token", ankra.token))
            if ankra.emulated:  # the emulator keeps its state in the state dir: its one writable place there
                env["HERMES_EXEC_BWRAP_WRITABLE"] = json.dumps([str(self.state_dir / paths.ANKRA_EMULATOR_STATE)])
            elif ankra.base_url:
                env["ANKRA_BASE_URL"] = ankra.base_url
        if ankra.emulated or name != "executor":
            env.pop("ANKRA_BASE_URL", None)
            env.pop("HERMES_ANKRA_BASE_URL", None)
        anthropic = os.environ.get("HERMES_ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_API_KEY")
        if name == "planner" and anthropic:
            env["HERMES_ANTHROPIC_API_KEY_FILE"] = str(vault.secret("anthropic-api-key", anthropic))
        env.setdefault("HERMES_LOG_FORMAT", "console" if self.foreground_logs else "json")
        return env

    def _start_server(self, name: str, **kwargs: Any) -> Any:
        """Start NATS or Redis (again, on the same port and data, when restarting it)."""
        from hermes import embedded

        start = embedded.start_nats if name == "nats-server" else embedded.start_redis
        previous = self._server_args.get(name)
        args = dict(previous) if previous else dict(kwargs)
        server = start(**args, parent_death=True)
        args["port"] = server.port
        self._server_args[name] = args
        self._server_started[name] = time.monotonic()
        self.servers = [s for s in self.servers if s.name != name] + [server]
        self.servers.sort(key=lambda s: 0 if s.name == "nats-server" else 1)  # nats first, stopped last
        self._record_pids()
        return server

    def _spawn(self, name: str, env: dict[str, str]) -> Child:
        from hermes import embedded

        log_path = self.logs_dir / f"{name}.log"
        handle = log_path.open("ab")
        handle.write(f"---- hermes up: {name} starting at {datetime.now(UTC).isoformat()} ----\n".encode())
        handle.flush()
        start = handle.tell()
        # A session of its own: Ctrl-C in the terminal reaches only `hermes up`, which then stops
        # the services in order instead of all of them at once.
        # The parent-death signal: killed with `hermes up`, however it dies (it stops its children itself
        # otherwise, services first). SIGKILL: a service has nothing to save that a restart does not recover.
        proc = subprocess.Popen([sys.executable, "-m", f"hermes_{name}"], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE if self.foreground_logs else handle,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=embedded.die_with_parent(signal.SIGKILL))
        child = Child(name, proc, log_path, log_start=start, _log_handle=handle,
                      address=self.url if name == "gateway" else "")
        if self.foreground_logs:
            child._pump = threading.Thread(target=self._pump_logs, args=(child,), daemon=True,
                                           name=f"logs-{name}")
            child._pump.start()
        return child

    def _record_pids(self) -> None:
        """Write every child's pid and start time to up.pids, for the next `hermes up` to check."""
        entries = {s.name: s.process.pid for s in self.servers}
        entries.update({c.name: c.process.pid for c in self.children})
        paths.write_json_private(self.state_dir / UP_PIDS, {
            name: {"pid": pid, "start": _start_ticks(pid)} for name, pid in entries.items()})

    def _pump_logs(self, child: Child) -> None:
        """--foreground-logs: copy a service's output to its log file and to the terminal."""
        assert child.process.stdout is not None and child._log_handle is not None
        for raw in iter(child.process.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            # The file gets plain text; the terminal keeps the colours. Text.from_ansi, not markup:
            # a log line with [brackets] must print as it is.
            child._log_handle.write(_ANSI.sub("", line).encode() + b"\n")
            child._log_handle.flush()
            self.console.print(Text.assemble((f"{child.name:>8} | ", "dim"), Text.from_ansi(line)),
                               soft_wrap=True)

    def _wait_ready(self) -> bool:
        """Until the gateway answers /healthz and every service has logged that it started.

        Returns False when interrupted; raises UpError when a child dies or time runs out.
        """
        deadline = time.monotonic() + self.ready_timeout
        healthy = False
        with self.console.status("Starting the services…"):
            while time.monotonic() < deadline:
                if self._signal:
                    return False
                self._check_children()
                if not healthy:
                    healthy = _http_ok(f"{self.url}/healthz")
                if healthy and all("service started" in c.log_tail(400) for c in self.children):
                    return True
                self._stop.wait(0.1)
                self._stop.clear()
        not_started = [c.name for c in self.children if "service started" not in c.log_tail(400)]
        what = "the gateway did not answer on " + self.url if not healthy else ", ".join(not_started) + " did not start"
        raise UpError(f"Hermes did not become ready within {self.ready_timeout:g}s: {what}. "
                      f"See the logs in {self.logs_dir}.")

    def _check_children(self) -> None:
        for child in self.children:
            if not child.alive():
                tail = child.log_tail()
                raise UpError(f"{child.name} exited with code {child.process.returncode}. "
                              f"Its log: {child.log_path}" + (f"\n{tail}" if tail else ""))
        for server in self.servers:
            if not server.alive():
                raise UpError(f"{server.name} exited with code {server.process.returncode}. "
                              f"Its log: {server.log_path}")

    # -- running ----------------------------------------------------------------------------
    def _write_up_json(self) -> None:
        ankra = self._ankra
        assert ankra is not None
        nats, redis = self.servers
        paths.write_json_private(self.state_dir / paths.UP_JSON, {
            "pid": os.getpid(),
            "url": self.url,
            "state_dir": str(self.state_dir),
            "started_at": datetime.now(UTC).isoformat(),
            "ports": {"gateway": self.port, "nats": nats.port, "redis": redis.port},
            "nats_url": nats.url,
            "redis_url": redis.url,
            "redis_prefix": PREFIX,
            # Operators' credentials (the `hermes users` and `hermes audit` commands), as file paths.
            "redis_admin": {"user": "admin", "password_file": str(self.state_dir / paths.SECRETS / "redis-admin")},
            "nats_admin": {"user": "admin", "password_file": str(self.state_dir / paths.SECRETS / "nats-admin")},
            "ankra": {"emulated": ankra.emulated, "bin": ankra.bin},
            "processes": {
                **{s.name: {"pid": s.process.pid, "address": s.url, "log": str(s.log_path), **self._health(s.name)}
                   for s in self.servers},
                **{c.name: {"pid": c.process.pid, "address": c.address, "log": str(c.log_path), **self._health(c.name)}
                   for c in self.children},
            },
        })

    def _health(self, name: str) -> dict[str, Any]:
        """What `hermes status` shows of a process besides its pid: running or waiting to restart, restarts."""
        return {"state": "restarting" if name in self._due else "running", "restarts": self.restarts.get(name, 0),
                "last_exit": self.last_exit.get(name)}

    def _print_ready(self, ankra: AnkraSetup) -> None:
        table = Table(box=box.ROUNDED, title="Hermes is up", title_justify="left")
        table.add_column("process", no_wrap=True)
        table.add_column("pid", justify="right", no_wrap=True)
        table.add_column("address", no_wrap=True)
        table.add_column(f"log (in {self.state_dir})", overflow="fold")

        def shown(path: Path) -> str:  # relative to the state dir: short enough to read at a glance
            return str(path.relative_to(self.state_dir)) if path.is_relative_to(self.state_dir) else str(path)

        for server in self.servers:
            table.add_row(server.name, str(server.process.pid), server.url, shown(server.log_path))
        for child in self.children:
            table.add_row(f"hermes {child.name}", str(child.process.pid), child.address or "-",
                          shown(child.log_path))
        self.console.print(table)
        ankra_line = ("[bold yellow]EMULATED[/] — the Ankra emulator answers for `ankra` "
                      f"(state in {self.state_dir / paths.ANKRA_EMULATOR_STATE})"
                      if ankra.emulated else f"[bold]{ankra.description}[/]")
        self.console.print(f"Ankra:  {ankra_line}", highlight=False, soft_wrap=True)
        self.console.print(f"State:  {self.state_dir}", highlight=False)
        self.console.print(f"Logs:   {self.logs_dir}", highlight=False)
        self.console.print(f"API:    {self.url}  (token in {self.state_dir / paths.API_TOKEN})", highlight=False)
        self.console.print(f"Web:    {self.url}/  (paste that token, or open {self.url}/#token=<token>)",
                           highlight=False)
        # The command that reaches *this* instance as printed: a state dir other than the default is
        # named (chat then finds the URL, whatever --port, in its up.json), and so is the URL when
        # HERMES_URL in this environment points elsewhere.
        import shlex

        from hermes.settings import default_state_dir
        from rich.markup import escape

        flags: list[str] = []
        if self.state_dir.resolve() != default_state_dir().expanduser().absolute().resolve():
            flags += ["--state-dir", str(self.state_dir)]
        env_url = os.environ.get("HERMES_URL")
        if env_url and env_url.rstrip("/") != self.url:
            flags += ["--url", self.url]
        chat = shlex.join(["hermes", "chat", *flags, "List my Ankra clusters"])
        self.console.print(f"\n[bold green]Ready.[/] Talk to Hermes: [bold]{escape(chat)}[/]"
                           "   (Ctrl-C here stops everything)", highlight=False, soft_wrap=True)
        for commands, flag in (("approve, reject, whoami, audit and users", "--state-dir"),
                               ("approve, reject and whoami", "--url")):
            if flag in flags:
                same = escape(shlex.join(flags[flags.index(flag):flags.index(flag) + 2]))
                self.console.print(f"        {commands} take the same [bold]{same}[/]", highlight=False,
                                   soft_wrap=True)

    def _supervise(self) -> int:
        """Until a signal: restart a child that died, with backoff; give up on one that keeps dying."""
        while True:
            wait = 1.0  # SIGCHLD, SIGINT and SIGTERM end the wait early; the timeout is a backstop
            if self._due:
                wait = max(0.0, min(wait, min(self._due.values()) - time.monotonic()))
            self._stop.wait(wait)
            self._stop.clear()
            if self._signal:
                self.console.print(f"\n{self._signal}: stopping Hermes…", highlight=False)
                self._stop_all()
                self.console.print("[green]Stopped.[/] Everything Hermes started has exited.")
                return EXIT_OK
            try:
                self._tend()
            except UpError as err:
                self._fail(str(err))
                self.console.print("Stopping the rest…")
                self._stop_all()
                return EXIT_FAILED

    def _tend(self) -> None:
        """Note the children that died (and schedule their restart); restart those whose time has come."""
        changed = False
        for server in self.servers:
            if server.name not in self._due and not server.alive():
                self._died(server.name, server.process.returncode, server.log_path,
                           self._server_started.get(server.name, 0.0), "")
                changed = True
        for child in self.children:
            if child.name not in self._due and not child.alive():
                self._died(child.name, child.process.returncode, child.log_path, child.started, child.log_tail())
                changed = True
        now = time.monotonic()
        for name, when in sorted(self._due.items(), key=lambda item: item[1]):
            if when <= now:
                self._restart(name)
                changed = True
        if changed and self._ankra is not None:  # up.json exists once Hermes was ready
            self._write_up_json()

    def _died(self, name: str, code: int | None, log: Path, started: float, tail: str) -> None:
        quick = time.monotonic() - started < STABLE_SECONDS
        deaths = self._deaths.get(name, 0) + 1 if quick else 1
        self._deaths[name] = deaths
        self.last_exit[name] = code
        how = f"was killed by {signal.Signals(-code).name}" if code is not None and code < 0 and \
            -code in signal.Signals._value2member_map_ else f"exited with code {code}"
        if deaths >= MAX_QUICK_DEATHS:
            raise UpError(f"{name} {how}, the {deaths}th time in a row within {STABLE_SECONDS:g}s of its start; "
                          f"giving up. Its log: {log}" + (f"\n{tail}" if tail else ""))
        delay = min(RESTART_MAX_DELAY, RESTART_FIRST_DELAY * 2 ** (deaths - 1))
        self._due[name] = time.monotonic() + delay
        self.console.print(f"[bold yellow]![/] {name} {how}; restarting it in {delay:g}s "
                           f"(restart {self.restarts.get(name, 0) + 1}). Its log: {log}", highlight=False,
                           soft_wrap=True)

    def _restart(self, name: str) -> None:
        from hermes import embedded

        del self._due[name]
        self.restarts[name] = self.restarts.get(name, 0) + 1
        try:
            if name in self._envs:
                old = next(c for c in self.children if c.name == name)
                old.close_log()
                new = self._spawn(name, self._envs[name])
                self.children = [new if c.name == name else c for c in self.children]
                self._record_pids()
                pid = new.process.pid
            else:
                pid = self._start_server(name).process.pid
        except (embedded.EmbeddedServerError, OSError) as err:
            self.console.print(f"[bold yellow]![/] {name} did not start again: {err}", highlight=False,
                               soft_wrap=True)
            self._died(name, None, self.logs_dir, time.monotonic(), "")
            return
        if self._ankra is not None:  # up.json (what `hermes status` reads) names the new pid before we say so
            self._write_up_json()
        self.console.print(f"[green]✓[/] {name} restarted (pid {pid}).", highlight=False)

    def _stop_all(self) -> None:
        """Services first (they drain and ack), then Redis and NATS, which they depend on."""
        for child in self.children:
            if child.alive():
                with contextlib.suppress(ProcessLookupError):
                    child.process.terminate()
        for child in self.children:
            try:
                child.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.console.print(f"{child.name} did not stop within {STOP_TIMEOUT:g}s; killing it.")
                child.process.kill()
                child.process.wait()
            child.close_log()
        for server in reversed(self.servers):  # redis, then nats
            server.stop()
        self.children.clear()
        self.servers.clear()


def exec_ack_wait_seconds() -> float:
    """The executor consumer's ack wait: HERMES_EXEC_ACK_WAIT_SECONDS when set, else the one of the
    consumer catalog (`hermes.subjects.CONSUMERS`). The bootstrap and the executor get the same."""
    from hermes import subjects

    configured = os.environ.get("HERMES_EXEC_ACK_WAIT_SECONDS")
    if configured:
        try:
            return float(configured)
        except ValueError:
            raise UpError(f"HERMES_EXEC_ACK_WAIT_SECONDS={configured!r} is not a number of seconds; "
                          "set it to one (e.g. 10) or unset it.") from None
    spec = next(c for c in subjects.CONSUMERS if c.durable == subjects.EXECUTOR_ORDERS_DURABLE)
    return spec.ack_wait_seconds or 30.0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def up(state_dir: Path, port: int, foreground_logs: bool, console: Console | None = None) -> int:
    """Run `hermes up`; returns the exit code."""
    return Supervisor(state_dir=state_dir, port=port, foreground_logs=foreground_logs,
                      console=console or Console()).run()


def status(state_dir: Path, console: Console, as_json: bool = False) -> int:
    """`hermes status`: what the `hermes up` of `state_dir` runs, each process's state and restarts.

    Exit 0 when it runs and every process is up, 1 otherwise (not running, restarting, or left over)."""
    info = paths.read_up_info(state_dir)
    supervisor_alive = bool(info) and paths.pid_alive(info.get("pid"))
    leftover = {} if supervisor_alive else leftover_processes(state_dir)
    if not supervisor_alive:
        if as_json:
            console.print_json(json.dumps({"running": False, "state_dir": str(state_dir), "leftover": leftover}))
        elif leftover:
            listed = ", ".join(f"{name} pid {pid}" for name, pid in leftover.items())
            console.print(f"[bold red]✗[/] Hermes is not running from {state_dir}, but processes of an earlier "
                          f"`hermes up` still do ({listed}): stop them (`kill "
                          + " ".join(map(str, leftover.values())) + "`).", highlight=False, soft_wrap=True)
        else:
            console.print(f"Hermes is not running from {state_dir}. Start it with `hermes up`"
                          + ("" if state_dir == paths.resolve_state_dir() else f" --state-dir {state_dir}") + ".",
                          highlight=False, soft_wrap=True)
        return EXIT_FAILED
    assert info is not None
    processes: dict[str, dict[str, Any]] = info.get("processes") or {}
    for entry in processes.values():
        if entry.get("state") == "running" and not paths.pid_alive(entry.get("pid")):
            entry["state"] = "down"
    answering = _http_ok(f"{info.get('url')}/healthz")
    healthy = answering and all(p.get("state") == "running" for p in processes.values())
    if as_json:
        console.print_json(json.dumps({"running": True, "healthy": healthy, "pid": info.get("pid"),
                                       "url": info.get("url"), "gateway_answers": answering,
                                       "processes": processes}))
        return EXIT_OK if healthy else EXIT_FAILED
    table = Table(box=box.ROUNDED, title=f"Hermes (pid {info.get('pid')}) from {state_dir}", title_justify="left")
    for column in ("process", "pid", "state", "restarts", "address"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("pid", "restarts") else "left")
    colours = {"running": "green", "restarting": "yellow", "down": "red"}
    for name, entry in processes.items():
        state = str(entry.get("state", "running"))
        shown = f"[{colours.get(state, 'red')}]{state}[/]"
        if entry.get("last_exit") is not None and entry.get("restarts"):
            shown += f" (last exit {entry['last_exit']})"
        table.add_row(name, str(entry.get("pid", "?")), shown, str(entry.get("restarts", 0)),
                      str(entry.get("address") or "-"))
    console.print(table)
    console.print(f"Gateway {info.get('url')}: " + ("[green]answering[/]" if answering else "[red]not answering[/]"),
                  highlight=False)
    return EXIT_OK if healthy else EXIT_FAILED
