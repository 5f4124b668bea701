"""What the gateway records for people to read is redacted whole — text, tables, code blocks and the
approval prompt — whichever service wrote the reply."""

from __future__ import annotations

import json

from hermes.contracts import ApprovalPrompt, CodeBlock, Reply, TableBlock, utcnow
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.signing import generate_keys
from hermes_gateway.service import Gateway

GITHUB = "ghp_" + "Zq3" * 12
SLACK = "xoxb-" + "1234567890-" + "abcdefghijklmnopqrstuvwx"


async def test_a_reply_is_redacted_in_every_part_before_it_is_recorded(redis_server, redis_prefix) -> None:
    settings = Settings(redis_url=redis_server.url, redis_prefix=redis_prefix,
                        trusted_keys=json.dumps(generate_keys(["guard"])[1]))
    rt = ServiceRuntime("gateway", settings, configure_logging=False)
    await rt.start_dependencies()
    try:
        gateway = Gateway(rt)
        await gateway.conversations.create("c-red", user="alice", channel="http")
        reply = Reply(conversation_id="c-red", correlation_id="m1", final=True, text=f"token {GITHUB}",
                      blocks=[TableBlock(columns=["name", "value"], rows=[["bot", SLACK]]),
                              CodeBlock(text=f"export GITHUB_TOKEN={GITHUB}")],
                      approval=ApprovalPrompt(approval_id="apr-0123456789ab", plan_hash="a" * 64,
                                              summary=f"rotate {SLACK}", steps=[["cluster", "list"]],
                                              expires_at=utcnow()))
        await gateway.handle_reply(reply)
        events, _ = await gateway.conversations.read("c-red")
        shown = json.dumps(events)
        assert events and GITHUB not in shown and SLACK not in shown, shown
        assert "[REDACTED:" in events[0]["blocks"][0]["rows"][0][1]
        assert events[0]["approval"]["plan_hash"] == "a" * 64, "what is not a secret is kept"
    finally:
        await rt.redis.aclose()


async def test_a_secret_a_person_types_is_redacted_before_it_reaches_the_bus_or_the_log() -> None:
    from hermes.access import Principal
    from hermes.redaction import Redactor
    from hermes.signing import ServiceKey
    from hermes_gateway.intake import Intake
    from hermes_gateway.people import People

    class NoApprovals:
        async def waiting_ids(self, _cid: str) -> list[str]:
            return []

    intake = Intake(People(None, ServiceKey.generate("gateway")), NoApprovals(), Redactor([]))  # type: ignore[arg-type]
    text = intake.clean(f"use {GITHUB} to pull the chart")
    message, _subject = await intake.from_text(Principal("alice", ("operator",), verified=True, channel="http"), "c1", text, "m1")
    assert GITHUB not in message.text and "to pull the chart" in message.text
