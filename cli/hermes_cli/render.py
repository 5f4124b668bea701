"""Rendering of gateway events for a terminal (rich).

Pure functions: an event (the gateway's JSON, as a dict) in, rich renderables out. Nothing
here does I/O, so every shape of reply is unit-testable with a recording Console.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

Event = dict[str, Any]


def command_line(argv: list[str]) -> str:
    """The exact command a step runs, as a person would type it (argv has no program name)."""
    argv = [str(a) for a in argv]
    if argv and argv[0] == "ankra":
        argv = argv[1:]
    return shlex.join(["ankra", *argv])


def render_block(block: dict[str, Any]) -> RenderableType:
    """One reply block: text as text, code as plain text (copy-pasteable), tables as tables."""
    kind = block.get("type")
    if kind == "table":
        return _FittedTable(block.get("title") or None, [str(c) for c in block.get("columns") or []],
                            [[str(cell) for cell in row] for row in block.get("rows") or []])
    if kind == "code":
        # Plain, not syntax-highlighted: code is usually output or a command to copy; no markup.
        return Text(str(block.get("text", "")))
    return Text(str(block.get("text", "")))


class _FittedTable:
    """A table that wraps its cells between words: when the terminal is wide enough for every column's
    longest word (a chart name breaks only after its "/"), no word is cut; only a terminal too narrow
    for that folds inside words — and never cuts a cell with "…"."""

    def __init__(self, title: str | None, columns: list[str], rows: list[list[str]]) -> None:
        self.title, self.columns, self.rows = title, columns, rows

    def _longest_words(self) -> list[int]:
        widths = []
        for i, column in enumerate(self.columns):
            cells = [column] + [row[i] for row in self.rows if i < len(row)]
            widths.append(max((len(w) for c in cells for line in _breakable(c).splitlines() for w in line.split()),
                              default=1))
        return widths

    def _widths(self, max_width: int) -> list[int] | None:
        """Each column's width: its longest word, then the room left shared out to the columns whose
        cells are longest; None when even the longest words do not fit (Rich then folds)."""
        words = self._longest_words()
        full = [max((len(line) for c in [column] + [row[i] for row in self.rows if i < len(row)]
                     for line in c.splitlines()), default=1) for i, column in enumerate(self.columns)]
        spare = max_width - (sum(words) + 3 * len(words) + 1)
        if spare < 0:
            return None
        widths = list(words)
        while spare > 0:
            i = max(range(len(widths)), key=lambda k: full[k] - widths[k])
            if full[i] <= widths[i]:
                break
            widths[i] += 1
            spare -= 1
        return widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._widths(options.max_width)
        table = Table(title=self.title, box=box.ROUNDED, title_justify="left")
        for i, column in enumerate(self.columns):
            # Wrap (between names where it can), never cut a cell with "…".
            table.add_column(column, overflow="fold", width=widths[i] if widths else None)
        for row in self.rows:
            # A name breaks after its "/" only where its column is narrower than the name.
            table.add_row(*(cell if widths and all(len(w) <= widths[i] for w in cell.split()) else _breakable(cell)
                            for i, cell in enumerate(row)))
        yield table


def _breakable(cell: str) -> str:
    """A long registry/chart reference may wrap after its "/" (between names, not inside one)."""
    return " ".join(w.replace("/", "/\n") if len(w) > 20 and "/" in w and "://" not in w else w
                    for w in cell.split(" ")) if "/" in cell else cell


def _expiry(value: Any) -> str:
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


_RUNNING = re.compile(r"^\s*(?:[^\n]*?\.\.\.\s*)?Running `[^`]*`(?: on [^.\n]*)?\.\.\.\s*", re.IGNORECASE)


def approval_summary(summary: str) -> str:
    """An approval's summary without a leading "Running `…`..." line: nothing runs until it is approved."""
    cleaned = _RUNNING.sub("", summary).strip()
    return cleaned or "Approval needed before anything runs"


def render_approval(approval: dict[str, Any], text: str = "") -> RenderableType:
    """An approval request: what, the exact commands, the risks, expiry, and how to answer.

    The commands are shown in full (never truncated): a person approves exactly these.
    """
    approval_id = str(approval.get("approval_id", "?"))
    summary = approval_summary(str(approval.get("summary") or text or ""))
    lines: list[RenderableType] = [Text(summary, style="bold")]
    lines.append(Text("\nCommands that will run:", style="bold"))
    for argv in approval.get("steps") or []:
        lines.append(Text("  " + command_line(list(argv)), style="cyan"))
    risks = approval.get("risks") or []
    if risks:
        lines.append(Text("\nRisks:", style="bold"))
        lines.extend(Text(f"  - {risk}", style="yellow") for risk in risks)
    details = f"\nExpires: {_expiry(approval.get('expires_at'))}"
    approvers = approval.get("approvers") or []
    if approvers:
        details += f"   Approvers: {', '.join(map(str, approvers))}"
    lines.append(Text(details, style="dim"))
    lines.append(Text.assemble(
        "\nTo answer: ", (f"hermes approve {approval_id}", "bold green"), "  or  ",
        (f"hermes reject {approval_id}", "bold red"), "\n           or reply ", ("y", "bold"), " / ",
        ("n", "bold"), " in this conversation.",
    ))
    return Panel(Group(*lines), title=f"Approval needed ({approval_id})", title_align="left",
                 border_style="yellow", box=box.ROUNDED)


def render_event(event: Event) -> list[RenderableType]:
    """What to show for one event. The person's own messages are not echoed back."""
    if event.get("type") != "reply":
        return []
    kind = event.get("kind", "answer")
    text = str(event.get("text") or "")
    blocks = [render_block(b) for b in event.get("blocks") or [] if isinstance(b, dict)]
    if kind == "progress":
        return [Text(text, style="dim")] + blocks if text else blocks
    if kind == "approval" and isinstance(event.get("approval"), dict):
        # What is asked about first (the draft, the bill of materials), the question last.
        return [*blocks, render_approval(event["approval"], text)]
    if kind == "error":
        return [Text.assemble(("✗ Error: ", "bold red"), (text or "the request failed", "red")), *blocks]
    return ([Text(text)] if text else []) + blocks


_DECISION_LINES = {
    "ran": ("✓ ", "bold green", "{id}: approved, and the plan ran."),
    "rejected": ("✓ ", "bold green", "{id}: rejected; nothing of it ran."),
    "recorded": ("… ", "bold yellow", "{id}: your approval is recorded; nothing runs yet: {text}"),
    "refused": ("✗ ", "bold red", "{id}: the guard refused your {decision}; nothing ran: {text}"),
    "taken": ("✓ ", "bold green", "{id}: {text}."),
    "failed": ("✗ ", "bold red", "{id}: approved, but the run failed: {text}"),
}


def render_decision(approval_id: str, decision: str, outcome: str, text: str) -> Text:
    """One line saying what came of `hermes approve|reject`: ran, failed, recorded (1 of 2), rejected,
    refused with the guard's reason, or taken (for a decider who may not read the approval's conversation)."""
    mark, style, template = _DECISION_LINES[outcome]
    line = template.format(id=approval_id, decision="approval" if decision == "approve" else "rejection",
                           text=text.strip() or "no reason given")
    return Text.assemble((mark, style), (line, style if outcome != "recorded" else ""))


def print_events(console: Console, events: Iterable[Event]) -> None:
    for event in events:
        for renderable in render_event(event):
            console.print(renderable)


def conversation_hint(conversation_id: str) -> Text:
    """Printed after a new conversation so the person can continue it."""
    return Text(f"conversation: {conversation_id}  (continue with -c {conversation_id})", style="dim")
