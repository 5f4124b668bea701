"""What the planner remembers per conversation, and the multi-step runs waiting for a result."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from hermes.contracts import Identity
from hermes.keys import Keys
from hermes_planner.designer import Design
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


class Run(BaseModel):
    """A plan whose result the planner must act on: resume a rules continuation, or build a design."""

    plan_id: str
    conversation_id: str
    correlation_id: str
    requested_by: str
    identity: Identity | None = Field(default=None, description="the requester's stamp, for the plans that follow")
    kind: str = Field(description="'continuation' or 'design.build'")
    intent: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    changes: list[str] = Field(default_factory=list, description="for a revised design: what changed")


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
