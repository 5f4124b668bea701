"""The gateway's HTTP API (aiohttp): messages in, conversation events out, approvals.

Every route but the health checks and the OpenAPI document needs `Authorization: Bearer <token>`:
a person's own token (`hermes users add`), which says who they are and what roles they hold. A body
never names the person. A conversation belongs to whoever started it: anyone else but an admin gets
404 on it. Errors are JSON `{"error": "..."}` that say what was wrong and what to do.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web
from hermes.access import Principal
from hermes.bus import json_depth_exceeds
from hermes.contracts import new_id, utcnow
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


@functools.cache
def _web_file(name: str) -> str:
    """One of the page's files, read once."""
    return resources.files("hermes_gateway").joinpath("web", name).read_text(encoding="utf-8")


class ApiError(web.HTTPException):
    def __init__(self, status: int, message: str) -> None:
        self.status_code = status
        super().__init__(text=json.dumps({"error": message}), content_type="application/json")


def _bad(message: str) -> ApiError:
    return ApiError(400, message)


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as err:
        if err.content_type == "application/json":
            raise
        raise ApiError(err.status, err.reason or "error") from None


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


class HttpApi:
    """Routes of the gateway's HTTP API."""

    def __init__(self, log: ConversationLog, publish: Publish, intake: Intake, approvals: ApprovalView | None,
                 ready: Ready, long_poll_max: float) -> None:
        self.log = log
        self.publish = publish
        self.intake = intake
        self.approvals = approvals
        self.ready = ready
        self.long_poll_max = long_poll_max

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
        text = self.intake.clean(text)
        if conversation_id is None:
            conversation_id = new_id()
            await self.log.create(conversation_id, user=caller.user, channel="http")
        elif not await self._visible(caller, conversation_id):
            raise ApiError(404, f"unknown conversation {conversation_id!r}; omit conversation_id to start one")
        message, subject = await self.intake.from_text(caller, conversation_id, text, new_id())
        cursor_before = await self.log.last_cursor(conversation_id)
        await self.log.append(conversation_id, message_event(message.id, message.id, text, caller.user))
        try:
            await self.publish(message, subject)
        except Exception as err:  # the bus is down: say so, and record it in the conversation
            await self.log.append(conversation_id, {
                "type": "reply", "id": f"error-{message.id}", "correlation_id": message.id, "kind": "error",
                "text": f"Hermes could not queue your message: {err}", "final": True, "blocks": [],
                "approval": None, "source": "gateway"})
            raise ApiError(503, f"the message bus is unavailable ({err}); try again shortly") from None
        return web.json_response({"message_id": message.id, "conversation_id": conversation_id,
                                  "correlation_id": message.id, "cursor": cursor_before}, status=202)

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
        wait = max(0.0, min(wait, self.long_poll_max))
        if not await self._visible(_caller(request), conversation_id):
            raise ApiError(404, f"unknown conversation {conversation_id!r}")
        if "text/event-stream" in request.headers.get("Accept", ""):
            return await self._sse(request, conversation_id, cursor)
        try:
            events, next_cursor = await self.log.read(conversation_id, cursor, wait)
        except UnknownConversation:
            raise ApiError(404, f"unknown conversation {conversation_id!r}") from None
        return web.json_response({"events": events, "cursor": next_cursor})

    async def _sse(self, request: web.Request, conversation_id: str, cursor: str) -> web.StreamResponse:
        if not await self.log.exists(conversation_id):
            raise ApiError(404, f"unknown conversation {conversation_id!r}")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        try:
            while True:
                events, cursor = await self.log.read(conversation_id, cursor, 15.0)
                if not events:
                    await response.write(b": keep-alive\n\n")
                for event in events:
                    data = json.dumps(event, ensure_ascii=False)
                    await response.write(f"id: {event['cursor']}\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    async def post_approval(self, request: web.Request) -> web.Response:
        approval_id = request.match_info["approval_id"]
        body = await _json_body(request)
        decision = body.get("decision")
        if decision not in {"approve", "reject"}:
            raise _bad("field 'decision' must be \"approve\" or \"reject\"")
        caller = _caller(request)
        if self.approvals is None:
            raise ApiError(503, "approvals cannot be decided through this gateway (no approval store)")
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
        message, subject = await self.intake.decision(caller, conversation_id, approval_id, decision, new_id())
        await self.log.admit(conversation_id, caller.user)  # to follow what the decision does
        cursor_before = await self.log.last_cursor(conversation_id)
        await self.log.append(conversation_id, message_event(message.id, message.id,
                                                             f"{decision} {approval_id}", caller.user))
        await self.publish(message, subject)
        return web.json_response({"approval_id": approval_id, "decision": decision,
                                  "conversation_id": conversation_id, "correlation_id": message.id,
                                  "cursor": cursor_before}, status=202)


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
