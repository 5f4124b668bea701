"""A long poll waits as long as it was asked to (up to the gateway's maximum), not 5 s: redis-py's
default read timeout would end every longer wait in an error, so blocking reads use a client of their
own whose timeout outlasts the longest wait."""

from __future__ import annotations

import json
import time

from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.signing import generate_keys
from hermes_gateway.service import Gateway


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
