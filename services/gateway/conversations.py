"""The conversation log: every message and reply of a conversation, in order, in Redis.

Each conversation is a Redis stream; a cursor is a stream entry id, so any gateway replica can
serve any reader from where it left off. Appends are deduplicated on the event id, so a reply
delivered twice by the bus shows once.

`RequestRecords` keeps, per `Idempotency-Key`, what the HTTP API answered (and the message it
published), so that a repeated request gets the same answer and publishes nothing new.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from hermes.contracts import Reply, utcnow
from hermes.keys import Keys

CONVERSATION_TTL_SECONDS = 30 * 24 * 3600
MAX_EVENTS = 2000
START = "0-0"

# Append unless this event id was appended before; returns the new cursor or false.
_APPEND_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'event', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return id
end
return false
"""


REQUEST_RECORD_TTL_SECONDS = 24 * 3600


class UnknownConversation(KeyError):
    pass


class RequestRecords:
    """What the HTTP API answered to a request with an `Idempotency-Key`: one JSON record per message id
    (which the key determines), kept `REQUEST_RECORD_TTL_SECONDS`. Any gateway replica reads them."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def _key(self, record_id: str) -> str:
        return self._keys.dedupe("http-request", record_id)

    async def get(self, record_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._key(record_id))
        return json.loads(raw) if raw else None

    async def claim(self, record_id: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """Store `record` unless one exists: None when it was stored (the caller handles the request),
        else the record stored first (by an earlier or concurrent request with the same key)."""
        payload = json.dumps(record, ensure_ascii=False, default=str)
        for _ in range(3):  # the existing record may expire between the two commands
            if await self._redis.set(self._key(record_id), payload, nx=True, ex=REQUEST_RECORD_TTL_SECONDS):
                return None
            existing = await self.get(record_id)
            if existing is not None:
                return existing
        raise RuntimeError(f"request record {record_id} could neither be stored nor read")

    async def update(self, record_id: str, **fields: Any) -> None:
        """Change fields of an existing record (it keeps its expiry); nothing if it is gone."""
        record = await self.get(record_id)
        if record is None:
            return
        record.update(fields)
        await self._redis.set(self._key(record_id), json.dumps(record, ensure_ascii=False, default=str),
                              xx=True, keepttl=True)

    async def release(self, record_id: str) -> None:
        """Forget the record: the request certainly did nothing, and the key may be used again."""
        await self._redis.delete(self._key(record_id))


class ConversationLog:
    def __init__(self, redis: aioredis.Redis, keys: Keys, waiting: aioredis.Redis | None = None) -> None:
        self._redis = redis
        # Long polls block a connection for their whole wait: a client of their own, whose read timeout
        # outlasts the longest wait (redis-py's default of 5 s would end every longer poll in an error).
        self._waiting = waiting or redis
        self._keys = keys
        self._append = redis.register_script(_APPEND_ONCE)
        self.requests = RequestRecords(redis, keys)

    async def create(self, conversation_id: str, user: str, channel: str) -> None:
        key = self._keys.conversation(conversation_id)
        await self._redis.hset(key, mapping={"created_at": utcnow().isoformat(), "user": user,
                                             "channel": channel})
        await self._redis.expire(key, CONVERSATION_TTL_SECONDS)

    async def exists(self, conversation_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.conversation(conversation_id)))

    async def owner(self, conversation_id: str) -> str | None:
        """Who the conversation belongs to (a Hermes user, or a platform identity), None if unknown."""
        return await self._redis.hget(self._keys.conversation(conversation_id), "user")

    async def admit(self, conversation_id: str, user: str) -> None:
        """Let `user` read the conversation too: an approver who decided one of its approvals follows
        what their decision did."""
        await self._redis.hset(self._keys.conversation(conversation_id), f"reader:{user}", utcnow().isoformat())

    async def may_read(self, conversation_id: str, user: str) -> bool:
        """Whether `user` owns the conversation or was admitted to it."""
        owner, admitted = await self._redis.hmget(self._keys.conversation(conversation_id), ["user", f"reader:{user}"])
        return owner == user or admitted is not None

    async def append(self, conversation_id: str, event: dict[str, Any]) -> str | None:
        """Append `event` (which has an `id`); the cursor after it, or None for a duplicate."""
        payload = json.dumps(event, ensure_ascii=False, default=str)
        cursor = await self._append(
            keys=[self._keys.events(conversation_id), self._keys.dedupe("event", event["id"])],
            args=[payload, CONVERSATION_TTL_SECONDS, CONVERSATION_TTL_SECONDS, MAX_EVENTS],
        )
        return cursor or None

    async def append_reply(self, reply: Reply) -> str | None:
        if not await self.exists(reply.conversation_id):
            # A conversation started straight on the bus by another system: make it readable too.
            await self.create(reply.conversation_id, user="bus", channel="bus")
        return await self.append(reply.conversation_id, reply_event(reply))

    async def last_cursor(self, conversation_id: str) -> str:
        """The cursor of the newest event (START for none): a reader from there sees only what follows."""
        newest = await self._redis.xrevrange(self._keys.events(conversation_id), count=1)
        return newest[0][0] if newest else START

    async def read(self, conversation_id: str, cursor: str = START, wait_seconds: float = 0.0,
                   limit: int = 100) -> tuple[list[dict[str, Any]], str]:
        """Events after `cursor`, waiting up to `wait_seconds` for the first; and the next cursor."""
        if not await self.exists(conversation_id):
            raise UnknownConversation(conversation_id)
        block = int(wait_seconds * 1000) if wait_seconds > 0 else None
        answer = await (self._waiting if block else self._redis).xread({self._keys.events(conversation_id): cursor}, count=limit,
                                         block=block)
        events: list[dict[str, Any]] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                event = json.loads(fields["event"])
                event["cursor"] = entry_id
                events.append(event)
                cursor = entry_id
        return events, cursor


def message_event(message_id: str, correlation_id: str, text: str, user: str) -> dict[str, Any]:
    return {"type": "message", "id": message_id, "correlation_id": correlation_id, "text": text,
            "user": user, "final": False, "blocks": [], "approval": None, "kind": None,
            "source": "gateway", "created_at": utcnow().isoformat()}


def reply_event(reply: Reply) -> dict[str, Any]:
    data = reply.model_dump(mode="json", exclude={"schema_version", "conversation_id", "expires_at"})
    data["type"] = "reply"
    return data
