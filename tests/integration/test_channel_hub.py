"""The gateway's channel hub against a real Redis and a fake Telegram Bot API through aiogram:
platform threads → conversations, the outbox's rules (once, in order, rate limits, retries, time-to-live,
permanent refusals), reading the SDKs' errors, and the connection lease moving when its holder dies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from hermes.config import LoadedConfig, TelegramConfig
from hermes.contracts import Delivery, Reply, utcnow
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.signing import ServiceKey, TrustedKeys, model_verifies
from hermes.stores.approvals import ApprovalView
from hermes.stores.users import UserDirectory
from hermes_gateway.channels import DecisionRefused, DeliveryTarget, MemorySeen
from hermes_gateway.conversations import ConversationLog
from hermes_gateway.hub import ChannelHub, ConnectionKeeper, Lease, backoff, classify
from hermes_gateway.intake import Intake
from hermes_gateway.people import People
from hermes_gateway.telegram_adapter import TelegramAdapter

from tests.channels.fakes import FakeTelegram, RecordingInbound
from tests.waiting import redis_clock_past, redis_now

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CHAT = "1111111"
GATEWAY = ServiceKey.generate("gateway")


@pytest.fixture
async def runtime(redis_server, redis_prefix) -> AsyncIterator[ServiceRuntime]:
    settings = Settings(redis_url=redis_server.url, redis_prefix=redis_prefix, delivery_backoff_seconds=0.01,
                        delivery_max_attempts=3, lease_ttl_seconds=1.0)
    rt = ServiceRuntime("gateway", settings, configure_logging=False)
    await rt.start_dependencies()
    yield rt
    await rt.redis.aclose()


class Published(list):
    async def __call__(self, message: Any, subject: str) -> None:
        self.append((subject, message))


@pytest.fixture
async def hub(runtime: ServiceRuntime) -> AsyncIterator[tuple[ChannelHub, FakeTelegram, Published]]:
    async with FakeTelegram() as fake:
        log = ConversationLog(runtime.redis, runtime.keys)

        async def lookup(approval_id: str) -> tuple[str | None, str | None]:
            return (None, "approval apr-1 expired at 10:00:00 UTC; nothing was run") if approval_id == "apr-1" \
                else ("conv-x", None)

        people = People(UserDirectory(runtime.redis, runtime.keys), GATEWAY)
        intake = Intake(people, ApprovalView(runtime.redis, runtime.keys, TrustedKeys()))
        channels = ChannelHub(runtime, lambda: log, lookup, LoadedConfig(), intake=lambda: intake)
        published = Published()
        runtime.publish = published  # type: ignore[method-assign]  # record instead of a broker
        cfg = TelegramConfig.model_validate({"botToken": TOKEN, "allowFrom": [int(CHAT)]})
        session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
        channels.adapters["telegram"] = TelegramAdapter.from_config(cfg, inbound=channels, seen=channels.seen,
                                                                    session=session)
        yield channels, fake, published
        await channels.adapters["telegram"].close()


def target() -> DeliveryTarget:
    return DeliveryTarget("telegram", CHAT, reply_to="1365")


async def test_a_thread_is_one_conversation_and_people_are_namespaced(hub) -> None:
    channels, _fake, published = hub
    await channels.message("telegram", f"telegram:{CHAT}", CHAT, "list my clusters", "telegram:1:1", target())
    await channels.message("telegram", f"telegram:{CHAT}", CHAT, "and the stacks", "telegram:1:2",
                           DeliveryTarget("telegram", CHAT, reply_to="1366"))
    await channels.message("telegram", "telegram:2222", "2222", "hello", "telegram:2:1",
                           DeliveryTarget("telegram", "2222"))
    first, second, other = (m for _s, m in published)
    assert first.conversation_id == second.conversation_id != other.conversation_id
    assert first.user == "telegram:1111111" and first.channel == "telegram"
    # who sent it, as the gateway vouches for it: an unmapped platform user is a viewer
    assert (first.identity.user, first.identity.roles, first.identity.platform_user) == (
        "telegram:1111111", ["viewer"], "telegram:1111111")
    assert model_verifies(first.identity, "gateway", TrustedKeys({"gateway": GATEWAY.public_text}))
    assert first.identity.message_id == first.id and first.identity.conversation_id == first.conversation_id
    # replies go where the latest message came from
    assert await channels.target_of(first.conversation_id) == DeliveryTarget("telegram", CHAT, reply_to="1366")
    events, _ = await channels.conversations.read(first.conversation_id)
    assert [e["text"] for e in events] == ["list my clusters", "and the stacks"]


async def test_seen_is_shared_through_redis(hub, runtime) -> None:
    channels, _fake, _published = hub
    other = ChannelHub(runtime, lambda: channels.conversations, channels.approval_lookup, LoadedConfig())
    assert await channels.seen("slack:T1:C1:1.0") is False
    assert await other.seen("slack:T1:C1:1.0") is True  # another replica, the same event


async def test_a_decision_on_an_expired_approval_is_refused_with_the_reason(hub) -> None:
    channels, _fake, published = hub
    with pytest.raises(DecisionRefused, match="expired at 10:00:00 UTC"):
        await channels.decision("telegram", f"telegram:{CHAT}", CHAT, "apr-1", "approve", "cb:1", target())
    assert published == []
    await channels.conversations.create("conv-x", user="telegram:1111111", channel="telegram")
    await channels.decision("telegram", f"telegram:{CHAT}", CHAT, "apr-2", "approve", "cb:2", target())
    (_subject, decision), = published
    assert decision.conversation_id == "conv-x" and decision.user == "telegram:1111111"
    assert decision.identity.user == "telegram:1111111" and decision.identity.message_id == decision.id


async def queued(channels: ChannelHub, published: Published, text: str, **extra: Any) -> Delivery:
    """A reply in a conversation that lives on Telegram, through `request_delivery`."""
    if not published or not any(s.endswith("chat.received") for s, _m in published):
        await channels.message("telegram", f"telegram:{CHAT}", CHAT, "hi", "telegram:0:0", target())
    cid = next(m.conversation_id for s, m in published if s.endswith("chat.received"))
    reply = Reply(conversation_id=cid, correlation_id="c1", text=text, final=True, **extra)
    assert await channels.request_delivery(reply)
    return published[-1][1]


async def test_sent_once_even_when_redelivered(hub) -> None:
    channels, fake, published = hub
    delivery = await queued(channels, published, "Here are your clusters.")
    assert delivery.sequence == 1
    assert (await channels.deliver(delivery)).status == "sent"
    assert (await channels.deliver(delivery)).status == "duplicate"
    assert len(fake.called("sendMessage")) == 1
    # asking again for the same reply gives the same place in the order
    reply_again = Reply(id=delivery.reply_id, conversation_id=delivery.conversation_id, correlation_id="c1",
                        text="Here are your clusters.", final=True)
    await channels.request_delivery(reply_again)
    assert published[-1][1].sequence == 1


async def test_order_rate_limit_and_retry(hub) -> None:
    channels, fake, published = hub
    first = await queued(channels, published, "Running `ankra cluster list`...")
    second = await queued(channels, published, "Here are your clusters.")
    assert (first.sequence, second.sequence) == (1, 2)
    outcome = await channels.deliver(second)
    assert outcome.status == "wait" and "before it" in outcome.reason  # the first is not out yet
    fake.fail_next("sendMessage", status=429, retry_after=3)
    outcome = await channels.deliver(first)
    assert outcome.status == "retry" and outcome.retry_in == 3
    outcome = await channels.deliver(first)  # asked again too early: the chat is rate-limited
    assert outcome.status == "wait" and 2 < outcome.retry_in <= 3
    await channels.rt.redis.delete(channels.rt.keys.rate_limit("telegram", CHAT))  # as if 3 s passed
    fake.fail_next("sendMessage", status=500)
    outcome = await channels.deliver(first)
    assert outcome.status == "retry" and outcome.retry_in < 1  # backoff, not a platform's figure
    assert (await channels.deliver(first)).status == "sent"
    assert (await channels.deliver(second)).status == "sent"
    texts = [c.fields["text"] for c in fake.called("sendMessage")]
    assert texts == ["Running `ankra cluster list`...", "Here are your clusters."]


async def test_gives_up_after_the_attempts_and_says_so_in_the_conversation(hub) -> None:
    channels, fake, published = hub
    delivery = await queued(channels, published, "Here are your clusters.")
    for _ in range(3):
        fake.fail_next("sendMessage", status=502)
    assert (await channels.deliver(delivery)).status == "retry"
    assert (await channels.deliver(delivery)).status == "retry"
    outcome = await channels.deliver(delivery)
    assert outcome.status == "dropped" and "after 3 attempts" in outcome.reason
    events, _ = await channels.conversations.read(delivery.conversation_id)
    assert "not sent to Telegram" in events[-1]["text"]


async def test_a_permanent_refusal_is_not_retried(hub) -> None:
    channels, fake, published = hub
    delivery = await queued(channels, published, "Here are your clusters.")
    fake.fail_next("sendMessage", status=403)
    outcome = await channels.deliver(delivery)
    assert outcome.status == "dropped" and "refused" in outcome.reason
    assert fake.called("sendMessage!403") and not fake.called("sendMessage")


async def test_a_reply_older_than_its_time_to_live_is_dropped_not_sent(hub) -> None:
    channels, fake, published = hub
    delivery = await queued(channels, published, "Here are your clusters.")
    late = delivery.model_copy(update={"deliver_by": utcnow() - timedelta(seconds=1)})
    outcome = await channels.deliver(late)
    assert outcome.status == "dropped" and "time-to-live" in outcome.reason
    assert not fake.calls or not fake.called("sendMessage")
    events, _ = await channels.conversations.read(delivery.conversation_id)
    assert "not sent to Telegram" in events[-1]["text"] and delivery.reply_id in events[-1]["text"]
    # the reply's own expiry bounds it too
    reply = Reply(conversation_id=delivery.conversation_id, correlation_id="c2", text="late", final=True,
                  expires_at=utcnow() + timedelta(seconds=5))
    await channels.request_delivery(reply)
    assert (published[-1][1].deliver_by - reply.created_at).total_seconds() <= 5.01


def test_classify_reads_each_sdks_errors() -> None:
    import discord
    from aiogram.exceptions import TelegramForbiddenError, TelegramRetryAfter
    from aiogram.methods import SendMessage
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    method = SendMessage(chat_id=1, text="x")
    assert classify(TelegramRetryAfter(method=method, message="Flood", retry_after=7)).retry_after == 7
    assert classify(TelegramForbiddenError(method=method, message="bot was blocked by the user")).permanent

    def slack(status: int, error: str, headers: dict[str, str] | None = None) -> SlackApiError:
        response = AsyncSlackResponse(client=None, http_verb="POST", api_url="https://slack.invalid/api/x",
                                      req_args={}, data={"ok": False, "error": error}, headers=headers or {},
                                      status_code=status)
        return SlackApiError(error, response)

    limited = classify(slack(429, "ratelimited", {"Retry-After": "30"}))
    assert limited.retry_after == 30 and not limited.permanent
    assert classify(slack(200, "channel_not_found")).permanent
    assert not classify(slack(503, "service_unavailable")).permanent

    class Response:
        status = 403
        reason = "Forbidden"
        headers: dict[str, str] = {}

    assert classify(discord.Forbidden(Response(), {"message": "Missing Access", "code": 50001})).permanent
    assert classify(discord.RateLimited(12.5)).retry_after == 12.5
    assert not classify(ConnectionResetError("reset")).permanent
    assert 0.8 <= backoff(1, 1.0) <= 1.2 and 48 <= backoff(10, 1.0) <= 72


# ---------------------------------------------------------------------------------------------------
# The connection lease


async def test_one_poller_per_token_and_it_moves_when_its_holder_dies(runtime) -> None:
    async with FakeTelegram() as fake:
        cfg = TelegramConfig.model_validate({"botToken": TOKEN, "allowFrom": [int(CHAT)]})
        inbounds = [RecordingInbound(), RecordingInbound()]
        adapters = [TelegramAdapter.from_config(cfg, inbound=inbound, seen=MemorySeen(),
                                                session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
                    for inbound in inbounds]
        key = runtime.keys.lease(adapters[0].connection_key())
        keepers = [ConnectionKeeper(runtime, adapter, Lease(runtime.redis, key, ttl=1.0)) for adapter in adapters]
        tries = [_record_lease_calls(keeper.lease) for keeper in keepers]
        for keeper in keepers:
            keeper.start()
        try:
            await _until(lambda: any(k.connected for k in keepers))
            holder = next(i for i, k in enumerate(keepers) if k.connected)
            other = 1 - holder
            # Well past the lease's lifetime (four renewals of a 1 s lease renewed every ~0.33 s), the
            # other replica has asked for the lease again and again and never got it: still exactly one.
            seen_at = len(tries[other])
            await _until(lambda: tries[holder].count(("renew", True)) >= 4
                         and len(tries[other]) >= seen_at + 4, timeout=10)
            assert [k.connected for k in keepers].count(True) == 1 and keepers[holder].connected
            assert ("renew", False) not in tries[holder]
            assert ("acquire", True) not in tries[other][seen_at:]
            update = {"update_id": 1, "message": {"message_id": 5, "date": 1714560000, "text": "first",
                                                  "from": {"id": int(CHAT), "is_bot": False, "first_name": "A"},
                                                  "chat": {"id": int(CHAT), "type": "private"}}}
            await fake.updates.put([update])
            await _until(lambda: len(inbounds[holder].messages) == 1)

            # The holder dies: its task stops without a goodbye, its polling stops, the lease is left to lapse.
            keepers[holder]._task.cancel()  # type: ignore[union-attr]
            await adapters[holder].stop()
            assert await runtime.redis.get(key) == keepers[holder].lease.owner
            await _until(lambda: keepers[other].connected, timeout=5)
            assert await runtime.redis.get(key) == keepers[other].lease.owner
            second = json.loads(json.dumps(update))
            second["update_id"], second["message"]["text"] = 2, "second"
            await fake.updates.put([second])
            await _until(lambda: len(inbounds[other].messages) == 1)
            assert inbounds[other].messages[0]["text"] == "second"
        finally:
            for keeper in keepers:
                await keeper.stop()
            for adapter in adapters:
                await adapter.close()
        assert await runtime.redis.get(key) is None  # a clean stop gives the lease back


def _record_lease_calls(lease: Lease) -> list[tuple[str, bool]]:
    """Every acquire and renew of `lease`, with its answer, in order."""
    calls: list[tuple[str, bool]] = []
    for name in ("acquire", "renew"):
        inner = getattr(lease, name)

        async def recorded(inner=inner, name=name) -> bool:
            answer = await inner()
            calls.append((name, answer))
            return answer

        setattr(lease, name, recorded)
    return calls


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_an_unreachable_platform_at_start_is_retried_and_an_incomplete_config_stops_start(runtime) -> None:
    async with FakeTelegram() as fake:
        log = ConversationLog(runtime.redis, runtime.keys)
        channels = ChannelHub(runtime, lambda: log, lambda _a: None, LoadedConfig())  # type: ignore[arg-type,return-value]
        cfg = TelegramConfig.model_validate({"botToken": TOKEN, "webhookUrl": "https://h.example/telegram/webhook",
                                             "webhookSecret": "s3cret-token"})
        channels.adapters["telegram"] = TelegramAdapter.from_config(
            cfg, inbound=channels, seen=channels.seen, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
        fake.fail_next("setWebhook", status=502)
        try:
            await channels.start()  # does not raise: the gateway keeps serving while Telegram is away
            assert fake.called("setWebhook!502") and not fake.called("setWebhook")
            await _until(lambda: bool(fake.called("setWebhook")), timeout=6)
        finally:
            await channels.stop()

        broken = ChannelHub(runtime, lambda: log, lambda _a: None, LoadedConfig())  # type: ignore[arg-type,return-value]
        no_secret = TelegramConfig.model_validate({"botToken": TOKEN, "webhookUrl": "https://h.example/telegram/webhook"})
        broken.adapters["telegram"] = TelegramAdapter.from_config(
            no_secret, inbound=broken, seen=broken.seen, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
        with pytest.raises(RuntimeError, match="webhookSecret"):
            await broken.start()
        await broken.stop()


async def test_an_event_taken_but_never_published_is_taken_again_and_a_published_one_never(hub) -> None:
    channels, _fake, published = hub
    channels.pending_seconds = 1
    redis = channels.rt.redis
    # a gateway that died between taking the event and publishing it
    assert await channels.seen("telegram:42:update:7") is False
    taken = await redis_now(redis)  # the mark was set before this: it lapses by taken + pending_seconds
    assert await channels.seen("telegram:42:update:7") is True  # meanwhile: a duplicate
    await redis_clock_past(redis, taken + channels.pending_seconds)  # Redis's clock decides the lapse
    assert await channels.seen("telegram:42:update:7") is False  # the redelivery after the restart
    # published: taken for good, and the bus message id is the event's own
    await asyncio.create_task(_take_and_publish(channels, "telegram:42:update:8"))
    taken = await redis_now(redis)
    await redis_clock_past(redis, taken + channels.pending_seconds)  # a mere pending mark would be gone
    assert await channels.seen("telegram:42:update:8") is True
    first = published[-1][1]
    await channels.message("telegram", f"telegram:{CHAT}", CHAT, "hi", "telegram:42:update:8", target())
    assert published[-1][1].id == first.id  # a second publish of the same event: JetStream drops it


async def _take_and_publish(channels: ChannelHub, event_id: str) -> None:
    assert await channels.seen(event_id) is False
    await channels.message("telegram", f"telegram:{CHAT}", CHAT, "hi", event_id, target())
