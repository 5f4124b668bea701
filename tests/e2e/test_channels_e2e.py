"""Slack, Telegram and Discord end to end, through the four running services.

Each platform's HTTP API is a local server (tests/channels/fakes.py) that the real SDK inside the
gateway process talks to (`HERMES_SLACK_API_URL`, `HERMES_TELEGRAM_API_URL`, `HERMES_DISCORD_API_URL`);
inbound requests are signed as the platforms sign them, in the payload shapes of their docs. Each test
is the whole loop: the guide's design request in, the draft (architecture, bill of materials, Approve /
Reject) out, the button click in, the build result out, with the emulator's call log as the witness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from hermes import embedded, subjects
from hermes_gateway.slack_adapter import sign as slack_sign
from hermes_gateway.telegram_adapter import SECRET_HEADER
from nacl.signing import SigningKey

from tests.channels.fakes import Call, FakeDiscord, FakeSlack, FakeTelegram

from .conftest import HermesStack, running_hermes, start_gateway_replica

pytestmark = pytest.mark.e2e

GOAL = "My app needs a Postgres database and a Redis cache on staging. Set it up."
SLACK_SECRET = "e2e-slack-signing-secret-0123456789"
SLACK_ALICE, SLACK_MALLORY = "U0ALICE", "U0MALLORY"
SLACK_BOB = "U0BOB"  # allowed in, but mapped to no Hermes user: the channel's role (viewer), never more
TG_TOKEN = "123456789:AAE2EtestTokenForHermesGateway0000"
TG_SECRET = "e2e-telegram-webhook-secret"
TG_ALICE, TG_MALLORY = 1111111, 6666666
DISCORD_KEY = SigningKey.generate()
DISCORD_ALICE = "80351110224678912"
GUILD, CHANNEL = "41771983423143937", "41771983423143938"


@dataclass
class Platforms:
    slack: FakeSlack
    telegram: FakeTelegram
    discord: FakeDiscord


@contextlib.asynccontextmanager
async def platforms() -> AsyncIterator[Platforms]:
    async with FakeSlack() as slack, FakeTelegram() as telegram, FakeDiscord() as discord:
        yield Platforms(slack, telegram, discord)


def channel_env(tmp_path: Path, fakes: Platforms, *, telegram_polling: bool = False) -> dict[str, str]:
    """A hermes.json with all three platforms, and the variables pointing the SDKs at the fakes."""
    telegram: dict[str, Any] = {"allowFrom": [TG_ALICE]}
    flat: dict[str, Any] = {}
    if telegram_polling:  # the token as the guide's flat chart value `config.telegramToken`
        flat = {"telegramToken": TG_TOKEN}
    else:  # as OpenClaw nests it
        telegram.update(botToken=TG_TOKEN, webhookUrl="https://hermes.example/telegram/webhook",
                        webhookSecret=TG_SECRET)
    config: dict[str, Any] = {"config": flat} if flat else {}
    config["channels"] = {
        "slack": {"mode": "http", "botToken": "xoxb-e2e-bot-token", "signingSecret": SLACK_SECRET,
                  "allowFrom": [SLACK_ALICE, SLACK_BOB], "channels": {"C0OPS": {"allow": True, "requireMention": True}}},
        "telegram": telegram,
        "discord": {"token": "discord-e2e-bot-token", "applicationId": FakeDiscord.APP_ID,
                    "publicKey": DISCORD_KEY.verify_key.encode().hex(), "allowFrom": [DISCORD_ALICE],
                    "guilds": {GUILD: {"channels": {CHANNEL: {"allow": True}}}}},
    }
    # The platform identities of the Hermes user alice (an operator and approver; see `with_people`).
    config["hermes"] = {"people": {f"slack:{SLACK_ALICE}": "alice", f"telegram:{TG_ALICE}": "alice",
                                   f"discord:{DISCORD_ALICE}": "alice"}}
    path = tmp_path / "hermes.json"
    path.write_text(json.dumps(config))
    return {"HERMES_CONFIG": str(path), "HERMES_SLACK_API_URL": f"{fakes.slack.url}/api/",
            "HERMES_TELEGRAM_API_URL": fakes.telegram.url, "HERMES_DISCORD_API_URL": fakes.discord.api,
            "HERMES_DISCORD_GATEWAY": "false", "HERMES_LEASE_TTL_SECONDS": "3"}


@pytest.fixture
async def chat(tmp_path: Path, stack_servers: tuple[str, str], emulator_state
               ) -> AsyncIterator[tuple[HermesStack, Platforms]]:
    async with platforms() as fakes:
        env = channel_env(tmp_path, fakes)
        async with running_hermes(tmp_path / "logs", *stack_servers, emulator_state, extra_env=env) as stack:
            await with_people(stack)
            yield stack, fakes


async def with_people(stack: HermesStack) -> None:
    """alice, whom the config maps the platforms' alice to."""
    await stack.add_user("alice", ("operator", "approver"))


