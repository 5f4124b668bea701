"""The executor's handler: verify an order, run its steps once, publish the result."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from hermes import catalog, subjects
from hermes.catalog import Risk
from hermes.contracts import (
    AuditRecord,
    Contract,
    Envelope,
    ExecutionOrder,
    ExecutionResult,
    OrderStep,
    Reply,
    StepResult,
    utcnow,
)
from hermes.runtime import ServiceRuntime
from hermes.signing import OrderRejected, TrustedKeys, sign_model, verify_order
from hermes.stores.ledger import Ledger
from hermes_executor.runner import (
    AnkraInvocation,
    RunsDirUnusable,
    SandboxLimits,
    adopt_step,
    become_subreaper,
    default_runs_dir,
    prepare_runs_dir,
    run_key,
    run_step,
)

Heartbeat = Callable[[], Awaitable[None]]
C = TypeVar("C", bound=Contract)
HEARTBEAT_SECONDS = 5.0  # default; app.py derives it from the consumer's ack wait (ack_wait / 3)
RUNS_DIR_ENV = "HERMES_EXEC_RUNS_DIR"
"""Where run directories are kept (default: a private folder in the temp directory). An executor that
takes over a dead one's order adopts the outcome its command left there, so replicas that should adopt each
other's runs share it: the same machine, or one volume."""


