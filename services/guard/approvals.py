"""Pending approvals in Redis (the guard writes them): bound to a plan hash, its approvers and the
requester, with an expiry, and signed by the guard (the record is `hermes.stores.approvals`).

Resolving an approval deletes it atomically, so a second decision (a replayed button click, a
double "y") finds nothing and is refused instead of running the plan twice. A record whose signature
fails (edited in Redis) is refused and forgotten: nothing runs.
"""

from __future__ import annotations

from datetime import timedelta

import redis.asyncio as aioredis
from hermes.access import Principal
from hermes.contracts import Plan, utcnow
from hermes.keys import Keys
from hermes.profiles import Profile
from hermes.signing import ServiceKey, TrustedKeys, plan_hash, sign_model
from hermes.stores.approvals import ApprovalView, PendingApproval

__all__ = ["ApprovalRefused", "ApprovalStore", "ApprovalTampered", "BuildLocked", "NeedsSecondApprover",
           "PendingApproval", "hash_plan", "is_build"]


class ApprovalRefused(Exception):
    """A decision that cannot be taken; the message says why, for a person."""


class ApprovalTampered(ApprovalRefused):
    """The stored record does not carry the guard's signature over its content: it was altered."""


class NeedsSecondApprover(Exception):
    """A two-person profile: the first approval is recorded; a different approver must follow."""

    def __init__(self, pending: PendingApproval) -> None:
        self.pending = pending
        others = [a for a in pending.approvers if a not in pending.approved_by]
        who = ", ".join(others) if others and others != ["*"] else "another approver"
        super().__init__(f"approved by {', '.join(pending.approved_by)} (1 of 2); profile "
                         f"“{pending.profile.name}” needs a second person: {who}")


class BuildLocked(Exception):
    """Another conversation's build of the same cluster is waiting for approval."""

    def __init__(self, holder: PendingApproval) -> None:
        self.holder = holder
        super().__init__(
            f"a build of cluster {holder.plan.cluster} is already waiting for approval ({holder.approval_id}, "
            f"requested by {holder.requested_by}, expires {holder.expires_at:%H:%M} UTC); one pending build per "
            "cluster at a time — decide or let that one expire first")


def is_build(plan: Plan) -> bool:
    """A plan that builds infrastructure from a stack file: one pending build per cluster."""
    return any(step.argv[:2] == ["cluster", "apply"] for step in plan.steps)


def hash_plan(plan: Plan) -> str:
    """The hash an approval is bound to: every argv list in order, the files the steps read (the
    stack YAML), the drafted architecture and the bill of materials."""
    return plan_hash(
        plan.intent,
        [step.argv for step in plan.steps],
        plan.cluster,
        plan.files,
        plan.architecture.model_dump(mode="json") if plan.architecture else None,
        plan.bill_of_materials.model_dump(mode="json") if plan.bill_of_materials else None,
    )


# An expired approval is kept this much longer, so a late "yes" hears that it expired, and when.
EXPIRED_GRACE_SECONDS = 3600
OUTCOME_TTL_SECONDS = 24 * 3600


