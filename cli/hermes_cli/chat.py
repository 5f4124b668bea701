"""`hermes chat`, `hermes approve`, `hermes reject` and `hermes whoami`: talk to a running gateway.

Where to connect: flags first, then HERMES_URL / HERMES_API_TOKEN, then what the running
`hermes up` left in its state dir (up.json and api-token). The token says who you are: your own
(`hermes users add` prints it), else the local admin's `api-token`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from hermes_cli import paths
from hermes_cli.client import ClientFailure, Event, GatewayClient
from hermes_cli.render import conversation_hint, render_event

DEFAULT_URL = "http://127.0.0.1:8789"
EXIT_OK = 0
EXIT_TURN_FAILED = 1
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C


@dataclass
class Connection:
    url: str
    token: str | None


def resolve_connection(url: str | None, token: str | None, state_dir: Path | None = None) -> Connection:
    """URL and token: explicit, else environment, else the state dir of `hermes up`."""
    url = url or os.environ.get("HERMES_URL")
    token = token or os.environ.get("HERMES_API_TOKEN")
    if not url or not token:
        state = paths.resolve_state_dir(state_dir)
        if not url:
            info = paths.read_up_info(state) or {}
            url = str(info.get("url") or DEFAULT_URL)
        if not token:
            token = paths.read_secret(state / paths.API_TOKEN)
    return Connection(url=url, token=token)


class TurnPrinter:
    """Prints the events of turns: rendered with rich, or one raw JSON object per line."""

    def __init__(self, console: Console, as_json: bool) -> None:
        self.console = console
        self.as_json = as_json

    def __call__(self, event: Event) -> None:
        if self.as_json:
            # Plain write: rich would wrap or highlight, and a JSON line must stay one line.
            self.console.file.write(json.dumps(event, ensure_ascii=False) + "\n")
            self.console.file.flush()
            return
        for renderable in render_event(event):
            self.console.print(renderable)


async def _turn(client: GatewayClient, text: str, conversation_id: str | None,
                printer: TurnPrinter, timeout: float) -> tuple[str, Event]:
    accepted = await client.send_message(text, conversation_id)
    final = await client.follow_turn(accepted["conversation_id"], accepted["correlation_id"],
                                     str(accepted.get("cursor", "0")), printer, timeout)
    return accepted["conversation_id"], final


def _exit_code(final: Event) -> int:
    return EXIT_TURN_FAILED if final.get("kind") == "error" else EXIT_OK


def one_shot(conn: Connection, text: str, *, conversation_id: str | None, as_json: bool, timeout: float, console: Console, err_console: Console) -> int:
    """Send one message, print the turn's events, return the exit code."""
    printer = TurnPrinter(console, as_json)

    async def go() -> tuple[str, Event]:
        async with GatewayClient(conn.url, conn.token) as client:
            return await _turn(client, text, conversation_id, printer, timeout)

    try:
        conv, final = asyncio.run(go())
    except ClientFailure as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    except KeyboardInterrupt:
        err_console.print("[dim](stopped waiting; the request may still finish)[/]")
        return EXIT_INTERRUPTED
    if conversation_id is None and not as_json:
        console.print(conversation_hint(conv), soft_wrap=True)
    return _exit_code(final)


def repl(conn: Connection, *, conversation_id: str | None, as_json: bool,
         timeout: float, console: Console, err_console: Console) -> int:
    """Read-eval-print loop: one conversation across turns; /quit or Ctrl-D leaves.

    Each turn runs its own short event loop so that waiting for input never holds an open
    connection, and Ctrl-C at the prompt leaves cleanly.
    """
    printer = TurnPrinter(console, as_json)
    if not as_json:
        console.print(f"[dim]Talking to Hermes at {conn.url}. /quit or Ctrl-D to leave.[/]")
    last_code = EXIT_OK
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            if not as_json:
                console.print()
            break
        text = line.strip()
        if not text:
            continue
        if text in {"/quit", "/exit", "/q"}:
            break

        async def go(message: str = text, conv: str | None = conversation_id) -> tuple[str, Event]:
            async with GatewayClient(conn.url, conn.token) as client:
                return await _turn(client, message, conv, printer, timeout)

        try:
            conv, final = asyncio.run(go())
        except ClientFailure as err:
            err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
            if err.exit_code != EXIT_TURN_FAILED:  # unreachable: no point asking for more
                return err.exit_code
            last_code = err.exit_code
            continue
        except KeyboardInterrupt:
            err_console.print("[dim](stopped waiting; the request may still finish)[/]")
            continue
        if conversation_id is None and not as_json:
            console.print(conversation_hint(conv), soft_wrap=True)
        conversation_id = conv
        last_code = _exit_code(final)
        if final.get("kind") == "approval" and not as_json:
            console.print("[dim]Reply y to approve or n to reject.[/]")
    return last_code


def decide(conn: Connection, approval_id: str, decision: str, *, follow: bool,
           as_json: bool, timeout: float, console: Console, err_console: Console) -> int:
    """Approve or reject a pending approval; then show what happened (unless --no-wait)."""
    printer = TurnPrinter(console, as_json)

    async def go() -> tuple[dict, Event | None]:
        async with GatewayClient(conn.url, conn.token) as client:
            accepted = await client.decide(approval_id, decision)
            if not follow or not accepted.get("correlation_id") or not accepted.get("conversation_id"):
                return accepted, None
            if not as_json:
                done = "Approved" if decision == "approve" else "Rejected"
                console.print(f"[bold]{done}[/] {approval_id}.", highlight=False)
            final = await client.follow_turn(accepted["conversation_id"], accepted["correlation_id"],
                                             str(accepted.get("cursor", "0")), printer, timeout)
            return accepted, final

    try:
        accepted, final = asyncio.run(go())
    except ClientFailure as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    if final is None:
        if as_json:
            sys.stdout.write(json.dumps(accepted) + "\n")
        else:
            done = "Approval" if decision == "approve" else "Rejection"
            console.print(f"{done} of {approval_id} sent.", highlight=False)
        return EXIT_OK
    return _exit_code(final)


def whoami(conn: Connection, *, as_json: bool, console: Console, err_console: Console) -> int:
    """Print who the gateway takes the token for (`GET /v1/whoami`)."""

    async def go() -> dict:
        async with GatewayClient(conn.url, conn.token) as client:
            return await client.whoami()

    try:
        me = asyncio.run(go())
    except ClientFailure as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    if as_json:
        console.file.write(json.dumps(me, ensure_ascii=False) + "\n")
        console.file.flush()
        return EXIT_OK
    roles = ", ".join(str(r) for r in me.get("roles") or []) or "no role"
    console.print(f"{me.get('user')} ({roles}) at {conn.url}", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK
