"""A poison message cannot spin the services: every durable is bounded, anything that can never be
accepted is dead-lettered at once, a handler that keeps failing is logged on each delivery and
dead-lettered on the last one, and the conversation is told. Real nats-server, real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import nats
import pytest
import structlog
from hermes import subjects
from hermes.contracts import ChatMessage, DeadLetter, Reply
from hermes.settings import Settings
from hermes.signing import generate_keys
from hermes_guard.app import create_app as create_guard
from hermes_planner.app import create_app as create_planner
from hermes_planner.service import Planner

pytestmark = pytest.mark.timeout(120)

BOMB = b"[" * 2000 + b"]" * 2000
SECRET = "sk-ant-" + "z" * 40


PRIVATE, PUBLIC = generate_keys(subjects.SERVICES)


def settings_for(service: str, fresh_nats: Any, redis_server: Any, redis_prefix: str) -> Settings:
    return Settings(nats_url=fresh_nats.url, redis_url=redis_server.url, redis_prefix=redis_prefix,
                    service_key=PRIVATE[service], trusted_keys=json.dumps(PUBLIC), api_token="t" * 24)


async def _wait_settled(js: Any, stream: str, durable: str, timeout: float = 20.0) -> Any:
    """Consumer info once nothing is pending or awaiting an ack (or the deadline passes)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        info = await js.consumer_info(stream, durable)
        if (info.num_ack_pending == 0 and info.num_pending == 0) or asyncio.get_running_loop().time() > deadline:
            return info
        await asyncio.sleep(0.05)


async def _fetch(sub: Any, count: int, timeout: float = 20.0) -> list[Any]:
    got: list[Any] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < count:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        try:
            msgs = await sub.fetch(count - len(got), timeout=min(left, 2.0))
        except nats.errors.TimeoutError:
            continue
        for m in msgs:
            await m.ack()
        got.extend(msgs)
    return got


async def test_a_nesting_bomb_is_dead_lettered_once_and_valid_messages_still_flow(
        fresh_nats, redis_server, redis_prefix) -> None:
    async with create_planner(settings_for("planner", fresh_nats, redis_server, redis_prefix),
                              configure_logging=False), \
            create_guard(settings_for("guard", fresh_nats, redis_server, redis_prefix), configure_logging=False):
        nc = await nats.connect(fresh_nats.url)
        js = nc.jetstream()
        try:
            letters = await js.pull_subscribe(f"{subjects.DEAD_LETTER}.>", stream=subjects.DEAD_LETTER_STREAM.name)
            replies = await js.pull_subscribe(subjects.REPLY_CREATED, stream=subjects.REPLY_STREAM.name)
            await js.publish(subjects.CHAT_RECEIVED, BOMB)
            await js.publish(subjects.PLAN_PROPOSED, BOMB)

            got = [DeadLetter.model_validate_json(m.data) for m in await _fetch(letters, 2)]
            assert sorted(letter.subject for letter in got) == sorted([subjects.CHAT_RECEIVED, subjects.PLAN_PROPOSED])
            assert all("nested deeper than 64 levels" in letter.reason for letter in got)
            assert {letter.service for letter in got} == {"planner", "guard"}

            for stream, durable in ((subjects.CHAT_STREAM.name, subjects.PLANNER_CHAT_DURABLE),
                                    (subjects.PLAN_STREAM.name, subjects.GUARD_PLANS_DURABLE)):
                info = await _wait_settled(js, stream, durable)
                assert info.num_ack_pending == 0 and info.num_pending == 0, durable
                assert info.num_redelivered <= 1, (durable, info.num_redelivered)
                assert info.delivered.consumer_seq <= 2, (durable, info.delivered)
                assert info.config.max_deliver == 5, durable

            # and the services still answer a valid message
            message = ChatMessage(conversation_id="c-ok", correlation_id="m-ok", id="m-ok", text="sing a song",
                                  user="alice")
            await js.publish(subjects.CHAT_RECEIVED, message.model_dump_json().encode())
            answers = [Reply.model_validate_json(m.data) for m in await _fetch(replies, 1)]
            assert answers and answers[0].correlation_id == "m-ok" and answers[0].final

            # dead-lettered exactly once each, and no reply for a bomb that names no conversation
            assert (await js.stream_info(subjects.DEAD_LETTER_STREAM.name)).state.messages == 2
        finally:
            await nc.close()


async def test_a_handler_that_always_fails_is_retried_then_dead_lettered_once(
        fresh_nats, redis_server, redis_prefix, monkeypatch: pytest.MonkeyPatch) -> None:
    # Short delays between the retries, so the test runs in seconds; the limit is the catalog's own.
    quick = tuple(dataclasses.replace(c, retry_delays_seconds=(0.1, 0.2))
                  if c.durable == subjects.PLANNER_CHAT_DURABLE else c for c in subjects.CONSUMERS)
    monkeypatch.setattr(subjects, "CONSUMERS", quick)
    max_deliver = next(c.max_deliver for c in quick if c.durable == subjects.PLANNER_CHAT_DURABLE)
    calls: list[str] = []

    async def explode(self: Planner, message: ChatMessage) -> None:
        calls.append(message.id)
        raise RuntimeError(f"model backend exploded with key {SECRET}")

    monkeypatch.setattr(Planner, "handle_chat", explode)
    with structlog.testing.capture_logs() as logs:
        async with create_planner(settings_for("planner", fresh_nats, redis_server, redis_prefix),
                                  configure_logging=False):
            nc = await nats.connect(fresh_nats.url)
            js = nc.jetstream()
            try:
                letters = await js.pull_subscribe(f"{subjects.DEAD_LETTER}.>",
                                                  stream=subjects.DEAD_LETTER_STREAM.name)
                replies = await js.pull_subscribe(subjects.REPLY_CREATED, stream=subjects.REPLY_STREAM.name)
                message = ChatMessage(conversation_id="c-fail", correlation_id="m-fail", id="m-fail",
                                      text="List my Ankra clusters", user="alice")
                await js.publish(subjects.CHAT_RECEIVED, message.model_dump_json().encode())

                got = await _fetch(letters, 1)
                assert got, calls
                letter = DeadLetter.model_validate_json(got[0].data)
                assert letter.subject == subjects.CHAT_RECEIVED and letter.conversation_id == "c-fail"
                assert "RuntimeError: model backend exploded" in letter.reason
                assert SECRET not in letter.reason and SECRET not in letter.payload
                assert f"{max_deliver} deliveries" in letter.reason

                reply = Reply.model_validate_json((await _fetch(replies, 1))[0].data)
                assert reply.conversation_id == "c-fail" and reply.kind == "error" and reply.final
                assert letter.id in reply.text

                info = await _wait_settled(js, subjects.CHAT_STREAM.name, subjects.PLANNER_CHAT_DURABLE)
                assert info.num_ack_pending == 0 and info.num_pending == 0
                assert calls == ["m-fail"] * max_deliver
                assert (await js.stream_info(subjects.DEAD_LETTER_STREAM.name)).state.messages == 1
            finally:
                await nc.close()

    failures = [e for e in logs if e.get("event") == "handler failed"]
    assert [e["delivery"] for e in failures] == list(range(1, max_deliver + 1))
    assert all(e["log_level"] == "error" and e["correlation_id"] == "m-fail"
               and e["subject"] == subjects.CHAT_RECEIVED and "model backend exploded" in e["error"]
               and SECRET not in e["error"] for e in failures)