class ApprovalStore(ApprovalView):
    """The guard's side: create, sign, resolve."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, ttl_seconds: int, key: ServiceKey,
                 trusted: TrustedKeys) -> None:
        super().__init__(redis, keys, trusted)
        self._ttl = ttl_seconds
        self._key = key

    async def create(self, plan: Plan, profile: Profile, reasons: list[str],
                     approvers: list[str] | None = None,
                     requester: Principal | None = None) -> tuple[PendingApproval, list[str]]:
        """Store a pending approval; returns it and the ids of earlier approvals it made void.

        A build takes the cluster's build lock: a newer draft in the same conversation voids the
        earlier one; a build from another conversation is refused with BuildLocked.
        """
        voided: list[str] = []
        holder: PendingApproval | None = None
        if is_build(plan) and plan.cluster:
            holder_id = await self._redis.get(self._keys.build_lock(plan.cluster))
            holder = await self._record(holder_id) if holder_id else None
            if holder is not None and holder.plan.conversation_id != plan.conversation_id:
                raise BuildLocked(holder)
        pending = sign_model(PendingApproval(
            plan=plan,
            plan_hash=hash_plan(plan),
            profile=profile,
            requested_by=requester.user if requester else plan.requested_by,
            requester_roles=list(requester.roles) if requester else [],
            platform_user=requester.platform_user if requester else None,
            approvers=approvers or ["*"],
            reasons=reasons,
            expires_at=utcnow() + timedelta(seconds=self._ttl),
        ), self._key)
        if holder is not None:
            await self._forget(holder, f"was replaced by {pending.approval_id} because the plan changed; "
                                       f"decide {pending.approval_id} instead")
            voided.append(holder.approval_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.approval(pending.approval_id), pending.model_dump_json(),
                     ex=self._ttl + EXPIRED_GRACE_SECONDS)
            pipe.sadd(self._keys.conversation_approvals(plan.conversation_id), pending.approval_id)
            pipe.expire(self._keys.conversation_approvals(plan.conversation_id), self._ttl)
            pipe.zadd(self._keys.pending_approvals(), {pending.approval_id: pending.expires_at.timestamp()})
            if is_build(plan) and plan.cluster:
                pipe.set(self._keys.build_lock(plan.cluster), pending.approval_id, ex=self._ttl)
            await pipe.execute()
        return pending, voided

    async def _record(self, approval_id: str) -> PendingApproval | None:
        """The stored record as it is, signature not yet checked."""
        raw = await self._redis.get(self._keys.approval(approval_id))
        return PendingApproval.model_validate_json(raw) if raw else None

    async def resolve(self, approval_id: str, decider: Principal, decision: str = "approve") -> PendingApproval:
        """Take a pending approval for a decision by `decider`, or raise ApprovalRefused.

        Under a two-person profile the first approval is recorded and NeedsSecondApprover raised;
        the same person approving twice, or the requester approving, is refused.
        """
        user = decider.user
        try:
            pending = await self._record(approval_id)
        except ValueError:
            await self._redis.delete(self._keys.approval(approval_id))
            raise ApprovalTampered(f"approval record {approval_id} was altered (it no longer parses); "
                                   "nothing ran. Ask again to get a fresh plan.") from None
        if pending is None:
            outcome = await self._redis.get(self._keys.approval_outcome(approval_id))
            if outcome:
                raise ApprovalRefused(f"approval {approval_id} {outcome}; nothing more was run")
            raise ApprovalRefused(
                f"approval {approval_id} is unknown, already decided, or expired; nothing was run. "
                "Ask again to get a fresh plan."
            )
        if utcnow() >= pending.expires_at:
            expired = f"expired at {pending.expires_at:%H:%M:%S} UTC"
            await self._forget(pending, expired)
            raise ApprovalRefused(f"approval {approval_id} {expired}; nothing was run. "
                                  "Ask again to get a fresh plan.")
        if not pending.verifies(self._trusted):
            await self._forget(pending, "was refused because its record had been altered; nothing ran")
            raise ApprovalTampered(f"approval record {approval_id} was altered; nothing ran. "
                                   "Ask again to get a fresh plan.")
        if not decider.verified:
            raise ApprovalRefused(f"a decision on {approval_id} must come through the gateway from an "
                                  "authenticated person; this one carries no identity, so nothing ran")
        if not pending.may_decide(user, decider.roles, decision):
            if not decider.may("approver"):
                raise ApprovalRefused(f"{decider.describe()} may not decide approvals (it takes the approver "
                                      f"role); {approval_id} still waits and nothing ran")
            if pending.profile.two_person and user == pending.requested_by:
                raise ApprovalRefused(f"{user} asked for this, so cannot be one of the two approvers that "
                                      f"profile “{pending.profile.name}” needs; {approval_id} still waits")
            allowed = ", ".join(pending.approvers)
            raise ApprovalRefused(f"{user} may not decide approval {approval_id}; allowed: {allowed}")
        # Defence in depth: the stored record must still hash to what was shown and approved.
        if hash_plan(pending.plan) != pending.plan_hash:
            await self._forget(pending, "was refused because its stored plan no longer matches its hash")
            raise ApprovalRefused(f"the plan of approval {approval_id} changed since it was drafted; "
                                  "ask again to re-draft it")
        if decision == "approve" and pending.profile.two_person and not pending.approved_by:
            pending.approved_by.append(user)
            pending = sign_model(pending, self._key)
            ttl = max(1, int((pending.expires_at - utcnow()).total_seconds())) + EXPIRED_GRACE_SECONDS
            # Only the first approval of a fresh entry records: a concurrent first approval loses.
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._keys.approval(approval_id), pending.model_dump_json(), ex=ttl, xx=True)
                await pipe.execute()
            raise NeedsSecondApprover(pending)
        if decision == "approve" and pending.profile.two_person and user in pending.approved_by:
            raise ApprovalRefused(f"{user} already approved {approval_id}; profile “{pending.profile.name}” "
                                  "needs a second, different person")
        # Whoever deletes the key owns the decision: a replayed decision finds nothing to delete.
        if not await self._redis.delete(self._keys.approval(approval_id)):
            raise ApprovalRefused(f"approval {approval_id} was already decided; nothing more was run")
        verb = "approved" if decision == "approve" else "rejected"
        await self._forget(pending, f"was already decided ({verb} by {user} at {utcnow():%H:%M:%S} UTC)")
        return pending

    async def pending_for(self, conversation_id: str) -> list[str]:
        return sorted(await self._redis.smembers(self._keys.conversation_approvals(conversation_id)))

    async def _forget(self, pending: PendingApproval, outcome: str) -> None:
        """Remove a pending approval, remembering for a day what became of it (for a clear refusal)."""
        await self._redis.set(self._keys.approval_outcome(pending.approval_id), outcome, ex=OUTCOME_TTL_SECONDS)
        await self._redis.delete(self._keys.approval(pending.approval_id))
        await self._redis.srem(self._keys.conversation_approvals(pending.plan.conversation_id),
                               pending.approval_id)
        await self._redis.zrem(self._keys.pending_approvals(), pending.approval_id)
        if is_build(pending.plan) and pending.plan.cluster:
            lock = self._keys.build_lock(pending.plan.cluster)
            if await self._redis.get(lock) == pending.approval_id:
                await self._redis.delete(lock)
