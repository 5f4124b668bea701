"""Local servers that play the chat platforms' HTTP APIs, and a recording `Inbound`.

- `FakeSlack`: the Web API (`/api/<method>`) as slack-sdk calls it, the file upload URL that
  `files.getUploadURLExternal` hands out, and Socket Mode (`apps.connections.open` → a WebSocket that
  sends envelopes and records acks).
- `FakeTelegram`: the Bot API (`/bot<token>/<method>`) as aiogram calls it (multipart forms), with a
  queue `getUpdates` serves from.
- `FakeDiscord`: the REST API (`/api/v10/…`) as discord.py calls it (JSON, or multipart with
  `payload_json` and `files[n]`).

Each records every call as `(method, fields)` in `calls`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer


@dataclass
class Call:
    method: str
    fields: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


class _Fake:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    async def __aenter__(self):
        self.server = TestServer(self.app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.close()

    def called(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    @staticmethod
    async def _fields(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            body = await request.read()
            return (json.loads(body) if body else {}), files
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            out: dict[str, Any] = {}
            if request.content_type == "multipart/form-data":
                reader = await request.multipart()
                async for part in reader:
                    data = await part.read()
                    if part.filename:
                        files[part.name or part.filename] = bytes(data)
                        out.setdefault("_filenames", {})[part.name] = part.filename
                    else:
                        out[part.name] = data.decode()
            else:
                out.update((await request.post()).items())
            return out, files
        body = await request.read()
        return ({"_raw": body} if body else {}), files


# ---------------------------------------------------------------------------------------------------
class FakeSlack(_Fake):
    TEAM, BOT_USER, BOT_ID = "T0001", "UHERMES", "BHERMES"

    def __init__(self) -> None:
        super().__init__()
        self._ts = itertools.count(1)
        self.uploads: dict[str, bytes] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self.socket_envelopes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.socket_connected = asyncio.Event()
        self.app.router.add_post("/api/{method}", self._api)
        self.app.router.add_post("/upload/{file_id}", self._upload)
        self.app.router.add_get("/socket", self._socket)

    def ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        fields, files = await self._fields(request)
        fields = {**dict(request.query), **fields}  # slack-sdk sends some methods' arguments as a query
        for key in ("blocks", "files"):
            if isinstance(fields.get(key), str):
                fields[key] = json.loads(fields[key])
        self.calls.append(Call(method, fields, files))
        if method == "auth.test":
            return web.json_response({"ok": True, "url": "https://acme.slack.com/", "team": "Acme",
                                      "user": "hermes", "team_id": self.TEAM, "user_id": self.BOT_USER,
                                      "bot_id": self.BOT_ID, "is_enterprise_install": False})
        if method == "chat.postMessage":
            ts = self.ts()
            return web.json_response({"ok": True, "channel": fields.get("channel"), "ts": ts,
                                      "message": {"type": "message", "text": fields.get("text", ""),
                                                  "bot_id": self.BOT_ID, "ts": ts}})
        if method == "chat.postEphemeral":
            return web.json_response({"ok": True, "message_ts": self.ts()})
        if method == "chat.update":
            return web.json_response({"ok": True, "channel": fields.get("channel"), "ts": fields.get("ts"),
                                      "text": fields.get("text", "")})
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):04d}"
            return web.json_response({"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id})
        if method == "files.completeUploadExternal":
            return web.json_response({"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")}
                                                            for f in fields.get("files", [])]})
        if method == "apps.connections.open":
            return web.json_response({"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"})
        return web.json_response({"ok": False, "error": "unknown_method"})

    async def _upload(self, request: web.Request) -> web.Response:
        fields, files = await self._fields(request)
        data = next(iter(files.values()), None) if files else fields.get("_raw", b"")
        self.uploads[request.match_info["file_id"]] = data if isinstance(data, bytes) else str(data).encode()
        return web.Response(text=f"OK - {len(self.uploads[request.match_info['file_id']])}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "fake", "approximate_connection_time": 3600},
                            "connection_info": {"app_id": "A0001"}})
        self.socket_connected.set()

        async def pump() -> None:
            while True:
                envelope = await self.socket_envelopes.get()
                await ws.send_json(envelope)

        task = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
        finally:
            task.cancel()
        return ws


# ---------------------------------------------------------------------------------------------------
class FakeTelegram(_Fake):
    BOT_ID, USERNAME = 4242, "hermes_ankra_bot"

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(500)
        self.updates: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        self._failures: dict[str, list[tuple[int, int | None]]] = {}
        self.app.router.add_post("/bot{token}/{method}", self._api)

    def fail_next(self, method: str, status: int = 429, retry_after: int | None = None) -> None:
        """Answer the next call of `method` with an error, as the Bot API does (429: flood control)."""
        self._failures.setdefault(method, []).append((status, retry_after))

    def _message(self, chat_id: Any, **extra: Any) -> dict[str, Any]:
        return {"message_id": next(self._ids), "date": 1700000000,
                "chat": {"id": int(chat_id), "type": "private" if int(chat_id) > 0 else "supergroup"},
                "from": {"id": self.BOT_ID, "is_bot": True, "first_name": "Hermes", "username": self.USERNAME},
                **extra}

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        fields, files = await self._fields(request)
        if self._failures.get(method):
            status, retry_after = self._failures[method].pop(0)
            self.calls.append(Call(f"{method}!{status}", fields, files))
            error: dict[str, Any] = {"ok": False, "error_code": status,
                                     "description": f"Too Many Requests: retry after {retry_after}"
                                     if status == 429 else "Internal Server Error"}
            if retry_after is not None:
                error["parameters"] = {"retry_after": retry_after}
            return web.json_response(error, status=status)
        self.calls.append(Call(method, fields, files))
        result: Any = True
        if method == "getMe":
            result = {"id": self.BOT_ID, "is_bot": True, "first_name": "Hermes", "username": self.USERNAME,
                      "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        elif method == "sendMessage":
            result = self._message(fields["chat_id"], text=fields.get("text", ""))
        elif method == "sendDocument":
            name = (fields.get("_filenames") or {}).get("document", "file")
            result = self._message(fields["chat_id"], caption=fields.get("caption", ""),
                                   document={"file_id": "DOC1", "file_unique_id": "U1", "file_name": name})
        elif method == "getUpdates":
            try:
                result = await asyncio.wait_for(self.updates.get(), timeout=0.2)
            except TimeoutError:
                result = []
        elif method == "editMessageReplyMarkup":
            result = self._message(fields["chat_id"], text="")
        return web.json_response({"ok": True, "result": result})


# ---------------------------------------------------------------------------------------------------
def _discord_json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when Content-Type is exactly application/json, as Discord sends it.
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


class FakeDiscord(_Fake):
    BOT_ID, APP_ID = "111111111111111111", "222222222222222222"

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(900000000000000000)
        self.app.router.add_route("*", "/api/v10/{path:.*}", self._api)

    @property
    def api(self) -> str:
        return f"{self.url}/api/v10"

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.BOT_ID, "username": "hermes", "discriminator": "0", "global_name": "Hermes",
                "avatar": None, "bot": True, "flags": 0}

    async def _api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        fields, files = await self._fields(request)
        if "payload_json" in fields:
            fields.update(json.loads(fields.pop("payload_json")))
        self.calls.append(Call(f"{request.method} {path}", fields, files))
        if path == "/users/@me":
            return _discord_json(self.bot_user())
        if path == "/oauth2/applications/@me":
            return _discord_json({"id": self.APP_ID, "name": "Hermes", "icon": None, "description": "",
                                      "rpc_origins": [], "bot_public": False, "bot_require_code_grant": False,
                                      "owner": {**self.bot_user(), "id": "333", "bot": False}, "summary": "",
                                      "verify_key": "00" * 32, "team": None, "flags": 0, "bot": self.bot_user()})
        if path.startswith("/channels/") and path.endswith("/messages") and request.method == "POST":
            channel_id = path.split("/")[2]
            return _discord_json({
                "id": str(next(self._ids)), "channel_id": channel_id, "content": fields.get("content", ""),
                "author": self.bot_user(), "timestamp": "2024-01-01T00:00:00+00:00", "edited_timestamp": None,
                "tts": False, "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [
                    {"id": "1", "filename": name, "size": len(data), "url": "https://cdn.invalid/x",
                     "proxy_url": "https://cdn.invalid/x"} for name, data in files.items()],
                "embeds": [], "pinned": False, "type": 0, "components": fields.get("components", [])})
        if "/commands" in path:
            return _discord_json({"id": "444", "application_id": self.APP_ID, "version": "1", **fields})
        return _discord_json({"message": "404: Not Found", "code": 0}, status=404)


# ---------------------------------------------------------------------------------------------------
class RecordingInbound:
    """An `Inbound` that records what the adapters publish."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.event = asyncio.Event()

    async def message(self, **kwargs: Any) -> None:
        self.messages.append(kwargs)
        self.event.set()

    async def decision(self, **kwargs: Any) -> None:
        self.decisions.append(kwargs)
        self.event.set()
