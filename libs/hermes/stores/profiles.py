"""The active profile of each conversation: the guard writes it (after checking who may switch);
the planner reads it (to pick the profile's model)."""

from __future__ import annotations

import redis.asyncio as aioredis

from hermes.keys import Keys

PROFILE_TTL_SECONDS = 30 * 24 * 3600


class ProfileView:
    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def active(self, conversation_id: str) -> str | None:
        """The conversation's profile name, None when it uses the default."""
        return await self._redis.get(self._keys.profile(conversation_id))


class ProfileStore(ProfileView):
    async def set_active(self, conversation_id: str, profile: str) -> None:
        await self._redis.set(self._keys.profile(conversation_id), profile, ex=PROFILE_TTL_SECONDS)