class Executor:
    """Runs signed orders from the shared work queue; one of possibly many replicas."""

    def __init__(self, runtime: ServiceRuntime, *, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.rt = runtime
        self.heartbeat_seconds = heartbeat_seconds
        s = runtime.settings
        self._trusted = s.trusted("guard")  # only the guard's public key: it cannot sign an order itself
        self._key = s.require_service_key("executor")  # signs its own audit records
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.invocation = AnkraInvocation(
            binary=s.ankra_bin,
            token=s.ankra_api_token.get_secret_value() if s.ankra_api_token else None,
            base_url=s.ankra_base_url,
        )
        try:
            runs_dir = prepare_runs_dir(os.environ.get(RUNS_DIR_ENV) or default_runs_dir())
        except (RunsDirUnusable, OSError) as err:
            raise RuntimeError(str(err) if isinstance(err, RunsDirUnusable) else
                               f"cannot use the executor's runs directory ({err}); set {RUNS_DIR_ENV} "
                               "to a directory this user can write") from None
        self.limits = SandboxLimits(timeout_seconds=s.exec_timeout_seconds,
                                    output_cap_bytes=s.exec_output_cap_bytes,
                                    bwrap=s.exec_bwrap, bwrap_writable=tuple(s.exec_bwrap_writable),
                                    runs_dir=runs_dir)
        become_subreaper()  # an `ankra` descendant that escapes its group is still ours to kill

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.rt.redis, self.rt.keys)

    async def handle_order(self, order: ExecutionOrder, deliveries: int, heartbeat: Heartbeat) -> None:
        """Run `order` unless it is forged, expired or replayed; publish exactly one result.

        Heartbeats ("in progress") go to JetStream all along, so the order stays with this executor however
        long it takes, and moves to another one ack wait after this one dies."""
        beating = asyncio.create_task(_beat(heartbeat, self.heartbeat_seconds))
        try:
            await self._handle(order, deliveries)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _handle(self, order: ExecutionOrder, deliveries: int) -> None:
        try:
            verify_order(order, self._trusted)
        except OrderRejected as err:
            if deliveries > 1 and _signed_but_expired(order, self._trusted) and await self.ledger.seen(order.id):
                # Accepted in time, then its executor died and the redelivery came too late: say
                # what is known of each step and run nothing more ("Nothing was run" would be false).
                await self._report_expired_takeover(order)
                return
            await self._refuse(order, str(err))
            return
        problem = _unrunnable_step(order)
        if problem:
            await self._refuse(order, problem)  # before anything runs, not halfway through the order
            return
        first_time = await self.ledger.accept_order(order.id)
        if not first_time and deliveries <= 1:
            await self._refuse(order, "this order was already accepted once; a replayed order never runs")
            return
        results: list[StepResult] = []
        for step in order.steps:
            result = await self._run_once(order, step)
            results.append(result)
            if result.outcome != "ok":
                break
        outcome = results[-1].outcome if results and results[-1].outcome != "ok" else "ok"
        await self._publish_result(order, results, outcome)
        await self._audit(order, "order.finished", outcome=outcome,
                          reason="; ".join(r.error for r in results if r.error) or None)

    async def _run_once(self, order: ExecutionOrder, step: OrderStep) -> StepResult:
        state, recorded = await self.ledger.state(order.id, step.step_id)
        if state == "finished" and recorded is not None:
            return recorded  # ran before this redelivery: report what it did, never run it again
        key = run_key(order.id, step.step_id)
        if state == "started":
            # Its executor died mid-step. The command's monitor records how it ended: adopt that (waiting
            # while it still runs here), never run it a second time.
            adopted = await adopt_step(step, self.limits, self.rt.redactor, key, order.files)
            if adopted is not None:
                await self.ledger.finished(order.id, step.step_id, self._clean(adopted))
                self.rt.log.warning("adopted the outcome of a step whose executor stopped", order_id=order.id,
                                    argv=step.argv, outcome=adopted.outcome, exit_code=adopted.exit_code)
                return adopted
            if _risk(step) is not Risk.READ:
                result = StepResult(
                    step_id=step.step_id, argv=step.argv, command=step.command, outcome="unknown",
                    error=("an executor stopped while this step was running and left no record of how it "
                           "ended, so it may or may not have taken effect; check its state before retrying "
                           "(Hermes never re-runs it by itself)"))
                await self.ledger.finished(order.id, step.step_id, self._clean(result))
                return result
        await self.ledger.started(order.id, step.step_id, self.name)
        await self._progress(order, step)
        result = await run_step(step, self.invocation, self.limits, self.rt.redactor, order.files, key=key)
        await self.ledger.finished(order.id, step.step_id, self._clean(result))
        self.rt.log.info("step finished", order_id=order.id, argv=step.argv, outcome=result.outcome,
                         exit_code=result.exit_code, duration_ms=result.duration_ms)
        return result

    async def _report_expired_takeover(self, order: ExecutionOrder) -> None:
        expired = order.expires_at.isoformat()
        results: list[StepResult] = []
        for step in order.steps:
            state, recorded = await self.ledger.state(order.id, step.step_id)
            if state == "finished" and recorded is not None:
                results.append(recorded)
                if recorded.outcome == "ok":
                    continue
                break
            base = {"step_id": step.step_id, "argv": step.argv, "command": step.command}
            adopted = None
            if state == "started":
                adopted = await adopt_step(step, self.limits, self.rt.redactor, run_key(order.id, step.step_id),
                                           order.files)
            if adopted is not None:
                await self.ledger.finished(order.id, step.step_id, self._clean(adopted))
                results.append(adopted)
                if adopted.outcome == "ok":
                    continue
                break
            if state == "started":
                result = StepResult(**base, outcome="unknown", error=(
                    "an executor stopped while this step was running and the order expired "
                    f"(at {expired}) before another executor took it over, so it may or may not have "
                    "taken effect; check its state before retrying (Hermes never re-runs it by itself)"))
                await self.ledger.finished(order.id, step.step_id, self._clean(result))
            else:
                result = StepResult(**base, outcome="refused", error=(
                    f"the order expired at {expired} before this step ran; it was not run"))
            results.append(result)
            break
        outcome = next((r.outcome for r in results if r.outcome != "ok"), "ok")
        self.rt.log.warning("expired order taken over after a crash", order_id=order.id, outcome=outcome)
        await self._publish_result(order, results, outcome)
        await self._audit(order, "order.finished", outcome=outcome,
                          reason="; ".join(r.error for r in results if r.error) or None)

    async def _publish(self, message: Envelope, subject: str) -> None:
        """Publish with every string redacted once more: command output is redacted by the runner,
        but an order's argv or a refusal's reason may quote a value nobody should see."""
        await self.rt.publish(self._clean(message), subject)

    def _clean(self, value: C) -> C:
        """A copy of a contract with every string redacted."""
        return type(value).model_validate(self.rt.redactor.data(value.model_dump(mode="json")))

    async def _progress(self, order: ExecutionOrder, step: OrderStep) -> None:
        reply = Reply(conversation_id=order.conversation_id, correlation_id=order.correlation_id,
                      kind="progress", text=f"Running `{catalog.display(step.argv)}`...", source="executor",
                      id=f"progress-{order.id}-{step.step_id}")
        await self._publish(reply, subjects.REPLY_CREATED)

    async def _publish_result(self, order: ExecutionOrder, steps: list[StepResult], outcome: str,
                              error: str | None = None) -> None:
        result = ExecutionResult(
            id=f"result-{order.id}",
            conversation_id=order.conversation_id,
            correlation_id=order.correlation_id,
            order_id=order.id,
            plan_id=order.plan_id,
            intent=order.intent,
            outcome=outcome,
            steps=steps,
            error=error,
        )
        await self._publish(result, subjects.EXEC_RESULT)

    async def _audit(self, order: ExecutionOrder, event: str, **fields: object) -> None:
        record = AuditRecord(
            id=f"audit-{event}-{order.id}", conversation_id=order.conversation_id,
            correlation_id=order.correlation_id, event=event, service="executor",
            requested_by=order.requested_by, approved_by=order.approved_by, plan_id=order.plan_id,
            commands=[s.argv for s in order.steps], **fields,
        )
        await self.rt.publish(sign_model(self._clean(record), self._key), subjects.audit_subject("executor"))

    async def _refuse(self, order: ExecutionOrder, reason: str) -> None:
        self.rt.log.warning("order refused", order_id=order.id, reason=reason)
        await self._audit(order, "order.refused", outcome="refused", reason=reason)
        steps = [StepResult(step_id=s.step_id, argv=s.argv, command=s.command, outcome="refused",
                            error=reason) for s in order.steps]
        result = ExecutionResult(
            conversation_id=order.conversation_id, correlation_id=order.correlation_id,
            order_id=order.id, plan_id=order.plan_id, intent=order.intent, outcome="refused",
            steps=steps, error=f"The executor refused order {order.id}: {reason}. Nothing was run.",
        )
        await self._publish(result, subjects.EXEC_RESULT)


