"""The planner's handlers: chat messages become decisions (from the rules engine, or a model engine
for what the rules do not settle), carried out in one place; results resume the continuation their
plan named (a scale after reading the current count, a build after its pre-flight, the model's next
step).
"""

from __future__ import annotations

from hermes import catalog, subjects
from hermes.approval_answers import ApprovalAnswer
from hermes.catalog import Risk
from hermes.config import LoadedConfig
from hermes.contracts import (
    ChatMessage,
    ExecutionResult,
    ObservedRef,
    Plan,
    PlanStep,
    ProfileSwitch,
    Reply,
    new_id,
    utcnow,
)
from hermes.runtime import ServiceRuntime
from hermes.stores.approvals import ApprovalView
from hermes.stores.profiles import ProfileView
from hermes_planner.building import Builder
from hermes_planner.continuations import ConversationState, KnownCluster, PlannerState, Run
from hermes_planner.decisions import (
    Answer,
    BuildDesign,
    ClusterFact,
    Context,
    Decision,
    DesignGoal,
    Engine,
    FollowApply,
    HistoryLine,
    Propose,
    Reinterpret,
    ResumeModel,
    ResumeRules,
    ReviseDesign,
    SwitchProfile,
    is_certain,
)
from hermes_planner.engines import Engines
from hermes_planner.memory import ConversationMemory
from hermes_planner.render import render_result
from hermes_planner.turns import Turn

_CLUSTER_CHANGES = (Risk.PROVISION, Risk.DESTRUCTIVE, Risk.SCALE)


def _changes_clusters(command: str) -> bool:
    """Whether a successful run of `command` changes what `cluster list` shows (a cluster created,
    deprovisioned or resized, or a stack applied)."""
    try:
        spec = catalog.spec_for(command)
    except (KeyError, ValueError):
        return False
    return spec.path[0] == "cluster" and (spec.risk in _CLUSTER_CHANGES or spec.key == "cluster apply")


