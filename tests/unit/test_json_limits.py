"""JSON size and nesting limits at the edges: the bus middleware's payload check and the gateway's
HTTP body parser. A deeply nested body is a 400 JSON answer, never a RecursionError or a 500."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hermes import bus
from hermes_gateway import http_api


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def test_depth_scan_counts_brackets_outside_strings_only() -> None:
    assert not bus.json_depth_exceeds(nested(64))
    assert bus.json_depth_exceeds(nested(65))
    assert bus.json_depth_exceeds(b'{"a":' * 70 + b"1" + b"}" * 70)
    inside_strings = json.dumps({"text": "[" * 5000, "q": 'say \\"[[[[" please'}).encode()
    assert not bus.json_depth_exceeds(inside_strings)
    assert not bus.json_depth_exceeds(json.dumps({"a": [[1, {"b": [2]}]]}), limit=5)
    assert bus.json_depth_exceeds(json.dumps({"a": [[1, {"b": [2]}]]}), limit=4)


@pytest.mark.parametrize(("payload", "reason"), [
    (nested(2000), "nested deeper than 64 levels"),
    (nested(100_000), "nested deeper than 64 levels"),
    (b'{"t": "' + b"x" * (bus.MAX_PAYLOAD_BYTES + 1) + b'"}', "over the limit of 1048576 bytes"),
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON list, not an object"),
    (b'"text"', "JSON str, not an object"),
])
def test_a_payload_that_can_never_be_accepted_is_named(payload: bytes, reason: str) -> None:
    problem = bus.payload_problem(payload)
    assert problem is not None and reason in problem


def test_an_ordinary_message_passes() -> None:
    assert bus.payload_problem(json.dumps({"id": "m", "steps": [{"argv": ["a", "b"]}]}).encode()) is None


@pytest.fixture
async def body_client():
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await http_api._json_body(request))

    app = web.Application(client_max_size=http_api.MAX_BODY_BYTES)
    app.router.add_post("/echo", echo)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


@pytest.mark.parametrize("body", [nested(10_000), b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
                                  b'{"text": "hi", "x": ' + nested(http_api.MAX_JSON_DEPTH + 1) + b"}"])
async def test_a_deeply_nested_http_body_is_a_json_400(body_client: TestClient, body: bytes) -> None:
    resp = await body_client.post("/echo", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert resp.content_type == "application/json"
    assert (await resp.json()) == {
        "error": f"the body is nested deeper than {http_api.MAX_JSON_DEPTH} levels"}


async def test_an_ordinary_http_body_still_parses(body_client: TestClient) -> None:
    body = {"text": "[not nested]", "items": [[1, [2]]]}
    resp = await body_client.post("/echo", json=body)
    assert resp.status == 200 and await resp.json() == body


async def test_recursion_in_the_parser_never_escapes(body_client: TestClient,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the scan to miss a nesting, the parser's own RecursionError is still a 400.
    monkeypatch.setattr(bus, "json_depth_exceeds", lambda *_a, **_k: False)
    resp = await body_client.post("/echo", data=nested(10_000))
    assert resp.status == 400 and "nested deeper" in (await resp.json())["error"]
