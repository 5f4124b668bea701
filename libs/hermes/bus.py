"""Bus helpers shared by every service: the broker, streams, publishing and dead letters.

- `make_broker` builds a FastStream NATS broker with the middleware every service needs:
  correlation ids in logs, every handler exception logged, and dead letters: a payload that can never
  be accepted (not a JSON object, over `MAX_PAYLOAD_BYTES`, nested deeper than `MAX_JSON_DEPTH`, failing
  validation) at once, any other failure on its consumer's last delivery (`ConsumerSpec.max_deliver`);
  earlier failures are redelivered after `ConsumerSpec.retry_delays_seconds`. Every durable is bounded
  (`max_deliver`, `backoff`), the same on both paths: `consumer_config` for the bootstrap, and the
  broker's `subscriber` for the subscribers that services declare. It connects as the
  service's own NATS user (or with the credentials of the URL) and with the service's own inbox
  prefix (`hermes.permissions.inbox_prefix`), the only inboxes that user may subscribe to.
- `bootstrap` creates every stream and durable consumer of `hermes.subjects` (as the `bootstrap`
  user, `hermes bootstrap`), and brings existing ones to the declared configuration. Service users
  may not create either: a service only looks up its durables.
- `ensure_streams` declares every stream from the service itself: the development path (`hermes up`
  without users, tests), where the broker also declares them before its subscribers start.
- Clusters: `nats_url` may name several servers, comma-separated (`nats_servers`); every connection
  tries them in random order and reconnects forever. Streams get `stream_replicas` copies: the setting
  HERMES_NATS_REPLICAS, else min(3, the servers of the cluster), 1 on a single server.
- `publish` sends a contract with `Nats-Msg-Id` = message id, so JetStream drops duplicates.
- `publish_confirmed` does the same for a caller that must tell someone whether the message was
  queued (the gateway's HTTP API): it fails with `NotPublished` only when the message certainly was not
  stored and nothing of it is left in the client's buffer to be sent later, and with
  `PublishUncertain` when it may have been stored (or may still be, once the connection is back).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
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
MAX_PAYLOAD_BYTES = 1024 * 1024
"""A bus message larger than this is dead-lettered before it is parsed."""
MAX_JSON_DEPTH = 64
"""A bus message nested deeper than this (arrays and objects) is dead-lettered before it is parsed."""
MAX_REASON_CHARS = 2000

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeds(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` nests arrays/objects deeper than `limit`: a scan of the brackets
    outside strings, without parsing (and so without recursion); malformed text is left to the parser."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    if len(brackets) <= 2 * limit:
        return False
    depth = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def payload_problem(body: Any) -> str | None:
    """Why a bus payload can never be accepted (too large, too deep, not JSON, not an object), or None."""
    if isinstance(body, dict):
        return None
    if not isinstance(body, bytes | bytearray | str):
        return f"payload of type {type(body).__name__} is not a JSON object"
    size = len(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)
    if size > MAX_PAYLOAD_BYTES:
        return f"payload of {size} bytes is over the limit of {MAX_PAYLOAD_BYTES} bytes"
    if json_depth_exceeds(body):
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(body)
    except RecursionError:
        return f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    except (TypeError, ValueError) as err:
        return f"payload is not JSON: {err}"
    if not isinstance(value, dict):
        return f"payload is a JSON {type(value).__name__}, not an object"
    return None


def consumer_spec(service: str, subject: str) -> ConsumerSpec | None:
    """The durable through which `service` consumes `subject`, if any."""
    return next((c for c in subjects.consumed_by(service) if c.subject == subject), None)


def _spec_of_durable(durable: str | None) -> ConsumerSpec | None:
    return next((c for c in subjects.CONSUMERS if c.durable == durable), None) if durable else None


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


MAX_REPLICAS = 3
"""Copies of each stream on a cluster by default: a majority survives the loss of any one server."""
RECONNECT_WAIT_SECONDS = 1
"""Seconds before a server that just failed is tried again (the others are tried at once)."""


def nats_servers(nats_url: str | Sequence[str]) -> list[str]:
    """The server URLs of HERMES_NATS_URL: one URL, or several separated by commas (a cluster)."""
    parts = nats_url.split(",") if isinstance(nats_url, str) else list(nats_url)
    servers = [p.strip() for p in parts if p and p.strip()]
    if not servers:
        raise ValueError("HERMES_NATS_URL names no server: give nats://host:port, or several separated by commas")
    return servers


def cluster_size(server_info: dict[str, Any] | None) -> int:
    """How many servers the cluster of a connection has, from the server's INFO: the client URLs it
    advertises (its own and its peers'); 1 for a server without a cluster (or one that advertises none)."""
    info = server_info or {}
    if not info.get("cluster"):
        return 1
    return max(1, len(set(info.get("connect_urls") or ())))


def stream_replicas(nc: Any, configured: int | None = None) -> int:
    """Copies of each stream: `configured` (HERMES_NATS_REPLICAS) when set, else min(MAX_REPLICAS, the
    size of the cluster that the connection `nc` is part of)."""
    if configured is not None:
        return configured
    return min(MAX_REPLICAS, cluster_size(getattr(nc, "_server_info", None)))


async def _declare_streams(js: JetStreamContext, specs: tuple[StreamSpec, ...], replicas: int = 1) -> None:
    for spec in specs:
        config = _stream_config(spec)
        config.num_replicas = replicas
        try:
            await js.add_stream(config)
        except BadRequestError as err:
            # 10058: the stream exists with another config; bring it to the declared one.
            if getattr(err, "err_code", None) == 10058:
                await js.update_stream(config)
            else:
                raise


async def ensure_streams(broker: NatsBroker, specs: tuple[StreamSpec, ...] = subjects.STREAMS,
                         replicas: int | None = None) -> None:
    """Create (or update) every stream; idempotent. The development path only: it needs a NATS user
    that may create streams (no user at all, as `hermes up` without users and the tests run).
    `replicas`: copies of each stream; None: the broker's own (`make_broker`), else `stream_replicas`."""
    await broker.connect()
    if replicas is None:
        replicas = getattr(broker, "replicas", None)
    replicas = stream_replicas(nats_client(broker), replicas)
    await _declare_streams(broker.config.connection_state.stream, specs, replicas)


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
        max_deliver=consumer.max_deliver,
        backoff=list(consumer.backoff_seconds) if consumer.backoff_seconds else None,
    )


