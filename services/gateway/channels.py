"""Chat-platform adapters: the interface the gateway calls, who may talk, and how replies are rendered.

Each adapter (Slack, Telegram, Discord) turns what a person writes or clicks into a call on an
`Inbound` (which the gateway publishes as a `ChatMessage` or an `ApprovalDecision`), and renders the
gateway's conversation events (the JSON that `conversations.reply_event` writes) back to its platform.

The rules every adapter keeps:

- **Who may talk** is a `ChannelPolicy` built from `channels.<platform>` of the config: `allowFrom`
  (users, `"*"` for anyone), per-channel rules (`allow`, `requireMention`, `users`) and a DM policy. A
  refused sender gets a refusal that says why and what to change; nothing is published. In a group
  channel an unmentioned message (when a mention is required) is ignored without a word.
- **Once**: every inbound delivery has a platform event id; the injected `seen(event_id)` coroutine
  (Redis `SET NX` in the gateway) says whether it came before, and a repeat is dropped.
- **Never cut beside a button**: content that does not fit one platform message is sent whole as a
  file, and the buttons go on a short message that says so (`plan_message`).
- **Buttons carry the approval id**: `encode_action` / `decode_action` (`hx:a:<id>` / `hx:r:<id>`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shlex
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Seen = Callable[[str], Awaitable[bool]]
"""`await seen(event_id)`: True when this event id was seen before (then the delivery is dropped)."""

Decision = Literal["approve", "reject"]
MAX_INBOUND_TEXT = 20_000  # ChatMessage.text's limit
MAX_WEBHOOK_BODY = 1024 * 1024


# ---------------------------------------------------------------------------------------------------
# The interface


@dataclass(frozen=True)
class DeliveryTarget:
    """Where a conversation's replies go on one platform.

    - Slack: `chat` = channel id (C…/D…/G…), `thread` = the thread's root `ts`, `team` = team id.
    - Telegram: `chat` = chat id, `thread` = forum topic (`message_thread_id`) if any,
      `reply_to` = the message id replies answer.
    - Discord: `chat` = channel id (a thread is a channel too), `reply_to` = the message id replies
      answer, `team` = guild id (None in a DM), `interaction_token` unused for delivery.
    """

    platform: str
    chat: str
    thread: str | None = None
    reply_to: str | None = None
    team: str | None = None

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryTarget:
        return cls(platform=str(data["platform"]), chat=str(data["chat"]),
                   thread=_opt(data.get("thread")), reply_to=_opt(data.get("reply_to")),
                   team=_opt(data.get("team")))


def _opt(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@runtime_checkable
class Inbound(Protocol):
    """What an adapter calls when a person writes or clicks (the gateway implements it)."""

    async def message(self, channel: str, conversation_key: str, user: str, text: str, event_id: str,
                      target: DeliveryTarget) -> None: ...

    async def decision(self, channel: str, conversation_key: str, user: str, approval_id: str,
                       decision: str, event_id: str, target: DeliveryTarget) -> None: ...


class DecisionRefused(Exception):
    """A click that cannot be taken (the approval expired or was decided); the message is for the person."""


@runtime_checkable
class ChannelAdapter(Protocol):
    """One chat platform.

    - `routes()`: its webhooks, served by every gateway replica (each request is signed).
    - `setup()`: once per replica at start-up, idempotent (e.g. registering a Telegram webhook).
    - `connection_key()`: a name for its long-lived connection (Socket Mode, long polling, Discord's
      gateway), or None when it has none. The gateway keeps one such connection per key across replicas:
      `start()` connects (on the replica holding the lease), `stop()` disconnects (the lease moved).
    - `deliver(target, event)`: send one conversation event; raises the SDK's exception on failure
      (the gateway's outbox reads it: rate limit, permanent refusal, or retry).
    - `close()`: at shutdown, release everything.
    """

    name: str

    async def deliver(self, target: DeliveryTarget, event: dict[str, Any]) -> None: ...

    def routes(self) -> list[tuple[str, str, Handler]]: ...

    async def setup(self) -> None: ...

    def connection_key(self) -> str | None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------------
# Pieces every webhook handler and connection uses

TIMESTAMP_TOLERANCE = 300  # seconds: a signed request older (or newer) than this is refused as a replay


def refuse(logger: logging.Logger, what: str, status: int, message: str) -> web.Response:
    """A JSON refusal `{"error": message}` that says what was wrong, logged as a warning."""
    logger.warning("%s refused: %s", what, message)
    return web.json_response({"error": message}, status=status)


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None when it is (or says it is) over `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = await request.content.read(limit + 1)
    return None if len(body) > limit else body


def stale(stamp: str, now: float, header: str) -> str | None:
    """Why a signed request's timestamp is refused (not a number, or over 5 minutes off), or None."""
    try:
        age = abs(now - int(stamp))
    except ValueError:
        return f"{header} is not a number"
    if age > TIMESTAMP_TOLERANCE:
        return f"{header} is more than 5 minutes off: refused as a possible replay"
    return None


async def cancel_task(task: asyncio.Task[Any] | None, logger: Any, what: str) -> None:
    """Cancel a background task and wait for it; an error it ended with is logged, not raised."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        logger.exception("%s ended with an error", what)


def token_key(platform: str, token: str) -> str:
    """A connection key that names a bot token without revealing it."""
    return f"{platform}:{hashlib.sha256(token.encode()).hexdigest()[:16]}"


class MemorySeen:
    """An in-process `seen` (bounded): for tests and a single gateway without Redis."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    async def __call__(self, event_id: str) -> bool:
        if event_id in self._ids:
            return True
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False


# ---------------------------------------------------------------------------------------------------
# Who may talk


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    silent: bool = False  # ignore without answering (an unmentioned message in a group channel)


@dataclass(frozen=True)
class ChannelRule:
    allow: bool | None = None
    require_mention: bool | None = None
    users: frozenset[str] = frozenset()


DmPolicy = Literal["open", "allowlist", "disabled"]
GroupPolicy = Literal["open", "allowlist", "disabled"]


@dataclass
class ChannelPolicy:
    """Who may talk to Hermes on one platform, and who may click Approve.

    - DMs: `dm_policy` "allowlist" (default): the user must be in `allow_from` (`"*"` = anyone);
      "open": anyone who can DM the bot; "disabled": no DMs.
    - Group channels: `group_policy` "allowlist" (default when channel rules exist): the channel must
      have a rule (or a `"*"` rule) whose `allow` is not false; "open" (default without rules): any
      channel the bot is in; "disabled": none. The sender must be in the rule's `users` if it has
      any, else in `allow_from` if that is set. A mention is required unless the rule says
      `requireMention: false`.
    - Approvals: `approvers` (from `execApprovals.approvers`, when enabled) if set, else anyone who may
      talk there. The guard checks approvers again; this only keeps strangers' clicks off the bus.
    """

    platform: str
    allow_from: frozenset[str] = frozenset()
    rules: dict[str, ChannelRule] = field(default_factory=dict)
    dm_policy: DmPolicy = "allowlist"
    group_policy: GroupPolicy | None = None
    approvers: frozenset[str] = frozenset()
    require_mention_default: bool = True

    # -- building from the config -------------------------------------------------------------------
    @classmethod
    def from_config(cls, platform: str, cfg: Any | None) -> ChannelPolicy:
        """From `channels.slack` / `channels.telegram` / `channels.discord` (hermes.config models)."""
        if cfg is None:
            return cls(platform=platform)
        extra = dict(getattr(cfg, "model_extra", None) or {})
        rules: dict[str, ChannelRule] = {}
        if platform == "slack":
            for cid, ch in (getattr(cfg, "channels", None) or {}).items():
                rules[str(cid)] = ChannelRule(ch.allow, ch.require_mention, frozenset(ch.users))
        elif platform == "telegram":
            for gid, raw in (extra.get("groups") or {}).items():
                rules[str(gid)] = _rule_from_raw(raw)
        elif platform == "discord":
            for gid, raw in (getattr(cfg, "guilds", None) or {}).items():
                if not isinstance(raw, Mapping):
                    continue
                guild_rule = _rule_from_raw(raw)
                rules[f"guild:{gid}"] = guild_rule
                for cid, ch in (raw.get("channels") or {}).items():
                    rule = _rule_from_raw(ch)
                    rules[str(cid)] = ChannelRule(
                        rule.allow if rule.allow is not None else guild_rule.allow,
                        rule.require_mention if rule.require_mention is not None else guild_rule.require_mention,
                        rule.users or guild_rule.users)
        approvals = getattr(cfg, "exec_approvals", None)
        approvers = frozenset(approvals.approvers) if approvals is not None and approvals.enabled else frozenset()
        dm = extra.get("dmPolicy")
        if dm is None and isinstance(extra.get("dm"), Mapping):
            dm = extra["dm"].get("policy")
        dm = "allowlist" if dm == "pairing" else dm  # OpenClaw's pairing: Hermes has no pairing; allow-list
        dm_policy: DmPolicy = dm if dm in ("open", "allowlist", "disabled") else "allowlist"
        group = extra.get("groupPolicy")
        return cls(platform=platform, allow_from=frozenset(str(u) for u in cfg.allow_from), rules=rules,
                   dm_policy=dm_policy, group_policy=group if group in ("open", "allowlist", "disabled") else None,
                   approvers=approvers)

    # -- deciding ------------------------------------------------------------------------------------
    def _config_key(self, key: str) -> str:
        return f"channels.{self.platform}.{key}"

    def _in(self, user: str, users: Iterable[str]) -> bool:
        users = set(users)
        return "*" in users or user in users

    def rule_for(self, chat: str, team: str | None = None) -> ChannelRule | None:
        return self.rules.get(chat) or (self.rules.get(f"guild:{team}") if team else None) or self.rules.get("*")

    def check(self, user: str, chat: str, *, is_dm: bool, mentioned: bool, team: str | None = None) -> Verdict:
        """May `user` talk to Hermes in `chat`? A refusal's reason is meant for the person."""
        if is_dm:
            if self.dm_policy == "disabled":
                return Verdict(False, f"Direct messages to Hermes are switched off here "
                                      f"({self._config_key('dmPolicy')} is \"disabled\"). Ask in a channel.")
            if self.dm_policy == "open" or self._in(user, self.allow_from):
                return Verdict(True)
            return Verdict(False, f"You are not on Hermes's allow-list for {self.platform} (your id: {user}). "
                                  f"An operator can add it to {self._config_key('allowFrom')}.")
        rule = self.rule_for(chat, team)
        policy = self.group_policy or ("allowlist" if self.rules else "open")
        require_mention = self.require_mention_default
        if rule is not None and rule.require_mention is not None:
            require_mention = rule.require_mention
        if require_mention and not mentioned:
            return Verdict(False, "not mentioned", silent=True)
        if policy == "disabled":
            return Verdict(False, f"Hermes does not answer in group channels here "
                                  f"({self._config_key('groupPolicy')} is \"disabled\"). Send a direct message.")
        if rule is not None and rule.allow is False:
            return Verdict(False, f"Hermes is not enabled in this channel ({chat}); an operator can allow it "
                                  f"in {self._config_key('channels')}.")
        if policy == "allowlist" and rule is None:
            return Verdict(False, f"Hermes is not enabled in this channel ({chat}); an operator can add it "
                                  f"to {self._config_key('channels')}.")
        if rule is not None and rule.users:
            if self._in(user, rule.users):
                return Verdict(True)
            return Verdict(False, f"You are not on this channel's Hermes user list (your id: {user}).")
        if self.allow_from and not self._in(user, self.allow_from):
            return Verdict(False, f"You are not on Hermes's allow-list for {self.platform} (your id: {user}). "
                                  f"An operator can add it to {self._config_key('allowFrom')}.")
        return Verdict(True)

    def may_decide(self, user: str, chat: str, *, is_dm: bool, team: str | None = None) -> Verdict:
        """May `user` click Approve / Reject here?"""
        if self.approvers:
            if self._in(user, self.approvers):
                return Verdict(True)
            return Verdict(False, f"Only the configured approvers may approve or reject "
                                  f"({self._config_key('execApprovals.approvers')}); your id: {user}.")
        verdict = self.check(user, chat, is_dm=is_dm, mentioned=True, team=team)
        return verdict if verdict.allowed else Verdict(False, verdict.reason)


def _rule_from_raw(raw: Any) -> ChannelRule:
    if not isinstance(raw, Mapping):
        return ChannelRule(allow=bool(raw) if isinstance(raw, bool) else None)
    users = raw.get("users") or raw.get("allowFrom") or []
    if isinstance(users, str):
        users = [u.strip() for u in users.split(",") if u.strip()]
    allow = raw.get("allow", raw.get("enabled"))
    mention = raw.get("requireMention")
    return ChannelRule(allow if isinstance(allow, bool) else None,
                       mention if isinstance(mention, bool) else None,
                       frozenset(str(u) for u in users))


# ---------------------------------------------------------------------------------------------------
# Button payloads

ACTION_PREFIX = "hx"
_CODES = {"approve": "a", "reject": "r"}
_DECISIONS = {v: k for k, v in _CODES.items()}


def encode_action(decision: str, approval_id: str, limit: int | None = None) -> str:
    """`hx:a:<approval_id>` / `hx:r:<approval_id>`; ValueError if longer than `limit` bytes."""
    if decision not in _CODES:
        raise ValueError(f"decision must be approve or reject, not {decision!r}")
    payload = f"{ACTION_PREFIX}:{_CODES[decision]}:{approval_id}"
    if limit is not None and len(payload.encode()) > limit:
        raise ValueError(f"button payload is {len(payload.encode())} bytes, over {limit}")
    return payload


def decode_action(payload: str | None) -> tuple[Decision, str] | None:
    """(decision, approval_id) from a button payload, or None when it is not a Hermes button."""
    if not payload:
        return None
    parts = payload.split(":", 2)
    if len(parts) != 3 or parts[0] != ACTION_PREFIX or parts[1] not in _DECISIONS or not parts[2]:
        return None
    return _DECISIONS[parts[1]], parts[2]  # type: ignore[return-value]


class ShortRefs:
    """Maps an approval id too long for a button payload to a short reference (Telegram's 64 bytes).

    In memory and bounded: an approval outliving a restart is still decided by `approve <id>` or the HTTP API.
    """

    def __init__(self, size: int = 4096) -> None:
        self._refs: OrderedDict[str, str] = OrderedDict()
        self._size = size

    def shorten(self, approval_id: str, budget: int) -> str:
        if len(approval_id.encode()) <= budget:
            return approval_id
        ref = "~" + hashlib.sha256(approval_id.encode()).hexdigest()[:20]
        self._refs[ref] = approval_id
        while len(self._refs) > self._size:
            self._refs.popitem(last=False)
        return ref

    def resolve(self, ref: str) -> str | None:
        if ref.startswith("~"):
            return self._refs.get(ref)
        return ref


# ---------------------------------------------------------------------------------------------------
# Rendering


def format_table(columns: list[str], rows: list[list[Any]]) -> str:
    """A table as aligned monospace text."""
    cells = [[str(c) for c in columns]] + [[("" if v is None else str(v)) for v in row] for row in rows]
    width = max((len(r) for r in cells), default=0)
    cells = [r + [""] * (width - len(r)) for r in cells]
    sizes = [max(len(r[i]) for r in cells) for i in range(width)]
    lines = ["  ".join(v.ljust(sizes[i]) for i, v in enumerate(r)).rstrip() for r in cells]
    if columns:
        lines.insert(1, "  ".join("-" * s for s in sizes))
    return "\n".join(lines)


def command_line(argv: list[str]) -> str:
    """The exact command a step runs, as a person would type it (`ankra …`, shell-quoted for reading)."""
    return shlex.join(["ankra", *[str(a) for a in argv]])


@dataclass(frozen=True)
class Part:
    """One piece of a reply: prose, a code block or a table (already flattened to monospace)."""

    kind: Literal["text", "code"]
    text: str
    title: str = ""
    language: str = ""


@dataclass
class Rendered:
    """A conversation event, ready to render on a platform."""

    event_id: str
    kind: str
    parts: list[Part]
    approval: dict[str, Any] | None
    final: bool

    def plain(self) -> str:
        """The whole content as plain text (Markdown code fences): what goes into a file."""
        out: list[str] = []
        for part in self.parts:
            if part.kind == "text":
                out.append(part.text)
            else:
                out.append((f"{part.title}\n" if part.title else "") + f"```{part.language}\n{part.text}\n```")
        return "\n\n".join(p for p in out if p)


def render_event(event: Mapping[str, Any]) -> Rendered:
    """The gateway's event JSON (`reply_event`) as parts; an approval adds its summary, commands, risks."""
    parts: list[Part] = []
    text = str(event.get("text") or "").strip()
    approval = event.get("approval")
    if text and not approval:
        parts.append(Part("text", text))
    for block in event.get("blocks") or []:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            parts.append(Part("text", str(block["text"])))
        elif kind == "code":
            parts.append(Part("code", str(block.get("text", "")), language=str(block.get("language") or "")))
        elif kind == "table":
            parts.append(Part("code", format_table(list(block.get("columns") or []), list(block.get("rows") or [])),
                              title=str(block.get("title") or "")))
    if approval:
        # The draft and bill of materials (the blocks) first; the question, commands and expiry last.
        if text:
            parts.append(Part("text", text))
        if approval.get("summary") and approval["summary"].strip() != text:
            parts.append(Part("text", str(approval["summary"])))
        steps = approval.get("steps") or []
        parts.append(Part("code", "\n".join(command_line(s) for s in steps),
                          title=f"Commands that will run ({len(steps)}), exactly:"))
        if approval.get("risks"):
            parts.append(Part("text", "Risks:\n" + "\n".join(f"• {r}" for r in approval["risks"])))
        expiry = approval.get("expires_at")
        footer = f"Approval {approval.get('approval_id')}"
        if expiry:
            footer += f" expires at {_when(expiry)}"
        parts.append(Part("text", footer + "."))
    return Rendered(event_id=str(event.get("id") or ""), kind=str(event.get("kind") or "answer"), parts=parts,
                    approval=approval or None, final=bool(event.get("final")))


def _when(value: Any) -> str:
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment.strftime("%Y-%m-%d %H:%M UTC") if moment.tzinfo else moment.isoformat()
    except ValueError:
        return str(value)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: str
    title: str

    @property
    def data(self) -> bytes:
        return self.content.encode("utf-8")


def attachment_for(rendered: Rendered) -> Attachment:
    """The whole content of an event as a Markdown file."""
    if rendered.approval:
        name = f"approval-{_safe(rendered.approval.get('approval_id', 'preview'))}.md"
        title = "Full preview of the approval"
    else:
        name = f"reply-{_safe(rendered.event_id or 'hermes')}.md"
        title = "Full reply"
    return Attachment(filename=name, content=rendered.plain() + "\n", title=title)


def _safe(value: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in str(value))[:64] or "hermes"


def short_notice(rendered: Rendered, attachment: Attachment) -> str:
    """The short message that goes beside the buttons when the content went into a file."""
    size = len(attachment.content)
    if rendered.approval:
        summary = str(rendered.approval.get("summary") or "").strip()
        steps = rendered.approval.get("steps") or []
        lead = summary if 0 < len(summary) <= 300 else "An approval is waiting."
        return (f"{lead}\nThe full preview ({len(steps)} command(s), {size:,} characters) is in the attached "
                f"file {attachment.filename}: read it before you approve. Nothing was cut.\n"
                f"Approval {rendered.approval.get('approval_id')}.")
    return f"The reply is {size:,} characters, too long for one message: it is in the attached file " \
           f"{attachment.filename}."


def approval_id_of(rendered: Rendered) -> str | None:
    return str(rendered.approval["approval_id"]) if rendered.approval and rendered.approval.get("approval_id") \
        else None


def decision_note(decision: str, user_mention: str) -> str:
    return f"{'Approved' if decision == 'approve' else 'Rejected'} by {user_mention}." + (
        " Running it now; the result follows here." if decision == "approve" else " Nothing will run.")