async def until(predicate: Callable[[], Any], stack: HermesStack, timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or 'a condition'}\n{stack.tail_logs(25)}")


def applies(stack: HermesStack) -> list[dict[str, Any]]:
    return [c for c in stack.emulator_calls() if c["argv"][:2] == ["cluster", "apply"]]


def block_text(call: Call) -> str:
    out = [str(call.fields.get("text", ""))]
    for block in call.fields.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            out.append(text.get("text", ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                out.append(element["text"])
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------
# Slack: the Events API and interactivity, signed with the app's signing secret


def slack_message(text: str, *, user: str = SLACK_ALICE, ts: str = "1714560000.000100",
                  event_id: str = "Ev0E2E0001") -> dict[str, Any]:
    # https://api.slack.com/events/message inside an event_callback envelope, in a DM.
    event = {"type": "message", "channel": "D0DM", "user": user, "text": text, "ts": ts, "event_ts": ts,
             "channel_type": "im", "team": FakeSlack.TEAM}
    return {"token": "legacy", "team_id": FakeSlack.TEAM, "api_app_id": "A0001", "event": event,
            "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": FakeSlack.TEAM, "user_id": FakeSlack.BOT_USER,
                                "is_bot": True, "is_enterprise_install": False}]}


def slack_click(value: str, action_id: str, message: Call, message_ts: str, *, user: str = SLACK_ALICE,
                trigger_id: str = "13345224609.738474920.8088930838d88f008e0") -> dict[str, Any]:
    # https://api.slack.com/reference/interaction-payloads/block-actions
    thread_ts = message.fields.get("thread_ts")
    return {"type": "block_actions", "team": {"id": FakeSlack.TEAM, "domain": "acme"},
            "user": {"id": user, "username": "alice", "team_id": FakeSlack.TEAM}, "api_app_id": "A0001",
            "token": "legacy", "trigger_id": trigger_id,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": "D0DM",
                          "is_ephemeral": False, "thread_ts": thread_ts},
            "channel": {"id": "D0DM", "name": "directmessage"},
            "message": {"type": "message", "ts": message_ts, "thread_ts": thread_ts, "bot_id": FakeSlack.BOT_ID,
                        "text": message.fields.get("text", ""), "blocks": message.fields.get("blocks")},
            "response_url": "https://hooks.slack.invalid/actions/T0001/1/x",
            "actions": [{"action_id": action_id, "block_id": "hermes_approval", "value": value, "type": "button",
                         "action_ts": "1714560100.000200", "text": {"type": "plain_text", "text": "Approve"}}]}


async def post_slack(stack: HermesStack, body: bytes, *, form: bool = False, secret: str = SLACK_SECRET,
                     stamp: int | None = None, extra: dict[str, str] | None = None, url: str | None = None
                     ) -> tuple[int, str]:
    assert stack.session is not None
    headers = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
               **slack_sign(secret, body, stamp or int(time.time())), **(extra or {})}
    async with stack.session.post(f"{url or stack.url}/slack/events", data=body, headers=headers) as resp:
        return resp.status, await resp.text()


def approval_post(fake: FakeSlack) -> Call | None:
    """The chat.postMessage carrying Approve / Reject."""
    return next((c for c in fake.called("chat.postMessage")
                 if any(b.get("type") == "actions" for b in c.fields.get("blocks") or [])), None)