class Planner:
    """Turns each chat message into exactly one outcome: a plan for the guard, a request to the
    guard (a profile switch), or a final reply."""

    def __init__(self, runtime: ServiceRuntime, config: LoadedConfig, engines: Engines | None = None) -> None:
        self.rt = runtime
        self.config = config
        self.profile_names = tuple(sorted(config.profiles))
        self.engines = engines or Engines.rules_only(runtime)
        self._trusted = runtime.settings.trusted("guard")
        self.builder = Builder(runtime, lambda: self.state, self.reply)

    @property
    def memory(self) -> ConversationMemory:
        return ConversationMemory(self.rt.redis, self.rt.keys, self.rt.redactor)

    @property
    def state(self) -> PlannerState:
        return PlannerState(self.rt.redis, self.rt.keys)

    # -- chat ---------------------------------------------------------------------------------
    async def handle_chat(self, message: ChatMessage) -> None:
        turn = Turn(message.conversation_id, message.correlation_id,
                    message.identity.user if message.identity else message.user, message.id, message.identity)
        await self.memory.remember(message.conversation_id, "user", message.text, user=message.user)
        await self._act(turn, message.text, message.channel, allow_lookup=True)

    async def _waiting_approvals(self, conversation_id: str) -> list[str]:
        """The conversation's approvals still waiting (the guard's records, checked by its signature)."""
        view = ApprovalView(self.rt.redis, self.rt.keys, self._trusted)
        now = utcnow()
        return [i for i in await view.pending_ids(conversation_id)
                if (p := await view.get(i)) is not None and p.expires_at > now]

    async def _context(self, cid: str, state: ConversationState, clusters: list[KnownCluster] | None,
                       channel: str = "http", *, history: bool = False) -> Context:
        pending = await self._waiting_approvals(cid)
        lines: tuple[HistoryLine, ...] = ()
        if history:
            lines = tuple(HistoryLine("user" if t.get("role") == "user" else "hermes", str(t.get("text") or ""))
                          for t in await self.memory.recall(cid))
        return Context(
            clusters=tuple(ClusterFact(c.name, c.provider, c.id) for c in clusters) if clusters is not None else None,
            profiles=self.profile_names,
            active_profile=await ProfileView(self.rt.redis, self.rt.keys).active(cid),
            default_profile=self.config.default_profile,
            last_cluster=state.last_cluster,
            last_request=state.last_request,
            has_design=state.design is not None,
            pending_approval_ids=tuple(pending),
            history=lines,
            channel=channel,
            pending_request=state.pending_request,
        )

    async def _act(self, turn: Turn, text: str, channel: str, allow_lookup: bool) -> None:
        """Decide what `text` asks and do it. Names are resolved against the known clusters; when none
        are known and the request names one, the clusters are looked up first. Rules first: only what
        the rules engine does not settle goes to the profile's model, when one is configured."""
        cid = turn.conversation_id
        state = await self.state.load(cid)
        clusters = await self.state.known_clusters()
        context = await self._context(cid, state, clusters, channel)
        decision: Decision = await self.engines.rules.next(text, context)
        if (clusters is None and allow_lookup and getattr(decision, "cluster", None)
                and getattr(decision, "intent", "") != "cluster.list"):
            await self._look_up_clusters(turn, text, channel)
            return
        self.rt.log.info("message interpreted", decision=type(decision).__name__,
                         intent=getattr(decision, "intent", None))
        if not is_certain(decision) and (model := await self._model_engine(cid)) is not None:
            decision = await model.next(text, await self._context(cid, state, clusters, channel, history=True))
            self.rt.log.info("model decision", decision=type(decision).__name__, engine=model.name)
        state.pending_request = None  # a question is answered (or dropped) by the next message
        await self.carry_out(turn, decision, state, clusters, text=text)
        await self.state.save(cid, state)

    async def carry_out(self, turn: Turn, decision: Decision, state: ConversationState,
                        clusters: list[KnownCluster] | None, *, text: str | None = None,
                        plan_id: str | None = None, observed: ObservedRef | None = None) -> None:
        """Do what a decision says, whichever engine made it."""
        if isinstance(decision, Propose):
            if text is not None:
                state.last_request = text
            state.last_cluster = decision.cluster or state.last_cluster
            await self._propose(turn, decision, plan_id=plan_id or new_id(), observed=observed)
        elif isinstance(decision, Answer):
            state.pending_request = decision.pending
            await self.reply(turn, decision.text, kind=decision.kind, final=True,
                             reply_id=f"reply-{plan_id}" if plan_id else None)
        elif isinstance(decision, SwitchProfile):
            await self.rt.publish(ProfileSwitch(conversation_id=turn.conversation_id,
                                                correlation_id=turn.correlation_id, profile=decision.name,
                                                user=turn.user, identity=turn.identity), subjects.PROFILE_SWITCH)
        elif isinstance(decision, ApprovalAnswer):
            await self._decide(turn, decision, list(await self._waiting_approvals(turn.conversation_id)))
        elif isinstance(decision, DesignGoal):
            if text is not None:
                state.last_request = text
            await self.builder.design(turn, state, decision, clusters)
        elif isinstance(decision, ReviseDesign):
            await self.builder.revise(turn, state, decision)
        else:  # pragma: no cover - the Decision union is closed
            raise TypeError(f"unknown decision {decision!r}")

    async def _model_engine(self, conversation_id: str) -> Engine | None:
        """The model engine of the conversation's active profile, when a key for it is configured."""
        name = await ProfileView(self.rt.redis, self.rt.keys).active(conversation_id) or self.config.default_profile
        profile = self.config.profiles.get(name) or self.config.profile()
        return self.engines.model(profile.model)

    async def _look_up_clusters(self, turn: Turn, text: str, channel: str) -> None:
        """Run `cluster list` first; its result re-interprets `text` with the names known."""
        await self._propose(turn, Propose("context.clusters",
                                          [PlanStep(argv=["cluster", "list"], title="Look up the clusters' names")],
                                          "Looking up your clusters...", then=Reinterpret(text=text, channel=channel)),
                            plan_id=new_id())

    async def _decide(self, turn: Turn, answer: ApprovalAnswer, pending: list[str]) -> None:
        approval_id = answer.approval_id or (pending[0] if len(pending) == 1 else None)
        if approval_id is None:
            listed = ", ".join(pending) or "none"
            await self.reply(turn, f"Several approvals are waiting ({listed}); say which: "
                                   f"`approve <id>` or `reject <id>`.", final=True)
            return
        # Decisions are the gateway's to publish (it knows who is answering); a "y" that reaches the
        # planner came from somewhere that cannot vouch for a person, e.g. straight onto the bus.
        await self.reply(turn, f"Approval {approval_id} is decided by an authenticated person: answer in the "
                               f"chat or web page, or run `hermes approve {approval_id}`. Nothing was run.",
                         kind="error", final=True)

    async def _propose(self, turn: Turn, decision: Propose, plan_id: str, observed: ObservedRef | None = None) -> None:
        steps = decision.steps
        if observed is not None:
            steps = [s.model_copy(update={"observed_from": observed}) if s.argv[:2] == ["cluster", "scale"]
                     or s.argv[:3] == ["cluster", "node-group", "scale"] else s for s in steps]
        plan = Plan(id=plan_id, conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                    message_id=turn.message_id, requested_by=turn.user, identity=turn.identity, intent=decision.intent,
                    steps=steps, summary=decision.summary, cluster=decision.cluster)
        if decision.then is not None:
            await self.state.start_run(Run(
                plan_id=plan.id, conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                requested_by=turn.user, identity=turn.identity, then=decision.then))
        self.rt.log.info("plan proposed", plan_id=plan.id, intent=plan.intent, argv=[s.argv for s in steps])
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    # -- results ------------------------------------------------------------------------------
    async def handle_result(self, result: ExecutionResult) -> None:
        turn = Turn(result.conversation_id, result.correlation_id, "", result.plan_id)
        await self._learn_clusters(result)
        run = await self.state.get_run(result.plan_id)
        if run is None:
            await self._final(turn, result)
            return
        turn.user, turn.identity, turn.message_id = run.requested_by, run.identity, run.correlation_id
        then = run.then
        if isinstance(then, ResumeModel):
            await self._resume(turn, run, result, then)  # the model sees failures too
        elif result.outcome != "ok":
            await self._final(turn, result, design=then.stage if isinstance(then, BuildDesign) else None)
        elif isinstance(then, BuildDesign):
            await self.builder.after_validation(turn, run, then, result)
        elif isinstance(then, FollowApply):
            await self.builder.follow(turn, run, then, result)
        elif isinstance(then, Reinterpret):
            await self.state.finish_run(result.plan_id)
            await self._act(turn, then.text, then.channel, allow_lookup=False)
            return
        else:
            await self._resume(turn, run, result, then)
        await self.state.finish_run(result.plan_id)

    async def _final(self, turn: Turn, result: ExecutionResult, *, design: str | None = None) -> None:
        text, blocks, failed = render_result(result)
        if design == "preflight" and failed:
            text += "\nThe drafted stack did not pass the pre-flight check; nothing was built."
        elif design == "read" and failed:
            text += ("\nHermes could not read what runs on the cluster, so it drafted nothing (a draft that "
                     "ignored the running stacks could remove them). Try again once the reads work.")
        await self.reply(turn, text, blocks=blocks, kind="error" if failed else "answer", final=True,
                         reply_id=f"reply-{result.id}")

    async def _resume(self, turn: Turn, run: Run, result: ExecutionResult, then: ResumeRules | ResumeModel) -> None:
        """Give the result to the engine that asked for it, and carry out what it decides next."""
        engine = self.engines.rules if isinstance(then, ResumeRules) else self.engines.by_name(then.engine)
        text, blocks, _ = render_result(result)
        if engine is None:
            await self.reply(turn, f"{text}\nThe model that asked for this ({then.engine}) is no longer "
                                   "configured, so Hermes stops here.", blocks=blocks, kind="error", final=True,
                             reply_id=f"reply-{result.id}")
            return
        state = await self.state.load(run.conversation_id)
        clusters = await self.state.known_clusters()
        context = await self._context(run.conversation_id, state, clusters,
                                      history=isinstance(then, ResumeModel))
        decision = await engine.resume(then, result, context)
        if isinstance(then, ResumeRules) and isinstance(decision, Answer):
            # The rules' last word goes with what the commands showed, as one final reply; a question
            # it asks (a value offered from what the read found) waits for the next message.
            state.pending_request = decision.pending
            await self.state.save(run.conversation_id, state)
            await self.reply(turn, f"{text}\n{decision.text}", blocks=blocks, kind=decision.kind, final=True,
                             reply_id=f"reply-{result.id}")
            return
        await self.reply(turn, text, blocks=blocks, kind="progress", final=False, reply_id=f"reply-{result.id}")
        observed = (ObservedRef(order_id=result.order_id, step_id=result.steps[-1].step_id)
                    if isinstance(then, ResumeRules) and result.steps else None)
        await self.carry_out(turn, decision, state, clusters, plan_id=f"plan-{result.id}", observed=observed)
        await self.state.save(run.conversation_id, state)

    async def _learn_clusters(self, result: ExecutionResult) -> None:
        """Remember the clusters a `cluster list` showed, to resolve names in later requests; forget
        them when a step of this result changed a cluster, so the next request sees the new state."""
        changed = False
        for step in result.steps:
            if step.outcome != "ok":
                continue
            if step.command == "cluster list":
                items = step.data.get("result") if isinstance(step.data, dict) else step.data
                if isinstance(items, list):
                    await self.state.learn_clusters([
                        KnownCluster(name=str(c["name"]), provider=c.get("provider") or c.get("kind"), id=c.get("id"))
                        for c in items if isinstance(c, dict) and c.get("name")])
            elif _changes_clusters(step.command):
                changed = True
        if changed:
            await self.state.forget_clusters()

    # -- replies ------------------------------------------------------------------------------
    async def reply(self, turn: Turn, text: str, *, kind: str = "answer", final: bool,
                    blocks: list | None = None, reply_id: str | None = None) -> None:
        reply = Reply(conversation_id=turn.conversation_id, correlation_id=turn.correlation_id, kind=kind,
                      text=self.rt.redactor.text(text),
                      blocks=self.rt.redactor.data([b.model_dump() if hasattr(b, "model_dump") else b
                                                    for b in blocks or []]),
                      final=final, source="planner", id=reply_id or f"reply-{turn.correlation_id}")
        await self.rt.publish(reply, subjects.REPLY_CREATED)
        if final:
            await self.memory.remember(turn.conversation_id, "hermes", text)

