"""People and what they may do: roles, identity stamps, and the checks the guard applies.

Roles (a user may hold several):

| role | may |
|---|---|
| viewer | run read-only commands; see their own conversations |
| operator | ask for changes (which the profile may still send for approval) |
| approver | decide approvals they are named for |
| admin | manage users, see every conversation, switch to any profile; everything the others may |

Pure functions of data, no I/O: the gateway stamps who it authenticated, the guard decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from hermes.contracts import Identity, Role
from hermes.signing import ServiceKey, TrustedKeys, model_verifies, sign_model

ROLES: tuple[str, ...] = get_args(Role)
BUS_USER = "bus"  # what a message published straight on the bus (no gateway stamp) counts as


def check_roles(roles: list[str]) -> list[str]:
    """`roles` deduplicated in the canonical order, or ValueError naming the unknown ones."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(map(repr, unknown))}; roles are {', '.join(ROLES)}")
    if not roles:
        raise ValueError(f"give at least one role ({', '.join(ROLES)})")
    return [r for r in ROLES if r in roles]


def has_role(roles: list[str] | tuple[str, ...], role: str) -> bool:
    """Whether `roles` grant `role` (admin grants every role)."""
    return role in roles or "admin" in roles


@dataclass(frozen=True)
class Principal:
    """Someone authenticated: by the gateway (a token, a platform signature), or by the guard from a
    verified stamp; or, unverified, the bus's role for an unstamped message."""

    user: str
    roles: tuple[str, ...]
    verified: bool
    platform_user: str | None = None
    channel: str = ""

    def may(self, role: str) -> bool:
        return has_role(self.roles, role)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def describe(self) -> str:
        return f"{self.user} ({', '.join(self.roles) or 'no role'})"


class IdentityInvalid(Exception):
    """A stamp that does not verify or is not this message's; the message says which."""


def stamp(key: ServiceKey, *, user: str, roles: list[str], channel: str, message_id: str,
          conversation_id: str, platform_user: str | None = None) -> Identity:
    """The gateway's signed statement that `user` (with `roles`) sent message `message_id`."""
    identity = Identity(user=user, roles=check_roles(list(roles)), channel=channel, platform_user=platform_user,
                        message_id=message_id, conversation_id=conversation_id)
    return sign_model(identity, key)


def principal(identity: Identity | None, keys: TrustedKeys, *, message_ids: set[str], conversation_id: str,
              bus_roles: tuple[str, ...] = ("viewer",), claimed: str | None = None) -> Principal:
    """Who sent a message, as far as the guard can check.

    A stamp must be the gateway's signature and name this message and conversation; otherwise
    IdentityInvalid. No stamp at all: another system published on the bus, which gets `bus_roles`.
    """
    if identity is None:
        who = f"{BUS_USER}:{claimed}" if claimed and not claimed.startswith(f"{BUS_USER}:") else (claimed or BUS_USER)
        return Principal(who, tuple(bus_roles), verified=False)
    if not model_verifies(identity, "gateway", keys):
        raise IdentityInvalid(f"the identity stamp for {identity.user!r} is not the gateway's signature; "
                              "it was forged or altered")
    if identity.message_id not in message_ids or identity.conversation_id != conversation_id:
        raise IdentityInvalid(f"the identity stamp for {identity.user!r} belongs to another message; "
                              "a stamp vouches for one message only")
    return Principal(identity.user, tuple(identity.roles), verified=True, platform_user=identity.platform_user)
