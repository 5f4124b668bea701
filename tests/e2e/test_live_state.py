"""Designs start from the cluster as it is, through the four services and the emulator's seeded
organisation: a second design keeps what runs, a removal is shown and needs its own approval, an
existing monitoring stack is recognised, cluster-wide controllers are not proposed twice, and a chart
swap re-drafts with its diff against the live stack."""

from __future__ import annotations

import json

import pytest

from .conftest import HermesStack

pytestmark = pytest.mark.e2e

GOAL = "My app needs a Postgres database and a Redis cache on staging. Set it up."


def _final(events: list[dict]) -> dict:
    assert events and events[-1]["final"], events
    return events[-1]


def _addons(hermes: HermesStack, stack: str) -> list[str] | None:
    data = json.loads((hermes.emulator_state / "clusters.json").read_text())
    clusters = data["clusters"] if isinstance(data, dict) else data
    staging = next(c for c in clusters if c["name"] == "staging-cluster")
    found = next((s for s in staging["stacks"] if s["name"] == stack), None)
    return None if found is None else [a["name"] for a in found["addons"]]


def _applies(hermes: HermesStack) -> list[list[str]]:
    return [c["argv"] for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "apply"]]


async def _build(hermes: HermesStack) -> str:
    sent, events = await hermes.turn(GOAL)
    cid = sent["conversation_id"]
    approval = _final(events)
    assert approval["kind"] == "approval", approval["text"]
    _, built = await hermes.turn("y", conversation_id=cid)
    assert _final(built)["kind"] == "answer", built
    assert _addons(hermes, "app-data") == ["postgres", "redis"]
    return cid


async def test_the_draft_reads_the_cluster_and_the_apply_keeps_every_stack(hermes: HermesStack) -> None:
    sent, events = await hermes.turn(GOAL)
    approval = _final(events)
    text = approval["text"]
    argvs = [c["argv"] for c in hermes.emulator_calls()]
    assert any(a[:3] == ["cluster", "stacks", "list"] for a in argvs), "the live stacks were read first"
    assert "New stack `app-data`" in text and "Kept as they run" in text and "`monitoring`" in text
    assert "postgres: 2 × 20Gi data (one volume per replica) + 20Gi backups" in text
    # the question comes last in what the planner wrote; the apply waits for the stacks
    assert text.index("Proceed to build this stack? (y/n)") > text.index("Storage (what each volume is for)")
    assert approval["approval"]["steps"][0][-1] == "--wait"
    _, built = await hermes.turn("y", conversation_id=sent["conversation_id"])
    assert _final(built)["kind"] == "answer"
    assert _addons(hermes, "monitoring") == ["kube-prometheus-stack", "loki"]
    assert _addons(hermes, "ingress") == ["ingress-nginx", "cert-manager"]


async def test_a_second_design_keeps_postgres(hermes: HermesStack) -> None:
    await _build(hermes)
    # a new conversation: nothing drafted on the table, only what runs on the cluster
    _, events = await hermes.turn("I need a redis cache for my app on staging")
    final = _final(events)
    assert final["kind"] == "answer" and "Nothing to build" in final["text"], final["text"]
    assert len(_applies(hermes)) == 1
    assert _addons(hermes, "app-data") == ["postgres", "redis"]


async def test_a_removal_is_shown_and_needs_its_own_approval(hermes: HermesStack) -> None:
    cid = await _build(hermes)
    _, events = await hermes.turn("drop the cache", conversation_id=cid)
    approval = _final(events)
    assert approval["kind"] == "approval", approval["text"]
    text = approval["text"]
    assert "This step is destructive: this removes app-data: addon redis" in text
    assert "Secret keys dropped: redis-password" in text
    assert any("destructive" in r and "removes" in r for r in approval["approval"]["risks"])
    assert _addons(hermes, "app-data") == ["postgres", "redis"], "nothing ran before the approval"
    _, done = await hermes.turn("y", conversation_id=cid)
    assert _final(done)["kind"] == "answer", done
    assert _addons(hermes, "app-data") == ["postgres"]
    assert _addons(hermes, "monitoring") == ["kube-prometheus-stack", "loki"]


async def test_an_existing_monitoring_stack_is_recognised(hermes: HermesStack) -> None:
    _, events = await hermes.turn("Create a monitoring stack on staging")
    final = _final(events)
    assert final["kind"] == "answer", final["text"]
    assert "`monitoring` stack" in final["text"] and "Nothing to build" in final["text"]
    assert not _applies(hermes)


async def test_duplicate_controllers_are_not_proposed(hermes: HermesStack) -> None:
    goal = "My app needs a Postgres database with an ingress, TLS and monitoring on staging"
    _, events = await hermes.turn(goal)
    approval = _final(events)
    assert approval["kind"] == "approval", approval["text"]
    charts = {row[1] for b in approval["blocks"] if b["type"] == "table" for row in b["rows"]}
    assert not charts & {"ingress-nginx/ingress-nginx", "jetstack/cert-manager",
                         "prometheus-community/kube-prometheus-stack"}, charts
    assert "ingress: ingress-nginx" in approval["text"] and "from the `ingress` stack" in approval["text"]


async def test_a_chart_swap_redrafts_with_its_diff(hermes: HermesStack) -> None:
    cid = await _build(hermes)
    _, events = await hermes.turn("use plain postgresql instead of postgresql-ha", conversation_id=cid)
    approval = _final(events)
    assert approval["kind"] == "approval", approval["text"]
    text = approval["text"]
    assert "addon postgres: chart bitnami/postgresql-ha 14.3.10 → bitnami/postgresql" in text
    assert "This step is destructive" in text and "void" in text
    assert len(_applies(hermes)) == 1
