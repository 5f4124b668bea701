"""Approval edge cases through the four running services and the emulator.

A pending approval is bound to its plan, its approvers, its expiry and the profile it was drafted
under: the wrong person, a replay, an expired or a replaced approval is refused with a reason and
runs nothing; switching to a looser profile meanwhile loosens nothing; one build per cluster waits
at a time. Every decision lands on the audit stream, which `hermes audit` reads.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from hermes import subjects
from hermes.audit import read_audit
from hermes.contracts import ApprovalDecision, AuditRecord
from hermes_cli.main import app
from typer.testing import CliRunner

from tests.waiting import clock_past

from .conftest import HermesStack, running_hermes

pytestmark = pytest.mark.e2e

GOAL = "My app needs a Postgres database and a Redis cache on staging. Set it up."
APPROVAL_TTL_SECONDS = 3


def _final(events: list[dict]) -> dict:
    assert events and events[-1]["final"], events
    return events[-1]


def _calls(stack: HermesStack, *prefix: str) -> list[dict[str, Any]]:
    return [c for c in stack.emulator_calls() if c["argv"][:len(prefix)] == list(prefix)]


async def _production_approval(stack: HermesStack, user: str = "alice") -> tuple[str, dict[str, Any]]:
    """A conversation under the production profile (confirm-all) with a reconcile waiting for approval."""
    sent, events = await stack.turn("Switch to the production profile", user=user)
    assert 'Now using the "production" profile' in _final(events)["text"]
    cid = sent["conversation_id"]
    _, events = await stack.turn("Reconcile the production cluster", conversation_id=cid, user=user)
    final = _final(events)
    assert final["kind"] == "approval", final
    assert final["approval"]["steps"] == [["cluster", "reconcile", "production"]]
    assert not _calls(stack, "cluster", "reconcile"), "nothing runs before approval"
    return cid, final


async def _http_decide(stack: HermesStack, approval_id: str, decision: str, user: str
                       ) -> tuple[int, list[dict[str, Any]] | str]:
    """POST /v1/approvals/<id>: (status, the decision's events up to its final reply) or (status, error)."""
    assert stack.session is not None
    async with stack.session.post(f"{stack.url}/v1/approvals/{approval_id}",
                                  json={"decision": decision}, headers=await stack.headers_for(user)) as resp:
        body = await resp.json()
        if resp.status != 202:
            return resp.status, body.get("error", "")
    events = await stack.events_until_final(body["conversation_id"], body["correlation_id"], body["cursor"])
    return 202, events


async def _audit_until(stack: HermesStack, done: Callable[[list[AuditRecord]], bool], timeout: float = 15.0,
                       **filters: Any) -> list[AuditRecord]:
    """The audit records (as `hermes audit` reads them) once `done` holds for them."""
    deadline = time.monotonic() + timeout
    records: list[AuditRecord] = []
    while time.monotonic() < deadline:
        records = await read_audit(stack.nats_url, **filters)
        if done(records):
            return records
        await asyncio.sleep(0.2)
    raise AssertionError(f"audit never matched; got {[(r.event, r.requested_by, r.reason) for r in records]}")


def _expiry(asked: dict[str, Any]) -> datetime:
    """When the approval in a reply expires: the record's own time, which the guard checks."""
    expires_at = datetime.fromisoformat(asked["approval"]["expires_at"])
    assert expires_at - datetime.now(UTC) <= timedelta(seconds=APPROVAL_TTL_SECONDS), "the short TTL applies"
    return expires_at


def _events(records: list[AuditRecord], event: str) -> list[AuditRecord]:
    return [r for r in records if r.event == event]


@pytest.fixture
async def short_ttl_hermes(tmp_path: Path, stack_servers: tuple[str, str], emulator_state
                           ) -> AsyncIterator[HermesStack]:
    """Hermes whose approvals expire after APPROVAL_TTL_SECONDS."""
    async with running_hermes(tmp_path / "logs", *stack_servers, emulator_state, prefix="e2e-ttl",
                              extra_env={"HERMES_APPROVAL_TTL_SECONDS": str(APPROVAL_TTL_SECONDS)}) as stack:
        yield stack


# -- the wrong approver ------------------------------------------------------------------------


async def test_the_wrong_approver_is_refused_and_the_right_one_still_can(hermes: HermesStack) -> None:
    await hermes.add_user("mallory", ("viewer",))
    await hermes.add_user("olga", ("operator",))
    cid, asked = await _production_approval(hermes, user="alice")
    approval_id = asked["approval"]["approval_id"]
    assert asked["approval"]["approvers"] == ["*"], "by default anyone holding the approver role"

    # someone who may neither decide it nor see its conversation is told there is nothing for them
    status, error = await _http_decide(hermes, approval_id, "approve", user="mallory")
    assert status == 404 and "that you may decide" in str(error)
    assert hermes.session is not None
    async with hermes.session.post(f"{hermes.url}/v1/messages", json={"text": "y", "conversation_id": cid},
                                   headers=await hermes.headers_for("mallory")) as resp:
        assert resp.status == 404, "nobody posts into another's conversation"
    # typed in their own conversations, the decisions reach the guard, which refuses them
    _, events = await hermes.turn(f"approve {approval_id}", user="mallory")
    assert _final(events)["kind"] == "error" and "mallory (viewer) may not decide" in _final(events)["text"]
    _, events = await hermes.turn(f"reject {approval_id}", user="olga")
    assert _final(events)["kind"] == "error" and "olga (operator) may not decide" in _final(events)["text"]
    assert not _calls(hermes, "cluster", "reconcile")

    _, events = await hermes.turn("y", conversation_id=cid, user="alice")
    done = _final(events)
    assert done["kind"] == "answer", done
    assert any("Approved by alice" in e.get("text", "") for e in events)
    assert len(_calls(hermes, "cluster", "reconcile")) == 1

    records = await _audit_until(hermes, lambda rs: bool(_events(rs, "approval.approved")))
    mine = [r for r in records if r.conversation_id == cid]
    requested = _events(mine, "plan.approval_requested")
    assert [(r.requested_by, r.profile, r.cluster) for r in requested] == [("alice", "production", "production")]
    assert requested[0].plan_hash == asked["approval"]["plan_hash"]
    refusals = _events(records, "approval.refused")
    assert [r.requested_by for r in refusals] == ["mallory", "olga"]
    assert all("may not decide" in (r.reason or "") for r in refusals)
    [approved] = _events(records, "approval.approved")
    assert (approved.requested_by, approved.approved_by, approved.profile) == ("alice", ["alice"], "production")
    assert approved.plan_hash == asked["approval"]["plan_hash"]
    assert approved.commands == [["cluster", "reconcile", "production"]]

    # `hermes audit` shows the same decisions (it runs its own event loop: give it a thread)
    result = await asyncio.to_thread(CliRunner().invoke, app,
                                     ["audit", "--nats-url", hermes.nats_url, "-c", cid, "--json"])
    assert result.exit_code == 0, result.output
    shown = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["event"] for r in shown if r["event"].startswith(("plan.approval", "approval."))] == [
        "plan.approval_requested", "approval.approved"]
    assert all(r["verified"] is None for r in shown), "no public keys given: nothing claimed either way"
    result = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "--nats-url", hermes.nats_url,
                                                                "--cluster", "production"],
                                     env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "approval.approved" in result.stdout and "production" in result.stdout
    assert asked["approval"]["plan_hash"][:12] in result.stdout


