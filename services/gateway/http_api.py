"""The gateway's HTTP API (aiohttp): messages in, conversation events out, approvals.

Every route but the health checks and the OpenAPI document needs `Authorization: Bearer <token>`:
a person's own token (`hermes users add`), which says who they are and what roles they hold. A body
never names the person. A conversation belongs to whoever started it: anyone else but an admin gets
404 on it. Errors are JSON `{"error": "..."}` that say what was wrong and what to do, on every route
and for aiohttp's own answers too (no route, wrong method, body too large, an unexpected failure).

The retry contract (docs/http-api.md):

- `POST /v1/messages` and `POST /v1/approvals/{id}` take an `Idempotency-Key` header. The key (with
  the caller) determines the message id, so JetStream (`Nats-Msg-Id`) and the conversation log drop a
  repeat; a repeat with the same key gets the first answer (`Idempotent-Replayed: true`) and runs
  nothing again; the same key with another body or route is a 422; a repeat while the first is still
  being handled is a 409 with `Retry-After`.
- 503 with `Retry-After` from these two routes means the message certainly was not stored and nothing
  of it is left to be sent later: sending it again is safe (and with the same key, always safe).
- 202 with `status: "recovering"` means accepted but not yet confirmed by the bus: it may already be
  stored, and the gateway keeps publishing it (same id, deduplicated) until the bus confirms it.
  Never send it again without its key.
- Redis (conversations, tokens, records) unavailable: JSON 503 with `Retry-After`; nothing was published.
- Long polls and event streams are bounded per person (token) and in total: 429 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.exceptions
from aiohttp import web
from hermes import bus, logs, subjects
from hermes.access import Principal
from hermes.bus import NotPublished, PublishFailed, PublishUncertain, json_depth_exceeds
from hermes.contracts import ApprovalDecision, ChatMessage, Envelope, new_id, utcnow
from hermes.stores.approvals import ApprovalView, PendingApproval
from hermes_gateway.conversations import START, ConversationLog, UnknownConversation, message_event
from hermes_gateway.intake import Intake
from hermes_gateway.people import People, whoami

Publish = Callable[[Any, str], Awaitable[None]]
Ready = Callable[[], Awaitable[dict[str, bool]]]

_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_PUBLIC = {"/healthz", "/readyz", "/openapi.yaml", "/"}
WEB_PREFIX = "/web/"
WEB_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css",
             "icon.svg": "image/svg+xml"}
# The page runs only its own script and style, talks only to this gateway, and cannot be framed.
WEB_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32  # arrays and objects in a request body; no endpoint takes more than a few levels
MAX_TEXT = 20_000

IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces (a UUID fits)
BUS_RETRY_AFTER = 2  # seconds: the bus reconnects every 2 s
REDIS_RETRY_AFTER = 2
BUSY_RETRY_AFTER = 1
REPUBLISH_WITHIN = 100.0
"""Seconds after the first attempt during which a message is published again with its id: well inside
the streams' duplicate window (120 s), so JetStream drops the copy if the first one was stored."""
SSE_KEEPALIVE = 15.0
# Redis failures that pass (a restart, a network blip, a full pool): a 503 to retry, not a 500.
REDIS_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                     redis.exceptions.BusyLoadingError, redis.exceptions.ReadOnlyError,
                     redis.exceptions.TryAgainError)

log = logs.get_logger("hermes.gateway.http")


@dataclass(frozen=True)
class WaitLimits:
    """How many long polls and event streams (SSE) may be open at once, per person and in total: each
    holds a connection of the blocking-read Redis pool while it waits, and nothing else uses that pool."""

    long_polls_per_user: int = 16
    long_polls_total: int = 256
    streams_per_user: int = 4
    streams_total: int = 64

    @property
    def connections(self) -> int:
        """Blocking-read connections these limits can hold at once (the size of that pool)."""
        return self.long_polls_total + self.streams_total


WAIT_LIMITS = WaitLimits()


