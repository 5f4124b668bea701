"""Telegram, through aiogram 3: long polling, or a webhook checked by its secret-token header.

In: messages (private chats; groups when the bot is mentioned, replied to, or the group's rule does
not require a mention) → `Inbound.message`, keyed `telegram:<chat>[:<topic>]`; inline-keyboard clicks
(`callback_query`) → `Inbound.decision`. Every update is taken once, by `update_id` (Telegram
redelivers after a timeout, a restart or a second poller), and a click also by its query id.

Out: HTML (`parse_mode=HTML`, everything escaped), code and tables in `<pre>`; an approval adds the
exact commands and Approve / Reject buttons whose `callback_data` (at most 64 bytes) carries the
approval id. A message over 4,096 characters is sent whole as a document; an approval's buttons go on
that document's short caption, which says the preview is in the file. Nothing is ever cut.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
)
from aiohttp import web
from hermes_gateway.channels import (
    MAX_INBOUND_TEXT,
    MAX_WEBHOOK_BODY,
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
    token_key,
)

log = logging.getLogger("hermes.gateway.telegram")

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_LIMIT = 64
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def escape(text: str) -> str:
    """Telegram HTML escaping: &, < and > (quotes need no escaping outside attributes)."""
    return html.escape(text, quote=False)


def to_html(rendered: Rendered) -> str:
    out: list[str] = []
    for part in rendered.parts:
        title = f"<b>{escape(part.title)}</b>\n" if part.title else ""
        if part.kind == "code":
            out.append(f"{title}<pre>{escape(part.text)}</pre>")
        else:
            out.append(title + escape(part.text))
    return "\n\n".join(out)


class TelegramAdapter:
    """Telegram for the gateway. `routes()` for a webhook; `start()` polls (or registers the webhook)."""

    name = "telegram"

    def __init__(self, *, inbound: Inbound, seen: Seen, policy: ChannelPolicy, bot: Bot,
                 webhook_url: str | None = None, webhook_secret: str | None = None,
                 path: str = "/telegram/webhook", polling_timeout: int = 30) -> None:
        self.inbound = inbound
        self.seen = seen
        self.policy = policy
        self.bot = bot
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.path = path
        self.polling_timeout = polling_timeout
        self.refs = ShortRefs()
        self.dp = Dispatcher()
        router = Router(name="hermes")
        router.message()(self._on_message)
        router.callback_query()(self._on_callback)
        self.dp.include_router(router)
        self.dp.update.outer_middleware(self._once)
        self._polling: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, cfg: Any, *, inbound: Inbound, seen: Seen, session: Any = None,
                    **kwargs: Any) -> TelegramAdapter:
        """From `channels.telegram` (hermes.config.TelegramConfig; `tokenFile` and flat values mapped in)."""
        token = cfg.bot_token.get_secret_value()
        bot = Bot(token, session=session, default=DefaultBotProperties(parse_mode="HTML"))
        secret = cfg.webhook_secret.get_secret_value() if cfg.webhook_secret is not None else None
        return cls(inbound=inbound, seen=seen, policy=ChannelPolicy.from_config("telegram", cfg), bot=bot,
                   webhook_url=cfg.webhook_url, webhook_secret=secret, **kwargs)

    # -- lifecycle -----------------------------------------------------------------------------------
    async def setup(self) -> None:
        """Webhook mode: register the webhook (every replica may; Telegram keeps one). Polling: nothing."""
        if self.webhook_url:
            if not self.webhook_secret:
                raise RuntimeError("a Telegram webhook needs channels.telegram.webhookSecret: Hermes refuses "
                                   "webhook calls it cannot authenticate")
            await self.bot.set_webhook(self.webhook_url, secret_token=self.webhook_secret,
                                       allowed_updates=["message", "callback_query"])

    def connection_key(self) -> str | None:
        return None if self.webhook_url else token_key("telegram", self.bot.token)

    async def start(self) -> None:
        """Long polling (when no webhook URL is set): on one replica at a time."""
        if self.webhook_url:
            await self.setup()
            return
        await self.bot.delete_webhook(drop_pending_updates=False)  # getUpdates is refused while one is set
        self._polling = asyncio.create_task(self.dp.start_polling(
            self.bot, polling_timeout=self.polling_timeout, handle_signals=False, close_bot_session=False,
            # one update at a time, confirmed to Telegram (the next offset) only once it is handled:
            # a crash mid-way gets it again after the restart
            handle_as_tasks=False, allowed_updates=["message", "callback_query"]))

    async def close(self) -> None:
        await self.stop()
        await self.bot.session.close()

    async def stop(self) -> None:
        if self._polling is not None:
            try:
                await self.dp.stop_polling()
            except RuntimeError:
                pass
            await cancel_task(self._polling, log, "telegram polling")
            self._polling = None

    # -- webhook -------------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, str, Handler]]:
        return [("POST", self.path, self.handle_webhook)] if self.webhook_url or self.webhook_secret else []

    def _refuse(self, status: int, message: str) -> web.Response:
        return refuse(log, "telegram webhook call", status, message)

    async def handle_webhook(self, request: web.Request) -> web.StreamResponse:
        if not self.webhook_secret:
            return self._refuse(503, "channels.telegram.webhookSecret is not set; Hermes refuses webhook "
                                     "calls it cannot authenticate")
        given = request.headers.get(SECRET_HEADER)
        if not given:
            return self._refuse(401, f"missing {SECRET_HEADER}: not a call from Telegram's webhook")
        if not hmac.compare_digest(given.encode(), self.webhook_secret.encode()):
            return self._refuse(401, f"wrong {SECRET_HEADER}")
        raw = await read_limited(request, MAX_WEBHOOK_BODY)
        if raw is None:
            return self._refuse(413, f"update over {MAX_WEBHOOK_BODY} bytes")
        try:
            update = Update.model_validate(json.loads(raw), context={"bot": self.bot})
        except ValueError as err:
            return self._refuse(400, f"not a Telegram update: {str(err).splitlines()[0]}")
        await self.dp.feed_update(self.bot, update)
        return web.json_response({"ok": True})

    async def feed(self, update: dict[str, Any]) -> None:
        """Handle one update (the shape of Telegram's `Update`), as polling or the webhook would."""
        await self.dp.feed_update(self.bot, Update.model_validate(update, context={"bot": self.bot}))

    # -- inbound -------------------------------------------------------------------------------------
    async def _once(self, handler: Callable[..., Awaitable[Any]], update: Update, data: dict[str, Any]) -> Any:
        if await self.seen(f"telegram:{self.bot.id}:update:{update.update_id}"):
            log.info("telegram update %s seen before: dropped", update.update_id)
            return None
        return await handler(update, data)

    @staticmethod
    def _key(chat_id: int, topic: int | None) -> str:
        return f"telegram:{chat_id}" + (f":{topic}" if topic else "")

    async def _on_message(self, message: Message) -> None:
        sender = message.from_user
        if sender is None or sender.is_bot:
            return
        me = await self.bot.me()
        raw = message.text or message.caption or ""
        is_dm = message.chat.type == "private"
        topic = message.message_thread_id if message.is_topic_message else None
        username = (me.username or "").lower()
        mentioned = False
        text = raw
        for entity in message.entities or message.caption_entities or []:
            piece = entity.extract_from(raw)
            if entity.type == "mention" and piece.lower() == f"@{username}":
                mentioned = True
                text = text.replace(piece, "")
            elif entity.type == "bot_command" and piece.lower().endswith(f"@{username}"):
                mentioned = True
                text = text.replace(piece, piece.split("@")[0])
            elif entity.type == "text_mention" and entity.user is not None and entity.user.id == me.id:
                mentioned = True
        if message.reply_to_message and message.reply_to_message.from_user and \
                message.reply_to_message.from_user.id == me.id:
            mentioned = True
        text = text.strip()
        if text.startswith("/hermes"):
            text = text[len("/hermes"):].strip()
        target = DeliveryTarget("telegram", str(message.chat.id), thread=str(topic) if topic else None,
                                reply_to=str(message.message_id))
        verdict = self.policy.check(str(sender.id), str(message.chat.id), is_dm=is_dm, mentioned=mentioned)
        if verdict.silent:
            return
        if not verdict.allowed:
            await self._say(target, verdict.reason)
            return
        if not text or text == "/start":
            await self._say(target, "Hermes here. Tell me what you need, e.g. “list my clusters”.")
            return
        if len(text) > MAX_INBOUND_TEXT:
            await self._say(target, f"That message is {len(text):,} characters; Hermes takes at most "
                                    f"{MAX_INBOUND_TEXT:,}. Nothing was sent.")
            return
        try:
            await self.inbound.message(channel="telegram", conversation_key=self._key(message.chat.id, topic),
                                       user=str(sender.id), text=text,
                                       event_id=f"telegram:{message.chat.id}:{message.message_id}", target=target)
        except Exception as err:
            log.exception("telegram message not queued")
            await self._say(target, f"Hermes could not take your message ({err}); try again shortly.")

    async def _on_callback(self, query: CallbackQuery) -> None:
        parsed = decode_action(query.data)
        if parsed is None:
            await query.answer()
            return
        decision, ref = parsed
        approval_id = self.refs.resolve(ref)
        if approval_id is None:
            await query.answer("This button is from before a restart; reply “approve <id>” instead.", show_alert=True)
            return
        if await self.seen(f"telegram:callback:{query.id}"):
            return
        message = query.message if isinstance(query.message, Message) else None
        chat_id = message.chat.id if message else query.from_user.id
        is_dm = message.chat.type == "private" if message else True
        user = str(query.from_user.id)
        verdict = self.policy.may_decide(user, str(chat_id), is_dm=is_dm)
        if not verdict.allowed:
            await query.answer(verdict.reason[:200], show_alert=True)
            return
        topic = message.message_thread_id if message and message.is_topic_message else None
        target = DeliveryTarget("telegram", str(chat_id), thread=str(topic) if topic else None,
                                reply_to=str(message.message_id) if message else None)
        try:
            await self.inbound.decision(channel="telegram", conversation_key=self._key(chat_id, topic), user=user,
                                        approval_id=approval_id, decision=decision,
                                        event_id=f"telegram:callback:{query.id}", target=target)
        except DecisionRefused as err:
            await query.answer(str(err)[:200], show_alert=True)
            return
        except Exception as err:
            log.exception("telegram decision not recorded")
            await query.answer(f"Not recorded ({err}); try again."[:200], show_alert=True)
            return
        await query.answer("Approved." if decision == "approve" else "Rejected.")
        if message is not None:
            try:
                await self.bot.edit_message_reply_markup(chat_id=chat_id, message_id=message.message_id,
                                                         reply_markup=None)
            except Exception:
                log.exception("telegram: could not remove the buttons")
        who = f"@{query.from_user.username}" if query.from_user.username else query.from_user.full_name
        await self._say(target, decision_note(decision, who))

    async def _say(self, target: DeliveryTarget, text: str) -> None:
        try:
            await self.bot.send_message(chat_id=int(target.chat), text=escape(text), parse_mode="HTML",
                                        **self._where(target))
        except Exception:
            log.exception("telegram: could not send a notice")

    @staticmethod
    def _where(target: DeliveryTarget) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if target.thread:
            where["message_thread_id"] = int(target.thread)
        if target.reply_to:
            where["reply_parameters"] = ReplyParameters(message_id=int(target.reply_to),
                                                        allow_sending_without_reply=True)
        return where

    # -- outbound ------------------------------------------------------------------------------------
    def keyboard(self, approval_id: str) -> InlineKeyboardMarkup:
        ref = self.refs.shorten(approval_id, CALLBACK_LIMIT - len(encode_action("approve", "")))
        return InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="✅ Approve", callback_data=encode_action("approve", ref, CALLBACK_LIMIT)),
            InlineKeyboardButton(text="❌ Reject", callback_data=encode_action("reject", ref, CALLBACK_LIMIT)),
        ]])

    async def deliver(self, target: DeliveryTarget, event: dict[str, Any]) -> None:
        if event.get("type") == "message":
            return
        rendered = render_event(event)
        if not rendered.parts:
            return
        approval_id = str(rendered.approval["approval_id"]) if rendered.approval else None
        markup = self.keyboard(approval_id) if approval_id else None
        body = to_html(rendered)
        if len(body) <= MESSAGE_LIMIT:
            await self.bot.send_message(chat_id=int(target.chat), text=body, parse_mode="HTML",
                                        reply_markup=markup, **self._where(target))
            return
        attachment = attachment_for(rendered)
        await self.bot.send_document(chat_id=int(target.chat),
                                     document=BufferedInputFile(attachment.data, filename=attachment.filename),
                                     caption=escape(short_notice(rendered, attachment)),  # short by construction
                                     parse_mode="HTML", reply_markup=markup, **self._where(target))
