"""What the gateway publishes for what a person says: a stamped `ChatMessage`, or — when the text
answers a pending approval ("y", "approve apr-…") — a stamped `ApprovalDecision`. Only the gateway
publishes decisions, because only it knows who is answering."""

from __future__ import annotations

from hermes import subjects
from hermes.access import Principal
from hermes.approval_answers import approval_answer
from hermes.contracts import ApprovalDecision, ChatMessage, Envelope
from hermes.redaction import Redactor
from hermes.stores.approvals import ApprovalView
from hermes_gateway.people import People


class Intake:
    def __init__(self, people: People, approvals: ApprovalView, redactor: Redactor | None = None) -> None:
        self.people = people
        self.approvals = approvals
        self._redactor = redactor

    def clean(self, text: str) -> str:
        """What a person typed, with any secret in it redacted: it goes to the bus, the conversation log,
        the planner's memory and maybe a model, none of which should ever hold a secret."""
        return self._redactor.text(text) if self._redactor is not None else text

    async def from_text(self, caller: Principal, conversation_id: str, text: str,
                        message_id: str) -> tuple[Envelope, str]:
        """The message to publish for `text`, and its subject."""
        answer = approval_answer(text)
        if answer is not None:
            approval_id = answer.approval_id
            if approval_id is None:
                waiting = await self.approvals.waiting_ids(conversation_id)
                approval_id = waiting[0] if len(waiting) == 1 else None
            if approval_id is not None:  # several waiting or none: the planner says which, or that none
                return await self.decision(caller, conversation_id, approval_id, answer.decision, message_id,
                                           where_typed=True)
        message = ChatMessage(id=message_id, conversation_id=conversation_id, correlation_id=message_id,
                              text=text, user=caller.user, channel=caller.channel,
                              identity=self.people.stamp(caller, message_id, conversation_id))
        return message, subjects.CHAT_RECEIVED

    async def decision(self, caller: Principal, conversation_id: str, approval_id: str, decision: str,
                       message_id: str, *, where_typed: bool = False) -> tuple[ApprovalDecision, str]:
        """A decision on `approval_id`: answered where it was typed (`where_typed`), else on the
        approval's own conversation (a button, the approvals API) while it is still waiting."""
        pending = None if where_typed else await self.approvals.get(approval_id)
        cid = pending.plan.conversation_id if pending is not None else conversation_id
        message = ApprovalDecision(id=message_id, conversation_id=cid, correlation_id=message_id,
                                   approval_id=approval_id, decision=decision, user=caller.user,
                                   channel=caller.channel, identity=self.people.stamp(caller, message_id, cid))
        return message, subjects.APPROVAL_DECIDED
