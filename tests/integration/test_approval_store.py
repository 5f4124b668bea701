"""Pending approvals against a real Redis: binding, approvers, expiry, replay, two people, build lock."""

from __future__ import annotations

import asyncio

import pytest

from hermes.contracts import ArchitectureDraft, Plan, PlanStep
from hermes.keys import Keys
from hermes.profiles import DEFAULT_PROFILE, Autonomy, Profile
from hermes_guard.approvals import ApprovalRefused, ApprovalStore, BuildLocked, NeedsSecondApprover


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
    return ApprovalStore(redis_client, Keys(redis_prefix), ttl_seconds=60)


async def test_only_the_allowed_approver_decides_and_only_once(store) -> None:
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    with pytest.raises(ApprovalRefused, match="mallory may not decide"):
        await store.resolve(pending.approval_id, "mallory")
    taken = await store.resolve(pending.approval_id, "alice")
    assert taken.plan.steps[0].argv[:3] == ["cluster", "stacks", "delete"]
    with pytest.raises(ApprovalRefused, match=r"was already decided \(approved by alice"):
        await store.resolve(pending.approval_id, "alice")
    with pytest.raises(ApprovalRefused, match="unknown, already decided, or expired"):
        await store.resolve("apr-never-existed", "alice")


async def test_concurrent_decisions_take_the_approval_once(store) -> None:
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    results = await asyncio.gather(*(store.resolve(pending.approval_id, "alice") for _ in range(10)),
                                   return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, ApprovalRefused) for r in results if isinstance(r, Exception))


async def test_expired_approval_is_refused(redis_client, redis_prefix) -> None:
    store = ApprovalStore(redis_client, Keys(redis_prefix), ttl_seconds=1)
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    await asyncio.sleep(1.2)
    with pytest.raises(ApprovalRefused, match="expired at"):
        await store.resolve(pending.approval_id, "alice")
    with pytest.raises(ApprovalRefused, match="expired at"):  # and it stays explained afterwards
        await store.resolve(pending.approval_id, "alice")


async def test_changed_plan_is_refused(store, redis_client, redis_prefix) -> None:
    pending, _ = await store.create(_plan(), DEFAULT_PROFILE, ["destructive"])
    key = Keys(redis_prefix).approval(pending.approval_id)
    tampered = pending.model_copy(update={"plan": _plan(argv=["cluster", "deprovision", "production"])})
    await redis_client.set(key, tampered.model_dump_json(), ex=60)
    with pytest.raises(ApprovalRefused, match="changed since it was drafted"):
        await store.resolve(pending.approval_id, "alice")


async def test_two_person_profile_needs_two_different_people(store) -> None:
    profile = Profile(name="prod", autonomy=Autonomy.CONFIRM_ALL, two_person=True)
    pending, _ = await store.create(_plan(), profile, ["confirm-all"], approvers=["*"])
    with pytest.raises(NeedsSecondApprover, match="1 of 2"):
        await store.resolve(pending.approval_id, "alice")
    with pytest.raises(ApprovalRefused, match="already approved"):
        await store.resolve(pending.approval_id, "alice")
    taken = await store.resolve(pending.approval_id, "bob")
    assert taken.approved_by == ["alice"]


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
    await store.resolve(second.approval_id, "alice")
    # once decided, the lock is released
    third, _ = await store.create(_build("c3"), DEFAULT_PROFILE, ["provision"])
    assert third.approval_id and other.approval_id
