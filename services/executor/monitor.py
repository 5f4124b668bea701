"""The parent of one `ankra` run, which records its outcome in the run directory.

    python -I -S monitor.py <run dir> <timeout seconds> <variable names> -- <argv…>

The executor starts this (as the session leader of the run, with the run's environment, resource limits
and its stdout/stderr files), never `ankra` directly, so that a command whose executor dies still has a
parent that waits for it: the monitor writes `run.json` (its pid, start time and host) before starting
the command in a process group of its own, kills that group when the timeout passes, and writes
`exit.json` (exit code, whether it timed out, duration) atomically once the command has ended. The command
gets exactly the named variables of the monitor's environment (not, say, the LC_CTYPE that Python's
locale coercion adds to its own). An executor
that takes the order over after a crash adopts that outcome instead of reporting it "unknown"
(`runner.adopt_step`). Standard library only, no site: it starts in a few milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


def _start_ticks() -> int:
    with open("/proc/self/stat", "rb") as handle:
        return int(handle.read().rsplit(b")", 1)[1].split()[19])


def _write(path: str, content: dict[str, object]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(content, handle)
    os.replace(tmp, path)


def main(args: list[str]) -> int:
    run_dir, timeout, names, separator, *argv = args
    if separator != "--" or not argv:
        print("usage: monitor.py <run dir> <timeout seconds> <variable names> -- <argv…>", file=sys.stderr)
        return 2
    env = {name: os.environ[name] for name in names.split(",") if name in os.environ}
    limit = float(timeout)
    try:
        ticks = _start_ticks()
    except (OSError, ValueError, IndexError):
        ticks = 0
    _write(os.path.join(run_dir, "run.json"), {"pid": os.getpid(), "start_ticks": ticks, "host": os.uname().nodename,
                                               "started_at": time.time(), "timeout_seconds": limit})
    started = time.monotonic()
    outcome: dict[str, object] = {"exit_code": None, "timed_out": False, "error": None}
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, cwd=os.path.join(run_dir, "work"), env=env,
                                process_group=0)  # its own group: the timeout kills it all
    except FileNotFoundError:
        outcome["error"] = "not-found"
    except PermissionError:
        outcome["error"] = "not-executable"
    except OSError as err:
        outcome["error"] = f"could not start: {err}"
    else:
        try:
            outcome["exit_code"] = proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            outcome["timed_out"] = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            outcome["exit_code"] = proc.wait()
    outcome["duration_ms"] = int((time.monotonic() - started) * 1000)
    outcome["finished_at"] = time.time()
    _write(os.path.join(run_dir, "exit.json"), outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
