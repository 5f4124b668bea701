"""`hermes users add|list|revoke|rotate` against a real redis-server, found through the up.json of a
(pretend) running `hermes up`; what they write is checked with `UserStore`, as the gateway reads it."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hermes import embedded
from hermes.keys import Keys
from hermes.stores.users import User, UserStore, token_hash
from hermes_cli.main import app
from typer.testing import CliRunner

from tests.conftest import Endpoint

runner = CliRunner()


def _store_call(url: str, prefix: str, method: str, *args: object) -> object:
    async def go() -> object:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        try:
            return await getattr(UserStore(client, Keys(prefix)), method)(*args)
        finally:
            await client.aclose()

    return asyncio.run(go())


class Users:
    """The CLI and the store, on one Redis prefix."""

    def __init__(self, url: str, prefix: str, state: Path) -> None:
        self.url, self.prefix, self.state = url, prefix, state

    def run(self, *args: str):
        return runner.invoke(app, ["users", *args])

    def authenticate(self, token: str) -> User | None:
        return _store_call(self.url, self.prefix, "authenticate", token)  # type: ignore[return-value]

    def get(self, name: str) -> User | None:
        return _store_call(self.url, self.prefix, "get", name)  # type: ignore[return-value]

    def raw(self, name: str) -> dict[str, str]:
        async def go() -> dict[str, str]:
            client = aioredis.Redis.from_url(self.url, decode_responses=True)
            try:
                return await client.hgetall(Keys(self.prefix).user(name))
            finally:
                await client.aclose()

        return asyncio.run(go())


def write_up_json(state: Path, redis_url: str, **extra: object) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / "up.json").write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:8789",
                                               "redis_url": redis_url, **extra}))


@pytest.fixture
def users(redis_server: Endpoint, redis_prefix: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Users:
    """A state dir whose up.json points at the test Redis (no redis_admin: no credentials)."""
    write_up_json(clean_env, redis_server.url)
    monkeypatch.setenv("HERMES_REDIS_PREFIX", redis_prefix)
    return Users(redis_server.url, redis_prefix, clean_env)


def _token_of(output: str) -> str:
    [token] = [word for word in output.split() if word.startswith("hermes_")]
    return token


def test_add_prints_a_token_once_that_the_gateway_accepts(users: Users) -> None:
    result = users.run("add", "alice", "--role", "operator", "--role", "approver")
    assert result.exit_code == 0, result.output
    token = _token_of(result.output)
    assert result.output.count(token) == 1, "the token is printed exactly once"
    assert "alice (operator, approver)" in result.output
    assert "shown only this once" in result.output
    assert "HERMES_API_TOKEN=<token> hermes chat" in result.output and "web page" in result.output
    user = users.authenticate(token)
    assert user is not None and user.name == "alice" and user.roles == ["operator", "approver"]
    assert users.authenticate(token + "x") is None
    stored = users.raw("alice")
    assert token not in json.dumps(stored) and stored["token_sha256"] == token_hash(token)


def test_add_json_gives_name_token_and_roles(users: Users) -> None:
    result = users.run("add", "bob", "--role", "admin", "--role", "viewer", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert set(answer) == {"name", "token", "roles"}
    assert answer["name"] == "bob" and answer["roles"] == ["viewer", "admin"]
    assert users.authenticate(answer["token"]).name == "bob"  # type: ignore[union-attr]


def test_list_shows_names_and_roles_never_a_token_or_its_hash(users: Users) -> None:
    empty = users.run("list")
    assert empty.exit_code == 0 and "No users yet" in empty.output, empty.output
    alice = _token_of(users.run("add", "alice", "--role", "operator").output)
    bob = json.loads(users.run("add", "bob", "--role", "approver", "--role", "viewer", "--json").output)["token"]
    result = users.run("list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip().startswith(("alice", "bob"))}
    assert "operator" in lines["alice"] and "viewer, approver" in lines["bob"]
    as_json = users.run("list", "--json")
    assert as_json.exit_code == 0, as_json.output
    listed = json.loads(as_json.output)
    assert [u["name"] for u in listed] == ["alice", "bob"]
    assert listed[1]["roles"] == ["viewer", "approver"] and listed[1]["rotated_at"] is None
    assert set(listed[0]) == {"name", "roles", "created_at", "rotated_at"}
    for token in (alice, bob):
        for output in (result.output, as_json.output):
            assert token not in output and token_hash(token) not in output and "sha256" not in output


def test_rotate_gives_a_new_token_and_the_old_one_stops_working(users: Users) -> None:
    old = _token_of(users.run("add", "alice", "--role", "operator").output)
    result = users.run("rotate", "alice")
    assert result.exit_code == 0, result.output
    new = _token_of(result.output)
    assert new != old and result.output.count(new) == 1 and "old token no longer works" in result.output
    assert users.authenticate(old) is None
    assert users.authenticate(new).name == "alice"  # type: ignore[union-attr]
    assert users.get("alice").rotated_at is not None  # type: ignore[union-attr]
    again = users.run("rotate", "alice", "--json")
    assert again.exit_code == 0, again.output
    newest = json.loads(again.output)
    assert newest["name"] == "alice" and users.authenticate(new) is None
    assert users.authenticate(newest["token"]).name == "alice"  # type: ignore[union-attr]
    listed = json.loads(users.run("list", "--json").output)
    assert listed[0]["rotated_at"] is not None


def test_rotating_the_local_admin_keeps_the_api_token_file_in_line(users: Users) -> None:
    (users.state / "api-token").write_text("the-old-local-token\n")
    _store_call(users.url, users.prefix, "ensure", "admin", ["admin"], "the-old-local-token")
    result = users.run("rotate", "admin", "--json")
    assert result.exit_code == 0, result.output
    token = json.loads(result.output)["token"]
    assert (users.state / "api-token").read_text().strip() == token
    assert (users.state / "api-token").stat().st_mode & 0o777 == 0o600
    assert users.authenticate("the-old-local-token") is None


def test_revoke_removes_the_user_and_their_token(users: Users) -> None:
    token = _token_of(users.run("add", "alice", "--role", "operator").output)
    result = users.run("revoke", "alice")
    assert result.exit_code == 0, result.output
    assert "Revoked alice" in result.output
    assert users.authenticate(token) is None and users.get("alice") is None
    assert json.loads(users.run("list", "--json").output) == []
    again = users.run("revoke", "alice")
    assert again.exit_code == 1 and "no user 'alice'" in again.output, again.output
    # the name is free again
    assert users.run("add", "alice", "--role", "viewer").exit_code == 0


@pytest.mark.parametrize(("args", "message"), [
    (["add", "alice", "--role", "superuser"], "unknown role(s) 'superuser'"),
    (["add", "alice"], "give at least one --role"),
    (["add", "Alice Smith", "--role", "viewer"], "is not valid"),
    (["add", "../etc", "--role", "viewer"], "is not valid"),
    (["rotate", "bad name"], "is not valid"),
    (["add"], "Missing argument"),
])
def test_usage_errors_exit_2_and_say_why(users: Users, args: list[str], message: str) -> None:
    result = users.run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert json.loads(users.run("list", "--json").output) == [], "nothing was written"


def test_a_name_taken_and_an_unknown_user_exit_1(users: Users) -> None:
    first = _token_of(users.run("add", "alice", "--role", "operator").output)
    taken = users.run("add", "alice", "--role", "admin")
    assert taken.exit_code == 1, taken.output
    assert "exists already" in taken.output and "hermes users rotate alice" in taken.output
    assert users.get("alice").roles == ["operator"] and users.authenticate(first) is not None  # type: ignore[union-attr]
    unknown = users.run("rotate", "zoe")
    assert unknown.exit_code == 1 and "no user 'zoe'" in unknown.output and "hermes users list" in unknown.output


def test_without_a_running_hermes_up_it_says_how_to_start_one(clean_env: Path) -> None:
    result = runner.invoke(app, ["users", "list"])
    assert result.exit_code == 1, result.output
    assert "no running `hermes up`" in result.output and str(clean_env) in result.output
    assert "hermes up" in result.output
    # up.json left behind by a `hermes up` that died
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    write_up_json(clean_env, "redis://127.0.0.1:1/0")
    (clean_env / "up.json").write_text(json.dumps({"pid": int(dead.stdout), "redis_url": "redis://127.0.0.1:1/0"}))
    stale = runner.invoke(app, ["users", "add", "alice", "--role", "viewer"])
    assert stale.exit_code == 1, stale.output
    assert "no longer running" in stale.output and "hermes up" in stale.output


def test_an_explicit_state_dir_is_used(redis_server: Endpoint, redis_prefix: str, clean_env: Path,
                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere"
    write_up_json(other, redis_server.url)
    monkeypatch.setenv("HERMES_REDIS_PREFIX", redis_prefix)
    result = runner.invoke(app, ["users", "add", "carol", "--role", "viewer", "--json", "--state-dir", str(other)])
    assert result.exit_code == 0, result.output
    assert _store_call(redis_server.url, redis_prefix, "get", "carol") is not None
    missing = runner.invoke(app, ["users", "list"])  # the default state dir has no hermes up
    assert missing.exit_code == 1 and "no running `hermes up`" in missing.output


def test_the_prefix_of_up_json_wins_over_the_environment(redis_server: Endpoint, redis_prefix: str,
                                                         clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hermes up` gives its services its own prefix and writes it to up.json: that is where the users are."""
    write_up_json(clean_env, redis_server.url, redis_prefix=redis_prefix)
    monkeypatch.setenv("HERMES_REDIS_PREFIX", f"{redis_prefix}-not-this-one")
    result = runner.invoke(app, ["users", "add", "dan", "--role", "viewer", "--json"])
    assert result.exit_code == 0, result.output
    assert _store_call(redis_server.url, redis_prefix, "get", "dan") is not None
    assert _store_call(redis_server.url, f"{redis_prefix}-not-this-one", "get", "dan") is None


