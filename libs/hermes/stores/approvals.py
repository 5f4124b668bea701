"""Pending approvals: the record the guard keeps in Redis, signed by the guard.

The guard owns and writes these keys (`hermes_guard.approvals.ApprovalStore`); the gateway and the
planner read them through `ApprovalView`. Every record carries the guard's Ed25519 signature over
everything that matters (the plan and so its argv, the plan hash, approvers, requester, expiry,
profile), so a record edited in Redis is refused rather than run.
"""

from __future__ import annotations

import json
from datetime import datetime

import redis.asyncio as aioredis
from pydantic import BaseModel, Field, ValidationError

from hermes.access import has_role
from hermes.contracts import Plan, new_id, utcnow
from hermes.keys import Keys
from hermes.profiles import Profile
from hermes.signing import TrustedKeys, model_verifies


class PendingApproval(BaseModel):
    approval_id: str = Field(default_factory=lambda: "apr-" + new_id()[:12])
    plan: Plan
    plan_hash: str
    profile: Profile = Field(description="the profile the plan was decided under")
    requested_by: str
    requester_roles: list[str] = Field(default_factory=list)
    platform_user: str | None = None
    approvers: list[str]
    reasons: list[str]
    approved_by: list[str] = Field(default_factory=list, description="approvals so far (two-person profiles)")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    signature: str = Field(default="", description="the guard's signature over the rest of the record")

    def verifies(self, keys: TrustedKeys) -> bool:
        return model_verifies(self, "guard", keys)

    def may_decide(self, user: str, roles: list[str] | tuple[str, ...], decision: str = "approve") -> bool:
        """Whether `user` with `roles` may take `decision` on this approval (not yet counting who
        approved already). The requester may always withdraw (reject) their own request."""
        if decision == "reject" and user == self.requested_by:
            return True
        if not has_role(roles, "approver"):
            return False
        if self.profile.two_person and user == self.requested_by:
            return False  # the requester never counts as one of the two
        return "*" in self.approvers or user in self.approvers


class ApprovalView:
    """Read-only access to the guard's approval records (gateway, planner)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, trusted: TrustedKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._trusted = trusted

    async def get(self, approval_id: str) -> PendingApproval | None:
        """The record, or None when there is none or it does not carry the guard's signature."""
        raw = await self._redis.get(self._keys.approval(approval_id))
        if not raw:
            return None
        try:
            pending = PendingApproval.model_validate_json(raw)
        except (ValidationError, json.JSONDecodeError):
            return None
        return pending if pending.verifies(self._trusted) else None

    async def outcome(self, approval_id: str) -> str | None:
        """What became of a decided, replaced or expired approval (kept a day)."""
        return await self._redis.get(self._keys.approval_outcome(approval_id))

    async def pending_ids(self, conversation_id: str) -> list[str]:
        return sorted(await self._redis.smembers(self._keys.conversation_approvals(conversation_id)))

    async def waiting_ids(self, conversation_id: str) -> list[str]:
        """The conversation's approvals whose records still exist (signed or not: a decision on an
        altered one goes to the guard, which refuses it and says so)."""
        return [i for i in await self.pending_ids(conversation_id) if await self._redis.exists(self._keys.approval(i))]

    async def pending(self, limit: int = 200) -> list[PendingApproval]:
        """Every approval still waiting, soonest expiry first."""
        now = utcnow().timestamp()
        ids = await self._redis.zrangebyscore(self._keys.pending_approvals(), now, "+inf", start=0, num=limit)
        out = []
        for approval_id in ids:
            pending = await self.get(approval_id)
            if pending is not None:
                out.append(pending)
        return out
