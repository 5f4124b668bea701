"""The planner's handlers: chat messages become plans or answers; results become replies or the
next step of a multi-step run (a scale after reading the current count, a build after its pre-flight).
"""

from __future__ import annotations

from hermes import subjects
from hermes.config import LoadedConfig
from hermes.contracts import (
    ChatMessage,
    ExecutionResult,
    Identity,
    ObservedRef,
    Plan,
    PlanStep,
    ProfileSwitch,
    Reply,
    new_id,
    utcnow,
)
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.skills import SkillSet
from hermes.stores.approvals import ApprovalView
from hermes.stores.profiles import ProfileView
from hermes_planner import designer, llm, rules
from hermes_planner.memory import ConversationMemory
from hermes_planner.render import render_result
from hermes_planner.state import ConversationState, KnownCluster, PlannerState, Run

STACK_FILE = "stack.yaml"
_SCALE_COMMANDS = {"cluster scale", "cluster node-group scale"}


class Turn:
    """Who asked what, for the messages one turn produces."""

    def __init__(self, conversation_id: str, correlation_id: str, user: str, message_id: str,
                 identity: Identity | None = None) -> None:
        self.conversation_id = conversation_id
        self.correlation_id = correlation_id
        self.user = user
        self.message_id = message_id
        self.identity = identity  # the gateway's stamp, forwarded so the guard knows who asked


class Models:
    """The Anthropic engines, one per model name, made on first use. Without an API key there are
    none, and the rules engine answers alone."""

    def __init__(self, settings: Settings, skills: SkillSet, profiles: list[str], runtime: ServiceRuntime) -> None:
        self._key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
        self._settings = settings
        self._skills = skills
        self._profiles = profiles
        self._rt = runtime
        self._engines: dict[str, llm.AnthropicEngine] = {}

    @property
    def available(self) -> bool:
        return bool(self._key)

    def engine(self, model: str) -> llm.AnthropicEngine:
        if model not in self._engines:
            loaded = self._skills.loaded()
            self._engines[model] = llm.AnthropicEngine(
                self._key, model, base_url=self._settings.anthropic_base_url,
                skill_body="\n\n".join(skill.body for skill in loaded),
                allowed_commands=self._skills.allowed_commands(), redactor=self._rt.redactor,
                max_steps=self._settings.llm_max_steps, backoff_base=self._settings.llm_backoff_seconds,
                profiles=self._profiles)
        return self._engines[model]

    async def close(self) -> None:
        for engine in self._engines.values():
            await engine.close()


