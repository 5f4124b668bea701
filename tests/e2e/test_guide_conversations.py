"""The guide's conversations beyond the first two, through the four services and the emulator:
design → draft and bill of materials → "y" → build; iteration voiding an approval; profiles;
scaling that reads the current count first; Ankra AI."""

from __future__ import annotations

import json

import pytest
from ankra_emulator.seed import PRODUCTION_ID

from .conftest import HermesStack

pytestmark = pytest.mark.e2e

GOAL = "My app needs a Postgres database and a Redis cache on staging. Set it up."


def _final(events: list[dict]) -> dict:
    assert events and events[-1]["final"], events
    return events[-1]


async def test_design_conversation_drafts_asks_and_builds_after_yes(hermes: HermesStack) -> None:
    sent, events = await hermes.turn(GOAL)
    cid = sent["conversation_id"]
    approval = _final(events)
    assert approval["kind"] == "approval", approval["text"]
    text = approval["text"]
    assert "Here's the architecture I propose for staging-cluster." in text
    assert "app-data-credentials" in text and "Proceed to build this stack? (y/n)" in text
    tree = next(b["text"] for b in approval["blocks"] if b["type"] == "code")
    assert "app-data (stack)" in tree and "postgres" in tree and "redis" in tree
    bom = next(b for b in approval["blocks"] if b["type"] == "table")
    charts = {row[1] for row in bom["rows"]}
    assert "bitnami/postgresql-ha" in charts and "bitnami/redis" in charts
    assert "estimate" in bom["title"].lower()
    prompt = approval["approval"]
    # `cluster apply` is asynchronous unless told to wait: Hermes follows it to its end
    assert prompt["steps"] == [["cluster", "apply", "-f", "stack.yaml", "--cluster", "staging-cluster", "--wait"]]
    # the pre-flight ran, the build did not
    argvs = [c["argv"] for c in hermes.emulator_calls()]
    assert any(a[:2] == ["cluster", "validate"] for a in argvs)
    assert not any(a[:2] == ["cluster", "apply"] for a in argvs)

    _, built = await hermes.turn("y", conversation_id=cid)
    final = _final(built)
    assert final["kind"] == "answer", final["text"]
    applies = [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "apply"]]
    assert len(applies) == 1 and applies[0]["exit_code"] == 0

    _, listed = await hermes.turn("list stacks on staging", conversation_id=cid)
    assert "app-data" in json.dumps(_final(listed))


async def test_iteration_redrafts_shows_changes_and_voids_the_first_approval(hermes: HermesStack) -> None:
    sent, events = await hermes.turn(GOAL)
    cid = sent["conversation_id"]
    first = _final(events)["approval"]["approval_id"]
    _, events = await hermes.turn("make Postgres storage 50Gi", conversation_id=cid)
    second = _final(events)
    assert second["kind"] == "approval"
    assert second["approval"]["approval_id"] != first
    assert "50Gi" in second["text"] and "void" in second["text"]
    assert hermes.session is not None
    async with hermes.session.post(f"{hermes.url}/v1/approvals/{first}", json={"decision": "approve"},
                                   headers=await hermes.headers_for("alice")) as resp:
        assert resp.status == 404, "the first approval is void"
    assert not [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "apply"]]


async def test_switch_to_the_production_profile_answers_as_the_guide_shows(hermes: HermesStack) -> None:
    sent, events = await hermes.turn("Switch to the production profile")
    assert _final(events)["text"] == ('Now using the "production" profile. I\'ll confirm every change and '
                                      'draft architecture with a bill of materials before building anything.')
    # under confirm-all, a reconcile now waits for approval
    _, events = await hermes.turn("Reconcile the production cluster", conversation_id=sent["conversation_id"])
    assert _final(events)["kind"] == "approval"
    assert not [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "reconcile"]]


async def test_scaling_reads_the_current_count_first_then_asks(hermes: HermesStack) -> None:
    sent, _ = await hermes.turn("List my Ankra clusters")
    cid = sent["conversation_id"]
    _, events = await hermes.turn("Scale production to 7 workers", conversation_id=cid)
    approval = _final(events)
    assert approval["kind"] == "approval", approval["text"]
    # the CLI looks the cluster up by id; people see its name
    assert approval["approval"]["steps"] == [["cluster", "scale", PRODUCTION_ID, "7"]]
    assert "production" in approval["text"]
    assert "5" in approval["text"] and "scale up" in approval["text"].lower()
    argvs = [c["argv"] for c in hermes.emulator_calls()]
    assert any(a[:3] == ["cluster", "ovh", "workers"] for a in argvs), "the count was read first"
    assert not any(a[:2] == ["cluster", "scale"] for a in argvs)
    _, done = await hermes.turn("yes", conversation_id=cid)
    assert _final(done)["kind"] == "answer", done
    scales = [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "scale"]]
    assert len(scales) == 1
    _, workers = await hermes.turn("how many workers does production have", conversation_id=cid)
    assert "7" in _final(workers)["text"] + json.dumps(_final(workers)["blocks"])


async def test_why_are_pods_crashing_asks_ankra_ai(hermes: HermesStack) -> None:
    _, events = await hermes.turn("Why are pods crashing on production?")
    final = _final(events)
    assert final["kind"] == "answer"
    body = final["text"] + json.dumps(final["blocks"])
    assert "OOMKilled" in body and "DATABASE_URL" in body
    chats = [c["argv"] for c in hermes.emulator_calls() if c["argv"][:1] == ["chat"]]
    assert chats and "--cluster" in chats[0] and "production" in chats[0]


async def test_a_command_outside_the_catalog_never_runs(hermes: HermesStack) -> None:
    _, events = await hermes.turn("reconcile production; rm -rf /")
    final = _final(events)
    assert not [c for c in hermes.emulator_calls() if "rm" in c["argv"]]
    assert final["kind"] in {"answer", "error"}
