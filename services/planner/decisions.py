"""What an engine decides a message asks for: one set of types for every engine.

The rules engine, the Anthropic engine and the OpenAI engine all implement `Engine` and return a
`Decision`; the planner service carries a decision out in one place (`Planner.carry_out`). A
decision that runs commands (`Propose`) may name what to do with their result (`then`, a typed
`Continuation`), which the planner keeps in Redis until the result arrives.

Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from hermes.approval_answers import ApprovalAnswer
from hermes.contracts import ExecutionResult, PlanStep
from pydantic import BaseModel, ConfigDict, Field

# -- continuations: what to do with a plan's result ---------------------------------------------


class _Then(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResumeRules(_Then):
    """Give the steps' output back to the rules engine (`RulesEngine.resume`), e.g. a scale that read
    the current worker count first."""

    kind: Literal["rules"] = "rules"
    intent: str
    params: dict[str, Any] = Field(default_factory=dict)


class ResumeModel(_Then):
    """Give the steps' output back to the model that asked for them, as tool results."""

    kind: Literal["model"] = "model"
    engine: str = Field(description="the engine's provider/model id, e.g. anthropic/claude-sonnet-4-6")
    transcript: str = Field(description="the engine's own transcript, serialised")
    tool_call_ids: list[str]


class Reinterpret(_Then):
    """The clusters were unknown: after `cluster list`, read the same text again with their names."""

    kind: Literal["reinterpret"] = "reinterpret"
    text: str
    channel: str = "http"


class BuildDesign(_Then):
    """A design's read came back. After the live read (`stage="read"`) the draft is fitted to what
    runs and pre-flighted; after the pre-flight `cluster validate` (`"preflight"`) the build is
    proposed for approval."""

    kind: Literal["design.build"] = "design.build"
    stage: Literal["read", "preflight"] = "preflight"
    changes: list[str] = Field(default_factory=list, description="for a revised design: what changed")


class FollowApply(_Then):
    """An approved build was applied. `cluster apply` (even with `--wait`) returns once the cluster's
    configuration is written; the stacks deploy afterwards. Hermes reads `cluster operations list`
    until that deploy ends before it says "built"."""

    kind: Literal["design.follow"] = "design.follow"
    cluster: str
    stack: str
    components: list[str] = Field(default_factory=list, description="what the stack holds, for the reply")
    polls: int = 0


Continuation = Annotated[ResumeRules | ResumeModel | Reinterpret | BuildDesign | FollowApply,
                         Field(discriminator="kind")]


# -- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Propose:
    """Commands to run, as one plan for the guard."""

    intent: str
    steps: list[PlanStep]
    summary: str
    cluster: str | None = None
    then: ResumeRules | ResumeModel | Reinterpret | BuildDesign | FollowApply | None = None


class PendingRequest(_Then):
    """A request waiting for one more value (a credential, an SSH key, a location, a size): the next
    message fills `missing` and the request goes on, instead of being read as a new request."""

    intent: str
    slots: dict[str, Any] = Field(default_factory=dict, description="the values already given")
    missing: str = Field(description="the slot the question asks for")
    choices: list[str] = Field(default_factory=list, description="the values that exist, offered to the person")


@dataclass(frozen=True)
class Answer:
    """An answer in words: help, a question back, a refusal to guess, or a failure to explain. A
    question back may keep the request it interrupts (`pending`) for the next message to complete."""

    text: str
    kind: Literal["answer", "error"] = "answer"
    suggestions: list[str] = field(default_factory=list)
    pending: PendingRequest | None = None


@dataclass(frozen=True)
class SwitchProfile:
    """Make `name` the conversation's active profile (the guard checks who may)."""

    name: str


@dataclass(frozen=True)
class DesignGoal:
    """Design (then, after approval, build) the infrastructure a goal needs."""

    goal: str
    cluster: str | None
    environment: str | None = None  # "production", "staging", "sandbox" or None


@dataclass(frozen=True)
class ReviseDesign:
    """Change the drafted architecture that is on the table, then re-draft it."""

    instruction: str


Decision = Propose | Answer | SwitchProfile | DesignGoal | ReviseDesign | ApprovalAnswer

# Decisions that settle a request: a model is not asked to do better.
CERTAIN = (Propose, SwitchProfile, ApprovalAnswer, DesignGoal, ReviseDesign)


def is_certain(decision: Decision) -> bool:
    """Whether a decision settles the request (commands, a switch, an approval answer, a design or a
    revision), as opposed to help or a question back, where a model may do better."""
    return isinstance(decision, CERTAIN)


# -- what an engine is told ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterFact:
    """One cluster from the last `cluster list`."""

    name: str
    provider: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class HistoryLine:
    """One earlier turn of the conversation (already redacted)."""

    role: Literal["user", "hermes"]
    text: str


@dataclass(frozen=True)
class Context:
    """What the planner knows about the conversation when an engine decides."""

    clusters: tuple[ClusterFact, ...] | None = None  # from the last `cluster list`; None = unknown
    profiles: tuple[str, ...] = ("default",)
    active_profile: str | None = None  # None: the default profile is in use
    default_profile: str | None = None  # the configured default's name
    last_cluster: str | None = None  # for "now the same on production" / "it"
    last_request: str | None = None  # previous user text, for "now the same on X"
    has_design: bool = False  # a drafted architecture is on the table
    pending_approval_ids: tuple[str, ...] = ()
    history: tuple[HistoryLine, ...] = ()  # earlier turns, oldest first, for the model engines
    pending_request: PendingRequest | None = None  # the question Hermes asked last, waiting for its answer
    channel: str = "http"


class Engine(Protocol):
    """Something that turns a message into a decision, and a plan's result into the next one."""

    name: str

    async def next(self, text: str, context: Context) -> Decision:
        """The decision for a new message."""
        ...

    async def resume(self, then: Continuation, result: ExecutionResult, context: Context) -> Decision:
        """The decision once the steps a `Propose` named `then` for have run."""
        ...

    async def close(self) -> None:
        ...