async def test_slack_design_request_draft_click_build(chat) -> None:
    stack, fakes = chat
    body = json.dumps(slack_message(GOAL)).encode()
    assert (await post_slack(stack, body))[0] == 200
    # Slack retries when it thinks the first delivery failed: the same event, taken once.
    assert (await post_slack(stack, body, extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))[0] == 200

    draft = await until(lambda: approval_post(fakes.slack), stack, what="the draft with buttons in Slack")
    text = block_text(draft)
    assert "app-data (stack)" in text and "bitnami/postgresql-ha" in text and "bitnami/redis" in text
    assert "ankra cluster apply -f stack.yaml --cluster staging-cluster" in text
    assert draft.fields["thread_ts"] == "1714560000.000100" and draft.fields["channel"] == "D0DM"
    actions = next(b for b in draft.fields["blocks"] if b["type"] == "actions")
    approve = next(e for e in actions["elements"] if e["action_id"] == "hermes_approve")
    assert not applies(stack), "nothing is built before the click"

    click = slack_click(approve["value"], "hermes_approve", draft, "1700000000.000099")
    form = urllib.parse.urlencode({"payload": json.dumps(click)}).encode()
    assert (await post_slack(stack, form, form=True))[0] == 200
    await until(lambda: applies(stack), stack, what="ankra cluster apply")
    assert len(applies(stack)) == 1 and applies(stack)[0]["exit_code"] == 0

    def build_result() -> Call | None:
        posts = fakes.slack.called("chat.postMessage")
        after = posts[posts.index(draft) + 1:]
        return next((c for c in after if "app-data" in block_text(c) and "Running" not in block_text(c)), None)

    result = await until(build_result, stack, what="the build result in Slack")
    assert result.fields["thread_ts"] == "1714560000.000100"
    # the clicked message lost its buttons and says who approved
    update = await until(lambda: fakes.slack.called("chat.update"), stack, what="the approval message updated")
    assert "Approved by <@U0ALICE>" in update[0].fields["text"]
    # the retried event made one conversation turn: one draft
    drafts = [c for c in fakes.slack.called("chat.postMessage") if "bitnami/postgresql-ha" in block_text(c)]
    assert len(drafts) == 1
    # the secrets of the config never reach Slack
    everything = json.dumps([c.fields for c in fakes.slack.calls])
    assert SLACK_SECRET not in everything and "xoxb-e2e-bot-token" not in everything


async def test_a_mapped_slack_approver_can_approve_and_an_unmapped_one_cannot(chat) -> None:
    """People come from the config's `hermes.people`: U0ALICE is the Hermes user alice (an approver);
    U0BOB is allowed in but mapped to nobody, so he is a viewer: his click decides nothing."""
    stack, fakes = chat
    body = json.dumps(slack_message(GOAL, event_id="EvPeople1")).encode()
    assert (await post_slack(stack, body))[0] == 200
    draft = await until(lambda: approval_post(fakes.slack), stack, what="the draft with buttons in Slack")
    actions = next(b for b in draft.fields["blocks"] if b["type"] == "actions")
    approve = next(e for e in actions["elements"] if e["action_id"] == "hermes_approve")
    posts_before = len(fakes.slack.called("chat.postMessage"))

    bob = slack_click(approve["value"], "hermes_approve", draft, "1700000000.000099", user=SLACK_BOB,
                      trigger_id="13345224609.738474920.bob")
    assert (await post_slack(stack, urllib.parse.urlencode({"payload": json.dumps(bob)}).encode(), form=True))[0] == 200

    def refusal() -> Call | None:
        return next((c for c in fakes.slack.called("chat.postMessage")[posts_before:]
                     if "may not decide approvals" in block_text(c)), None)

    said = await until(refusal, stack, what="the refusal of bob's click")
    assert f"slack:{SLACK_BOB}" in block_text(said) and "viewer" in block_text(said)
    assert not applies(stack), "an unmapped platform user's click builds nothing"

    alice = slack_click(approve["value"], "hermes_approve", draft, "1700000000.000099")
    assert (await post_slack(stack, urllib.parse.urlencode({"payload": json.dumps(alice)}).encode(), form=True))[0] == 200
    await until(lambda: applies(stack), stack, what="ankra cluster apply after alice's click")
    assert len(applies(stack)) == 1


