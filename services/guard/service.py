"""The guard's handlers: plans become signed orders, approval requests or refusals."""

from __future__ import annotations

from datetime import timedelta

from hermes import subjects
from hermes.catalog import display
from hermes.contracts import (
    ApprovalDecision,
    ApprovalPrompt,
    AuditRecord,
    ExecutionOrder,
    OrderStep,
    Plan,
    Reply,
    utcnow,
)
from hermes.profiles import DEFAULT_PROFILE, Profile
from hermes.runtime import ServiceRuntime
from hermes.signing import sign_order
from hermes_guard import policy
from hermes_guard.approvals import ApprovalRefused, ApprovalStore, hash_plan


class Guard:
    """Applies the active profile to every plan; the only signer of execution orders."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.rt = runtime
        self._key = runtime.settings.require_signing_key()

    @property
    def approvals(self) -> ApprovalStore:
        return ApprovalStore(self.rt.redis, self.rt.keys, self.rt.settings.approval_ttl_seconds)

    async def profile_for(self, conversation_id: str) -> Profile:
        """The conversation's active profile (the default until someone switches)."""
        return DEFAULT_PROFILE

    async def handle_plan(self, plan: Plan) -> None:
        profile = await self.profile_for(plan.conversation_id)
        decision = policy.decide(plan, profile)
        self.rt.log.info("plan decided", plan_id=plan.id, verdict=decision.verdict.value,
                         profile=profile.name, reasons=decision.reasons)
        audit = {"conversation_id": plan.conversation_id, "correlation_id": plan.correlation_id,
                 "record_id": f"audit-{plan.id}", "plan": plan, "profile": profile.name}
        if decision.verdict is policy.Verdict.REFUSE:
            text = "I won't run this plan:\n" + "\n".join(f"- {r}" for r in decision.reasons)
            await self.audit("plan.refused", **audit, reason="; ".join(decision.reasons))
            await self._reply(plan.conversation_id, plan.correlation_id, text, kind="error",
                              final=True, reply_id=f"guard-{plan.id}")
            return
        if decision.verdict is policy.Verdict.APPROVAL:
            pending = await self.approvals.create(plan, profile, decision.reasons)
            prompt = ApprovalPrompt(
                approval_id=pending.approval_id,
                plan_hash=pending.plan_hash,
                summary=plan.summary or plan.intent,
                steps=[step.argv for step in plan.steps],
                risks=decision.reasons,
                expires_at=pending.expires_at,
                approvers=pending.approvers,
            )
            commands = "\n".join(f"  {display(step.argv)}" for step in plan.steps)
            text = (f"Approval needed ({pending.approval_id}) under profile “{profile.name}”:\n{commands}\n"
                    + "\n".join(f"- {r}" for r in decision.reasons)
                    + f"\nApprove or reject: reply y/n, or `approve {pending.approval_id}`.")
            reply = Reply(conversation_id=plan.conversation_id, correlation_id=plan.correlation_id,
                          kind="approval", text=text, final=True, approval=prompt, source="guard",
                          id=f"guard-{plan.id}")
            await self.audit("plan.approval_requested", **audit, reason="; ".join(decision.reasons))
            await self.rt.publish(reply, subjects.REPLY_CREATED)
            return
        await self.audit("plan.run", **audit)
        await self._dispatch(plan, decision, approved_by=[], correlation_id=plan.correlation_id)

    async def handle_decision(self, decision: ApprovalDecision) -> None:
        try:
            pending = await self.approvals.resolve(decision.approval_id, decision.user)
        except ApprovalRefused as err:
            self.rt.log.warning("approval refused", approval_id=decision.approval_id, reason=str(err))
            await self.audit("approval.refused", conversation_id=decision.conversation_id,
                             correlation_id=decision.correlation_id, record_id=f"audit-{decision.id}",
                             requested_by=decision.user, reason=str(err))
            await self._reply(decision.conversation_id, decision.correlation_id, str(err), kind="error",
                              final=True, reply_id=f"guard-{decision.id}")
            return
        plan = pending.plan
        audit = {"conversation_id": plan.conversation_id, "correlation_id": decision.correlation_id,
                 "record_id": f"audit-{decision.id}", "plan": plan, "profile": pending.profile.name}
        if decision.decision == "reject":
            await self.audit("approval.rejected", **audit, approved_by=[decision.user])
            await self._reply(plan.conversation_id, decision.correlation_id,
                              f"Rejected by {decision.user}. Nothing was run.", kind="answer",
                              final=True, reply_id=f"guard-{decision.id}")
            return
        # Decided again under the profile it was drafted under, so switching to a looser profile
        # meanwhile loosens nothing, and approval covers exactly the commands that were shown.
        verdict = policy.decide(plan, pending.profile)
        if verdict.verdict is policy.Verdict.REFUSE:
            await self.audit("approval.refused", **audit, reason="; ".join(verdict.reasons))
            await self._reply(plan.conversation_id, decision.correlation_id,
                              "I won't run this plan:\n" + "\n".join(f"- {r}" for r in verdict.reasons),
                              kind="error", final=True, reply_id=f"guard-{decision.id}")
            return
        await self.audit("approval.approved", **audit, approved_by=[decision.user])
        await self._reply(plan.conversation_id, decision.correlation_id,
                          f"Approved by {decision.user}. Running {len(plan.steps)} step(s)...",
                          kind="progress", final=False, reply_id=f"guard-{decision.id}-ack")
        await self._dispatch(plan, verdict, approved_by=[decision.user], correlation_id=decision.correlation_id)

    async def _dispatch(self, plan: Plan, decision: policy.Decision, approved_by: list[str],
                        correlation_id: str) -> None:
        steps = []
        for item in decision.steps:
            assert item.command is not None  # a refused step never reaches dispatch
            steps.append(OrderStep(
                step_id=item.step.step_id,
                argv=item.step.argv,
                title=item.step.title,
                risk=item.command.risk.value,
                command=item.command.key,
                confirmed=bool(approved_by) and item.command.spec.prompts,
            ))
        order = ExecutionOrder(
            id=f"order-{plan.id}" if not approved_by else f"order-{plan.id}-approved",
            conversation_id=plan.conversation_id,
            correlation_id=correlation_id,
            plan_id=plan.id,
            steps=steps,
            requested_by=plan.requested_by,
            approved_by=approved_by,
            intent=plan.intent,
            files=plan.files,
            expires_at=utcnow() + timedelta(seconds=self.rt.settings.order_ttl_seconds),
        )
        signed = sign_order(order, self._key)
        self.rt.log.info("order issued", order_id=signed.id, steps=[s.argv for s in steps])
        await self.rt.publish(signed, subjects.EXEC_ORDER)

    async def audit(self, event: str, *, conversation_id: str, correlation_id: str, record_id: str,
                    plan: Plan | None = None, profile: str | None = None, **fields: object) -> None:
        """Append one decision to the audit stream (deduplicated on `record_id`)."""
        record = AuditRecord(
            id=record_id, conversation_id=conversation_id, correlation_id=correlation_id, event=event,
            service="guard", profile=profile,
            requested_by=plan.requested_by if plan else fields.pop("requested_by", None),
            plan_id=plan.id if plan else None, plan_hash=hash_plan(plan) if plan else None,
            cluster=plan.cluster if plan else None,
            commands=[step.argv for step in plan.steps] if plan else [],
            **fields,
        )
        await self.rt.publish(record, subjects.AUDIT)

    async def _reply(self, conversation_id: str, correlation_id: str, text: str, *, kind: str,
                     final: bool, reply_id: str) -> None:
        reply = Reply(conversation_id=conversation_id, correlation_id=correlation_id, kind=kind,
                      text=self.rt.redactor.text(text), final=final, source="guard", id=reply_id)
        await self.rt.publish(reply, subjects.REPLY_CREATED)