@functools.cache
def _web_file(name: str) -> str:
    """One of the page's files, read once."""
    return resources.files("hermes_gateway").joinpath("web", name).read_text(encoding="utf-8")


class ApiError(web.HTTPException):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.status_code = status
        super().__init__(text=json.dumps({"error": message}), content_type="application/json", headers=headers)


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


def _aiohttp_error(request: web.Request, err: web.HTTPException) -> ApiError:
    """aiohttp's own error answer (no route, wrong method, body too large, …) as a JSON error."""
    kept = {name: err.headers[name] for name in ("Allow", "Retry-After") if name in err.headers}
    if err.status == 404:
        message = f"no such route: {request.method} {request.path}; the routes are listed in /openapi.yaml"
    elif err.status == 405:
        allowed = err.headers.get("Allow", "")
        message = (f"method {request.method} is not allowed on {request.path}"
                   + (f"; use {allowed}" if allowed else "") + " (see /openapi.yaml)")
    elif err.status == 413:
        message = f"request body over {MAX_BODY_BYTES} bytes; send a smaller one"
    else:
        detail = (err.text or "").strip()
        message = f"{err.reason or 'error'}" + (f": {detail}" if detail and detail != f"{err.status}: {err.reason}" else "")
    return ApiError(err.status, message, headers=kept or None)


