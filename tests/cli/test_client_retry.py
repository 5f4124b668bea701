"""The CLI's client sends each message at most once: an `Idempotency-Key` per request, the same key
on every retry, and retries only where the gateway says the message was certainly not stored."""

from __future__ import annotations

import pytest
from aiohttp import web
from hermes_cli.client import ApiError, GatewayClient


async def _gateway(statuses: list[int], seen: list[str]) -> web.AppRunner:
    async def messages(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Idempotency-Key", ""))
        status = statuses.pop(0) if statuses else 202
        body = {"message_id": "m1", "conversation_id": "c1", "correlation_id": "m1", "cursor": "0"}
        if status != 202:
            body = {"error": "the bus is down: the message was not queued; send it again"}
        return web.json_response(body, status=status, headers={"Retry-After": "1"} if status == 503 else None)

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def _url(runner: web.AppRunner) -> str:
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}"


async def test_a_503_is_retried_with_the_same_key() -> None:
    seen: list[str] = []
    runner = await _gateway([503, 503], seen)
    try:
        async with GatewayClient(_url(runner), "hermes_token") as client:
            sent = await client.send_message("List my Ankra clusters")
    finally:
        await runner.cleanup()
    assert sent["message_id"] == "m1"
    assert len(seen) == 3 and seen[0] and len(set(seen)) == 1, seen


async def test_other_errors_are_not_retried_and_each_message_has_its_own_key() -> None:
    seen: list[str] = []
    runner = await _gateway([422], seen)
    try:
        async with GatewayClient(_url(runner), "hermes_token") as client:
            with pytest.raises(ApiError) as err:
                await client.send_message("x")
            await client.send_message("y")
    finally:
        await runner.cleanup()
    assert err.value.status == 422
    assert len(seen) == 2 and seen[0] != seen[1]
