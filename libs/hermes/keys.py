"""Every Redis key Hermes uses, in one place. All keys start with the configured prefix.

| key | type | written by | also read by | holds |
|---|---|---|---|---|
| `<p>:conv:<cid>:meta` | hash | gateway | | conversation metadata (created_at, user, channel) |
| `<p>:conv:<cid>:events` | stream | gateway | | the conversation's events, read by the HTTP API |
| `<p>:dedupe:<scope>:<id>` | string | gateway | | an inbound event or bus message already handled |
| `<p>:conv:<cid>:history` | list | planner | | redacted turns for conversation memory (capped) |
| `<p>:conv:<cid>:state` | string (JSON) | planner | | known clusters, last request and cluster, the drafted design |
| `<p>:clusters` | string (JSON) | planner | | the clusters the last `cluster list` showed (5 min) |
| `<p>:run:<plan>` | string (JSON) | planner | | a multi-step run waiting for its plan's result (continuation) |
| `<p>:conv:<cid>:profile` | string | guard | planner | the conversation's active profile |
| `<p>:approval:<aid>` | string (JSON) | guard | gateway, planner | a pending approval, with a TTL |
| `<p>:approval-outcome:<aid>` | string | guard | gateway | what became of a decided, replaced or expired approval (24 h) |
| `<p>:conv:<cid>:approvals` | set | guard | gateway, planner | pending approval ids of a conversation |
| `<p>:approvals` | sorted set | guard | gateway | every pending approval id, scored by its expiry (the web page's list) |
| `<p>:channel-conv:<key>` | string | gateway | | the conversation id of a chat-platform thread, DM or channel |
| `<p>:conv:<cid>:target` | string (JSON) | gateway | | where on its chat platform the conversation's replies go |
| `<p>:delivered:<reply>:<platform>` | string | gateway | | a reply already sent to its platform (2 days) |
| `<p>:conv:<cid>:outbox` | hash | gateway | | each reply's place in the conversation's delivery order (`next` = the counter) |
| `<p>:conv:<cid>:outbox-done` | set | gateway | | places in that order already sent or given up |
| `<p>:rate-limit:<platform>:<chat>` | string | gateway | | a platform's 429: nothing is sent to that chat until it expires |
| `<p>:delivery-failures:<delivery>` | string | gateway | | failed tries of one delivery (its retry budget) |
| `<p>:lease:<name>` | string | gateway | | the replica holding a platform connection (Socket Mode, long polling) |
| `<p>:build-lock:<cluster>` | string | guard | | the approval id of the one pending build of a cluster |
| `<p>:ledger:<order>:<step>` | hash | executor | guard | started/finished and the recorded result of a step |
| `<p>:order-seen:<order>` | string | executor | | an order id already accepted (replay defence) |
| `<p>:user:<name>` | hash | admin (`hermes users`, `hermes up`) | gateway | a person: roles, SHA-256 of their token, created/rotated |
| `<p>:user-token:<sha256>` | string | admin | gateway | the user a token hash belongs to (the gateway's token lookup) |
| `<p>:users` | set | admin | gateway | every user name |

The same table is data (`FAMILIES`): `hermes.permissions.redis_acl` gives each service a Redis ACL
user that may write only the keys it writes and read only those and the ones it is listed to read.
For that, every family's pattern must match its own keys and no other family's: a family under
`conv:<cid>` ends in its own suffix (hence `:meta` for the conversation's hash, never a bare
`conv:<cid>`, whose pattern would cover every other conversation key).
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"
"""The writer of the user keys: the operator's `hermes users` / `hermes up` (the Redis `admin` user)."""


@dataclass(frozen=True)
class KeyFamily:
    """Keys of one kind: their pattern after `<prefix>:` (Redis glob), who writes them, who reads them."""

    name: str  # the `Keys` method that builds them
    pattern: str
    writer: str
    readers: tuple[str, ...] = ()