def _bound(config: ConsumerConfig | None, consumer: ConsumerSpec) -> ConsumerConfig:
    """A subscriber's consumer config with its durable's delivery limit and backoff from the catalog,
    as `consumer_config` gives them to the bootstrap."""
    config = config or ConsumerConfig(filter_subjects=[])  # FastStream's own default
    if config.max_deliver is None:
        config.max_deliver = consumer.max_deliver
    if config.backoff is None and consumer.backoff_seconds:
        config.backoff = list(consumer.backoff_seconds)
    return config


async def bootstrap(nats_url: str | Sequence[str], *, user: str | None = None, password: str | None = None,
                    exec_ack_wait_seconds: float | None = None, timeout: float = 10.0,
                    replicas: int | None = None) -> None:
    """Create every stream and durable consumer of the catalog, or bring existing ones to the declared
    configuration; idempotent (`hermes bootstrap`, once per deployment and after each upgrade).

    Connects as `user`/`password` (the `bootstrap` NATS user; None: the URL's credentials, or none) with
    the bootstrap's own inbox prefix. `exec_ack_wait_seconds`: the executor consumer's ack wait; None
    takes the setting HERMES_EXEC_ACK_WAIT_SECONDS (the executor, which may not change its consumer,
    checks it against the same setting). `nats_url`: one server or several (a cluster, comma-separated);
    `replicas`: copies of each stream, None: HERMES_NATS_REPLICAS, else from the cluster's size.
    """
    if exec_ack_wait_seconds is None or replicas is None:
        from hermes.settings import Settings

        settings = Settings()
        if exec_ack_wait_seconds is None:
            exec_ack_wait_seconds = settings.exec_ack_wait_seconds
        if replicas is None:
            replicas = settings.nats_replicas
    nc = await nats.connect(nats_servers(nats_url), user=user, password=password,
                            inbox_prefix=permissions.inbox_prefix(permissions.BOOTSTRAP), name="hermes-bootstrap",
                            connect_timeout=timeout, allow_reconnect=False, max_reconnect_attempts=1)
    try:
        js = nc.jetstream(timeout=timeout)
        await _declare_streams(js, subjects.STREAMS, stream_replicas(nc, replicas))
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


