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


# Who publishes and who consumes --------------------------------------------------------------
# The flows above as data: `hermes.permissions` derives every NATS user's permissions from these
# tables, so a service may publish exactly what it produces and consume exactly its own durables.
GATEWAY, PLANNER, GUARD, EXECUTOR = "gateway", "planner", "guard", "executor"
SERVICES: tuple[str, ...] = (GATEWAY, PLANNER, GUARD, EXECUTOR)
INTEGRATION = "integration"
"""Another system on the bus: it may start a turn (publish `CHAT_RECEIVED`) and do nothing else."""


@dataclass(frozen=True)
class Route:
    """A subject and the parties allowed to publish on it (services, or `INTEGRATION`).

    Who consumes it is in `CONSUMERS` (a service, through a durable of its own); a subject nobody
    consumes (the audit subjects) is read by operators only (`hermes audit`).
    """

    subject: str
    producers: tuple[str, ...]
    description: str = ""


ROUTES: tuple[Route, ...] = (
    Route(CHAT_RECEIVED, (GATEWAY, INTEGRATION), "a person's message; other systems enter the bus here"),
    Route(PLAN_PROPOSED, (PLANNER,), "the planner's plan for the guard"),
    Route(PROFILE_SWITCH, (PLANNER,), "a requested profile change for the guard"),
    Route(APPROVAL_DECIDED, (GATEWAY,), "a person's decision (chat \"y\"/\"n\"/\"approve <id>\", the web page, a button)"),
    Route(EXEC_ORDER, (GUARD,), "a signed order: only the guard"),
    Route(EXEC_RESULT, (EXECUTOR,), "an order's result: only the executor"),
    Route(REPLY_CREATED, (GATEWAY, PLANNER, GUARD, EXECUTOR), "anything to show in the conversation"),
    Route(DELIVERY_REQUESTED, (GATEWAY,), "the gateway's outbox"),
    Route(audit_subject(GUARD), (GUARD,), "the guard's audit records"),
    Route(audit_subject(EXECUTOR), (EXECUTOR,), "the executor's audit records"),
)


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer: its name, stream, the one subject it filters and the service it serves.

    Created by the bootstrap (`hermes.bus.bootstrap`) with the configuration FastStream would use, so
    a service needs only to look it up, never to create it.
    """

    durable: str
    stream: str
    subject: str
    service: str
    ack_wait_seconds: float | None = None  # None: JetStream's default (30 s)
    max_deliver: int = 5
    """Deliveries before JetStream gives up; on the last one, a message whose handler still fails is
    dead-lettered by the middleware (`hermes.bus.hermes_middleware`) and acked, never redelivered again."""
    backoff_seconds: tuple[float, ...] | None = None
    """JetStream's own redelivery schedule (`ConsumerConfig.backoff`); None on every durable, on purpose:
    the server then takes the ack wait from its first value, and (nats-server 2.15, measured) it overrides
    the delay of a nak from the second nak on, which would break the gateway outbox's `nak(delay=0.3)`
    polling and the middleware's own backoff below. Kept for a consumer that only ever times out."""
    retry_delays_seconds: tuple[float, ...] = (1.0, 5.0, 15.0, 30.0)
    """The backoff schedule: the delay of the nth redelivery after a handler raised (the middleware's nak
    with delay), the last value repeated, until `max_deliver`; consumers that ack by hand (executor,
    gateway delivery) keep their own retry behaviour and delays."""


# Durable consumer names ----------------------------------------------------------------------
PLANNER_CHAT_DURABLE = "planner-chat"
PLANNER_RESULTS_DURABLE = "planner-results"
GUARD_PLANS_DURABLE = "guard-plans"
GUARD_APPROVALS_DURABLE = "guard-approvals"
GUARD_PROFILES_DURABLE = "guard-profiles"
EXECUTOR_ORDERS_DURABLE = "executor-orders"
GATEWAY_REPLIES_DURABLE = "gateway-replies"
GATEWAY_DELIVERY_DURABLE = "gateway-delivery"

EXEC_ACK_WAIT_SECONDS = 9.0
"""Short, so a dead executor's order is picked up within seconds: a running command keeps its order
with a heartbeat (an in-progress ack) every third of this. The executor consumer's ack wait unless HERMES_EXEC_ACK_WAIT_SECONDS says otherwise (the bootstrap
uses the setting, so that the executor, which may not update its consumer, finds it as it wants it)."""

