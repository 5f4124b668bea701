"""Telegram through aiogram against a fake Bot API (aiogram's custom server URL): webhook and long polling."""

from __future__ import annotations

import json

import pytest
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from hermes.config import TelegramConfig
from hermes_gateway.channels import DeliveryTarget, MemorySeen, decode_action
from hermes_gateway.telegram_adapter import SECRET_HEADER, TelegramAdapter

from .fakes import FakeTelegram, RecordingInbound
from .helpers import APPROVAL_ID, approval_event, long_tree, reply_event, serve, until

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "webhook-secret_0123"
ALICE, MALLORY, GROUP = 1111111, 6666666, -1001234567890


def config(**extra) -> TelegramConfig:
    data = {"botToken": TOKEN, "allowFrom": [ALICE], "webhookUrl": "https://hermes.example/telegram/webhook",
            "webhookSecret": SECRET, "groups": {str(GROUP): {"requireMention": True}}}
    data.update(extra)
    return TelegramConfig.model_validate(data)


def adapter_for(fake: FakeTelegram, inbound: RecordingInbound, cfg: TelegramConfig | None = None) -> TelegramAdapter:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    return TelegramAdapter.from_config(cfg or config(), inbound=inbound, seen=MemorySeen(), session=session)


def person(uid: int, name: str = "Alice") -> dict:
    return {"id": uid, "is_bot": False, "first_name": name, "username": name.lower()}


def message_update(update_id: int, text: str, *, uid: int = ALICE, chat: dict | None = None,
                   message_id: int = 1365, entities: list | None = None) -> dict:
    # The shape of https://core.telegram.org/bots/api#update with a message.
    message = {"message_id": message_id, "date": 1714560000, "from": person(uid),
               "chat": chat or {"id": uid, "type": "private", "first_name": "Alice"}, "text": text}
    if entities:
        message["entities"] = entities
    return {"update_id": update_id, "message": message}


def callback_update(update_id: int, data: str, *, uid: int = ALICE, query_id: str = "4382bfdwdsb323b2d9") -> dict:
    # The shape of https://core.telegram.org/bots/api#callbackquery
    return {"update_id": update_id, "callback_query": {
        "id": query_id, "from": person(uid), "chat_instance": "-8823374629834", "data": data,
        "message": {"message_id": 501, "date": 1714560001, "chat": {"id": uid, "type": "private"},
                    "from": {"id": FakeTelegram.BOT_ID, "is_bot": True, "first_name": "Hermes",
                             "username": FakeTelegram.USERNAME}, "text": "Draft for stack shop"}}}


async def post(client, update: dict | bytes, secret: str | None = SECRET):
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    return await client.post("/telegram/webhook", data=body, headers=headers)


@pytest.fixture
async def telegram():
    async with FakeTelegram() as fake:
        inbound = RecordingInbound()
        adapter = adapter_for(fake, inbound)
        client = await serve(adapter.routes())
        yield fake, inbound, adapter, client
        await client.close()
        await adapter.close()


def markup(call) -> dict:
    return json.loads(call.fields["reply_markup"])


async def test_webhook_message_in_once_on_duplicate_update_id(telegram) -> None:
    _fake, inbound, _adapter, client = telegram
    update = message_update(10000, "list my clusters")
    assert (await post(client, update)).status == 200
    assert (await post(client, update)).status == 200  # Telegram delivered it again
    assert len(inbound.messages) == 1
    got = inbound.messages[0]
    assert got["text"] == "list my clusters" and got["user"] == str(ALICE) and got["channel"] == "telegram"
    assert got["conversation_key"] == f"telegram:{ALICE}"
    assert got["target"] == DeliveryTarget("telegram", str(ALICE), reply_to="1365")


async def test_setup_registers_the_webhook_with_its_secret(telegram) -> None:
    fake, _inbound, adapter, _client = telegram
    await adapter.setup()
    assert adapter.connection_key() is None  # webhooks: no connection to hold
    call = fake.called("setWebhook")[0]
    assert call.fields["secret_token"] == SECRET and call.fields["url"].endswith("/telegram/webhook")


@pytest.mark.parametrize("case", ["missing", "wrong", "oversized", "not-an-update"])
async def test_bad_webhook_calls_refused(telegram, case: str) -> None:
    _fake, inbound, _adapter, client = telegram
    if case == "missing":
        response, expected = await post(client, message_update(1, "hi"), secret=None), (401, "missing")
    elif case == "wrong":
        response, expected = await post(client, message_update(2, "hi"), secret="guess"), (401, "wrong")
    elif case == "oversized":
        response, expected = await post(client, message_update(3, "x" * (1024 * 1024 + 10))), (413, "over")
    else:
        response, expected = await post(client, b'{"hello": "world"}'), (400, "not a Telegram update")
    assert response.status == expected[0]
    assert expected[1] in (await response.json())["error"]
    assert inbound.messages == []


async def test_unknown_user_refused_clearly(telegram) -> None:
    fake, inbound, _adapter, client = telegram
    await post(client, message_update(20, "drop the database", uid=MALLORY))
    assert inbound.messages == []
    refusal = fake.called("sendMessage")[0].fields
    assert "allow-list" in refusal["text"] and str(MALLORY) in refusal["text"]
    assert int(refusal["chat_id"]) == MALLORY


