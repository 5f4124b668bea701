"""Bus helpers shared by every service: the broker, streams, publishing and dead letters.

- `make_broker` builds a FastStream NATS broker with the middleware every service needs:
  correlation ids in logs, and dead-lettering of messages that fail validation. It connects as the
  service's own NATS user (or with the credentials of the URL) and with the service's own inbox
  prefix (`hermes.permissions.inbox_prefix`), the only inboxes that user may subscribe to.
- `bootstrap` creates every stream and durable consumer of `hermes.subjects` (as the `bootstrap`
  user, `hermes bootstrap`), and brings existing ones to the declared configuration. Service users
  may not create either: a service only looks up its durables.
- `ensure_streams` declares every stream from the service itself: the development path (`hermes up`
  without users, tests), where the broker also declares them before its subscribers start.
- `publish` sends a contract with `Nats-Msg-Id` = message id, so JetStream drops duplicates.
"""

from __future__ import annotations

import json
from typing import Any

import nats
import structlog
from faststream import BaseMiddleware
from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.security import NatsUserPassword
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from pydantic import ValidationError

from hermes import permissions, subjects
from hermes.contracts import DeadLetter, Envelope, Reply
from hermes.redaction import Redactor
from hermes.subjects import ConsumerSpec, StreamSpec

log = structlog.get_logger("hermes.bus")

MAX_DEAD_LETTER_PAYLOAD = 8 * 1024


class BusNotBootstrapped(RuntimeError):
    """A service's durable consumer (or its stream) does not exist, and the service may not create it."""


