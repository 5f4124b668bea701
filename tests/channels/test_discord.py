"""Discord: discord.py's REST client against a fake Discord API, its message parsing for MESSAGE_CREATE,
and the Ed25519-signed interactions endpoint for buttons and `/hermes`."""

from __future__ import annotations

import json
import time

import discord.http
import pytest
from hermes.config import DiscordConfig
from hermes_gateway.channels import DeliveryTarget, MemorySeen, decode_action
from hermes_gateway.discord_adapter import DiscordAdapter
from nacl.signing import SigningKey

from .fakes import FakeDiscord, RecordingInbound
from .helpers import APPROVAL_ID, approval_event, long_tree, reply_event, serve, until

ALICE, MALLORY = "80351110224678912", "80351110224678999"
GUILD, CHANNEL, DM = "41771983423143937", "41771983423143938", "41771983423149999"
KEY = SigningKey.generate()


def config(**extra) -> DiscordConfig:
    data = {"token": "discord-bot-token", "publicKey": KEY.verify_key.encode().hex(),
            "applicationId": FakeDiscord.APP_ID, "allowFrom": [ALICE],
            "guilds": {GUILD: {"channels": {CHANNEL: {"allow": True, "requireMention": True}}}}}
    data.update(extra)
    return DiscordConfig.model_validate(data)


def user(uid: str, name: str = "alice") -> dict:
    return {"id": uid, "username": name, "discriminator": "0", "global_name": name.title(), "avatar": None}


def message_create(mid: str, content: str, *, author: str = ALICE, guild: bool = True, mentions: list | None = None) -> dict:
    # The shape of a MESSAGE_CREATE dispatch's `d` (https://discord.com/developers/docs/resources/message).
    data = {"id": mid, "channel_id": CHANNEL if guild else DM, "author": user(author), "content": content,
            "timestamp": "2024-05-01T12:00:00.000000+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": mentions or [], "mention_roles": [], "attachments": [],
            "embeds": [], "pinned": False, "type": 0}
    if guild:
        data["guild_id"] = GUILD
        data["member"] = {"roles": [], "joined_at": "2024-01-01T00:00:00+00:00", "deaf": False, "mute": False}
    return data


def component(iid: str, custom_id: str, *, who: str = ALICE, content: str = "Draft for stack shop") -> dict:
    # The shape of a MESSAGE_COMPONENT interaction (https://discord.com/developers/docs/interactions/receiving-and-responding)
    return {"id": iid, "application_id": FakeDiscord.APP_ID, "type": 3, "token": "interaction-token",
            "version": 1, "guild_id": GUILD, "channel_id": CHANNEL,
            "member": {"user": user(who), "roles": [], "permissions": "0"},
            "message": {"id": "1234567890", "channel_id": CHANNEL, "content": content, "components": []},
            "data": {"custom_id": custom_id, "component_type": 2}}


def command(iid: str, text: str, *, who: str = ALICE) -> dict:
    return {"id": iid, "application_id": FakeDiscord.APP_ID, "type": 2, "token": "interaction-token",
            "version": 1, "guild_id": GUILD, "channel_id": CHANNEL,
            "member": {"user": user(who), "roles": [], "permissions": "0"},
            "data": {"id": "444", "name": "hermes", "type": 1,
                     "options": [{"name": "text", "type": 3, "value": text}]}}


async def post(client, payload: dict | bytes, *, stamp: int | None = None, key: SigningKey = KEY, sign: bool = True):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    stamp_s = str(stamp or int(time.time()))
    headers = {"Content-Type": "application/json"}
    if sign:
        headers["X-Signature-Ed25519"] = key.sign(stamp_s.encode() + body).signature.hex()
        headers["X-Signature-Timestamp"] = stamp_s
    return await client.post("/discord/interactions", data=body, headers=headers)


