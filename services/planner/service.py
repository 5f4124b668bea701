"""The planner's handlers: chat messages become plans or answers; results become replies."""

from __future__ import annotations

from hermes import subjects
from hermes.contracts import ChatMessage, ExecutionResult, Plan, Reply
from hermes.runtime import ServiceRuntime
from hermes_planner import rules
from hermes_planner.memory import ConversationMemory
from hermes_planner.render import render_result


class Planner:
    """Turns each chat message into exactly one outcome: a plan for the guard, or a final reply."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.rt = runtime

    @property
    def memory(self) -> ConversationMemory:
        return ConversationMemory(self.rt.redis, self.rt.keys, self.rt.redactor)

    async def handle_chat(self, message: ChatMessage) -> None:
        await self.memory.remember(message.conversation_id, "user", message.text, user=message.user)
        interpretation = rules.interpret(message.text)
        if isinstance(interpretation, rules.Answer):
            await self._reply(message.conversation_id, message.correlation_id, interpretation.text,
                              kind=interpretation.kind)
            return
        plan = Plan(
            conversation_id=message.conversation_id,
            correlation_id=message.correlation_id,
            message_id=message.id,
            requested_by=message.user,
            intent=interpretation.intent,
            steps=interpretation.steps,
            summary=interpretation.summary,
            cluster=interpretation.cluster,
        )
        self.rt.log.info("plan proposed", plan_id=plan.id, intent=plan.intent,
                         argv=[s.argv for s in plan.steps])
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    async def handle_result(self, result: ExecutionResult) -> None:
        text, blocks, failed = render_result(result)
        reply = Reply(
            conversation_id=result.conversation_id,
            correlation_id=result.correlation_id,
            kind="error" if failed else "answer",
            text=self.rt.redactor.text(text),
            blocks=self.rt.redactor.data([b.model_dump() for b in blocks]),
            final=True,
            source="planner",
            # One id per result: a redelivered result maps to the same reply, dropped as a duplicate.
            id=f"reply-{result.id}",
        )
        await self.rt.publish(reply, subjects.REPLY_CREATED)
        await self.memory.remember(result.conversation_id, "hermes", text, intent=result.intent,
                                   outcome=result.outcome)

    async def _reply(self, conversation_id: str, correlation_id: str, text: str, kind: str = "answer") -> None:
        reply = Reply(conversation_id=conversation_id, correlation_id=correlation_id,
                      kind=kind, text=self.rt.redactor.text(text), final=True, source="planner",
                      id=f"reply-{correlation_id}")
        await self.rt.publish(reply, subjects.REPLY_CREATED)
        await self.memory.remember(conversation_id, "hermes", text)