PUBLISH_ACK_TIMEOUT = 5.0
"""How long `publish_confirmed` waits for JetStream's acknowledgement of a stored message."""

# Raised by nats-py's publish before anything of the message is written or buffered.
_REFUSED_BEFORE_SENDING = (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError,
                           nats.errors.OutboundBufferLimitError, nats.errors.MaxPayloadError,
                           nats.errors.BadSubjectError, nats.errors.BadHeaderError)


class PublishFailed(RuntimeError):
    """A confirmed publish got no acknowledgement; the subclass says whether it may still be stored."""


class NotPublished(PublishFailed):
    """The message certainly was not stored, and no copy is left to be sent later: safe to send again."""


class PublishUncertain(PublishFailed):
    """The message may have been stored, or may be once the connection is back (it left this process
    or waits in the client's buffer): send it again only with the same id, which JetStream deduplicates
    within the stream's duplicate window."""


def nats_client(broker: NatsBroker) -> Any | None:
    """The broker's nats-py client, None before it connected."""
    try:
        return broker.config.connection_state.connection
    except Exception:
        return None


def bus_connected(broker: NatsBroker) -> bool:
    """Whether the broker is connected to NATS now (not connecting, reconnecting or closed)."""
    nc = nats_client(broker)
    return bool(nc is not None and nc.is_connected)


def withdraw_pending(nc: Any, message_id: str) -> bool:
    """Take the message published with `Nats-Msg-Id: message_id` out of nats-py's pending buffer, where
    a publish made while the connection was down waits to be sent on reconnect. True when it was there
    (so it was never written to the connection and now never will be), False when it was not."""
    pending = getattr(nc, "_pending", None)
    if not isinstance(pending, list) or not isinstance(getattr(nc, "_pending_data_size", None), int):
        return False  # another nats-py: nothing to look at, so nothing is known to be withdrawn
    marker = b"\r\nNats-Msg-Id: " + message_id.encode() + b"\r\n"
    found = [cmd for cmd in pending if marker in cmd]
    for cmd in found:
        pending.remove(cmd)
        nc._pending_data_size -= len(cmd)
    return bool(found)


