"""People: who asks and who approves comes from authentication, never from a field a caller fills in.

Each attack found from outside — a name in a body, one token approving twice, reading another's
conversation, a viewer changing things, leaving read-only by asking, a forged stamp or decision on
the bus, an approval edited in Redis — is played against the four running services and must do no
harm: the emulator's call log proves that nothing ran.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
import redis.asyncio as aioredis
from ankra_emulator.seed import STAGING_ID
from hermes import subjects
from hermes.access import stamp
from hermes.audit import read_audit
from hermes.contracts import ApprovalDecision, AuditRecord, Plan, PlanStep
from hermes.keys import Keys
from hermes.signing import ServiceKey
from hermes.stores.approvals import PendingApproval
from hermes_cli.main import app
from hermes_guard.approvals import hash_plan
from typer.testing import CliRunner

from .conftest import HermesStack, running_hermes

pytestmark = pytest.mark.e2e

CONFIG = {
    "profiles": {
        "production": {"autonomy": "confirm-all", "two_person": True,
                       "guardrails": {"require_confirmation": ["delete", "deprovision", "scale-down"]}},
        "locked": {"autonomy": "read-only"},
        "sandbox": {"autonomy": "auto", "guardrails": {"require_confirmation": ["deprovision"]}},
    },
}


@pytest.fixture
async def people(tmp_path: Path, stack_servers: tuple[str, str], emulator_state) -> AsyncIterator[HermesStack]:
    config = tmp_path / "hermes.json"
    config.write_text(json.dumps(CONFIG))
    async with running_hermes(tmp_path / "logs", *stack_servers, emulator_state, prefix="people",
                              extra_env={"HERMES_CONFIG": str(config)}) as stack:
        await stack.add_user("alice", ("operator", "approver"))
        await stack.add_user("bob", ("operator", "approver"))
        await stack.add_user("carol", ("approver",))
        await stack.add_user("vic", ("viewer",))
        await stack.add_user("olga", ("operator",))
        await stack.add_user("eve", ("admin",))
        yield stack


def _final(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert events and events[-1]["final"], events
    return events[-1]


def _calls(stack: HermesStack, *prefix: str) -> list[dict[str, Any]]:
    return [c for c in stack.emulator_calls() if c["argv"][:len(prefix)] == list(prefix)]


async def _post(stack: HermesStack, path: str, body: dict[str, Any], user: str | None) -> tuple[int, dict[str, Any]]:
    assert stack.session is not None
    headers = await stack.headers_for(user) if user else stack.headers
    async with stack.session.post(f"{stack.url}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def _get(stack: HermesStack, path: str, user: str | None) -> tuple[int, dict[str, Any]]:
    assert stack.session is not None
    headers = await stack.headers_for(user) if user else stack.headers
    async with stack.session.get(f"{stack.url}{path}", headers=headers) as resp:
        return resp.status, await resp.json()


async def _decide(stack: HermesStack, approval_id: str, decision: str, user: str) -> tuple[int, Any]:
    """POST /v1/approvals/<id> with `user`'s own token: (202, the decision's events, read with that same
    token: a decider follows what their decision did) or (status, error)."""
    status, body = await _post(stack, f"/v1/approvals/{approval_id}", {"decision": decision}, user)
    if status != 202:
        return status, body.get("error", "")
    return 202, await stack.events_until_final(body["conversation_id"], body["correlation_id"], body["cursor"],
                                               user=user)


async def _audit_until(stack: HermesStack, done: Callable[[list[AuditRecord]], bool],
                       timeout: float = 15.0) -> list[AuditRecord]:
    deadline = time.monotonic() + timeout
    records: list[AuditRecord] = []
    while time.monotonic() < deadline:
        records = await read_audit(stack.nats_url)
        if done(records):
            return records
        await asyncio.sleep(0.2)
    raise AssertionError(f"audit never matched; got {[(r.event, r.requested_by, r.reason) for r in records]}")


async def _production_reconcile(stack: HermesStack, user: str) -> tuple[str, str]:
    """`user`'s conversation under the two-person production profile, a reconcile waiting: (cid, approval id)."""
    sent, events = await stack.turn("Switch to the production profile", user=user)
    assert 'Now using the "production" profile' in _final(events)["text"], events
    cid = sent["conversation_id"]
    _, events = await stack.turn("Reconcile the production cluster", conversation_id=cid, user=user)
    asked = _final(events)
    assert asked["kind"] == "approval", asked
    return cid, asked["approval"]["approval_id"]


