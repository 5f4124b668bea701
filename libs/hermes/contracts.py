"""Message contracts: the typed messages that travel on the bus.

Every message carries `id`, `schema_version`, `conversation_id`, `correlation_id` and
`created_at`. New fields are added as optional; a change of meaning bumps `schema_version`.
Unknown fields are refused so that a typo from another system is caught, not ignored.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def new_id() -> str:
    """A fresh, URL-safe message id."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base for every value object in a message: strict about unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=False)


class Envelope(Contract):
    """Fields every bus message carries."""

    id: str = Field(default_factory=new_id, min_length=1, max_length=128)
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    conversation_id: str = Field(min_length=1, max_length=128)
    correlation_id: str = Field(min_length=1, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


# People --------------------------------------------------------------------------------------
Role = Literal["viewer", "operator", "approver", "admin"]
"""viewer: read-only commands, own conversations; operator: may ask for changes; approver: may decide
approvals; admin: users, every conversation, any profile (and everything the others may)."""


class Identity(Contract):
    """Who sent a message, as the gateway authenticated them (a token, a platform signature).

    Signed by the gateway and bound to the one message it vouches for, so a name typed into a request,
    or a stamp copied onto another message, decides nothing: the guard checks it before it counts.
    """

    user: str = Field(min_length=1, max_length=256, description="the Hermes user (or `<platform>:<id>` "
                                                                 "for an unmapped platform user)")
    roles: list[Role] = Field(default_factory=list)
    channel: str = Field(max_length=64, description="http, cli, web, slack, telegram, discord")
    platform_user: str | None = Field(default=None, max_length=256, description="e.g. `slack:U0ALICE`")
    message_id: str = Field(min_length=1, max_length=128, description="the message this stamp vouches for")
    conversation_id: str = Field(min_length=1, max_length=128)
    issued_at: datetime = Field(default_factory=utcnow)
    signature: str = Field(default="", description="the gateway's Ed25519 signature over the rest")


# Inbound -------------------------------------------------------------------------------------
class ChatMessage(Envelope):
    """A person's (or a system's) message to Hermes. Published on `hermes.v1.chat.received`.

    `user` is a claim; `identity`, when the gateway stamped the message, is who really sent it. A
    message another system publishes on the bus has no stamp and gets the bus's role (viewer).
    """

    text: str = Field(min_length=1, max_length=20_000)
    user: str = Field(default="anonymous", min_length=1, max_length=256)
    channel: str = Field(default="http", max_length=64, description="where it came from: http, cli, slack…")
    identity: Identity | None = None


# Plans ---------------------------------------------------------------------------------------
class ObservedRef(Contract):
    """A read step of an earlier order whose recorded result a later step depends on."""

    order_id: str
    step_id: str


class StackChange(Contract):
    """What one step does to one live stack, as names a person reads (Secret key names, never values)."""

    stack: str
    action: Literal["create", "update", "keep", "remove"] = "update"
    added: list[str] = Field(default_factory=list, description="addons and manifests added")
    changed: list[str] = Field(default_factory=list, description="chart, version, values, replicas, storage")
    removed: list[str] = Field(default_factory=list, description="what goes away, with its data")
    secret_keys_added: list[str] = Field(default_factory=list)
    secret_keys_removed: list[str] = Field(default_factory=list)


class PlanStep(Contract):
    """One `ankra` command of a plan, as an argv list without the program name."""

    step_id: str = Field(default_factory=new_id)
    argv: list[str] = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=500, description="what the step does, in a line")
    observed_from: ObservedRef | None = Field(
        default=None,
        description="the read whose result (as the executor recorded it) shows the current state, "
                    "e.g. the worker count a scale step starts from",
    )
    stack_changes: list[StackChange] = Field(
        default_factory=list, description="for an apply: its diff against the live stacks, read just before")
    removes: list[str] = Field(
        default_factory=list, max_length=200,
        description="what the step removes, in words; a step that removes anything is destructive "
                    "(the guard raises its risk; it never lowers the catalog's)")


