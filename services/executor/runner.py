"""Runs one `ankra` command in a sandbox: argv only, never a shell.

- stdin is closed, so a `[y/N]` prompt reads EOF and cancels instead of hanging;
- a fresh HOME and `--config` per run, so no saved token or selection leaks between runs;
- the environment is PATH, HOME and the Ankra token and base URL, nothing else;
- a timeout kills the whole process group; output is capped; CPU, memory, file size and
  process limits apply where the OS allows;
- `-o json` is added where the command has it, `--yes` only to approved prompting steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass

from hermes import catalog
from hermes.contracts import OrderStep, StepResult
from hermes.redaction import Redactor

EXIT_HINTS = {
    2: "the Ankra CLI refused the command's usage",
    3: "not found",
    4: "cancelled at a confirmation prompt",
    5: "timed out waiting",
    6: "Ankra rejected the API token: check ANKRA_API_TOKEN (re-create it with `ankra tokens create`)",
    7: "permission denied by Ankra (RBAC): ask an organisation admin to change the token's role",
}


@dataclass(frozen=True)
class SandboxLimits:
    timeout_seconds: float = 120.0
    output_cap_bytes: int = 256 * 1024
    cpu_seconds: int = 300
    memory_bytes: int = 2 * 1024**3
    file_size_bytes: int = 64 * 1024**2
    max_processes: int = 512
    bwrap: bool = False  # isolate with bubblewrap: read-only root, private /tmp, own namespaces
    bwrap_writable: tuple[str, ...] = ()


class IsolationUnavailable(RuntimeError):
    """Bubblewrap isolation is enabled but cannot be used."""


def bwrap_prefix(home: str, writable: tuple[str, ...] = ()) -> list[str]:
    """The bubblewrap command that wraps an `ankra` run: the whole filesystem read-only (/tmp too),
    the run's HOME (and `writable`) the only writable places, every namespace unshared but the network
    (ankra talks to the Ankra API), and the sandbox dies with its parent."""
    binary = shutil.which("bwrap")
    if binary is None:
        raise IsolationUnavailable("HERMES_EXEC_BWRAP is on but `bwrap` is not installed "
                                   "(Debian: apt-get install bubblewrap), so nothing was run")
    argv = [binary, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for path in (home, *writable):
        argv += ["--bind", path, path]
    return argv + ["--unshare-all", "--share-net", "--die-with-parent", "--new-session", "--chdir", home, "--"]


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


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    """Read all of `stream`, keeping the first `cap` bytes; keep draining so the child never blocks."""
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(65536):
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        if len(chunk) > room:
            truncated = True
    return bytes(kept), truncated


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _error_line(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("Error:"):
            return line.removeprefix("Error:").strip()
    return stderr.strip().splitlines()[-1] if stderr.strip() else ""


_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Drafted stacks carry this marker where a credential goes; the value is made only when it is applied.
SECRET_PLACEHOLDER = "ENC[generated-at-apply]"


def write_files(directory: str, files: dict[str, str], redactor: Redactor, generate_secrets: bool) -> None:
    """Write an order's files (e.g. the stack YAML) into the run's directory; plain names only.

    With `generate_secrets` (a build), each secret placeholder becomes a fresh random value that
    exists only in this file and the cluster's encrypted secret: it is redacted from every output.
    """
    for name, content in files.items():
        if not _FILE_NAME.match(name):
            raise catalog.CommandRefused(f"file name {name!r} is not a plain file name")
        if generate_secrets:
            while SECRET_PLACEHOLDER in content:
                value = secrets.token_urlsafe(24)
                redactor.add_secret(value)
                content = content.replace(SECRET_PLACEHOLDER, value, 1)
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(content)


async def run_step(step: OrderStep, invocation: AnkraInvocation, limits: SandboxLimits,
                   redactor: Redactor, files: dict[str, str] | None = None) -> StepResult:
    """Run one step and return its (redacted) result. Never raises for a command's failure.

    `files` are written into the run's own directory, which is the command's working directory,
    so `cluster apply -f stack.yaml` reads the file the guard signed.
    """
    started = time.monotonic()
    home = tempfile.mkdtemp(prefix="hermes-run-")
    base = {"step_id": step.step_id, "argv": step.argv, "command": step.command}
    try:
        try:
            write_files(home, files or {}, redactor, generate_secrets=step.command == "cluster apply")
        except catalog.CommandRefused as err:
            return StepResult(**base, outcome="refused", error=str(err))
        try:
            argv = build_argv(invocation.binary, step, os.path.join(home, ".ankra.yaml"))
        except catalog.CommandRefused as err:
            return StepResult(**base, outcome="refused", error=str(err))
        if limits.bwrap:
            try:
                argv = bwrap_prefix(home, limits.bwrap_writable) + argv
            except IsolationUnavailable as err:
                return StepResult(**base, outcome="error", error=str(err))
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": home}
        if invocation.token:
            env["ANKRA_API_TOKEN"] = invocation.token
        if invocation.base_url:
            env["ANKRA_BASE_URL"] = invocation.base_url
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=home,
                start_new_session=True,  # its own process group, so a timeout kills all of it
                preexec_fn=lambda: _limit_resources(limits),
            )
        except FileNotFoundError:
            return StepResult(**base, outcome="error", error=(
                f"the ankra executable {invocation.binary!r} was not found: install the Ankra CLI "
                "or set HERMES_ANKRA_BIN to its path"))
        except PermissionError:
            return StepResult(**base, outcome="error",
                              error=f"the ankra executable {invocation.binary!r} is not executable")
        assert proc.stdout is not None and proc.stderr is not None
        reader = asyncio.gather(_read_capped(proc.stdout, limits.output_cap_bytes),
                                _read_capped(proc.stderr, limits.output_cap_bytes // 4))
        try:
            (out, out_cut), (err, err_cut) = await asyncio.wait_for(reader, limits.timeout_seconds)
            code = await asyncio.wait_for(proc.wait(), 5)
        except TimeoutError:
            _kill_group(proc.pid)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5)
            reader.cancel()
            return StepResult(**base, outcome="timeout", duration_ms=_ms(started), error=(
                f"no answer within {limits.timeout_seconds:g}s; the command was killed. "
                "If it changes something, check its state before retrying."))
        stdout = redactor.text(out.decode("utf-8", "replace"))
        stderr = redactor.text(err.decode("utf-8", "replace"))
        data = None
        if code == 0 and "-o" in argv and not out_cut:
            with contextlib.suppress(ValueError):
                data = redactor.data(json.loads(stdout))
        outcome = "ok" if code == 0 else "failed"
        error = None
        if code != 0:
            detail = _error_line(stderr)
            hint = EXIT_HINTS.get(code)
            error = f"{detail} ({hint})" if detail and hint else (detail or hint or f"exit code {code}")
        if step.command == "tokens create" and code == 0:
            stdout, data = withheld_token_notice(data), None
        return StepResult(**base, outcome=outcome, exit_code=code, stdout=stdout, stderr=stderr,
                          data=data, error=error, duration_ms=_ms(started), truncated=out_cut or err_cut)
    finally:
        shutil.rmtree(home, ignore_errors=True)


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
