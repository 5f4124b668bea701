"""The four real services, each connecting as its own NATS user to a server running deploy/nats/nats.conf:
proves the permissions are sufficient for the product (a too-tight set breaks a turn) and that the
server saw no permissions violation while a conversation ran end to end."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hermes import embedded

from tests.e2e.conftest import SERVICES, HermesStack, stop_services, wait_ready

from .conftest import AuthNats

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _start(stack: HermesStack, server: AuthNats, ankra_bin: str, ankra_token: str) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "ANKRA_"))}
    base.update({
        "HERMES_REDIS_URL": stack.redis_url,
        "HERMES_REDIS_PREFIX": stack.redis_prefix,
        "HERMES_API_TOKEN": stack.token,
        "HERMES_SIGNING_KEY": stack.signing_key,
        "HERMES_HTTP_HOST": "127.0.0.1",
        "HERMES_HTTP_PORT": stack.url.rsplit(":", 1)[1],
        "HERMES_ANKRA_BIN": ankra_bin,
        "HERMES_EXEC_TIMEOUT_SECONDS": "20",
        "HERMES_LOG_FORMAT": "json",
        "ANKRA_API_TOKEN": ankra_token,
    })
    stack.logs.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:
        env = {**base, "HERMES_NATS_URL": server.url(name)}  # each service as its own user
        log = open(stack.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        stack.processes[name] = subprocess.Popen([sys.executable, "-m", f"hermes_{name}"], env=env,
                                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log)


@pytest.fixture
async def hermes_with_users(tmp_path: Path, project_nats: AuthNats, emulator_state) -> AsyncIterator[HermesStack]:
    state, ankra_token, wrapper = emulator_state
    redis = embedded.start_redis(tmp_path / "redis")
    stack = HermesStack(url=f"http://127.0.0.1:{embedded.free_port()}", token=secrets.token_urlsafe(24),
                        nats_url=project_nats.url(), redis_url=redis.url, redis_prefix="deploy",
                        signing_key=secrets.token_hex(32), emulator_state=state, logs=tmp_path / "logs")
    _start(stack, project_nats, str(wrapper), ankra_token)
    stack.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        await wait_ready(stack)
        yield stack
    finally:
        await stack.session.close()
        stop_services(stack)
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