async def publish_confirmed(broker: NatsBroker, message: Envelope, subject: str,
                            timeout: float = PUBLISH_ACK_TIMEOUT) -> None:
    """Publish like `publish`, and return only once JetStream acknowledged that it stored the message.

    Raises `NotPublished` when the message certainly was not stored: the broker was not connected (then
    nothing is handed to the client, which would buffer it and send it on reconnect), JetStream refused
    it or no stream answered, or it was still in the client's pending buffer when the wait ended and was
    taken out of it. Raises `PublishUncertain` otherwise (it was written to the connection, and the
    acknowledgement did not come): it may be stored; publishing it again with the same id is safe.
    """
    nc = nats_client(broker)
    if nc is None or not nc.is_connected:
        state = "closed" if nc is not None and nc.is_closed else "reconnecting" if nc is not None else "not connected"
        raise NotPublished(f"not connected to NATS ({state}); nothing was sent")
    try:
        await broker.publish(
            message.model_dump(mode="json"),
            subject,
            stream=subjects.stream_for(subject).name,
            headers={"Nats-Msg-Id": message.id},
            correlation_id=message.correlation_id,
            timeout=timeout,
        )
    except (nats.js.errors.NoStreamResponseError, nats.errors.NoRespondersError) as err:
        withdraw_pending(nc, message.id)
        raise NotPublished(f"no JetStream stream answered for {subject} (the bus is starting or "
                           "was not bootstrapped); nothing was stored") from err
    except nats.js.errors.APIError as err:
        withdraw_pending(nc, message.id)
        raise NotPublished(f"JetStream refused the message: {err.description or err}") from err
    except _REFUSED_BEFORE_SENDING as err:
        withdraw_pending(nc, message.id)
        raise NotPublished(f"the NATS client refused to send it ({type(err).__name__}); "
                           "nothing was sent") from err
    except Exception as err:  # (a timeout, a connection lost with the message in flight)
        if withdraw_pending(nc, message.id):
            raise NotPublished(f"NATS did not take the message ({type(err).__name__}); it was taken "
                               "back from the client's buffer, nothing was stored") from err
        raise PublishUncertain(f"no acknowledgement from JetStream ({type(err).__name__} "
                               f"{err}); the message may have been stored") from err


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:10]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "message"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def _decode(body: Any) -> dict[str, Any] | None:
    if isinstance(body, dict):
        return body
    if isinstance(body, bytes | bytearray | str) and (len(body) > MAX_PAYLOAD_BYTES or json_depth_exceeds(body)):
        return None
    try:
        value = json.loads(body)
    except (TypeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _deliveries(msg: Any) -> int:
    try:
        metadata = msg.raw_message.metadata
    except Exception:
        return 1
    return metadata.num_delivered if metadata and metadata.num_delivered else 1


def hermes_middleware(service: str, redactor: Redactor) -> type[BaseMiddleware]:
    """The consume middleware of a service: log context, handler exceptions logged, and dead letters."""

    class HermesMiddleware(BaseMiddleware):
        async def consume_scope(self, call_next: Any, msg: Any) -> Any:
            subject = msg.raw_message.subject
            problem = payload_problem(msg.body)
            fields = (_decode(msg.body) or {}) if problem is None else {}
            structlog.contextvars.bind_contextvars(
                correlation_id=fields.get("correlation_id"),
                conversation_id=fields.get("conversation_id"),
                message_id=fields.get("id"),
                subject=subject,
            )
            broker: NatsBroker = self.context.get("broker")
            try:
                if problem is not None:  # can never succeed: dead-lettered at once, before any parsing
                    await dead_letter(broker, service, redactor, subject, msg.body, problem)
                    await msg.ack()
                    return None
                return await call_next(msg)
            except ValidationError as err:
                await dead_letter(broker, service, redactor, subject, msg.body, _describe(err))
                await msg.ack()  # also under manual acks: a dead letter is never redelivered
                return None  # handled: the message is acked, never redelivered forever
            except Exception as err:
                return await self._failed(broker, msg, subject, err)
            finally:
                structlog.contextvars.unbind_contextvars(
                    "correlation_id", "conversation_id", "message_id", "subject"
                )

        async def _failed(self, broker: NatsBroker, msg: Any, subject: str, err: Exception) -> Any:
            """A handler raised: log it; dead-letter on the last delivery, else redeliver with backoff."""
            consumer = consumer_spec(service, subject)
            deliveries = _deliveries(msg)
            max_deliver = consumer.max_deliver if consumer else None
            reason = redactor.text(f"{type(err).__name__}: {err}")[:MAX_REASON_CHARS]
            bound = structlog.contextvars.get_contextvars()  # named here too: whatever the log config
            log.error("handler failed", error=reason, delivery=deliveries, max_deliver=max_deliver,
                      correlation_id=bound.get("correlation_id"), subject=subject, exc_info=err)
            if max_deliver is not None and deliveries >= max_deliver:
                await dead_letter(broker, service, redactor, subject, msg.body,
                                  f"{reason} (failed on each of {deliveries} deliveries)")
                await msg.ack()  # also under manual acks: never redelivered again
                return None
            if consumer is None or consumer.durable in getattr(broker, "manual_ack_durables", ()):
                raise err  # manual acks (executor, outbox): their own retry behaviour, as before
            delays = consumer.retry_delays_seconds
            await msg.nack(delay=delays[min(deliveries, len(delays)) - 1] if delays else None)
            return None

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

    def __init__(self, *args: Any, service: str, declare_streams: bool, replicas: int | None = None,
                 **kwargs: Any) -> None:
        prefix = permissions.inbox_prefix(service)
        super().__init__(*args, inbox_prefix=prefix, **kwargs)
        self.service = service
        self.declare_streams = declare_streams
        self.replicas = replicas
        self._subscriber_inbox = f"{prefix}.".encode()
        self.manual_ack_durables: set[str] = set()

    def subscriber(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        # FastStream gives pull subscriptions `_INBOX.` unless told otherwise: a service user may not
        # subscribe there, so its pulled messages arrive under its own prefix.
        kwargs.setdefault("inbox_prefix", self._subscriber_inbox)
        # Every durable bounded as the catalog says (the bootstrap's `consumer_config`): the subscriber
        # creates its consumer with the same delivery limit and backoff on the development path.
        consumer = _spec_of_durable(kwargs.get("durable"))
        if consumer is not None:
            kwargs["config"] = _bound(kwargs.get("config"), consumer)
            if kwargs.get("ack_policy") is AckPolicy.MANUAL:
                self.manual_ack_durables.add(consumer.durable)
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
                await _declare_streams(js, subjects.STREAMS, stream_replicas(nats_client(self), self.replicas))
            except NatsTimeoutError as err:
                raise BusNotBootstrapped(
                    f"{self.service}: NATS did not answer the stream declaration: a service's own NATS user may "
                    "not declare streams. Set HERMES_NATS_DECLARE_STREAMS=false and run `hermes bootstrap` (as "
                    "the bootstrap user) instead") from err
        else:
            await check_consumers(js, self.durables(), self.service)
        await super().start()


def make_broker(nats_url: str | Sequence[str], service: str, redactor: Redactor, *, user: str | None = None,
                password: str | None = None, declare_streams: bool = True,
                replicas: int | None = None) -> NatsBroker:
    """A NATS broker for `service` with Hermes's middleware.

    `user`/`password`: the service's own NATS user (None: the credentials in `nats_url`, if any),
    always with the inbox prefix `hermes.permissions.inbox_prefix(service)`. `declare_streams`
    (HERMES_NATS_DECLARE_STREAMS): create the streams at start-up, before the subscribers (development);
    False where the bootstrap made them and the service's user may not: the start then checks that the
    service's durables exist and says to run `hermes bootstrap` if they do not.

    `nats_url`: one server, or a cluster's servers (comma-separated or a list): the client picks them in
    random order (so a fleet of clients spreads over the cluster), moves to another when its server goes,
    and reconnects forever. `replicas`: copies of each stream it declares (None: `stream_replicas`).
    """
    security = NatsUserPassword(user, password or "") if user else None
    return HermesBroker(
        nats_servers(nats_url),
        service=service,
        declare_streams=declare_streams,
        replicas=replicas,
        security=security,
        name=f"hermes-{service}",
        middlewares=[hermes_middleware(service, redactor)],
        logger=None,
        max_reconnect_attempts=-1,
        reconnect_time_wait=RECONNECT_WAIT_SECONDS,
        dont_randomize=False,
        connect_timeout=5,
    )
