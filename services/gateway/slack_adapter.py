"""Slack, through slack-bolt: Socket Mode (bot + app token) or the HTTP Events API (signing secret).

In: `message` events (DMs, and channel messages that mention the bot where a mention is required) →
`Inbound.message`, keyed `slack:<team>:<channel>:<thread_ts>`; clicks on the Approve / Reject buttons
(`block_actions`) → `Inbound.decision`. Each delivery is taken once: a message by its
`team:channel:ts` (so Slack's retries, `X-Slack-Retry-Num`, and the `message` + `app_mention` pair
count once), a click by its `trigger_id`.

Out: replies in the thread as Block Kit (sections of mrkdwn, code and tables in code fences); an
approval adds the exact commands and an actions block with Approve / Reject whose `value` carries the
approval id. Content that does not fit (3,000 characters a section, 50 blocks, or more than
`inline_limit` characters beside buttons) is uploaded whole as a file into the thread, and the
buttons go on a short message that says so. Nothing is ever cut.

The HTTP route (`POST /slack/events`, for events and interactivity alike) checks the size, the
`X-Slack-Request-Timestamp` (5 minutes) and the v0 `X-Slack-Signature` itself, to refuse with a
clear reason, before Bolt sees the request (Bolt checks the signature again).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from hermes_gateway.channels import (
    MAX_INBOUND_TEXT,
    ChannelPolicy,
    DecisionRefused,
    DeliveryTarget,
    Handler,
    Inbound,
    Rendered,
    Seen,
    attachment_for,
    decision_note,
    decode_action,
    encode_action,
    read_limited,
    refuse,
    render_event,
    short_notice,
    stale,
    token_key,
)
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("hermes.gateway.slack")

SECTION_LIMIT = 3000        # a section block's text
MAX_BLOCKS = 50             # blocks in one message
MESSAGE_LIMIT = 40_000      # a message's text
INLINE_LIMIT = 12_000       # beyond this an approval preview goes into a file, however it would split
MAX_BODY = 256 * 1024
ACTION_IDS = re.compile(r"^hermes_(approve|reject)$")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def escape(text: str) -> str:
    """Slack mrkdwn escaping: only &, < and > are special."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fence(text: str) -> str:
    return f"```\n{escape(text)}\n```"


def _sections(text: str, code: bool) -> list[dict[str, Any]]:
    """`text` as sections of at most 3,000 characters each, split at line ends (never dropped)."""
    budget = SECTION_LIMIT - (10 if code else 0)
    chunks: list[str] = []
    current = ""
    for line in escape(text).split("\n"):
        while len(line) > budget:  # one very long line: split it, whole
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:budget])
            line = line[budget:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > budget:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": f"```\n{c}\n```" if code else (c or " ")}}
            for c in chunks]


def content_blocks(rendered: Rendered) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in rendered.parts:
        if part.title:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(part.title)}*"}})
        blocks.extend(_sections(part.text, code=part.kind == "code"))
    return blocks


def approval_actions(approval_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "hermes_approval",
        "elements": [
            {"type": "button", "action_id": "hermes_approve", "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"}, "value": encode_action("approve", approval_id),
             "confirm": {"title": {"type": "plain_text", "text": "Run these commands?"},
                         "text": {"type": "mrkdwn", "text": "The exact commands shown above will run."},
                         "confirm": {"type": "plain_text", "text": "Approve"},
                         "deny": {"type": "plain_text", "text": "Cancel"}}},
            {"type": "button", "action_id": "hermes_reject", "style": "danger",
             "text": {"type": "plain_text", "text": "Reject"}, "value": encode_action("reject", approval_id)},
        ],
    }