async def test_slack_refusals_bad_signature_replay_stranger_oversized(chat) -> None:
    stack, fakes = chat
    body = json.dumps(slack_message("list my clusters", event_id="EvBad")).encode()
    status, text = await post_slack(stack, body, secret="not-the-secret")
    assert status == 401 and "X-Slack-Signature" in text
    status, text = await post_slack(stack, body, stamp=int(time.time()) - 3600)
    assert status == 401 and "replay" in text
    status, text = await post_slack(stack, b"x" * (300 * 1024))
    assert status == 413
    # a stranger: told why, nothing published
    stranger = json.dumps(slack_message("list my clusters", user=SLACK_MALLORY, event_id="EvStranger",
                                        ts="1714560009.000100")).encode()
    assert (await post_slack(stack, stranger))[0] == 200
    notice = await until(lambda: fakes.slack.called("chat.postMessage") or fakes.slack.called("chat.postEphemeral"),
                         stack, what="the refusal")
    assert "allow-list" in notice[0].fields["text"] and SLACK_MALLORY in notice[0].fields["text"]
    # Slack had its 200 only once the gateway was done with the event; the planner, guard and executor
    # have each acked all they were given: a message wrongly published would have run by now.
    await stack.settled(subjects.PLANNER_CHAT_DURABLE, subjects.GUARD_PLANS_DURABLE,
                        subjects.EXECUTOR_ORDERS_DURABLE)
    assert not [c for c in stack.emulator_calls() if c["argv"][:2] == ["cluster", "list"]]


# ---------------------------------------------------------------------------------------------------
# Telegram: the webhook with its secret-token header


def tg_message(update_id: int, text: str, *, uid: int = TG_ALICE, message_id: int = 1365) -> dict[str, Any]:
    # https://core.telegram.org/bots/api#update with a message in a private chat
    return {"update_id": update_id, "message": {
        "message_id": message_id, "date": int(time.time()),
        "from": {"id": uid, "is_bot": False, "first_name": "Alice", "username": "alice"},
        "chat": {"id": uid, "type": "private", "first_name": "Alice"}, "text": text}}


def tg_click(update_id: int, data: str, message_id: int, *, uid: int = TG_ALICE, query_id: str = "4382bfdwdsb323b2d9"
             ) -> dict[str, Any]:
    # https://core.telegram.org/bots/api#callbackquery
    return {"update_id": update_id, "callback_query": {
        "id": query_id, "from": {"id": uid, "is_bot": False, "first_name": "Alice", "username": "alice"},
        "chat_instance": "-8823374629834", "data": data,
        "message": {"message_id": message_id, "date": int(time.time()), "chat": {"id": uid, "type": "private"},
                    "from": {"id": FakeTelegram.BOT_ID, "is_bot": True, "first_name": "Hermes",
                             "username": FakeTelegram.USERNAME}, "text": "Draft"}}}


async def post_telegram(stack: HermesStack, update: dict[str, Any] | bytes, secret: str | None = TG_SECRET,
                        url: str | None = None) -> tuple[int, str]:
    assert stack.session is not None
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    async with stack.session.post(f"{url or stack.url}/telegram/webhook", data=body, headers=headers) as resp:
        return resp.status, await resp.text()


def tg_with_buttons(fake: FakeTelegram) -> Call | None:
    return next((c for c in fake.calls if c.method in ("sendMessage", "sendDocument")
                 and "inline_keyboard" in str(c.fields.get("reply_markup", ""))), None)