def handled_messages(adapter: DiscordAdapter) -> list[int]:
    """The ids of the gateway messages whose handler has finished, in the order they finished.

    discord.py runs each `on_message` as its own task; this wraps the handler the adapter installed, so
    a test can wait for a message to have been handled (and then assert what it did not do)."""
    done: list[int] = []
    inner = adapter.client.on_message

    async def on_message(message: discord.Message) -> None:
        try:
            await inner(message)
        finally:
            done.append(message.id)

    adapter.client.on_message = on_message
    return done


@pytest.fixture
async def discord_env(monkeypatch):
    async with FakeDiscord() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.api)
        inbound = RecordingInbound()
        adapter = DiscordAdapter.from_config(config(), inbound=inbound, seen=MemorySeen(), gateway=False)
        client = await serve(adapter.routes())
        yield fake, inbound, adapter, client
        await client.close()
        await adapter.close()


def sent(fake: FakeDiscord, channel: str = CHANNEL) -> list:
    return fake.called(f"POST /channels/{channel}/messages")


async def test_ping_pong(discord_env) -> None:
    _fake, _inbound, _adapter, client = discord_env
    response = await post(client, {"id": "1", "application_id": FakeDiscord.APP_ID, "type": 1, "token": "t",
                                   "version": 1})
    assert response.status == 200 and await response.json() == {"type": 1}


@pytest.mark.parametrize("case", ["bad-signature", "other-key", "stale", "unsigned", "oversized"])
async def test_bad_interactions_refused(discord_env, case: str) -> None:
    _fake, inbound, _adapter, client = discord_env
    payload = command(f"i-{case}", "list my clusters")
    if case == "bad-signature":
        body = json.dumps(payload).encode()
        stamp = str(int(time.time()))
        response = await client.post("/discord/interactions", data=body, headers={
            "X-Signature-Ed25519": "00" * 64, "X-Signature-Timestamp": stamp})
        expected = (401, "invalid request signature")
    elif case == "other-key":
        response, expected = await post(client, payload, key=SigningKey.generate()), (401, "invalid request signature")
    elif case == "stale":
        response, expected = await post(client, payload, stamp=int(time.time()) - 600), (401, "5 minutes")
    elif case == "unsigned":
        response, expected = await post(client, payload, sign=False), (401, "missing X-Signature-Ed25519")
    else:
        payload["data"]["options"][0]["value"] = "x" * 300_000
        response, expected = await post(client, payload), (413, "over")
    assert response.status == expected[0]
    assert expected[1] in (await response.json())["error"]
    assert inbound.messages == []


async def test_message_in_once_through_discord_py(discord_env) -> None:
    fake, inbound, adapter, _client = discord_env
    await adapter.login()  # GET /users/@me through discord.py's HTTP client, against the fake
    bot = fake.bot_user()
    state = adapter.client._connection
    handled = handled_messages(adapter)
    payload = message_create("1100", f"<@{bot['id']}> list my clusters", mentions=[bot])
    state.parse_message_create(payload)
    state.parse_message_create(payload)  # delivered twice (a resumed gateway session)
    await until(lambda: len(handled) == 2)
    assert len(inbound.messages) == 1
    got = inbound.messages[0]
    assert got["text"] == "list my clusters" and got["user"] == ALICE
    assert got["conversation_key"] == f"discord:{GUILD}:{CHANNEL}"
    assert got["target"] == DeliveryTarget("discord", CHANNEL, reply_to="1100", team=GUILD)

    state.parse_message_create(message_create("1101", "no mention here"))
    await until(lambda: 1101 in handled)
    assert len(inbound.messages) == 1 and not sent(fake)


async def test_unknown_user_refused_in_dm(discord_env) -> None:
    fake, inbound, adapter, _client = discord_env
    await adapter.login()
    adapter.client._connection.parse_message_create(message_create("1200", "rm -rf", author=MALLORY, guild=False))
    await until(lambda: bool(sent(fake, DM)))
    refusal = sent(fake, DM)[0].fields
    assert "allow-list" in refusal["content"] and MALLORY in refusal["content"]
    assert "channels.discord.allowFrom" in refusal["content"]
    assert inbound.messages == []


