"""Guard service wiring: subscribers only; the work is in `service.Guard`."""

from __future__ import annotations

from faststream import FastStream

from hermes import bus, subjects
from hermes.contracts import ApprovalDecision, Plan
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes_guard.service import Guard


def create_app(settings: Settings | None = None, *, configure_logging: bool = True) -> FastStream:
    """The guard: consumes proposed plans and approval decisions; publishes signed orders."""
    rt = ServiceRuntime("guard", settings, configure_logging=configure_logging)
    guard = Guard(rt)

    @rt.broker.subscriber(subjects.PLAN_PROPOSED, stream=bus.jstream(subjects.PLAN_STREAM),
                          durable=subjects.GUARD_PLANS_DURABLE, pull_sub=bus.pull(),
                          ack_policy=bus.ACK_AFTER_HANDLING, title="guard: proposed plans")
    async def on_plan(plan: Plan) -> None:
        await guard.handle_plan(plan)

    @rt.broker.subscriber(subjects.APPROVAL_DECIDED, stream=bus.jstream(subjects.PLAN_STREAM),
                          durable=subjects.GUARD_APPROVALS_DURABLE, pull_sub=bus.pull(),
                          ack_policy=bus.ACK_AFTER_HANDLING, title="guard: approval decisions")
    async def on_decision(decision: ApprovalDecision) -> None:
        await guard.handle_decision(decision)

    return rt.app()
