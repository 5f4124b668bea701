"""Who is asking: a personal API token is a Hermes user; a chat-platform identity is the user the
config's `hermes.people` maps it to, or else gets the channel's configured role (default viewer).

The gateway stamps every message and decision it publishes with the identity it authenticated,
signed with its own key (`hermes.access.stamp`); a `user` field a caller fills in is never used.
"""

from __future__ import annotations

import hmac

from hermes.access import Principal, check_roles, stamp
from hermes.contracts import Identity, utcnow
from hermes.signing import ServiceKey
from hermes.stores.users import User, UserDirectory

BOOTSTRAP_ADMIN = "admin"


class People:
    """Tokens and platform identities to callers; callers to signed stamps."""

    def __init__(self, directory: UserDirectory, key: ServiceKey, people: dict[str, str] | None = None,
                 channel_roles: dict[str, list[str]] | None = None, bootstrap_token: str | None = None) -> None:
        self.directory = directory
        self._key = key
        self._people = dict(people or {})
        self._channel_roles = {k: tuple(check_roles(v)) for k, v in (channel_roles or {}).items()}
        self._bootstrap = bootstrap_token.encode() if bootstrap_token else None

    async def from_token(self, token: str, channel: str = "http") -> Principal | None:
        """The caller a bearer token belongs to, or None."""
        user = await self.directory.authenticate(token)
        if user is not None:
            return Principal(user.name, tuple(user.roles), verified=True, channel=channel)
        # HERMES_API_TOKEN: an admin for a gateway started without users (tests, a first deployment).
        if self._bootstrap is not None and hmac.compare_digest(token.encode(), self._bootstrap):
            return Principal(BOOTSTRAP_ADMIN, ("admin",), verified=True, channel=channel)
        return None

    async def from_platform(self, platform: str, platform_id: str) -> Principal:
        """A chat-platform user: the Hermes user they are mapped to, else the channel's role."""
        handle = f"{platform}:{platform_id}"
        name = self._people.get(handle)
        user: User | None = await self.directory.get(name) if name else None
        if user is not None:
            return Principal(user.name, tuple(user.roles), verified=True, platform_user=handle, channel=platform)
        return Principal(handle, self._channel_roles.get(platform, ("viewer",)), verified=True, platform_user=handle,
                         channel=platform)

    def stamp(self, caller: Principal, message_id: str, conversation_id: str) -> Identity:
        return stamp(self._key, user=caller.user, roles=list(caller.roles), channel=caller.channel,
                     message_id=message_id, conversation_id=conversation_id, platform_user=caller.platform_user)


def whoami(caller: Principal) -> dict[str, object]:
    return {"user": caller.user, "roles": list(caller.roles), "channel": caller.channel,
            "at": utcnow().isoformat()}
