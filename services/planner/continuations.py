"""What the planner remembers per conversation, and the plans whose results it waits for (with the typed
continuation that says what to do with each)."""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from hermes.contracts import Identity
from hermes.keys import Keys
from hermes_planner.decisions import Continuation, PendingRequest
from hermes_planner.design.goals import Design
from pydantic import BaseModel, Field

STATE_TTL_SECONDS = 30 * 24 * 3600
RUN_TTL_SECONDS = 24 * 3600
# Clusters come and go: a name is resolved against a list at most this old, else looked up again.
CLUSTERS_TTL_SECONDS = 300


class KnownCluster(BaseModel):
    name: str
    provider: str | None = None
    id: str | None = None


class ConversationState(BaseModel):
    """The planner's working memory of a conversation (no secrets: designs hold placeholders only)."""

    last_cluster: str | None = None
    last_request: str | None = None
    design: Design | None = None
    design_plan_id: str | None = None
    pending_request: PendingRequest | None = None  # a question back, waiting for the next message


class Run(BaseModel):
    """A plan whose result the planner must act on, and what to do with it."""

    plan_id: str
    conversation_id: str
    correlation_id: str
    requested_by: str
    identity: Identity | None = Field(default=None, description="the requester's stamp, for the plans that follow")
    then: Continuation


class PlannerState:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def load(self, conversation_id: str) -> ConversationState:
        raw = await self._redis.get(self._keys.planner_state(conversation_id))
        return ConversationState.model_validate_json(raw) if raw else ConversationState()

    async def save(self, conversation_id: str, state: ConversationState) -> None:
        await self._redis.set(self._keys.planner_state(conversation_id), state.model_dump_json(),
                              ex=STATE_TTL_SECONDS)

    async def known_clusters(self) -> list[KnownCluster] | None:
        """The clusters of the last `cluster list` (any conversation), or None when unknown or stale."""
        raw = await self._redis.get(self._keys.clusters())
        if raw is None:
            return None
        return [KnownCluster.model_validate(c) for c in json.loads(raw)]

    async def learn_clusters(self, clusters: list[KnownCluster]) -> None:
        await self._redis.set(self._keys.clusters(), json.dumps([c.model_dump() for c in clusters]),
                              ex=CLUSTERS_TTL_SECONDS)

    async def forget_clusters(self) -> None:
        """Hermes changed a cluster (created, scaled, deprovisioned, applied to): the next request that
        names one reads the list again instead of trusting what it knew."""
        await self._redis.delete(self._keys.clusters())

    async def start_run(self, run: Run) -> None:
        await self._redis.set(self._keys.run(run.plan_id), run.model_dump_json(), ex=RUN_TTL_SECONDS)

    async def get_run(self, plan_id: str) -> Run | None:
        """The run waiting for `plan_id`'s result."""
        raw = await self._redis.get(self._keys.run(plan_id))
        return Run.model_validate_json(raw) if raw else None

    async def finish_run(self, plan_id: str) -> None:
        """Forget a run once its next step is published (ids derived from the result make a
        redelivered result publish the same messages again, which the bus drops as duplicates)."""
        await self._redis.delete(self._keys.run(plan_id))