FAMILIES: tuple[KeyFamily, ...] = (
    KeyFamily("conversation", "conv:*:meta", "gateway"),
    KeyFamily("events", "conv:*:events", "gateway"),
    KeyFamily("dedupe", "dedupe:*", "gateway"),
    KeyFamily("history", "conv:*:history", "planner"),
    KeyFamily("planner_state", "conv:*:state", "planner"),
    KeyFamily("clusters", "clusters", "planner"),
    KeyFamily("run", "run:*", "planner"),
    KeyFamily("profile", "conv:*:profile", "guard", ("planner",)),
    KeyFamily("approval", "approval:*", "guard", ("gateway", "planner")),
    KeyFamily("approval_outcome", "approval-outcome:*", "guard", ("gateway",)),
    KeyFamily("conversation_approvals", "conv:*:approvals", "guard", ("gateway", "planner")),
    KeyFamily("pending_approvals", "approvals", "guard", ("gateway",)),
    KeyFamily("channel_conversation", "channel-conv:*", "gateway"),
    KeyFamily("delivery_target", "conv:*:target", "gateway"),
    KeyFamily("delivered", "delivered:*", "gateway"),
    KeyFamily("outbox", "conv:*:outbox", "gateway"),
    KeyFamily("outbox_done", "conv:*:outbox-done", "gateway"),
    KeyFamily("rate_limit", "rate-limit:*", "gateway"),
    KeyFamily("delivery_failures", "delivery-failures:*", "gateway"),
    KeyFamily("lease", "lease:*", "gateway"),
    KeyFamily("build_lock", "build-lock:*", "guard"),
    KeyFamily("ledger", "ledger:*", "executor", ("guard",)),
    KeyFamily("order_seen", "order-seen:*", "executor"),
    KeyFamily("user", "user:*", ADMIN, ("gateway",)),
    KeyFamily("user_token", "user-token:*", ADMIN, ("gateway",)),
    KeyFamily("users", "users", ADMIN, ("gateway",)),
)


def family(name: str) -> KeyFamily:
    """The family whose keys `Keys.<name>` builds."""
    for f in FAMILIES:
        if f.name == name:
            return f
    raise KeyError(f"no key family {name!r}; declare it in hermes.keys.FAMILIES")


def written_by(party: str) -> tuple[KeyFamily, ...]:
    return tuple(f for f in FAMILIES if f.writer == party)


def read_by(party: str) -> tuple[KeyFamily, ...]:
    """The families `party` reads but does not write."""
    return tuple(f for f in FAMILIES if party in f.readers)


@dataclass(frozen=True)
class Keys:
    """Key builder for one prefix."""

    prefix: str = "hermes"

    def conversation(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:meta"

    def events(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:events"

    def history(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:history"

    def planner_state(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:state"

    def clusters(self) -> str:
        return f"{self.prefix}:clusters"

    def run(self, plan_id: str) -> str:
        return f"{self.prefix}:run:{plan_id}"

    def profile(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:profile"

    def dedupe(self, scope: str, event_id: str) -> str:
        return f"{self.prefix}:dedupe:{scope}:{event_id}"

    def approval(self, approval_id: str) -> str:
        return f"{self.prefix}:approval:{approval_id}"

    def approval_outcome(self, approval_id: str) -> str:
        return f"{self.prefix}:approval-outcome:{approval_id}"

    def conversation_approvals(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:approvals"

    def pending_approvals(self) -> str:
        return f"{self.prefix}:approvals"

    def channel_conversation(self, conversation_key: str) -> str:
        return f"{self.prefix}:channel-conv:{conversation_key}"

    def delivery_target(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:target"

    def delivered(self, reply_id: str, platform: str) -> str:
        return f"{self.prefix}:delivered:{reply_id}:{platform}"

    def outbox(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:outbox"

    def outbox_done(self, cid: str) -> str:
        return f"{self.prefix}:conv:{cid}:outbox-done"

    def rate_limit(self, platform: str, chat: str) -> str:
        return f"{self.prefix}:rate-limit:{platform}:{chat}"

    def delivery_failures(self, delivery_id: str) -> str:
        return f"{self.prefix}:delivery-failures:{delivery_id}"

    def lease(self, name: str) -> str:
        return f"{self.prefix}:lease:{name}"

    def build_lock(self, cluster: str) -> str:
        return f"{self.prefix}:build-lock:{cluster}"

    def ledger(self, order_id: str, step_id: str) -> str:
        return f"{self.prefix}:ledger:{order_id}:{step_id}"

    def order_seen(self, order_id: str) -> str:
        return f"{self.prefix}:order-seen:{order_id}"

    def user(self, name: str) -> str:
        return f"{self.prefix}:user:{name}"

    def user_token(self, token_hash: str) -> str:
        return f"{self.prefix}:user-token:{token_hash}"

    def users(self) -> str:
        return f"{self.prefix}:users"
