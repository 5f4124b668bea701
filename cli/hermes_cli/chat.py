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
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from hermes_cli import paths
from hermes_cli.client import ApiError, ClientFailure, Event, GatewayClient, TurnTimeout
from hermes_cli.render import conversation_hint, render_block, render_decision, render_event

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


@dataclass(frozen=True)
class DecisionOutcome:
    """What the guard made of a decision."""

    outcome: str  # ran | failed | recorded | rejected | refused | taken
    text: str  # the final reply's text (the reason, for a refusal), or what the pending list shows

    @property
    def exit_code(self) -> int:
        return EXIT_TURN_FAILED if self.outcome in {"refused", "failed"} else EXIT_OK


def decision_outcome(decision: str, events: list[Event]) -> DecisionOutcome:
    """Classify a decision by its events (the guard's answer, then what ran).

    The guard answers a decision it takes with a progress event ("Approved by … Running …") before the
    plan's result; a refusal, a rejection, or the first approval of two is its one final reply."""
    replies = [e for e in events if e.get("type", "reply") == "reply"]
    final = replies[-1] if replies else {}
    text = str(final.get("text") or "")
    went_on = any(e.get("kind") == "progress" for e in replies[:-1])
    if final.get("kind") == "error":
        return DecisionOutcome("failed" if went_on and decision == "approve" else "refused", text)
    if decision == "reject":
        return DecisionOutcome("rejected", text)
    return DecisionOutcome("ran" if went_on else "recorded", text)


PENDING_POLL_SECONDS = 0.3


async def _watch_pending(client: GatewayClient, approval_id: str, decision: str, conversation_id: str,
                         timeout: float) -> DecisionOutcome:
    """The outcome as the pending list shows it, for a decider who may not read the approval's
    conversation (only its owner and admins may): recorded (still pending, with your approval), or
    taken (no longer pending). The guard's words and what ran stay in that conversation."""
    me = str((await client.whoami()).get("user") or "")
    deadline = time.monotonic() + timeout
    while True:
        listed = next((a for a in await client.approvals() if a.get("approval_id") == approval_id), None)
        if listed is None:
            verb = "approval" if decision == "approve" else "rejection"
            return DecisionOutcome("taken", f"the guard took your {verb}: {approval_id} is no longer pending. What "
                                            f"it ran shows in conversation {conversation_id}, which only its "
                                            "owner and admins can read")
        approved_by = [str(u) for u in listed.get("approved_by") or []]
        if decision == "approve" and me in approved_by:
            of = f" ({len(approved_by)} of 2)" if listed.get("two_person") else ""
            return DecisionOutcome("recorded", f"approved by {', '.join(approved_by)}{of}; {approval_id} waits for "
                                               "another approver")
        if time.monotonic() > deadline:
            raise TurnTimeout(timeout, conversation_id)
        await asyncio.sleep(PENDING_POLL_SECONDS)


def decide(conn: Connection, approval_id: str, decision: str, *, follow: bool,
           as_json: bool, timeout: float, console: Console, err_console: Console) -> int:
    """Approve or reject a pending approval; then follow the decision to the guard's answer and what ran,
    and say what came of it (unless --no-wait). Exit 1 when the guard refused it or the run failed."""
    printer = TurnPrinter(console, as_json)
    events: list[Event] = []

    def on_event(event: Event) -> None:
        events.append(event)
        if as_json or not event.get("final"):
            printer(event)  # the final reply is shown with the outcome, below

    async def go() -> tuple[dict, Event | None, DecisionOutcome | None]:
        async with GatewayClient(conn.url, conn.token) as client:
            accepted = await client.decide(approval_id, decision)
            conversation_id = accepted.get("conversation_id")
            if not follow or not accepted.get("correlation_id") or not conversation_id:
                return accepted, None, None
            try:
                final = await client.follow_turn(conversation_id, accepted["correlation_id"],
                                                 str(accepted.get("cursor", "0")), on_event, timeout)
            except ApiError as err:
                if err.status != 404:  # 404: an approver who may not read the approval's conversation
                    raise
                return accepted, None, await _watch_pending(client, approval_id, decision, conversation_id,
                                                            timeout)
            return accepted, final, decision_outcome(decision, events)

    try:
        accepted, final, result = asyncio.run(go())
    except ClientFailure as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return err.exit_code
    except KeyboardInterrupt:
        err_console.print(f"[dim](stopped waiting; the decision on {approval_id} was sent)[/]", highlight=False)
        return EXIT_INTERRUPTED
    if result is None:
        if as_json:
            sys.stdout.write(json.dumps(accepted) + "\n")
        else:
            done = "Approval" if decision == "approve" else "Rejection"
            console.print(f"{done} of {approval_id} sent.", highlight=False)
        return EXIT_OK
    if as_json:
        console.file.write(json.dumps({"type": "decision", "approval_id": approval_id, "decision": decision,
                                       "outcome": result.outcome, "text": result.text}, ensure_ascii=False) + "\n")
        console.file.flush()
        return result.exit_code
    if final is not None and result.outcome in {"ran", "rejected"}:
        printer(final)  # the plan's result (or the rejection), blocks and all
    elif final is not None:
        for block in final.get("blocks") or []:
            if isinstance(block, dict):
                console.print(render_block(block))
    console.print(render_decision(approval_id, decision, result.outcome, result.text), soft_wrap=True)
    return result.exit_code


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