def _unrunnable_step(order: ExecutionOrder) -> str | None:
    """Why a step of `order` can never run (not in the catalog, a bad argument, an interactive
    command without its value, a command key that is not its argv's), or None."""
    for number, step in enumerate(order.steps, start=1):
        try:
            parsed = catalog.parse(step.argv)
        except catalog.CommandRefused as err:
            return f"step {number} (`{catalog.display(step.argv)}`) cannot run: {err}"
        if parsed.key != step.command:
            return (f"step {number} (`{catalog.display(step.argv)}`) is labelled {step.command!r}, "
                    f"but its command is {parsed.key!r}")
    return None


def _signed_but_expired(order: ExecutionOrder, key: TrustedKeys) -> bool:
    """True when the order's only fault is its expiry: the signature verifies just before it."""
    if utcnow() < order.expires_at:
        return False
    try:
        verify_order(order, key, now=order.expires_at - timedelta(microseconds=1))
    except OrderRejected:
        return False
    return True


def _risk(step: OrderStep) -> Risk:
    try:
        return catalog.spec_for(step.command).risk
    except KeyError:
        return Risk.DESTRUCTIVE  # unknown: treat as the most careful class


async def _beat(heartbeat: Heartbeat, every: float) -> None:
    """Tell JetStream the order is still being worked on, so it is not redelivered meanwhile."""
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(Exception):
            await heartbeat()
