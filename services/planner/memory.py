"""Conversation memory: the recent turns of a conversation, redacted and capped, in Redis."""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from hermes.contracts import utcnow
from hermes.keys import Keys
from hermes.redaction import Redactor

MAX_TURNS = 50
TTL_SECONDS = 30 * 24 * 3600


class ConversationMemory:
    """Appends and reads the turns of a conversation. Everything stored is redacted first."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, redactor: Redactor) -> None:
        self._redis = redis
        self._keys = keys
        self._redactor = redactor

    async def remember(self, conversation_id: str, role: str, text: str, **extra: object) -> None:
        """Record one turn (`role` is "user" or "hermes")."""
        entry = {"role": role, "text": self._redactor.text(text), "at": utcnow().isoformat(),
                 **self._redactor.data(extra)}
        key = self._keys.history(conversation_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(entry))
            pipe.ltrim(key, -MAX_TURNS, -1)
            pipe.expire(key, TTL_SECONDS)
            await pipe.execute()

    async def recall(self, conversation_id: str, limit: int = MAX_TURNS) -> list[dict[str, object]]:
        """The most recent turns, oldest first."""
        raw = await self._redis.lrange(self._keys.history(conversation_id), -limit, -1)
        return [json.loads(item) for item in raw]
