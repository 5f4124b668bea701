"""Slack through slack-bolt against a fake Web API: signed Events API requests and Socket Mode envelopes."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse

import pytest
from hermes.config import SlackConfig
from hermes_gateway.channels import DeliveryTarget, MemorySeen
from hermes_gateway.slack_adapter import SlackAdapter, sign
from slack_sdk.web.async_client import AsyncWebClient

from .fakes import FakeSlack, RecordingInbound
from .helpers import APPROVAL_ID, approval_event, long_tree, reply_event, serve, until

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ALICE, MALLORY = "U0ALICE", "U0MALLORY"


def config(**extra) -> SlackConfig:
    data = {"botToken": "xoxb-test", "signingSecret": SECRET, "allowFrom": [ALICE],
            "channels": {"C0OPS": {"allow": True, "requireMention": True}}}
    data.update(extra)
    return SlackConfig.model_validate(data)


def adapter_for(fake: FakeSlack, inbound: RecordingInbound, cfg: SlackConfig | None = None, **kw) -> SlackAdapter:
    client = AsyncWebClient(token="xoxb-test", base_url=f"{fake.url}/api/")
    return SlackAdapter.from_config(cfg or config(), inbound=inbound, seen=MemorySeen(), client=client, **kw)


def message_callback(text: str, *, user: str = ALICE, channel: str = "D0DM", channel_type: str = "im",
                     ts: str = "1714560000.000100", event_id: str = "Ev0001", thread_ts: str | None = None) -> dict:
    # The shape of https://api.slack.com/events/message in an event_callback envelope.
    event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
             "event_ts": ts, "channel_type": channel_type, "team": FakeSlack.TEAM}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return {"token": "legacy", "team_id": FakeSlack.TEAM, "api_app_id": "A0001", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": FakeSlack.TEAM, "user_id": FakeSlack.BOT_USER,
                                "is_bot": True, "is_enterprise_install": False}]}


def block_actions(value: str, action_id: str, *, user: str = ALICE, channel: str = "D0DM",
                  message_ts: str = "1700000000.000001", thread_ts: str = "1714560000.000100",
                  trigger_id: str = "13345224609.738474920.8088930838d88f008e0") -> dict:
    # The shape of https://api.slack.com/reference/interaction-payloads/block-actions
    return {"type": "block_actions", "team": {"id": FakeSlack.TEAM, "domain": "acme"},
            "user": {"id": user, "username": "alice", "team_id": FakeSlack.TEAM},
            "api_app_id": "A0001", "token": "legacy", "trigger_id": trigger_id,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                          "is_ephemeral": False, "thread_ts": thread_ts},
            "channel": {"id": channel, "name": "directmessage"},
            "message": {"type": "message", "ts": message_ts, "thread_ts": thread_ts, "bot_id": FakeSlack.BOT_ID,
                        "text": "approval", "blocks": [
                            {"type": "section", "block_id": "s1", "text": {"type": "mrkdwn", "text": "Draft"}},
                            {"type": "actions", "block_id": "hermes_approval", "elements": []}]},
            "response_url": "https://hooks.slack.invalid/actions/T0001/1/x",
            "actions": [{"action_id": action_id, "block_id": "hermes_approval", "value": value,
                         "type": "button", "action_ts": "1714560100.000200",
                         "text": {"type": "plain_text", "text": "Approve"}}]}


async def post_signed(client, body: bytes, *, content_type: str = "application/json", stamp: int | None = None,
                      secret: str = SECRET, extra: dict | None = None):
    headers = {"Content-Type": content_type, **sign(secret, body, stamp or int(time.time())), **(extra or {})}
    return await client.post("/slack/events", data=body, headers=headers)


@pytest.fixture
async def slack():
    async with FakeSlack() as fake:
        inbound = RecordingInbound()
        adapter = adapter_for(fake, inbound)
        client = await serve(adapter.routes())
        yield fake, inbound, adapter, client
        await client.close()


async def test_message_in_once_even_when_slack_retries(slack) -> None:
    _fake, inbound, _adapter, client = slack
    body = json.dumps(message_callback("list my clusters")).encode()
    first = await post_signed(client, body)
    assert first.status == 200
    # Slack gets its 200 only once the message is queued (a crash before that leaves Slack to retry):
    # so each response below marks a request fully handled.
    assert len(inbound.messages) == 1
    retry = await post_signed(client, body, extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status == 200
    assert len(inbound.messages) == 1
    got = inbound.messages[0]
    assert got["text"] == "list my clusters" and got["user"] == ALICE and got["channel"] == "slack"
    assert got["conversation_key"] == f"slack:{FakeSlack.TEAM}:D0DM:1714560000.000100"
    assert got["target"] == DeliveryTarget("slack", "D0DM", thread="1714560000.000100", team=FakeSlack.TEAM)


async def test_url_verification_challenge(slack) -> None:
    _fake, _inbound, _adapter, client = slack
    body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()
    response = await post_signed(client, body)
    assert response.status == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in await response.text()


async def test_channel_needs_mention_and_thread_key(slack) -> None:
    fake, inbound, _adapter, client = slack
    quiet = message_callback("chatter", channel="C0OPS", channel_type="channel", event_id="Ev2", ts="1.000001")
    assert (await post_signed(client, json.dumps(quiet).encode())).status == 200  # answered once handled
    assert inbound.messages == []
    mention = message_callback(f"<@{FakeSlack.BOT_USER}> scale shop-prod to 5", channel="C0OPS",
                               channel_type="channel", event_id="Ev3", ts="1.000002", thread_ts="0.999")
    assert (await post_signed(client, json.dumps(mention).encode())).status == 200
    assert len(inbound.messages) == 1
    assert inbound.messages[0]["text"] == "scale shop-prod to 5"
    assert inbound.messages[0]["conversation_key"] == f"slack:{FakeSlack.TEAM}:C0OPS:0.999"
    assert not fake.called("chat.postEphemeral")  # the unmentioned message got no answer at all


async def test_unknown_user_refused_clearly_nothing_published(slack) -> None:
    fake, inbound, _adapter, client = slack
    body = json.dumps(message_callback("delete everything", user=MALLORY, event_id="Ev9")).encode()
    assert (await post_signed(client, body)).status == 200
    await until(lambda: bool(fake.called("chat.postMessage")))
    refusal = fake.called("chat.postMessage")[0].fields
    assert "not on Hermes's allow-list" in refusal["text"] and MALLORY in refusal["text"]
    assert "channels.slack.allowFrom" in refusal["text"]
    assert inbound.messages == []


async def test_unlisted_channel_refused(slack) -> None:
    fake, inbound, _adapter, client = slack
    body = json.dumps(message_callback(f"<@{FakeSlack.BOT_USER}> hi", channel="C0RANDOM", channel_type="channel",
                                       event_id="Ev10")).encode()
    assert (await post_signed(client, body)).status == 200
    await until(lambda: bool(fake.called("chat.postEphemeral")))
    assert "not enabled in this channel" in fake.called("chat.postEphemeral")[0].fields["text"]
    assert inbound.messages == []


@pytest.mark.parametrize("case", ["bad-signature", "stale", "unsigned", "oversized", "wrong-secret"])
async def test_bad_requests_refused(slack, case: str) -> None:
    _fake, inbound, _adapter, client = slack
    body = json.dumps(message_callback("list my clusters", event_id=f"Ev-{case}")).encode()
    if case == "bad-signature":
        response = await client.post("/slack/events", data=body, headers={
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": str(int(time.time())),
            "X-Slack-Signature": "v0=" + "0" * 64})
        expected = (401, "invalid X-Slack-Signature")
    elif case == "stale":
        response = await post_signed(client, body, stamp=int(time.time()) - 301)
        expected = (401, "more than 5 minutes")
    elif case == "unsigned":
        response = await client.post("/slack/events", data=body, headers={"Content-Type": "application/json"})
        expected = (401, "missing X-Slack-Signature")
    elif case == "wrong-secret":
        response = await post_signed(client, body, secret="not-the-secret")
        expected = (401, "invalid X-Slack-Signature")
    else:
        big = json.dumps(message_callback("x" * 300_000, event_id="Ev-big")).encode()
        response = await post_signed(client, big)
        expected = (413, "over")
    assert response.status == expected[0]  # refused before Slack's app saw it: nothing left running
    assert expected[1] in (await response.json())["error"]
    assert inbound.messages == []


async def test_approval_draft_out_click_in_result_out(slack) -> None:
    fake, inbound, adapter, client = slack
    target = DeliveryTarget("slack", "D0DM", thread="1714560000.000100", team=FakeSlack.TEAM)
    await adapter.deliver(target, approval_event())
    post = fake.called("chat.postMessage")[-1].fields
    assert post["thread_ts"] == "1714560000.000100" and post["channel"] == "D0DM"
    blocks = post["blocks"]
    texts = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "ankra cluster apply -f stack.yaml" in texts and "postgresql" in texts  # exact commands + BOM table
    assert "Bill of materials" in texts and "```" in texts
    actions = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert {a["action_id"] for a in actions} == {"hermes_approve", "hermes_reject"}
    assert all(APPROVAL_ID in a["value"] for a in actions)
    approve_value = next(a["value"] for a in actions if a["action_id"] == "hermes_approve")

    click = block_actions(approve_value, "hermes_approve")
    form = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
    response = await post_signed(client, form, content_type="application/x-www-form-urlencoded")
    assert response.status == 200
    await until(lambda: len(inbound.decisions) == 1)
    decision = inbound.decisions[0]
    assert decision["approval_id"] == APPROVAL_ID and decision["decision"] == "approve"
    assert decision["user"] == ALICE and decision["conversation_key"] == f"slack:{FakeSlack.TEAM}:D0DM:1714560000.000100"
    await until(lambda: bool(fake.called("chat.update")))
    update = fake.called("chat.update")[0].fields
    assert not [b for b in update["blocks"] if b["type"] == "actions"]  # the buttons are gone
    assert "Approved by <@U0ALICE>" in json.dumps(update["blocks"])

    # The same click delivered again (a retry) is not a second decision (answered once handled).
    assert (await post_signed(client, form, content_type="application/x-www-form-urlencoded")).status == 200
    assert len(inbound.decisions) == 1

    # The build result comes back into the thread.
    await adapter.deliver(target, reply_event("Cluster shop-prod is ready.", id="rep-3",
                                              blocks=[{"type": "table", "title": "Nodes", "columns": ["name", "state"],
                                                       "rows": [["shop-prod-1", "Ready"]]}]))
    result = fake.called("chat.postMessage")[-1].fields
    assert result["thread_ts"] == "1714560000.000100"
    assert "shop-prod-1  Ready" in json.dumps(result["blocks"])


async def test_click_by_a_stranger_is_refused(slack) -> None:
    fake, inbound, _adapter, client = slack
    click = block_actions(f"hx:a:{APPROVAL_ID}", "hermes_approve", user=MALLORY, trigger_id="t-mallory")
    form = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
    assert (await post_signed(client, form, content_type="application/x-www-form-urlencoded")).status == 200
    await until(lambda: bool(fake.called("chat.postEphemeral")))
    assert MALLORY in fake.called("chat.postEphemeral")[0].fields["text"]
    assert inbound.decisions == [] and not fake.called("chat.update")


async def test_approvers_only_may_decide() -> None:
    async with FakeSlack() as fake:
        inbound = RecordingInbound()
        cfg = config(allowFrom=[ALICE, "U0BOB"], execApprovals={"enabled": True, "approvers": ["U0BOB"]})
        adapter = adapter_for(fake, inbound, cfg)
        client = await serve(adapter.routes())
        try:
            click = block_actions(f"hx:a:{APPROVAL_ID}", "hermes_approve", user=ALICE, trigger_id="t-a")
            form = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
            await post_signed(client, form, content_type="application/x-www-form-urlencoded")
            await until(lambda: bool(fake.called("chat.postEphemeral")))
            assert "approvers" in fake.called("chat.postEphemeral")[0].fields["text"]
            assert inbound.decisions == []
            click = block_actions(f"hx:r:{APPROVAL_ID}", "hermes_reject", user="U0BOB", trigger_id="t-b")
            form = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
            await post_signed(client, form, content_type="application/x-www-form-urlencoded")
            await until(lambda: len(inbound.decisions) == 1)
            assert inbound.decisions[0]["decision"] == "reject"
        finally:
            await client.close()


async def test_long_preview_goes_as_a_file_buttons_on_short_message(slack) -> None:
    fake, _inbound, adapter, _client = slack
    tree = long_tree(400)
    target = DeliveryTarget("slack", "C0OPS", thread="1714560000.000100", team=FakeSlack.TEAM)
    await adapter.deliver(target, approval_event(tree=tree))
    assert fake.called("files.getUploadURLExternal") and fake.called("files.completeUploadExternal")
    complete = fake.called("files.completeUploadExternal")[0].fields
    assert complete.get("thread_ts") == "1714560000.000100"
    uploaded = next(iter(fake.uploads.values())).decode()
    assert tree in uploaded and "ankra cluster apply -f stack.yaml" in uploaded  # whole, nothing cut
    post = fake.called("chat.postMessage")[-1].fields
    notice = json.dumps(post["blocks"])
    assert "attached file" in notice and "component-0399" not in notice
    assert len(notice) < 3000
    actions = [b for b in post["blocks"] if b["type"] == "actions"]
    assert actions and APPROVAL_ID in json.dumps(actions)


async def test_long_answer_without_buttons_split_into_whole_sections(slack) -> None:
    fake, _inbound, adapter, _client = slack
    text = "\n".join(f"line {i} " + "y" * 60 for i in range(150))  # ~10k characters
    await adapter.deliver(DeliveryTarget("slack", "D0DM", thread="1.0"), reply_event(text))
    blocks = fake.called("chat.postMessage")[-1].fields["blocks"]
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)
    joined = "\n".join(b["text"]["text"] for b in blocks)
    assert all(f"line {i} " in joined for i in range(150))


async def test_escaping(slack) -> None:
    fake, _inbound, adapter, _client = slack
    await adapter.deliver(DeliveryTarget("slack", "D0DM"), reply_event("a <!channel> & <b> test"))
    text = fake.called("chat.postMessage")[-1].fields["blocks"][0]["text"]["text"]
    assert text == "a &lt;!channel&gt; &amp; &lt;b&gt; test"


async def test_socket_mode_message_and_ack() -> None:
    async with FakeSlack() as fake:
        inbound = RecordingInbound()
        cfg = config(appToken="xapp-1-test", mode="socket")
        adapter = adapter_for(fake, inbound, cfg)
        assert adapter.routes() == []
        assert adapter.connection_key().startswith("slack:") and "xapp" not in adapter.connection_key()
        await adapter.start()
        try:
            await asyncio.wait_for(fake.socket_connected.wait(), 5)
            envelope = {"envelope_id": "57d6a792-4d35-4d0b-b6aa-3361493e1caf", "type": "events_api",
                        "accepts_response_payload": False, "retry_attempt": 0, "retry_reason": "",
                        "payload": message_callback("hello over the socket", event_id="EvS1")}
            await fake.socket_envelopes.put(envelope)
            await fake.socket_envelopes.put({**envelope, "envelope_id": "second-delivery", "retry_attempt": 1})
            # An envelope is acked once its listener has run (process_before_response): both acks in,
            # both deliveries handled.
            await until(lambda: {a["envelope_id"] for a in fake.socket_acks}
                        >= {envelope["envelope_id"], "second-delivery"})
            assert len(inbound.messages) == 1 and inbound.messages[0]["text"] == "hello over the socket"
        finally:
            await adapter.stop()
