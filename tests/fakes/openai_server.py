"""A local fake of OpenAI's Chat Completions and models API, for driving the real `openai` SDK in tests.

`FakeOpenAI` serves `POST /v1/chat/completions`, `GET /v1/models` and `GET /v1/models/{id}` on
127.0.0.1 (a free port); `fake.base_url` ends in `/v1`, as an OpenAI-compatible server's does. It
checks the key (`Authorization: Bearer …`; `api_key=None` accepts any, as Ollama or vLLM without a
key do), checks the request's shape the way the API does (roles; every assistant `tool_calls` answered
by `tool` messages with the same ids, right after it; tool names and schemas; not both `max_tokens`
and `max_completion_tokens`), answers with the scripted responses in order (or per request, see
`tests.fakes.llm_server`), and records every request in `requests`. With `models=[…]` only those
models exist: a call to another gets OpenAI's 404 `model_not_found`. `retrieve=False` makes it a
server that only lists its models (`GET /v1/models/{id}` is 404, as on vLLM).

Scripted items:

- `reply(text, finish_reason="stop")`: an assistant message.
- `tool_call(name, arguments, id=None, text=None)` / `tool_calls([(name, arguments[, id]), …])`: a
  message with `tool_calls` (`finish_reason: tool_calls`); `arguments` is a dict (sent as JSON) or the
  exact string to send (e.g. JSON that does not parse).
- `refusal(text)`: a message whose `refusal` is set.
- `error(status, type, message, code=None, headers=None)`: an API error, e.g. 429 with `retry-after`,
  500 `server_error`, 404 `model_not_found`.
- `slow(seconds, then=None)`: wait before answering (for client timeouts).
- `recorded(body)`: a chat completion as it was once sent, replayed exactly.

Usage is made up but consistent: prompt tokens ≈ request size / 4; from the second request with the
same system message and tools, that prefix counts as `prompt_tokens_details.cached_tokens`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from tests.fakes.llm_server import FakeLLMServer, Scripted, load_recordings, recorded

__all__ = ["FakeOpenAI", "Scripted", "error", "load_recordings", "recorded", "refusal", "reply", "slow",
           "tool_call", "tool_calls"]

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ROLES = ("system", "developer", "user", "assistant", "tool")
_counter = itertools.count(1)


def reply(text: str, *, finish_reason: str = "stop", usage: dict[str, Any] | None = None) -> Scripted:
    return Scripted(body={"message": {"role": "assistant", "content": text, "refusal": None},
                          "finish_reason": finish_reason}, usage=usage)


def tool_calls(calls: list[tuple[str, Any]] | list[tuple[str, Any, str]], *, text: str | None = None,
               finish_reason: str = "tool_calls", usage: dict[str, Any] | None = None) -> Scripted:
    made = []
    for call in calls:
        name, arguments = call[0], call[1]
        call_id = call[2] if len(call) > 2 else f"call_fake_{next(_counter):04d}"  # type: ignore[misc]
        made.append({"id": call_id, "type": "function", "function": {
            "name": name, "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)}})
    return Scripted(body={"message": {"role": "assistant", "content": text, "refusal": None, "tool_calls": made},
                          "finish_reason": finish_reason}, usage=usage)


def tool_call(name: str, arguments: Any, *, id: str | None = None, text: str | None = None,
              usage: dict[str, Any] | None = None) -> Scripted:
    call = (name, arguments, id) if id else (name, arguments)
    return tool_calls([call], text=text, usage=usage)  # type: ignore[list-item]


def refusal(text: str) -> Scripted:
    return Scripted(body={"message": {"role": "assistant", "content": None, "refusal": text},
                          "finish_reason": "stop"})


def error(status: int, type_: str, message: str, *, code: str | None = None,
          headers: dict[str, str] | None = None) -> Scripted:
    return Scripted(status=status, body={"error": {"message": message, "type": type_, "param": None, "code": code}},
                    headers=dict(headers or {}))


def slow(seconds: float, then: Scripted | None = None) -> Scripted:
    item = then or error(500, "server_error", "the fake answered too late")
    return Scripted(status=item.status, body=item.body, headers=item.headers, delay=seconds, usage=item.usage,
                    raw=item.raw)


class FakeOpenAI(FakeLLMServer):
    """The fake server. `async with FakeOpenAI(api_key) as fake:` then use `fake.base_url`."""

    def __init__(self, api_key: str | None = "sk-proj-fake-key-00000000000000000000", script: list[Scripted] | None = None,
                 models: Iterable[str] | None = None, *, retrieve: bool = True) -> None:
        super().__init__(api_key, script, models)
        self.retrieve = retrieve
        self._prefixes: set[str] = set()

    @property
    def base_url(self) -> str:
        """What `base_url=` of the SDK takes: the root with `/v1`, as for any compatible server."""
        return f"{self.root}/v1"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model_id:.+}", self._get_model)

    # -- the models API ------------------------------------------------------------------------------
    def _unauthorised(self, record: dict[str, Any]) -> web.Response | None:
        if self.key_ok(record["headers"]):
            return None
        # The real API echoes part of the key it refused: so does the fake, to prove nobody repeats it.
        shown = (self.presented_key(record["headers"]) or "")[-4:]
        return self._send(record, error(401, "invalid_request_error",
                                        f"Incorrect API key provided: sk-...{shown}.", code="invalid_api_key"))

    @staticmethod
    def _model_object(model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": 1_767_225_600, "owned_by": "fake"}

    def _no_model(self, model_id: str) -> Scripted:
        return error(404, "invalid_request_error",
                     f"The model `{model_id}` does not exist or you do not have access to it.",
                     code="model_not_found")

    async def _get_model(self, request: web.Request) -> web.Response:
        record = await self.record(request, lookup=True)
        if (refused := self._unauthorised(record)) is not None:
            return refused
        model_id = request.match_info["model_id"]
        if not self.retrieve:
            record["status"] = 404
            return web.json_response({"detail": "Not Found"}, status=404)
        if not self.has_model(model_id):
            return self._send(record, self._no_model(model_id))
        record["status"] = 200
        return web.json_response(self._model_object(model_id))

    async def _list_models(self, request: web.Request) -> web.Response:
        record = await self.record(request, lookup=True)
        if (refused := self._unauthorised(record)) is not None:
            return refused
        record["status"] = 200
        return web.json_response({"object": "list", "data": [self._model_object(m) for m in self.models or []]})

    # -- Chat Completions ----------------------------------------------------------------------------
    async def _completions(self, request: web.Request) -> web.StreamResponse:
        record = await self.record(request)
        body = record["body"] if isinstance(record["body"], dict) else {}
        if (refused := self._unauthorised(record)) is not None:
            return refused
        problem = _check_request(body)
        if problem:
            self.problems.append(problem)
            return self._send(record, error(400, "invalid_request_error", problem))
        if not self.has_model(body["model"]):
            return self._send(record, self._no_model(body["model"]))
        item = await self.next_answer(body, error(500, "server_error", "fake: no scripted response left"))
        return self._send(record, item)

    def _send(self, record: dict[str, Any], item: Scripted) -> web.Response:
        record["status"] = item.status
        headers = {"x-request-id": "req_fake", **item.headers}
        if item.raw or item.status != 200:
            return web.json_response(item.body, status=item.status, headers=headers)
        body = record["body"]
        usage = dict(item.usage) if item.usage is not None else self._usage(body, item.body)
        completion = {"id": f"chatcmpl-fake{next(_counter):04d}", "object": "chat.completion",
                      "created": int(time.time()), "model": body.get("model", "fake"),
                      "choices": [{"index": 0, "message": item.body["message"], "logprobs": None,
                                   "finish_reason": item.body.get("finish_reason", "stop")}],
                      "usage": usage}
        return web.json_response(completion, headers=headers)

    def _usage(self, body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
        prompt = len(json.dumps(body)) // 4
        completion = max(1, len(json.dumps(answer["message"])) // 4)
        messages = body.get("messages") or []
        system = [m for m in messages[:1] if isinstance(m, dict) and m.get("role") in ("system", "developer")]
        prefix = json.dumps([system, body.get("tools") or []], sort_keys=True)
        key = hashlib.sha256(prefix.encode()).hexdigest()
        cached = len(prefix) // 4 if key in self._prefixes else 0
        self._prefixes.add(key)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": min(cached, prompt)},
                "completion_tokens_details": {"reasoning_tokens": 0}}


def _check_request(body: dict[str, Any]) -> str | None:
    """What the real API would refuse with a 400, for the parts the engine uses."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    if "max_tokens" in body and "max_completion_tokens" in body:
        return "max_tokens and max_completion_tokens cannot both be set"
    for key in ("max_tokens", "max_completion_tokens"):
        if key in body and (not isinstance(body[key], int) or body[key] < 1):
            return f"{key}: must be a positive integer"
    names: set[str] = set()
    for n, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            return f"tools[{n}]: only function tools are expected"
        name = tool["function"].get("name", "")
        if not _TOOL_NAME.match(name):
            return f"tools[{n}].function.name: invalid {name!r}"
        if name in names:
            return f"tools: duplicate function name {name!r}"
        names.add(name)
        if (tool["function"].get("parameters") or {}).get("type") != "object":
            return f"tools[{n}].function.parameters: type must be object"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    pending: list[str] = []
    for n, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            return f"messages[{n}].role: unexpected {role!r}"
        if pending and role != "tool":
            return (f"messages[{n}]: an assistant message with 'tool_calls' must be followed by tool messages "
                    f"responding to each 'tool_call_id'; missing {pending}")
        content = message.get("content")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return (f"messages[{n}]: messages with role 'tool' must be a response to a preceding message "
                        f"with 'tool_calls' (unknown tool_call_id {call_id!r})")
            pending.remove(call_id)
            if not isinstance(content, str):
                return f"messages[{n}].content: a string is expected"
            continue
        if role == "assistant":
            calls = message.get("tool_calls") or []
            if content is None and not calls:
                return f"messages[{n}]: an assistant message needs content or tool_calls"
            for m, call in enumerate(calls):
                function = call.get("function") or {}
                if call.get("type") != "function" or not call.get("id") or not isinstance(function.get("arguments"), str):
                    return f"messages[{n}].tool_calls[{m}]: id, type 'function' and string arguments are required"
            pending = [c["id"] for c in calls]
            continue
        if not isinstance(content, str | list) or not content:
            return f"messages[{n}].content: empty"
    if pending:
        return f"messages: the tool_calls {pending} have no tool messages"
    return None
