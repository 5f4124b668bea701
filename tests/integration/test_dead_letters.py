"""A message that fails validation is dead-lettered with its reason and answered, never dropped."""

from __future__ import annotations

import asyncio
import json

import nats
import pytest
from hermes import subjects
from hermes.contracts import DeadLetter, Reply
from hermes.settings import Settings
from hermes.signing import ServiceKey, generate_keys
from hermes_planner.app import create_app as create_planner


@pytest.fixture
def settings(fresh_nats, redis_server, redis_prefix) -> Settings:
    return Settings(nats_url=fresh_nats.url, redis_url=redis_server.url, redis_prefix=redis_prefix,
                    service_key=ServiceKey.generate("planner").private_text(),
                        trusted_keys=json.dumps(generate_keys(["gateway", "guard"])[1]), api_token="t" * 24)


async def _next(js, subject: str, stream: str, timeout: float = 15.0):
    sub = await js.pull_subscribe(subject, stream=stream)
    msgs = await sub.fetch(1, timeout=timeout)
    await msgs[0].ack()
    return msgs[0]


async def test_message_missing_a_field_is_dead_lettered_and_its_conversation_answered(settings) -> None:
    async with create_planner(settings, configure_logging=False):
        nc = await nats.connect(settings.nats_url)
        js = nc.jetstream()
        try:
            bad = {"id": "m-1", "conversation_id": "conv-1", "correlation_id": "m-1", "user": "alice",
                   "created_at": "2026-11-23T10:00:00Z"}  # no "text"
            await js.publish(subjects.CHAT_RECEIVED, json.dumps(bad).encode())
            letter = DeadLetter.model_validate_json(
                (await _next(js, f"{subjects.DEAD_LETTER}.>", subjects.DEAD_LETTER_STREAM.name)).data)
            assert letter.subject == subjects.CHAT_RECEIVED
            assert "text" in letter.reason and "Field required" in letter.reason
            assert letter.conversation_id == "conv-1" and letter.service == "planner"
            assert json.loads(letter.payload)["user"] == "alice"

            reply = Reply.model_validate_json(
                (await _next(js, subjects.REPLY_CREATED, subjects.REPLY_STREAM.name)).data)
            assert reply.conversation_id == "conv-1" and reply.correlation_id == "m-1"
            assert reply.kind == "error" and reply.final
            assert letter.id in reply.text and "nothing was run" in reply.text

            # The ack follows the dead letter and the reply: wait for it, then check nothing is left.
            for _ in range(200):
                info = await js.consumer_info(subjects.CHAT_STREAM.name, subjects.PLANNER_CHAT_DURABLE)
                if info.num_ack_pending == 0:
                    break
                await asyncio.sleep(0.05)
            assert info.num_ack_pending == 0 and info.num_pending == 0, "acked, not left for redelivery"
            assert info.num_redelivered == 0
        finally:
            await nc.close()


async def test_payload_that_is_not_json_is_dead_lettered_with_secrets_redacted(settings) -> None:
    secret = "sk-ant-" + "q" * 40
    async with create_planner(settings, configure_logging=False):
        nc = await nats.connect(settings.nats_url)
        js = nc.jetstream()
        try:
            await js.publish(subjects.CHAT_RECEIVED, f"not json, key {secret}".encode())
            letter = DeadLetter.model_validate_json(
                (await _next(js, f"{subjects.DEAD_LETTER}.>", subjects.DEAD_LETTER_STREAM.name)).data)
            assert letter.conversation_id is None
            assert secret not in letter.payload and "[REDACTED:anthropic-key]" in letter.payload
            # no conversation to answer: nothing is published as a reply
            stream = await js.stream_info(subjects.REPLY_STREAM.name)
            assert stream.state.messages == 0
        finally:
            await nc.close()