def jstream(spec: StreamSpec) -> JStream:
    """The FastStream declaration of a stream from the catalog.

    `declare=False`: a subscriber never creates or updates its stream (its NATS user may not); the
    bootstrap does, or `ensure_streams` on the development path, before the subscribers start.
    """
    return JStream(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=spec.retention,
        max_age=spec.max_age_seconds,
        storage=spec.storage,
        duplicate_window=spec.duplicate_window_seconds,
        description=spec.description,
        declare=False,
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


async def _declare_streams(js: JetStreamContext, specs: tuple[StreamSpec, ...]) -> None:
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


async def ensure_streams(broker: NatsBroker, specs: tuple[StreamSpec, ...] = subjects.STREAMS) -> None:
    """Create (or update) every stream; idempotent. The development path only: it needs a NATS user
    that may create streams (no user at all, as `hermes up` without users and the tests run)."""
    await broker.connect()
    await _declare_streams(broker.config.connection_state.stream, specs)


def consumer_config(consumer: ConsumerSpec, ack_wait_seconds: float | None = None) -> ConsumerConfig:
    """The configuration of a durable, exactly as a FastStream pull subscriber creates it through
    nats-py's pull_subscribe (FastStream's `ConsumerConfig(filter_subjects=[])` with the durable name
    and `DeliverPolicy.ALL`; nats-py adds the name and the subscriber's subject as filter), so that a
    consumer made by the bootstrap and one made by a service on the development path are the same."""
    ack_wait = ack_wait_seconds if ack_wait_seconds is not None else consumer.ack_wait_seconds
    return ConsumerConfig(
        name=consumer.durable,
        durable_name=consumer.durable,
        deliver_policy=DeliverPolicy.ALL,
        filter_subject=consumer.subject,
        filter_subjects=[],
        ack_wait=ack_wait,
    )


async def bootstrap(nats_url: str, *, user: str | None = None, password: str | None = None,
                    exec_ack_wait_seconds: float | None = None, timeout: float = 10.0) -> None:
    """Create every stream and durable consumer of the catalog, or bring existing ones to the declared
    configuration; idempotent (`hermes bootstrap`, once per deployment and after each upgrade).

    Connects as `user`/`password` (the `bootstrap` NATS user; None: the URL's credentials, or none) with
    the bootstrap's own inbox prefix. `exec_ack_wait_seconds`: the executor consumer's ack wait; None
    takes the setting HERMES_EXEC_ACK_WAIT_SECONDS (the executor, which may not change its consumer,
    checks it against the same setting).
    """
    if exec_ack_wait_seconds is None:
        from hermes.settings import Settings

        exec_ack_wait_seconds = Settings().exec_ack_wait_seconds
    nc = await nats.connect(nats_url, user=user, password=password,
                            inbox_prefix=permissions.inbox_prefix(permissions.BOOTSTRAP), name="hermes-bootstrap",
                            connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=1)
    try:
        js = nc.jetstream(timeout=timeout)
        await _declare_streams(js, subjects.STREAMS)
        for consumer in subjects.CONSUMERS:
            ack_wait = exec_ack_wait_seconds if consumer.durable == subjects.EXECUTOR_ORDERS_DURABLE else None
            # Create, or update in place when it exists with another (updatable) configuration.
            await js.add_consumer(consumer.stream, config=consumer_config(consumer, ack_wait))
        log.info("bus bootstrapped", streams=len(subjects.STREAMS), consumers=len(subjects.CONSUMERS))
    finally:
        await nc.close()


async def check_consumers(js: JetStreamContext, durables: list[tuple[str, str]], service: str) -> None:
    """Raise `BusNotBootstrapped`, naming what is missing, unless every (stream, durable) exists."""
    for stream, durable in durables:
        try:
            await js.consumer_info(stream, durable)
        except NotFoundError as err:
            raise BusNotBootstrapped(
                f"{service}: the durable consumer {durable} of stream {stream} does not exist, and the "
                f"{service} may not create it: run `hermes bootstrap` (as the bootstrap NATS user) first"
            ) from err
        except NatsTimeoutError as err:
            raise BusNotBootstrapped(
                f"{service}: NATS did not answer for the consumer {durable} of stream {stream}: is this the "
                f"{service}'s own NATS user, with the permissions of hermes.permissions (deploy/nats/nats.conf)?"
            ) from err


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


class HermesBroker(NatsBroker):
    """A service's broker: every subscriber receives on the service's own inbox prefix, and before the
    subscribers start the streams exist (declared here on the development path, or checked: the
    service's durables must have been made by the bootstrap)."""

    def __init__(self, *args: Any, service: str, declare_streams: bool, **kwargs: Any) -> None:
        prefix = permissions.inbox_prefix(service)
        super().__init__(*args, inbox_prefix=prefix, **kwargs)
        self.service = service
        self.declare_streams = declare_streams
        self._subscriber_inbox = f"{prefix}.".encode()

    def subscriber(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # FastStream gives pull subscriptions `_INBOX.` unless told otherwise: a service user may not
        # subscribe there, so its pulled messages arrive under its own prefix.
        kwargs.setdefault("inbox_prefix", self._subscriber_inbox)
        return super().subscriber(*args, **kwargs)

    def durables(self) -> list[tuple[str, str]]:
        """(stream, durable) of every JetStream subscriber of this broker."""
        found = []
        for sub in self.subscribers:
            options = getattr(sub, "extra_options", None) or {}
            if options.get("stream") and options.get("durable"):
                found.append((options["stream"], options["durable"]))
        return list(dict.fromkeys(found))

    async def start(self) -> None:
        await self.connect()
        js = self.config.connection_state.stream
        if self.declare_streams:
            try:
                await _declare_streams(js, subjects.STREAMS)
            except NatsTimeoutError as err:
                raise BusNotBootstrapped(
                    f"{self.service}: NATS did not answer the stream declaration: a service's own NATS user may "
                    "not declare streams. Set HERMES_NATS_DECLARE_STREAMS=false and run `hermes bootstrap` (as "
                    "the bootstrap user) instead") from err
        else:
            await check_consumers(js, self.durables(), self.service)
        await super().start()


def make_broker(nats_url: str, service: str, redactor: Redactor, *, user: str | None = None,
                password: str | None = None, declare_streams: bool = True) -> NatsBroker:
    """A NATS broker for `service` with Hermes's middleware.

    `user`/`password`: the service's own NATS user (None: the credentials in `nats_url`, if any),
    always with the inbox prefix `hermes.permissions.inbox_prefix(service)`. `declare_streams`
    (HERMES_NATS_DECLARE_STREAMS): create the streams at start-up, before the subscribers (development);
    False where the bootstrap made them and the service's user may not: the start then checks that the
    service's durables exist and says to run `hermes bootstrap` if they do not.
    """
    security = NatsUserPassword(user, password or "") if user else None
    return HermesBroker(
        nats_url,
        service=service,
        declare_streams=declare_streams,
        security=security,
        name=f"hermes-{service}",
        middlewares=[hermes_middleware(service, redactor)],
        logger=None,
        max_reconnect_attempts=-1,
        connect_timeout=5,
    )
