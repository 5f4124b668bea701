"""Runs one `ankra` command in a sandbox: argv only, never a shell.

Every run:
- gets stdin closed, so a `[y/N]` prompt reads EOF and cancels instead of hanging;
- gets a fresh run directory as its working directory, with `--config` inside it (no saved token or
  selection leaks between runs); the plan's files are written there, and a file argument may only name
  one of them by its plain name (the catalog refuses any path);
- sees an environment of PATH, HOME, the Ankra token and base URL and a random per-run marker
  (HERMES_SANDBOX_RUN), nothing else;
- has its output capped, and CPU, memory, file size and process limits where the OS allows;
- gets `-o json` where the command has it, and `--yes` only on an approved prompting step.

The command runs under a monitor (`monitor.py`, the run's session leader), which writes its output to
files in the run directory, kills it when the timeout passes and records how it ended (`exit.json`). With
a run key and a runs directory the run directory is `<runs_dir>/<key>`: when the executor dies mid-step,
the monitor still waits for the command, and the executor that takes the order over adopts the recorded
outcome and output (`adopt_step`) instead of reporting it unknown; the command is never started twice.

Nothing a step starts outlives it. When the command has ended (or the timeout passes) or its task is
cancelled, every descendant is killed (SIGKILL, repeated until none is left): the monitor's process tree,
anything still in the run's session, anything carrying the run's marker in its environment or holding the
run's output files, and - once the executor is a child subreaper (`become_subreaper`, called at start-up)
- any orphan re-parented to the executor during the run that carries no other live run's marker (a
`setsid`, double-forked, environment-scrubbing daemon included). A descendant that keeps stdout open
therefore holds a step neither past its timeout nor past the command's own exit. Only a killed executor
leaves the run to its monitor, which still ends it at the timeout.

With bubblewrap (`SandboxLimits.bwrap`: None = whenever `bwrap` is installed and works here, probed once;
True = required, nothing runs without it; False = off) the command also runs:
- in a PID namespace of its own, with its own /proc: it sees no process outside its sandbox, so neither
  the executor's environment nor its memory; when the namespace's init dies, the kernel kills all in it;
- on an empty, read-only root where only what a program needs is mounted, read-only: /usr and the
  /bin, /sbin and /lib* directories, a few files of /etc (CA certificates, name resolution, passwd and
  group - never shadow or /etc/ssl/private -, the linker cache), the executor's own Python (the prefix
  the Ankra emulator's wrapper runs on, and the emulator's package) and the directory of the `ankra`
  binary (only the file, when that directory is /, HOME or the temp directory). The state directory
  (signing key, stores) and the rest of the disk are not there at all;
- with HOME and /tmp fresh, empty and private (tmpfs); the run directory and `bwrap_writable` (the
  emulator's state, which `hermes up` declares) are the only places it can write that outlive it;
- with no capabilities (even when the executor runs as root), in a new session (no TIOCSTI into a
  terminal), with every namespace but the network unshared (ankra talks to the Ankra API, so Redis and
  NATS stay reachable on the network: their credentials, not the sandbox, keep them closed), and the
  sandbox dies with its monitor, which ends it at the timeout even when the executor is gone.
Without bubblewrap the command runs as the executor's user with the executor's view of the disk; in the
automatic mode the executor says so once in its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import json
import os
import re
import resource
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from hermes import catalog
from hermes.contracts import OrderStep, StepResult
from hermes.logs import get_logger
from hermes.redaction import Redactor

EXIT_HINTS = {
    2: "the Ankra CLI refused the command's usage",
    3: "not found",
    4: "cancelled at a confirmation prompt",
    5: "timed out waiting",
    6: "Ankra rejected the API token: check ANKRA_API_TOKEN (re-create it with `ankra tokens create`)",
    7: "permission denied by Ankra (RBAC): ask an organisation admin to change the token's role",
}

RUN_MARKER = "HERMES_SANDBOX_RUN"  # in every run's environment: descendants inherit it
SANDBOX_HOME = "/home/ankra"  # HOME inside bubblewrap: an empty tmpfs
RUN_PREFIX = "hermes-run-"  # every run directory's name starts so
MONITOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "monitor.py")
RUN_FILE, EXIT_FILE = "run.json", "exit.json"  # written by the monitor in the run directory
MONITOR_GRACE_SECONDS = 10.0  # past the timeout, how long the monitor may take to record the outcome
ADOPT_POLL_SECONDS = 0.1  # how often a taking-over executor looks whether an orphaned command has ended
SWEEP_SECONDS = 5.0  # how long the executor keeps killing a step's descendants before it gives up

_log = get_logger("hermes.executor.sandbox")


@dataclass(frozen=True)
class SandboxLimits:
    timeout_seconds: float = 120.0
    output_cap_bytes: int = 256 * 1024
    cpu_seconds: int = 300
    memory_bytes: int = 2 * 1024**3
    file_size_bytes: int = 64 * 1024**2
    max_processes: int = 512
    # Isolate with bubblewrap: None = whenever it is installed and works here, True = required, False = off.
    bwrap: bool | None = None
    bwrap_writable: tuple[str, ...] = ()  # extra paths the sandbox may write (the emulator's state)
    # Where keyed runs keep their directory, for an executor taking over to adopt (`prepare_runs_dir`).
    runs_dir: str | None = None


class IsolationUnavailable(RuntimeError):
    """Bubblewrap isolation is required but cannot be used."""


# -- subreaper ----------------------------------------------------------------------------------
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once (never through `find_library`, which would start a child process)."""
    if not sys.platform.startswith("linux"):
        return None
    for name in (None, "libc.so.6"):  # None: the symbols the interpreter is already linked with
        with contextlib.suppress(OSError):
            libc = ctypes.CDLL(name, use_errno=True)
            if hasattr(libc, "prctl"):
                return libc
    return None


