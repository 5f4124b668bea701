"""What every model engine does, whichever API it calls: `ModelEngine`.

An engine proposes; it never runs anything and never decides what runs. Each `next_action` ends in
one action:

- `ProposeSteps`: commands the model asked for, each built from a structured tool call into an argv
  list that parses against the command catalog. The planner sends them to the guard as a plan, and
  feeds the outcomes back with `Transcript.add_tool_results` before the next `next_action`.
- `Final`: the model's answer to the person.
- `Design` / `Revise` / `Switch` / `Ask`: hand the request to the planner's designer, the profile
  switch, or a question to the person.
- `Failed`: the API failed after retries, the key or model was refused, or the run reached its step
  limit.

`next`, `resume` and `decision` implement the planner's `Engine` protocol on top of that.

Rails kept here for every provider: the model writes tool calls, never shell text; a call that does
not parse is a tool error back to the model and never a step; command output goes back to the model
only inside a delimited data block; everything sent to the API passes the redactor; redaction
markers are refused as values. Risk classes, approvals and `--yes` belong to the guard and the
executor.

A provider's engine (`AnthropicEngine`, `OpenAIEngine`) only turns the transcript into its API's
request, the API's answer into a `ModelTurn`, and reports its usage; the retries, the failure texts
(`failures`) and the start-up check (`check`) are shared.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Annotated, Any, ClassVar, Literal

from hermes.catalog import ParsedCommand, display, parse
from hermes.contracts import ExecutionResult, PlanStep
from hermes.logs import get_logger
from hermes.redaction import Redactor
from hermes_planner import decisions
from hermes_planner.engines import failures
from hermes_planner.engines import tools as llm_tools
from hermes_planner.engines.failures import Api, Failed, ModelCheck, RetryPolicy
from hermes_planner.engines.tools import CONTROL_TOOLS, ToolCallError
from hermes_planner.engines.transcript import (
    SKILL_HEADING,
    SYSTEM_PROMPT,
    PendingCall,
    ToolResult,
    Transcript,
    cap,
    tool_result_block,
)
from pydantic import BaseModel, ConfigDict, Field

MAX_STEPS_PER_PROPOSAL = 32
USAGE_KEEP = 1000
CHECK_TIMEOUT = 15.0  # seconds for the start-up check of one model


# -- actions --------------------------------------------------------------------------------------


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usage: list[dict[str, int]] = Field(default_factory=list, description="the model calls of this action")


class ProposeSteps(_Action):
    kind: Literal["propose"] = "propose"
    steps: list[PlanStep]
    tool_use_ids: list[str]
    summary: str
    intent: str
    cluster: str | None = None


class Final(_Action):
    kind: Literal["final"] = "final"
    text: str


class Design(_Action):
    kind: Literal["design"] = "design"
    goal: str
    cluster: str
    environment: str | None = None


class Revise(_Action):
    kind: Literal["revise"] = "revise"
    instruction: str


class Switch(_Action):
    kind: Literal["switch"] = "switch"
    name: str


class Ask(_Action):
    kind: Literal["ask"] = "ask"
    question: str


EngineAction = Annotated[ProposeSteps | Final | Design | Revise | Switch | Ask | Failed,
                         Field(discriminator="kind")]


# -- one model turn, whichever API made it -------------------------------------------------------------


@dataclass
class ModelTurn:
    """One answer of the model: its content as neutral blocks (`text`, `tool_use`) and why it stopped."""

    content: list[dict[str, Any]] = field(default_factory=list)
    stop: Literal["end", "tool_use", "max_tokens", "refusal"] = "end"
    refusal: str = ""  # the API's own refusal text, when it gives one apart from the content

    @property
    def text(self) -> str:
        return "\n\n".join(b["text"].strip() for b in self.content if b.get("type") == "text" and b["text"].strip())

    @property
    def calls(self) -> list[tuple[str, str, Any]]:
        return [(b["id"], b["name"], b.get("input")) for b in self.content if b.get("type") == "tool_use"]


# -- the engine ------------------------------------------------------------------------------------


class ModelEngine(ABC):
    """A language model with tool use over the command catalog. One instance serves all
    conversations: the per-request state lives in the `Transcript` the caller keeps."""

    provider: ClassVar[str]
    sdk: ClassVar[ModuleType]  # `anthropic` or `openai`: both have the same error classes
    sdk_error: ClassVar[type[Exception]]  # the SDK's base error

    def __init__(self, api: Api, model: str, *, skill_body: str = "", allowed_commands: set[str] | None = None,
                 redactor: Redactor | None = None, max_steps: int = 8, max_retries: int = 3, timeout: float = 60.0,
                 max_tokens: int = 2048, backoff_base: float = 0.5, backoff_max: float = 20.0,
                 profiles: Iterable[str] | None = None, log: Any = None, secrets: Iterable[str] = ()) -> None:
        if not model or not model.strip():
            raise ValueError(f"a model id is needed for the {self.provider} engine (a profile's `model`, e.g. "
                             f"{failures.DEFAULT_MODELS.get(self.provider, '…')})")
        self.api = api
        self.model = model.strip()
        self.name = f"{self.provider}/{self.model}"
        self.max_steps = max(1, max_steps)
        self.max_retries = max(0, max_retries)
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.retry = RetryPolicy(self.max_retries, backoff_base, backoff_max)
        self.redactor = redactor or Redactor()
        for secret in secrets:  # the key itself never goes anywhere but the auth header
            if secret:
                self.redactor.add_secret(secret)
        self.usage: list[dict[str, int]] = []
        self.profiles = tuple(profiles) if profiles else None
        self.tools = llm_tools.command_tools(allowed_commands)
        self.system_text = self.redactor.text(SYSTEM_PROMPT)
        self.skill_text = (SKILL_HEADING + self.redactor.text(skill_body.strip())) if skill_body.strip() else ""
        self.log = log if log is not None else get_logger("hermes.planner")

    @abstractmethod
    async def close(self) -> None: ...

    # -- what a provider supplies -----------------------------------------------------------------
    @abstractmethod
    def request_payload(self, transcript: Transcript) -> dict[str, Any]:
        """The keyword arguments of the API call for the transcript, redacted."""

    @abstractmethod
    async def _send(self, payload: dict[str, Any]) -> Any:
        """One API call (the SDK's own retries are off)."""

    @abstractmethod
    def _turn(self, response: Any) -> ModelTurn:
        """The API's answer as a model turn."""

    @abstractmethod
    def _usage_of(self, response: Any) -> dict[str, int]:
        """`input` (uncached), `output`, `cache_creation` and `cache_read` tokens of one call."""

    @abstractmethod
    async def _find_model(self) -> list[str] | None:
        """Ask the API whether it has the model: None when it has, else the ids it offers (maybe
        empty). SDK errors propagate (a 404 means the model is unknown)."""

    def _model_missing(self, status: int, error_type: str, code: str, message: str) -> bool:
        """Whether a refused request means the API does not know the model."""
        return status == 404

    # -- the Engine protocol ------------------------------------------------------------------------
    async def next(self, text: str, context: decisions.Context) -> decisions.Decision:
        """The decision for a new message: a fresh transcript with the conversation so far."""
        notes = [context_note(context)] if context.clusters else []
        history = [{"role": line.role, "text": line.text} for line in context.history]
        transcript = Transcript.start(history, text, notes=notes, redactor=self.redactor)
        return self.decision(await self.next_action(transcript), transcript)

    async def resume(self, then: decisions.Continuation, result: ExecutionResult,
                     context: decisions.Context) -> decisions.Decision:
        """The commands the model asked for have run: their outcomes go back to it as tool results."""
        if not isinstance(then, decisions.ResumeModel):
            raise TypeError(f"the {self.name} engine resumes only its own runs, not {type(then).__name__}")
        transcript = Transcript.model_validate_json(then.transcript)
        transcript.add_tool_results([ToolResult.from_step(call_id, step) for call_id, step
                                     in zip(then.tool_call_ids, result.steps, strict=False)],
                                    redactor=self.redactor)
        return self.decision(await self.next_action(transcript), transcript)

    def decision(self, action: EngineAction, transcript: Transcript) -> decisions.Decision:
        """The model's action as a decision; commands carry the transcript to resume with."""
        if isinstance(action, ProposeSteps):
            then = decisions.ResumeModel(engine=self.name, transcript=transcript.model_dump_json(),
                                         tool_call_ids=action.tool_use_ids)
            return decisions.Propose(action.intent or "llm", action.steps, action.summary, action.cluster, then)
        if isinstance(action, Design):
            return decisions.DesignGoal(action.goal, action.cluster, action.environment)
        if isinstance(action, Revise):
            return decisions.ReviseDesign(action.instruction)
        if isinstance(action, Switch):
            return decisions.SwitchProfile(action.name)
        if isinstance(action, Ask):
            return decisions.Answer(action.question)
        if isinstance(action, Failed):
            return decisions.Answer(action.text, kind="error")
        return decisions.Answer(action.text)

    # -- the start-up check ------------------------------------------------------------------------
    async def check(self) -> ModelCheck:
        """Whether the API has this engine's model (its models API), with what to do when not."""
        sdk = self.sdk
        try:
            offered = await self._find_model()
        except sdk.NotFoundError:
            offered = []
        except sdk.AuthenticationError:
            return ModelCheck(self.name, False, failures.key_refused_text(self.api), fatal=True)
        except sdk.PermissionDeniedError:
            return ModelCheck(self.name, False, failures.permission_text(self.api, self.model), fatal=True)
        except sdk.APIStatusError as error:
            return ModelCheck(self.name, False, (
                f"Hermes could not check model {self.model!r}: {self.api.label} answered {error.status_code}. "
                "Requests will try the model anyway."))
        except sdk.APIConnectionError:
            return ModelCheck(self.name, False, (
                f"Hermes could not reach {self.api.label} to check model {self.model!r}. Requests will try "
                "the model anyway; check the network and the API base URL."))
        if offered is None:
            return ModelCheck(self.name, True)
        return ModelCheck(self.name, False, failures.model_not_found_text(self.api, self.model, offered), fatal=True)

    # -- one step of a run ---------------------------------------------------------------------------
    async def next_action(self, transcript: Transcript) -> EngineAction:
        """Ask the model for the next thing to do. Tool calls that do not parse go back to the model
        as tool errors (within the step limit); the first acceptable turn becomes the action."""
        if transcript.pending:
            raise ValueError(f"results are still awaited for tool calls {', '.join(transcript.awaiting)}")
        if transcript.done:
            raise ValueError("this transcript's run has finished; start a new one")
        usage: list[dict[str, int]] = []
        while True:
            if transcript.model_calls >= self.max_steps:
                transcript.done = True
                return failures.step_limit(self.max_steps).model_copy(update={"usage": usage})
            outcome = await self._create(self.request_payload(transcript))
            if isinstance(outcome, Failed):
                transcript.done = True
                self.log.warning("model call failed", engine=self.name, reason=outcome.reason, text=outcome.text)
                return outcome.model_copy(update={"usage": usage})
            response, retries = outcome
            transcript.model_calls += 1
            record = {**self._usage_of(response), "retries": retries}
            self.usage.append(record)
            del self.usage[:-USAGE_KEEP]
            usage.append(record)
            transcript.usage.append(record)
            self.log.info("model call", engine=self.name, **record)
            action = self._decide(transcript, self._turn(response))
            if action is not None:
                action.usage = usage
                return action

    def _decide(self, transcript: Transcript, turn: ModelTurn) -> EngineAction | None:
        """The action for a model turn, or None when tool errors went back to the model."""
        text = self.redactor.text(turn.text)
        calls = turn.calls
        if turn.stop == "refusal":
            transcript.done = True
            said = text or self.redactor.text(turn.refusal.strip())
            return Failed(reason="refusal", text="The model declined this request; nothing was run."
                                                 + (f" It said: {said}" if said else ""))
        if turn.stop == "max_tokens":
            transcript.done = True
            if text and not calls:
                return Final(text=text + "\n[answer cut off at the token limit]")
            return Failed(reason="truncated", text=(
                f"The model's answer was cut off at the token limit ({self.max_tokens} tokens); nothing was "
                "run. Ask again more narrowly, or raise the engine's max_tokens."))
        if not calls:
            transcript.done = True
            return Final(text=text or "(the model gave no answer)")
        errors, action = self._check_calls(calls, text)
        transcript.exchanges.append({"role": "assistant", "content": turn.content})
        if errors is None and action is not None:
            if isinstance(action, ProposeSteps):
                argvs = [s.argv for s in action.steps]
                transcript.pending = [PendingCall(id=i, name=n, argv=a)
                                      for (i, n, _), a in zip(calls, argvs, strict=True)]
            else:
                transcript.pending = [PendingCall(id=calls[0][0], name=calls[0][1])]
                transcript.done = not isinstance(action, Ask)
            return action
        assert errors is not None
        transcript.exchanges.append({"role": "user", "content": [
            tool_result_block(i, errors.get(i, "Not run: another call in the same turn was refused. Send again "
                                               "the calls you still need."), True) for i, _, _ in calls]})
        return None

    def _check_calls(self, calls: list[tuple[str, str, Any]],
                     text: str) -> tuple[dict[str, str] | None, EngineAction | None]:
        """(errors by tool-call id, None) when any call is refused, else (None, the action)."""
        errors: dict[str, str] = {}
        controls = [c for c in calls if c[1] in CONTROL_TOOLS]
        if controls and len(calls) > 1:
            msg = ("Refused before anything ran: call `design_infrastructure`, `revise_design`, "
                   "`switch_profile` or `ask_user` alone, not together with other calls.")
            return {i: msg for i, _, _ in calls}, None
        if len(calls) > MAX_STEPS_PER_PROPOSAL:
            msg = f"Refused before anything ran: at most {MAX_STEPS_PER_PROPOSAL} commands at once."
            return {i: msg for i, _, _ in calls}, None
        if controls:
            call_id, name, tool_input = controls[0]
            try:
                values = llm_tools.control_call(name, tool_input, self.profiles)
            except ToolCallError as refused:
                return {call_id: f"Refused before anything ran: {refused}"}, None
            if name == llm_tools.DESIGN_TOOL:
                return None, Design(goal=values["goal"] or "", cluster=values["cluster"] or "",
                                    environment=values["environment"])
            if name == llm_tools.REVISE_TOOL:
                return None, Revise(instruction=values["instruction"] or "")
            if name == llm_tools.SWITCH_TOOL:
                return None, Switch(name=values["name"] or "")
            return None, Ask(question=self.redactor.text(values["question"] or ""))
        steps: list[PlanStep] = []
        parsed_all: list[ParsedCommand] = []
        for call_id, name, tool_input in calls:
            tool = self.tools.get(name)
            if tool is None:
                errors[call_id] = (f"Refused before anything ran: there is no tool `{name}`"
                                   + (" in this profile" if name.startswith(llm_tools.TOOL_PREFIX) else "")
                                   + ". Use only the tools listed.")
                continue
            try:
                argv = tool.argv(tool_input)
                parsed = parse(argv)  # the rail, checked again where the step is made
            except ToolCallError as refused:
                errors[call_id] = f"Refused before anything ran: {refused}"
                continue
            parsed_all.append(parsed)
            steps.append(PlanStep(argv=argv, title=llm_tools.describe(parsed)))
        if errors:
            return errors, None
        keys = {p.key for p in parsed_all}
        intent = (parsed_all[0].key if len(keys) == 1 else "llm.steps").replace(" ", ".")
        summary = text or "Proposed: " + "; ".join(display(s.argv) for s in steps)
        cluster = next((p.cluster for p in parsed_all if p.cluster), None)
        return None, ProposeSteps(steps=steps, tool_use_ids=[c[0] for c in calls], summary=cap(summary, 3900),
                                  intent=intent[:128], cluster=cluster)

    # -- the API call, with retries ------------------------------------------------------------------
    async def _create(self, payload: dict[str, Any]) -> tuple[Any, int] | Failed:
        sdk = self.sdk
        attempt = 0
        while True:
            try:
                return await self._send(payload), attempt
            except sdk.APIStatusError as error:
                error_type, code, message = failures.error_fields(error.body)
                if not failures.retryable(error.status_code) or code == "insufficient_quota":
                    return failures.refused(
                        self.api, self.model, error.status_code, error_type, code,
                        self.redactor.text(message) if error.status_code != 401 else "",
                        model_missing=self._model_missing(error.status_code, error_type, code, message))
                last: Exception = error
                wait = failures.retry_after(error.response.headers)
            except sdk.APIConnectionError as error:  # includes APITimeoutError
                last, wait = error, None
            except self.sdk_error as error:
                return failures.unexpected(self.api, error)
            if attempt >= self.max_retries:
                return failures.gave_up(
                    self.api, attempts=attempt + 1, timeout=self.timeout,
                    status=last.status_code if isinstance(last, sdk.APIStatusError) else None,
                    timed_out=isinstance(last, sdk.APITimeoutError))
            await asyncio.sleep(self.retry.delay(attempt, wait))
            attempt += 1

    # -- redaction of what goes out ----------------------------------------------------------------
    def redact_block(self, block: dict[str, Any]) -> dict[str, Any]:
        """A content block with every text and tool input redacted. Identifiers the engine controls (block
        type, tool-call ids, tool names) stay as they are: `ankra_cluster_deprovision`-like text has the
        shape of an Ankra token, and a redacted tool name would break the exchange."""
        out = dict(block)
        kind = block.get("type")
        if kind == "text":
            out["text"] = self.redactor.text(block.get("text", ""))
        elif kind == "tool_use":
            out["input"] = self.redactor.data(block.get("input"))
        elif kind == "tool_result":
            content = block.get("content")
            out["content"] = (self.redactor.text(content) if isinstance(content, str)
                              else [self.redact_block(c) for c in content or []])
        else:
            out = self.redactor.data(block)
        return out


# -- the fast path --------------------------------------------------------------------------------


def rules_first(text: str, context: Any = None) -> bool:
    """True when the rules engine recognises `text` with certainty — commands, a profile switch, an
    approval answer, a design or a revision — so the planner makes no model call for it. A help text
    or a question back is not certain: the model may do better."""
    from hermes_planner.engines.rules import engine as rules

    try:
        result = rules.interpret(text, context)
    except Exception:
        return False
    return decisions.is_certain(result)


def context_note(context: decisions.Context) -> str:
    """What the model is told about the clusters: names, providers and ids. Commands that look a cluster
    up by UUID (`cluster scale`, node groups, `cluster <provider> workers`) take the id; people are
    told the name."""
    listed = ", ".join(f"{c.name} (provider {c.provider or 'unknown'}, id {c.id or 'unknown'})"
                       for c in context.clusters or ())
    return (f"Known clusters: {listed}. Commands whose argument is a cluster_id take the id, never the "
            "name; say the name to the person.")
