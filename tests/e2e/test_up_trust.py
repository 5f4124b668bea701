"""Trust between services, attacked on a real `hermes up`: its NATS and Redis require a user each,
every service's credentials allow only its own part, no secret sits in a service's environment, and an
approval record edited in Redis — even by Redis's admin — runs nothing. The emulator's call log proves
that nothing ran."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
import redis.asyncio as aioredis
from hermes import permissions, subjects
from hermes.contracts import ApprovalDecision, ExecutionOrder, OrderStep, Plan, PlanStep, utcnow
from hermes.keys import Keys
from hermes.stores.approvals import PendingApproval
from hermes_cli import paths
from hermes_guard.approvals import hash_plan
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

from tests.cli.test_up_e2e import hermes_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _secret(state: Path, name: str) -> str:
    value = paths.read_secret(state / paths.SECRETS / name)
    assert value, name
    return value


async def _nats_refusals(url: str, user: str, password: str, subject: str, payload: bytes) -> list[str]:
    """Publish `payload` on `subject` as `user`; the server's permission errors that came back."""
    errors: list[str] = []

    async def on_error(err: Exception) -> None:
        errors.append(str(err))

    nc = await nats.connect(url, user=user, password=password, inbox_prefix=permissions.inbox_prefix(user),
                            error_cb=on_error, allow_reconnect=False, connect_timeout=5)
    try:
        await nc.publish(subject, payload)
        await nc.flush(timeout=5)
        deadline = time.monotonic() + 5
        while not errors and time.monotonic() < deadline:  # the -ERR arrives after the flush's PONG
            await nc.flush(timeout=5)
            await asyncio.sleep(0.05)
    finally:
        await nc.close()
    return errors