async def test_hermes_command(discord_env) -> None:
    _fake, inbound, _adapter, client = discord_env
    response = await post(client, command("i-cmd", "list my clusters"))
    body = await response.json()
    assert response.status == 200 and body["type"] == 4 and "list my clusters" in body["data"]["content"]
    assert inbound.messages[0]["text"] == "list my clusters"
    assert inbound.messages[0]["conversation_key"] == f"discord:{GUILD}:{CHANNEL}"
    await post(client, command("i-cmd", "list my clusters"))  # the same interaction again
    assert len(inbound.messages) == 1
    refused = await (await post(client, command("i-cmd-m", "list", who=MALLORY))).json()
    assert refused["data"]["flags"] == 64 and MALLORY in refused["data"]["content"]
    assert len(inbound.messages) == 1


async def test_approval_out_click_in_result_out(discord_env) -> None:
    fake, inbound, adapter, client = discord_env
    target = DeliveryTarget("discord", CHANNEL, reply_to="1100", team=GUILD)
    await adapter.deliver(target, approval_event())
    message = sent(fake)[-1].fields
    assert "ankra cluster apply -f stack.yaml" in message["content"] and "postgresql" in message["content"]
    assert message["allowed_mentions"]["parse"] == []
    assert message["message_reference"]["message_id"] == "1100"
    buttons = message["components"][0]["components"]
    assert [decode_action(b["custom_id"]) for b in buttons] == [("approve", APPROVAL_ID), ("reject", APPROVAL_ID)]

    response = await post(client, component("i-click", buttons[0]["custom_id"], content=message["content"]))
    body = await response.json()
    assert body["type"] == 7 and body["data"]["components"] == []  # the buttons are gone
    assert "Approved by <@" in body["data"]["content"] and "ankra cluster apply" in body["data"]["content"]
    assert len(inbound.decisions) == 1
    assert inbound.decisions[0]["approval_id"] == APPROVAL_ID and inbound.decisions[0]["decision"] == "approve"
    assert (await (await post(client, component("i-click", buttons[0]["custom_id"]))).json())["type"] == 6
    assert len(inbound.decisions) == 1

    await adapter.deliver(target, reply_event("Cluster shop-prod is ready.", id="rep-3"))
    assert sent(fake)[-1].fields["content"] == "Cluster shop-prod is ready."


async def test_click_by_a_stranger_refused(discord_env) -> None:
    _fake, inbound, _adapter, client = discord_env
    body = await (await post(client, component("i-m", f"hx:a:{APPROVAL_ID}", who=MALLORY))).json()
    assert body["type"] == 4 and body["data"]["flags"] == 64 and MALLORY in body["data"]["content"]
    assert inbound.decisions == []


async def test_long_preview_goes_as_an_attachment(discord_env) -> None:
    fake, _inbound, adapter, _client = discord_env
    tree = long_tree(100)
    await adapter.deliver(DeliveryTarget("discord", CHANNEL), approval_event(tree=tree))
    call = sent(fake)[-1]
    assert len(sent(fake)) == 1
    content = call.files["files[0]"].decode()
    assert tree in content and "ankra cluster apply -f stack.yaml" in content
    assert "attached file" in call.fields["content"] and len(call.fields["content"]) <= 2000
    assert "component-0099" not in call.fields["content"]
    buttons = call.fields["components"][0]["components"]
    assert decode_action(buttons[0]["custom_id"]) == ("approve", APPROVAL_ID)


async def test_code_fence_cannot_be_broken(discord_env) -> None:
    fake, _inbound, adapter, _client = discord_env
    await adapter.deliver(DeliveryTarget("discord", CHANNEL), reply_event(
        "", blocks=[{"type": "code", "text": "echo ```\n@everyone", "language": ""}]))
    message = sent(fake)[-1].fields
    assert message["content"].count("```") == 2 and message["allowed_mentions"]["parse"] == []


async def test_register_command(discord_env) -> None:
    fake, _inbound, adapter, _client = discord_env
    await adapter.register_command()
    call = fake.called(f"POST /applications/{FakeDiscord.APP_ID}/commands")[0]
    assert call.fields["name"] == "hermes" and call.fields["options"][0]["name"] == "text"
