"""Message contracts: strict about unknown fields, required envelope fields and schema versions;
lossless through JSON; reply blocks chosen by their `type`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hermes.contracts import (
    SCHEMA_VERSION,
    ApprovalDecision,
    ApprovalPrompt,
    ChatMessage,
    CodeBlock,
    DeadLetter,
    ExecutionOrder,
    ExecutionResult,
    OrderStep,
    Plan,
    PlanStep,
    Reply,
    StepResult,
    TableBlock,
    TextBlock,
    new_id,
    utcnow,
)
from pydantic import ValidationError

IDS = {"conversation_id": "conv-1", "correlation_id": "corr-1"}


def a_plan(**overrides) -> Plan:
    fields = dict(IDS, message_id="m-1", requested_by="alice", intent="cluster.list",
                  steps=[PlanStep(argv=["cluster", "list"], title="List all clusters")])
    fields.update(overrides)
    return Plan(**fields)


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple]:
    return [(e["type"], e["loc"]) for e in exc.value.errors()]


# -- envelope ----------------------------------------------------------------------------------


def test_envelope_fields_have_defaults_for_id_version_and_time() -> None:
    m = ChatMessage(text="List my Ankra clusters", **IDS)
    assert m.id and m.schema_version == SCHEMA_VERSION
    assert m.created_at.tzinfo is not None
    assert m.user == "anonymous" and m.channel == "http"


def test_new_ids_are_distinct() -> None:
    assert len({new_id() for _ in range(100)}) == 100


def test_utcnow_is_timezone_aware() -> None:
    assert utcnow().utcoffset() == timedelta(0)


def test_missing_conversation_id_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        ChatMessage(text="hi", correlation_id="corr-1")
    assert ("missing", ("conversation_id",)) in errors_of(exc)


def test_empty_conversation_id_is_refused() -> None:
    with pytest.raises(ValidationError):
        ChatMessage(text="hi", conversation_id="", correlation_id="corr-1")


@pytest.mark.parametrize("model, payload", [
    (ChatMessage, dict(IDS, text="hi", colour="blue")),
    (ApprovalDecision, dict(IDS, approval_id="a", decision="approve", user="bob", approver="x")),
    (Plan, dict(IDS, message_id="m", requested_by="a", intent="x", steps=[{"argv": ["cluster", "list"]}],
                sneaky=True)),
])
def test_extra_fields_are_refused(model, payload) -> None:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(payload)
    assert any(kind == "extra_forbidden" for kind, _ in errors_of(exc))


def test_extra_field_in_a_nested_step_is_refused() -> None:
    payload = dict(IDS, message_id="m", requested_by="a", intent="x",
                   steps=[{"argv": ["cluster", "list"], "shell": "rm -rf /"}])
    with pytest.raises(ValidationError) as exc:
        Plan.model_validate(payload)
    assert ("extra_forbidden", ("steps", 0, "shell")) in errors_of(exc)


def test_schema_version_above_current_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        ChatMessage(text="hi", schema_version=SCHEMA_VERSION + 1, **IDS)
    assert any(loc == ("schema_version",) for _, loc in errors_of(exc))


def test_schema_version_zero_is_refused() -> None:
    with pytest.raises(ValidationError):
        ChatMessage(text="hi", schema_version=0, **IDS)


def test_current_schema_version_is_accepted() -> None:
    assert ChatMessage(text="hi", schema_version=SCHEMA_VERSION, **IDS).schema_version == SCHEMA_VERSION


def test_empty_chat_text_is_refused() -> None:
    with pytest.raises(ValidationError):
        ChatMessage(text="", **IDS)


def test_plan_needs_at_least_one_step_and_each_step_a_word() -> None:
    with pytest.raises(ValidationError):
        a_plan(steps=[])
    with pytest.raises(ValidationError):
        PlanStep(argv=[])


def test_approval_decision_is_approve_or_reject_only() -> None:
    with pytest.raises(ValidationError):
        ApprovalDecision(approval_id="a", decision="maybe", user="bob", **IDS)


def test_step_outcome_is_one_of_the_known_words() -> None:
    with pytest.raises(ValidationError):
        StepResult(step_id="s", argv=["cluster", "list"], command="cluster list", outcome="exploded")


# -- JSON round trips --------------------------------------------------------------------------


def test_plan_round_trips_through_json() -> None:
    plan = a_plan(cluster="production", files={"stack.yaml": "kind: ImportCluster\n"})
    back = Plan.model_validate_json(plan.model_dump_json())
    assert back == plan


def test_execution_order_round_trips_through_json() -> None:
    order = ExecutionOrder(
        **IDS, plan_id="p", requested_by="alice", approved_by=["bob"],
        steps=[OrderStep(step_id="s", argv=["cluster", "deprovision", "demo"], risk="destructive",
                         command="cluster deprovision", confirmed=True)],
        expires_at=datetime(2030, 1, 1, tzinfo=UTC), signature="ab" * 32,
    )
    assert ExecutionOrder.model_validate_json(order.model_dump_json()) == order


def test_execution_result_with_arbitrary_json_data_round_trips() -> None:
    result = ExecutionResult(
        **IDS, order_id="o", plan_id="p", outcome="ok",
        steps=[StepResult(step_id="s", argv=["cluster", "list"], command="cluster list", outcome="ok",
                          exit_code=0, data={"result": [{"name": "prod", "workers": 3}]})],
    )
    assert ExecutionResult.model_validate_json(result.model_dump_json()) == result


def test_reply_with_blocks_and_approval_round_trips_through_json() -> None:
    reply = Reply(
        **IDS, kind="approval", text="Approve?", final=True,
        blocks=[TextBlock(text="t"), CodeBlock(text="c", language="yaml"),
                TableBlock(columns=["NAME"], rows=[["prod"]])],
        approval=ApprovalPrompt(approval_id="a", plan_hash="h", summary="s",
                                steps=[["cluster", "deprovision", "prod"]],
                                expires_at=datetime(2030, 1, 1, tzinfo=UTC)),
    )
    back = Reply.model_validate_json(reply.model_dump_json())
    assert back == reply
    assert [type(b) for b in back.blocks] == [TextBlock, CodeBlock, TableBlock]


def test_dead_letter_accepts_a_payload_without_an_envelope() -> None:
    dl = DeadLetter(subject="hermes.v1.chat.received", reason="invalid", payload="{not json")
    assert DeadLetter.model_validate_json(dl.model_dump_json()) == dl
    assert dl.conversation_id is None


# -- reply blocks ------------------------------------------------------------------------------


def test_reply_blocks_are_chosen_by_type_from_plain_dicts() -> None:
    reply = Reply.model_validate(dict(IDS, blocks=[
        {"type": "table", "title": "Clusters", "columns": ["NAME", "STATE"], "rows": [["prod", "online"]]},
        {"type": "code", "text": "kind: ImportCluster", "language": "yaml"},
        {"type": "text", "text": "Done."},
    ]))
    table, code, text = reply.blocks
    assert isinstance(table, TableBlock) and table.rows == [["prod", "online"]]
    assert isinstance(code, CodeBlock) and code.language == "yaml"
    assert isinstance(text, TextBlock) and text.text == "Done."


def test_reply_block_of_unknown_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        Reply.model_validate(dict(IDS, blocks=[{"type": "image", "url": "https://example.com/x.png"}]))


def test_reply_block_missing_its_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        Reply.model_validate(dict(IDS, blocks=[{"text": "Done."}]))


def test_reply_block_with_fields_of_another_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        Reply.model_validate(dict(IDS, blocks=[{"type": "text", "columns": ["NAME"], "rows": []}]))
