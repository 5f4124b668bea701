"""The one catalog of bus subjects, JetStream streams and durable consumer names.

Every service imports its subjects from here; nothing else spells a subject. Subjects are
versioned (`hermes.v1.…`): a change of meaning gets a new version, never a silent change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.js.api import RetentionPolicy, StorageType

PREFIX = "hermes.v1"

# Subjects ------------------------------------------------------------------------------------
CHAT_RECEIVED = f"{PREFIX}.chat.received"
"""gateway (or any other system) -> planner: a person's message, `ChatMessage`."""

PLAN_PROPOSED = f"{PREFIX}.plan.proposed"
"""planner -> guard: a typed plan of `ankra` commands, `Plan`."""

EXEC_ORDER = f"{PREFIX}.exec.order"
"""guard -> executor: a signed `ExecutionOrder` (work queue; only the guard publishes it)."""

EXEC_RESULT = f"{PREFIX}.exec.result"
"""executor -> planner: an `ExecutionResult` for one order."""

REPLY_CREATED = f"{PREFIX}.reply.created"
"""planner/guard/executor -> gateway: something to show in the conversation, `Reply`.

An approval request travels here too (a `Reply` whose `approval` is set), so that it keeps its
place in the conversation's order relative to the replies around it.
"""

APPROVAL_DECIDED = f"{PREFIX}.approval.decided"
"""gateway -> guard: a person approved or rejected, `ApprovalDecision`."""

AUDIT = f"{PREFIX}.audit"
"""guard and executor -> the audit stream: every decision and outcome, `AuditRecord`, each service on
its own subject (`audit_subject`), so NATS permissions keep one service from writing another's records."""


def audit_subject(service: str) -> str:
    """The subject on which `service` (guard, executor) publishes its own audit records."""
    return f"{AUDIT}.{service}"

PROFILE_SWITCH = f"{PREFIX}.profile.switch"
"""planner -> guard: a person asked to change the conversation's profile, `ProfileSwitch`."""

DELIVERY_REQUESTED = f"{PREFIX}.delivery.requested"
"""gateway -> gateway: a reply to send to a chat platform, `Delivery` (the durable outbox; any
replica sends it, retried with backoff until it is sent or too old)."""

DEAD_LETTER = f"{PREFIX}.deadletter"
"""any service: a message that failed validation, with the reason, `DeadLetter`."""


def dead_letter_subject(original_subject: str) -> str:
    """The dead-letter subject for messages that arrived on `original_subject`."""
    return f"{DEAD_LETTER}.{original_subject.removeprefix(PREFIX + '.')}"


# Streams -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream: its name, subjects, retention and how long messages live."""

    name: str
    subjects: list[str]
    retention: RetentionPolicy = RetentionPolicy.WORK_QUEUE
    max_age_seconds: float = 7 * 24 * 3600
    storage: StorageType = StorageType.FILE
    duplicate_window_seconds: float = 120.0
    description: str = ""
    durables: list[str] = field(default_factory=list)


# One stream per consuming group, so work-queue retention holds (a message is gone once acked).
CHAT_STREAM = StreamSpec(
    name="HERMES_CHAT",
    subjects=[CHAT_RECEIVED],
    description="Inbound chat messages waiting for the planner",
    durables=["planner-chat"],
)
PLAN_STREAM = StreamSpec(
    name="HERMES_PLANS",
    subjects=[PLAN_PROPOSED, APPROVAL_DECIDED, PROFILE_SWITCH],
    description="Plans, approval decisions and profile switches waiting for the guard",
    durables=["guard-plans", "guard-approvals", "guard-profiles"],
)
EXEC_STREAM = StreamSpec(
    name="HERMES_EXEC",
    subjects=[EXEC_ORDER],
    description="Signed execution orders, shared by every executor replica",
    durables=["executor-orders"],
)
RESULT_STREAM = StreamSpec(
    name="HERMES_RESULTS",
    subjects=[EXEC_RESULT],
    description="Execution results waiting for the planner",
    durables=["planner-results"],
)
REPLY_STREAM = StreamSpec(
    name="HERMES_REPLIES",
    subjects=[REPLY_CREATED],
    description="Replies (approval requests included) waiting for the gateway",
    durables=["gateway-replies"],
    # Replies carry their own time-to-live; the stream keeps them no longer than a day.
    max_age_seconds=24 * 3600,
)
DELIVERY_STREAM = StreamSpec(
    name="HERMES_DELIVERY",
    subjects=[DELIVERY_REQUESTED],
    description="Replies waiting to be sent to Slack, Telegram or Discord (the gateway's outbox)",
    durables=["gateway-delivery"],
    max_age_seconds=24 * 3600,
)
DEAD_LETTER_STREAM = StreamSpec(
    name="HERMES_DEADLETTER",
    subjects=[f"{DEAD_LETTER}.>"],
    retention=RetentionPolicy.LIMITS,
    max_age_seconds=14 * 24 * 3600,
    description="Messages that failed validation, kept for inspection",
)

AUDIT_STREAM = StreamSpec(
    name="HERMES_AUDIT",
    subjects=[f"{AUDIT}.>"],
    retention=RetentionPolicy.LIMITS,
    max_age_seconds=365 * 24 * 3600,
    description="Append-only audit of every decision: who asked, who approved, profile, plan hash, outcome",
)

STREAMS: tuple[StreamSpec, ...] = (
    CHAT_STREAM,
    PLAN_STREAM,
    EXEC_STREAM,
    RESULT_STREAM,
    REPLY_STREAM,
    DELIVERY_STREAM,
    DEAD_LETTER_STREAM,
    AUDIT_STREAM,
)

# Durable consumer names ----------------------------------------------------------------------
PLANNER_CHAT_DURABLE = "planner-chat"
PLANNER_RESULTS_DURABLE = "planner-results"
GUARD_PLANS_DURABLE = "guard-plans"
GUARD_APPROVALS_DURABLE = "guard-approvals"
GUARD_PROFILES_DURABLE = "guard-profiles"
EXECUTOR_ORDERS_DURABLE = "executor-orders"
GATEWAY_REPLIES_DURABLE = "gateway-replies"
GATEWAY_DELIVERY_DURABLE = "gateway-delivery"


def stream_for(subject: str) -> StreamSpec:
    """The stream that captures `subject` (exact subjects or a trailing `>` wildcard)."""
    for spec in STREAMS:
        for pattern in spec.subjects:
            if pattern == subject or (pattern.endswith(".>") and subject.startswith(pattern[:-1])):
                return spec
    raise KeyError(f"no stream captures subject {subject!r}; declare it in hermes.subjects")