CONSUMERS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec(PLANNER_CHAT_DURABLE, "HERMES_CHAT", CHAT_RECEIVED, PLANNER),
    ConsumerSpec(PLANNER_RESULTS_DURABLE, "HERMES_RESULTS", EXEC_RESULT, PLANNER),
    ConsumerSpec(GUARD_PLANS_DURABLE, "HERMES_PLANS", PLAN_PROPOSED, GUARD),
    ConsumerSpec(GUARD_APPROVALS_DURABLE, "HERMES_PLANS", APPROVAL_DECIDED, GUARD),
    ConsumerSpec(GUARD_PROFILES_DURABLE, "HERMES_PLANS", PROFILE_SWITCH, GUARD),
    # The executor: its ack wait (kept alive by heartbeats); more deliveries, since a crashed executor's
    # order is redelivered (one ack wait later) and recognised by the ledger.
    ConsumerSpec(EXECUTOR_ORDERS_DURABLE, "HERMES_EXEC", EXEC_ORDER, EXECUTOR,
                 ack_wait_seconds=EXEC_ACK_WAIT_SECONDS, max_deliver=10),
    ConsumerSpec(GATEWAY_REPLIES_DURABLE, "HERMES_REPLIES", REPLY_CREATED, GATEWAY),
    # The outbox naks with its own delays: a reply waiting for the one before it is retried every 0.3 s
    # for up to 30 s, a failed send up to HERMES_DELIVERY_MAX_ATTEMPTS times; its bound is only a backstop.
    ConsumerSpec(GATEWAY_DELIVERY_DURABLE, "HERMES_DELIVERY", DELIVERY_REQUESTED, GATEWAY, max_deliver=1000),
)


def _durables(stream: str) -> list[str]:
    return [c.durable for c in CONSUMERS if c.stream == stream]


def producers_of(subject: str) -> tuple[str, ...]:
    """Who may publish `subject` (empty for a subject of no route)."""
    return next((r.producers for r in ROUTES if r.subject == subject), ())


def published_by(party: str) -> tuple[str, ...]:
    """The subjects `party` (a service or `INTEGRATION`) publishes, in `ROUTES` order."""
    return tuple(r.subject for r in ROUTES if party in r.producers)


def consumers_of(subject: str) -> tuple[ConsumerSpec, ...]:
    """The durables that consume `subject`."""
    return tuple(c for c in CONSUMERS if c.subject == subject)


def consumed_by(service: str) -> tuple[ConsumerSpec, ...]:
    """The durables of `service`."""
    return tuple(c for c in CONSUMERS if c.service == service)


def dead_letters_of(service: str) -> tuple[str, ...]:
    """The dead-letter subjects `service` may publish: one per subject it consumes (its middleware
    dead-letters a message it could not accept under that message's own subject)."""
    return tuple(dict.fromkeys(dead_letter_subject(c.subject) for c in consumed_by(service)))


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
    durables=_durables("HERMES_CHAT"),
)
PLAN_STREAM = StreamSpec(
    name="HERMES_PLANS",
    subjects=[PLAN_PROPOSED, APPROVAL_DECIDED, PROFILE_SWITCH],
    description="Plans, approval decisions and profile switches waiting for the guard",
    durables=_durables("HERMES_PLANS"),
)
EXEC_STREAM = StreamSpec(
    name="HERMES_EXEC",
    subjects=[EXEC_ORDER],
    description="Signed execution orders, shared by every executor replica",
    durables=_durables("HERMES_EXEC"),
)
RESULT_STREAM = StreamSpec(
    name="HERMES_RESULTS",
    subjects=[EXEC_RESULT],
    description="Execution results waiting for the planner",
    durables=_durables("HERMES_RESULTS"),
)
REPLY_STREAM = StreamSpec(
    name="HERMES_REPLIES",
    subjects=[REPLY_CREATED],
    description="Replies (approval requests included) waiting for the gateway",
    durables=_durables("HERMES_REPLIES"),
    # Replies carry their own time-to-live; the stream keeps them no longer than a day.
    max_age_seconds=24 * 3600,
)
DELIVERY_STREAM = StreamSpec(
    name="HERMES_DELIVERY",
    subjects=[DELIVERY_REQUESTED],
    description="Replies waiting to be sent to Slack, Telegram or Discord (the gateway's outbox)",
    durables=_durables("HERMES_DELIVERY"),
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


def stream_for(subject: str) -> StreamSpec:
    """The stream that captures `subject` (exact subjects or a trailing `>` wildcard)."""
    for spec in STREAMS:
        for pattern in spec.subjects:
            if pattern == subject or (pattern.endswith(".>") and subject.startswith(pattern[:-1])):
                return spec
    raise KeyError(f"no stream captures subject {subject!r}; declare it in hermes.subjects")
