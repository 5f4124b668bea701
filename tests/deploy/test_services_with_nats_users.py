"""The four real services, each connecting as its own NATS user to a server running deploy/nats/nats.conf:
proves the permissions are sufficient for the product (a too-tight set breaks a turn) and that the
server saw no permissions violation while a conversation ran end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hermes import embedded

from tests.e2e.conftest import SERVICES, HermesStack, running_hermes

from .conftest import AuthNats

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
async def hermes_with_users(tmp_path: Path, project_nats: AuthNats, emulator_state) -> AsyncIterator[HermesStack]:
    """The four services, each connected to the project's NATS config as its own user."""
    redis = embedded.start_redis(tmp_path / "redis")
    try:
        async with running_hermes(tmp_path / "logs", project_nats.url(), redis.url, emulator_state,
                                  prefix="deploy", nats_url_for=project_nats.url) as stack:
            yield stack
    finally:
        redis.stop()


async def test_a_conversation_runs_end_to_end_with_one_nats_user_per_service(
        hermes_with_users: HermesStack, project_nats: AuthNats) -> None:
    hermes = hermes_with_users
    sent, events = await hermes.turn("List my Ankra clusters")
    final = events[-1]
    assert final["final"] and final["kind"] == "answer", final
    table = next(b for b in final["blocks"] if b["type"] == "table")
    assert {row[0] for row in table["rows"]} >= {"staging-cluster", "production"}
    _, events = await hermes.turn("Reconcile the production cluster", conversation_id=sent["conversation_id"])
    assert events[-1]["kind"] == "answer", events[-1]
    assert any(c["argv"][:2] == ["cluster", "reconcile"] for c in hermes.emulator_calls())
    log = project_nats.log.read_text(errors="replace")
    assert "Violation" not in log, [line for line in log.splitlines() if "Violation" in line]
    for name in SERVICES:
        assert "ermission" not in (hermes.logs / f"{name}.log").read_text(), hermes.tail_logs()
