"""Chat platforms wired into the gateway: what people write and click goes onto the bus; replies go
back to the platform through a durable outbox.

In (`ChannelHub` is the adapters' `Inbound`):
- A platform thread, DM or channel (the adapter's `conversation_key`) maps to one Hermes conversation,
  made on first contact and kept in Redis, so every replica finds it.
- Each message is recorded in the conversation log and published as a `ChatMessage`; a button click
  as an `ApprovalDecision` on the approval's own conversation. People are `<platform>:<id>` to Hermes
  (`slack:U024BE7LH`), so ids from two platforms never meet.
- Where replies go (`DeliveryTarget`) is stored with the conversation and refreshed on each message.
- `seen(event_id)` is a Redis `SET NX`: a platform's retry or a second poller's copy is dropped by
  whichever replica sees it second.

Out: the reply subscriber records a reply in the conversation log, then (`request_delivery`)
publishes a `Delivery` on `hermes.v1.delivery.requested` when the conversation lives on a platform.
The delivery subscriber (`deliver`) sends it through the platform's adapter:
- in order: each reply has its place in the conversation (`Delivery.sequence`); one waits (up to 30 s)
  until the one before it is sent, so a retried "Running …" never lands after the answer;
- sent → marked delivered in Redis (a redelivered `Delivery` is not sent twice) and acked;
- rate-limited (HTTP 429) → retried after the platform's `Retry-After`, and nothing else goes to that
  chat before then (a Redis key per chat, seen by every replica);
- a transient failure → retried with exponential backoff (1, 2, 4 … 60 s) up to
  `HERMES_DELIVERY_MAX_ATTEMPTS`;
- a permanent failure (the bot was removed, the channel is gone), attempts exhausted, or older than
  its `deliver_by` (`HERMES_DELIVERY_TTL_SECONDS` after the reply was made) → dropped, logged, and
  noted in the conversation log, never sent hours late.
A gateway killed anywhere in between loses nothing: the reply or the delivery stays in JetStream
until a replica acks it.

Connections (Slack Socket Mode, Telegram long polling, Discord's gateway): one per bot token across
all replicas. `ConnectionKeeper` holds a Redis lease (`Lease`) for it and renews it; a replica that
dies stops renewing, and another takes the lease and connects within `HERMES_LEASE_TTL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import json
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hermes import subjects
from hermes.config import LoadedConfig
from hermes.contracts import Delivery, Reply, new_id, utcnow
from hermes.runtime import ServiceRuntime
from hermes_gateway.channels import ChannelAdapter, DecisionRefused, DeliveryTarget, cancel_task
from hermes_gateway.conversations import ConversationLog, message_event, reply_event
from hermes_gateway.intake import Intake

SEEN_TTL_SECONDS = 3 * 24 * 3600
DELIVERED_TTL_SECONDS = 2 * 24 * 3600
CONVERSATION_TTL_SECONDS = 30 * 24 * 3600
MAX_BACKOFF_SECONDS = 60.0
ORDER_WAIT_SECONDS = 30.0   # a reply waits at most this long for the one before it, then goes anyway
ORDER_POLL_SECONDS = 0.3

# A reply's place in its conversation's delivery order, allocated once per reply.
_PLACE = """
local place = redis.call('HGET', KEYS[1], ARGV[1])
if not place then
  place = redis.call('HINCRBY', KEYS[1], 'next', 1)
  redis.call('HSET', KEYS[1], ARGV[1], place)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return place
"""

PENDING_SEEN_SECONDS = 20  # an event taken but not yet on the bus is taken again after this
_TAKEN: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("hermes_channel_taken", default=None)


def _event_message_id(kind: str, event_id: str) -> str:
    """A bus message id derived from the platform's event id: the same event, the same message."""
    return f"{kind}-{hashlib.sha256(event_id.encode()).hexdigest()[:32]}"


ApprovalLookup = Callable[[str], Awaitable[tuple[str | None, str | None]]]


# ---------------------------------------------------------------------------------------------------
# What a failed send means


