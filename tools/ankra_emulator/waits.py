"""`--wait` / `--timeout` of the asynchronous writes (cluster apply, node-group add|scale|delete).

The real CLI sends the write with `?wait=true` and bounds the request with a context deadline of
`--timeout` (default 10m) (cmd/async_write.go:14-41, internal/client/async_write.go:18-39,91-125). When the
deadline passes, the HTTP client fails with `<Method> "<url>": context deadline exceeded`, which
`asyncWriteError` tags with exit 5 (cmd/async_write.go:43-53, cmd/exitcodes.go:22): the write itself was
submitted and may still complete. Without --wait no deadline applies.

The emulator's platform finishes a waited write after `write_seconds` (faults.json, default 0) or never
(`write_stuck: true`); a shorter --timeout sleeps the timeout and exits 5 with the CLI's message.
"""

from __future__ import annotations

import re
import time

from .errors import WAIT_TIMEOUT, CliError, usage

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str, flag: str = "timeout") -> float:
    """Seconds of a Go duration (time.ParseDuration: `1m30s`, `500ms`, `0`; a bare number is refused),
    as pflag's Duration flag reads it."""
    raw = text.strip()
    body = raw.lstrip("+-")
    negative = raw.startswith("-")
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if not match:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        missing = " (missing unit)" if re.fullmatch(r"\d+(\.\d*)?", body or "x") else ""
        raise usage(
            f'invalid argument "{text}" for "--{flag}" flag: time: '
            f'{"missing unit in duration" if missing else "invalid duration"} "{text}"'
        )
    return -total if negative else total


def wait_for_write(ctx, label: str, method: str, path: str) -> None:
    """Block as a `--wait` request does; raise exit 5 when --timeout expires first."""
    timeout = parse_duration(str(ctx.flag("timeout") or "10m"))
    seconds = float(ctx.faults.get("write_seconds") or 0)
    if ctx.faults.get("write_stuck") or seconds > timeout:
        time.sleep(max(timeout, 0.0))
        base = ctx.extra.get("base_url", "https://platform.ankra.app")
        op = method[:1].upper() + method[1:].lower()
        raise CliError(
            f'{label}: request failed: {op} "{base}{path}?wait=true": context deadline exceeded', WAIT_TIMEOUT
        )
    if seconds > 0:
        time.sleep(seconds)