class BomLine(Contract):
    """One component of a bill of materials."""

    component: str
    chart: str = Field(description="registry/chart, or 'manifest' for a plain manifest")
    version: str = "-"
    replicas: int = 0
    storage_gi: float = 0.0
    cpu_request_m: int = Field(default=0, description="requested CPU, millicores, all replicas")
    memory_request_mi: int = Field(default=0, description="requested memory, MiB, all replicas")
    monthly_cost_estimate: float = 0.0
    notes: str = ""


class BillOfMaterials(Contract):
    """What a build will create and roughly what it costs (an estimate, labelled as such)."""

    lines: list[BomLine]
    total_cpu_request_m: int = 0
    total_memory_request_mi: int = 0
    total_storage_gi: float = 0.0
    monthly_cost_estimate: float = 0.0
    currency: str = "EUR"
    provider: str = ""
    estimate_note: str = "Estimated from a price table; not a quote."


class ArchitectureDraft(Contract):
    """The drafted architecture shown before a build, as a tree a person reads."""

    stack: str
    cluster: str
    tree: str = Field(description="the drafted architecture as a text tree")
    components: list[str] = Field(default_factory=list)
    connection_secret: str | None = Field(default=None, description="Secret the app reads, never its values")
    warnings: list[str] = Field(default_factory=list)


class Plan(Envelope):
    """The planner's proposal for one turn. Published on `hermes.v1.plan.proposed`."""

    message_id: str = Field(description="id of the ChatMessage this plan answers")
    requested_by: str = Field(min_length=1, max_length=256)
    intent: str = Field(max_length=128, description="e.g. cluster.list, cluster.reconcile")
    steps: list[PlanStep] = Field(min_length=1, max_length=32)
    summary: str = Field(default="", max_length=4000)
    cluster: str | None = Field(default=None, description="the cluster the plan is about, if any")
    profile: str | None = Field(default=None, description="active profile for the conversation")
    architecture: ArchitectureDraft | None = None
    bill_of_materials: BillOfMaterials | None = None
    files: dict[str, str] = Field(
        default_factory=dict,
        description="files a step reads, by relative name (e.g. the stack YAML for `cluster apply -f`)",
    )
    identity: Identity | None = Field(default=None, description="the gateway's stamp of the message this "
                                                                "plan answers (who asked)")


# Execution -----------------------------------------------------------------------------------
class OrderStep(Contract):
    """A step the guard has cleared to run."""

    step_id: str
    argv: list[str] = Field(min_length=1, max_length=64)
    title: str = ""
    risk: str = Field(description="risk class from the command catalog")
    command: str = Field(description="catalog key, e.g. 'cluster list'")
    confirmed: bool = Field(default=False, description="approved destructive step: --yes is added")


class ExecutionOrder(Envelope):
    """A signed order to run steps in sequence. Only the guard publishes it."""

    plan_id: str
    steps: list[OrderStep] = Field(min_length=1, max_length=32)
    requested_by: str
    approved_by: list[str] = Field(default_factory=list)
    intent: str = ""
    files: dict[str, str] = Field(default_factory=dict, description="written into the run's directory")
    expires_at: datetime
    signature: str = Field(default="", description="the guard's Ed25519 signature over the rest of the order")


StepOutcome = Literal["ok", "failed", "timeout", "refused", "error", "unknown"]


class StepResult(Contract):
    """What one step did. Output is redacted before it is put here."""

    step_id: str
    argv: list[str]
    command: str
    outcome: StepOutcome
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    data: object | None = Field(default=None, description="parsed `-o json` output, when the command has it")
    error: str | None = Field(default=None, description="why it did not succeed, for a person")
    duration_ms: int = 0
    truncated: bool = False


class ExecutionResult(Envelope):
    """The outcome of an order. Published on `hermes.v1.exec.result`."""

    order_id: str
    plan_id: str
    intent: str = ""
    outcome: StepOutcome
    steps: list[StepResult] = Field(default_factory=list)
    error: str | None = None


# Replies -------------------------------------------------------------------------------------
class TextBlock(Contract):
    type: Literal["text"] = "text"
    text: str


class CodeBlock(Contract):
    type: Literal["code"] = "code"
    text: str
    language: str = ""


class TableBlock(Contract):
    type: Literal["table"] = "table"
    title: str = ""
    columns: list[str]
    rows: list[list[str]]


