"""Signing of execution orders: the guard signs, the executor verifies.

The signature is HMAC-SHA256 over the order's canonical JSON without its `signature` field, so
any change to any field (an argv word, the expiry, the approvers) breaks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime

from hermes.contracts import ExecutionOrder, utcnow


class OrderRejected(Exception):
    """An order the executor must not run; the message says why, for a person."""


def canonical_bytes(order: ExecutionOrder) -> bytes:
    """The bytes that are signed: sorted-key JSON of every field but the signature."""
    payload = order.model_dump(mode="json", exclude={"signature"})
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_order(order: ExecutionOrder, key: bytes) -> ExecutionOrder:
    """A copy of `order` carrying its signature."""
    signature = hmac.new(key, canonical_bytes(order), hashlib.sha256).hexdigest()
    return order.model_copy(update={"signature": signature})


def verify_order(order: ExecutionOrder, key: bytes, now: datetime | None = None) -> None:
    """Raise OrderRejected unless `order` is signed with `key` and has not expired."""
    if not order.signature:
        raise OrderRejected("the order is not signed; only the guard may issue execution orders")
    expected = hmac.new(key, canonical_bytes(order), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, order.signature):
        raise OrderRejected("the order's signature does not match its content; it was altered or forged")
    if (now or utcnow()) >= order.expires_at:
        raise OrderRejected(f"the order expired at {order.expires_at.isoformat()}; ask again to re-plan it")


def plan_hash(*parts: object) -> str:
    """A stable SHA-256 over JSON-serialisable parts (argv lists, stack YAML, bill of materials)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()
