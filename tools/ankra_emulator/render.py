"""Output: box-drawn tables (rounded corners), humanized times, and `-o json|yaml`.

Colour and other ANSI codes are written only when stdout is a terminal, so scripts, tests and
Hermes's executor read plain box-drawn text.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from .errors import usage
from .state import now, parse_time

FORMATS = ("json", "yaml")


def check_format(output: str | None) -> str | None:
    """Validate an `-o` value: None/"" for tables, "json" or "yaml"; anything else is exit 2."""
    if output in (None, ""):
        return None
    if output not in FORMATS:
        raise usage(f'invalid -o format "{output}" (expected json or yaml)')
    return output


def dump(data: Any, fmt: str) -> None:
    """Print raw API-shaped data as 2-space JSON or as YAML."""
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def humanize(value: str | datetime | None, *, never: str = "Never") -> str:
    """ "3 days ago" / "in 29 days" / "just now"; `never` for a missing time."""
    if not value:
        return never
    moment = parse_time(value) if isinstance(value, str) else value
    seconds = (now() - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now" if not future else "in a few seconds"
    for unit, size in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size or unit == "minute":
            count = max(1, round(seconds / size)) if unit == "minute" else int(seconds // size)
            word = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {word}" if future else f"{word} ago"
    return "just now"  # unreachable


def _console():
    from rich.console import Console

    tty = sys.stdout.isatty()
    if tty:
        return Console(file=sys.stdout, highlight=False)
    # Not a terminal: no colour, no ANSI, and a wide canvas so tables are never wrapped.
    return Console(
        file=sys.stdout,
        force_terminal=False,
        no_color=True,
        color_system=None,
        width=400,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    styles: dict[str, str] | None = None,
) -> None:
    """Print a rounded box-drawn table. `styles` maps a header to a rich style (tty only)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    tty = sys.stdout.isatty()
    t = Table(
        box=box.ROUNDED,
        title=title,
        header_style="bold cyan" if tty else "",
        title_style="bold" if tty else "",
        show_lines=False,
    )
    for header in headers:
        t.add_column(header, style=(styles or {}).get(header, "") if tty else "", overflow="fold")
    for row in rows:
        # Text(), not markup: cell values are data and may contain "[" (e.g. ENC[...]).
        t.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    _console().print(t)


def state_cell(state: str) -> str:
    """The stacks-list state cell: `✓ up`, `✗ failed`, `⟳ <state>`."""
    if state == "up":
        return "✓ up"
    if state == "failed":
        return "✗ failed"
    return f"⟳ {state}"


def truncate(text: str, limit: int = 47) -> str:
    """Cut a description to `limit` characters plus `...`, as the charts table does."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."


def key_values(pairs: Sequence[tuple[str, Any]]) -> None:
    """Aligned `Key: value` lines, for detail views."""
    width = max(len(k) for k, _ in pairs) + 1
    for key, value in pairs:
        sys.stdout.write(f"{(key + ':').ljust(width)} {'' if value is None else value}\n")


def out(text: str = "") -> None:
    """Print a line to stdout."""
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    """Print a line to stderr."""
    sys.stderr.write(text + "\n")
