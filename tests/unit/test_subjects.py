"""The subject and stream catalog: every subject has exactly one stream, dead letters have their own,
and work-queue streams never give one message to two consumers."""

from __future__ import annotations

import itertools

import pytest
from hermes import subjects
from hermes.subjects import (
    DEAD_LETTER_STREAM,
    PREFIX,
    STREAMS,
    RetentionPolicy,
    StreamSpec,
    dead_letter_subject,
    stream_for,
)

MESSAGE_SUBJECTS = [
    subjects.CHAT_RECEIVED, subjects.PLAN_PROPOSED, subjects.EXEC_ORDER, subjects.EXEC_RESULT,
    subjects.REPLY_CREATED, subjects.APPROVAL_DECIDED, subjects.audit_subject("guard"),
    subjects.audit_subject("executor"), subjects.PROFILE_SWITCH, subjects.DELIVERY_REQUESTED,
]
DURABLES = {name: value for name, value in vars(subjects).items() if name.endswith("_DURABLE")}


def overlaps(a: str, b: str) -> bool:
    """True when some subject matches both NATS filters `a` and `b` (`*` one token, `>` the rest)."""
    ta, tb = a.split("."), b.split(".")
    for i in range(max(len(ta), len(tb))):
        x = ta[i] if i < len(ta) else None
        y = tb[i] if i < len(tb) else None
        if x == ">" and y is not None or y == ">" and x is not None:
            return True
        if x is None or y is None:
            return False
        if x != y and "*" not in (x, y):
            return False
    return True


def test_overlap_helper_follows_nats_wildcards() -> None:
    assert overlaps("a.b", "a.b")
    assert overlaps("a.>", "a.b.c")
    assert overlaps("a.*", "a.b")
    assert not overlaps("a.>", "a")
    assert not overlaps("a.b", "a.c")
    assert not overlaps("a.*", "a.b.c")


@pytest.mark.parametrize("subject", MESSAGE_SUBJECTS)
def test_every_subject_is_versioned(subject: str) -> None:
    assert subject.startswith(f"{PREFIX}.") and PREFIX == "hermes.v1"


def test_subjects_are_distinct() -> None:
    assert len(set(MESSAGE_SUBJECTS)) == len(MESSAGE_SUBJECTS)


@pytest.mark.parametrize("subject", MESSAGE_SUBJECTS)
def test_every_subject_is_captured_by_exactly_one_stream(subject: str) -> None:
    capturing = [s.name for s in STREAMS if any(overlaps(p, subject) for p in s.subjects)]
    assert len(capturing) == 1
    assert stream_for(subject).name == capturing[0]


def test_no_two_streams_capture_overlapping_subjects() -> None:
    # JetStream refuses a stream whose subjects overlap another's.
    for a, b in itertools.combinations(STREAMS, 2):
        for pa, pb in itertools.product(a.subjects, b.subjects):
            assert not overlaps(pa, pb), (a.name, pa, b.name, pb)


@pytest.mark.parametrize("subject, stream", [
    (subjects.CHAT_RECEIVED, "HERMES_CHAT"),
    (subjects.PLAN_PROPOSED, "HERMES_PLANS"),
    (subjects.APPROVAL_DECIDED, "HERMES_PLANS"),
    (subjects.PROFILE_SWITCH, "HERMES_PLANS"),
    (subjects.EXEC_ORDER, "HERMES_EXEC"),
    (subjects.EXEC_RESULT, "HERMES_RESULTS"),
    (subjects.REPLY_CREATED, "HERMES_REPLIES"),
    (subjects.DELIVERY_REQUESTED, "HERMES_DELIVERY"),
    (subjects.audit_subject("guard"), "HERMES_AUDIT"),
    (subjects.audit_subject("executor"), "HERMES_AUDIT"),
])
def test_stream_for_names_the_stream_of_each_subject(subject: str, stream: str) -> None:
    assert stream_for(subject).name == stream


def test_execution_orders_use_a_work_queue_stream() -> None:
    assert stream_for(subjects.EXEC_ORDER).retention is RetentionPolicy.WORK_QUEUE


def test_audit_and_dead_letters_are_kept_not_consumed() -> None:
    audit = stream_for(subjects.audit_subject("guard"))
    assert audit.retention is RetentionPolicy.LIMITS and not audit.durables
    assert DEAD_LETTER_STREAM.retention is RetentionPolicy.LIMITS and not DEAD_LETTER_STREAM.durables
    assert audit.max_age_seconds >= 365 * 24 * 3600