# -- a replay ----------------------------------------------------------------------------------


async def test_a_replayed_approval_is_refused_and_the_command_runs_once(hermes: HermesStack) -> None:
    cid, asked = await _production_approval(hermes)
    approval_id = asked["approval"]["approval_id"]

    status, events = await _http_decide(hermes, approval_id, "approve", user="alice")
    assert status == 202 and _final(events)["kind"] == "answer", events
    assert len(_calls(hermes, "cluster", "reconcile")) == 1

    # the same click again: the approval is gone
    status, error = await _http_decide(hermes, approval_id, "approve", user="alice")
    assert status == 404 and "was already decided (approved by alice" in str(error)
    # typed again in the conversation
    _, events = await hermes.turn(f"approve {approval_id}", conversation_id=cid)
    again = _final(events)
    assert again["kind"] == "error" and "already decided" in again["text"] and "nothing more was run" in again["text"]
    _, events = await hermes.turn("y", conversation_id=cid)
    assert "nothing waiting for your approval" in _final(events)["text"]
    # a decision replayed straight onto the bus (a second button delivery) past the gateway
    replay = ApprovalDecision(conversation_id=cid, correlation_id="replay-1", approval_id=approval_id,
                              decision="approve", user="alice", channel="slack")
    nc = await nats.connect(hermes.nats_url)
    try:
        await nc.jetstream().publish(subjects.APPROVAL_DECIDED, replay.model_dump_json().encode(),
                                     headers={"Nats-Msg-Id": replay.id})
    finally:
        await nc.close()
    records = await _audit_until(hermes, lambda rs: any(r.id == f"audit-{replay.id}" for r in rs),
                                 conversation_id=cid)
    [bus_refusal] = [r for r in records if r.id == f"audit-{replay.id}"]
    assert bus_refusal.event == "approval.refused" and "already decided" in (bus_refusal.reason or "")

    # The guard has acked every decision, then the executor every order: anything wrongly dispatched
    # has run by now.
    await hermes.settled(subjects.GUARD_APPROVALS_DURABLE, subjects.EXECUTOR_ORDERS_DURABLE)
    assert len(_calls(hermes, "cluster", "reconcile")) == 1, "the plan ran exactly once"
    assert len(_events(records, "approval.approved")) == 1
    assert len(_events(records, "approval.refused")) == 2


