"""A local fake of the Anthropic Messages API, for driving the real `anthropic` SDK in tests.

`FakeAnthropic` serves `POST /v1/messages` and the models API (`GET /v1/models`, `GET /v1/models/{id}`)
on 127.0.0.1 (a free port). It checks the API key (the `x-api-key` header, or `Authorization: Bearer …`,
which the SDK 2.x sends for `api_key=`), the `anthropic-version` header and the basic shape of the
request (roles, tool_use → tool_result pairing, tool names), answers with the scripted responses in
order (or per request, see `tests.fakes.llm_server`), and records every request (headers and JSON
body) in `requests`. With `models=[…]`, only those models exist: a message to another one gets the
404 `not_found_error` a retired model gets. Scripted items:

- `reply(text)`: an assistant text turn (`stop_reason: end_turn`).
- `tool_call(name, input, id=None, text=None)` / `tool_calls([(name, input), …], text=None)`: a
  `tool_use` turn.
- `error(status, type, message, headers=None)`: an API error, e.g. 429 with `retry-after`, 529
  `overloaded_error`, 500 `api_error`.
- `slow(seconds, then=None)`: wait before answering (for client timeouts); `then` defaults to an
  `api_error`, which a client that timed out never sees.
- `recorded(body)`: a Messages API response as it was once sent, replayed exactly.

Usage is made up but consistent: input tokens ≈ request size / 4; the first request with a given cached
prefix (tools + system, when they carry `cache_control`) reports `cache_creation_input_tokens`, later
ones `cache_read_input_tokens`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from tests.fakes.llm_server import FakeLLMServer, Scripted, load_recordings, recorded

__all__ = ["FakeAnthropic", "Scripted", "error", "load_recordings", "recorded", "reply", "slow", "tool_call",
           "tool_calls"]

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_counter = itertools.count(1)


def reply(text: str, *, stop_reason: str = "end_turn", usage: dict[str, int] | None = None) -> Scripted:
    return Scripted(body={"content": [{"type": "text", "text": text}], "stop_reason": stop_reason}, usage=usage)


def tool_calls(calls: list[tuple[str, Any]] | list[tuple[str, Any, str]], *, text: str | None = None,
               usage: dict[str, int] | None = None) -> Scripted:
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "text", "text": text})
    for call in calls:
        name, tool_input = call[0], call[1]
        call_id = call[2] if len(call) > 2 else f"toolu_fake_{next(_counter):04d}"  # type: ignore[misc]
        content.append({"type": "tool_use", "id": call_id, "name": name, "input": tool_input})
    return Scripted(body={"content": content, "stop_reason": "tool_use"}, usage=usage)


def tool_call(name: str, tool_input: Any, *, id: str | None = None, text: str | None = None,
              usage: dict[str, int] | None = None) -> Scripted:
    call = (name, tool_input, id) if id else (name, tool_input)
    return tool_calls([call], text=text, usage=usage)  # type: ignore[list-item]


def error(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> Scripted:
    return Scripted(status=status, body={"type": "error", "error": {"type": type_, "message": message}},
                    headers=dict(headers or {}))


def slow(seconds: float, then: Scripted | None = None) -> Scripted:
    item = then or error(500, "api_error", "the fake answered too late")
    return Scripted(status=item.status, body=item.body, headers=item.headers, delay=seconds, usage=item.usage,
                    raw=item.raw)


class FakeAnthropic(FakeLLMServer):
    """The fake server. `async with FakeAnthropic(api_key) as fake:` then use `fake.base_url`."""

    def __init__(self, api_key: str = "sk-ant-fake-key-000000000000000000", script: list[Scripted] | None = None,
                 models: Iterable[str] | None = None) -> None:
        super().__init__(api_key, script, models)
        self._prefixes: set[str] = set()

    @property
    def base_url(self) -> str:
        """What `base_url=` of the SDK takes (it adds `/v1/…`)."""
        return self.root

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model_id:.+}", self._get_model)

    # -- the models API ------------------------------------------------------------------------------
    def _refused(self, record: dict[str, Any], headers: dict[str, str]) -> web.Response | None:
        if not self.key_ok(headers):
            return self._send(record, error(401, "authentication_error", "invalid x-api-key"))
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", headers.get("anthropic-version", "")):
            return self._send(record, error(400, "invalid_request_error", "anthropic-version header is required"))
        return None

    @staticmethod
    def _model_object(model_id: str) -> dict[str, Any]:
        return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2026-01-01T00:00:00Z"}

    async def _get_model(self, request: web.Request) -> web.Response:
        record = await self.record(request, lookup=True)
        if (refused := self._refused(record, record["headers"])) is not None:
            return refused
        model_id = request.match_info["model_id"]
        if not self.has_model(model_id):
            return self._send(record, error(404, "not_found_error", f"model: {model_id}"))
        record["status"] = 200
        return web.json_response(self._model_object(model_id), headers={"request-id": "req_fake"})

    async def _list_models(self, request: web.Request) -> web.Response:
        record = await self.record(request, lookup=True)
        if (refused := self._refused(record, record["headers"])) is not None:
            return refused
        data = [self._model_object(m) for m in self.models or []]
        record["status"] = 200
        return web.json_response({"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})

    # -- the Messages API ----------------------------------------------------------------------------
    async def _messages(self, request: web.Request) -> web.StreamResponse:
        record = await self.record(request)
        body = record["body"] if isinstance(record["body"], dict) else {}
        if (refused := self._refused(record, record["headers"])) is not None:
            return refused
        problem = _check_request(body)
        if problem:
            self.problems.append(problem)
            return self._send(record, error(400, "invalid_request_error", problem))
        if not self.has_model(body["model"]):
            return self._send(record, error(404, "not_found_error", f"model: {body['model']}"))
        item = await self.next_answer(body, error(500, "api_error", "fake: no scripted response left"))
        return self._send(record, item)

    def _send(self, record: dict[str, Any], item: Scripted) -> web.Response:
        record["status"] = item.status
        if item.raw or item.status != 200:
            return web.json_response(item.body, status=item.status,
                                     headers={"request-id": "req_fake", **item.headers})
        body = record["body"]
        usage = dict(item.usage) if item.usage is not None else self._usage(body, item.body)
        message = {"id": f"msg_fake_{next(_counter):04d}", "type": "message", "role": "assistant",
                   "model": body.get("model", "fake"), "content": item.body["content"],
                   "stop_reason": item.body.get("stop_reason", "end_turn"), "stop_sequence": None,
                   "usage": usage}
        return web.json_response(message, headers={"request-id": "req_fake", **item.headers})

    def _usage(self, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, int]:
        total = len(json.dumps(body)) // 4
        output = max(1, len(json.dumps(answer["content"])) // 4)
        tools, system = body.get("tools") or [], body.get("system") or []
        cached = any("cache_control" in t for t in tools) or (
            isinstance(system, list) and any("cache_control" in b for b in system))
        if not cached:
            return {"input_tokens": total, "output_tokens": output, "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0}
        prefix = json.dumps([tools, system], sort_keys=True)
        prefix_tokens = len(prefix) // 4
        key = hashlib.sha256(prefix.encode()).hexdigest()
        first = key not in self._prefixes
        self._prefixes.add(key)
        return {"input_tokens": max(1, total - prefix_tokens), "output_tokens": output,
                "cache_creation_input_tokens": prefix_tokens if first else 0,
                "cache_read_input_tokens": 0 if first else prefix_tokens}


def _check_request(body: dict[str, Any]) -> str | None:
    """What the real API would refuse with a 400, for the parts the engine uses."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: field required"
    names: set[str] = set()
    for tool in body.get("tools") or []:
        name = tool.get("name", "")
        if not _TOOL_NAME.match(name):
            return f"tools: invalid name {name!r}"
        if name in names:
            return f"tools: duplicate name {name!r}"
        names.add(name)
        if (tool.get("input_schema") or {}).get("type") != "object":
            return f"tools.{name}.input_schema: type must be object"
    breakpoints = sum("cache_control" in t for t in body.get("tools") or [])
    system = body.get("system")
    if isinstance(system, list):
        breakpoints += sum("cache_control" in b for b in system)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return "messages: the first message must use the user role"
    pending: set[str] = set()
    for n, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{n}.role: unexpected {role!r}"
        if n and messages[n - 1].get("role") == role:
            return f"messages.{n}: roles must alternate"
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            return f"messages.{n}.content: empty"
        breakpoints += sum("cache_control" in b for b in blocks)
        if role == "user":
            results = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
            if pending and results != pending:
                return (f"messages.{n}: tool_use ids {sorted(pending)} were found without tool_result blocks "
                        "immediately after")
            if pending and blocks[0].get("type") != "tool_result":
                return f"messages.{n}: tool_result blocks must come first"
            if not pending and results:
                return f"messages.{n}: unexpected tool_use_id in tool_result blocks"
            pending = set()
        else:
            pending = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
    if pending:
        return "messages: the last assistant turn's tool_use blocks have no tool_result"
    if messages[-1].get("role") != "user":
        return "messages: the last message must be from the user"
    if breakpoints > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}."
    return None
