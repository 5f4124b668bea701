"""A long poll waits as long as it was asked to (up to the gateway's maximum), not 5 s: redis-py's
default read timeout would end every longer wait in an error, so blocking reads use a client of their
own whose timeout outlasts the longest wait. Long polls and event streams are bounded per person and in
total (429 with Retry-After), and hold connections of their own pool, never those posting needs."""

from __future__ import annotations

import asyncio
import json
import time

from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.signing import generate_keys
from hermes_gateway.http_api import WaitLimits
from hermes_gateway.service import Gateway

from tests.integration.test_http_faults import running_gateway
from tests.waiting import until


async def test_a_quiet_long_poll_of_seven_seconds_answers_empty_after_seven_seconds(redis_server, redis_prefix) -> None:
    settings = Settings(redis_url=redis_server.url, redis_prefix=redis_prefix, long_poll_max_seconds=30,
                        trusted_keys=json.dumps(generate_keys(["guard"])[1]))
    rt = ServiceRuntime("gateway", settings, configure_logging=False)
    await rt.start_dependencies()
    try:
        log = Gateway(rt).conversations
        await log.create("c-quiet", user="alice", channel="http")
        started = time.monotonic()
        events, cursor = await log.read("c-quiet", "0", wait_seconds=7)
        waited = time.monotonic() - started
        assert events == [] and cursor == "0"
        assert waited >= 6.5, f"answered after {waited:.1f}s, not the 7 s asked for"
    finally:
        await rt._on_shutdown()


async def test_a_long_poll_over_http_of_six_seconds_answers_200_after_six_seconds(fresh_nats, redis_server,
                                                                                 redis_prefix) -> None:
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        status, sent, _h = await gw.post("/v1/messages", {"text": "hello"})
        assert status == 202
        started = time.monotonic()
        status, page, _h = await gw.get(f"/v1/conversations/{sent['conversation_id']}/events",
                                        cursor=await _newest(gw, sent["conversation_id"]), wait="6")
        waited = time.monotonic() - started
        assert status == 200 and page["events"] == [], page
        assert waited >= 5.5, f"answered after {waited:.1f}s, not the 6 s asked for"


async def _newest(gw, conversation_id: str, user: str = "alice") -> str:
    status, page, _h = await gw.get(f"/v1/conversations/{conversation_id}/events", user=user)
    assert status == 200
    return page["cursor"]


LIMITS = WaitLimits(long_polls_per_user=2, long_polls_total=3, streams_per_user=1, streams_total=2)


async def test_long_polls_are_bounded_per_person_and_in_total_and_never_block_posting(fresh_nats, redis_server,
                                                                                     redis_prefix) -> None:
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix, limits=LIMITS) as gw:
        conversations = {}
        for user in ("alice", "bob", "carol"):
            status, sent, _h = await gw.post("/v1/messages", {"text": f"hi from {user}"}, user=user)
            assert status == 202
            conversations[user] = (sent["conversation_id"], await _newest(gw, sent["conversation_id"], user))

        def poll(user: str):
            conversation_id, cursor = conversations[user]
            return asyncio.create_task(gw.get(f"/v1/conversations/{conversation_id}/events", user=user,
                                              cursor=cursor, wait="25"))

        held = [poll("alice"), poll("alice")]
        await until(lambda: gw.api.long_polls.count == 2, what="two long polls of alice waiting")
        status, body, headers = await gw.get(f"/v1/conversations/{conversations['alice'][0]}/events",
                                             cursor=conversations["alice"][1], wait="25")
        assert status == 429 and int(headers["Retry-After"]) > 0 and "one person" in body["error"], body
        held.append(poll("bob"))
        await until(lambda: gw.api.long_polls.count == 3, what="bob's long poll waiting")
        status, body, headers = await gw.get(f"/v1/conversations/{conversations['carol'][0]}/events", user="carol",
                                             cursor=conversations["carol"][1], wait="25")
        assert status == 429 and int(headers["Retry-After"]) > 0 and "maximum of 3" in body["error"], body
        # Many more at once: all refused, and Redis never sees more blocked readers than the bound.
        burst = await asyncio.gather(*(gw.get(f"/v1/conversations/{conversations[u][0]}/events", user=u,
                                              cursor=conversations[u][1], wait="25")
                                       for u in ("alice", "bob", "carol") * 30))
        assert {status for status, _b, _h in burst} == {429}
        clients = await gw.rt.redis.client_list()
        assert sum(c.get("cmd") == "xread" for c in clients) <= LIMITS.long_polls_total

        # Posting is not held up by them, and answers the long polls waiting on alice's conversation.
        started = time.monotonic()
        status, sent, _h = await gw.post("/v1/messages", {"text": "wake up",
                                                          "conversation_id": conversations["alice"][0]})
        assert status == 202 and time.monotonic() - started < 3
        for task in held[:2]:
            status, page, _h = await task
            assert status == 200 and [e["text"] for e in page["events"]] == ["wake up"]
        await until(lambda: gw.api.long_polls.count == 1, what="alice's long polls ending")
        status, sent, _h = await gw.post("/v1/messages", {"text": "you too", "conversation_id": conversations["bob"][0]},
                                         user="bob")
        assert (await held[2])[0] == 200
        assert gw.api.long_polls.count == 0


async def test_event_streams_are_bounded_per_person_and_in_total(fresh_nats, redis_server, redis_prefix) -> None:
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix, limits=LIMITS) as gw:
        status, sent, _h = await gw.post("/v1/messages", {"text": "hello"})
        assert status == 202
        conversation_id = sent["conversation_id"]
        path = f"/v1/conversations/{conversation_id}/events"
        sse = {"Accept": "text/event-stream"}
        stream = await gw.client.get(path, headers=gw.headers() | sse)
        assert stream.status == 200 and stream.headers["Content-Type"] == "text/event-stream"
        await until(lambda: gw.api.streams.count == 1, what="the event stream open")
        async with gw.client.get(path, headers=gw.headers() | sse) as second:
            body = await second.json()
            assert second.status == 429 and int(second.headers["Retry-After"]) > 0 and "one person" in body["error"]
        first_event = await stream.content.readuntil(b"\n\n")
        assert b'"text": "hello"' in first_event
        stream.close()
        # The handler notices the closed stream at its next write: the next event.
        await gw.post("/v1/messages", {"text": "bye", "conversation_id": conversation_id})
        await until(lambda: gw.api.streams.count == 0, what="the closed event stream released")
