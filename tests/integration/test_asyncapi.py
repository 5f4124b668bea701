"""The AsyncAPI document generated from the code is the bus contract; docs/asyncapi.yaml is its
snapshot, so any change to a subject or a message schema is visible in review."""

from __future__ import annotations

from pathlib import Path

import yaml
from hermes import subjects
from hermes_cli.asyncapi import build_document

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


def test_generated_document_matches_the_committed_snapshot() -> None:
    generated = build_document()
    assert generated == SNAPSHOT.read_text(), (
        "the bus contract changed: review it, then regenerate docs/asyncapi.yaml with `hermes asyncapi`")


def test_document_covers_every_consumed_subject_with_its_message_schema() -> None:
    doc = yaml.safe_load(build_document())
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses == {subjects.CHAT_RECEIVED, subjects.PLAN_PROPOSED, subjects.APPROVAL_DECIDED,
                         subjects.PROFILE_SWITCH, subjects.EXEC_ORDER, subjects.EXEC_RESULT,
                         subjects.REPLY_CREATED, subjects.DELIVERY_REQUESTED}
    schemas = doc["components"]["schemas"]
    chat = schemas["ChatMessage"]
    assert set(chat["required"]) >= {"conversation_id", "correlation_id", "text"}
    assert "ExecutionOrder" in schemas and "signature" in schemas["ExecutionOrder"]["properties"]


def test_hermes_asyncapi_prints_the_document(tmp_path) -> None:
    from hermes_cli.main import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["asyncapi", "--output", str(tmp_path / "bus.yaml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "bus.yaml").read_text() == SNAPSHOT.read_text()
