"""`Idempotency-Key` on POST /v1/messages and POST /v1/approvals/{id}: a repeat gets the first answer
and publishes nothing new (JetStream holds one message per key), the same key with another request is
a 422, a repeat while the first is in flight is a 409 or the first answer, and another person's key of
the same text is another message. Real NATS and Redis; messages counted on their streams."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from hermes import subjects
from hermes.contracts import Plan, PlanStep, utcnow
from hermes.profiles import Profile
from hermes.stores.approvals import PendingApproval

from tests.integration.test_http_faults import running_gateway, stored


async def test_a_repeated_message_gets_the_first_answer_and_is_queued_once(fresh_nats, redis_server,
                                                                         redis_prefix) -> None:
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        key = str(uuid.uuid4())
        first = await gw.post("/v1/messages", {"text": "list my clusters"}, key=key)
        assert first[0] == 202 and first[1]["status"] == "queued" and "Idempotent-Replayed" not in first[2]
        for _ in range(3):
            status, body, headers = await gw.post("/v1/messages", {"text": "list my clusters"}, key=key)
            assert status == 202 and body == first[1] and headers["Idempotent-Replayed"] == "true"
        assert await stored(fresh_nats.url) == [first[1]["message_id"]]
        status, page, _h = await gw.get(f"/v1/conversations/{first[1]['conversation_id']}/events")
        assert [e["text"] for e in page["events"]] == ["list my clusters"], "the message shows once"

        # The same key from another person is their own message.
        other = await gw.post("/v1/messages", {"text": "list my clusters"}, user="bob", key=key)
        assert other[0] == 202 and other[1]["message_id"] != first[1]["message_id"]
        assert sorted(await stored(fresh_nats.url)) == sorted([first[1]["message_id"], other[1]["message_id"]])


async def test_a_key_reused_for_another_request_is_a_422(fresh_nats, redis_server, redis_prefix) -> None:
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        key = uuid.uuid4().hex
        first = await gw.post("/v1/messages", {"text": "list my clusters"}, key=key)
        assert first[0] == 202
        for path, body in (("/v1/messages", {"text": "delete my clusters"}),
                           ("/v1/messages", {"text": "list my clusters", "conversation_id": "c-other"}),
                           ("/v1/approvals/apr-x", {"decision": "approve"})):
            status, answer, headers = await gw.post(path, body, key=key)
            assert status == 422, (path, answer)
            assert headers["Content-Type"].startswith("application/json") and "new key" in answer["error"]
        assert await stored(fresh_nats.url) == [first[1]["message_id"]]


async def test_concurrent_requests_with_one_key_queue_one_message(fresh_nats, redis_server, redis_prefix) -> None:
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        key = uuid.uuid4().hex
        answers = await asyncio.gather(*(gw.post("/v1/messages", {"text": "hello"}, key=key) for _ in range(10)))
        accepted = [body for status, body, _h in answers if status == 202]
        busy = [(body, headers) for status, body, headers in answers if status == 409]
        assert len(accepted) + len(busy) == 10 and accepted
        assert len({body["message_id"] for body in accepted}) == 1
        for body, headers in busy:
            assert int(headers["Retry-After"]) > 0 and "still being handled" in body["error"]
        status, body, _h = await gw.post("/v1/messages", {"text": "hello"}, key=key)
        assert status == 202 and body["message_id"] == accepted[0]["message_id"]
        assert await stored(fresh_nats.url) == [accepted[0]["message_id"]]


class OneApproval:
    """The read side of the guard's approval records, with one pending approval until it is decided."""

    def __init__(self, item: PendingApproval) -> None:
        self.item: PendingApproval | None = item

    async def get(self, approval_id: str) -> PendingApproval | None:
        return self.item if self.item is not None and self.item.approval_id == approval_id else None

    async def outcome(self, _approval_id: str) -> str | None:
        return None if self.item is not None else "was approved"

    async def pending(self, limit: int = 200) -> list[PendingApproval]:
        return [self.item] if self.item is not None else []

    async def waiting_ids(self, _conversation_id: str) -> list[str]:
        return []


def _approval(approval_id: str) -> PendingApproval:
    plan = Plan(conversation_id="conv-approval", correlation_id="m1", message_id="m1", requested_by="carol",
                intent="stack.apply", summary="Build app-data", cluster="staging-cluster",
                steps=[PlanStep(argv=["cluster", "apply", "-f", "stack.yaml"])])
    now = utcnow()
    return PendingApproval(approval_id=approval_id, plan=plan, plan_hash="h" * 16, profile=Profile(name="default"),
                           requested_by="carol", approvers=["*"], reasons=["builds a stack"], approved_by=[],
                           created_at=now, expires_at=now + timedelta(minutes=30))


async def test_a_repeated_decision_gets_the_first_answer_even_once_decided(fresh_nats, redis_server,
                                                                         redis_prefix) -> None:
    approvals = OneApproval(_approval("apr-1"))
    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix, approvals=approvals) as gw:
        key = uuid.uuid4().hex
        first = await gw.post("/v1/approvals/apr-1", {"decision": "approve"}, key=key)
        assert first[0] == 202 and first[1]["status"] == "queued", first
        approvals.item = None  # the guard decided it: no longer pending
        status, body, headers = await gw.post("/v1/approvals/apr-1", {"decision": "approve"}, key=key)
        assert status == 202 and body == first[1] and headers["Idempotent-Replayed"] == "true"
        # Without the key, a second decision is refused: nothing pending.
        status, body, _h = await gw.post("/v1/approvals/apr-1", {"decision": "approve"})
        assert status == 404
        assert await stored(fresh_nats.url, subjects.PLAN_STREAM.name) == [first[1]["correlation_id"]]


async def test_a_request_cut_short_by_redis_before_publishing_runs_once_when_repeated(
        fresh_nats, redis_server, redis_prefix, monkeypatch) -> None:
    """Redis fails after the key was recorded and before anything was published (and the record cannot
    be freed either): the 503 is true, and the repeat with the key publishes it, once."""
    import redis.exceptions

    async with running_gateway(fresh_nats.url, redis_server.url, redis_prefix) as gw:
        log = gw.api.log

        async def failing(*_args, **_kwargs):
            raise redis.exceptions.ConnectionError("Connection reset by peer")

        with monkeypatch.context() as patched:
            patched.setattr(log, "append", failing)
            patched.setattr(log.requests, "release", failing)
            status, body, headers = await gw.post("/v1/messages", {"text": "hello"}, key="cut-short")
        assert status == 503 and int(headers["Retry-After"]) > 0 and "nothing was published" in body["error"]
        assert await stored(fresh_nats.url) == []
        status, body, headers = await gw.post("/v1/messages", {"text": "hello"}, key="cut-short")
        assert status == 409, "the record still says it is being handled, within its lease"
        gw.api._lease = 0.0  # the lease has passed
        answers = [await gw.post("/v1/messages", {"text": "hello"}, key="cut-short") for _ in range(3)]
        assert [(s, b["status"]) for s, b, _h in answers] == [(202, "queued")] * 3
        assert await stored(fresh_nats.url) == [answers[0][1]["message_id"]]