# -- expiry ------------------------------------------------------------------------------------


async def test_an_expired_approval_is_refused_with_the_reason(short_ttl_hermes: HermesStack) -> None:
    stack = short_ttl_hermes
    cid, asked = await _production_approval(stack)
    approval_id = asked["approval"]["approval_id"]
    await clock_past(_expiry(asked))

    status, error = await _http_decide(stack, approval_id, "approve", user="alice")
    assert status == 404 and "expired" in str(error)
    _, events = await stack.turn(f"approve {approval_id}", conversation_id=cid)
    refused = _final(events)
    assert refused["kind"] == "error" and "expired" in refused["text"] and "nothing was run" in refused["text"]
    _, events = await stack.turn("y", conversation_id=cid)
    assert "nothing waiting for your approval" in _final(events)["text"]
    assert not _calls(stack, "cluster", "reconcile")

    records = await _audit_until(stack, lambda rs: bool(_events(rs, "approval.refused")), conversation_id=cid)
    assert not _events(records, "approval.approved")
    [refusal] = _events(records, "approval.refused")
    assert refusal.requested_by == "alice" and "expired" in (refusal.reason or "")


async def test_an_expired_approval_says_that_it_expired_and_when(short_ttl_hermes: HermesStack) -> None:
    stack = short_ttl_hermes
    cid, asked = await _production_approval(stack)
    approval_id = asked["approval"]["approval_id"]
    await clock_past(_expiry(asked))
    _, events = await stack.turn(f"approve {approval_id}", conversation_id=cid)
    assert f"approval {approval_id} expired at" in _final(events)["text"]


# -- a changed plan ----------------------------------------------------------------------------


