"""Pending approvals against a real Redis: binding, approvers, expiry, replay, two people, build lock,
and the guard's signature over every record."""

from __future__ import annotations

import asyncio

import pytest
from hermes.access import Principal
from hermes.contracts import ArchitectureDraft, Plan, PlanStep
from hermes.keys import Keys
from hermes.profiles import DEFAULT_PROFILE, Autonomy, Profile
from hermes.signing import ServiceKey, TrustedKeys
from hermes_guard.approvals import (
    ApprovalRefused,
    ApprovalStore,
    ApprovalTampered,
    BuildLocked,
    NeedsSecondApprover,
    hash_plan,
)

from tests.waiting import clock_past

GUARD = ServiceKey.generate("guard")
TRUSTED = TrustedKeys({"guard": GUARD.public_text})


def person(name: str, *roles: str) -> Principal:
    """Someone whose identity the guard checked (operator and approver unless told otherwise)."""
    return Principal(name, roles or ("operator", "approver"), verified=True)


ALICE, BOB = person("alice"), person("bob")


def _plan(conversation: str = "c1", user: str = "alice", argv: list[str] | None = None,
          cluster: str = "staging-cluster") -> Plan:
    return Plan(conversation_id=conversation, correlation_id="m1", message_id="m1", requested_by=user,
                intent="test", cluster=cluster,
                steps=[PlanStep(argv=argv or ["cluster", "stacks", "delete", "monitoring", "--cluster", cluster])])


def _build(conversation: str, cluster: str = "staging-cluster") -> Plan:
    plan = _plan(conversation, argv=["cluster", "apply", "-f", "stack.yaml", "--cluster", cluster], cluster=cluster)
    return plan.model_copy(update={"files": {"stack.yaml": "x"},
                                   "architecture": ArchitectureDraft(stack="s", cluster=cluster, tree="s")})


@pytest.fixture
def store(redis_client, redis_prefix) -> ApprovalStore:
    return ApprovalStore(redis_client, Keys(redis_prefix), ttl_seconds=60, key=GUARD, trusted=TRUSTED)


async def test_only_the_allowed_approver_decides_and_only_once(store) -> None:
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"], approvers=["alice"])
    with pytest.raises(ApprovalRefused, match="mallory may not decide"):
        await store.resolve(pending.approval_id, person("mallory"))
    with pytest.raises(ApprovalRefused, match=r"vic \(viewer\) may not decide approvals"):
        await store.resolve(pending.approval_id, person("vic", "viewer"))
    with pytest.raises(ApprovalRefused, match="carries no identity"):
        await store.resolve(pending.approval_id, Principal("alice", ("approver",), verified=False))
    taken = await store.resolve(pending.approval_id, ALICE)
    assert taken.plan.steps[0].argv[:3] == ["cluster", "stacks", "delete"]
    with pytest.raises(ApprovalRefused, match=r"was already decided \(approved by alice"):
        await store.resolve(pending.approval_id, ALICE)
    with pytest.raises(ApprovalRefused, match="unknown, already decided, or expired"):
        await store.resolve("apr-never-existed", ALICE)


async def test_by_default_anyone_with_the_approver_role_decides(store) -> None:
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    assert pending.approvers == ["*"]
    assert (await store.resolve(pending.approval_id, person("carol", "approver"))).approval_id == pending.approval_id


async def test_the_requester_may_withdraw_their_own_request_without_the_approver_role(store) -> None:
    pending, _ = await store.create(_plan(user="olga"), DEFAULT_PROFILE, ["destructive"],
                                    requester=person("olga", "operator"))
    with pytest.raises(ApprovalRefused, match="may not decide approvals"):
        await store.resolve(pending.approval_id, person("olga", "operator"), "approve")
    await store.resolve(pending.approval_id, person("olga", "operator"), "reject")


