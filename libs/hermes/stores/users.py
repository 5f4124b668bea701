"""People: users, their roles, and a hash of each one's personal API token.

Written by the admin (`hermes users …`, and `hermes up` for the local admin); the gateway only reads
(`UserDirectory.authenticate`). A token is a long random value shown once; only its SHA-256 is kept
(a token has 256 bits of entropy, so a plain hash is enough), and comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import redis.asyncio as aioredis
from pydantic import BaseModel

from hermes.access import check_roles
from hermes.contracts import utcnow
from hermes.keys import Keys

TOKEN_PREFIX = "hermes_"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class UserError(ValueError):
    """A user operation that cannot be done; the message says why and what to do."""


class User(BaseModel):
    name: str
    roles: list[str]
    created_at: datetime
    rotated_at: datetime | None = None


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UserError(f"user name {name!r} is not valid: lower-case letters, digits, '.', '_' and '-', "
                        "starting with a letter or digit, at most 64 characters")
    return name


class UserDirectory:
    """The read side: who a token belongs to (the gateway)."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def get(self, name: str) -> User | None:
        raw = await self._redis.hgetall(self._keys.user(name))
        if not raw:
            return None
        return User(name=name, roles=raw.get("roles", "").split(",") if raw.get("roles") else [],
                    created_at=raw["created_at"], rotated_at=raw.get("rotated_at") or None)

    async def authenticate(self, token: str) -> User | None:
        """The user whose token this is, or None (unknown, revoked or rotated away)."""
        if not token or len(token) > 200:
            return None
        digest = token_hash(token)
        name = await self._redis.get(self._keys.user_token(digest))
        if not name:
            return None
        stored = await self._redis.hget(self._keys.user(name), "token_sha256")
        if not stored or not hmac.compare_digest(stored, digest):
            return None
        return await self.get(name)

    async def list(self) -> list[User]:
        names = sorted(await self._redis.smembers(self._keys.users()))
        users = [await self.get(n) for n in names]
        return [u for u in users if u is not None]


class UserStore(UserDirectory):
    """The write side (the admin): add, revoke, rotate."""

    async def add(self, name: str, roles: list[str], token: str | None = None) -> tuple[User, str]:
        """A new user; returns it and its token (shown once). Refuses a name already taken."""
        check_name(name)
        try:
            roles = check_roles(roles)
        except ValueError as err:
            raise UserError(str(err)) from None
        token = token or new_token()
        digest = token_hash(token)
        created = utcnow()
        if not await self._redis.hsetnx(self._keys.user(name), "created_at", created.isoformat()):
            raise UserError(f"user {name!r} exists already; `hermes users rotate {name}` gives them a new token")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.user(name), mapping={"roles": ",".join(roles), "token_sha256": digest})
            pipe.set(self._keys.user_token(digest), name)
            pipe.sadd(self._keys.users(), name)
            await pipe.execute()
        return User(name=name, roles=roles, created_at=created), token

    async def ensure(self, name: str, roles: list[str], token: str) -> User:
        """`name` with `roles` and exactly this token (hermes up's local admin): created or brought in line."""
        user = await self.get(name)
        if user is None:
            return (await self.add(name, roles, token))[0]
        await self._set_token(name, token)
        await self._redis.hset(self._keys.user(name), "roles", ",".join(check_roles(roles)))
        return (await self.get(name)) or user

    async def rotate(self, name: str) -> str:
        """A new token for `name`; the old one stops working at once."""
        if await self.get(name) is None:
            raise UserError(f"no user {name!r}; `hermes users list` shows who there is")
        token = new_token()
        await self._set_token(name, token)
        await self._redis.hset(self._keys.user(name), "rotated_at", utcnow().isoformat())
        return token

    async def revoke(self, name: str) -> None:
        """Remove `name`: their token stops working at once."""
        stored = await self._redis.hget(self._keys.user(name), "token_sha256")
        if stored is None:
            raise UserError(f"no user {name!r}; `hermes users list` shows who there is")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.user_token(stored))
            pipe.delete(self._keys.user(name))
            pipe.srem(self._keys.users(), name)
            await pipe.execute()

    async def _set_token(self, name: str, token: str) -> None:
        digest = token_hash(token)
        old = await self._redis.hget(self._keys.user(name), "token_sha256")
        async with self._redis.pipeline(transaction=True) as pipe:
            if old and old != digest:
                pipe.delete(self._keys.user_token(old))
            pipe.hset(self._keys.user(name), "token_sha256", digest)
            pipe.set(self._keys.user_token(digest), name)
            await pipe.execute()
