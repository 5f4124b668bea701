"""The gateway's bus side: replies from the other services into conversation logs."""

from __future__ import annotations

import functools
import json
from datetime import datetime

from hermes.contracts import Reply, utcnow
from hermes.runtime import ServiceRuntime
from hermes_gateway.conversations import ConversationLog


class Gateway:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.rt = runtime

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
