"""Through the running services: a config file pinning a cluster to a minimum profile, the guide's
monitoring-stack conversation, and conversation memory ("now the same on production")."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import HermesStack, running_hermes

pytestmark = pytest.mark.e2e

PINNED = """
// an openclaw.json as users write it, plus the guide's profiles and a pinned cluster
{
  skills: { entries: { ankra: { enabled: true } } },
  profiles: {
    production: { model: "claude-sonnet-4-20250514", skills: ["ankra"], autonomy: "confirm-all",
                  guardrails: { require_confirmation: ["delete", "deprovision", "scale-down"],
                                require_architecture_draft: true, require_bill_of_materials: true } },
  },
  hermes: { clusterProfiles: { production: "production" } },
}
"""


def _final(events: list[dict]) -> dict:
    assert events and events[-1]["final"], events
    return events[-1]


@pytest.fixture
async def pinned(tmp_path: Path, stack_servers, emulator_state):
    config = tmp_path / "openclaw.json"
    config.write_text(PINNED)
    async with running_hermes(tmp_path / "logs", *stack_servers, emulator_state, prefix="e2e-pinned",
                              extra_env={"HERMES_CONFIG": str(config)}) as stack:
        yield stack


async def test_a_cluster_pinned_to_a_profile_never_runs_under_looser_rules(pinned: HermesStack) -> None:
    sent, events = await pinned.turn("Reconcile the production cluster")
    asked = _final(events)
    assert asked["kind"] == "approval", asked
    assert "production" in asked["text"] and "confirms every change" in asked["text"]
    # the same request about an unpinned cluster runs under the default profile at once
    _, events = await pinned.turn("Reconcile the staging-cluster", conversation_id=sent["conversation_id"])
    assert _final(events)["kind"] == "answer"
    reconciles = [c["argv"] for c in pinned.emulator_calls() if c["argv"][:2] == ["cluster", "reconcile"]]
    assert reconciles == [["cluster", "reconcile", "staging-cluster", "-o", "json", "--config", reconciles[0][-1]]]


async def test_create_a_monitoring_stack_where_one_runs_builds_nothing(hermes: HermesStack) -> None:
    """Both seeded clusters run a `monitoring` stack (kube-prometheus-stack and loki): the request is
    already met, so nothing is drafted for approval and nothing is applied (the draft itself —
    prometheus and loki — is the designer's, tests/unit/test_designer.py)."""
    _, events = await hermes.turn("Create a monitoring stack on my staging cluster")
    answered = _final(events)
    assert answered["kind"] == "answer", answered
    assert "Nothing to build" in answered["text"]
    assert not [c for c in hermes.emulator_calls() if c["argv"][:2] == ["cluster", "apply"]]


async def test_now_the_same_on_production_reuses_the_previous_request(hermes: HermesStack) -> None:
    sent, _ = await hermes.turn("How healthy is staging?")
    _, events = await hermes.turn("now the same on production", conversation_id=sent["conversation_id"])
    assert _final(events)["kind"] == "answer"
    health = [c["argv"] for c in hermes.emulator_calls() if c["argv"][:2] == ["chat", "health"]]
    assert len(health) == 2
    assert "staging-cluster" in health[0] and "production" in health[1]
