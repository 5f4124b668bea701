"""Names resolved and state checked before an approval is asked for, a follow-up answer that fills the
pending request, and a cluster Hermes just created known at once — through the four services and the
emulator's seeded organisation."""

from __future__ import annotations

import pytest
from ankra_emulator.seed import CRED_OVH, CRED_SSH

from .conftest import HermesStack

pytestmark = pytest.mark.e2e


def _final(events: list[dict]) -> dict:
    assert events and events[-1]["final"], events
    return events[-1]


def _calls(hermes: HermesStack, *prefix: str) -> list[list[str]]:
    return [c["argv"] for c in hermes.emulator_calls() if c["argv"][:len(prefix)] == list(prefix)]


async def test_a_token_already_revoked_needs_no_approval(hermes: HermesStack) -> None:
    _, events = await hermes.turn("revoke token old-laptop")
    final = _final(events)
    assert final["kind"] != "approval", final["text"]
    assert "already revoked" in final["text"]
    assert _calls(hermes, "tokens", "list"), "the tokens were read first"
    assert not _calls(hermes, "tokens", "revoke")


async def test_the_answer_to_a_missing_credential_completes_the_ovh_creation_and_the_cluster_is_known(
        hermes: HermesStack) -> None:
    sent, events = await hermes.turn(f"Create an OVH cluster named edge-1 in GRA9 with ssh key {CRED_SSH}")
    cid = sent["conversation_id"]
    question = _final(events)
    assert question["kind"] == "answer", question["text"]
    assert CRED_OVH in question["text"], "the OVH credentials that exist are offered"
    _, events = await hermes.turn(f"credential {CRED_OVH}", conversation_id=cid)
    approval = _final(events)
    assert approval["kind"] == "approval", approval["text"]
    [argv] = approval["approval"]["steps"]
    assert argv[:3] == ["cluster", "ovh", "create"]
    assert {"--name": "edge-1", "--credential-id": CRED_OVH, "--region": "GRA9",
            "--ssh-key-credential-id": CRED_SSH}.items() <= dict(zip(argv[3::2], argv[4::2], strict=False)).items()
    assert not _calls(hermes, "credentials", "get"), "the answer filled the request, not a new one"
    _, done = await hermes.turn("y", conversation_id=cid)
    assert _final(done)["kind"] == "answer", done
    assert len(_calls(hermes, "cluster", "ovh", "create")) == 1
    # the cluster Hermes just created is known to the next request, without anyone listing clusters
    _, events = await hermes.turn("show the details of edge-1", conversation_id=cid)
    details = _final(events)
    assert "don't know a cluster" not in details["text"], details["text"]
    assert _calls(hermes, "cluster", "info") and _calls(hermes, "cluster", "info")[-1][2] == "edge-1"