async def test_group_needs_mention(telegram) -> None:
    fake, inbound, _adapter, client = telegram
    chat = {"id": GROUP, "type": "supergroup", "title": "ops"}
    await post(client, message_update(30, "just chatting", chat=chat, message_id=7))
    assert inbound.messages == [] and not fake.called("sendMessage")
    text = f"@{FakeTelegram.USERNAME} list clusters"
    await post(client, message_update(31, text, chat=chat, message_id=8,
                                      entities=[{"type": "mention", "offset": 0,
                                                 "length": len(FakeTelegram.USERNAME) + 1}]))
    assert len(inbound.messages) == 1
    assert inbound.messages[0]["text"] == "list clusters"
    assert inbound.messages[0]["conversation_key"] == f"telegram:{GROUP}"


async def test_approval_out_click_in_result_out(telegram) -> None:
    fake, inbound, adapter, client = telegram
    target = DeliveryTarget("telegram", str(ALICE), reply_to="1365")
    await adapter.deliver(target, approval_event())
    sent = fake.called("sendMessage")[-1]
    assert sent.fields["parse_mode"] == "HTML"
    assert "<pre>ankra cluster apply -f stack.yaml" in sent.fields["text"]
    assert "postgresql" in sent.fields["text"] and "├── ingress-nginx" in sent.fields["text"]
    buttons = markup(sent)["inline_keyboard"][0]
    assert [decode_action(b["callback_data"]) for b in buttons] == [("approve", APPROVAL_ID), ("reject", APPROVAL_ID)]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    assert json.loads(sent.fields["reply_parameters"])["message_id"] == 1365

    await post(client, callback_update(40, buttons[0]["callback_data"]))
    assert len(inbound.decisions) == 1
    decision = inbound.decisions[0]
    assert (decision["approval_id"], decision["decision"], decision["user"]) == (APPROVAL_ID, "approve", str(ALICE))
    assert fake.called("answerCallbackQuery")
    edit = fake.called("editMessageReplyMarkup")[0].fields
    assert "reply_markup" not in edit or not json.loads(edit["reply_markup"]).get("inline_keyboard")
    assert "Approved by @alice" in fake.called("sendMessage")[-1].fields["text"]

    await post(client, callback_update(40, buttons[0]["callback_data"]))  # the same update again
    await post(client, callback_update(41, buttons[0]["callback_data"]))  # the same query, new update id
    assert len(inbound.decisions) == 1

    await adapter.deliver(target, reply_event("Cluster shop-prod is ready.", id="rep-3"))
    assert fake.called("sendMessage")[-1].fields["text"] == "Cluster shop-prod is ready."


async def test_click_by_a_stranger_refused(telegram) -> None:
    fake, inbound, _adapter, client = telegram
    await post(client, callback_update(50, f"hx:a:{APPROVAL_ID}", uid=MALLORY, query_id="q-m"))
    assert inbound.decisions == []
    answer = fake.called("answerCallbackQuery")[0].fields
    assert answer.get("show_alert") in ("true", "True", True) and str(MALLORY) in answer["text"]


async def test_long_preview_goes_as_a_document_with_the_buttons(telegram) -> None:
    fake, _inbound, adapter, _client = telegram
    tree = long_tree(200)
    await adapter.deliver(DeliveryTarget("telegram", str(ALICE)), approval_event(tree=tree))
    assert not fake.called("sendMessage")  # no cut preview anywhere
    doc = fake.called("sendDocument")[0]
    ref = doc.fields["document"].removeprefix("attach://")  # aiogram uploads as attach://<part name>
    content = doc.files[ref].decode()
    assert doc.fields["_filenames"][ref] == f"approval-{APPROVAL_ID}.md"
    assert tree in content and "ankra cluster apply -f stack.yaml" in content
    assert "attached file" in doc.fields["caption"] and len(doc.fields["caption"]) <= 1024
    buttons = markup(doc)["inline_keyboard"][0]
    assert decode_action(buttons[0]["callback_data"]) == ("approve", APPROVAL_ID)


async def test_escaping(telegram) -> None:
    fake, _inbound, adapter, _client = telegram
    await adapter.deliver(DeliveryTarget("telegram", str(ALICE)), reply_event("<b>x</b> & y",
                          blocks=[{"type": "code", "text": "if a < b && c > d", "language": "sh"}]))
    text = fake.called("sendMessage")[-1].fields["text"]
    assert text == "&lt;b&gt;x&lt;/b&gt; &amp; y\n\n<pre>if a &lt; b &amp;&amp; c &gt; d</pre>"


async def test_long_approval_id_fits_callback_data(telegram) -> None:
    fake, inbound, adapter, client = telegram
    long_id = "approval-" + "z" * 100
    await adapter.deliver(DeliveryTarget("telegram", str(ALICE)), approval_event(approval_id=long_id))
    buttons = markup(fake.called("sendMessage")[-1])["inline_keyboard"][0]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    await post(client, callback_update(60, buttons[1]["callback_data"], query_id="q-long"))
    assert inbound.decisions[0]["approval_id"] == long_id and inbound.decisions[0]["decision"] == "reject"


async def test_long_polling_dedupes_update_id() -> None:
    async with FakeTelegram() as fake:
        inbound = RecordingInbound()
        adapter = adapter_for(fake, inbound, config(webhookUrl=None, webhookSecret=None))
        assert adapter.routes() == []
        assert adapter.connection_key().startswith("telegram:") and TOKEN not in adapter.connection_key()
        await adapter.start()
        try:
            update = message_update(70000, "hello by polling")
            await fake.updates.put([update])
            await fake.updates.put([update])  # redelivered (a second poller, a restart)
            # Polling handles one batch before it asks for the next: once a later update is in, the
            # redelivery before it has been handled.
            await fake.updates.put([message_update(70001, "after the redelivery")])
            await until(lambda: len(inbound.messages) >= 2)
            assert [m["text"] for m in inbound.messages] == ["hello by polling", "after the redelivery"]
            assert fake.called("deleteWebhook")
        finally:
            await adapter.close()