async def test_a_body_that_names_a_user_is_refused(people: HermesStack) -> None:
    status, body = await _post(people, "/v1/messages", {"text": "List my Ankra clusters", "user": "alice"}, "bob")
    assert status == 400 and "bearer token" in body["error"], body
    status, body = await _post(people, "/v1/approvals/apr-123456789abc", {"decision": "approve", "user": "alice"},
                               "bob")
    assert status == 400 and "bearer token" in body["error"], body
    status, body = await _get(people, "/v1/whoami", "bob")
    assert status == 200 and body["user"] == "bob" and body["roles"] == ["operator", "approver"]


async def test_one_token_cannot_reach_a_two_person_quorum(people: HermesStack) -> None:
    cid, approval_id = await _production_reconcile(people, "alice")
    # The requester never counts as one of the two.
    status, events = await _decide(people, approval_id, "approve", "alice")
    assert status == 202 and "cannot be one of the two approvers" in _final(events)["text"], events
    # One approver, however often they approve, is one person.
    status, events = await _decide(people, approval_id, "approve", "bob")
    assert "1 of 2" in _final(events)["text"], events
    status, events = await _decide(people, approval_id, "approve", "bob")
    assert "already approved" in _final(events)["text"], events
    # "y" typed in alice's conversation by alice is still alice.
    _, events = await people.turn("y", conversation_id=cid, user="alice")
    assert "cannot be one of the two" in _final(events)["text"], events
    assert not _calls(people, "cluster", "reconcile"), "one token never reaches the quorum"
    # A second, different, authenticated approver completes it: it runs once.
    status, events = await _decide(people, approval_id, "approve", "carol")
    assert status == 202 and _final(events)["kind"] == "answer", events
    assert len(_calls(people, "cluster", "reconcile")) == 1
    records = await _audit_until(people, lambda rs: any(r.event == "approval.approved" for r in rs))
    approved = next(r for r in records if r.event == "approval.approved")
    assert approved.requested_by == "alice" and approved.approved_by == ["bob", "carol"]


async def _cli_decide(stack: HermesStack, decision: str, approval_id: str, user: str) -> tuple[int, str]:
    """`hermes approve|reject <id>` as `user` (their own token): (exit code, what it printed)."""
    token = (await stack.headers_for(user))["Authorization"].removeprefix("Bearer ")
    result = await asyncio.to_thread(CliRunner().invoke, app, [decision, approval_id, "--url", stack.url,
                                                               "--token", token, "--timeout", "60"],
                                     env={"COLUMNS": "200"})
    return result.exit_code, result.output


async def test_hermes_approve_prints_what_the_guard_decided(people: HermesStack) -> None:
    """The CLI says what came of a decision, not what was asked: refused (exit 1), 1 of 2, then taken."""
    _cid, approval_id = await _production_reconcile(people, "alice")
    code, out = await _cli_decide(people, "approve", approval_id, "alice")
    assert code == 1, out
    assert f"✗ {approval_id}: the guard refused your approval; nothing ran" in out
    assert "cannot be one of the two approvers" in out and "Approved" not in out
    # bob and carol may decide alice's approval but not read her conversation: the pending list says
    code, out = await _cli_decide(people, "approve", approval_id, "bob")
    assert code == 0, out
    assert f"{approval_id}: your approval is recorded; nothing runs yet: approved by bob (1 of 2)" in out
    assert not _calls(people, "cluster", "reconcile")
    code, out = await _cli_decide(people, "approve", approval_id, "carol")
    assert code == 0, out
    # the second approver follows what their decision did, in the conversation they decided in
    assert "Approved by bob and carol" in out and f"✓ {approval_id}: approved, and the plan ran." in out, out
    await people.settled(subjects.GUARD_APPROVALS_DURABLE, subjects.EXECUTOR_ORDERS_DURABLE)
    assert len(_calls(people, "cluster", "reconcile")) == 1
    # alice, who reads her conversation, sees the guard's own words
    _cid, second = await _production_reconcile(people, "alice")
    code, out = await _cli_decide(people, "reject", second, "alice")
    assert code == 0, out
    assert "Rejected by alice. Nothing was run." in out and f"✓ {second}: rejected; nothing of it ran." in out
    await people.settled(subjects.GUARD_APPROVALS_DURABLE, subjects.EXECUTOR_ORDERS_DURABLE)
    assert len(_calls(people, "cluster", "reconcile")) == 1