async def test_a_record_edited_in_redis_with_its_hash_recomputed_is_refused(store, redis_client, redis_prefix) -> None:
    """The plan hash is a fingerprint anyone can recompute; the guard's signature is not."""
    pending, _ = await store.create(_plan(argv=["cluster", "scale", "staging-cluster", "2"]), DEFAULT_PROFILE,
                                    ["scale-down"])
    key = Keys(redis_prefix).approval(pending.approval_id)
    edited = pending.model_copy(deep=True)
    edited.plan.steps[0].argv[-1] = "1"
    edited.plan_hash = hash_plan(edited.plan)
    await redis_client.set(key, edited.model_dump_json(), ex=60)
    assert await store.get(pending.approval_id) is None, "the read view shows no altered record"
    with pytest.raises(ApprovalTampered, match="was altered; nothing ran"):
        await store.resolve(pending.approval_id, ALICE)
    with pytest.raises(ApprovalRefused, match="had been altered"):  # and it stays explained afterwards
        await store.resolve(pending.approval_id, ALICE)


async def test_a_record_signed_by_another_key_is_refused(redis_client, redis_prefix) -> None:
    mallory = ApprovalStore(redis_client, Keys(redis_prefix), 60, key=ServiceKey.generate("guard"), trusted=TRUSTED)
    forged, _ = await mallory.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    store = ApprovalStore(redis_client, Keys(redis_prefix), 60, key=GUARD, trusted=TRUSTED)
    with pytest.raises(ApprovalTampered):
        await store.resolve(forged.approval_id, ALICE)


async def test_concurrent_decisions_take_the_approval_once(store) -> None:
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    results = await asyncio.gather(*(store.resolve(pending.approval_id, ALICE) for _ in range(10)),
                                   return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, ApprovalRefused) for r in results if isinstance(r, Exception))


async def test_expired_approval_is_refused(redis_client, redis_prefix) -> None:
    store = ApprovalStore(redis_client, Keys(redis_prefix), ttl_seconds=1, key=GUARD, trusted=TRUSTED)
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    await clock_past(pending.expires_at)  # the expiry is the record's own time, read on the guard's clock
    with pytest.raises(ApprovalRefused, match="expired at"):
        await store.resolve(pending.approval_id, ALICE)
    with pytest.raises(ApprovalRefused, match="expired at"):  # and it stays explained afterwards
        await store.resolve(pending.approval_id, ALICE)


async def test_changed_plan_is_refused(store, redis_client, redis_prefix) -> None:
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    key = Keys(redis_prefix).approval(pending.approval_id)
    tampered = pending.model_copy(update={"plan": _plan(argv=["cluster", "deprovision", "production"])})
    await redis_client.set(key, tampered.model_dump_json(), ex=60)
    with pytest.raises(ApprovalTampered, match="was altered"):
        await store.resolve(pending.approval_id, ALICE)


async def test_two_person_profile_needs_two_different_people(store) -> None:
    profile = Profile(name="prod", autonomy=Autonomy.CONFIRM_ALL, two_person=True)
    pending, _ = await store.create(_plan(user="olga"), profile, ["confirm-all"], approvers=["*"],
                                    requester=person("olga"))
    with pytest.raises(ApprovalRefused, match="cannot be one of the two approvers"):
        await store.resolve(pending.approval_id, person("olga"))
    with pytest.raises(NeedsSecondApprover, match="1 of 2"):
        await store.resolve(pending.approval_id, ALICE)
    with pytest.raises(ApprovalRefused, match="already approved"):
        await store.resolve(pending.approval_id, ALICE)
    taken = await store.resolve(pending.approval_id, BOB)
    assert taken.approved_by == ["alice"] and taken.verifies(TRUSTED), "re-signed after the first approval"


async def test_one_pending_build_per_cluster(store) -> None:
    first, voided = await store.create(_build("c1"), DEFAULT_PROFILE, ["provision"])
    assert voided == []
    with pytest.raises(BuildLocked, match="already waiting for approval"):
        await store.create(_build("c2"), DEFAULT_PROFILE, ["provision"])
    # a newer draft in the same conversation replaces (voids) the earlier one
    second, voided = await store.create(_build("c1"), DEFAULT_PROFILE, ["provision"])
    assert voided == [first.approval_id]
    assert await store.get(first.approval_id) is None
    # another cluster is not locked
    other, _ = await store.create(_build("c2", cluster="production"), DEFAULT_PROFILE, ["provision"])
    await store.resolve(second.approval_id, ALICE)
    # once decided, the lock is released
    third, _ = await store.create(_build("c3"), DEFAULT_PROFILE, ["provision"])
    assert third.approval_id and other.approval_id