def become_subreaper() -> bool:
    """prctl(PR_SET_CHILD_SUBREAPER): a descendant orphaned by its parent (a `setsid`, double-forked
    daemon) is re-parented to this process instead of init, so the runner can still find and kill it.
    Call once at start-up. Linux only; False elsewhere or when refused."""
    libc = _libc()
    if libc is None:
        return False
    try:
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except AttributeError:
        return False


def _is_subreaper() -> bool:
    libc = _libc()
    if libc is None:
        return False
    flag = ctypes.c_int(0)
    try:
        return libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0 and flag.value != 0
    except AttributeError:
        return False


# -- bubblewrap ---------------------------------------------------------------------------------
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What of /etc a CLI needs: CA certificates (not /etc/ssl/private), name resolution, users and groups
# (no shadow), the dynamic linker's cache, Debian's alternatives (symlinks into /usr).
_ETC_FILES = (
    "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ssl/cert.pem", "/etc/pki/tls/certs",
    "/etc/pki/ca-trust/extracted", "/etc/ca-certificates", "/etc/ca-certificates.conf",
    "/etc/resolv.conf", "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/gai.conf",
    "/etc/services", "/etc/protocols", "/etc/localtime", "/etc/passwd", "/etc/group",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
)


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _python_roots() -> list[str]:
    """The executor's own Python (the emulator's wrapper runs on it): its prefixes and the directory
    the `ankra_emulator` package is imported from."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("ankra_emulator")
        if spec is not None and spec.origin:
            roots.add(os.path.dirname(os.path.dirname(spec.origin)))
    return [os.path.realpath(r) for r in roots if r]


def _too_wide(path: str) -> bool:
    """A directory never mounted whole: /, HOME (which holds the default state directory) or the temp
    directory (which holds the run directories), or anything above them."""
    wide = ("/", os.path.realpath(os.path.expanduser("~")), os.path.realpath(tempfile.gettempdir()))
    return any(_inside(w, path) for w in wide)


def _program_dir(program: str) -> str:
    """What to mount of the binary: its directory, or only the file when the directory is too wide."""
    directory = os.path.dirname(program)
    return program if _too_wide(directory) else directory


def bwrap_prefix(bwrap: str, run_dir: str, program: str, writable: tuple[str, ...] = (), *,
                 tmpfs_size: int | None = None) -> list[str]:
    """The bubblewrap command that wraps one `ankra` run (`program`, a resolved real path).

    The new root is empty: system directories, a few files of /etc, the executor's Python and the
    binary's directory are mounted read-only; /proc is the new PID namespace's own; HOME and /tmp are
    empty tmpfs; the run directory (and `writable`) the only writable mounts. Mounts are ordered
    outermost first, so a writable directory inside a read-only or tmpfs one stays writable."""
    mounts: dict[str, tuple[int, list[str]]] = {}  # destination -> (priority, options)

    def put(dest: str, priority: int, options: list[str]) -> None:
        if dest not in mounts or mounts[dest][0] < priority:
            mounts[dest] = (priority, options)

    sized = ["--size", str(tmpfs_size)] if tmpfs_size else []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            put(path, 1, ["--symlink", os.readlink(path), path])
        elif os.path.isdir(path):
            put(path, 1, ["--ro-bind", path, path])
    for path in _ETC_FILES:
        put(path, 0, ["--ro-bind-try", path, path])
    read_only = [*_python_roots(), _program_dir(program)]
    read_write = [os.path.realpath(p) for p in (run_dir, *writable)]
    for path in read_only:
        if os.path.exists(path) and (path == program or not _too_wide(path)):
            put(path, 1, ["--ro-bind", path, path])
    put("/tmp", 2, [*sized, "--tmpfs", "/tmp"])
    put(SANDBOX_HOME, 2, [*sized, "--tmpfs", SANDBOX_HOME])
    for path in read_write:
        if os.path.exists(path) and path != "/":
            put(path, 3, ["--bind", path, path])
    read_only_dests = [d for d, (prio, _) in mounts.items() if prio == 1]
    argv = [bwrap, "--unshare-all", "--share-net", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]  # as root, bwrap would otherwise keep every capability
    argv += ["--proc", "/proc", "--dev", "/dev"]
    for dest in sorted(mounts, key=lambda d: (d.count("/"), d)):
        priority, options = mounts[dest]
        covered = priority <= 1 and any(other != dest and _inside(dest, other) for other in read_only_dests)
        under_writable = any(_inside(dest, w) and dest != w for w in read_write)
        if covered and not under_writable and options[0] != "--symlink":
            continue  # already visible, read-only, through a mount further out
        argv += options
    # the empty root itself (and the mount points made in it) read-only too; the mounts keep their own mode
    return argv + ["--remount-ro", "/", "--chdir", run_dir, "--"]


@dataclass(frozen=True)
class _Probe:
    problem: str | None  # None: bubblewrap works here
    tmpfs_size: bool  # this bwrap knows `--size`


_probes: dict[str, _Probe] = {}
_said_unsandboxed = False


async def _output(argv: list[str], cwd: str | None = None, timeout: float = 15.0) -> tuple[int | None, str]:
    """Run a helper command (the probe); its exit code and output. Counted among the runner's own
    children, so no other run's sweep takes it for an orphan."""
    global _spawning
    _spawning += 1
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, cwd=cwd, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        _started.add(proc.pid)
    except OSError as err:
        return None, str(err)
    finally:
        _spawning -= 1
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None, f"no answer within {timeout:g}s"
    finally:
        _forget_when_reaped(proc)
    return proc.returncode, out.decode("utf-8", "replace")


