"""The idempotency ledger: what each step of each order did, recorded around the run (the executor
writes it; the guard reads recorded results through `LedgerView`, e.g. the count a scale starts from).

`started` is written before a step runs and `finished` (with the redacted result) after, so after
a crash or a redelivery the executor knows whether a step may have run. A finished step is never
run again; a started read may run again; any other started step is reported "outcome unknown".
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis

from hermes.contracts import StepResult, utcnow
from hermes.keys import Keys

LEDGER_TTL_SECONDS = 7 * 24 * 3600


class LedgerView:
    """Read-only: a step's recorded result."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def result(self, order_id: str, step_id: str) -> StepResult | None:
        """What a finished step did, as the executor recorded it; None if it has not finished."""
        raw = await self._redis.hget(self._keys.ledger(order_id, step_id), "result")
        return StepResult.model_validate_json(raw) if raw else None


class Ledger(LedgerView):
    """The executor's side."""

    async def accept_order(self, order_id: str) -> bool:
        """True the first time an order id is seen; False for a replay."""
        return bool(await self._redis.set(self._keys.order_seen(order_id), utcnow().isoformat(),
                                          nx=True, ex=LEDGER_TTL_SECONDS))

    async def seen(self, order_id: str) -> bool:
        """True when an order id was accepted before (by any executor)."""
        return bool(await self._redis.exists(self._keys.order_seen(order_id)))

    async def state(self, order_id: str, step_id: str) -> tuple[str | None, StepResult | None]:
        """('finished', result), ('started', None) or (None, None)."""
        entry = await self._redis.hgetall(self._keys.ledger(order_id, step_id))
        if entry.get("finished"):
            return "finished", StepResult.model_validate(json.loads(entry["result"]))
        if entry.get("started"):
            return "started", None
        return None, None

    async def started(self, order_id: str, step_id: str, executor: str) -> None:
        key = self._keys.ledger(order_id, step_id)
        await self._redis.hset(key, mapping={"started": utcnow().isoformat(), "executor": executor})
        await self._redis.expire(key, LEDGER_TTL_SECONDS)

    async def finished(self, order_id: str, step_id: str, result: StepResult) -> None:
        key = self._keys.ledger(order_id, step_id)
        await self._redis.hset(key, mapping={"finished": utcnow().isoformat(),
                                             "result": result.model_dump_json()})
        await self._redis.expire(key, LEDGER_TTL_SECONDS)