async def test_telegram_design_request_draft_click_build(chat) -> None:
    stack, fakes = chat
    assert fakes.telegram.called("setWebhook")[0].fields["secret_token"] == TG_SECRET
    assert (await post_telegram(stack, tg_message(9001, GOAL)))[0] == 200
    assert (await post_telegram(stack, tg_message(9001, GOAL)))[0] == 200  # redelivered update_id: once

    draft = await until(lambda: tg_with_buttons(fakes.telegram), stack, what="the draft with buttons in Telegram")
    content = draft.fields.get("text") or draft.fields.get("caption", "")
    if draft.method == "sendDocument":  # too long for one message: the whole preview is the file
        content = next(iter(draft.files.values())).decode()
    assert "bitnami/postgresql-ha" in content and "app-data" in content
    keyboard = json.loads(draft.fields["reply_markup"])["inline_keyboard"][0]
    assert [b["text"] for b in keyboard] == ["✅ Approve", "❌ Reject"]
    assert not applies(stack)

    assert (await post_telegram(stack, tg_click(9002, keyboard[0]["callback_data"], 501)))[0] == 200
    await until(lambda: applies(stack), stack, what="ankra cluster apply")
    answered = fakes.telegram.called("answerCallbackQuery")
    assert answered and answered[0].fields.get("text") == "Approved."

    def build_result() -> Call | None:
        later = fakes.telegram.calls[fakes.telegram.calls.index(draft) + 1:]
        return next((c for c in later if c.method == "sendMessage" and "app-data" in c.fields.get("text", "")
                     and "Running" not in c.fields.get("text", "")), None)

    result = await until(build_result, stack, what="the build result in Telegram")
    assert int(result.fields["chat_id"]) == TG_ALICE
    assert len(applies(stack)) == 1
    drafts = [c for c in fakes.telegram.calls if c.method in ("sendMessage", "sendDocument")
              and "inline_keyboard" in str(c.fields.get("reply_markup", ""))]
    assert len(drafts) == 1  # the redelivered update made no second draft


async def test_telegram_refusals(chat) -> None:
    stack, fakes = chat
    status, text = await post_telegram(stack, tg_message(9101, "list my clusters"), secret=None)
    assert status == 401 and "missing" in text
    status, text = await post_telegram(stack, tg_message(9102, "list my clusters"), secret="wrong")
    assert status == 401 and "wrong" in text
    status, _text = await post_telegram(stack, b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert status == 413
    assert (await post_telegram(stack, tg_message(9103, "list my clusters", uid=TG_MALLORY)))[0] == 200
    refusal = await until(lambda: fakes.telegram.called("sendMessage"), stack, what="the refusal")
    assert "allow-list" in refusal[0].fields["text"] and str(TG_MALLORY) in refusal[0].fields["text"]


# ---------------------------------------------------------------------------------------------------
# Discord: the Ed25519-signed interactions endpoint (/hermes and the buttons), REST for replies


async def post_discord(stack: HermesStack, payload: dict[str, Any], *, key: SigningKey = DISCORD_KEY
                       ) -> tuple[int, dict[str, Any] | str]:
    assert stack.session is not None
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Signature-Timestamp": stamp,
               "X-Signature-Ed25519": key.sign(stamp.encode() + body).signature.hex()}
    async with stack.session.post(f"{stack.url}/discord/interactions", data=body, headers=headers) as resp:
        return resp.status, (await resp.json() if resp.content_type == "application/json" else await resp.text())


def discord_user(uid: str) -> dict[str, Any]:
    return {"id": uid, "username": "alice", "discriminator": "0", "global_name": "Alice", "avatar": None}


def discord_command(iid: str, text: str) -> dict[str, Any]:
    return {"id": iid, "application_id": FakeDiscord.APP_ID, "type": 2, "token": "interaction-token",
            "version": 1, "guild_id": GUILD, "channel_id": CHANNEL,
            "member": {"user": discord_user(DISCORD_ALICE), "roles": [], "permissions": "0"},
            "data": {"id": "444", "name": "hermes", "type": 1, "options": [{"name": "text", "type": 3, "value": text}]}}


def discord_click(iid: str, custom_id: str, message: dict[str, Any]) -> dict[str, Any]:
    return {"id": iid, "application_id": FakeDiscord.APP_ID, "type": 3, "token": "interaction-token",
            "version": 1, "guild_id": GUILD, "channel_id": CHANNEL,
            "member": {"user": discord_user(DISCORD_ALICE), "roles": [], "permissions": "0"},
            "message": message, "data": {"custom_id": custom_id, "component_type": 2}}


def discord_posts(fake: FakeDiscord) -> list[Call]:
    return [c for c in fake.calls if c.method == f"POST /channels/{CHANNEL}/messages"]


