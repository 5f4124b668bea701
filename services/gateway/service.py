"""The gateway's bus side: replies from the other services into conversation logs."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from hermes.contracts import Reply, utcnow
from hermes.runtime import ServiceRuntime
from hermes_gateway.conversations import ConversationLog
from hermes_gateway.hub import ChannelHub


class Gateway:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.rt = runtime
        self.hub: ChannelHub | None = None  # the chat platforms, when any is configured

    @functools.cached_property
    def conversations(self) -> ConversationLog:
        """Made once, after start-up (it registers its Lua script with Redis)."""
        return ConversationLog(self.rt.redis, self.rt.keys)

    async def handle_reply(self, reply: Reply) -> None:
        """Record a reply in its conversation, once; drop it if it outlived its time-to-live."""
        if reply.expires_at is not None and utcnow() > reply.expires_at:
            self.rt.log.warning("reply dropped: older than its time-to-live", reply_id=reply.id,
                                expires_at=reply.expires_at.isoformat())
            return
        redacted = reply.model_copy(update={"text": self.rt.redactor.text(reply.text)})
        cursor = await self.conversations.append_reply(redacted)
        self.rt.log.info("reply recorded" if cursor else "duplicate reply ignored", reply_id=reply.id,
                         kind=reply.kind, final=reply.final)
        # Also for a duplicate: a gateway killed after recording but before queueing the delivery gets
        # the reply again, and the delivery is queued now (the outbox sends each reply once).
        if self.hub is not None and self.hub.adapters:
            await self.hub.request_delivery(redacted)

    async def approval_conversation(self, approval_id: str) -> tuple[str | None, str | None]:
        """(conversation id, None) of a pending approval, or (None, why it cannot be decided)."""
        raw = await self.rt.redis.get(self.rt.keys.approval(approval_id))
        if raw:
            pending = json.loads(raw)
            expires = datetime.fromisoformat(pending["expires_at"])
            if expires > utcnow():
                return pending.get("plan", {}).get("conversation_id"), None
            return None, f"approval {approval_id} expired at {expires:%H:%M:%S} UTC; nothing was run"
        outcome = await self.rt.redis.get(self.rt.keys.approval_outcome(approval_id))
        if outcome:
            return None, f"approval {approval_id} {outcome}"
        return None, None

    async def pending_approvals(self, limit: int = 200) -> list[dict[str, Any]]:
        """Every approval still waiting for a decision, soonest expiry first (what the guard indexed)."""
        index = self.rt.keys.pending_approvals()
        now = utcnow().timestamp()
        await self.rt.redis.zremrangebyscore(index, "-inf", now - 24 * 3600)  # long expired: forget
        ids = await self.rt.redis.zrangebyscore(index, now, "+inf", start=0, num=limit)
        if not ids:
            return []
        raws = await self.rt.redis.mget([self.rt.keys.approval(i) for i in ids])
        out: list[dict[str, Any]] = []
        for approval_id, raw in zip(ids, raws, strict=True):
            if not raw:
                continue
            pending = json.loads(raw)
            plan = pending.get("plan") or {}
            out.append({
                "approval_id": approval_id,
                "conversation_id": plan.get("conversation_id"),
                "summary": plan.get("summary") or plan.get("intent") or "",
                "cluster": plan.get("cluster"),
                "steps": [step.get("argv", []) for step in plan.get("steps") or []],
                "risks": pending.get("reasons") or [],
                "requested_by": pending.get("requested_by"),
                "approvers": pending.get("approvers") or [],
                "approved_by": pending.get("approved_by") or [],
                "profile": (pending.get("profile") or {}).get("name"),
                "created_at": pending.get("created_at"),
                "expires_at": pending.get("expires_at"),
            })
        return out