async def test_nobody_else_reads_or_writes_a_conversation(people: HermesStack) -> None:
    cid, approval_id = await _production_reconcile(people, "alice")
    path = f"/v1/conversations/{cid}/events"
    assert (await _get(people, path, "alice"))[0] == 200
    status, body = await _get(people, path, "vic")
    assert status == 404 and "unknown conversation" in body["error"]
    status, body = await _post(people, "/v1/messages", {"text": "y", "conversation_id": cid}, "vic")
    assert status == 404, body
    # A viewer cannot decide it either (neither an approver nor the conversation's owner).
    status, error = await _decide(people, approval_id, "approve", "vic")
    assert status == 404 and "you may decide" in error
    # The approvals list shows a viewer nothing, an approver what they may decide.
    assert (await _get(people, "/v1/approvals", "vic"))[1]["approvals"] == []
    listed = (await _get(people, "/v1/approvals", "bob"))[1]["approvals"]
    assert [a["approval_id"] for a in listed] == [approval_id]
    # An admin sees every conversation.
    assert (await _get(people, path, None))[0] == 200
    assert not _calls(people, "cluster", "reconcile")


async def test_a_viewer_may_read_but_nothing_they_ask_changes_anything(people: HermesStack) -> None:
    sent, events = await people.turn("List my Ankra clusters", user="vic")
    assert _final(events)["kind"] == "answer", events
    _, events = await people.turn("Reconcile the production cluster", conversation_id=sent["conversation_id"],
                                  user="vic")
    refused = _final(events)
    assert refused["kind"] == "error" and "read-only commands only" in refused["text"], refused
    assert "operator" in refused["text"]
    assert not _calls(people, "cluster", "reconcile")
    await _audit_until(people, lambda rs: any(r.event == "plan.refused" and r.requested_by == "vic" for r in rs))


async def test_a_viewer_typing_approve_decides_nothing(people: HermesStack) -> None:
    _, approval_id = await _production_reconcile(people, "alice")
    _, events = await people.turn(f"approve {approval_id}", user="vic")
    refused = _final(events)
    assert "may not decide approvals" in refused["text"] and "approver role" in refused["text"], refused
    _, events = await people.turn(f"approve {approval_id}", user="olga")  # an operator, not an approver
    assert "may not decide approvals" in _final(events)["text"]
    assert not _calls(people, "cluster", "reconcile")


async def test_leaving_read_only_takes_the_admin_role(people: HermesStack) -> None:
    sent, events = await people.turn("Switch to the locked profile", user="olga")  # stricter: always allowed
    assert 'Now using the "locked" profile' in _final(events)["text"], events
    cid = sent["conversation_id"]
    for target in ("sandbox", "default"):
        _, events = await people.turn(f"Switch to the {target} profile", conversation_id=cid, user="olga")
        refused = _final(events)
        assert refused["kind"] == "error" and "admin role" in refused["text"], refused
    _, events = await people.turn("Reconcile the production cluster", conversation_id=cid, user="olga")
    assert "read-only" in _final(events)["text"]
    assert not _calls(people, "cluster", "reconcile")
    # An admin may loosen it (and sees every conversation, so may say it in olga's).
    _, events = await people.turn("Switch to the default profile", conversation_id=cid, user="eve")
    assert 'Now using the "default" profile' in _final(events)["text"], events
    records = await _audit_until(people, lambda rs: sum(r.event == "profile.refused" for r in rs) >= 2)
    assert {r.requested_by for r in records if r.event == "profile.refused"} == {"olga"}