async def test_a_changed_plan_needs_a_new_approval_and_the_old_one_is_refused(hermes: HermesStack) -> None:
    sent, events = await hermes.turn(GOAL)
    cid = sent["conversation_id"]
    first = _final(events)["approval"]
    _, events = await hermes.turn("make Postgres storage 50Gi", conversation_id=cid)
    second_reply = _final(events)
    assert second_reply["kind"] == "approval", second_reply
    second = second_reply["approval"]
    assert second["approval_id"] != first["approval_id"]
    assert second["plan_hash"] != first["plan_hash"], "the approval is bound to the changed plan"
    assert f"replaces {first['approval_id']}, which is void" in second_reply["text"]

    status, error = await _http_decide(hermes, first["approval_id"], "approve", user="alice")
    assert status == 404, error
    _, events = await hermes.turn(f"approve {first['approval_id']}", conversation_id=cid)
    old = _final(events)
    assert old["kind"] == "error" and "nothing more was run" in old["text"]
    assert f"replaced by {second['approval_id']} because the plan changed" in old["text"]
    assert not _calls(hermes, "cluster", "apply")

    # "y" now means the one pending approval: the changed plan
    _, events = await hermes.turn("y", conversation_id=cid)
    assert _final(events)["kind"] == "answer", events
    applies = _calls(hermes, "cluster", "apply")
    assert len(applies) == 1 and applies[0]["exit_code"] == 0

    records = await _audit_until(hermes, lambda rs: bool(_events(rs, "approval.approved")), conversation_id=cid)
    asked = _events(records, "plan.approval_requested")
    assert [r.plan_hash for r in asked] == [first["plan_hash"], second["plan_hash"]]
    assert all(r.profile == "default" and r.cluster == "staging-cluster" for r in asked)
    [approved] = _events(records, "approval.approved")
    assert approved.plan_hash == second["plan_hash"] and approved.approved_by == ["alice"]
    assert [r.requested_by for r in _events(records, "approval.refused")] == ["alice"]


async def test_approving_a_replaced_approval_says_the_plan_changed(hermes: HermesStack) -> None:
    sent, events = await hermes.turn(GOAL)
    cid = sent["conversation_id"]
    first = _final(events)["approval"]["approval_id"]
    _, events = await hermes.turn("make Postgres storage 50Gi", conversation_id=cid)
    second = _final(events)["approval"]["approval_id"]
    _, events = await hermes.turn(f"approve {first}", conversation_id=cid)
    text = _final(events)["text"]
    assert "changed" in text or "replaced" in text
    assert second in text


# -- a looser profile meanwhile ------------------------------------------------------------------


async def test_switching_to_a_looser_profile_does_not_loosen_a_pending_approval(hermes: HermesStack) -> None:
    await hermes.add_user("eve", ("admin",))  # loosening a profile takes the admin role
    await hermes.add_user("mallory", ("viewer",))
    cid, asked = await _production_approval(hermes)
    approval_id = asked["approval"]["approval_id"]

    _, events = await hermes.turn("Switch to the sandbox profile", conversation_id=cid, user="eve")
    assert 'Now using the "sandbox" profile' in _final(events)["text"], events
    await hermes.settled(subjects.GUARD_PROFILES_DURABLE, subjects.GUARD_APPROVALS_DURABLE,
                         subjects.EXECUTOR_ORDERS_DURABLE)
    assert not _calls(hermes, "cluster", "reconcile"), "the switch did not run the waiting plan"

    # the new profile applies to new requests: a reconcile now runs at once ...
    _, events = await hermes.turn("Reconcile the production cluster", conversation_id=cid)
    assert _final(events)["kind"] == "answer", events
    assert len(_calls(hermes, "cluster", "reconcile")) == 1
    # ... while the one drafted under production still waits for an approver
    status, error = await _http_decide(hermes, approval_id, "approve", user="mallory")
    assert status == 404 and "that you may decide" in str(error)
    assert len(_calls(hermes, "cluster", "reconcile")) == 1

    status, events = await _http_decide(hermes, approval_id, "approve", user="alice")
    assert status == 202 and _final(events)["kind"] == "answer", events
    assert len(_calls(hermes, "cluster", "reconcile")) == 2

    records = await _audit_until(hermes, lambda rs: bool(_events(rs, "approval.approved")), conversation_id=cid)
    [switched_prod, switched_sandbox] = _events(records, "profile.switched")
    assert (switched_prod.profile, switched_sandbox.profile) == ("production", "sandbox")
    [ran] = _events(records, "plan.run")[-1:]
    assert ran.profile == "sandbox" and ran.commands == [["cluster", "reconcile", "production"]]
    [approved] = _events(records, "approval.approved")
    assert approved.profile == "production", "decided under the profile it was drafted under"
    assert approved.approved_by == ["alice"] and approved.plan_hash == asked["approval"]["plan_hash"]


