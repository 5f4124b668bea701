"""Guard service wiring: subscribers only; the work is in `service.Guard`."""

from __future__ import annotations

from faststream import FastStream
from hermes import bus, subjects
from hermes.contracts import ApprovalDecision, Plan, ProfileSwitch
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes_guard.rulebook import Rulebook
from hermes_guard.service import Guard


def create_app(settings: Settings | None = None, *, configure_logging: bool = True) -> FastStream:
    """The guard: consumes proposed plans, approval decisions and profile switches; publishes signed orders."""
    rt = ServiceRuntime("guard", settings, configure_logging=configure_logging)
    rulebook = Rulebook.load()
    rt.add_secrets(rulebook.secret_values())
    guard = Guard(rt, rulebook)
    plans = bus.jstream(subjects.PLAN_STREAM)

    @rt.broker.subscriber(subjects.PLAN_PROPOSED, stream=plans, durable=subjects.GUARD_PLANS_DURABLE,
                          pull_sub=bus.pull(), ack_policy=bus.ACK_AFTER_HANDLING, title="guard: proposed plans")
    async def on_plan(plan: Plan) -> None:
        await guard.handle_plan(plan)

    @rt.broker.subscriber(subjects.APPROVAL_DECIDED, stream=plans, durable=subjects.GUARD_APPROVALS_DURABLE,
                          pull_sub=bus.pull(), ack_policy=bus.ACK_AFTER_HANDLING,
                          title="guard: approval decisions")
    async def on_decision(decision: ApprovalDecision) -> None:
        await guard.handle_decision(decision)

    @rt.broker.subscriber(subjects.PROFILE_SWITCH, stream=plans, durable=subjects.GUARD_PROFILES_DURABLE,
                          pull_sub=bus.pull(), ack_policy=bus.ACK_AFTER_HANDLING, title="guard: profile switches")
    async def on_profile_switch(switch: ProfileSwitch) -> None:
        await guard.handle_profile_switch(switch)

    return rt.app()
