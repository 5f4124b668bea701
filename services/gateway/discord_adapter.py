"""Discord: discord.py for messages (the gateway connection) and for sending (REST); the signed
interactions endpoint (Ed25519) for the Approve / Reject buttons and the `/hermes` command.

In: a message in a DM, or in a server channel that mentions the bot (unless the channel's rule says
no mention is needed) → `Inbound.message`, keyed `discord:<guild|dm>:<channel>` (a thread is a channel);
`/hermes text:<…>` → `Inbound.message`; a button click → `Inbound.decision`. Each is taken once: a
message by its id, an interaction by its id.

Out: Markdown with mentions switched off (`allowed_mentions` none), code and tables in code fences;
an approval adds the exact commands and two buttons whose `custom_id` carries the approval id. A
message over 2,000 characters goes whole as an attachment, and the buttons stay on a short message
that says the preview is in the file. Nothing is ever cut.

The interactions route checks size, `X-Signature-Timestamp` (5 minutes) and the Ed25519
`X-Signature-Ed25519` over timestamp + body with the application's public key; a bad one gets 401, as
Discord requires. PING gets PONG.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import discord
from aiohttp import web
from discord.http import handle_message_parameters
from hermes_gateway.channels import (
    MAX_INBOUND_TEXT,
    ChannelPolicy,
    DecisionRefused,
    DeliveryTarget,
    Handler,
    Inbound,
    Rendered,
    Seen,
    ShortRefs,
    attachment_for,
    cancel_task,
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
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

log = logging.getLogger("hermes.gateway.discord")

MESSAGE_LIMIT = 2000
CUSTOM_ID_LIMIT = 100
MAX_BODY = 256 * 1024
EPHEMERAL = 64

# Interaction types and callback types (Discord's documented numbers).
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT = 1, 2, 3
PONG, CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 1, 4, 6, 7

HERMES_COMMAND = {
    "name": "hermes",
    "type": 1,
    "description": "Ask Hermes (the Ankra infrastructure agent)",
    "options": [{"type": 3, "name": "text", "description": "what you need, e.g. list my clusters",
                 "required": True, "max_length": 6000}],
}


def fence(text: str, language: str = "") -> str:
    """A code block that cannot be closed early by ``` in its text."""
    safe = text.replace("```", "`\u200b``")
    return f"```{language}\n{safe}\n```"


def to_markdown(rendered: Rendered) -> str:
    out: list[str] = []
    for part in rendered.parts:
        title = f"**{discord.utils.escape_markdown(part.title)}**\n" if part.title else ""
        out.append(title + (fence(part.text, part.language) if part.kind == "code" else part.text))
    return "\n\n".join(out)


class DiscordAdapter:
    """Discord for the gateway. `routes()` for interactions; `start()` logs in and connects."""

    name = "discord"

    def __init__(self, *, inbound: Inbound, seen: Seen, policy: ChannelPolicy, token: str,
                 public_key: str | None = None, application_id: str | None = None, gateway: bool = True,
                 path: str = "/discord/interactions", clock: Callable[[], float] = time.time) -> None:
        self.inbound = inbound
        self.seen = seen
        self.policy = policy
        self.token = token
        self.public_key = public_key
        self.application_id = application_id
        self.gateway = gateway
        self.path = path
        self.clock = clock
        self.refs = ShortRefs()
        self._verify_key = VerifyKey(bytes.fromhex(public_key)) if public_key else None
        self.client = self._new_client()
        self._task: asyncio.Task[None] | None = None
        self._logged_in = False

    def _new_client(self) -> discord.Client:
        intents = discord.Intents.none()
        intents.guilds = intents.guild_messages = intents.dm_messages = intents.message_content = True
        client = discord.Client(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        client.on_message = self._on_message  # type: ignore[attr-defined]  # what client.event does
        return client

    @classmethod
    def from_config(cls, cfg: Any, *, inbound: Inbound, seen: Seen, **kwargs: Any) -> DiscordAdapter:
        """From `channels.discord` (hermes.config.DiscordConfig; `config.discordToken` mapped in)."""
        return cls(inbound=inbound, seen=seen, policy=ChannelPolicy.from_config("discord", cfg),
                   token=cfg.token.get_secret_value(), public_key=cfg.public_key,
                   application_id=cfg.application_id, **kwargs)

    # -- lifecycle -----------------------------------------------------------------------------------
    async def login(self) -> None:
        if not self._logged_in:
            await self.client.login(self.token)
            self._logged_in = True

    async def setup(self) -> None:
        """Nothing each replica must do; `register_command` (the `/hermes` command) is run once by hand."""

    def connection_key(self) -> str | None:
        return token_key("discord", self.token) if self.gateway else None

    async def start(self) -> None:
        await self.login()
        if self.gateway:
            self._task = asyncio.create_task(self.client.connect(reconnect=True))

    async def stop(self) -> None:
        """Disconnect from Discord's gateway; sending (REST) logs in again with a fresh client."""
        await self.close()
        self.client = self._new_client()
        self._logged_in = False

    async def close(self) -> None:
        await self.client.close()
        await cancel_task(self._task, log, "the discord gateway connection")
        self._task = None

    async def register_command(self) -> None:
        """Create (or update) the global `/hermes` command for this application."""
        await self.login()
        app_id = self.application_id or str(self.client.application_id)
        await self.client.http.upsert_global_command(app_id, HERMES_COMMAND)

    # -- gateway messages ----------------------------------------------------------------------------
    async def _on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        me = self.client.user
        guild_id = message.guild.id if message.guild else getattr(message.channel, "guild_id", None)
        is_dm = guild_id is None  # a guild not (yet) in the cache still has its id on the channel
        mentioned = me is not None and any(u.id == me.id for u in message.mentions)
        text = message.content
        if me is not None:
            text = re.sub(rf"<@!?{me.id}>", "", text).strip()
        guild = str(guild_id) if guild_id is not None else None
        channel = str(message.channel.id)
        target = DeliveryTarget("discord", channel, reply_to=str(message.id), team=guild)
        verdict = self.policy.check(str(message.author.id), channel, is_dm=is_dm, mentioned=mentioned, team=guild)
        if verdict.silent:
            return
        if await self.seen(f"discord:message:{message.id}"):
            return
        if not verdict.allowed:
            await self._say(target, verdict.reason)
            return
        if not text:
            await self._say(target, "Say what you need after the mention, e.g. `@Hermes list my clusters`.")
            return
        if len(text) > MAX_INBOUND_TEXT:
            await self._say(target, f"That message is {len(text):,} characters; Hermes takes at most "
                                    f"{MAX_INBOUND_TEXT:,}. Nothing was sent.")
            return
        try:
            await self.inbound.message(channel="discord", conversation_key=self._key(guild, channel),
                                       user=str(message.author.id), text=text,
                                       event_id=f"discord:message:{message.id}", target=target)
        except Exception as err:
            log.exception("discord message not queued")
            await self._say(target, f"Hermes could not take your message ({err}); try again shortly.")

    @staticmethod
    def _key(guild: str | None, channel: str) -> str:
        return f"discord:{guild or 'dm'}:{channel}"

    # -- interactions --------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", self.path, self.handle_interaction)] if self.public_key else []

    def _refuse(self, status: int, message: str) -> web.Response:
        return refuse(log, "discord interaction", status, message)

    async def handle_interaction(self, request: web.Request) -> web.StreamResponse:
        if self._verify_key is None:
            return self._refuse(503, "channels.discord.publicKey is not set; Hermes refuses unsigned interactions")
        body = await read_limited(request, MAX_BODY)
        if body is None:
            return self._refuse(413, f"interaction over {MAX_BODY} bytes")
        signature = request.headers.get("X-Signature-Ed25519", "")
        stamp = request.headers.get("X-Signature-Timestamp", "")
        if not signature or not stamp:
            return self._refuse(401, "missing X-Signature-Ed25519 or X-Signature-Timestamp: not a signed "
                                     "interaction from Discord")
        try:
            self._verify_key.verify(stamp.encode() + body, bytes.fromhex(signature))
        except (BadSignatureError, ValueError):
            return self._refuse(401, "invalid request signature (X-Signature-Ed25519)")
        why = stale(stamp, self.clock(), "X-Signature-Timestamp")
        if why:
            return self._refuse(401, why)
        try:
            payload = json.loads(body)
        except ValueError:
            return self._refuse(400, "the body is not JSON")
        kind = payload.get("type")
        if kind == PING:
            return web.json_response({"type": PONG})
        if kind not in (APPLICATION_COMMAND, MESSAGE_COMPONENT):
            return self._refuse(400, f"interaction type {kind!r} is not one Hermes handles")
        if await self.seen(f"discord:interaction:{payload.get('id')}"):
            return web.json_response({"type": DEFERRED_UPDATE} if kind == MESSAGE_COMPONENT else
                                     _ephemeral("Already received."))
        if kind == APPLICATION_COMMAND:
            return web.json_response(await self._command(payload))
        return web.json_response(await self._component(payload))

    @staticmethod
    def _who(payload: dict[str, Any]) -> dict[str, Any]:
        return (payload.get("member") or {}).get("user") or payload.get("user") or {}

    async def _command(self, payload: dict[str, Any]) -> dict[str, Any]:
        data = payload.get("data") or {}
        if data.get("name") != "hermes":
            return _ephemeral(f"Hermes has no /{data.get('name')} command.")
        text = next((str(o.get("value", "")) for o in data.get("options") or [] if o.get("name") == "text"), "").strip()
        user = str(self._who(payload).get("id", ""))
        guild = _opt(payload.get("guild_id"))
        channel = str(payload.get("channel_id") or (payload.get("channel") or {}).get("id") or "")
        verdict = self.policy.check(user, channel, is_dm=guild is None, mentioned=True, team=guild)
        if not verdict.allowed:
            return _ephemeral(verdict.reason)
        if not text:
            return _ephemeral("Say what you need: `/hermes text: list my clusters`.")
        if len(text) > MAX_INBOUND_TEXT:
            return _ephemeral(f"That is {len(text):,} characters; Hermes takes at most {MAX_INBOUND_TEXT:,}.")
        target = DeliveryTarget("discord", channel, team=guild)
        try:
            await self.inbound.message(channel="discord", conversation_key=self._key(guild, channel), user=user,
                                       text=text, event_id=f"discord:interaction:{payload.get('id')}", target=target)
        except Exception as err:
            log.exception("discord command not queued")
            return _ephemeral(f"Hermes could not take your request ({err}); try again shortly.")
        echo = f"<@{user}> asked Hermes: " + (fence(text) if len(text) <= 1800 else f"({len(text):,} characters)")
        return {"type": CHANNEL_MESSAGE, "data": {"content": echo, "allowed_mentions": {"parse": []}}}

    async def _component(self, payload: dict[str, Any]) -> dict[str, Any]:
        data = payload.get("data") or {}
        parsed = decode_action(data.get("custom_id"))
        if parsed is None:
            return {"type": DEFERRED_UPDATE}
        decision, ref = parsed
        approval_id = self.refs.resolve(ref)
        if approval_id is None:
            return _ephemeral("This button is from before a restart; reply `approve <id>` instead.")
        user = str(self._who(payload).get("id", ""))
        guild = _opt(payload.get("guild_id"))
        channel = str(payload.get("channel_id") or (payload.get("channel") or {}).get("id") or "")
        verdict = self.policy.may_decide(user, channel, is_dm=guild is None, team=guild)
        if not verdict.allowed:
            return _ephemeral(verdict.reason)
        message = payload.get("message") or {}
        target = DeliveryTarget("discord", channel, reply_to=_opt(message.get("id")), team=guild)
        try:
            await self.inbound.decision(channel="discord", conversation_key=self._key(guild, channel), user=user,
                                        approval_id=approval_id, decision=decision,
                                        event_id=f"discord:interaction:{payload.get('id')}", target=target)
        except DecisionRefused as err:
            return _ephemeral(str(err))
        except Exception as err:
            log.exception("discord decision not recorded")
            return _ephemeral(f"Your decision was not recorded ({err}); the buttons still work, try again.")
        note = decision_note(decision, f"<@{user}>")
        content = str(message.get("content") or "")
        updated = f"{content}\n\n{note}" if len(content) + len(note) + 2 <= MESSAGE_LIMIT else content
        if updated == content:
            asyncio.get_running_loop().create_task(self._say(target, note))
        return {"type": UPDATE_MESSAGE, "data": {"content": updated, "components": [],
                                                   "allowed_mentions": {"parse": []}}}

    # -- outbound ------------------------------------------------------------------------------------
    def view(self, approval_id: str) -> discord.ui.View:
        ref = self.refs.shorten(approval_id, CUSTOM_ID_LIMIT - len(encode_action("approve", "")))
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(style=discord.ButtonStyle.success, label="Approve",
                                        custom_id=encode_action("approve", ref, CUSTOM_ID_LIMIT)))
        view.add_item(discord.ui.Button(style=discord.ButtonStyle.danger, label="Reject",
                                        custom_id=encode_action("reject", ref, CUSTOM_ID_LIMIT)))
        return view

    async def _send(self, target: DeliveryTarget, content: str, *, view: discord.ui.View | None = None,
                    file: discord.File | None = None) -> None:
        await self.login()
        kwargs: dict[str, Any] = {"content": content, "allowed_mentions": discord.AllowedMentions.none()}
        if view is not None:
            kwargs["view"] = view
        if file is not None:
            kwargs["file"] = file
        if target.reply_to:
            kwargs["message_reference"] = {"message_id": target.reply_to, "channel_id": target.chat,
                                           "fail_if_not_exists": False}
        params = handle_message_parameters(**kwargs)
        try:
            await self.client.http.send_message(target.chat, params=params)
        finally:
            if file is not None:
                file.close()

    async def _say(self, target: DeliveryTarget, text: str) -> None:
        try:
            await self._send(target, text)
        except Exception:
            log.exception("discord: could not send a notice")

    async def deliver(self, target: DeliveryTarget, event: dict[str, Any]) -> None:
        if event.get("type") == "message":
            return
        rendered = render_event(event)
        if not rendered.parts:
            return
        approval_id = str(rendered.approval["approval_id"]) if rendered.approval else None
        view = self.view(approval_id) if approval_id else None
        body = to_markdown(rendered)
        if len(body) <= MESSAGE_LIMIT:
            await self._send(target, body, view=view)
            return
        attachment = attachment_for(rendered)
        await self._send(target, short_notice(rendered, attachment), view=view,
                         file=discord.File(io.BytesIO(attachment.data), filename=attachment.filename))


def _ephemeral(text: str) -> dict[str, Any]:
    return {"type": CHANNEL_MESSAGE, "data": {"content": text, "flags": EPHEMERAL, "allowed_mentions": {"parse": []}}}


def _opt(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
