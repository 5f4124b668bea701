"""The guard's handlers: plans become signed orders, approval requests or refusals; approval
decisions and profile switches are checked and applied. The only signer of execution orders."""

from __future__ import annotations

from datetime import timedelta

from hermes import catalog, subjects
from hermes.access import IdentityInvalid, Principal, principal
from hermes.catalog import Risk, display
from hermes.contracts import (
    ApprovalDecision,
    ApprovalPrompt,
    AuditRecord,
    Block,
    CodeBlock,
    ExecutionOrder,
    OrderStep,
    Plan,
    ProfileSwitch,
    Reply,
    StepResult,
    TableBlock,
    utcnow,
)
from hermes.profiles import Profile, is_looser
from hermes.runtime import ServiceRuntime
from hermes.signing import sign_model, sign_order
from hermes.stores.ledger import LedgerView
from hermes.stores.profiles import ProfileStore
from hermes_guard import policy
from hermes_guard.approvals import (
    ApprovalRefused,
    ApprovalStore,
    ApprovalTampered,
    BuildLocked,
    NeedsSecondApprover,
    hash_plan,
)
from hermes_guard.rulebook import Rulebook


def draft_blocks(plan: Plan) -> list[Block]:
    """The drafted architecture and the bill of materials, whole, for the approval request."""
    blocks: list[Block] = []
    if plan.architecture is not None:
        blocks.append(CodeBlock(text=plan.architecture.tree, language="text"))
    bom = plan.bill_of_materials
    if bom is not None:
        rows = [[line.component, line.chart, line.version, str(line.replicas),
                 f"{line.storage_gi:g}Gi" if line.storage_gi else "-",
                 f"{line.cpu_request_m / 1000:g} vCPU / {line.memory_request_mi}Mi" if line.cpu_request_m else "-",
                 f"{line.monthly_cost_estimate:.2f}"] for line in bom.lines]
        rows.append(["Total", "", "", "", f"{bom.total_storage_gi:g}Gi",
                     f"{bom.total_cpu_request_m / 1000:g} vCPU / {bom.total_memory_request_mi}Mi",
                     f"{bom.monthly_cost_estimate:.2f}"])
        blocks.append(TableBlock(
            title=f"Bill of materials — estimated {bom.currency}/month on {bom.provider or 'the cluster'} "
                  f"({bom.estimate_note})",
            columns=["Component", "Chart", "Version", "Replicas", "Storage", "Requests", f"{bom.currency}/mo"],
            rows=rows))
    return blocks


