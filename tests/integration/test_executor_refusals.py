"""Orders the executor must refuse, with real executor processes, NATS, Redis and the emulator:
forged, tampered, expired and replayed orders, and steps that can never run (outside the catalog,
a shell metacharacter in an argument, an interactive command without its value). Each is refused
with a result that says why and an audit record, and the emulator's call log shows nothing ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hermes.contracts import AuditRecord

from .executor_harness import (
    PRODUCTION_ID,
    ExecutorFleet,
    calls,
    connected,
    emulator_pids,
    fleet_fixture,
    until,
    workers,
    write_faults,
)


def _audits(payloads: list[bytes]) -> dict[str, AuditRecord]:
    records = [AuditRecord.model_validate_json(p) for p in payloads]
    return {r.id.removeprefix("audit-order.refused-"): r for r in records if r.event == "order.refused"}


async def test_forged_tampered_expired_and_replayed_orders_are_refused_and_reported(
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path]) -> None:
    state, token, wrapper = emulator_state
    await fleet.start_ready(1)
    async with connected(fleet) as bus:
        # A genuine scale runs once...
        scale = bus.order(["cluster", "scale", PRODUCTION_ID, "7"], "cluster scale", "scale")
        await bus.publish(scale)
        first = await bus.result_for(scale.id, timeout=60)
        assert first.outcome == "ok", first
        assert workers(state, wrapper, token) == 7
        ran = len(calls(state))

        # ...and the same signed order again (a new Nats-Msg-Id, so JetStream does not drop it) is a replay.
        await bus.publish(scale, msg_id=f"replay-{scale.id}")
        replay = await bus.result_for(scale.id, timeout=60)

        expired = bus.order(["cluster", "list"], "cluster list", "read", expires_in=-60)
        forged = bus.order(["cluster", "list"], "cluster list", "read").model_copy(
            update={"signature": "0" * 64})
        genuine = bus.order(["cluster", "list"], "cluster list", "read")
        tampered = genuine.model_copy(update={"steps": [
            genuine.steps[0].model_copy(update={"argv": ["cluster", "scale", PRODUCTION_ID, "19"],
                                                "command": "cluster scale", "risk": "scale"})]})
        unsigned = genuine.model_copy(update={"id": "unsigned-1", "signature": ""})
        for order in (expired, forged, tampered, unsigned):
            await bus.publish(order)
        results = {name: await bus.result_for(order.id, timeout=60)
                   for name, order in (("expired", expired), ("forged", forged), ("tampered", tampered),
                                       ("unsigned", unsigned))}
        results["replay"] = replay
        audits = _audits(await bus.drain(bus.audit))

    reasons = {"replay": "replayed order never runs", "expired": "expired at",
               "forged": "altered or forged", "tampered": "altered or forged", "unsigned": "not signed"}
    for name, result in results.items():
        assert result.outcome == "refused", (name, result)
        error = result.error or ""
        assert reasons[name] in error and "Nothing was run" in error, (name, result)
        assert all(s.outcome == "refused" for s in result.steps), (name, result)
    assert expired.expires_at.isoformat() in (results["expired"].error or "")
    for order, name in ((scale, "replay"), (expired, "expired"), (forged, "forged"), (tampered, "tampered")):
        record = audits[order.id]
        assert record.outcome == "refused" and reasons[name] in (record.reason or ""), (name, record)
    assert len(calls(state)) == ran, "the emulator saw no call for any refused order"
    assert workers(state, wrapper, token) == 7


UNRUNNABLE = {
    "outside the catalog": ((["kubectl", "delete", "namespace", "api"], "cluster list", "read"),
                            "not a command in Hermes's catalog"),
    "metacharacter in a name": ((["cluster", "info", "production;reboot"], "cluster info", "read"),
                                "is not a valid name"),
    "command substitution in text": ((["chat", "why is $(id) failing", "--cluster", "production"], "chat",
                                      "read"), "shell metacharacter"),
    "backtick in text": ((["chat", "what does `id` print"], "chat", "read"), "shell metacharacter"),
    "pipe in a count": ((["cluster", "scale", PRODUCTION_ID, "7|reboot"], "cluster scale", "scale"),
                        "is not a valid int"),
    "interactive chat": ((["chat"], "chat", "read"), "waits for terminal input"),
    "interactive select": ((["cluster", "select"], "cluster select", "write"), "waits for terminal input"),
    "flag the executor owns": ((["cluster", "list", "--token", "x"], "cluster list", "read"),
                               "set by Hermes's executor"),
    "mislabelled risk": ((["cluster", "scale", PRODUCTION_ID, "9"], "cluster list", "read"),
                         "is labelled 'cluster list'"),
}


async def test_steps_that_can_never_run_are_refused_before_anything_runs(
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path], redis_client: aioredis.Redis) -> None:
    state, token, wrapper = emulator_state
    await fleet.start_ready(1)
    async with connected(fleet) as bus:
        orders = {name: bus.order(*step) for name, (step, _reason) in UNRUNNABLE.items()}
        # A good first step does not run when a later step of the same order cannot.
        orders["bad second step"] = bus.order(["cluster", "scale", PRODUCTION_ID, "8"], "cluster scale",
                                              "scale", more=[(["chat"], "chat", "read")])
        for order in orders.values():
            await bus.publish(order)
        results = {name: await bus.result_for(order.id, timeout=60) for name, order in orders.items()}
        replies = [json.loads(p) for p in await bus.drain(bus.replies)]
        audits = _audits(await bus.drain(bus.audit))

    reasons = {name: reason for name, (_step, reason) in UNRUNNABLE.items()}
    reasons["bad second step"] = "step 2 (`ankra chat`) cannot run"
    for name, result in results.items():
        assert result.outcome == "refused", (name, result)
        error = result.error or ""
        assert reasons[name] in error and "Nothing was run" in error, (name, result)
        assert orders[name].id in audits, name
    assert calls(state) == [], "nothing reached `ankra`"
    assert not [r for r in replies if r["kind"] == "progress"], "no step was announced as running"
    ledger = [k async for k in redis_client.scan_iter(f"{fleet.prefix}:ledger:*")]
    assert ledger == [], "no step was recorded as started"
    assert workers(state, wrapper, token) == 5  # the seed's count: the scale of "bad second step" never ran


@pytest.mark.slow
async def test_order_that_expires_while_its_executor_is_dead_is_reported_not_refused(
        fleet: ExecutorFleet, emulator_state: tuple[Path, str, Path], redis_client: aioredis.Redis) -> None:
    """Accepted in time, its executor killed mid-step, redelivered after its expiry: the started scale
    is never reported as "refused … Nothing was run" — its command finished under its monitor, and the
    executor that takes over adopts that real outcome — and nothing more runs."""
    state, _token, _wrapper = emulator_state
    write_faults(state, latency_ms=1500)
    fleet.extra_env["HERMES_EXEC_ACK_WAIT_SECONDS"] = "3"
    await fleet.start_ready(2)
    async with connected(fleet) as bus:
        order = bus.order(["cluster", "scale", PRODUCTION_ID, "8"], "cluster scale", "scale", expires_in=2.5,
                          more=[(["cluster", "list"], "cluster list", "read")])
        await bus.publish(order)
        key = f"{fleet.prefix}:ledger:{order.id}:s1"
        entry = await until(lambda: redis_client.hgetall(key), 30, "step started")
        await until(lambda: emulator_pids(state), 30, "ankra running")
        fleet.kill9(int(entry["executor"].rsplit(":", 1)[1]))
        result = await bus.result_for(order.id, timeout=60)
    assert "Nothing was run" not in (result.error or "")
    first, second = result.steps
    assert first.outcome == "ok" and first.data == {"previous_count": 5, "new_count": 8}, result
    assert second.outcome == "refused" and "expired" in (second.error or "") and "not run" in (second.error or "")
    await until(lambda: not emulator_pids(state), 30, "orphaned ankra exits")
    assert len([c for c in calls(state) if c["argv"][:2] == ["cluster", "scale"]]) <= 1
    assert not [c for c in calls(state) if c["argv"][:2] == ["cluster", "list"]], "the next step never ran"