@dataclass(frozen=True)
class SendFailure:
    """How to treat an exception from a platform: retry after `retry_after`, or give up (`permanent`)."""

    reason: str
    retry_after: float | None = None
    permanent: bool = False


def classify(err: BaseException) -> SendFailure:
    """Read a platform SDK's exception: rate limits, permanent refusals, or transient trouble."""
    import discord
    from aiogram.exceptions import (
        TelegramBadRequest,
        TelegramForbiddenError,
        TelegramNotFound,
        TelegramRetryAfter,
        TelegramUnauthorizedError,
    )
    from slack_sdk.errors import SlackApiError

    if isinstance(err, SlackApiError):
        status = getattr(err.response, "status_code", None)
        code = (err.response.get("error") if hasattr(err.response, "get") else None) or str(status)
        if status == 429:
            return SendFailure(f"Slack rate limit ({code})", retry_after=_seconds(err.response.headers, 1.0))
        if status is not None and status >= 500:
            return SendFailure(f"Slack answered {status}")
        return SendFailure(f"Slack refused it: {code}", permanent=True)
    if isinstance(err, TelegramRetryAfter):
        return SendFailure("Telegram flood control", retry_after=float(err.retry_after))
    if isinstance(err, TelegramForbiddenError | TelegramUnauthorizedError | TelegramBadRequest | TelegramNotFound):
        return SendFailure(f"Telegram refused it: {err.message}", permanent=True)
    if isinstance(err, discord.RateLimited):
        return SendFailure("Discord rate limit", retry_after=float(err.retry_after))
    if isinstance(err, discord.HTTPException):
        if err.status == 429:
            return SendFailure("Discord rate limit", retry_after=_seconds(getattr(err.response, "headers", {}), 1.0))
        if err.status >= 500:
            return SendFailure(f"Discord answered {err.status}")
        return SendFailure(f"Discord refused it: {err.status} {err.text or ''}".strip(), permanent=True)
    return SendFailure(f"{type(err).__name__}: {err}")


def _seconds(headers: Any, default: float) -> float:
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else default
    except (AttributeError, TypeError, ValueError):
        return default


def backoff(attempt: int, first: float) -> float:
    """Delay before retry `attempt` (1-based): first, 2×, 4× … capped at 60 s, with ±20 % jitter."""
    base = min(first * (2 ** max(0, attempt - 1)), MAX_BACKOFF_SECONDS)
    return base * random.uniform(0.8, 1.2)


@dataclass(frozen=True)
class Outcome:
    """What the delivery subscriber does with the message: ack it, or redeliver it after `retry_in`."""

    status: str  # sent | duplicate | dropped | retry (a failure) | wait (rate limit, order)
    retry_in: float | None = None
    reason: str = ""


# ---------------------------------------------------------------------------------------------------
# The hub


