"""Bus helpers shared by every service: the broker, streams, publishing and dead letters.

- `make_broker` builds a FastStream NATS broker with the middleware every service needs:
  correlation ids in logs, and dead-lettering of messages that fail validation.
- `ensure_streams` declares every stream of `hermes.subjects`, so a service can publish to a
  stream whose consumer has not started yet.
- `publish` sends a contract with `Nats-Msg-Id` = message id, so JetStream drops duplicates.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from faststream import BaseMiddleware
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError
from pydantic import ValidationError

from hermes import subjects
from hermes.contracts import DeadLetter, Envelope, Reply
from hermes.redaction import Redactor
from hermes.subjects import StreamSpec

log = structlog.get_logger("hermes.bus")

MAX_DEAD_LETTER_PAYLOAD = 8 * 1024


def jstream(spec: StreamSpec) -> JStream:
    """The FastStream declaration of a stream from the catalog."""
    return JStream(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=spec.retention,
        max_age=spec.max_age_seconds,
        storage=spec.storage,
        duplicate_window=spec.duplicate_window_seconds,
        description=spec.description,
    )


def pull(batch_size: int = 1, timeout: float = 1.0) -> PullSub:
    """Pull-consumer settings: small batches, short fetch timeout so shutdown is quick."""
    return PullSub(batch_size=batch_size, timeout=timeout)


# Handlers ack after they return; an unexpected exception leaves the message for redelivery.
ACK_AFTER_HANDLING = AckPolicy.NACK_ON_ERROR


def _stream_config(spec: StreamSpec) -> StreamConfig:
    # The same configuration the subscribers declare through FastStream, so the two never disagree.
    config = jstream(spec).config
    config.subjects = list(spec.subjects)
    return config


async def ensure_streams(broker: NatsBroker, specs: tuple[StreamSpec, ...] = subjects.STREAMS) -> None:
    """Create (or update) every stream; idempotent, safe from any service at start-up."""
    js = broker.config.connection_state.stream
    for spec in specs:
        config = _stream_config(spec)
        try:
            await js.add_stream(config)
        except BadRequestError as err:
            # 10058: the stream exists with another config; bring it to the declared one.
            if getattr(err, "err_code", None) == 10058:
                await js.update_stream(config)
            else:
                raise


async def publish(broker: NatsBroker, message: Envelope, subject: str) -> None:
    """Publish a contract to its JetStream stream, deduplicated on the message id."""
    spec = subjects.stream_for(subject)
    await broker.publish(
        message.model_dump(mode="json"),
        subject,
        stream=spec.name,
        headers={"Nats-Msg-Id": message.id},
        correlation_id=message.correlation_id,
    )


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:10]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "message"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def _decode(body: Any) -> dict[str, Any] | None:
    if isinstance(body, dict):
        return body
    try:
        value = json.loads(body)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def hermes_middleware(service: str, redactor: Redactor) -> type[BaseMiddleware]:
    """The consume middleware of a service: log context, and dead letters for invalid messages."""

    class HermesMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: Any, msg: Any) -> Any:
            fields = _decode(msg.body) or {}
            structlog.contextvars.bind_contextvars(
                correlation_id=fields.get("correlation_id"),
                conversation_id=fields.get("conversation_id"),
                message_id=fields.get("id"),
                subject=msg.raw_message.subject,
            )
            try:
                return await call_next(msg)
            except ValidationError as err:
                broker: NatsBroker = self.context.get("broker")
                await dead_letter(broker, service, redactor, msg.raw_message.subject, msg.body,
                                  _describe(err))
                await msg.ack()  # also under manual acks: a dead letter is never redelivered
                return None  # handled: the message is acked, never redelivered forever
            finally:
                structlog.contextvars.unbind_contextvars(
                    "correlation_id", "conversation_id", "message_id", "subject"
                )

    return HermesMiddleware


async def dead_letter(broker: NatsBroker, service: str, redactor: Redactor, subject: str, body: Any,
                      reason: str) -> DeadLetter:
    """Send an unacceptable message to the dead-letter subject and answer its conversation."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body)
    fields = _decode(body) or {}
    conversation_id = fields.get("conversation_id") if isinstance(fields.get("conversation_id"), str) else None
    correlation_id = fields.get("correlation_id") if isinstance(fields.get("correlation_id"), str) else None
    letter = DeadLetter(
        subject=subject,
        reason=reason,
        payload=redactor.text(raw[:MAX_DEAD_LETTER_PAYLOAD]),
        conversation_id=conversation_id,
        correlation_id=correlation_id,
        service=service,
    )
    await broker.publish(letter.model_dump(mode="json"), subjects.dead_letter_subject(subject),
                         stream=subjects.DEAD_LETTER_STREAM.name, headers={"Nats-Msg-Id": letter.id})
    log.warning("message dead-lettered", reason=reason, dead_letter_id=letter.id)
    # A reply about a broken reply would loop: only answer messages that are not replies.
    if conversation_id and subject != subjects.REPLY_CREATED:
        reply = Reply(
            conversation_id=conversation_id,
            correlation_id=correlation_id or fields.get("id") or letter.id,
            kind="error",
            final=True,
            source=service,
            text=(f"Hermes could not accept a message on {subject}: {reason}. "
                  f"It was kept as dead letter {letter.id} for inspection; nothing was run."),
        )
        await publish(broker, reply, subjects.REPLY_CREATED)
    return letter


def make_broker(nats_url: str, service: str, redactor: Redactor) -> NatsBroker:
    """A NATS broker for `service` with Hermes's middleware."""
    return NatsBroker(
        nats_url,
        name=f"hermes-{service}",
        middlewares=[hermes_middleware(service, redactor)],
        logger=None,
        max_reconnect_attempts=-1,
        connect_timeout=5,
    )