class Planner:
    """Turns each chat message into exactly one outcome: a plan for the guard, a request to the
    guard (profile switch, approval decision), or a final reply."""

    def __init__(self, runtime: ServiceRuntime, config: LoadedConfig, models: Models | None = None) -> None:
        self.rt = runtime
        self.config = config
        self.profile_names = tuple(sorted(config.profiles))
        self.models = models
        self._trusted = runtime.settings.trusted("guard")

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

    async def _context(self, cid: str, state: ConversationState,
                       clusters: list[KnownCluster] | None) -> tuple[rules.RulesContext, list[str]]:
        pending = await self._waiting_approvals(cid)
        return rules.RulesContext(
            clusters=tuple(rules.ClusterFact(c.name, c.provider, c.id) for c in clusters)
            if clusters is not None else None,
            profiles=self.profile_names,
            last_cluster=state.last_cluster,
            last_request=state.last_request,
            has_design=state.design is not None,
            pending_approval_ids=tuple(pending),
        ), pending

    async def _act(self, turn: Turn, text: str, channel: str, allow_lookup: bool) -> None:
        """Interpret `text` and do what it asks. Names are resolved against the known clusters; when
        none are known and the request names one, the clusters are looked up first."""
        cid = turn.conversation_id
        state = await self.state.load(cid)
        clusters = await self.state.known_clusters()
        context, pending = await self._context(cid, state, clusters)
        result = rules.interpret(text, context)
        if (clusters is None and allow_lookup and getattr(result, "cluster", None)
                and getattr(result, "intent", "") != "cluster.list"):
            await self._look_up_clusters(turn, text, channel)
            return
        self.rt.log.info("message interpreted", result=type(result).__name__,
                         intent=getattr(result, "intent", None))
        if self.models is not None and self.models.available and not llm.is_certain(result):
            # Rules first: only what the rules engine does not recognise with certainty goes to the model.
            history = await self.memory.recall(cid)
            notes = [f"Known clusters: {', '.join(f'{c.name} ({c.provider})' for c in clusters)}"] if clusters else []
            transcript = llm.Transcript.start(history[:-1], text, notes=notes, redactor=self.rt.redactor)
            await self._model_step(turn, transcript, await self._model_for(cid), state, clusters)
            await self.state.save(cid, state)
            return
        if isinstance(result, rules.Answer):
            await self.reply(turn, result.text, kind=result.kind, final=True)
        elif isinstance(result, rules.SwitchProfile):
            await self.rt.publish(ProfileSwitch(conversation_id=cid, correlation_id=turn.correlation_id,
                                                profile=result.name, user=turn.user,
                                                identity=turn.identity), subjects.PROFILE_SWITCH)
        elif isinstance(result, rules.ApprovalAnswer):
            await self._decide(turn, result, pending, channel)
        elif isinstance(result, rules.DesignRequest):
            state.last_request = text
            await self._design(turn, state, result, clusters)
        elif isinstance(result, rules.ReviseDesign):
            await self._revise(turn, state, result)
        else:
            state.last_request = text
            state.last_cluster = result.cluster or state.last_cluster
            await self._propose(turn, result, plan_id=new_id())
        await self.state.save(cid, state)

    async def _look_up_clusters(self, turn: Turn, text: str, channel: str) -> None:
        """Run `cluster list` first; its result re-interprets `text` with the names known."""
        plan = Plan(conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                    message_id=turn.message_id, requested_by=turn.user, identity=turn.identity, intent="context.clusters",
                    steps=[PlanStep(argv=["cluster", "list"], title="Look up the clusters' names")],
                    summary="Looking up your clusters...")
        await self.state.start_run(Run(plan_id=plan.id, conversation_id=turn.conversation_id,
                                       correlation_id=turn.correlation_id, requested_by=turn.user, identity=turn.identity,
                                       kind="reinterpret", params={"text": text, "channel": channel}))
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    async def _model_for(self, conversation_id: str) -> str:
        """The model of the conversation's active profile."""
        name = await ProfileView(self.rt.redis, self.rt.keys).active(conversation_id) or self.config.default_profile
        profile = self.config.profiles.get(name) or self.config.profile()
        return profile.model

    async def _model_step(self, turn: Turn, transcript: llm.Transcript, model: str, state: ConversationState,
                          clusters: list[KnownCluster] | None) -> None:
        """Ask the model for the next action and carry it out: commands go to the guard like any plan."""
        assert self.models is not None
        action = await self.models.engine(model).next_action(transcript)
        self.rt.log.info("model action", action=action.kind, model=model, usage=action.usage)
        if isinstance(action, llm.ProposeSteps):
            plan = Plan(conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                        message_id=turn.message_id, requested_by=turn.user, identity=turn.identity, intent=action.intent or "llm",
                        steps=action.steps, summary=action.summary, cluster=action.cluster)
            await self.state.start_run(Run(
                plan_id=plan.id, conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                requested_by=turn.user, identity=turn.identity, kind="llm",
                params={"transcript": transcript.model_dump_json(), "tool_use_ids": action.tool_use_ids,
                        "model": model}))
            await self.rt.publish(plan, subjects.PLAN_PROPOSED)
        elif isinstance(action, llm.Design):
            await self._design(turn, state, rules.DesignRequest(action.goal, action.cluster, action.environment),
                               clusters)
        elif isinstance(action, llm.Revise):
            await self._revise(turn, state, rules.ReviseDesign(action.instruction))
        elif isinstance(action, llm.Switch):
            await self.rt.publish(ProfileSwitch(conversation_id=turn.conversation_id,
                                                correlation_id=turn.correlation_id, profile=action.name,
                                                user=turn.user, identity=turn.identity), subjects.PROFILE_SWITCH)
        elif isinstance(action, llm.Ask):
            await self.reply(turn, action.question, final=True, reply_id=f"model-{new_id()}")
        elif isinstance(action, llm.Failed):
            await self.reply(turn, action.text, kind="error", final=True, reply_id=f"model-{new_id()}")
        else:
            await self.reply(turn, action.text, final=True, reply_id=f"model-{new_id()}")

    async def _decide(self, turn: Turn, answer: rules.ApprovalAnswer, pending: list[str], channel: str) -> None:
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

    async def _propose(self, turn: Turn, understood: rules.Understood, plan_id: str,
                       observed: ObservedRef | None = None) -> None:
        steps = understood.steps
        if observed is not None:
            steps = [s.model_copy(update={"observed_from": observed}) if s.argv[:2] == ["cluster", "scale"]
                     or s.argv[:3] == ["cluster", "node-group", "scale"] else s for s in steps]
        plan = Plan(id=plan_id, conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                    message_id=turn.message_id, requested_by=turn.user, identity=turn.identity, intent=understood.intent,
                    steps=steps, summary=understood.summary, cluster=understood.cluster)
        if understood.continuation is not None:
            await self.state.start_run(Run(
                plan_id=plan.id, conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                requested_by=turn.user, identity=turn.identity, kind="continuation", intent=understood.continuation.intent,
                params=dict(understood.continuation.params)))
        self.rt.log.info("plan proposed", plan_id=plan.id, intent=plan.intent, argv=[s.argv for s in steps])
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    # -- designs ------------------------------------------------------------------------------
    async def _design(self, turn: Turn, state: ConversationState, request: rules.DesignRequest,
                      clusters: list[KnownCluster] | None) -> None:
        cluster = request.cluster or state.last_cluster
        if cluster is None:
            await self.reply(turn, "On which cluster should I build this? Say for example "
                                   "“My app needs a Postgres database and a Redis cache on staging”.", final=True)
            return
        provider = next((c.provider for c in clusters or [] if c.name == cluster), None)
        try:
            drafted = designer.design(request.goal, cluster, request.environment, provider)
        except designer.DesignQuestion as question:
            await self.reply(turn, question.text, final=True)
            return
        state.design = drafted
        state.last_cluster = cluster
        await self._validate_then_build(turn, state, drafted, changes=[])

    async def _revise(self, turn: Turn, state: ConversationState, request: rules.ReviseDesign) -> None:
        if state.design is None:
            await self.reply(turn, "There is no drafted architecture to change yet. Describe what your app "
                                   "needs first, e.g. “My app needs a Postgres database on staging”.", final=True)
            return
        try:
            revision = designer.revise(state.design, request.instruction)
        except designer.DesignQuestion as question:
            await self.reply(turn, question.text, final=True)
            return
        before = state.design.bill_of_materials()
        state.design = revision.design
        changes = list(revision.changes) + [
            line for line in designer.diff_boms(before, revision.design.bill_of_materials())
            if line not in revision.changes]
        await self._validate_then_build(turn, state, revision.design, changes)

    async def _validate_then_build(self, turn: Turn, state: ConversationState, drafted: designer.Design,
                                   changes: list[str]) -> None:
        """A pre-flight `cluster validate` of the drafted stack (a read); its result builds the plan."""
        plan = Plan(conversation_id=turn.conversation_id, correlation_id=turn.correlation_id,
                    message_id=turn.message_id, requested_by=turn.user, identity=turn.identity, intent="design.validate",
                    cluster=drafted.cluster, files={STACK_FILE: drafted.stack_yaml()},
                    steps=[PlanStep(argv=["cluster", "validate", "-f", STACK_FILE, "--cluster", drafted.cluster],
                                    title=f"Pre-flight check of stack {drafted.stack}")],
                    summary=f"Checking the drafted stack {drafted.stack} with `ankra cluster validate`...")
        state.design_plan_id = plan.id
        await self.state.start_run(Run(plan_id=plan.id, conversation_id=turn.conversation_id,
                                       correlation_id=turn.correlation_id, requested_by=turn.user, identity=turn.identity,
                                       kind="design.build", changes=changes))
        what = "Re-drafting" if changes else "Drafting"
        await self.reply(turn, f"{what} the architecture for {drafted.cluster}; checking it with "
                               "`ankra cluster validate` before asking you.", kind="progress", final=False,
                         reply_id=f"drafting-{plan.id}")
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    def _build_plan(self, run: Run, drafted: designer.Design, plan_id: str) -> Plan:
        architecture = drafted.architecture()
        bom = drafted.bill_of_materials()
        lines = [f"Here's the architecture I propose for {drafted.cluster}."]
        if run.changes:
            lines += ["", "Changed since the last draft (the earlier approval is void):"]
            lines += [f"- {c}" for c in run.changes]
        if architecture.warnings:
            lines += [""] + [f"Warning: {w}" for w in architecture.warnings]
        if architecture.connection_secret:
            lines += ["", f"Connection details will be written to a Kubernetes Secret named "
                          f"`{architecture.connection_secret}` and referenced by your app via existingSecret."]
        lines += ["", "Proceed to build this stack? (y/n)"]
        return Plan(id=plan_id, conversation_id=run.conversation_id, correlation_id=run.correlation_id,
                    message_id=run.correlation_id, requested_by=run.requested_by, identity=run.identity,
                    intent="design.build",
                    cluster=drafted.cluster, files={STACK_FILE: drafted.stack_yaml()},
                    architecture=architecture, bill_of_materials=bom,
                    steps=[PlanStep(argv=["cluster", "apply", "-f", STACK_FILE, "--cluster", drafted.cluster],
                                    title=f"Build stack {drafted.stack} on {drafted.cluster}")],
                    summary="\n".join(lines))

    # -- results ------------------------------------------------------------------------------
    async def handle_result(self, result: ExecutionResult) -> None:
        turn = Turn(result.conversation_id, result.correlation_id, "", result.plan_id)
        await self._learn_clusters(result)
        run = await self.state.get_run(result.plan_id)
        if run is not None and run.kind == "llm" and self.models is not None:
            await self._resume_model(turn, run, result)
            await self.state.finish_run(result.plan_id)
            return
        if run is not None and result.outcome == "ok":
            turn.user = run.requested_by
            turn.identity = run.identity
            turn.message_id = run.correlation_id
            if run.kind == "design.build":
                await self._build_after_validation(turn, run, result)
            elif run.kind == "reinterpret":
                await self.state.finish_run(result.plan_id)
                await self._act(turn, run.params["text"], run.params.get("channel", "http"), allow_lookup=False)
                return
            else:
                await self._resume(turn, run, result)
            await self.state.finish_run(result.plan_id)
            return
        text, blocks, failed = render_result(result)
        if run is not None and run.kind == "design.build" and failed:
            text += "\nThe drafted stack did not pass the pre-flight check; nothing was built."
        await self.reply(turn, text, blocks=blocks, kind="error" if failed else "answer", final=True,
                         reply_id=f"reply-{result.id}")
        if run is not None:
            await self.state.finish_run(result.plan_id)

    async def _build_after_validation(self, turn: Turn, run: Run, result: ExecutionResult) -> None:
        state = await self.state.load(run.conversation_id)
        if state.design is None or state.design_plan_id != result.plan_id:
            await self.reply(turn, "That draft was replaced by a newer one while it was being checked; "
                                   "the newer draft is the one that will be shown.", final=False,
                             kind="progress", reply_id=f"reply-{result.id}")
            return
        plan = self._build_plan(run, state.design, plan_id=f"plan-{result.id}")
        self.rt.log.info("build proposed", plan_id=plan.id, stack=state.design.stack)
        await self.rt.publish(plan, subjects.PLAN_PROPOSED)

    async def _resume_model(self, turn: Turn, run: Run, result: ExecutionResult) -> None:
        """Feed what the commands did back to the model — as data — and carry on."""
        turn.user = run.requested_by
        turn.identity = run.identity
        transcript = llm.Transcript.model_validate_json(run.params["transcript"])
        transcript.add_tool_results([llm.ToolResult.from_step(tool_id, step)
                                     for tool_id, step in zip(run.params["tool_use_ids"], result.steps, strict=False)],
                                    redactor=self.rt.redactor)
        text, blocks, _ = render_result(result)
        await self.reply(turn, text, blocks=blocks, kind="progress", final=False, reply_id=f"reply-{result.id}")
        state = await self.state.load(run.conversation_id)
        await self._model_step(turn, transcript, run.params["model"], state, await self.state.known_clusters())
        await self.state.save(run.conversation_id, state)

    async def _resume(self, turn: Turn, run: Run, result: ExecutionResult) -> None:
        outputs = [rules.StepOutput(s.command, s.exit_code, s.stdout, s.data) for s in result.steps]
        following = rules.resume(rules.Continuation(run.intent, run.params), outputs)
        text, blocks, _ = render_result(result)
        if isinstance(following, rules.Understood):
            await self.reply(turn, text, blocks=blocks, kind="progress", final=False,
                             reply_id=f"reply-{result.id}")
            observed = ObservedRef(order_id=result.order_id, step_id=result.steps[-1].step_id)
            await self._propose(turn, following, plan_id=f"plan-{result.id}", observed=observed)
            return
        message = following.text if isinstance(following, rules.Answer) else str(following)
        await self.reply(turn, f"{text}\n{message}", blocks=blocks,
                         kind=getattr(following, "kind", "answer"), final=True, reply_id=f"reply-{result.id}")

    async def _learn_clusters(self, result: ExecutionResult) -> None:
        """Remember the clusters a `cluster list` showed, to resolve names in later requests."""
        for step in result.steps:
            if step.command != "cluster list" or step.outcome != "ok":
                continue
            items = step.data.get("result") if isinstance(step.data, dict) else step.data
            if not isinstance(items, list):
                continue
            await self.state.learn_clusters([
                KnownCluster(name=str(c["name"]), provider=c.get("provider") or c.get("kind"), id=c.get("id"))
                for c in items if isinstance(c, dict) and c.get("name")])

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