class ChannelHub:
    """The gateway's side of the chat platforms: `Inbound` for the adapters, and the outbox."""

    def __init__(self, rt: ServiceRuntime, conversations: Callable[[], ConversationLog],
                 approval_lookup: ApprovalLookup, config: LoadedConfig,
                 intake: Callable[[], Intake] | None = None) -> None:
        self.rt = rt
        self._conversations = conversations  # made once Redis is up
        self.approval_lookup = approval_lookup
        self._intake = intake
        self.config = config
        self.adapters: dict[str, ChannelAdapter] = {}

    @property
    def conversations(self) -> ConversationLog:
        return self._conversations()

    # -- building the adapters from the config -----------------------------------------------------------
    def build_adapters(self) -> dict[str, ChannelAdapter]:
        """One adapter per configured platform (`channels.<platform>` with its token)."""
        settings = self.rt.settings
        channels = self.config.channels
        if channels.slack is not None and channels.slack.configured:
            from hermes_gateway.slack_adapter import SlackAdapter
            from slack_sdk.web.async_client import AsyncWebClient

            token = channels.slack.bot_token.get_secret_value()  # type: ignore[union-attr]
            client = AsyncWebClient(token=token, base_url=settings.slack_api_url) if settings.slack_api_url \
                else None
            self.adapters["slack"] = SlackAdapter.from_config(channels.slack, inbound=self, seen=self.seen,
                                                              client=client)
        if channels.telegram is not None and channels.telegram.configured:
            from aiogram.client.session.aiohttp import AiohttpSession
            from aiogram.client.telegram import TelegramAPIServer
            from hermes_gateway.telegram_adapter import TelegramAdapter

            session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url)) \
                if settings.telegram_api_url else None
            self.adapters["telegram"] = TelegramAdapter.from_config(channels.telegram, inbound=self,
                                                                    seen=self.seen, session=session)
        if channels.discord is not None and channels.discord.configured:
            import discord
            from hermes_gateway.discord_adapter import DiscordAdapter

            if settings.discord_api_url:
                discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
            self.adapters["discord"] = DiscordAdapter.from_config(channels.discord, inbound=self, seen=self.seen,
                                                                  gateway=settings.discord_gateway)
        return self.adapters

    def routes(self) -> list[tuple[str, str, Any]]:
        """Every adapter's webhook routes (served without the API's bearer token: each is signed)."""
        return [route for adapter in self.adapters.values() for route in adapter.routes()]

    # -- once ---------------------------------------------------------------------------------------------
    pending_seconds = PENDING_SEEN_SECONDS

    async def seen(self, event_id: str) -> bool:
        """True when another delivery of this platform event was taken before (by any replica).

        The event is first taken for `pending_seconds` only; publishing it (`message`, `decision`) makes
        that permanent. A gateway that dies in between has not lost it: the platform's next delivery
        of it (a retry, the next poll after a restart) is taken again once the short mark lapses.
        """
        key = self.rt.keys.dedupe("channel", event_id)
        fresh = await self.rt.redis.set(key, "pending", nx=True, ex=self.pending_seconds)
        if fresh:
            taken = _TAKEN.get()
            if taken is None:
                taken = []
                _TAKEN.set(taken)
            taken.append(key)
            del taken[:-8]  # a long-lived polling task: only the latest events matter
        return not fresh

    async def _published(self) -> None:
        """The events this task took are on the bus now: never take them again."""
        taken = _TAKEN.get() or []
        for key in taken:
            await self.rt.redis.set(key, "done", ex=SEEN_TTL_SECONDS)
        taken.clear()

    # -- in -----------------------------------------------------------------------------------------------
    async def _conversation(self, conversation_key: str, user: str, channel: str) -> str:
        key = self.rt.keys.channel_conversation(conversation_key)
        candidate = new_id()
        if await self.rt.redis.set(key, candidate, nx=True, ex=CONVERSATION_TTL_SECONDS):
            await self.conversations.create(candidate, user=user, channel=channel)
            return candidate
        existing = await self.rt.redis.get(key)
        await self.rt.redis.expire(key, CONVERSATION_TTL_SECONDS)
        if existing and await self.conversations.exists(existing):
            return existing
        # The log expired before the mapping: start afresh under the same key.
        await self.rt.redis.set(key, candidate, ex=CONVERSATION_TTL_SECONDS)
        await self.conversations.create(candidate, user=user, channel=channel)
        return candidate

    async def _remember_target(self, conversation_id: str, target: DeliveryTarget) -> None:
        await self.rt.redis.set(self.rt.keys.delivery_target(conversation_id), json.dumps(target.to_dict()),
                                ex=CONVERSATION_TTL_SECONDS)

    async def target_of(self, conversation_id: str) -> DeliveryTarget | None:
        raw = await self.rt.redis.get(self.rt.keys.delivery_target(conversation_id))
        return DeliveryTarget.from_dict(json.loads(raw)) if raw else None

    @property
    def intake(self) -> Intake:
        if self._intake is None:
            raise RuntimeError("the channel hub was built without an intake (who is asking)")
        return self._intake()

    async def message(self, channel: str, conversation_key: str, user: str, text: str, event_id: str,
                      target: DeliveryTarget) -> None:
        caller = await self.intake.people.from_platform(channel, user)
        text = self.intake.clean(text)
        conversation_id = await self._conversation(conversation_key, caller.user, channel)
        await self._remember_target(conversation_id, target)
        # The id comes from the platform's event: a second publish of it (after a crash) is dropped by
        # JetStream's duplicate window, and its log entry by the conversation log.
        message_id = _event_message_id("m", event_id)
        message, subject = await self.intake.from_text(caller, conversation_id, text, message_id)
        await self.conversations.append(conversation_id, message_event(message.id, message.id, text, caller.user))
        await self.rt.publish(message, subject)
        await self._published()
        self.rt.log.info("channel message queued", channel=channel, conversation_id=conversation_id,
                         message_id=message.id, platform_event=event_id)

    async def decision(self, channel: str, conversation_key: str, user: str, approval_id: str, decision: str,
                       event_id: str, target: DeliveryTarget) -> None:
        conversation_id, why = await self.approval_lookup(approval_id)
        if conversation_id is None:
            raise DecisionRefused(f"approval {approval_id} cannot be decided: "
                                  + (why or "it was already decided, expired, or never existed") + ".")
        caller = await self.intake.people.from_platform(channel, user)
        if await self.target_of(conversation_id) is None:
            await self._remember_target(conversation_id, target)
        message_id = _event_message_id("d", event_id)
        message, subject = await self.intake.decision(caller, conversation_id, approval_id, decision, message_id)
        await self.conversations.append(conversation_id, message_event(
            message.id, message.id, f"{decision} {approval_id}", caller.user))
        await self.rt.publish(message, subject)
        await self._published()
        self.rt.log.info("channel decision queued", channel=channel, conversation_id=conversation_id,
                         approval_id=approval_id, decision=decision, platform_event=event_id)

    # -- out: the outbox ------------------------------------------------------------------------------------
    async def request_delivery(self, reply: Reply) -> bool:
        """Queue `reply` for its conversation's platform, if it has one. Idempotent per reply."""
        target = await self.target_of(reply.conversation_id)
        if target is None:
            return False
        deadline = reply.created_at + timedelta(seconds=self.rt.settings.delivery_ttl_seconds)
        if reply.expires_at is not None:
            deadline = min(deadline, reply.expires_at)
        sequence = int(await self._place(keys=[self.rt.keys.outbox(reply.conversation_id)],
                                         args=[reply.id, CONVERSATION_TTL_SECONDS]))
        delivery = Delivery(id=f"dlv-{reply.id}-{target.platform}", conversation_id=reply.conversation_id,
                            correlation_id=reply.correlation_id, reply_id=reply.id, platform=target.platform,
                            target=target.to_dict(), event=reply_event(reply), deliver_by=deadline,
                            sequence=sequence)
        await self.rt.publish(delivery, subjects.DELIVERY_REQUESTED)
        return True

    @functools.cached_property
    def _place(self) -> Any:
        """A reply's place in its conversation's delivery order: the same place if asked again."""
        return self.rt.redis.register_script(_PLACE)

    async def deliver(self, delivery: Delivery) -> Outcome:
        """Send one delivery, in its conversation's order; what to do with the bus message."""
        log = self.rt.log.bind(reply_id=delivery.reply_id, platform=delivery.platform,
                               conversation_id=delivery.conversation_id, sequence=delivery.sequence)
        marker = self.rt.keys.delivered(delivery.reply_id, delivery.platform)
        if await self.rt.redis.exists(marker):
            log.info("delivery already sent: not sent again")
            await self._done(delivery)
            return Outcome("duplicate")
        if utcnow() > delivery.deliver_by:
            return await self._drop(delivery, f"it was not sent by {delivery.deliver_by:%H:%M:%S} UTC "
                                              f"(its time-to-live)", log)
        adapter = self.adapters.get(delivery.platform)
        if adapter is None:
            return await self._drop(delivery, f"{delivery.platform} is not configured on this gateway "
                                              f"(channels.{delivery.platform})", log)
        wait = await self._wait_before(delivery)
        if wait is not None:
            return wait
        try:
            await adapter.deliver(DeliveryTarget.from_dict(delivery.target), delivery.event)
        except Exception as err:  # the SDKs raise their own types: classify them
            return await self._failed(delivery, classify(err), log)
        await self.rt.redis.set(marker, "1", ex=DELIVERED_TTL_SECONDS)
        await self._done(delivery)
        log.info("delivered")
        return Outcome("sent")

    async def _wait_before(self, delivery: Delivery) -> Outcome | None:
        """Wait while the platform rate-limits this chat, or while the reply before it is not out yet."""
        redis, keys = self.rt.redis, self.rt.keys
        limited_ms = await redis.pttl(keys.rate_limit(delivery.platform, delivery.target.get("chat", "")))
        if limited_ms and limited_ms > 0:
            return Outcome("wait", retry_in=limited_ms / 1000, reason="the platform's rate limit")
        if delivery.sequence > 1 and (utcnow() - delivery.created_at).total_seconds() < ORDER_WAIT_SECONDS:
            if not await redis.sismember(keys.outbox_done(delivery.conversation_id), str(delivery.sequence - 1)):
                return Outcome("wait", retry_in=ORDER_POLL_SECONDS, reason="the reply before it is not out yet")
        return None

    async def _failed(self, delivery: Delivery, failure: SendFailure, log: Any) -> Outcome:
        if failure.permanent:
            return await self._drop(delivery, failure.reason, log)
        redis, keys = self.rt.redis, self.rt.keys
        failures_key = keys.delivery_failures(delivery.id)
        failures = int(await redis.incr(failures_key))
        await redis.expire(failures_key, DELIVERED_TTL_SECONDS)
        if failure.retry_after is not None:  # the platform said when: nothing to this chat before then
            await redis.set(keys.rate_limit(delivery.platform, delivery.target.get("chat", "")), failure.reason,
                            px=max(1, int(failure.retry_after * 1000)))
        if failures >= self.rt.settings.delivery_max_attempts:
            return await self._drop(delivery, f"{failure.reason}, still after {failures} attempts", log)
        delay = failure.retry_after if failure.retry_after is not None else \
            backoff(failures, self.rt.settings.delivery_backoff_seconds)
        left = (delivery.deliver_by - utcnow()).total_seconds()
        if delay > left:
            return await self._drop(delivery, f"{failure.reason}; the next try ({delay:.0f} s) would be "
                                              f"after its time-to-live", log)
        log.warning("delivery failed: will retry", reason=failure.reason, retry_in=round(delay, 2), failures=failures)
        return Outcome("retry", retry_in=delay, reason=failure.reason)

    async def _done(self, delivery: Delivery) -> None:
        if delivery.sequence:
            done = self.rt.keys.outbox_done(delivery.conversation_id)
            await self.rt.redis.sadd(done, str(delivery.sequence))
            await self.rt.redis.expire(done, CONVERSATION_TTL_SECONDS)

    async def _drop(self, delivery: Delivery, reason: str, log: Any) -> Outcome:
        await self._done(delivery)  # what follows is not held up by a reply that will never go
        log.error("delivery dropped", reason=reason)
        note = {"type": "reply", "id": f"undelivered-{delivery.reply_id}-{delivery.platform}",
                "correlation_id": delivery.correlation_id, "kind": "error", "final": False, "blocks": [],
                "approval": None, "source": "gateway", "created_at": utcnow().isoformat(),
                "text": f"This reply was not sent to {delivery.platform.capitalize()}: {reason}. "
                        f"It is kept here (reply {delivery.reply_id})."}
        try:
            await self.conversations.append(delivery.conversation_id, note)
        except Exception:  # the note is a courtesy; the log line above is the record
            log.exception("could not note the dropped delivery in the conversation")
        return Outcome("dropped", reason=reason)

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Set up each adapter, and keep its connection (if it has one) on exactly one replica."""
        self._keepers: list[ConnectionKeeper] = []
        self._setups: list[asyncio.Task[None]] = []
        for name, adapter in self.adapters.items():
            try:
                await adapter.setup()
            except RuntimeError:  # the config is incomplete: say so and do not start half-configured
                raise
            except Exception as err:  # the platform is unreachable: serve everything else, keep trying
                self.rt.log.error("channel setup failed; retrying in the background", channel=name,
                                  error=str(err))
                self._setups.append(asyncio.get_running_loop().create_task(self._retry_setup(name, adapter)))
            key = adapter.connection_key()
            if key is not None:
                keeper = ConnectionKeeper(self.rt, adapter, Lease(self.rt.redis, self.rt.keys.lease(key),
                                                                  ttl=self.rt.settings.lease_ttl_seconds))
                keeper.start()
                self._keepers.append(keeper)
            self.rt.log.info("channel ready", channel=name, connection=key is not None,
                             routes=[path for _m, path, _h in adapter.routes()])

    async def _retry_setup(self, name: str, adapter: ChannelAdapter) -> None:
        attempt = 0
        while True:
            attempt += 1
            await asyncio.sleep(min(2 ** attempt, MAX_BACKOFF_SECONDS))
            try:
                await adapter.setup()
            except Exception as err:
                self.rt.log.warning("channel setup failed again", channel=name, error=str(err), attempt=attempt)
                continue
            self.rt.log.info("channel setup done", channel=name, attempt=attempt)
            return

    async def stop(self) -> None:
        for task in getattr(self, "_setups", []):
            task.cancel()
        for keeper in getattr(self, "_keepers", []):
            await keeper.stop()
        for name, adapter in self.adapters.items():
            try:
                await adapter.close()
            except Exception as err:
                self.rt.log.warning("channel close failed", channel=name, error=str(err))


# ---------------------------------------------------------------------------------------------------
# One connection per bot token across replicas

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def replica_id() -> str:
    """This process among the gateway replicas: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"