def test_unreachable_redis_is_a_clear_failure(clean_env: Path) -> None:
    url = f"redis://127.0.0.1:{embedded.free_port()}/0"
    write_up_json(clean_env, url)
    result = runner.invoke(app, ["users", "list"])
    assert result.exit_code == 1, result.output
    assert f"cannot reach Redis at {url}" in result.output and "hermes up" in result.output


def test_the_redis_admin_user_of_up_json_is_used(redis_server: Endpoint, redis_prefix: str, clean_env: Path,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As `hermes up` sets it up: a Redis ACL user that may write only the user keys."""
    acl_user = f"admin-{redis_prefix}"
    password = secrets.token_urlsafe(16)

    async def make_acl_user() -> None:
        client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            await client.execute_command("ACL", "SETUSER", acl_user, "on", f">{password}", "resetkeys",
                                         f"~{redis_prefix}:user*", "-@all", "+@read", "+@write",
                                         "+@transaction", "+@connection")
        finally:
            await client.aclose()

    async def drop_acl_user() -> None:
        client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            await client.execute_command("ACL", "DELUSER", acl_user)
        finally:
            await client.aclose()

    asyncio.run(make_acl_user())
    try:
        password_file = tmp_path / "redis-admin-password"
        password_file.write_text(password + "\n")
        write_up_json(clean_env, redis_server.url,
                      redis_admin={"user": acl_user, "password_file": str(password_file)})
        monkeypatch.setenv("HERMES_REDIS_PREFIX", redis_prefix)
        added = runner.invoke(app, ["users", "add", "alice", "--role", "operator", "--json"])
        assert added.exit_code == 0, added.output
        assert _store_call(redis_server.url, redis_prefix, "authenticate", json.loads(added.output)["token"])
        # outside the user keys, that Redis user may write nothing
        monkeypatch.setenv("HERMES_REDIS_PREFIX", "elsewhere")
        refused = runner.invoke(app, ["users", "add", "bob", "--role", "viewer"])
        assert refused.exit_code == 1, refused.output
        assert f"refused the Redis user {acl_user!r}" in refused.output
        monkeypatch.setenv("HERMES_REDIS_PREFIX", redis_prefix)
        password_file.write_text("not-the-password\n")
        wrong = runner.invoke(app, ["users", "list"])
        assert wrong.exit_code == 1, wrong.output
        assert "refused" in wrong.output and acl_user in wrong.output
        password_file.unlink()
        missing = runner.invoke(app, ["users", "list"])
        assert missing.exit_code == 1 and "password of the Redis user" in missing.output, missing.output
    finally:
        asyncio.run(drop_acl_user())