async def test_a_decision_or_plan_published_on_the_bus_without_the_gateways_stamp_runs_nothing(
        people: HermesStack) -> None:
    cid, approval_id = await _production_reconcile(people, "alice")
    nc = await nats.connect(people.nats_url)
    try:
        js = nc.jetstream()
        # A decision with a name typed in and no stamp, and one with a stamp signed by a key that is not the gateway's.
        bare = ApprovalDecision(conversation_id=cid, correlation_id="forged-1", id="forged-1",
                                approval_id=approval_id, decision="approve", user="bob")
        mallory = ServiceKey.generate("gateway")
        forged = ApprovalDecision(conversation_id=cid, correlation_id="forged-2", id="forged-2",
                                  approval_id=approval_id, decision="approve", user="carol",
                                  identity=stamp(mallory, user="carol", roles=["admin"], channel="http",
                                                 message_id="forged-2", conversation_id=cid))
        for message in (bare, forged):
            await js.publish(subjects.APPROVAL_DECIDED, message.model_dump_json().encode(),
                             headers={"Nats-Msg-Id": message.id})
        plan = Plan(conversation_id=cid, correlation_id="forged-3", message_id="forged-3", requested_by="admin",
                    intent="cluster.reconcile", steps=[PlanStep(argv=["cluster", "reconcile", "staging-cluster"])],
                    identity=stamp(mallory, user="admin", roles=["admin"], channel="http", message_id="forged-3",
                                   conversation_id=cid))
        await js.publish(subjects.PLAN_PROPOSED, plan.model_dump_json().encode(), headers={"Nats-Msg-Id": plan.id})
    finally:
        await nc.close()
    for correlation, expected in (("forged-1", "carries no identity"), ("forged-2", "not the gateway's signature"),
                                  ("forged-3", "not the gateway's signature")):
        events = await people.events_until_final(cid, correlation)
        assert expected in _final(events)["text"], events
    assert not _calls(people, "cluster", "reconcile")


async def test_an_approval_edited_in_redis_is_refused_and_nothing_runs(people: HermesStack) -> None:
    sent, events = await people.turn("Scale staging-cluster to 2 workers", user="alice")
    asked = _final(events)
    assert asked["kind"] == "approval" and asked["approval"]["steps"] == [["cluster", "scale", STAGING_ID, "2"]]
    approval_id = asked["approval"]["approval_id"]
    client = aioredis.Redis.from_url(people.redis_url, decode_responses=True)
    try:
        key = Keys(people.redis_prefix).approval(approval_id)
        record = PendingApproval.model_validate_json(await client.get(key))
        record.plan.steps[0].argv[-1] = "1"  # "scale to 2" becomes "scale to 1" …
        record.plan_hash = hash_plan(record.plan)  # … with its plan hash recomputed
        await client.set(key, record.model_dump_json(), keepttl=True)
    finally:
        await client.aclose()
    _, events = await people.turn("y", conversation_id=sent["conversation_id"], user="alice")
    refused = _final(events)
    assert "was altered" in refused["text"] and "nothing ran" in refused["text"], refused
    assert not _calls(people, "cluster", "scale")
    await _audit_until(people, lambda rs: any(r.event == "approval.tampered" for r in rs))


async def test_a_secret_typed_into_the_chat_is_never_stored_or_passed_on(people: HermesStack) -> None:
    secret = "ghp_" + "Zq3" * 12
    sent, events = await people.turn(f"List my Ankra clusters, my github token is {secret}", user="alice")
    status, page = await _get(people, f"/v1/conversations/{sent['conversation_id']}/events", "alice")
    assert status == 200 and page["events"], page
    assert secret not in json.dumps(page) and "[REDACTED:" in page["events"][0]["text"]
    client = aioredis.Redis.from_url(people.redis_url, decode_responses=True)
    readers = {"string": client.get, "hash": client.hgetall, "set": client.smembers, "zset": lambda k: client.zrange(k, 0, -1),
               "list": lambda k: client.lrange(k, 0, -1), "stream": lambda k: client.xrange(k)}
    try:
        stored = {k: await readers[await client.type(k)](k) async for k in client.scan_iter(f"{people.redis_prefix}:*")}
    finally:
        await client.aclose()
    assert any(k.endswith(":history") for k in stored), "the planner's memory is among what was read"
    assert secret not in json.dumps(stored, default=str)
