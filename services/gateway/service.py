"""The gateway's bus side: replies from the other services into conversation logs."""

from __future__ import annotations

import functools

from hermes.contracts import Reply, utcnow
from hermes.runtime import ServiceRuntime
from hermes.stores.approvals import ApprovalView
from hermes_gateway.conversations import ConversationLog
from hermes_gateway.http_api import WAIT_LIMITS
from hermes_gateway.hub import ChannelHub


class Gateway:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.rt = runtime
        self.hub: ChannelHub | None = None  # the chat platforms, when any is configured
        self._trusted = runtime.settings.trusted("guard")

    @functools.cached_property
    def approvals(self) -> ApprovalView:
        """The guard's approval records, read-only and checked against the guard's signature."""
        return ApprovalView(self.rt.redis, self.rt.keys, self._trusted)

    @functools.cached_property
    def conversations(self) -> ConversationLog:
        """Made once, after start-up (it registers its Lua script with Redis). Long polls and event streams
        read through a pool of their own, as large as the HTTP API admits of them at once, so they never
        take the connections that posting a message or recording a reply needs."""
        return ConversationLog(self.rt.redis, self.rt.keys, self.rt.waiting_client(WAIT_LIMITS.connections))

    async def handle_reply(self, reply: Reply) -> None:
        """Record a reply in its conversation, once; drop it if it outlived its time-to-live."""
        if reply.expires_at is not None and utcnow() > reply.expires_at:
            self.rt.log.warning("reply dropped: older than its time-to-live", reply_id=reply.id,
                                expires_at=reply.expires_at.isoformat())
            return
        # Everything a person will see, blocks and approval prompt included, whoever wrote it.
        redacted = Reply.model_validate(self.rt.redactor.data(reply.model_dump(mode="json")))
        cursor = await self.conversations.append_reply(redacted)
        self.rt.log.info("reply recorded" if cursor else "duplicate reply ignored", reply_id=reply.id,
                         kind=reply.kind, final=reply.final)
        # Also for a duplicate: a gateway killed after recording but before queueing the delivery gets
        # the reply again, and the delivery is queued now (the outbox sends each reply once).
        if self.hub is not None and self.hub.adapters:
            await self.hub.request_delivery(redacted)

    async def approval_conversation(self, approval_id: str) -> tuple[str | None, str | None]:
        """(conversation id, None) of a pending approval, or (None, why it cannot be decided)."""
        pending = await self.approvals.get(approval_id)
        if pending is not None:
            if pending.expires_at > utcnow():
                return pending.plan.conversation_id, None
            return None, f"approval {approval_id} expired at {pending.expires_at:%H:%M:%S} UTC; nothing was run"
        outcome = await self.approvals.outcome(approval_id)
        if outcome:
            return None, f"approval {approval_id} {outcome}"
        return None, None