Block = Annotated[TextBlock | CodeBlock | TableBlock, Field(discriminator="type")]

ReplyKind = Literal["answer", "progress", "approval", "error"]


class ApprovalPrompt(Contract):
    """What a person is asked to approve; rendered with Approve / Reject buttons."""

    approval_id: str
    plan_hash: str
    summary: str
    steps: list[list[str]] = Field(description="the exact argv lists that will run")
    risks: list[str] = Field(default_factory=list)
    expires_at: datetime
    approvers: list[str] = Field(default_factory=list)


class Reply(Envelope):
    """Something to show in a conversation. Published on `hermes.v1.reply.created`.

    `final` marks the end of a turn: the request named by `correlation_id` has its answer
    (or waits for an approval). Every accepted request gets exactly one final reply.
    """

    kind: ReplyKind = "answer"
    text: str = Field(default="", max_length=100_000)
    blocks: list[Block] = Field(default_factory=list)
    final: bool = False
    approval: ApprovalPrompt | None = None
    source: str = Field(default="", description="the service that wrote it")
    expires_at: datetime | None = Field(default=None, description="drop instead of delivering after this")


class Delivery(Envelope):
    """A reply to send to a chat platform. Published on `hermes.v1.delivery.requested` (the gateway's
    durable outbox): sent once by any gateway replica, retried with backoff, dropped after `deliver_by`."""

    reply_id: str = Field(min_length=1, max_length=128)
    platform: str = Field(min_length=1, max_length=32, description="slack, telegram or discord")
    target: dict[str, str] = Field(description="where on the platform (a `DeliveryTarget`)")
    event: dict[str, Any] = Field(description="the conversation event to render (as the HTTP API shows it)")
    deliver_by: datetime = Field(description="not sent after this: a late reply is dropped, not sent hours late")
    sequence: int = Field(default=0, ge=0, description="its place among the conversation's deliveries "
                                                       "(1, 2, …; sent in this order); 0: no order")


# Approvals -----------------------------------------------------------------------------------
class ApprovalDecision(Envelope):
    """A person's decision on a pending approval. Published on `hermes.v1.approval.decided`."""

    approval_id: str = Field(min_length=1, max_length=128)
    decision: Literal["approve", "reject"]
    user: str = Field(min_length=1, max_length=256)
    channel: str = "http"
    identity: Identity | None = Field(default=None, description="the gateway's stamp: who decided")


class ProfileSwitch(Envelope):
    """A person asked to use another profile in this conversation. Published on `hermes.v1.profile.switch`."""

    profile: str = Field(min_length=1, max_length=64)
    user: str = Field(min_length=1, max_length=256)
    identity: Identity | None = Field(default=None, description="the stamp of the message that asked")


# Audit ---------------------------------------------------------------------------------------
AuditEvent = Literal[
    "plan.run", "plan.approval_requested", "plan.refused", "approval.approved", "approval.rejected",
    "approval.refused", "approval.tampered", "order.refused", "order.finished", "profile.switched",
    "profile.refused",
]


class AuditRecord(Envelope):
    """One line of the audit: a decision or an outcome. Published on `hermes.v1.audit`."""

    event: AuditEvent
    service: str
    requested_by: str | None = None
    approved_by: list[str] = Field(default_factory=list)
    profile: str | None = None
    plan_id: str | None = None
    plan_hash: str | None = None
    cluster: str | None = None
    commands: list[list[str]] = Field(default_factory=list)
    outcome: str | None = None
    reason: str | None = None
    platform_user: str | None = Field(default=None, description="the requester's chat-platform identity")
    signature: str = Field(default="", description="Ed25519 signature of the service that wrote it")


# Dead letters --------------------------------------------------------------------------------
class DeadLetter(Contract):
    """A message that could not be accepted, and why. Published on `hermes.v1.deadletter.…`."""

    id: str = Field(default_factory=new_id)
    schema_version: int = SCHEMA_VERSION
    subject: str
    reason: str
    payload: str = Field(description="the raw payload, redacted and cut to 8 KiB")
    conversation_id: str | None = None
    correlation_id: str | None = None
    service: str = ""
    created_at: datetime = Field(default_factory=utcnow)