class SlackAdapter:
    """Slack for the gateway. `routes()` for the Events API; `start()` for Socket Mode."""

    name = "slack"

    def __init__(self, *, inbound: Inbound, seen: Seen, policy: ChannelPolicy, bot_token: str,
                 signing_secret: str | None = None, app_token: str | None = None, mode: str | None = None,
                 client: AsyncWebClient | None = None, path: str = "/slack/events",
                 clock: Callable[[], float] = time.time) -> None:
        self.inbound = inbound
        self.seen = seen
        self.policy = policy
        self.signing_secret = signing_secret
        self.app_token = app_token
        self.mode = mode or ("socket" if app_token else "http")
        self.path = path
        self.clock = clock
        self.client = client or AsyncWebClient(token=bot_token)
        if self.client.token is None:
            self.client.token = bot_token
        self.app = AsyncApp(client=self.client, signing_secret=signing_secret,
                            request_verification_enabled=signing_secret is not None,
                            raise_error_for_unhandled_request=False, name="hermes",
                            # answer Slack only once the message is on the bus: a crash before that
                            # leaves Slack to retry it instead of losing it
                            process_before_response=True)
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_mention)
        self.app.action(ACTION_IDS)(self._on_action)
        self._socket: Any = None

    @classmethod
    def from_config(cls, cfg: Any, *, inbound: Inbound, seen: Seen, **kwargs: Any) -> SlackAdapter:
        """From `channels.slack` (hermes.config.SlackConfig; flat chart values are already mapped in)."""
        secret = lambda v: v.get_secret_value() if v is not None else None
        return cls(inbound=inbound, seen=seen, policy=ChannelPolicy.from_config("slack", cfg),
                   bot_token=secret(cfg.bot_token), signing_secret=secret(cfg.signing_secret),
                   app_token=secret(cfg.app_token), mode=cfg.mode, **kwargs)

    # -- lifecycle -----------------------------------------------------------------------------------
    async def setup(self) -> None:
        if self.mode == "socket" and not self.app_token:
            raise RuntimeError("Slack Socket Mode needs an app-level token (channels.slack.appToken, xapp-…)")
        if self.mode == "http" and not self.signing_secret:
            raise RuntimeError("the Slack Events API needs the app's signing secret (channels.slack.signingSecret); "
                               "or use Socket Mode with an app-level token (channels.slack.appToken)")

    def connection_key(self) -> str | None:
        return token_key("slack", self.app_token) if self.mode == "socket" and self.app_token else None

    async def close(self) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.mode != "socket":
            return
        if not self.app_token:
            raise RuntimeError("Slack Socket Mode needs an app-level token (channels.slack.appToken, xapp-…)")
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        self._socket = AsyncSocketModeHandler(self.app, self.app_token, web_client=self.client)
        await self._socket.connect_async()

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None

    # -- HTTP (Events API and interactivity) -----------------------------------------------------
    def routes(self) -> list[tuple[str, str, Handler]]:
        if self.mode == "socket":
            return []
        return [("POST", self.path, self.handle_http)]

    def _refuse(self, status: int, message: str) -> web.Response:
        return refuse(log, "slack request", status, message)

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        if not self.signing_secret:
            return self._refuse(503, "the Slack signing secret is not configured (channels.slack.signingSecret); "
                                     "Hermes refuses unsigned Slack requests")
        body = await read_limited(request, MAX_BODY)
        if body is None:
            return self._refuse(413, f"request body over {MAX_BODY} bytes")
        stamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not stamp or not signature:
            return self._refuse(401, "missing X-Slack-Signature or X-Slack-Request-Timestamp: not a signed "
                                     "request from Slack")
        why = stale(stamp, self.clock(), "X-Slack-Request-Timestamp")
        if why:
            return self._refuse(401, why)
        basestring = b"v0:" + stamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self.signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return self._refuse(401, "invalid X-Slack-Signature: the body was not signed with this app's "
                                     "signing secret")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse(400, "the body is not UTF-8")
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    # -- inbound -------------------------------------------------------------------------------------
    async def _on_mention(self, ack: Any = None) -> None:
        # The same message also arrives as a `message` event, which is the one handled.
        return None

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, joins, bots (and Hermes itself)
        team = str(body.get("team_id") or event.get("team") or context.get("team_id") or "")
        channel = str(event.get("channel", ""))
        user = str(event["user"])
        ts = str(event.get("ts", ""))
        thread_ts = str(event.get("thread_ts") or ts)
        is_dm = event.get("channel_type") == "im" or channel.startswith("D")
        bot_user = context.get("bot_user_id")
        raw_text = str(event.get("text") or "")
        mentioned = bool(bot_user) and f"<@{bot_user}>" in raw_text
        text = re.sub(rf"<@{re.escape(bot_user)}(?:\|[^>]*)?>", "", raw_text).strip() if bot_user else raw_text
        target = DeliveryTarget("slack", channel, thread=thread_ts, team=team or None)
        verdict = self.policy.check(user, channel, is_dm=is_dm, mentioned=mentioned)
        if verdict.silent:
            return
        if await self.seen(f"slack:{team}:{channel}:{ts}"):
            log.info("slack message %s:%s seen before: dropped", channel, ts)
            return
        if not verdict.allowed:
            await self._tell(target, user, verdict.reason, ephemeral=not is_dm)
            return
        if not text:
            await self._tell(target, user, "Say what you need after the mention, e.g. `@Hermes list clusters`.",
                             ephemeral=not is_dm)
            return
        if len(text) > MAX_INBOUND_TEXT:
            await self._tell(target, user, f"That message is {len(text):,} characters; Hermes takes at most "
                                           f"{MAX_INBOUND_TEXT:,}. Nothing was sent.", ephemeral=not is_dm)
            return
        try:
            await self.inbound.message(channel="slack", conversation_key=f"slack:{team}:{channel}:{thread_ts}",
                                       user=user, text=text, event_id=str(body.get("event_id") or ts),
                                       target=target)
        except Exception as err:  # not queued: say so rather than stay silent
            log.exception("slack message not queued")
            await self._tell(target, user, f"Hermes could not take your message ({err}); try again shortly.",
                             ephemeral=not is_dm)

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        parsed = decode_action(action.get("value"))
        if parsed is None:
            return
        decision, approval_id = parsed
        user = str((body.get("user") or {}).get("id", ""))
        team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
        channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
        container = body.get("container") or {}
        message = body.get("message") or {}
        message_ts = str(container.get("message_ts") or message.get("ts") or "")
        thread_ts = str(container.get("thread_ts") or message.get("thread_ts") or message_ts)
        target = DeliveryTarget("slack", channel, thread=thread_ts, team=team or None)
        event_id = f"slack:click:{body.get('trigger_id') or action.get('action_ts')}"
        if await self.seen(event_id):
            return
        verdict = self.policy.may_decide(user, channel, is_dm=channel.startswith("D"))
        if not verdict.allowed:
            await self._tell(target, user, verdict.reason, ephemeral=True)
            return
        try:
            await self.inbound.decision(channel="slack", conversation_key=f"slack:{team}:{channel}:{thread_ts}",
                                        user=user, approval_id=approval_id, decision=decision,
                                        event_id=event_id, target=target)
        except DecisionRefused as err:  # expired or already decided: say so, the buttons are done
            await self._tell(target, user, str(err), ephemeral=True)
            return
        except Exception as err:  # the decision did not reach Hermes: keep the buttons, say so
            log.exception("slack decision not recorded")
            await self._tell(target, user, f"Your decision was not recorded ({err}); the buttons still work, "
                                           f"try again.", ephemeral=True)
            return
        if message_ts and message.get("blocks") is not None:
            blocks = [b for b in message["blocks"] if b.get("type") != "actions"]
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": decision_note(decision, f"<@{user}>")}]})
            try:
                await self.client.chat_update(channel=channel, ts=message_ts, blocks=blocks,
                                              text=decision_note(decision, f"<@{user}>"))
            except Exception:
                log.exception("slack: could not update the approval message")

    async def _tell(self, target: DeliveryTarget, user: str, text: str, *, ephemeral: bool) -> None:
        try:
            if ephemeral:
                await self.client.chat_postEphemeral(channel=target.chat, user=user, text=text,
                                                     thread_ts=target.thread)
            else:
                await self.client.chat_postMessage(channel=target.chat, text=text, thread_ts=target.thread)
        except Exception:
            log.exception("slack: could not send a notice")

    # -- outbound ------------------------------------------------------------------------------------
    async def deliver(self, target: DeliveryTarget, event: dict[str, Any]) -> None:
        if event.get("type") == "message":
            return  # the person's own message: already in Slack
        rendered = render_event(event)
        approval_id = str(rendered.approval["approval_id"]) if rendered.approval else None
        blocks = content_blocks(rendered)
        total = sum(len(b["text"]["text"]) for b in blocks)
        fits = len(blocks) + (1 if approval_id else 0) <= MAX_BLOCKS and total <= MESSAGE_LIMIT
        if approval_id and total > INLINE_LIMIT:
            fits = False
        if not blocks and not approval_id:
            return
        if fits:
            if approval_id:
                blocks.append(approval_actions(approval_id))
            await self.client.chat_postMessage(channel=target.chat, thread_ts=target.thread, blocks=blocks,
                                               text=self._fallback(rendered), unfurl_links=False)
            return
        attachment = attachment_for(rendered)
        await self.client.files_upload_v2(channel=target.chat, thread_ts=target.thread, content=attachment.content,
                                          filename=attachment.filename, title=attachment.title)
        notice = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(short_notice(rendered, attachment))}}]
        if approval_id:
            notice.append(approval_actions(approval_id))
        await self.client.chat_postMessage(channel=target.chat, thread_ts=target.thread, blocks=notice,
                                           text=short_notice(rendered, attachment))

    @staticmethod
    def _fallback(rendered: Rendered) -> str:
        """The notification text (not shown beside the blocks): a whole sentence, never a cut preview."""
        if rendered.approval:
            return f"Hermes asks for approval {rendered.approval.get('approval_id')}: open Slack to read it."
        first = rendered.parts[0].text if rendered.parts else ""
        return first if len(first) <= 300 else "Hermes replied: open Slack to read it."


def sign(secret: str, body: bytes | str, timestamp: int | str) -> dict[str, str]:
    """Headers Slack would send for `body` (for tests and local tools)."""
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(secret.encode(), b"v0:" + str(timestamp).encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


__all__ = ["SlackAdapter", "approval_actions", "content_blocks", "escape", "sign"]