async def _api(session: aiohttp.ClientSession, base: str, token: str, text: str,
               cid: str | None = None) -> tuple[str, dict[str, Any]]:
    """Send `text`; (conversation id, the turn's final event)."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"text": text, **({"conversation_id": cid} if cid else {})}
    async with session.post(f"{base}/v1/messages", json=body, headers=headers) as resp:
        assert resp.status == 202, await resp.text()
        sent = await resp.json()
    cursor, deadline = sent["cursor"], time.monotonic() + 60
    while time.monotonic() < deadline:
        async with session.get(f"{base}/v1/conversations/{sent['conversation_id']}/events",
                               params={"cursor": cursor, "wait": "5"}, headers=headers) as resp:
            page = await resp.json()
        cursor = page["cursor"]
        for event in page["events"]:
            if event["correlation_id"] == sent["correlation_id"] and event.get("final"):
                return sent["conversation_id"], event
    raise AssertionError(f"no final reply to {text!r}")


def _calls(state: Path, *prefix: str) -> list[list[str]]:
    path = state / paths.ANKRA_EMULATOR_STATE / "calls.jsonl"
    calls = [json.loads(line)["argv"] for line in path.read_text().splitlines() if line.strip()] \
        if path.exists() else []
    return [argv for argv in calls if argv[:len(prefix)] == list(prefix)]


async def test_a_hermes_up_machine_holds_against_the_attacks(hermes_up) -> None:
    proc, output, state, port = hermes_up
    if not await asyncio.to_thread(output.wait_for, "Ready.", 120):
        pytest.fail(f"hermes up did not get ready:\n{output.rest(1)}")
    info = paths.read_up_info(state)
    assert info is not None
    nats_url, redis_url, base = info["nats_url"], info["redis_url"], info["url"]
    token = paths.read_secret(state / paths.API_TOKEN)
    assert token

    # A reconcile waiting for approval under the production profile.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        cid, switched = await _api(session, base, token, "Switch to the production profile")
        assert 'Now using the "production" profile' in switched["text"], switched
        _, asked = await _api(session, base, token, "Reconcile the production cluster", cid)
        assert asked["kind"] == "approval", asked
        approval_id = asked["approval"]["approval_id"]

        # 1. No credentials: neither NATS nor Redis lets a process in.
        with pytest.raises(Exception) as refused:
            await nats.connect(nats_url, allow_reconnect=False, max_reconnect_attempts=1, connect_timeout=3)
        assert "uthoriz" in str(refused.value) or "uthoriz" in repr(refused.value), refused.value
        anonymous = aioredis.Redis.from_url(redis_url)
        with pytest.raises((AuthenticationError, ResponseError)):
            await anonymous.get(Keys("hermes").approval(approval_id))
        await anonymous.aclose()

        # 2. Each service's own credentials: nothing beyond its own part.
        decision = ApprovalDecision(conversation_id=cid, correlation_id="attack-1", approval_id=approval_id,
                                    decision="approve", user="admin").model_dump_json().encode()
        order = ExecutionOrder(conversation_id=cid, correlation_id="attack-2", plan_id="p", requested_by="admin",
                               steps=[OrderStep(step_id="s", argv=["cluster", "reconcile", "production"],
                                                risk="write", command="cluster reconcile")],
                               expires_at=utcnow()).model_dump_json().encode()
        plan = Plan(conversation_id=cid, correlation_id="attack-3", message_id="attack-3", requested_by="admin",
                    intent="x", steps=[PlanStep(argv=["cluster", "reconcile", "production"])]
                    ).model_dump_json().encode()
        attacks = [("planner", subjects.APPROVAL_DECIDED, decision), ("executor", subjects.APPROVAL_DECIDED, decision),
                   ("gateway", subjects.EXEC_ORDER, order), ("planner", subjects.EXEC_ORDER, order),
                   ("executor", subjects.audit_subject("guard"), b"{}"), ("gateway", subjects.audit_subject("guard"), b"{}"),
                   ("integration", subjects.PLAN_PROPOSED, plan), ("gateway", subjects.PLAN_PROPOSED, plan)]
        for user, subject, payload in attacks:
            errors = await _nats_refusals(nats_url, user, _secret(state, f"nats-{user}"), subject, payload)
            assert any("ermissions" in e for e in errors), (user, subject, errors)
        # the gateway cannot read an execution order, nor change the orders' stream
        errors = []

        async def on_error(err: Exception) -> None:
            errors.append(str(err))

        gateway = await nats.connect(nats_url, user="gateway", password=_secret(state, "nats-gateway"),
                                     inbox_prefix=permissions.inbox_prefix("gateway"), error_cb=on_error,
                                     allow_reconnect=False)
        try:
            await gateway.subscribe(subjects.EXEC_ORDER)
            await gateway.flush(timeout=5)
            with pytest.raises(Exception):
                await gateway.jetstream().update_stream(name=subjects.EXEC_STREAM.name, subjects=["x.>"])
            deadline = time.monotonic() + 5
            while not any("ermissions" in e for e in errors) and time.monotonic() < deadline:
                await gateway.flush(timeout=5)
                await asyncio.sleep(0.05)
        finally:
            await gateway.close()
        assert any("ermissions" in e for e in errors), errors

        # Redis: a service may not write another's keys (the gateway, say, the guard's approval).
        key = Keys("hermes").approval(approval_id)
        as_gateway = aioredis.Redis.from_url(redis_url, username="gateway", password=_secret(state, "redis-gateway"),
                                             decode_responses=True)
        try:
            raw = await as_gateway.get(key)  # it may read the guard's approvals …
            assert raw
            with pytest.raises(NoPermissionError):  # … never write them
                await as_gateway.set(key, raw)
            with pytest.raises(NoPermissionError):
                await as_gateway.flushall()
        finally:
            await as_gateway.aclose()

        # 3. Even Redis's admin editing the record (argv and plan hash) runs nothing: the guard's signature.
        admin = aioredis.Redis.from_url(redis_url, username="admin", password=_secret(state, "redis-admin"),
                                        decode_responses=True)
        try:
            record = PendingApproval.model_validate_json(await admin.get(key))
            record.plan.steps[0].argv[-1] = "staging-cluster"
            record.plan_hash = hash_plan(record.plan)
            await admin.set(key, record.model_dump_json(), keepttl=True)
        finally:
            await admin.aclose()
        _, answer = await _api(session, base, token, "y", cid)
        assert "was altered" in answer["text"] and "nothing ran" in answer["text"], answer

    # 4. No secret in any service's environment.
    secrets = [p.read_text().strip() for p in (state / paths.SECRETS).iterdir()
               if p.is_file() and p.suffix not in (".json", ".conf", ".acl")] + [token]
    for name, process in info["processes"].items():
        environ = Path(f"/proc/{process['pid']}/environ").read_bytes()
        leaked = [s[:4] + "…" for s in secrets if s and s.encode() in environ]
        assert not leaked, f"{name} holds secrets in its environment: {leaked}"

    assert _calls(state, "cluster", "list"), "the emulator's call log is read from where it is written"
    assert not _calls(state, "cluster", "reconcile"), "no attack ran anything"
    assert proc.poll() is None, "hermes up is still running"