class Guard:
    """Applies the conversation's profile to every plan."""

    def __init__(self, runtime: ServiceRuntime, rulebook: Rulebook) -> None:
        self.rt = runtime
        self.rules = rulebook
        self._key = runtime.settings.require_service_key("guard")
        self._trusted = runtime.settings.trusted("gateway", "guard")
        self._bus_roles = tuple(runtime.settings.bus_roles)

    @property
    def approvals(self) -> ApprovalStore:
        return ApprovalStore(self.rt.redis, self.rt.keys, self.rt.settings.approval_ttl_seconds, self._key,
                             self._trusted)

    def _principal(self, identity, message_ids: set[str], conversation_id: str, claimed: str) -> Principal:
        return principal(identity, self._trusted, message_ids=message_ids, conversation_id=conversation_id,
                         bus_roles=self._bus_roles, claimed=claimed)

    async def active_profile_name(self, conversation_id: str) -> str:
        return await ProfileStore(self.rt.redis, self.rt.keys).active(conversation_id) or self.rules.config.default_profile

    async def profile_for(self, conversation_id: str, cluster: str | None) -> Profile:
        """The profile a plan runs under (never looser than its cluster's pinned minimum)."""
        return self.rules.effective(await self.active_profile_name(conversation_id), cluster)

    async def _observed(self, plan: Plan) -> dict[str, StepResult]:
        """For steps that depend on an earlier read, that read's result as the executor recorded it —
        not as the planner describes it."""
        observed: dict[str, StepResult] = {}
        for step in plan.steps:
            ref = step.observed_from
            if ref is None:
                continue
            result = await LedgerView(self.rt.redis, self.rt.keys).result(ref.order_id, ref.step_id)
            if result is not None:
                observed[step.step_id] = result
        return observed

    # -- plans --------------------------------------------------------------------------------
    async def handle_plan(self, plan: Plan) -> None:
        self.rules.refresh()
        profile = await self.profile_for(plan.conversation_id, plan.cluster)
        audit = {"conversation_id": plan.conversation_id, "correlation_id": plan.correlation_id,
                 "record_id": f"audit-{plan.id}", "plan": plan, "profile": profile.name}
        try:
            requester = self._principal(plan.identity, {plan.message_id, plan.correlation_id},
                                        plan.conversation_id, plan.requested_by)
        except IdentityInvalid as err:
            await self.audit("plan.refused", **audit, reason=str(err))
            await self._refuse(plan.conversation_id, plan.correlation_id, [f"{err}; nothing ran"], f"guard-{plan.id}")
            return
        plan = plan.model_copy(update={"requested_by": requester.user})
        audit.update(plan=plan, platform_user=requester.platform_user)
        decision = policy.decide(plan, profile, self.rules.allowed_commands(profile), await self._observed(plan))
        self.rt.log.info("plan decided", plan_id=plan.id, verdict=decision.verdict.value,
                         profile=profile.name, reasons=decision.reasons, requester=requester.user)
        changes = [s for s in decision.steps
                   if s.command is not None and (s.step.removes or not _is_read(s.command))]
        if decision.verdict is not policy.Verdict.REFUSE and changes and not requester.may("operator"):
            shown = ", ".join(f"`{display(s.step.argv)}`" for s in changes)
            reason = (f"{requester.describe()} may run read-only commands only, and {shown} changes something; "
                      "ask someone with the operator role (an admin adds roles with `hermes users`)")
            await self.audit("plan.refused", **audit, reason=reason)
            await self._refuse(plan.conversation_id, plan.correlation_id, [reason], f"guard-{plan.id}")
            return
        if decision.verdict is policy.Verdict.REFUSE:
            await self.audit("plan.refused", **audit, reason="; ".join(decision.reasons))
            await self._refuse(plan.conversation_id, plan.correlation_id, decision.reasons, f"guard-{plan.id}")
            return
        if decision.verdict is policy.Verdict.APPROVAL:
            await self._ask(plan, profile, decision, audit, requester)
            return
        await self.audit("plan.run", **audit)
        await self._dispatch(plan, decision, approved_by=[], correlation_id=plan.correlation_id)

    async def _ask(self, plan: Plan, profile: Profile, decision: policy.Decision, audit: dict,
                   requester: Principal) -> None:
        # Named approvers, else anyone holding the approver role ("*"); two-person: two of them.
        approvers = profile.approvers or self.rules.config.approvers or ["*"]
        try:
            pending, voided = await self.approvals.create(plan, profile, decision.reasons, approvers, requester)
        except BuildLocked as locked:
            await self.audit("plan.refused", **audit, reason=str(locked))
            await self._reply(plan.conversation_id, plan.correlation_id, f"Not now: {locked}.", kind="error",
                              final=True, reply_id=f"guard-{plan.id}")
            return
        commands = "\n".join(f"  {display(step.argv)}" for step in plan.steps)
        lines = [plan.summary or plan.intent, "",
                 f"Approval {pending.approval_id} (profile “{profile.name}”) — these commands will run:",
                 commands]
        lines += [f"- {reason}" for reason in decision.reasons]
        if voided:
            lines.append(f"(This replaces {', '.join(voided)}, which is void.)")
        lines.append(f"Reply y or n, or `approve {pending.approval_id}` / `reject {pending.approval_id}`; "
                     f"it expires at {pending.expires_at:%H:%M} UTC.")
        prompt = ApprovalPrompt(approval_id=pending.approval_id, plan_hash=pending.plan_hash,
                                summary=plan.summary or plan.intent, steps=[s.argv for s in plan.steps],
                                risks=decision.reasons, expires_at=pending.expires_at, approvers=pending.approvers)
        reply = Reply(conversation_id=plan.conversation_id, correlation_id=plan.correlation_id, kind="approval",
                      text=self.rt.redactor.text("\n".join(lines)), blocks=draft_blocks(plan), final=True,
                      approval=prompt, source="guard", id=f"guard-{plan.id}")
        await self.audit("plan.approval_requested", **audit, reason="; ".join(decision.reasons))
        await self.rt.publish(reply, subjects.REPLY_CREATED)

    # -- decisions ----------------------------------------------------------------------------
    async def handle_decision(self, decision: ApprovalDecision) -> None:
        refused = {"conversation_id": decision.conversation_id, "correlation_id": decision.correlation_id,
                   "record_id": f"audit-{decision.id}", "requested_by": decision.user}
        try:
            decider = self._principal(decision.identity, {decision.id}, decision.conversation_id, decision.user)
            pending = await self.approvals.resolve(decision.approval_id, decider, decision.decision)
        except IdentityInvalid as err:
            self.rt.log.warning("decision refused: identity", approval_id=decision.approval_id, reason=str(err))
            await self.audit("approval.refused", **refused, reason=str(err))
            await self._reply(decision.conversation_id, decision.correlation_id, f"{err}; nothing ran.",
                              kind="error", final=True, reply_id=f"guard-{decision.id}")
            return
        except ApprovalTampered as err:
            self.rt.log.error("approval record altered", approval_id=decision.approval_id)
            await self.audit("approval.tampered", **refused, reason=str(err))
            await self._reply(decision.conversation_id, decision.correlation_id, str(err), kind="error",
                              final=True, reply_id=f"guard-{decision.id}")
            return
        except NeedsSecondApprover as waiting:
            await self._reply(decision.conversation_id, decision.correlation_id, f"{waiting}.", kind="answer",
                              final=True, reply_id=f"guard-{decision.id}")
            return
        except ApprovalRefused as err:
            self.rt.log.warning("approval refused", approval_id=decision.approval_id, reason=str(err))
            await self.audit("approval.refused", **refused, reason=str(err))
            await self._reply(decision.conversation_id, decision.correlation_id, str(err), kind="error",
                              final=True, reply_id=f"guard-{decision.id}")
            return
        plan = pending.plan.model_copy(update={"requested_by": pending.requested_by})
        audit = {"conversation_id": plan.conversation_id, "correlation_id": decision.correlation_id,
                 "record_id": f"audit-{decision.id}", "plan": plan, "profile": pending.profile.name,
                 "platform_user": pending.platform_user}
        if decision.decision == "reject":
            await self.audit("approval.rejected", **audit, approved_by=[decider.user])
            for cid in dict.fromkeys([plan.conversation_id, decision.conversation_id]):
                await self._reply(cid, decision.correlation_id, f"Rejected by {decider.user}. Nothing was run.",
                                  kind="answer", final=True, reply_id=f"guard-{decision.id}-{cid}")
            return
        # Decided again under the profile it was drafted under, so switching to a looser profile
        # meanwhile loosens nothing, and approval covers exactly the commands that were shown.
        verdict = policy.decide(plan, pending.profile, self.rules.allowed_commands(pending.profile),
                                await self._observed(plan))
        if verdict.verdict is policy.Verdict.REFUSE:
            await self.audit("approval.refused", **audit, reason="; ".join(verdict.reasons))
            await self._refuse(decision.conversation_id, decision.correlation_id, verdict.reasons,
                               f"guard-{decision.id}")
            return
        approvers = [*pending.approved_by, decider.user]
        await self.audit("approval.approved", **audit, approved_by=approvers)
        await self._reply(plan.conversation_id, decision.correlation_id,
                          f"Approved by {' and '.join(approvers)}. Running {len(plan.steps)} step(s)...",
                          kind="progress", final=False, reply_id=f"guard-{decision.id}-ack")
        if decision.conversation_id != plan.conversation_id:  # typed in another conversation: answer there too
            await self._reply(decision.conversation_id, decision.correlation_id,
                              f"Approved {decision.approval_id}; it runs now, and its progress and result show "
                              "in the conversation that asked for it.", kind="answer", final=True,
                              reply_id=f"guard-{decision.id}-elsewhere")
        await self._dispatch(plan, verdict, approved_by=approvers, correlation_id=decision.correlation_id)

    # -- profiles -----------------------------------------------------------------------------
    async def handle_profile_switch(self, switch: ProfileSwitch) -> None:
        record = {"conversation_id": switch.conversation_id, "correlation_id": switch.correlation_id,
                  "record_id": f"audit-{switch.id}", "requested_by": switch.user}
        try:
            who = self._principal(switch.identity, {switch.correlation_id}, switch.conversation_id, switch.user)
        except IdentityInvalid as err:
            await self.audit("profile.refused", **record, profile=switch.profile, reason=str(err))
            await self._reply(switch.conversation_id, switch.correlation_id, f"{err}; the profile stays.",
                              kind="error", final=True, reply_id=f"guard-{switch.id}")
            return
        record.update(requested_by=who.user, platform_user=who.platform_user)
        if not self.rules.has_profile(switch.profile):
            known = ", ".join(self.rules.profile_names)
            await self.audit("profile.refused", **record, profile=switch.profile, reason="unknown profile")
            await self._reply(switch.conversation_id, switch.correlation_id,
                              f"There is no profile “{switch.profile}”. Known profiles: {known}.",
                              kind="error", final=True, reply_id=f"guard-{switch.id}")
            return
        current = self.rules.effective(await self.active_profile_name(switch.conversation_id), None)
        profile = self.rules.effective(switch.profile, None)
        if is_looser(profile, current) and not any(who.may(role) for role in profile.switchable_by):
            needed = " or ".join(profile.switchable_by)
            reason = (f"{who.describe()} may not loosen the profile from “{current.name}” to “{profile.name}”: "
                      f"that takes the {needed} role. Moving to a stricter profile is always allowed.")
            await self.audit("profile.refused", **record, profile=switch.profile, reason=reason)
            await self._reply(switch.conversation_id, switch.correlation_id, reason, kind="error", final=True,
                              reply_id=f"guard-{switch.id}")
            return
        await ProfileStore(self.rt.redis, self.rt.keys).set_active(switch.conversation_id, switch.profile)
        await self.audit("profile.switched", **record, profile=switch.profile)
        await self._reply(switch.conversation_id, switch.correlation_id, policy.describe(profile),
                          kind="answer", final=True, reply_id=f"guard-{switch.id}")

    # -- orders -------------------------------------------------------------------------------
    async def _dispatch(self, plan: Plan, decision: policy.Decision, approved_by: list[str],
                        correlation_id: str) -> None:
        steps = []
        for item in decision.steps:
            assert item.command is not None  # a refused step never reaches dispatch
            steps.append(OrderStep(
                step_id=item.step.step_id, argv=item.step.argv, title=item.step.title,
                risk=policy.effective_risk(item.step, item.command).value, command=item.command.key,
                confirmed=bool(approved_by) and item.command.spec.prompts,
            ))
        order = ExecutionOrder(
            id=f"order-{plan.id}" if not approved_by else f"order-{plan.id}-approved",
            conversation_id=plan.conversation_id, correlation_id=correlation_id, plan_id=plan.id,
            steps=steps, requested_by=plan.requested_by, approved_by=approved_by, intent=plan.intent,
            files=plan.files, expires_at=utcnow() + timedelta(seconds=self.rt.settings.order_ttl_seconds),
        )
        signed = sign_order(order, self._key)
        self.rt.log.info("order issued", order_id=signed.id, steps=[s.argv for s in steps])
        await self.rt.publish(signed, subjects.EXEC_ORDER)

    # -- output -------------------------------------------------------------------------------
    async def audit(self, event: str, *, conversation_id: str, correlation_id: str, record_id: str,
                    plan: Plan | None = None, profile: str | None = None, **fields: object) -> None:
        """Append one decision to the audit stream (deduplicated on `record_id`)."""
        requested_by = fields.pop("requested_by", None)
        record = AuditRecord(
            id=record_id, conversation_id=conversation_id, correlation_id=correlation_id, event=event,
            service="guard", profile=profile,
            requested_by=plan.requested_by if plan else requested_by,
            plan_id=plan.id if plan else None, plan_hash=hash_plan(plan) if plan else None,
            cluster=plan.cluster if plan else None,
            commands=[step.argv for step in plan.steps] if plan else [],
            **fields,
        )
        await self.rt.publish(sign_model(record, self._key), subjects.audit_subject("guard"))

    async def _refuse(self, conversation_id: str, correlation_id: str, reasons: list[str], reply_id: str) -> None:
        text = "I won't run this plan:\n" + "\n".join(f"- {r}" for r in reasons)
        await self._reply(conversation_id, correlation_id, text, kind="error", final=True, reply_id=reply_id)

    async def _reply(self, conversation_id: str, correlation_id: str, text: str, *, kind: str,
                     final: bool, reply_id: str) -> None:
        reply = Reply(conversation_id=conversation_id, correlation_id=correlation_id, kind=kind,
                      text=self.rt.redactor.text(text), final=final, source="guard", id=reply_id)
        await self.rt.publish(reply, subjects.REPLY_CREATED)


def _is_read(command: catalog.ParsedCommand) -> bool:
    """A command a viewer may run: a read, or a secret-bearing command that changes nothing."""
    return command.risk is Risk.READ or (command.risk is Risk.SECRET and not command.spec.mutates)