def redis_unavailable(err: Exception) -> ApiError:
    return ApiError(503, f"Hermes's state store (Redis) is unavailable ({type(err).__name__}: {err}); the request "
                         f"was not completed and nothing was published. Retry after {REDIS_RETRY_AFTER} s.",
                    headers={"Retry-After": str(REDIS_RETRY_AFTER)})


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Every error answer is JSON `{"error": ...}`: ours, aiohttp's own, Redis faults (503 with
    Retry-After) and anything unexpected (500, logged)."""
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as err:
        if err.status < 400 or err.content_type == "application/json":
            raise
        raise _aiohttp_error(request, err) from None
    except REDIS_UNAVAILABLE as err:
        log.warning("redis unavailable: answered 503", method=request.method, path=request.path,
                    error=f"{type(err).__name__}: {err}")
        raise redis_unavailable(err) from None
    except asyncio.CancelledError:
        raise
    except TimeoutError as err:
        log.error("request timed out", method=request.method, path=request.path, exc_info=err)
        raise ApiError(504, "the gateway timed out handling the request; retry shortly") from None
    except Exception as err:  # (never aiohttp's text/plain 500)
        reference = new_id()[:12]
        log.error("request failed", method=request.method, path=request.path, reference=reference,
                  error=f"{type(err).__name__}: {err}", exc_info=err)
        raise ApiError(500, f"internal error ({type(err).__name__}), logged under reference {reference}; "
                            "retry, and report the reference if it keeps failing") from None


def _auth(people: People, public: frozenset[str] = frozenset()) -> Callable[..., Awaitable[web.StreamResponse]]:
    open_paths = _PUBLIC | public

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if request.path in open_paths or request.path.startswith(WEB_PREFIX):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if not header:
            raise ApiError(401, "missing bearer token: send `Authorization: Bearer <token>` "
                                "(hermes up writes the local token to <state dir>/api-token)")
        scheme, _, given = header.partition(" ")
        caller = await people.from_token(given.strip()) if scheme.lower() == "bearer" else None
        if caller is None:
            raise ApiError(401, "invalid bearer token: it is unknown, revoked or rotated "
                                "(an admin gives you a new one with `hermes users rotate <you>`)")
        request["caller"] = caller
        return await handler(request)

    return middleware


def _caller(request: web.Request) -> Principal:
    return request["caller"]


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body over {MAX_BODY_BYTES} bytes")

    too_deep = f"the body is nested deeper than {MAX_JSON_DEPTH} levels"
    if json_depth_exceeds(raw, MAX_JSON_DEPTH):
        raise _bad(too_deep)
    try:
        body = json.loads(raw or b"null")
    except RecursionError:  # never escapes as a 500
        raise _bad(too_deep) from None
    except ValueError as err:
        raise _bad(f"malformed JSON: {err}") from None
    if not isinstance(body, dict):
        raise _bad("the body must be a JSON object")
    if "user" in body:
        raise _bad("field 'user' is not accepted: who you are comes from your bearer token "
                   "(GET /v1/whoami shows it); remove 'user' from the body")
    return body


def _optional_str(body: dict[str, Any], field: str, pattern: re.Pattern[str] | None = None,
                  max_len: int = 256) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"field '{field}' must be a non-empty string")
    if len(value) > max_len or (pattern and not pattern.match(value)):
        raise _bad(f"field '{field}' is not valid (letters, digits, . _ : - up to {max_len} characters)")
    return value


class Admission:
    """Requests that hold a connection while they wait (long polls, event streams): at most `per_user`
    open per person (their token) and `total` in all; one more is a 429 with `Retry-After`."""

    def __init__(self, what: str, per_user: int, total: int) -> None:
        self.what = what
        self.per_user = per_user
        self.total = total
        self.count = 0
        self.by_user: dict[str, int] = {}

    @contextlib.contextmanager
    def hold(self, user: str) -> Iterator[None]:
        retry = {"Retry-After": str(BUSY_RETRY_AFTER)}
        if self.count >= self.total:
            log.warning("wait refused: gateway at its bound", what=self.what, total=self.total)
            raise ApiError(429, f"the gateway already holds its maximum of {self.total} open {self.what}; "
                                f"retry after {BUSY_RETRY_AFTER} s", headers=retry)
        if self.by_user.get(user, 0) >= self.per_user:
            raise ApiError(429, f"you already have {self.per_user} open {self.what}, the most one person (token) "
                                f"may hold; close one or wait for one to answer, then retry (after "
                                f"{BUSY_RETRY_AFTER} s)", headers=retry)
        self.count += 1
        self.by_user[user] = self.by_user.get(user, 0) + 1
        try:
            yield
        finally:
            self.count -= 1
            left = self.by_user[user] - 1
            if left:
                self.by_user[user] = left
            else:
                del self.by_user[user]


class Courier:
    """Publishes what people send, and says whether it certainly was not stored (`NotPublished`) or
    may have been (`PublishUncertain`). With the broker, through `bus.publish_confirmed`; with only a
    publish function, any failure of it is uncertain."""

    def __init__(self, publish: Publish | None, broker: Any | None, ack_timeout: float) -> None:
        self.publish = publish
        self.broker = broker
        self.ack_timeout = ack_timeout

    def connected(self) -> bool:
        return bus.bus_connected(self.broker) if self.broker is not None else True

    async def send(self, message: Envelope, subject: str) -> None:
        if self.broker is not None:
            await bus.publish_confirmed(self.broker, message, subject, self.ack_timeout)
            return
        assert self.publish is not None, "the HTTP API has neither a broker nor a publish function"
        try:
            await self.publish(message, subject)
        except PublishFailed:
            raise
        except Exception as err:  # (what happened to the message is unknown)
            raise PublishUncertain(f"{type(err).__name__}: {err}") from err


_ENVELOPES: dict[str, type[Envelope]] = {subjects.CHAT_RECEIVED: ChatMessage,
                                         subjects.APPROVAL_DECIDED: ApprovalDecision}
RECOVERING = ("accepted, the bus is recovering: the message is not yet confirmed as queued, and the gateway "
              "keeps publishing it until the bus confirms it (it runs once). Do not send it again without the "
              "same Idempotency-Key; follow the conversation's events for the reply")


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise _bad(f"header {IDEMPOTENCY_HEADER} must be 1 to 128 printable ASCII characters without spaces "
                   "(a fresh UUID per request is a good key)")
    return key


def keyed_message_id(user: str, key: str) -> str:
    """The message id an `Idempotency-Key` of `user` stands for: the same for every repeat, and another
    for another person using the same key."""
    return "idem-" + hashlib.sha256(f"{user}\n{key}".encode()).hexdigest()[:40]


def _fingerprint(request: web.Request, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.path}\n{canonical}".encode()).hexdigest()


class HttpApi:
    """Routes of the gateway's HTTP API.

    `publish` sends a message on the bus; when it is a service runtime's `publish` (or `broker` is
    given), messages go out through `bus.publish_confirmed`, which tells a message that certainly was not
    stored from one that may have been. `limits` bound the long polls and event streams.
    """

    def __init__(self, log: ConversationLog, publish: Publish, intake: Intake, approvals: ApprovalView | None,
                 ready: Ready, long_poll_max: float, *, broker: Any | None = None,
                 limits: WaitLimits = WAIT_LIMITS, ack_timeout: float = bus.PUBLISH_ACK_TIMEOUT) -> None:
        self.log = log
        self.publish = publish
        self.intake = intake
        self.approvals = approvals
        self.ready = ready
        self.long_poll_max = long_poll_max
        if broker is None:  # a ServiceRuntime's publish: its broker
            broker = getattr(getattr(publish, "__self__", None), "broker", None)
        self.courier = Courier(publish, broker, ack_timeout)
        self.limits = limits
        self.long_polls = Admission("long polls", limits.long_polls_per_user, limits.long_polls_total)
        self.streams = Admission("event streams", limits.streams_per_user, limits.streams_total)
        # A request with a key whose record says "publishing" for longer than this was cut short.
        self._lease = ack_timeout + 10.0
        self._recovering: dict[str, asyncio.Task[None]] = {}

    async def close(self) -> None:
        """Stop publishing unconfirmed messages (the gateway stops; a repeat with the key resumes it)."""
        tasks = list(self._recovering.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _visible(self, caller: Principal, conversation_id: str) -> bool:
        """Whether `caller` may see the conversation: its owner, an approver who decided in it, or an admin."""
        if not _ID.match(conversation_id):
            return False
        if caller.is_admin:
            return await self.log.exists(conversation_id)
        return await self.log.may_read(conversation_id, caller.user)

    async def whoami(self, request: web.Request) -> web.Response:
        return web.json_response(whoami(_caller(request)))

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        checks = await self.ready()
        status = 200 if all(checks.values()) else 503
        return web.json_response({"status": "ok" if status == 200 else "unavailable", "checks": checks},
                                 status=status)

    async def openapi(self, _request: web.Request) -> web.Response:
        text = resources.files("hermes_gateway").joinpath("openapi.yaml").read_text()
        return web.Response(text=text, content_type="application/yaml")

    async def web_page(self, request: web.Request) -> web.Response:
        """The web page (`/`) and its two assets (`/web/app.js`, `/web/style.css`); nothing else is served."""
        name = request.match_info.get("name", "index.html")
        if name not in WEB_FILES:
            raise ApiError(404, f"no such file {name!r}; the web page is at /")
        return web.Response(text=_web_file(name), content_type=WEB_FILES[name], charset="utf-8", headers=WEB_HEADERS)

    async def list_approvals(self, request: web.Request) -> web.Response:
        """The approvals the caller may decide (and their own requests, which they may withdraw)."""
        if self.approvals is None:
            raise ApiError(503, "pending approvals cannot be listed by this gateway (no approval store)")
        caller = _caller(request)
        out = [_approval_json(p) for p in await self.approvals.pending()
               if p.may_decide(caller.user, caller.roles) or p.requested_by == caller.user]
        return web.json_response({"approvals": out})

    async def post_message(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if "text" not in body:
            raise _bad("missing field 'text'")
        text = body["text"]
        if not isinstance(text, str) or not text.strip():
            raise _bad("field 'text' must be a non-empty string")
        if len(text) > MAX_TEXT:
            raise _bad(f"field 'text' is longer than {MAX_TEXT} characters")
        conversation_id = _optional_str(body, "conversation_id", _ID, 128)
        caller = _caller(request)
        key = _idempotency_key(request)
        record_id = keyed_message_id(caller.user, key) if key else None
        fingerprint = _fingerprint(request, body)
        if record_id and (record := await self.log.requests.get(record_id)) is not None:
            return await self._repeat(record_id, record, fingerprint)
        text = self.intake.clean(text)
        if conversation_id is None:
            conversation_id = new_id()
            await self.log.create(conversation_id, user=caller.user, channel="http")
        elif not await self._visible(caller, conversation_id):
            raise ApiError(404, f"unknown conversation {conversation_id!r}; omit conversation_id to start one")
        message, subject = await self.intake.from_text(caller, conversation_id, text, record_id or new_id())
        cursor_before = await self.log.last_cursor(conversation_id)
        answer = {"message_id": message.id, "conversation_id": conversation_id,
                  "correlation_id": message.id, "cursor": cursor_before}
        event = message_event(message.id, message.id, text, caller.user)
        return await self._send(message, subject, answer, conversation_id, event, record_id, fingerprint)

    async def _send(self, message: Envelope, subject: str, answer: dict[str, Any], conversation_id: str,
                    event: dict[str, Any], record_id: str | None, fingerprint: str, *,
                    claimed: bool = False) -> web.Response:
        """Record `message` in its conversation and publish it; answer 202 (queued, or accepted while the
        bus recovers) unless it certainly was not stored (503, and the key may be used again).
        `claimed`: the request record exists already (a repeat of a request that never reached the bus)."""
        started = time.time()
        if record_id is not None and not claimed:
            record = {"fingerprint": fingerprint, "state": "publishing", "started": started, "answer": answer,
                      "message": message.model_dump(mode="json"), "subject": subject,
                      "conversation_id": conversation_id, "event": event}
            if (first := await self.log.requests.claim(record_id, record)) is not None:
                return await self._repeat(record_id, first, fingerprint)
        appended = handed = False
        try:
            if not self.courier.connected():  # nothing handed to the client, which would send it later
                raise NotPublished("not connected to NATS (reconnecting); nothing was sent")
            await self.log.append(conversation_id, event)
            appended = True
            if record_id is not None:  # from here on, a repeat must not publish it again late
                await self.log.requests.update(record_id, state="sending", started=started)
            handed = True
            await self.courier.send(message, subject)
        except NotPublished as err:
            await self._not_queued(record_id, conversation_id, message, err, appended)
            raise ApiError(503, f"the message bus is unavailable ({err}): your message was not queued and will "
                                f"not run. Send it again after {BUS_RETRY_AFTER} s (with an {IDEMPOTENCY_HEADER}, "
                                "a repeat never runs twice)",
                           headers={"Retry-After": str(BUS_RETRY_AFTER)}) from None
        except PublishUncertain as err:
            log.warning("message not confirmed by the bus; publishing it again until it is",
                        message_id=message.id, error=str(err))
            self._keep_publishing(message, subject, record_id, started, conversation_id)
            await self._mark(record_id, "recovering")
            return web.json_response(answer | {"status": "recovering", "detail": RECOVERING}, status=202)
        except BaseException:
            if record_id is not None and not handed:  # Redis failed before anything was published
                with contextlib.suppress(Exception):
                    await self.log.requests.release(record_id)
            raise
        await self._mark(record_id, "queued")
        return web.json_response(answer | {"status": "queued"}, status=202)

    async def _repeat(self, record_id: str, record: dict[str, Any], fingerprint: str) -> web.Response:
        """The answer to a request whose `Idempotency-Key` was seen before: the first answer, and the
        message published again (same id, deduplicated) if the bus never confirmed it."""
        if record.get("fingerprint") != fingerprint:
            raise ApiError(422, f"this {IDEMPOTENCY_HEADER} was already used for another request (another body "
                                "or route); use a new key for a new request")
        age = time.time() - float(record["started"])
        state = record.get("state")
        if state == "publishing" and age < self._lease:
            raise ApiError(409, f"a request with this {IDEMPOTENCY_HEADER} is still being handled; repeat it after "
                                f"{BUSY_RETRY_AFTER} s to get its answer", headers={"Retry-After": str(BUSY_RETRY_AFTER)})
        answer = dict(record["answer"])
        replayed = {"Idempotent-Replayed": "true"}
        if state == "queued":
            return web.json_response(answer | {"status": "queued"}, status=202, headers=replayed)
        envelope = _ENVELOPES[record["subject"]].model_validate(record["message"])
        conversation_id = record["conversation_id"]
        if state == "publishing":  # cut short before it was handed to the bus (Redis failed): try it now
            return await self._send(envelope, record["subject"], answer, conversation_id, record["event"],
                                    record_id, fingerprint, claimed=True)
        if age < REPUBLISH_WITHIN:  # maybe stored: published again only while JetStream drops a second copy
            try:
                if not self.courier.connected():
                    raise NotPublished("not connected to NATS (reconnecting)")
                with contextlib.suppress(*REDIS_UNAVAILABLE):  # it may be stored: never a 503 from here
                    await self.log.append(conversation_id, record["event"])  # dropped if it is there
                await self.courier.send(envelope, record["subject"])
            except PublishFailed:
                self._keep_publishing(envelope, record["subject"], record_id, float(record["started"]),
                                      conversation_id)
                await self._mark(record_id, "recovering")
            else:
                await self._mark(record_id, "queued")
                return web.json_response(answer | {"status": "queued"}, status=202, headers=replayed)
        return web.json_response(answer | {"status": "recovering", "detail": RECOVERING}, status=202,
                                 headers=replayed)

    async def _mark(self, record_id: str | None, state: str) -> None:
        """Note what became of a keyed request; after a publish, a Redis failure must not turn a 202 into
        an error (a later repeat publishes again, deduplicated, and notes it then)."""
        if record_id is None:
            return
        try:
            await self.log.requests.update(record_id, state=state)
        except Exception as err:
            log.warning("request record not updated", record_id=record_id, state=state,
                        error=f"{type(err).__name__}: {err}")

    async def _not_queued(self, record_id: str | None, conversation_id: str, message: Envelope,
                          err: Exception, appended: bool) -> None:
        """The message certainly was not stored: free its key, and say so in the conversation."""
        log.warning("message not queued: the bus is unavailable", message_id=message.id, error=str(err))
        with contextlib.suppress(Exception):  # Redis may be failing too; the 503 says it all
            if record_id is not None:
                await self.log.requests.release(record_id)
            if appended:
                await self.log.append(conversation_id, {
                    "type": "reply", "id": f"error-{message.id}", "correlation_id": message.id, "kind": "error",
                    "text": f"Hermes could not queue your message: {err}. It will not run; send it again.",
                    "final": True, "blocks": [], "approval": None, "source": "gateway"})

    def _keep_publishing(self, message: Envelope, subject: str, record_id: str | None, started: float,
                         conversation_id: str) -> None:
        if message.id in self._recovering:
            return
        task = asyncio.create_task(self._republish(message, subject, record_id, started, conversation_id))
        self._recovering[message.id] = task
        task.add_done_callback(lambda _task: self._recovering.pop(message.id, None))

    async def _republish(self, message: Envelope, subject: str, record_id: str | None, started: float,
                         conversation_id: str) -> None:
        """Publish an unconfirmed message again (same id) until the bus confirms it, for as long as
        JetStream would still drop a second copy; then say in the conversation that it is unconfirmed."""
        delay, last = 0.1, "the bus did not answer"
        while time.time() - started < REPUBLISH_WITHIN:
            await asyncio.sleep(delay)
            delay = min(delay * 2, BUS_RETRY_AFTER)
            if not self.courier.connected():
                continue
            try:
                await self.courier.send(message, subject)
            except PublishFailed as err:
                last = str(err)
                continue
            log.info("message confirmed by the bus after it recovered", message_id=message.id)
            await self._mark(record_id, "queued")
            return
        log.error("message never confirmed by the bus", message_id=message.id, error=last)
        with contextlib.suppress(Exception):
            await self.log.append(conversation_id, {
                "type": "reply", "id": f"unconfirmed-{message.id}", "correlation_id": message.id, "kind": "error",
                "text": f"Hermes could not confirm that your message was queued ({last}). If no reply follows, "
                        "send it again.",
                "final": True, "blocks": [], "approval": None, "source": "gateway"})

    async def get_events(self, request: web.Request) -> web.StreamResponse:
        conversation_id = request.match_info["conversation_id"]
        if not _ID.match(conversation_id):
            raise ApiError(404, f"unknown conversation {conversation_id!r}")
        cursor = request.query.get("cursor", START)
        if not re.fullmatch(r"\d+(-\d+)?", cursor):
            raise _bad("query 'cursor' must be a cursor returned by this API (e.g. 0 or 1700000000000-0)")
        try:
            wait = float(request.query.get("wait", "0"))
        except ValueError:
            raise _bad("query 'wait' must be a number of seconds") from None
        if math.isnan(wait):
            raise _bad("query 'wait' must be a number of seconds")
        wait = max(0.0, min(wait, self.long_poll_max))
        caller = _caller(request)
        if not await self._visible(caller, conversation_id):
            raise ApiError(404, f"unknown conversation {conversation_id!r}")
        if "text/event-stream" in request.headers.get("Accept", ""):
            with self.streams.hold(caller.user):
                return await self._sse(request, conversation_id, cursor)
        try:
            if wait > 0:  # holds a blocking-read connection for up to `wait`
                with self.long_polls.hold(caller.user):
                    events, next_cursor = await self.log.read(conversation_id, cursor, wait)
            else:
                events, next_cursor = await self.log.read(conversation_id, cursor, wait)
        except UnknownConversation:
            raise ApiError(404, f"unknown conversation {conversation_id!r}") from None
        return web.json_response({"events": events, "cursor": next_cursor})

    async def _sse(self, request: web.Request, conversation_id: str, cursor: str) -> web.StreamResponse:
        if not await self.log.exists(conversation_id):
            raise ApiError(404, f"unknown conversation {conversation_id!r}")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        wait = min(SSE_KEEPALIVE, self.long_poll_max)
        try:
            while True:
                events, cursor = await self.log.read(conversation_id, cursor, wait)
                if not events:
                    await response.write(b": keep-alive\n\n")
                for event in events:
                    data = json.dumps(event, ensure_ascii=False)
                    await response.write(f"id: {event['cursor']}\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        except (UnknownConversation, *REDIS_UNAVAILABLE) as err:  # the answer has begun: end the stream saying why
            if isinstance(err, UnknownConversation):
                why = f"conversation {conversation_id!r} expired"
            else:
                log.warning("redis unavailable: event stream ended", conversation_id=conversation_id,
                            error=f"{type(err).__name__}: {err}")
                why = (f"Hermes's state store (Redis) is unavailable ({type(err).__name__}); reconnect after "
                       f"{REDIS_RETRY_AFTER} s with cursor={cursor}")
            with contextlib.suppress(ConnectionResetError):
                await response.write(f"retry: {REDIS_RETRY_AFTER * 1000}\nevent: error\ndata: "
                                     f"{json.dumps({'error': why, 'cursor': cursor})}\n\n".encode())
        return response

    async def post_approval(self, request: web.Request) -> web.Response:
        approval_id = request.match_info["approval_id"]
        if not _ID.match(approval_id):  # e.g. a NUL byte: never looked up, never echoed raw
            raise ApiError(404, f"no pending approval {approval_id[:64]!r}: approval ids are letters, digits and "
                                "'-_.:' (GET /v1/approvals lists yours)")
        body = await _json_body(request)
        decision = body.get("decision")
        if decision not in {"approve", "reject"}:
            raise _bad("field 'decision' must be \"approve\" or \"reject\"")
        caller = _caller(request)
        if self.approvals is None:
            raise ApiError(503, "approvals cannot be decided through this gateway (no approval store)")
        key = _idempotency_key(request)
        record_id = keyed_message_id(caller.user, key) if key else None
        fingerprint = _fingerprint(request, body)
        # Before the approval is looked up: once decided it is no longer pending, and the repeat still
        # gets the first answer.
        if record_id and (record := await self.log.requests.get(record_id)) is not None:
            return await self._repeat(record_id, record, fingerprint)
        pending = await self.approvals.get(approval_id) if _ID.match(approval_id) else None
        if pending is None:
            why = await self.approvals.outcome(approval_id) if _ID.match(approval_id) else None
            raise ApiError(404, f"no pending approval {approval_id!r}: "
                                + (f"it {why}" if why else "it was already decided, expired, or never existed"))
        if pending.expires_at <= utcnow():
            raise ApiError(404, f"no pending approval {approval_id!r}: it expired at "
                                f"{pending.expires_at:%H:%M:%S} UTC; nothing was run")
        conversation_id = pending.plan.conversation_id
        # Whoever may decide it, and whoever may see its conversation (the guard explains a refusal).
        if not (pending.may_decide(caller.user, caller.roles, decision)
                or await self._visible(caller, conversation_id)):
            raise ApiError(404, f"no pending approval {approval_id!r} that you may decide "
                                "(GET /v1/approvals lists yours)")
        message, subject = await self.intake.decision(caller, conversation_id, approval_id, decision,
                                                      record_id or new_id())
        await self.log.admit(conversation_id, caller.user)  # to follow what the decision does
        cursor_before = await self.log.last_cursor(conversation_id)
        answer = {"approval_id": approval_id, "decision": decision, "conversation_id": conversation_id,
                  "correlation_id": message.id, "cursor": cursor_before}
        event = message_event(message.id, message.id, f"{decision} {approval_id}", caller.user)
        return await self._send(message, subject, answer, conversation_id, event, record_id, fingerprint)


def _approval_json(pending: PendingApproval) -> dict[str, Any]:
    plan = pending.plan
    return {
        "approval_id": pending.approval_id,
        "conversation_id": plan.conversation_id,
        "summary": plan.summary or plan.intent or "",
        "cluster": plan.cluster,
        "steps": [step.argv for step in plan.steps],
        "risks": pending.reasons,
        "requested_by": pending.requested_by,
        "approvers": pending.approvers,
        "approved_by": pending.approved_by,
        "profile": pending.profile.name,
        "two_person": pending.profile.two_person,
        "created_at": pending.created_at.isoformat(),
        "expires_at": pending.expires_at.isoformat(),
    }


def build_http_app(api: HttpApi, people: People,
                   public_routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] | None = None,
                   ) -> web.Application:
    """The aiohttp application serving `api` behind bearer-token auth.

    `public_routes` (method, path, handler) are served without the bearer token: the chat platforms'
    webhooks, which authenticate each request by the platform's own signature or secret.
    """
    public_routes = list(public_routes or [])
    app = web.Application(middlewares=[_errors, _auth(people, frozenset(p for _m, p, _h in public_routes))],
                          client_max_size=MAX_BODY_BYTES)
    app.on_shutdown.append(lambda _app: api.close())
    for method, path, handler in public_routes:
        app.router.add_route(method, path, handler)
    app.router.add_get("/healthz", api.healthz)
    app.router.add_get("/readyz", api.readyz)
    app.router.add_get("/openapi.yaml", api.openapi)
    app.router.add_post("/v1/messages", api.post_message)
    app.router.add_get("/v1/conversations/{conversation_id}/events", api.get_events)
    app.router.add_post("/v1/approvals/{approval_id}", api.post_approval)
    app.router.add_get("/v1/approvals", api.list_approvals)
    app.router.add_get("/v1/whoami", api.whoami)
    app.router.add_get("/", api.web_page)
    app.router.add_get(WEB_PREFIX + "{name}", api.web_page)
    return app
