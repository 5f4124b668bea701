"""What the fake model APIs share: a local aiohttp server, its script of answers, and its records.

`FakeAnthropic` (anthropic_server.py) and `FakeOpenAI` (openai_server.py) build on `FakeLLMServer`.
Each serves on 127.0.0.1 (a free port), checks the key, checks each request's shape the way the real
API would (a request it would refuse gets its 400, and the problem is kept in `problems`), records
every model call (`requests`: headers, JSON body, status; models-API lookups go to `lookups`) and
answers a call, in this order:

1. `responder(body)`, when set and it returns an answer: pick the answer per request (e.g. by the
   request's last user text);
2. else the next item of `script` (`add(...)`);
3. else a 500 saying the script ran out.

Answers are `Scripted` items: the module-level helpers of each fake (`reply`, `tool_call`, `error`,
`slow`, …) make them, the fake filling in ids and a made-up but consistent usage; `recorded(body)`
replays a response exactly as an API once sent it (`load_recordings(path)` reads a file of them), so
an evaluation can drive an engine against recorded answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from aiohttp import web


@dataclass
class Scripted:
    """One answer of a fake API."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: dict[str, Any] | None = None
    raw: bool = False  # a recorded response: sent exactly as it is (no id, model or usage filled in)


def recorded(body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> Scripted:
    """A response as an API sent it (the whole JSON body), replayed exactly."""
    if not isinstance(body, dict):
        raise TypeError(f"a recorded response is the JSON object the API sent, not {type(body).__name__}")
    return Scripted(status=status, body=body, headers=dict(headers or {}), raw=True)


def load_recordings(path: str | Path) -> list[Scripted]:
    """Recorded responses from a file: a JSON or YAML list (or JSON Lines), each item either the API's
    response body or `{"status": …, "headers": {…}, "body": {…}}`."""
    source = Path(path)
    text = source.read_text(encoding="utf-8")
    items: Any
    if source.suffix in (".yaml", ".yml"):
        import yaml

        items = yaml.safe_load(text)
    elif source.suffix == ".jsonl":
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        items = json.loads(text)
    if not isinstance(items, list):
        raise TypeError(f"{source}: expected a list of recorded responses, found {type(items).__name__}")
    out: list[Scripted] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise TypeError(f"{source}: item {n} is {type(item).__name__}, not a response object")
        if "body" in item and set(item) <= {"status", "headers", "body"}:
            out.append(recorded(item["body"], status=int(item.get("status", 200)), headers=item.get("headers")))
        else:
            out.append(recorded(item))
    return out


class FakeLLMServer:
    """The server part of a fake model API. Subclasses add their routes and answer formats."""

    SECRET_HEADERS = ("x-api-key", "authorization", "api-key")

    def __init__(self, api_key: str | None, script: Iterable[Scripted] | None = None,
                 models: Iterable[str] | None = None) -> None:
        self.api_key = api_key  # None: any key, or none, is accepted
        self.script: list[Scripted] = list(script or [])
        # The models the API has; None: every model id exists.
        self.models: list[str] | None = list(models) if models is not None else None
        self.responder: Callable[[dict[str, Any]], Scripted | None] | None = None
        self.requests: list[dict[str, Any]] = []  # model calls: {"method", "path", "headers", "body", "status"}
        self.lookups: list[dict[str, Any]] = []  # models-API requests (GET /v1/models…), the same shape
        self.problems: list[str] = []  # request-shape errors the fake answered with 400
        self._runner: web.AppRunner | None = None
        self.root = ""  # http://127.0.0.1:<port>

    # -- lifecycle ---------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> str:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        self.routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.root = f"http://127.0.0.1:{port}"
        return self.root

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the script --------------------------------------------------------------------------------
    def add(self, *items: Scripted) -> None:
        self.script.extend(items)

    def replay(self, recordings: Iterable[Scripted | dict[str, Any]] | str | Path) -> None:
        """Queue recorded responses: `Scripted` items, response bodies, or a file (`load_recordings`)."""
        if isinstance(recordings, str | Path):
            self.script.extend(load_recordings(recordings))
            return
        for item in recordings:
            self.script.append(item if isinstance(item, Scripted) else recorded(item))

    def has_model(self, model: str) -> bool:
        return self.models is None or model in self.models

    # -- views for assertions --------------------------------------------------------------------------
    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the model calls, in order."""
        return [r["body"] for r in self.requests]

    def raw_requests(self) -> str:
        """Every recorded request (headers except the key, and bodies) as one string, for searches."""
        return "\n".join(json.dumps({"path": r["path"],
                                     "headers": {k: v for k, v in r["headers"].items()
                                                 if k not in self.SECRET_HEADERS},
                                     "body": r["body"]}) for r in [*self.lookups, *self.requests])

    # -- helpers for the endpoints ---------------------------------------------------------------------
    async def record(self, request: web.Request, *, lookup: bool = False) -> dict[str, Any]:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"_unparsed": raw.decode(errors="replace")}
        record: dict[str, Any] = {"method": request.method, "path": request.path, "headers": headers,
                                  "body": body, "status": None}
        (self.lookups if lookup else self.requests).append(record)
        return record

    def presented_key(self, headers: dict[str, str]) -> str | None:
        """The key from `x-api-key` or `Authorization: Bearer …`."""
        if "x-api-key" in headers:
            return headers["x-api-key"]
        scheme, _, value = headers.get("authorization", "").partition(" ")
        return value if scheme.lower() == "bearer" else None

    def key_ok(self, headers: dict[str, str]) -> bool:
        return self.api_key is None or self.presented_key(headers) == self.api_key

    async def next_answer(self, body: dict[str, Any], out_of_script: Scripted) -> Scripted:
        item: Scripted | None = self.responder(body) if self.responder is not None else None
        if item is None:
            item = self.script.pop(0) if self.script else out_of_script
        if item.delay:
            await asyncio.sleep(item.delay)
        return item
