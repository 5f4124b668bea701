"""The guide's first conversations through the whole real path:
HTTP → gateway → planner → guard → executor (the emulator as `ankra`) → planner → gateway."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import nats
import pytest
from ankra_emulator.seed import PRODUCTION_ID, STAGING_ID
from hermes import subjects
from hermes.access import stamp
from hermes.contracts import ChatMessage, ExecutionOrder, OrderStep, Plan, PlanStep, utcnow
from hermes.signing import ServiceKey, sign_order

from .conftest import HermesStack, running_hermes

pytestmark = pytest.mark.e2e


def _final(events: list[dict]) -> dict:
    assert events and events[-1]["final"], events
    return events[-1]


async def test_list_my_ankra_clusters_shows_both_clusters(hermes: HermesStack) -> None:
    _sent, events = await hermes.turn("List my Ankra clusters")
    progress = [e for e in events if e.get("kind") == "progress"]
    assert progress and "Running `ankra cluster list`" in progress[0]["text"]
    final = _final(events)
    assert final["kind"] == "answer"
    table = next(b for b in final["blocks"] if b["type"] == "table")
    # `cluster list -o json` as the real CLI prints it: the provider is `kind`, `nodes` counts the
    # control plane too, a healthy cluster is `online`.
    assert table["columns"] == ["NAME", "KIND", "STATE", "NODES", "ID"]
    rows = {row[0]: row for row in table["rows"]}
    assert rows["staging-cluster"] == ["staging-cluster", "hetzner", "online", "4", STAGING_ID]
    assert rows["production"] == ["production", "ovh", "online", "6", PRODUCTION_ID]


async def test_reconcile_the_production_cluster_runs_it_once_and_reports_it(hermes: HermesStack) -> None:
    sent, _ = await hermes.turn("List my Ankra clusters")
    _, events = await hermes.turn("Reconcile the production cluster", conversation_id=sent["conversation_id"])
    final = _final(events)
    assert final["kind"] == "answer", final
    assert "ankra cluster reconcile production" in final["text"]
    assert "reconciliation triggered" in final["text"].lower()
    reconciles = [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "reconcile"]]
    assert len(reconciles) == 1 and "production" in reconciles[0]["argv"]


async def test_a_request_it_does_not_understand_gets_help_not_silence(hermes: HermesStack) -> None:
    _, events = await hermes.turn("Make me a sandwich")
    final = _final(events)
    assert final["kind"] == "answer"
    assert "List my Ankra clusters" in final["text"] and "Reconcile the production cluster" in final["text"]
    assert not hermes.emulator_calls(), "nothing ran"


async def test_http_api_refuses_bad_input_clearly(hermes: HermesStack) -> None:
    s = hermes.session
    assert s is not None
    url = hermes.url
    async with s.post(f"{url}/v1/messages", json={"text": "hi"}) as r:
        assert r.status == 401 and "bearer token" in (await r.json())["error"]
    async with s.post(f"{url}/v1/messages", json={"text": "hi"},
                      headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401 and (await r.json())["error"].startswith("invalid bearer token: it is unknown, revoked")
    async with s.post(f"{url}/v1/messages", data=b"{not json", headers=hermes.headers) as r:
        assert r.status == 400 and "malformed JSON" in (await r.json())["error"]
    async with s.post(f"{url}/v1/messages", json={"conversation_id": "c1"}, headers=hermes.headers) as r:
        assert r.status == 400 and "'text'" in (await r.json())["error"]
    async with s.post(f"{url}/v1/messages", json={"text": "hi", "user": "alice"}, headers=hermes.headers) as r:
        assert r.status == 400 and "bearer token" in (await r.json())["error"]
    async with s.post(f"{url}/v1/messages", json={"text": 42}, headers=hermes.headers) as r:
        assert r.status == 400 and "'text'" in (await r.json())["error"]
    async with s.post(f"{url}/v1/messages", json={"text": "hi", "conversation_id": "nope"},
                      headers=hermes.headers) as r:
        assert r.status == 404 and "unknown conversation" in (await r.json())["error"]
    async with s.get(f"{url}/v1/conversations/nope/events", headers=hermes.headers) as r:
        assert r.status == 404 and "unknown conversation" in (await r.json())["error"]
    async with s.post(f"{url}/v1/approvals/apr-nope", json={"decision": "approve"}, headers=hermes.headers) as r:
        assert r.status == 404 and "no pending approval" in (await r.json())["error"]
    async with s.post(f"{url}/v1/approvals/apr-nope", json={"decision": "maybe"}, headers=hermes.headers) as r:
        assert r.status == 400 and "'decision'" in (await r.json())["error"]
    async with s.get(f"{url}/healthz") as r:
        assert r.status == 200 and (await r.json())["status"] == "ok"
    async with s.get(f"{url}/openapi.yaml") as r:
        assert r.status == 200 and "/v1/messages" in await r.text()
    assert not hermes.emulator_calls()


async def test_server_sent_events_stream_the_turn(hermes: HermesStack) -> None:
    sent = await hermes.send("List my Ankra clusters")
    assert hermes.session is not None
    url = f"{hermes.url}/v1/conversations/{sent['conversation_id']}/events"
    headers = {**hermes.headers, "Accept": "text/event-stream"}
    events = []
    async with hermes.session.get(url, params={"cursor": sent["cursor"]}, headers=headers) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        async for raw in resp.content:
            line = raw.decode().strip()
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1].get("final"):
                    break
    assert events[0]["type"] == "message" and events[0]["text"] == "List my Ankra clusters"
    assert events[-1]["final"] and any(b["type"] == "table" for b in events[-1]["blocks"])


async def _bus(hermes: HermesStack):
    nc = await nats.connect(hermes.nats_url)
    return nc, nc.jetstream()


async def test_another_system_can_publish_a_request_on_the_bus(hermes: HermesStack) -> None:
    nc, js = await _bus(hermes)
    try:
        message = ChatMessage(conversation_id="ops-bot-1", correlation_id="req-1", id="req-1",
                              text="List my Ankra clusters", user="ops-bot", channel="bus")
        await js.publish(subjects.CHAT_RECEIVED, message.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": message.id})
    finally:
        await nc.close()
    events = await hermes.events_until_final("ops-bot-1", "req-1", started_on_bus=True)
    assert any(b["type"] == "table" for b in events[-1]["blocks"])


async def test_invalid_bus_message_is_dead_lettered_and_the_conversation_told(hermes: HermesStack) -> None:
    sent, _ = await hermes.turn("List my Ankra clusters")
    cid = sent["conversation_id"]
    nc, js = await _bus(hermes)
    try:
        await js.publish(subjects.CHAT_RECEIVED, json.dumps(
            {"id": "bad-1", "conversation_id": cid, "correlation_id": "bad-1", "text": ""}).encode())
        events = await hermes.events_until_final(cid, "bad-1")
        dead = await js.pull_subscribe(f"{subjects.DEAD_LETTER}.>", stream=subjects.DEAD_LETTER_STREAM.name)
        letters = [json.loads(m.data) for m in await dead.fetch(1, timeout=10)]
    finally:
        await nc.close()
    final = _final(events)
    assert final["kind"] == "error" and "text" in final["text"] and "dead letter" in final["text"]
    assert letters[0]["subject"] == subjects.CHAT_RECEIVED and letters[0]["conversation_id"] == cid


async def test_forged_and_tampered_orders_are_refused_by_the_executor(hermes: HermesStack) -> None:
    sent, _ = await hermes.turn("List my Ankra clusters")
    cid = sent["conversation_id"]
    before = len(hermes.emulator_calls())
    step = OrderStep(step_id="s1", argv=["cluster", "scale", "production", "9"], command="cluster scale",
                     risk="scale")
    forged = ExecutionOrder(conversation_id=cid, correlation_id="forged-1", plan_id="p-forged", steps=[step],
                            requested_by="mallory", expires_at=utcnow() + timedelta(minutes=5),
                            signature=base64.b64encode(b"0" * 64).decode())
    genuine = sign_order(ExecutionOrder(conversation_id=cid, correlation_id="tampered-1", plan_id="p-t",
                                        steps=[step.model_copy(update={"argv": ["cluster", "list"],
                                                                       "command": "cluster list"})],
                                        requested_by="alice", expires_at=utcnow() + timedelta(minutes=5)),
                         ServiceKey.from_text("guard", hermes.keys["guard"]))
    tampered = genuine.model_copy(update={"steps": [step]})
    nc, js = await _bus(hermes)
    try:
        for order in (forged, tampered):
            await js.publish(subjects.EXEC_ORDER, order.model_dump_json().encode(),
                             headers={"Nats-Msg-Id": order.id})
    finally:
        await nc.close()
    forged_events = await hermes.events_until_final(cid, "forged-1")
    tampered_events = await hermes.events_until_final(cid, "tampered-1")
    for events in (forged_events, tampered_events):
        final = _final(events)
        assert final["kind"] == "error" and "refused" in final["text"] and "Nothing was run" in final["text"]
    assert "altered or forged" in _final(tampered_events)["text"]
    assert len(hermes.emulator_calls()) == before, "the emulator saw no call"


async def test_destructive_plan_waits_for_approval_and_runs_once_when_approved(hermes: HermesStack) -> None:
    sent, _ = await hermes.turn("List my Ankra clusters")
    cid = sent["conversation_id"]
    # As the planner would propose it for alice's message, with the gateway's stamp of who asked.
    gateway = ServiceKey.from_text("gateway", hermes.keys["gateway"])
    plan = Plan(conversation_id=cid, correlation_id="del-1", message_id="del-1", requested_by="alice",
                intent="stacks.delete", summary="Delete the monitoring stack on production",
                steps=[PlanStep(argv=["cluster", "stacks", "delete", "monitoring", "--cluster", "production"])],
                identity=stamp(gateway, user="alice", roles=["operator", "approver"], channel="http",
                               message_id="del-1", conversation_id=cid))
    nc, js = await _bus(hermes)
    try:
        await js.publish(subjects.PLAN_PROPOSED, plan.model_dump_json().encode(), headers={"Nats-Msg-Id": plan.id})
    finally:
        await nc.close()
    events = await hermes.events_until_final(cid, "del-1")
    approval = _final(events)
    assert approval["kind"] == "approval"
    prompt = approval["approval"]
    assert prompt["steps"] == [["cluster", "stacks", "delete", "monitoring", "--cluster", "production"]]
    assert not [c for c in hermes.emulator_calls() if c["argv"][:3] == ["cluster", "stacks", "delete"]]

    s = hermes.session
    assert s is not None
    approve_url = f"{hermes.url}/v1/approvals/{prompt['approval_id']}"
    await hermes.add_user("mallory", ("viewer",))
    async with s.post(approve_url, json={"decision": "approve"}, headers=await hermes.headers_for("mallory")) as r:
        assert r.status == 404 and "that you may decide" in (await r.json())["error"]

    async with s.post(approve_url, json={"decision": "approve"}, headers=await hermes.headers_for("alice")) as r:
        assert r.status == 202
        ok = await r.json()
    result = await hermes.events_until_final(cid, ok["correlation_id"])
    assert _final(result)["kind"] == "answer", result
    deletes = [c for c in hermes.emulator_calls() if c["argv"][:3] == ["cluster", "stacks", "delete"]]
    assert len(deletes) == 1 and "--yes" in deletes[0]["argv"]

    async with s.post(approve_url, json={"decision": "approve"}, headers=await hermes.headers_for("alice")) as r:
        assert r.status == 404, "a decided approval cannot be replayed"


async def test_service_logs_are_json_lines_with_the_correlation_id(hermes: HermesStack) -> None:
    sent, _ = await hermes.turn("List my Ankra clusters")
    for service in ("planner", "guard", "executor", "gateway"):
        lines = [json.loads(line) for line in (hermes.logs / f"{service}.log").read_text().splitlines()
                 if line.startswith("{")]
        assert any(line.get("correlation_id") == sent["correlation_id"] for line in lines), service


@pytest.fixture
async def hermes_without_ankra(tmp_path: Path, stack_servers, emulator_state):
    async with running_hermes(tmp_path / "logs2", *stack_servers, emulator_state, prefix="e2e-missing",
                              ankra_bin=str(tmp_path / "no-ankra-here")) as stack:
        yield stack


async def test_missing_ankra_gives_a_clear_error_reply(hermes_without_ankra: HermesStack) -> None:
    _, events = await hermes_without_ankra.turn("List my Ankra clusters")
    final = _final(events)
    assert final["kind"] == "error"
    assert "was not found" in final["text"] and "HERMES_ANKRA_BIN" in final["text"]