async def test_discord_command_draft_click_build(chat) -> None:
    stack, fakes = chat
    status, answer = await post_discord(stack, {"id": "1", "type": 1, "application_id": FakeDiscord.APP_ID})
    assert status == 200 and answer == {"type": 1}  # PING → PONG
    status, answer = await post_discord(stack, discord_command("7001", GOAL))
    assert status == 200 and answer["type"] == 4 and "asked Hermes" in answer["data"]["content"]

    def with_buttons() -> Call | None:
        return next((c for c in discord_posts(fakes.discord) if c.fields.get("components")), None)

    draft = await until(with_buttons, stack, what="the draft with buttons in Discord")
    content = draft.fields.get("content", "")
    if draft.files:  # over 2,000 characters: the whole preview is attached, nothing cut
        content += next(iter(draft.files.values())).decode()
    assert "bitnami/postgresql-ha" in content and "app-data" in content
    buttons = draft.fields["components"][0]["components"]
    assert [b["label"] for b in buttons] == ["Approve", "Reject"]
    assert not applies(stack)

    message = {"id": "1234567890", "channel_id": CHANNEL, "content": draft.fields.get("content", ""), "components": []}
    status, answer = await post_discord(stack, discord_click("7002", buttons[0]["custom_id"], message))
    assert status == 200 and answer["type"] == 7 and answer["data"]["components"] == []
    await until(lambda: applies(stack), stack, what="ankra cluster apply")

    def build_result() -> Call | None:
        posts = discord_posts(fakes.discord)
        return next((c for c in posts[posts.index(draft) + 1:]
                     if "app-data" in c.fields.get("content", "") and "Running" not in c.fields.get("content", "")),
                    None)

    await until(build_result, stack, what="the build result in Discord")
    # a replayed click (same interaction id) runs nothing more: answered once handled, and the guard
    # and then the executor have acked all they were given
    status, _answer = await post_discord(stack, discord_click("7002", buttons[0]["custom_id"], message))
    assert status == 200
    await stack.settled(subjects.GUARD_APPROVALS_DURABLE, subjects.EXECUTOR_ORDERS_DURABLE)
    assert len(applies(stack)) == 1
    status, text = await post_discord(stack, discord_command("7003", "list my clusters"), key=SigningKey.generate())
    assert status == 401 and "signature" in str(text)


# ---------------------------------------------------------------------------------------------------
# Plain-text approval in the thread, and a decision from another channel (the HTTP API)


async def test_slack_thread_reply_y_approves(chat) -> None:
    stack, fakes = chat
    assert (await post_slack(stack, json.dumps(slack_message(GOAL, event_id="EvY1")).encode()))[0] == 200
    await until(lambda: approval_post(fakes.slack), stack, what="the draft")
    reply = slack_message("y", event_id="EvY2", ts="1714560050.000200")
    reply["event"]["thread_ts"] = "1714560000.000100"
    assert (await post_slack(stack, json.dumps(reply).encode()))[0] == 200
    await until(lambda: applies(stack), stack, what="ankra cluster apply after y")
    assert len(applies(stack)) == 1


# ---------------------------------------------------------------------------------------------------
# Durability: a gateway killed between receiving and replying loses no reply


async def test_gateway_killed_before_replying_loses_no_reply(chat) -> None:
    stack, fakes = chat
    assert (await post_telegram(stack, tg_message(9301, "list my clusters")))[0] == 200
    gateway = stack.processes["gateway"]
    gateway.send_signal(signal.SIGKILL)  # the message is on the bus; its reply is not sent yet
    gateway.wait(timeout=10)
    await until(lambda: any(c["argv"][:2] == ["cluster", "list"] for c in stack.emulator_calls()), stack,
                what="the planner and executor working while the gateway is down")
    assert not [c for c in fakes.telegram.called("sendMessage") if "staging-cluster" in c.fields.get("text", "")]
    start_gateway_replica(stack, "gateway", stack.url.rsplit(":", 1)[1])
    sent = await until(lambda: [c for c in fakes.telegram.called("sendMessage")
                                if "staging-cluster" in c.fields.get("text", "")], stack,
                       what="the reply sent by the restarted gateway")
    assert len(sent) == 1 and int(sent[0].fields["chat_id"]) == TG_ALICE