def test_each_service_audits_on_its_own_subject() -> None:
    assert subjects.audit_subject("guard") == "hermes.v1.audit.guard"
    assert subjects.audit_subject("executor") == "hermes.v1.audit.executor"
    with pytest.raises(KeyError):
        stream_for(subjects.AUDIT)  # the bare prefix is nobody's subject


def test_stream_for_unknown_subject_raises_naming_it() -> None:
    with pytest.raises(KeyError, match="hermes.v1.nothing.here"):
        stream_for("hermes.v1.nothing.here")


def test_stream_for_does_not_treat_a_bare_prefix_as_captured_by_its_wildcard() -> None:
    with pytest.raises(KeyError):
        stream_for(subjects.DEAD_LETTER)


def test_stream_for_does_not_match_a_longer_word_sharing_the_prefix() -> None:
    with pytest.raises(KeyError):
        stream_for(subjects.DEAD_LETTER + "s.chat")


# -- dead letters ------------------------------------------------------------------------------


@pytest.mark.parametrize("subject", MESSAGE_SUBJECTS)
def test_dead_letter_subject_keeps_the_original_subject_after_the_prefix(subject: str) -> None:
    dl = dead_letter_subject(subject)
    assert dl == f"{PREFIX}.deadletter.{subject.removeprefix(PREFIX + '.')}"
    assert stream_for(dl) is DEAD_LETTER_STREAM


def test_dead_letter_subject_of_a_foreign_subject_stays_in_the_dead_letter_stream() -> None:
    dl = dead_letter_subject("acme.orders.created")
    assert dl == f"{PREFIX}.deadletter.acme.orders.created"
    assert stream_for(dl) is DEAD_LETTER_STREAM


def test_dead_letter_subjects_never_land_in_a_work_queue_stream() -> None:
    for subject in MESSAGE_SUBJECTS:
        dl = dead_letter_subject(subject)
        assert all(not overlaps(p, dl) for s in STREAMS if s is not DEAD_LETTER_STREAM for p in s.subjects)


# -- work queues and durable consumers -----------------------------------------------------------

WORK_QUEUES = [s for s in STREAMS if s.retention is RetentionPolicy.WORK_QUEUE]


def test_there_are_work_queue_streams_to_check() -> None:
    assert {s.name for s in WORK_QUEUES} >= {"HERMES_CHAT", "HERMES_PLANS", "HERMES_EXEC"}


@pytest.mark.parametrize("stream", WORK_QUEUES, ids=lambda s: s.name)
def test_work_queue_consumers_can_have_disjoint_filters(stream: StreamSpec) -> None:
    """A work-queue stream refuses consumers with overlapping filters. Each durable filters one of the
    stream's subjects, so a stream needs at least as many disjoint subjects as durables."""
    assert stream.durables, "a work-queue stream nobody consumes keeps its messages forever"
    assert len(stream.durables) == len(set(stream.durables))
    assert len(stream.durables) <= len(stream.subjects)
    for a, b in itertools.combinations(stream.subjects, 2):
        assert not overlaps(a, b), (stream.name, a, b)


@pytest.mark.parametrize("stream", WORK_QUEUES, ids=lambda s: s.name)
def test_work_queue_streams_use_exact_subjects(stream: StreamSpec) -> None:
    for subject in stream.subjects:
        assert "*" not in subject and ">" not in subject


def test_durable_names_are_unique_across_streams() -> None:
    names = [d for s in STREAMS for d in s.durables]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("constant", sorted(DURABLES))
def test_every_durable_constant_is_declared_on_exactly_one_stream(constant: str) -> None:
    owners = [s.name for s in STREAMS if DURABLES[constant] in s.durables]
    assert len(owners) == 1


def test_every_declared_durable_has_a_constant() -> None:
    declared = {d for s in STREAMS for d in s.durables}
    assert declared == set(DURABLES.values())


