"""The four real services, each connecting as its own NATS user to a server running deploy/nats/nats.conf,
and as its own Redis user to a redis-server running the generated ACL: proves the permissions are
sufficient for the product (a too-tight set breaks a turn) and that neither server refused anything
while a conversation ran end to end. As in production, the bootstrap user made the streams and
durables first, and the services declare nothing (HERMES_NATS_DECLARE_STREAMS=false): their users may not."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_py
from hermes import bus

import tests.e2e.conftest as e2e
from tests.e2e.conftest import SERVICES, HermesStack, running_hermes

from .conftest import AclRedis, AuthNats, start_acl_redis

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


class _RedisUserPerService:
    """`subprocess` for tests.e2e.conftest, whose start_services gives every service one Redis URL: this
    gives each `python -m hermes_<service>` its own Redis user instead. (A `redis_url_for` parameter of
    running_hermes, like `nats_url_for`, would make this unnecessary.)"""

    def __init__(self, redis: AclRedis) -> None:
        self._redis = redis

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def Popen(self, args: list[str], *rest: Any, env: dict[str, str] | None = None, **kw: Any) -> Any:
        service = str(args[-1]).removeprefix("hermes_")
        if env is not None and service in SERVICES:
            env = {**env, "HERMES_REDIS_URL": self._redis.url(service)}
        return subprocess.Popen(args, *rest, env=env, **kw)


@pytest.fixture
async def hermes_with_users(tmp_path: Path, project_nats: AuthNats, emulator_state,
                            monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[HermesStack, AclRedis]]:
    """The four services, each connected to the project's NATS config and to Redis as its own user."""
    await bus.bootstrap(project_nats.url(), user="bootstrap", password=project_nats.passwords["bootstrap"])
    prefix = "deploy"
    redis = start_acl_redis(tmp_path / "redis", prefix)
    monkeypatch.setattr(e2e, "subprocess", _RedisUserPerService(redis))
    try:
        async with running_hermes(tmp_path / "logs", project_nats.url(), redis.url("admin"), emulator_state,
                                  prefix=prefix, nats_url_for=project_nats.url,
                                  extra_env={"HERMES_NATS_DECLARE_STREAMS": "false"}) as stack:
            yield stack, redis
    finally:
        redis.stop()


async def test_a_conversation_runs_end_to_end_with_one_nats_and_redis_user_per_service(
        hermes_with_users: tuple[HermesStack, AclRedis], project_nats: AuthNats) -> None:
    hermes, redis = hermes_with_users
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
        text = (hermes.logs / f"{name}.log").read_text()
        assert "ermission" not in text and "NOPERM" not in text, hermes.tail_logs()
    # each service really was its own Redis user: the server saw them all log in, and refused nothing
    admin = redis_py.Redis.from_url(redis.url("admin"), decode_responses=True)
    try:
        assert admin.acl_log() == [], "Redis refused a service something"
        clients = {c["user"] for c in admin.client_list()}
        assert set(SERVICES) <= clients, clients
    finally:
        admin.close()