async def test_platform_rate_limit_is_respected_and_the_reply_arrives(chat) -> None:
    stack, fakes = chat
    fakes.telegram.fail_next("sendMessage", status=429, retry_after=2)
    assert (await post_telegram(stack, tg_message(9401, "list my clusters", message_id=2001)))[0] == 200
    sent = await until(lambda: [c for c in fakes.telegram.called("sendMessage")
                                if "staging-cluster" in c.fields.get("text", "")], stack, what="the reply after 429")
    refused = [c for c in fakes.telegram.calls if c.method == "sendMessage!429"]
    assert len(refused) == 1 and len(sent) == 1
    assert refused[0].fields["text"].startswith("Running")  # the first message of the turn was refused
    # nothing went to that chat before Telegram's retry_after, and the turn kept its order
    later = [c for c in fakes.telegram.calls if c.method == "sendMessage" and c.at > refused[0].at]
    assert all(c.at - refused[0].at >= 1.9 for c in later), "sent before the platform's retry_after"
    texts = [c.fields["text"] for c in later]
    assert texts[0].startswith("Running") and "staging-cluster" in texts[-1], texts


# ---------------------------------------------------------------------------------------------------
# Several replicas: any replica serves webhooks; one long-polling connection per bot token


@pytest.fixture
async def polling_chat(tmp_path: Path, stack_servers: tuple[str, str], emulator_state
                       ) -> AsyncIterator[tuple[HermesStack, Platforms, str]]:
    async with platforms() as fakes:
        env = channel_env(tmp_path, fakes, telegram_polling=True)
        async with running_hermes(tmp_path / "logs", *stack_servers, emulator_state, extra_env=env) as stack:
            await with_people(stack)
            yield stack, fakes, stack_servers[1]


async def lease_holder(redis_url: str, prefix: str) -> str | None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        keys = [k async for k in client.scan_iter(f"{prefix}:lease:telegram:*")]
        return await client.get(keys[0]) if keys else None
    finally:
        await client.aclose()


async def test_replicas_share_webhooks_and_one_poller_moves_when_its_holder_dies(polling_chat) -> None:
    stack, fakes, redis_url = polling_chat
    second_port = str(embedded.free_port())
    start_gateway_replica(stack, "gateway-2", second_port)
    second_url = f"http://127.0.0.1:{second_port}"
    await until(lambda: '"service started"' in (stack.logs / "gateway-2.log").read_text(), stack,
                what="the second gateway replica")

    # A Slack event posted to the second replica is answered like any other.
    body = json.dumps(slack_message("list my clusters", event_id="EvRep1")).encode()
    assert (await post_slack(stack, body, url=second_url))[0] == 200
    await until(lambda: [c for c in fakes.slack.called("chat.postMessage") if "staging-cluster" in block_text(c)],
                stack, what="the reply to the event the second replica took")

    # Exactly one replica holds Telegram's polling lease.
    holder = None
    deadline = time.monotonic() + 20
    while holder is None and time.monotonic() < deadline:
        holder = await lease_holder(redis_url, stack.redis_prefix)
        await asyncio.sleep(0.1)
    assert holder is not None, stack.tail_logs()
    pids = {str(p.pid): name for name, p in stack.processes.items() if name.startswith("gateway")}
    holder_name = pids[holder.split(":")[1]]
    survivor = "gateway-2" if holder_name == "gateway" else "gateway"

    # Kill the holder without a goodbye: the lease lapses and the other replica starts polling.
    stack.processes[holder_name].send_signal(signal.SIGKILL)
    stack.processes[holder_name].wait(timeout=10)
    survivor_pid = str(stack.processes[survivor].pid)

    async def moved() -> bool:
        current = await lease_holder(redis_url, stack.redis_prefix)
        return bool(current) and current.split(":")[1] == survivor_pid

    deadline = time.monotonic() + 30
    while not await moved():
        assert time.monotonic() < deadline, f"the lease did not move\n{stack.tail_logs()}"
        await asyncio.sleep(0.2)
    await fakes.telegram.updates.put([tg_message(9501, "list my clusters", message_id=3001)])
    sent = await until(lambda: [c for c in fakes.telegram.called("sendMessage")
                                if "staging-cluster" in c.fields.get("text", "")], stack,
                       what="the update polled by the survivor, answered")
    assert len(sent) == 1
