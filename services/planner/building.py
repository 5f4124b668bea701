"""Designs from goal to build: read the cluster as it is, draft against it, pre-flight check with
`cluster validate`, then the build plan with its architecture, bill of materials and diff against the
live stacks for approval. Revisions re-read, re-draft and void the earlier approval.

One continuation (`BuildDesign`) carries a design through both reads; its `stage` says which came
back: the live read the draft starts from, or the pre-flight.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

from hermes import subjects
from hermes.contracts import ExecutionResult, Plan, PlanStep
from hermes.runtime import ServiceRuntime
from hermes_planner.continuations import ConversationState, KnownCluster, PlannerState, Run
from hermes_planner.decisions import BuildDesign, DesignGoal, FollowApply, ReviseDesign
from hermes_planner.design import goals as designer
from hermes_planner.design import live as livestate
from hermes_planner.design import render
from hermes_planner.design import revise as revising
from hermes_planner.design.model import Design, DesignQuestion
from hermes_planner.turns import Turn

STACK_FILE = "stack.yaml"
QUESTION = "Proceed to build this stack? (y/n)"

Reply = Callable[..., Awaitable[None]]


def read_steps(cluster: str) -> list[PlanStep]:
    """The reads a draft starts from: the stacks (addons, manifests) and the namespaces."""
    return [PlanStep(argv=["cluster", "stacks", "list", "--cluster", cluster],
                     title=f"Read the stacks running on {cluster}"),
            PlanStep(argv=["cluster", "get", "namespaces", "--cluster", cluster],
                     title=f"Read the namespaces of {cluster}")]


def live_from(cluster: str, result: ExecutionResult) -> livestate.LiveCluster:
    stacks = next((s.data for s in result.steps if s.command == "cluster stacks list"), None)
    namespaces = next((s.data for s in result.steps if s.command == "cluster get"), None)
    if stacks is None:
        raise DesignQuestion(f"Reading the stacks of {cluster} returned nothing I can read, so I cannot tell "
                             "what runs there and will not draft over it. Ask again; if it repeats, check "
                             f"`ankra cluster stacks list --cluster {cluster} -o json`.")
    return livestate.read_live(cluster, stacks, namespaces)




class Builder:
    """The design flow of one planner: pure design code in `hermes_planner.design`, messages here."""

    def __init__(self, runtime: ServiceRuntime, state: Callable[[], PlannerState], reply: Reply) -> None:
        self.rt = runtime
        self._state = state
        self.reply = reply

    @property
    def state(self) -> PlannerState:
        return self._state()

    async def design(self, turn: Turn, state: ConversationState, request: DesignGoal,
                     clusters: list[KnownCluster] | None) -> None:
        cluster = request.cluster or state.last_cluster
        if cluster is None:
            await self.reply(turn, "On which cluster should I build this? Say for example "
                                   "“My app needs a Postgres database and a Redis cache on staging”.", final=True)
            return
        provider = next((c.provider for c in clusters or [] if c.name == cluster), None)
        try:
            drafted = designer.design(request.goal, cluster, request.environment, provider)
        except DesignQuestion as question:
            await self.reply(turn, question.text, final=True)
            return
        state.design = drafted
        state.last_cluster = cluster
        await self._read_then_draft(turn, state, drafted, changes=[])

    async def revise(self, turn: Turn, state: ConversationState, request: ReviseDesign) -> None:
        if state.design is None:
            await self.reply(turn, "There is no drafted architecture to change yet. Describe what your app "
                                   "needs first, e.g. “My app needs a Postgres database on staging”.", final=True)
            return
        try:
            revision = revising.revise(state.design, request.instruction)
        except DesignQuestion as question:
            await self.reply(turn, question.text, final=True)
            return
        before = render.bill_of_materials(state.design)
        state.design = revision.design
        changes = list(revision.changes) + [
            line for line in render.diff_boms(before, render.bill_of_materials(revision.design))
            if line not in revision.changes]
        await self._read_then_draft(turn, state, revision.design, changes)

    async def _read_then_draft(self, turn: Turn, state: ConversationState, drafted: Design,
                               changes: list[str]) -> None:
        """Read the cluster as it is (reads, through the guard); the result fits the draft to it."""
        plan = Plan(conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                    message_id=turn.message_id, requested_by=turn.user, identity=turn.identity,
                    intent="design.read", cluster=drafted.cluster, steps=read_steps(drafted.cluster),
                    summary=f"Reading what runs on {drafted.cluster} before drafting...")
        state.design_plan_id = plan.id
        await self.state.start_run(Run(plan_id=plan.id, conversation_id=turn.conversation_id,
                                       correlation_id=turn.correlation_id, requested_by=turn.user,
                                       identity=turn.identity, then=BuildDesign(stage="read", changes=changes)))
        await self.reply(turn, f"Reading the stacks and namespaces on {drafted.cluster} so the draft starts "
                               "from what runs there.", kind="progress", final=False,
                         reply_id=f"reading-{plan.id}")
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    async def _validate_then_build(self, turn: Turn, state: ConversationState, drafted: Design,
                                   changes: list[str], plan_id: str) -> None:
        """A pre-flight `cluster validate` of the drafted file (a read); its result builds the plan."""
        plan = Plan(id=plan_id, conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                    message_id=turn.message_id, requested_by=turn.user, identity=turn.identity,
                    intent="design.validate", cluster=drafted.cluster,
                    files={STACK_FILE: render.stack_yaml(drafted)},
                    steps=[PlanStep(argv=["cluster", "validate", "-f", STACK_FILE, "--cluster", drafted.cluster],
                                    title=f"Pre-flight check of stack {drafted.stack}")],
                    summary=f"Checking the drafted stack {drafted.stack} with `ankra cluster validate`...")
        state.design_plan_id = plan.id
        await self.state.start_run(Run(plan_id=plan.id, conversation_id=turn.conversation_id,
                                       correlation_id=turn.correlation_id, requested_by=turn.user,
                                       identity=turn.identity, then=BuildDesign(changes=changes)))
        what = "Re-drafting" if changes else "Drafting"
        await self.reply(turn, f"{what} the architecture for {drafted.cluster}; checking it with "
                               "`ankra cluster validate` before asking you.", kind="progress", final=False,
                         reply_id=f"drafting-{plan.id}")
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    def build_plan(self, run: Run, then: BuildDesign, drafted: Design, plan_id: str) -> Plan:
        architecture = render.architecture(drafted)
        bom = render.bill_of_materials(drafted)
        document = render.stack_document(drafted)
        stack_changes = livestate.diff_file(drafted.live, document)
        removes = livestate.removals(stack_changes)
        apply = ["cluster", "apply", "-f", STACK_FILE, "--cluster", drafted.cluster, "--wait"]
        lines = [f"Here's the architecture I propose for {drafted.cluster}."]
        if then.changes:
            lines += ["", "Changed since the last draft (the earlier approval is void):"]
            lines += [f"- {c}" for c in then.changes]
        if drafted.reused:
            lines += ["", "Already running on the cluster, used as it is (not added again):"]
            lines += [f"- {r}" for r in drafted.reused]
        lines += [""] + diff_lines(drafted, stack_changes)
        if removes:
            lines += ["", "This step is destructive: " + removal_sentence(removes)]
        storage = render.storage_lines(drafted)
        if storage:
            lines += ["", "Storage (what each volume is for):"] + [f"- {s}" for s in storage]
        if architecture.warnings:
            lines += [""] + [f"Warning: {w}" for w in architecture.warnings]
        if architecture.connection_secret:
            lines += ["", (f"Connection details will be written to a Kubernetes Secret named "
                          f"`{architecture.connection_secret}` and referenced by your app via existingSecret.")]
        lines += ["", QUESTION]
        title = f"Build stack {drafted.stack} on {drafted.cluster}"
        if removes:
            title = f"Change stack {drafted.stack} on {drafted.cluster}, removing what is listed"
        return Plan(id=plan_id, conversation_id=run.conversation_id, correlation_id=run.correlation_id,
                    message_id=run.correlation_id, requested_by=run.requested_by, identity=run.identity,
                    intent="design.build",
                    cluster=drafted.cluster, files={STACK_FILE: render.stack_yaml(drafted)},
                    architecture=architecture, bill_of_materials=bom,
                    steps=[PlanStep(argv=apply, title=title, stack_changes=stack_changes, removes=removes)],
                    summary=_fit("\n".join(lines)))

    async def after_validation(self, turn: Turn, run: Run, then: BuildDesign, result: ExecutionResult) -> None:
        """A design's read came back: after the live read, draft against it and pre-flight the draft;
        after the pre-flight, propose the build for approval."""
        state = await self.state.load(run.conversation_id)
        if state.design is None or state.design_plan_id != result.plan_id:
            await self.reply(turn, "That draft was replaced by a newer one while it was being checked; "
                                   "the newer draft is the one that will be shown.", final=False,
                             kind="progress", reply_id=f"reply-{result.id}")
            return
        if then.stage == "read":
            await self._draft(turn, run, then, result, state)
            return
        plan = self.build_plan(run, then, state.design, plan_id=f"plan-{result.id}")
        # Once approved and applied, the deploy is followed to its end before Hermes says "built".
        await self.state.start_run(Run(plan_id=plan.id, conversation_id=run.conversation_id,
                                       correlation_id=run.correlation_id, requested_by=run.requested_by,
                                       identity=run.identity,
                                       then=FollowApply(cluster=state.design.cluster, stack=state.design.stack,
                                                        components=[c.key for c in state.design.components])))
        self.rt.log.info("build proposed", plan_id=plan.id, stack=state.design.stack,
                         removes=len(plan.steps[0].removes))
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    async def _draft(self, turn: Turn, run: Run, then: BuildDesign, result: ExecutionResult,
                     state: ConversationState) -> None:
        drafted = state.design
        assert drafted is not None
        try:
            fitted = designer.fit(drafted, live_from(drafted.cluster, result), revision=bool(then.changes))
            render.stack_yaml(fitted.design)  # a live Secret that is not ciphertext stops here
        except (DesignQuestion, livestate.LiveError) as problem:
            text = problem.text if isinstance(problem, DesignQuestion) else str(problem)
            await self.reply(turn, text, final=True, reply_id=f"reply-{result.id}")
            return
        state.design = fitted.design
        if fitted.met is not None:
            state.design_plan_id = None
            await self.state.save(run.conversation_id, state)
            await self.reply(turn, fitted.met, final=True, reply_id=f"reply-{result.id}")
            return
        await self._validate_then_build(turn, state, fitted.design, then.changes, plan_id=f"plan-{result.id}")
        await self.state.save(run.conversation_id, state)


    async def follow(self, turn: Turn, run: Run, then: FollowApply, result: ExecutionResult) -> None:
        """The apply went through, or a read of the cluster's operations came back: say "built" once
        the deploy has finished, say what failed if it failed, else read the operations again."""
        verdict = deploy_state(result) if then.polls else "running"
        if verdict == "completed":
            built = ", ".join(then.components) or "its components"
            await self.reply(turn, f"Built stack {then.stack} on {then.cluster}: {built} deployed "
                                   "(the platform's deploy finished).", final=True, reply_id=f"reply-{result.id}")
            return
        if verdict.startswith("failed"):
            await self.reply(turn, f"The deploy of stack {then.stack} on {then.cluster} failed: "
                                   f"{verdict.partition(':')[2].strip() or 'no detail given'}. See "
                                   f"`ankra cluster operations list --cluster {then.cluster} --failed`.",
                             kind="error", final=True, reply_id=f"reply-{result.id}")
            return
        if then.polls >= MAX_POLLS:
            await self.reply(turn, f"Stack {then.stack} is applied on {then.cluster} and still deploying after "
                                   f"{then.polls} checks; follow it with `ankra cluster operations list --cluster "
                                   f"{then.cluster}`.", final=True, reply_id=f"reply-{result.id}")
            return
        if then.polls == 0:
            await self.reply(turn, f"Applied stack {then.stack} on {then.cluster}; the platform is deploying it. "
                                   "I'll say when it is done.", kind="progress", final=False,
                             reply_id=f"reply-{result.id}")
        else:
            await asyncio.sleep(POLL_SECONDS)
        # The checks carry the correlation of the apply's result (the approval that ran it), so the
        # "built" reply answers the person's "yes".
        # Derived from the result (a redelivered result proposes the same check, which the bus drops),
        # hashed so the ids of a long chain of checks do not grow.
        check_id = "follow-" + hashlib.sha256(result.id.encode()).hexdigest()[:24]
        plan = Plan(id=check_id, conversation_id=run.conversation_id,
                    correlation_id=turn.correlation_id,
                    message_id=run.identity.message_id if run.identity else run.correlation_id,
                    requested_by=run.requested_by, identity=run.identity, intent="design.follow",
                    cluster=then.cluster,
                    steps=[PlanStep(argv=["cluster", "operations", "list", "--cluster", then.cluster, "--limit", "5"],
                                    title=f"Check the deploy of stack {then.stack}")],
                    summary=f"Checking the deploy of stack {then.stack} on {then.cluster}...")
        await self.state.start_run(Run(plan_id=plan.id, conversation_id=run.conversation_id,
                                       correlation_id=turn.correlation_id, requested_by=run.requested_by,
                                       identity=run.identity,
                                       then=then.model_copy(update={"polls": then.polls + 1})))
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)


MAX_POLLS = 60
POLL_SECONDS = 2.0
_RUNNING = {"running", "pending", "queued", "in_progress", "in-progress", "started"}
_FAILED = {"failed", "critical", "error", "cancelled", "canceled"}


def deploy_state(result: ExecutionResult) -> str:
    """"completed", "running" or "failed: <why>", from the newest apply among the operations read."""
    for step in result.steps:
        items = step.data.get("result") if isinstance(step.data, dict) else step.data
        if step.command != "cluster operations list" or not isinstance(items, list):
            continue
        applies = [o for o in items if isinstance(o, dict)
                   and ("apply" in str(o.get("type", "")) or str(o.get("name", "")).startswith("cluster apply"))]
        if not applies:
            return "completed"  # nothing of an apply still listed: it has finished and aged out
        newest = applies[0]  # the CLI lists executions newest first
        status = str(newest.get("status", "")).lower()
        if status in _FAILED:
            return f"failed: {newest.get('error_excerpt') or status}"
        return "running" if status in _RUNNING else "completed"
    return "running"


def diff_lines(d: Design, changes: list) -> list[str]:
    """The apply's diff against the live stacks, in lines (Secret key names only, never values)."""
    kept = [c.stack for c in changes if c.action == "keep"]
    out: list[str] = []
    for c in changes:
        if c.action == "keep":
            continue
        if c.action == "create":
            out.append(f"New stack `{c.stack}` on {d.cluster}:")
        elif c.action == "remove":
            out.append(f"Stack `{c.stack}` would be removed:")
        else:
            out.append(f"Changes to the live stack `{c.stack}`:")
        out += [f"+ {a}" for a in c.added] + [f"~ {x}" for x in c.changed] + [f"- {r}" for r in c.removed]
        if c.secret_keys_added:
            out.append(f"+ Secret keys: {', '.join(c.secret_keys_added)}")
        if c.secret_keys_removed:
            out.append(f"- Secret keys dropped: {', '.join(c.secret_keys_removed)}")
    if kept:
        out.append(f"Kept as they run (the file carries them, so the apply does not prune them): "
                   f"{', '.join(f'`{k}`' for k in kept)}.")
    return out or ["Nothing changes against the live stacks."]


def removal_sentence(removes: list[str]) -> str:
    return ("this removes " + "; ".join(removes) + ". What is removed is gone with its data; approve only if "
            "that is what you want.")


def _fit(text: str, limit: int = 4000) -> str:
    """A summary within the plan's limit, the question kept last."""
    if len(text) <= limit:
        return text
    tail = f"\n… (cut to fit; the full diff is in the step's stack_changes)\n\n{QUESTION}"
    return text[:limit - len(tail)] + tail