class Lease:
    """A Redis lease: one owner at a time; it lapses `ttl` seconds after the owner stops renewing."""

    def __init__(self, redis: Any, key: str, ttl: float, owner: str | None = None) -> None:
        self.redis = redis
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.owner = owner or replica_id()
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        return bool(await self.redis.set(self.key, self.owner, nx=True, px=self.ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]))

    async def release(self) -> None:
        await self._release(keys=[self.key], args=[self.owner])


class ConnectionKeeper:
    """Holds an adapter's connection while this replica holds its lease; takes over when it lapses."""

    def __init__(self, rt: ServiceRuntime, adapter: ChannelAdapter, lease: Lease) -> None:
        self.rt = rt
        self.adapter = adapter
        self.lease = lease
        self.connected = False
        self._task: asyncio.Task[None] | None = None
        self._interval = max(0.2, lease.ttl_ms / 1000 / 3)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"lease:{self.adapter.name}")

    async def _run(self) -> None:
        log = self.rt.log.bind(channel=self.adapter.name, lease=self.lease.key, owner=self.lease.owner)
        failures = 0
        while True:
            try:
                if self.connected:
                    if not await self.lease.renew():
                        log.warning("connection lease lost: disconnecting")
                        await self._disconnect()
                elif await self.lease.acquire():
                    log.info("connection lease taken: connecting")
                    try:
                        await self.adapter.start()
                    except Exception as err:
                        failures += 1
                        log.error("connecting failed; the lease is released for another try",
                                  error=str(err), failures=failures)
                        await self.lease.release()
                        await asyncio.sleep(min(2 ** failures, MAX_BACKOFF_SECONDS))
                        continue
                    failures = 0
                    self.connected = True
            except asyncio.CancelledError:
                raise
            except Exception as err:  # Redis trouble: keep trying; the lease lapses on its own if we die
                log.warning("connection lease check failed", error=str(err))
            await asyncio.sleep(self._interval)

    async def _disconnect(self) -> None:
        self.connected = False
        try:
            await self.adapter.stop()
        except Exception as err:
            self.rt.log.warning("disconnecting failed", channel=self.adapter.name, error=str(err))

    async def stop(self) -> None:
        await cancel_task(self._task, self.rt.log, f"the {self.adapter.name} lease keeper")
        self._task = None
        if self.connected:
            await self._disconnect()
            await self.lease.release()