async def test_a_sandbox_approval_pending_is_decided_as_drafted(hermes: HermesStack) -> None:
    """The other direction: what the sandbox asked for (a deprovision) still needs its approval after
    switching to production, and is approved under the sandbox profile it was drafted under."""
    await hermes.add_user("eve", ("admin",))
    sent, events = await hermes.turn("Switch to the sandbox profile", user="eve")
    cid = sent["conversation_id"]
    _, events = await hermes.turn("Deprovision the staging cluster", conversation_id=cid, user="eve")
    final = _final(events)
    assert final["kind"] == "approval", f"a deprovision must wait for approval: {final['text'][:300]}"
    approval_id = final["approval"]["approval_id"]
    _, events = await hermes.turn("Switch to the production profile", conversation_id=cid, user="eve")
    assert 'Now using the "production" profile' in _final(events)["text"]
    status, events = await _http_decide(hermes, approval_id, "reject", user="eve")
    assert status == 202 and "Rejected by eve" in _final(events)["text"]
    assert not _calls(hermes, "cluster", "deprovision") and not _calls(hermes, "cluster", "hetzner", "deprovision")
    records = await _audit_until(hermes, lambda rs: bool(_events(rs, "approval.rejected")), conversation_id=cid)
    [rejected] = _events(records, "approval.rejected")
    assert rejected.profile == "sandbox" and rejected.approved_by == ["eve"]


# -- one pending build per cluster -----------------------------------------------------------------


async def test_one_pending_build_per_cluster(hermes: HermesStack) -> None:
    sent_a, events = await hermes.turn(GOAL, user="alice")
    conv_a = sent_a["conversation_id"]
    held = _final(events)["approval"]["approval_id"]

    sent_b, events = await hermes.turn(GOAL, user="bob")
    conv_b = sent_b["conversation_id"]
    answer = _final(events)
    assert answer["kind"] == "error", answer
    assert answer["approval"] is None
    assert "already waiting for approval" in answer["text"]
    assert held in answer["text"] and "staging-cluster" in answer["text"] and "requested by alice" in answer["text"]

    # a viewer cannot decide alice's build either
    await hermes.add_user("mallory", ("viewer",))
    status, error = await _http_decide(hermes, held, "approve", user="mallory")
    assert status == 404 and "that you may decide" in str(error)
    assert not _calls(hermes, "cluster", "apply")

    # once alice's is decided, bob's conversation may draft the build
    _, events = await hermes.turn("n", conversation_id=conv_a, user="alice")
    assert "Rejected by alice" in _final(events)["text"]
    _, events = await hermes.turn(GOAL, conversation_id=conv_b, user="bob")
    assert _final(events)["kind"] == "approval", events
    assert not _calls(hermes, "cluster", "apply")

    records = await _audit_until(hermes, lambda rs: len(_events(rs, "plan.approval_requested")) >= 1,
                                 conversation_id=conv_b)
    [locked] = _events(records, "plan.refused")
    assert locked.requested_by == "bob" and locked.cluster == "staging-cluster"
    assert "already waiting for approval" in (locked.reason or "")
    by_cluster = await read_audit(hermes.nats_url, cluster="staging-cluster")
    assert {r.conversation_id for r in by_cluster if r.event.startswith(("plan.", "approval."))} >= {conv_a, conv_b}
    [rejected] = _events(by_cluster, "approval.rejected")
    assert rejected.conversation_id == conv_a and rejected.approved_by == ["alice"]