async def _probe(bwrap: str) -> _Probe:
    """Whether `bwrap` can build the sandbox here (namespaces allowed, mounts possible); asked once."""
    cached = _probes.get(bwrap)
    if cached is not None:
        return cached
    _code, usage = await _output([bwrap, "--help"])
    sized = "--size" in usage
    program = os.path.realpath(shutil.which("true") or "/bin/true")
    scratch = os.path.realpath(tempfile.mkdtemp(prefix="hermes-bwrap-probe-"))
    try:
        code, text = await _output(bwrap_prefix(bwrap, scratch, program, tmpfs_size=1 << 20 if sized else None)
                                   + [program], cwd=scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    problem = None
    if code != 0:
        last = text.strip().splitlines()[-1] if text.strip() else f"exit code {code}"
        problem = f"`{bwrap}` cannot build its sandbox here ({last})"
    result = _Probe(problem, sized)
    _probes[bwrap] = result
    return result


async def _isolation(limits: SandboxLimits) -> tuple[str, _Probe] | None:
    """The bubblewrap to use for this run, or None to run without it. Raises IsolationUnavailable when
    bubblewrap is required and unusable."""
    global _said_unsandboxed
    if limits.bwrap is False:
        return None
    binary = shutil.which("bwrap")
    if binary is None:
        problem = "`bwrap` is not installed (Debian: apt-get install bubblewrap)"
    else:
        probe = await _probe(binary)
        if probe.problem is None:
            return binary, probe
        problem = probe.problem
    if limits.bwrap:
        raise IsolationUnavailable(f"HERMES_EXEC_BWRAP is on but {problem}, so nothing was run")
    if not _said_unsandboxed:
        _said_unsandboxed = True
        _log.warning("ankra runs without bubblewrap isolation", reason=problem,
                     hint="install bubblewrap where it can create namespaces, or set HERMES_EXEC_BWRAP=false "
                          "to run without it deliberately")
    return None


# -- the command --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnkraInvocation:
    """What the runner needs to start `ankra`."""

    binary: str
    token: str | None
    base_url: str | None


def build_argv(binary: str, step: OrderStep, config_path: str) -> list[str]:
    """The full argv for a step: program, the catalog command, then the flags the executor owns."""
    parsed = catalog.parse(step.argv)  # refuses anything outside the catalog, again
    argv = [binary, *step.argv]
    if parsed.spec.json_output:
        argv += ["-o", "json"]
    if step.confirmed and parsed.spec.prompts:
        argv.append("--yes")
    argv += ["--config", config_path]
    return argv


def _limit_resources(limits: SandboxLimits) -> None:
    """Runs in the child before exec: apply resource limits the OS allows."""
    for name, value in (
        ("RLIMIT_CPU", limits.cpu_seconds),
        ("RLIMIT_AS", limits.memory_bytes),
        ("RLIMIT_FSIZE", limits.file_size_bytes),
        ("RLIMIT_NPROC", limits.max_processes),
        ("RLIMIT_CORE", 0),
    ):
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(kind, (value, value))


# -- killing every descendant --------------------------------------------------------------------
_started: set[int] = set()  # the runner's direct children not yet reaped (asyncio reaps them)
_live_markers: set[bytes] = set()  # the markers of runs in progress
_spawning = 0  # runs between fork and knowing their child's pid
_waiters: set[asyncio.Task[int]] = set()
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _uptime_ticks() -> int | None:
    try:
        with open("/proc/uptime", encoding="ascii") as handle:
            return int(float(handle.read().split()[0]) * _TICKS)
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class _Run:
    """What identifies the processes of one run."""

    marker: bytes  # b"HERMES_SANDBOX_RUN=<random>", an item of the environment
    since: int  # boot-time ticks before the run started: nothing younger than this is ours
    outputs: set[str] = field(default_factory=set)  # the paths of its stdout and stderr files
    session: int | None = None  # the monitor's pid: the session id of the run
    proc: asyncio.subprocess.Process | None = None

    @property
    def root(self) -> int | None:
        """The direct child's pid while it is not reaped (a reaped pid may be reused)."""
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None


def _stat(pid: str) -> tuple[str, int, int, int] | None:
    """(state, ppid, session, start time in ticks) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return fields[0].decode(), int(fields[1]), int(fields[3]), int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _environ(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def _holds(pid: int, targets: set[str]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                return True
    return False


def _victims(run: _Run, check_outputs: bool) -> tuple[set[int], set[int]]:
    """The live processes of the run, and the zombies among the executor's orphans to reap."""
    me = os.getpid()
    table: dict[int, tuple[str, int, int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _stat(entry)) is not None:
            table[int(entry)] = info
    children: dict[int, list[int]] = {}
    for pid, (_state, ppid, _sid, _start) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    root = run.root
    stack = [root] if root is not None and root in table else []
    while stack:  # the command's process tree
        pid = stack.pop()
        if pid not in found and pid != me:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    subreaper = _is_subreaper()
    others = _live_markers - {run.marker}
    reap: set[int] = set()
    for pid, (state, ppid, sid, start) in table.items():
        if pid in found or pid <= 1 or pid == me or start < run.since:
            continue  # older than the run: never one of its descendants
        unknown_child = ppid == me and pid not in _started
        if unknown_child and _spawning:
            continue  # may be another run's child between fork and exec
        if state in "ZX":
            if unknown_child and subreaper:  # an orphan that died here: ours to reap, nobody else waits
                reap.add(pid)
            continue
        if sid in (root, run.session) and sid is not None:
            found.add(pid)  # still in the command's session
            continue
        environ = _environ(pid)
        if run.marker in environ or (check_outputs and _holds(pid, run.outputs)):
            found.add(pid)
        elif unknown_child and subreaper and not any(m in environ for m in others):
            found.add(pid)  # an orphan re-parented to the executor that no other run claims
    return {p for p in found if table.get(p, ("Z",))[0] not in "ZX"}, reap


def _sweep_round(run: _Run, check_outputs: bool) -> int:
    """Kill what is left of the run once; how many live processes were found."""
    if not os.path.isdir("/proc/self"):  # no /proc: the process group is all we can reach
        if run.root is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(run.root, signal.SIGKILL)
        return 0
    alive, reap = _victims(run, check_outputs)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for pid in reap:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return len(alive)


async def _sweep(run: _Run, check_outputs: bool) -> None:
    """Kill every descendant of the run, again and again until none is left (a process killed while
    forking may leave a child the next round finds)."""
    deadline = time.monotonic() + SWEEP_SECONDS
    while _sweep_round(run, check_outputs) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _sweep_now(run: _Run) -> None:
    """`_sweep` without awaiting: for a cancelled run, whose task may not await any more."""
    deadline = time.monotonic() + SWEEP_SECONDS
    while _sweep_round(run, True) and time.monotonic() < deadline:
        time.sleep(0.01)


def _forget_when_reaped(proc: asyncio.subprocess.Process) -> None:
    """Keep the pid among the runner's own children until asyncio has reaped it."""
    if proc.returncode is not None:
        _started.discard(proc.pid)
        return
    waiter = asyncio.ensure_future(proc.wait())
    _waiters.add(waiter)

    def done(task: asyncio.Task[int]) -> None:
        _started.discard(proc.pid)
        _waiters.discard(task)

    waiter.add_done_callback(done)


# -- one step ------------------------------------------------------------------------------------
def _error_line(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("Error:"):
            return line.removeprefix("Error:").strip()
    return stderr.strip().splitlines()[-1] if stderr.strip() else ""


# Drafted stacks carry this marker where a credential goes; the value is made only when it is applied.
SECRET_PLACEHOLDER = "ENC[generated-at-apply]"


def write_files(directory: str, files: dict[str, str], redactor: Redactor, generate_secrets: bool) -> None:
    """Write an order's files (e.g. the stack YAML) into the run's directory; plain names only.

    With `generate_secrets` (a build), each secret placeholder becomes a fresh random value that
    exists only in this file and the cluster's encrypted secret: it is redacted from every output.
    """
    for name, content in files.items():
        problem = catalog.file_name_problem(name)
        if problem:
            raise catalog.CommandRefused(f"file name {name!r} {problem}")
        if generate_secrets:
            while SECRET_PLACEHOLDER in content:
                value = secrets.token_urlsafe(24)
                redactor.add_secret(value)
                content = content.replace(SECRET_PLACEHOLDER, value, 1)
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(content)


def _resolve(binary: str, path: str) -> str | None:
    """The absolute path `binary` runs from, as exec would find it on `path`."""
    if os.sep in binary:
        binary = os.path.abspath(binary)
    return shutil.which(binary, path=path)


async def run_step(step: OrderStep, invocation: AnkraInvocation, limits: SandboxLimits,
                   redactor: Redactor, files: dict[str, str] | None = None, *, key: str | None = None) -> StepResult:
    """Run one step and return its (redacted) result. Never raises for a command's failure.

    `files` are written into the run's own directory, which is the command's working directory,
    so `cluster apply -f stack.yaml` reads the file the guard signed. With `key` (`run_key`) and
    `limits.runs_dir`, the run directory is `<runs_dir>/<key>`, where an executor that takes the order
    over after this one died finds the command's outcome (`adopt_step`); otherwise a temporary one.
    """
    started = time.monotonic()
    if key and limits.runs_dir:
        root = os.path.join(limits.runs_dir, key)
        shutil.rmtree(root, ignore_errors=True)  # an earlier run of this step that nobody adopted
        os.mkdir(root, 0o700)
    else:
        root = tempfile.mkdtemp(prefix=RUN_PREFIX)
    root = os.path.realpath(root)
    run_dir = os.path.join(root, "work")
    base = {"step_id": step.step_id, "argv": step.argv, "command": step.command}
    try:
        os.mkdir(run_dir, 0o700)
        try:
            write_files(run_dir, files or {}, redactor, generate_secrets=step.command == "cluster apply")
            argv = build_argv(invocation.binary, step, os.path.join(run_dir, ".ankra.yaml"))
        except catalog.CommandRefused as err:
            return StepResult(**base, outcome="refused", error=str(err))
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": run_dir}
        if invocation.token:
            env["ANKRA_API_TOKEN"] = invocation.token
        if invocation.base_url:
            env["ANKRA_BASE_URL"] = invocation.base_url
        program = _resolve(invocation.binary, env["PATH"])
        if program is None:
            candidate = os.path.abspath(invocation.binary) if os.sep in invocation.binary else None
            if candidate and os.path.isfile(candidate):
                return StepResult(**base, outcome="error",
                                  error=f"the ankra executable {invocation.binary!r} is not executable")
            return StepResult(**base, outcome="error", error=_not_found(invocation.binary))
        try:
            sandbox = await _isolation(limits)
        except IsolationUnavailable as err:
            return StepResult(**base, outcome="error", error=str(err))
        if sandbox is None:
            argv[0] = program
        else:
            bwrap, probe = sandbox
            program = os.path.realpath(program)
            argv = bwrap_prefix(bwrap, run_dir, program, limits.bwrap_writable,
                                tmpfs_size=limits.file_size_bytes if probe.tmpfs_size else None) + [program, *argv[1:]]
            env["HOME"] = SANDBOX_HOME
        return await _supervise(step, argv, env, root, limits, redactor, base, started)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _not_found(binary: str) -> str:
    return f"the ankra executable {binary!r} was not found: install the Ankra CLI or set HERMES_ANKRA_BIN to its path"


async def _supervise(step: OrderStep, argv: list[str], env: dict[str, str], root: str,
                     limits: SandboxLimits, redactor: Redactor, base: dict[str, object],
                     started: float) -> StepResult:
    """Start the command under its monitor, wait until the monitor has recorded how it ended (or the
    timeout, with a margin, passes), kill what is left, then read the outcome from the run directory."""
    global _spawning
    ticks = _uptime_ticks()
    run = _Run(marker=f"{RUN_MARKER}={secrets.token_hex(16)}".encode(), since=(ticks - 2) if ticks else 0)
    env = {**env, RUN_MARKER: run.marker.decode().split("=", 1)[1]}
    out_path, err_path = os.path.join(root, "stdout"), os.path.join(root, "stderr")
    run.outputs = {out_path, err_path}
    _live_markers.add(run.marker)
    swept = False
    finished = False
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        out_fd, err_fd = os.open(out_path, flags, 0o600), os.open(err_path, flags, 0o600)
        _spawning += 1
        try:
            run.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", MONITOR, root, str(float(limits.timeout_seconds)), ",".join(env), "--", *argv,
                stdin=asyncio.subprocess.DEVNULL, stdout=out_fd, stderr=err_fd, env=env,
                cwd=os.path.join(root, "work"),
                start_new_session=True,  # its own session: the run's, which outlives a killed executor
                preexec_fn=lambda: _limit_resources(limits))
            _started.add(run.proc.pid)
        except OSError as error:
            return StepResult(**base, outcome="error", error=f"could not start the command's monitor: {error}")
        finally:
            _spawning -= 1
            os.close(out_fd)
            os.close(err_fd)
        proc = run.proc
        run.session = proc.pid
        if (info := _stat(str(proc.pid))) is not None:
            run.since = info[3]  # the monitor's own start, on the very clock its descendants' starts use
        _forget_when_reaped(proc)
        exited = asyncio.ensure_future(proc.wait())
        done, _ = await asyncio.wait({exited}, timeout=limits.timeout_seconds + MONITOR_GRACE_SECONDS)
        finished = bool(done)
        await _sweep(run, check_outputs=True)
        swept = True
        if not exited.done():
            await asyncio.wait({exited}, timeout=5.0)
            exited.cancel()
    finally:
        if not swept:
            _sweep_now(run)  # cancelled, or something went wrong: nothing of the run may outlive it
        _live_markers.discard(run.marker)
    outcome = _read_json(os.path.join(root, EXIT_FILE))
    if outcome is None:
        if not finished:
            return _timed_out(base, limits, _ms(started))
        return StepResult(**base, outcome="error", duration_ms=_ms(started), error=(
            "the command's monitor was killed before it recorded how the command ended; "
            "if the command changes something, check its state before retrying"))
    return _result(step, base, outcome, root, limits, redactor, _ms(started), argv[0])


def _timed_out(base: dict[str, object], limits: SandboxLimits, duration_ms: int) -> StepResult:
    return StepResult(**base, outcome="timeout", duration_ms=duration_ms, error=(
        f"no answer within {limits.timeout_seconds:g}s; the command was killed. "
        "If it changes something, check its state before retrying."))


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_capped(path: str, cap: int) -> tuple[bytes, bool]:
    """The first `cap` bytes of a file, and whether it holds more."""
    try:
        with open(path, "rb") as handle:
            kept = handle.read(cap + 1)
    except OSError:
        return b"", False
    return kept[:cap], len(kept) > cap


def _result(step: OrderStep, base: dict[str, Any], outcome: dict[str, Any], root: str, limits: SandboxLimits,
            redactor: Redactor, duration_ms: int, binary: str = "ankra") -> StepResult:
    """The step's result from what its monitor recorded (`exit.json`) and its output files, redacted."""
    problem = outcome.get("error")
    if problem == "not-found":
        return StepResult(**base, outcome="error", error=_not_found(binary))
    if problem == "not-executable":
        return StepResult(**base, outcome="error", error=f"the ankra executable {binary!r} is not executable")
    if problem:
        return StepResult(**base, outcome="error", error=f"the ankra command {problem}")
    if outcome.get("timed_out"):
        return _timed_out(base, limits, duration_ms)
    code = outcome.get("exit_code")
    code = code if isinstance(code, int) else -1
    out, out_cut = _read_capped(os.path.join(root, "stdout"), limits.output_cap_bytes)
    err, err_cut = _read_capped(os.path.join(root, "stderr"), limits.output_cap_bytes // 4)
    stdout = redactor.text(out.decode("utf-8", "replace"))
    stderr = redactor.text(err.decode("utf-8", "replace"))
    data = None
    if code == 0 and _json_output(step) and not out_cut:
        with contextlib.suppress(ValueError):
            data = redactor.data(json.loads(stdout))
    error = None
    if code != 0:
        detail = _error_line(stderr)
        hint = EXIT_HINTS.get(code)
        error = f"{detail} ({hint})" if detail and hint else (detail or hint or f"exit code {code}")
    if step.command == "tokens create" and code == 0:
        stdout, data = withheld_token_notice(data), None
    return StepResult(**base, outcome="ok" if code == 0 else "failed", exit_code=code, stdout=stdout,
                      stderr=stderr, data=data, error=error, duration_ms=duration_ms,
                      truncated=out_cut or err_cut)


def _json_output(step: OrderStep) -> bool:
    """Whether the runner asked this step's command for `-o json`."""
    try:
        return catalog.parse(step.argv).spec.json_output
    except catalog.CommandRefused:
        return False


# -- adopting the outcome of a run whose executor died --------------------------------------------
def run_key(order_id: str, step_id: str) -> str:
    """The name of a step's run directory under the runs directory: one per order and step."""
    raw = f"{order_id}.{step_id}"
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", raw)[:100]
    return f"{RUN_PREFIX}{readable}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


def default_runs_dir() -> str:
    """Where run directories are kept unless configured: a private folder of this user in the temp
    directory, which outlives a crashed executor (what adoption needs), though not a reboot."""
    return os.path.join(tempfile.gettempdir(), f"hermes-executor-runs-{os.getuid()}")


class RunsDirUnusable(RuntimeError):
    """The runs directory is not a private directory of this user."""


def prepare_runs_dir(path: str, *, prune_after_seconds: float = 6 * 3600) -> str:
    """Create the runs directory (0700) if missing; refuse one that is not a directory of this user closed
    to others; remove runs older than `prune_after_seconds` whose monitor is gone. Its real path."""
    with contextlib.suppress(FileExistsError):
        os.makedirs(path, mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        what = ("not a directory" if not stat.S_ISDIR(info.st_mode) else
                f"owned by uid {info.st_uid}, not {os.getuid()}" if info.st_uid != os.getuid() else
                f"open to other users (mode {stat.S_IMODE(info.st_mode):04o})")
        raise RunsDirUnusable(f"the executor's runs directory {path} is {what}; remove it, or set "
                              "HERMES_EXEC_RUNS_DIR to a directory only this user can read")
    now = time.time()
    for entry in os.listdir(path):
        root = os.path.join(path, entry)
        if not entry.startswith(RUN_PREFIX):
            continue
        with contextlib.suppress(OSError):
            if now - os.stat(root).st_mtime > prune_after_seconds and not _monitor_alive(
                    _read_json(os.path.join(root, RUN_FILE)) or {}):
                shutil.rmtree(root, ignore_errors=True)
    return os.path.realpath(path)


def _monitor_alive(info: dict[str, Any]) -> bool:
    """Whether the monitor a run.json names still runs on this machine (the same process, not a reused pid)."""
    pid, ticks = info.get("pid"), info.get("start_ticks")
    if not isinstance(pid, int) or info.get("host") != os.uname().nodename:
        return False
    found = _stat(str(pid))
    return found is not None and found[0] not in "ZX" and (not ticks or found[3] == ticks)


async def adopt_step(step: OrderStep, limits: SandboxLimits, redactor: Redactor, key: str,
                     files: dict[str, str] | None = None) -> StepResult | None:
    """The result of a step that an executor which then died had started: what its monitor recorded once
    the command ended, waiting for it while it still runs on this machine (at most until its timeout).
    None when nothing can be known: no run directory (another machine, or the executor died before the
    command started) or a monitor that died without recording an outcome."""
    if not limits.runs_dir:
        return None
    root = os.path.join(limits.runs_dir, key)
    info = _read_json(os.path.join(root, RUN_FILE))
    if info is None:
        return None
    started_at = info.get("started_at") if isinstance(info.get("started_at"), (int, float)) else time.time()
    timeout = info.get("timeout_seconds") if isinstance(info.get("timeout_seconds"), (int, float)) else 0
    deadline = time.monotonic() + max(0.0, started_at + timeout - time.time()) + MONITOR_GRACE_SECONDS
    exit_path = os.path.join(root, EXIT_FILE)
    while (outcome := _read_json(exit_path)) is None and _monitor_alive(info) and time.monotonic() < deadline:
        await asyncio.sleep(ADOPT_POLL_SECONDS)
    outcome = outcome or _read_json(exit_path)
    if outcome is None:
        if info.get("host") == os.uname().nodename and not _monitor_alive(info):
            shutil.rmtree(root, ignore_errors=True)  # nothing more will ever be recorded there
        return None
    if step.command == "cluster apply":
        _learn_generated_secrets(os.path.join(root, "work"), files or {}, redactor)
    base = {"step_id": step.step_id, "argv": step.argv, "command": step.command}
    duration = outcome.get("duration_ms") if isinstance(outcome.get("duration_ms"), int) else None
    result = _result(step, base, outcome, root, limits, redactor, duration or 0)
    shutil.rmtree(root, ignore_errors=True)
    return result


def _learn_generated_secrets(work: str, files: dict[str, str], redactor: Redactor) -> None:
    """Teach `redactor` the values the dead executor generated for the placeholders of `files` (they are
    in the files it wrote, at the placeholders' places), so the adopted output never shows them."""
    for name, template in files.items():
        if SECRET_PLACEHOLDER not in template:
            continue
        try:
            with open(os.path.join(work, name), encoding="utf-8") as handle:
                written = handle.read()
        except OSError:
            continue
        pattern = "(.+?)".join(re.escape(part) for part in template.split(SECRET_PLACEHOLDER))
        match = re.fullmatch(pattern, written, flags=re.DOTALL)
        for value in match.groups() if match else ():
            redactor.add_secret(value)


def withheld_token_notice(data: object) -> str:
    """What replaces the output of `tokens create`: the token itself never leaves the executor."""
    name = data.get("name") if isinstance(data, dict) else None
    token_id = data.get("id") if isinstance(data, dict) else None
    about = f" “{name}” (id {token_id})" if name or token_id else ""
    return (f"Token{about} created. Hermes never shows token values in chat. Create a token you need "
            "to copy with `ankra tokens create <name>` in your own terminal, where it is printed once; "
            "revoke this one with `ankra tokens revoke <id>` if nobody needs it.")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
