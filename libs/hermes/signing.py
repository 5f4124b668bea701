"""Ed25519 signatures: each service holds its own private key; the others hold only public keys.

- The **guard** signs execution orders, approval records and its audit records; the executor holds
  only the guard's public key, so no other service can mint an order.
- The **gateway** signs identity stamps (who, authenticated, sent a message or a decision); the guard
  checks them, so a name typed into a request or forged on the bus decides nothing.
- The **executor** signs its audit records.

What is signed is the canonical JSON of a contract without its `signature` field, so a change to any
field (an argv word, the expiry, the approvers) breaks it. A key is 32 random bytes (the Ed25519
seed), kept base64 in a file of mode 0600; a public key is 32 bytes, base64, and not secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from pydantic import BaseModel

from hermes.contracts import ExecutionOrder, utcnow

M = TypeVar("M", bound=BaseModel)


class OrderRejected(Exception):
    """An order the executor must not run; the message says why, for a person."""


class SignatureInvalid(Exception):
    """A signed record whose signature does not verify; the message says which and why."""


class KeyUnreadable(ValueError):
    """A key that cannot be read; the message says which and what to do."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, what: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnreadable(f"{what} is not base64") from None
    if len(raw) != size:
        raise KeyUnreadable(f"{what} must be {size} bytes, base64-encoded; it is {len(raw)}")
    return raw


class ServiceKey:
    """A service's own Ed25519 private key."""

    def __init__(self, owner: str, seed: bytes) -> None:
        self.owner = owner
        self._key = SigningKey(seed)

    @classmethod
    def generate(cls, owner: str) -> ServiceKey:
        return cls(owner, bytes(SigningKey.generate()))

    @classmethod
    def from_text(cls, owner: str, text: str) -> ServiceKey:
        return cls(owner, _unb64(text, f"the private key of {owner}", 32))

    def private_text(self) -> str:
        """The seed, base64: what is kept in the key file."""
        return _b64(bytes(self._key))

    @property
    def public_text(self) -> str:
        return _b64(bytes(self._key.verify_key))

    def sign(self, data: bytes) -> str:
        return _b64(self._key.sign(data).signature)


class TrustedKeys:
    """The public keys of the services, by owner: what a service checks signatures against."""

    def __init__(self, keys: Mapping[str, str] | None = None) -> None:
        self._keys: dict[str, VerifyKey] = {}
        for owner, text in (keys or {}).items():
            self._keys[owner] = VerifyKey(_unb64(text, f"the public key of {owner}", 32))

    def __contains__(self, owner: str) -> bool:
        return owner in self._keys

    def owners(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, owner: str, data: bytes, signature: str) -> bool:
        """True when `signature` is `owner`'s over `data`; False for any other signature or owner."""
        key = self._keys.get(owner)
        if key is None or not signature:
            return False
        try:
            key.verify(data, base64.b64decode(signature, validate=True))
        except (BadSignatureError, binascii.Error, ValueError):
            return False
        return True


def canonical(model: BaseModel, exclude: Iterable[str] = ("signature",)) -> bytes:
    """The bytes that are signed: sorted-key JSON of every field but `exclude`."""
    payload = model.model_dump(mode="json", exclude=set(exclude))
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_model(model: M, key: ServiceKey, field: str = "signature") -> M:
    """A copy of `model` with `field` set to `key`'s signature over everything else."""
    return model.model_copy(update={field: key.sign(canonical(model, (field,)))})


def model_verifies(model: BaseModel, owner: str, keys: TrustedKeys, field: str = "signature") -> bool:
    """True when `model`'s `field` is `owner`'s signature over the rest of it."""
    return keys.verify(owner, canonical(model, (field,)), getattr(model, field) or "")


# -- execution orders ----------------------------------------------------------------------------
def sign_order(order: ExecutionOrder, key: ServiceKey) -> ExecutionOrder:
    """A copy of `order` carrying the guard's signature."""
    return sign_model(order, key)


def verify_order(order: ExecutionOrder, keys: TrustedKeys, now: datetime | None = None) -> None:
    """Raise OrderRejected unless `order` is signed by the guard and has not expired."""
    if not order.signature:
        raise OrderRejected("the order is not signed; only the guard may issue execution orders")
    if not model_verifies(order, "guard", keys):
        raise OrderRejected("the order's signature is not the guard's over this content; it was altered or forged")
    if (now or utcnow()) >= order.expires_at:
        raise OrderRejected(f"the order expired at {order.expires_at.isoformat()}; ask again to re-plan it")


def plan_hash(*parts: object) -> str:
    """A stable SHA-256 over JSON-serialisable parts (argv lists, stack YAML, bill of materials).

    A fingerprint that names a plan, not a proof: records that must not be altered carry a signature.
    """
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def generate_keys(owners: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Fresh keys for `owners`: (private key text by owner, public key text by owner)."""
    private: dict[str, str] = {}
    public: dict[str, str] = {}
    for owner in owners:
        key = ServiceKey.generate(owner)
        private[owner], public[owner] = key.private_text(), key.public_text
    return private, public


def trusted_from_json(text: str | None) -> dict[str, Any]:
    """The `{owner: public key}` map of HERMES_TRUSTED_KEYS (JSON), or {} when unset."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise KeyUnreadable(f"HERMES_TRUSTED_KEYS is not JSON ({err}); it maps service names to public keys") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise KeyUnreadable('HERMES_TRUSTED_KEYS must be a JSON object like {"guard": "<base64 public key>"}')
    return value