@pytest.mark.parametrize("constant, subject", [
    ("PLANNER_CHAT_DURABLE", subjects.CHAT_RECEIVED),
    ("PLANNER_RESULTS_DURABLE", subjects.EXEC_RESULT),
    ("GUARD_PLANS_DURABLE", subjects.PLAN_PROPOSED),
    ("GUARD_APPROVALS_DURABLE", subjects.APPROVAL_DECIDED),
    ("GUARD_PROFILES_DURABLE", subjects.PROFILE_SWITCH),
    ("EXECUTOR_ORDERS_DURABLE", subjects.EXEC_ORDER),
    ("GATEWAY_REPLIES_DURABLE", subjects.REPLY_CREATED),
    ("GATEWAY_DELIVERY_DURABLE", subjects.DELIVERY_REQUESTED),
])
def test_each_durable_is_on_the_stream_of_the_subject_it_consumes(constant: str, subject: str) -> None:
    assert DURABLES[constant] in stream_for(subject).durables


def test_streams_use_file_storage_and_a_dedupe_window() -> None:
    for s in STREAMS:
        assert s.storage.value == "file"
        assert s.duplicate_window_seconds > 0
        assert s.max_age_seconds > s.duplicate_window_seconds


# -- who publishes, who consumes (the source of the NATS permissions) ------------------------------

ROUTED = {r.subject: set(r.producers) for r in subjects.ROUTES}


def test_every_message_subject_has_a_route_and_only_those() -> None:
    assert set(ROUTED) == set(MESSAGE_SUBJECTS)
    assert len(subjects.ROUTES) == len(ROUTED), "a subject routed twice"


@pytest.mark.parametrize("subject, producers", [
    (subjects.CHAT_RECEIVED, {"gateway", "integration"}),
    (subjects.PLAN_PROPOSED, {"planner"}),
    (subjects.PROFILE_SWITCH, {"planner"}),
    (subjects.APPROVAL_DECIDED, {"gateway"}),  # not the planner: the gateway recognises decisions itself
    (subjects.EXEC_ORDER, {"guard"}),
    (subjects.EXEC_RESULT, {"executor"}),
    (subjects.REPLY_CREATED, {"gateway", "planner", "guard", "executor"}),
    (subjects.DELIVERY_REQUESTED, {"gateway"}),
    (subjects.audit_subject("guard"), {"guard"}),
    (subjects.audit_subject("executor"), {"executor"}),
])
def test_who_may_publish_each_subject(subject: str, producers: set[str]) -> None:
    assert ROUTED[subject] == producers
    assert set(subjects.producers_of(subject)) == producers


def test_other_systems_may_only_start_a_turn() -> None:
    assert subjects.published_by(subjects.INTEGRATION) == (subjects.CHAT_RECEIVED,)
    assert subjects.INTEGRATION not in subjects.SERVICES


def test_every_consumer_is_a_declared_durable_on_the_stream_of_its_subject() -> None:
    assert [c.durable for c in subjects.CONSUMERS] == list(dict.fromkeys(c.durable for c in subjects.CONSUMERS))
    assert {c.durable for c in subjects.CONSUMERS} == set(DURABLES.values())
    for consumer in subjects.CONSUMERS:
        spec = stream_for(consumer.subject)
        assert consumer.stream == spec.name and consumer.durable in spec.durables, consumer
        assert consumer.service in subjects.SERVICES
        assert consumer.durable.startswith(consumer.service + "-"), "a durable is named after its service"


def test_every_produced_subject_is_consumed_or_kept() -> None:
    """A routed subject has a durable consumer, or lands in a stream that keeps it (the audit)."""
    for route in subjects.ROUTES:
        if not subjects.consumers_of(route.subject):
            assert stream_for(route.subject).retention is RetentionPolicy.LIMITS, route.subject


def test_a_service_dead_letters_only_what_it_consumes() -> None:
    for service in subjects.SERVICES:
        consumed = {c.subject for c in subjects.consumed_by(service)}
        assert set(subjects.dead_letters_of(service)) == {dead_letter_subject(s) for s in consumed}
    assert subjects.dead_letters_of("integration") == ()


def test_the_executor_consumer_has_its_ack_wait() -> None:
    executor = next(c for c in subjects.CONSUMERS if c.durable == subjects.EXECUTOR_ORDERS_DURABLE)
    assert executor.ack_wait_seconds == subjects.EXEC_ACK_WAIT_SECONDS
    from hermes.settings import Settings

    assert Settings.model_fields["exec_ack_wait_seconds"].default == subjects.EXEC_ACK_WAIT_SECONDS
