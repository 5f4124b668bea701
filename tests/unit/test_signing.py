"""Signing of execution orders: only an order signed with the guard's key, unchanged and unexpired, verifies.

The executor holds only the guard's public key: nothing it (or any other service) holds can sign."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hermes.contracts import ExecutionOrder, OrderStep
from hermes.signing import OrderRejected, ServiceKey, TrustedKeys, plan_hash, sign_order, verify_order

GUARD = ServiceKey.generate("guard")
KEY = GUARD
TRUSTED = TrustedKeys({"guard": GUARD.public_text})
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def order(**overrides) -> ExecutionOrder:
    fields = {
        "conversation_id": "conv-1",
        "correlation_id": "corr-1",
        "created_at": NOW,
        "plan_id": "plan-1",
        "steps": [
            OrderStep(step_id="s1", argv=["cluster", "list"], risk="read", command="cluster list"),
            OrderStep(step_id="s2", argv=["cluster", "stacks", "delete", "app-data", "--cluster", "staging"],
                      risk="destructive", command="cluster stacks delete", confirmed=True),
        ],
        "requested_by": "alice",
        "approved_by": ["bob"],
        "intent": "cluster.stacks.delete",
        "expires_at": NOW + timedelta(minutes=5),
    }
    fields.update(overrides)
    return ExecutionOrder(**fields)


def signed(**overrides) -> ExecutionOrder:
    return sign_order(order(**overrides), KEY)


def rejection(o: ExecutionOrder, keys: TrustedKeys = TRUSTED, now: datetime = NOW) -> str:
    with pytest.raises(OrderRejected) as err:
        verify_order(o, keys, now=now)
    return str(err.value)


def verifies(o: ExecutionOrder, keys: TrustedKeys = TRUSTED, now: datetime = NOW) -> bool:
    """Whether the executor would take `o` (verify_order raises OrderRejected otherwise)."""
    try:
        verify_order(o, keys, now=now)
    except OrderRejected:
        return False
    return True


def test_signed_order_verifies() -> None:
    o = signed()
    assert len(base64.b64decode(o.signature)) == 64  # an Ed25519 signature
    verify_order(o, TRUSTED, now=NOW)


def test_signing_returns_a_copy_and_leaves_the_original_unsigned() -> None:
    o = order()
    s = sign_order(o, KEY)
    assert o.signature == "" and s.signature != ""


def test_signed_order_still_verifies_after_a_json_round_trip() -> None:
    """The order travels on the bus as JSON: parsing it back must not change what was signed."""
    o = signed()
    back = ExecutionOrder.model_validate_json(o.model_dump_json())
    assert verifies(back)


def test_signature_does_not_depend_on_the_previous_signature() -> None:
    o = signed()
    assert sign_order(o, KEY).signature == o.signature


def _with_step(o: ExecutionOrder, index: int, **changes) -> ExecutionOrder:
    steps = [s.model_copy(deep=True) for s in o.steps]
    steps[index] = steps[index].model_copy(update=changes)
    return o.model_copy(update={"steps": steps})


TAMPERINGS = {
    "argv word": lambda o: _with_step(o, 1, argv=["cluster", "stacks", "delete", "app-data", "--cluster", "prod"]),
    "argv word appended": lambda o: _with_step(o, 0, argv=["cluster", "list", "--sort", "name"]),
    "confirmed flag set": lambda o: _with_step(o, 0, confirmed=True),
    "confirmed flag cleared": lambda o: _with_step(o, 1, confirmed=False),
    "risk": lambda o: _with_step(o, 1, risk="read"),
    "expires_at": lambda o: o.model_copy(update={"expires_at": o.expires_at + timedelta(days=1)}),
    "approved_by": lambda o: o.model_copy(update={"approved_by": ["mallory"]}),
    "approved_by emptied": lambda o: o.model_copy(update={"approved_by": []}),
    "requested_by": lambda o: o.model_copy(update={"requested_by": "mallory"}),
    "plan_id": lambda o: o.model_copy(update={"plan_id": "plan-2"}),
    "id": lambda o: o.model_copy(update={"id": "another-id"}),
    "files": lambda o: o.model_copy(update={"files": {"stack.yaml": "kind: ImportCluster"}}),
    "step dropped": lambda o: o.model_copy(update={"steps": o.steps[:1]}),
    "steps reordered": lambda o: o.model_copy(update={"steps": list(reversed(o.steps))}),
}


@pytest.mark.parametrize("what", sorted(TAMPERINGS))
def test_any_change_to_a_signed_order_is_rejected_as_altered(what: str) -> None:
    o = signed()
    tampered = TAMPERINGS[what](o)
    assert tampered.signature == o.signature  # the change kept the old signature
    assert "altered or forged" in rejection(tampered)


def test_unsigned_order_is_rejected() -> None:
    reason = rejection(order())
    assert "not signed" in reason


def test_order_signed_with_another_key_is_rejected() -> None:
    o = sign_order(order(), ServiceKey.generate("guard"))
    assert "altered or forged" in rejection(o)


@pytest.mark.parametrize("owner", ["gateway", "planner", "executor"])
def test_an_order_signed_by_any_other_service_key_is_rejected(owner: str) -> None:
    """A key belongs to one owner: another service's own key (even one the executor trusts for
    something else) cannot mint an order."""
    other = ServiceKey.generate(owner)
    trusted = TrustedKeys({"guard": GUARD.public_text, owner: other.public_text})
    assert "altered or forged" in rejection(sign_order(order(), other), keys=trusted)


def test_the_public_key_the_executor_holds_cannot_sign() -> None:
    """What the executor is given is the guard's public key: 32 bytes that verify, and nothing that
    signs. Used as if it were a private key, it makes a different key whose orders are refused."""
    forged = sign_order(order(), ServiceKey.from_text("guard", GUARD.public_text))
    assert "altered or forged" in rejection(forged)


def test_made_up_signature_is_rejected() -> None:
    o = order().model_copy(update={"signature": base64.b64encode(b"0" * 64).decode()})
    assert "altered or forged" in rejection(o)


def test_expired_order_is_rejected_with_its_expiry() -> None:
    o = signed()
    reason = rejection(o, now=o.expires_at + timedelta(seconds=1))
    assert "expired" in reason
    assert o.expires_at.isoformat() in reason


def test_order_is_expired_at_the_exact_expiry_instant() -> None:
    o = signed()
    assert "expired" in rejection(o, now=o.expires_at)


def test_order_verifies_just_before_expiry() -> None:
    o = signed()
    assert verifies(o, now=o.expires_at - timedelta(microseconds=1))


def test_verification_without_now_uses_the_clock() -> None:
    past = signed(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(OrderRejected, match="expired"):
        verify_order(past, TRUSTED)
    verify_order(signed(expires_at=datetime.now(UTC) + timedelta(minutes=5)), TRUSTED)


# -- plan_hash ---------------------------------------------------------------------------------


def test_plan_hash_is_stable_for_equal_inputs() -> None:
    a = plan_hash([["cluster", "scale", "prod", "3"]], "stack: yaml", {"b": 1, "a": 2})
    b = plan_hash([["cluster", "scale", "prod", "3"]], "stack: yaml", {"a": 2, "b": 1})
    assert a == b
    assert len(a) == 64 and int(a, 16) >= 0


def test_plan_hash_is_sensitive_to_step_order() -> None:
    one = plan_hash([["cluster", "list"], ["cluster", "reconcile", "prod"]])
    other = plan_hash([["cluster", "reconcile", "prod"], ["cluster", "list"]])
    assert one != other


def test_plan_hash_is_sensitive_to_argv_word_order_and_content() -> None:
    assert plan_hash([["cluster", "scale", "prod", "3"]]) != plan_hash([["cluster", "scale", "prod", "4"]])
    assert plan_hash([["a", "b"]]) != plan_hash([["b", "a"]])


def test_plan_hash_distinguishes_how_parts_are_split() -> None:
    assert plan_hash(["ab"], ["c"]) != plan_hash(["a"], ["bc"])
    assert plan_hash("x", None) != plan_hash("x")
