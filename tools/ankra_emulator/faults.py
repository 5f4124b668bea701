"""Fault injection and the call log, for tests.

Faults come from environment variables and from `faults.json` in the state directory — the file
lets a test inject faults through an executor that scrubs the environment. Environment wins.

Environment:
  ANKRA_EMULATOR_LATENCY_MS=N   sleep N ms before every command
  ANKRA_EMULATOR_FAIL_NEXT=N    the next N API calls fail (exit 1). The count is kept in the state
                                dir, so it spans processes; it is keyed by the value, so use
                                "N@tag" to start a new series of N failures with the same N
  ANKRA_EMULATOR_HANG=1         sleep forever (for timeout tests)

faults.json (all keys optional):
  {"latency_ms": 200, "hang": false,
   "fail_next": 2,                      decremented by each failed call
   "fail_match": ["cluster scale"],     only calls of these commands count (prefix match)
   "fail_exit_code": 1,
   "forbidden_commands": ["tokens create"],   exit 7, as an RBAC refusal would
   "apply_stuck": false,                applied stacks stay "deploying" (`apply --wait` still returns:
                                        it covers the configuration write, not the deploys)
   "write_seconds": 0,                  how long a `--wait` write takes; longer than --timeout: exit 5
   "write_stuck": false,                a `--wait` write never finishes: exit 5 after --timeout
   "provision_seconds": 3, "deprovision_seconds": 10}
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from .state import Store, iso, now

FAULTS_FILE = "faults.json"
CALLS_FILE = "calls.jsonl"
ENV_LATENCY = "ANKRA_EMULATOR_LATENCY_MS"
ENV_FAIL_NEXT = "ANKRA_EMULATOR_FAIL_NEXT"
ENV_HANG = "ANKRA_EMULATOR_HANG"
DEFAULT_PROVISION_SECONDS = 3.0
DEFAULT_DEPROVISION_SECONDS = 10.0


def load(store: Store) -> dict[str, Any]:
    """The faults in force: faults.json, overridden by the environment."""
    faults = store.read_optional_json(FAULTS_FILE)
    if os.environ.get(ENV_LATENCY):
        try:
            faults["latency_ms"] = float(os.environ[ENV_LATENCY])
        except ValueError:
            pass
    if os.environ.get(ENV_HANG, "").lower() in {"1", "true", "yes"}:
        faults["hang"] = True
    return faults


def delay_and_hang(faults: dict[str, Any]) -> None:
    """Apply injected latency; hang forever when asked (the caller logs the call first)."""
    latency = float(faults.get("latency_ms") or 0)
    if latency > 0:
        time.sleep(latency / 1000.0)
    if faults.get("hang"):
        while True:  # until killed: that is the point
            time.sleep(3600)


def take_failure(store: Store, faults: dict[str, Any], counters: dict[str, Any], command: str) -> bool:
    """Whether this call must fail; consumes one injected failure. Call under the state lock."""
    env_value = os.environ.get(ENV_FAIL_NEXT, "").strip()
    if env_value:
        match = re.match(r"^(\d+)(@.*)?$", env_value)
        if match:
            key = f"env_fail_next:{env_value}"
            used = int(counters.get(key, 0))
            if used < int(match.group(1)):
                counters[key] = used + 1
                return True
    remaining = int(faults.get("fail_next") or 0)
    if remaining > 0:
        patterns = faults.get("fail_match") or []
        if patterns and not any(command == p or command.startswith(p + " ") for p in patterns):
            return False
        # Re-read under the lock: another process may have consumed one since `load`.
        current = store.read_optional_json(FAULTS_FILE)
        left = int(current.get("fail_next") or 0)
        if left > 0:
            current["fail_next"] = left - 1
            store.write_json(FAULTS_FILE, current)
            return True
    return False


def is_forbidden(faults: dict[str, Any], command: str) -> bool:
    """Whether faults.json makes this command an RBAC refusal."""
    return any(command == p or command.startswith(p + " ") for p in faults.get("forbidden_commands") or [])


_TOKEN_LIKE = re.compile(r"ankra_[A-Za-z0-9_]{16,}")


def redact_argv(argv: list[str]) -> list[str]:
    """argv with the value of --token (and anything shaped like a token) replaced by ***."""
    redacted: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            redacted.append("***")
            hide_next = False
        elif arg == "--token":
            redacted.append(arg)
            hide_next = True
        elif arg.startswith("--token="):
            redacted.append("--token=***")
        else:
            redacted.append(_TOKEN_LIKE.sub("***", arg))
    return redacted


def log_call(
    store: Store,
    argv: list[str],
    exit_code: int | None,
    started: float,
    command: str | None,
    *,
    note: str | None = None,
) -> None:
    """Append one line to calls.jsonl (a single O_APPEND write, so parallel lines never mix)."""
    record = {
        "ts": iso(now()),
        "pid": os.getpid(),
        "argv": redact_argv(argv),
        "command": command,
        "exit_code": exit_code,
        "duration_ms": int((time.monotonic() - started) * 1000),
    }
    if note:
        record["note"] = note
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    try:
        store.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(store.root / CALLS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass  # the log is for tests; never fail a command over it


def read_calls(state_dir: os.PathLike[str] | str) -> list[dict[str, Any]]:
    """Every logged call of a state directory, oldest first."""
    path = os.path.join(os.fspath(state_dir), CALLS_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
