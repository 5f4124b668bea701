"""`hermes users …`: the people who may talk to Hermes, their roles and their personal API tokens.

The commands write the user keys in the Redis of the running `hermes up` (found through
`<state>/up.json`: `redis_url`, `redis_prefix`, else HERMES_REDIS_PREFIX, else `hermes`), as the Redis
ACL user `hermes up` made for it (`redis_admin` in up.json; without it, no credentials). A token
is shown once, when it is made (`add`, `rotate`); Redis keeps only its SHA-256. `revoke` and
`rotate` take effect at once: the gateway looks every token up on every request.

Exit codes: 0 done, 1 failed (no running `hermes up`, Redis unreachable, name taken, unknown user),
2 usage (an unknown role, an invalid name, a missing argument).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hermes_cli import paths

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from hermes.stores.users import User, UserStore

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_PREFIX = "hermes"
LOCAL_ADMIN = "admin"  # the user `hermes up` keeps in line with <state>/api-token

T = TypeVar("T")

users_app = typer.Typer(
    name="users",
    help="People: add them with roles, list, rotate or revoke their personal API tokens (docs/access.md).",
    no_args_is_help=True,
)

StateDirOption = Annotated[Path | None, typer.Option(
    "--state-dir", help="State directory of the running `hermes up` (default: HERMES_STATE_DIR or "
                        "~/.local/state/hermes).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
NameArgument = Annotated[str, typer.Argument(help="The user's name (lower-case letters, digits, . _ -).",
                                             show_default=False)]


class UsersFailure(Exception):
    """A `hermes users` command that cannot be done; the message says why and what to do."""

    exit_code = EXIT_FAILED


class UsageFailure(UsersFailure):
    exit_code = EXIT_USAGE


@dataclass
class Target:
    """Where the users live: the Redis of the running `hermes up`."""

    state_dir: Path
    redis_url: str
    prefix: str
    username: str | None = None
    password: str | None = None
    gateway_url: str | None = None

    @property
    def api_token_path(self) -> Path:
        return self.state_dir / paths.API_TOKEN


def resolve_target(state_dir: Path | None) -> Target:
    """The Redis (and credentials) of the `hermes up` running on `state_dir`, or UsersFailure."""
    state = paths.resolve_state_dir(state_dir)
    info = paths.read_up_info(state)
    command = f"hermes up --state-dir {state}" if state_dir else "hermes up"
    start = f"start it with `{command}`, or point to its state with --state-dir"
    if info is None:
        raise UsersFailure(f"no running `hermes up` found in {state} (no up.json there): {start}")
    pid = info.get("pid")
    if isinstance(pid, int) and not paths.pid_alive(pid):
        raise UsersFailure(f"the `hermes up` that wrote {state / paths.UP_JSON} (pid {pid}) is no longer "
                           f"running: {start}")
    redis_url = info.get("redis_url")
    if not isinstance(redis_url, str) or not redis_url:
        raise UsersFailure(f"{state / paths.UP_JSON} names no redis_url: it was written by an older "
                           "`hermes up`; restart Hermes with `hermes up`")
    username = password = None
    admin = info.get("redis_admin")
    if isinstance(admin, dict) and admin.get("user"):
        username = str(admin["user"])
        password_file = Path(str(admin.get("password_file") or ""))
        password = paths.read_secret(password_file) if admin.get("password_file") else None
        if password is None:
            raise UsersFailure(f"the password of the Redis user {username!r} is missing "
                               f"({password_file or 'no password_file in up.json'}); restart Hermes with `hermes up`")
    # What the running hermes up gave its services; else the environment's; else the default.
    prefix = str(info.get("redis_prefix") or os.environ.get("HERMES_REDIS_PREFIX") or DEFAULT_PREFIX)
    return Target(state_dir=state, redis_url=redis_url, prefix=prefix, username=username, password=password,
                  gateway_url=str(info["url"]) if info.get("url") else None)


def _run(target: Target, work: Callable[[UserStore], Awaitable[T]]) -> T:
    """Run `work` with a UserStore on the target's Redis; Redis problems become UsersFailure."""
    import redis.asyncio as aioredis
    import redis.exceptions
    from hermes.keys import Keys
    from hermes.stores.users import UserError, UserStore

    async def go() -> T:
        client: aioredis.Redis = aioredis.Redis.from_url(
            target.redis_url, decode_responses=True, username=target.username, password=target.password,
            socket_connect_timeout=5, socket_timeout=10)
        try:
            return await work(UserStore(client, Keys(target.prefix)))
        finally:
            await client.aclose()

    try:
        return asyncio.run(go())
    except UserError as err:
        raise UsersFailure(str(err)) from None
    except (redis.exceptions.AuthenticationError, redis.exceptions.NoPermissionError) as err:
        who = f"the Redis user {target.username!r}" if target.username else "an unauthenticated client"
        raise UsersFailure(f"Redis at {target.redis_url} refused {who} ({err}); the user keys are written "
                           "as the `redis_admin` user of up.json: restart Hermes with `hermes up`") from None
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as err:
        raise UsersFailure(f"cannot reach Redis at {target.redis_url} ({err}): is `hermes up` still running? "
                           "Start it with `hermes up`") from None
    except redis.exceptions.RedisError as err:
        raise UsersFailure(f"Redis at {target.redis_url} answered with an error: {err}") from None


def _check_name(name: str) -> str:
    from hermes.stores.users import UserError, check_name

    try:
        return check_name(name)
    except UserError as err:
        raise UsageFailure(str(err)) from None


def _check_roles(roles: list[str] | None) -> list[str]:
    from hermes.access import ROLES, check_roles

    if not roles:
        raise UsageFailure(f"give at least one --role ({', '.join(ROLES)}), e.g. --role operator --role approver")
    try:
        return check_roles([r.strip().lower() for r in roles])
    except ValueError as err:
        raise UsageFailure(str(err)) from None


def _user_json(user: User) -> dict[str, Any]:
    return {"name": user.name, "roles": list(user.roles), "created_at": user.created_at.isoformat(),
            "rotated_at": user.rotated_at.isoformat() if user.rotated_at else None}


def _write_json(console: Console, value: object) -> None:
    out = console.file if console.file is not None else sys.stdout
    out.write(json.dumps(value, ensure_ascii=False) + "\n")
    out.flush()


def _print_token(console: Console, target: Target, name: str, token: str) -> None:
    """The token, once, and how to use it."""
    console.print("Their token, shown only this once (Hermes keeps only its SHA-256):", highlight=False)
    console.print()
    console.print(f"  {token}", markup=False, highlight=False, soft_wrap=True)
    console.print()
    page = f"the web page ({target.gateway_url}/)" if target.gateway_url else "the web page"
    console.print(f"Give it to {name} privately. To use it: `HERMES_API_TOKEN=<token> hermes chat` "
                  f"(or `hermes chat --token <token>`), or paste it into {page} to sign in.",
                  markup=False, highlight=False, soft_wrap=True)


def _write_local_admin_token(target: Target, token: str) -> bool:
    """Keep <state>/api-token the local admin's token after a rotation (hermes up and hermes chat read it)."""
    path = target.api_token_path
    if not path.exists():
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.replace(tmp, path)
    return True


# -- the commands, as functions returning an exit code -----------------------------------------


def add(name: str, roles: list[str] | None, as_json: bool, state_dir: Path | None,
        console: Console, err_console: Console) -> int:
    try:
        name = _check_name(name)
        roles = _check_roles(roles)
        target = resolve_target(state_dir)
        user, token = _run(target, lambda store: store.add(name, roles))
    except UsersFailure as err:
        return _fail(err_console, err)
    if as_json:
        _write_json(console, {"name": user.name, "token": token, "roles": list(user.roles)})
        return EXIT_OK
    console.print(f"Added {escape(user.name)} ({', '.join(user.roles)}).", highlight=False)
    _print_token(console, target, user.name, token)
    return EXIT_OK


def list_users(as_json: bool, state_dir: Path | None, console: Console, err_console: Console) -> int:
    try:
        target = resolve_target(state_dir)
        users = _run(target, lambda store: store.list())
    except UsersFailure as err:
        return _fail(err_console, err)
    if as_json:
        _write_json(console, [_user_json(u) for u in users])
        return EXIT_OK
    if not users:
        console.print("No users yet. Add one with `hermes users add NAME --role operator`.", highlight=False)
        return EXIT_OK
    table = Table(box=box.SIMPLE_HEAVY, title=f"Users ({len(users)})", title_justify="left")
    for column in ("name", "roles", "created", "rotated"):
        table.add_column(column, no_wrap=column != "roles")
    for user in users:
        table.add_row(escape(user.name), ", ".join(user.roles), f"{user.created_at:%Y-%m-%d %H:%M} UTC",
                      f"{user.rotated_at:%Y-%m-%d %H:%M} UTC" if user.rotated_at else "-")
    console.print(table)
    return EXIT_OK


def revoke(name: str, state_dir: Path | None, console: Console, err_console: Console) -> int:
    try:
        name = _check_name(name)
        target = resolve_target(state_dir)
        _run(target, lambda store: store.revoke(name))
    except UsersFailure as err:
        return _fail(err_console, err)
    console.print(f"Revoked {escape(name)}: their token no longer works.", highlight=False)
    if name == LOCAL_ADMIN and target.api_token_path.exists():
        console.print(f"Note: `hermes up` makes {LOCAL_ADMIN} again with the token in {target.api_token_path} "
                      "when it next starts.", markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def rotate(name: str, as_json: bool, state_dir: Path | None, console: Console, err_console: Console) -> int:
    try:
        name = _check_name(name)
        target = resolve_target(state_dir)
        token = _run(target, lambda store: store.rotate(name))
    except UsersFailure as err:
        return _fail(err_console, err)
    wrote = name == LOCAL_ADMIN and _write_local_admin_token(target, token)
    if as_json:
        _write_json(console, {"name": name, "token": token})
        return EXIT_OK
    console.print(f"Rotated {escape(name)}: their old token no longer works.", highlight=False)
    _print_token(console, target, name, token)
    if wrote:
        console.print(f"The new token is also in {target.api_token_path} (the local admin's).",
                      markup=False, highlight=False, soft_wrap=True)
    return EXIT_OK


def _fail(err_console: Console, err: UsersFailure) -> int:
    err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
    return err.exit_code


def _consoles() -> tuple[Console, Console]:
    return Console(), Console(stderr=True)


# -- typer wiring --------------------------------------------------------------------------------


@users_app.command("add")
def add_command(
    name: NameArgument,
    role: Annotated[list[str] | None, typer.Option(
        "--role", "-r", help="A role: viewer, operator, approver or admin (repeat for several).",
        show_default=False)] = None,
    as_json: JsonOption = False,
    state_dir: StateDirOption = None,
) -> None:
    """Add a person with their roles; print their personal API token (shown only this once)."""
    raise typer.Exit(add(name, role, as_json, state_dir, *_consoles()))


@users_app.command("list")
def list_command(as_json: JsonOption = False, state_dir: StateDirOption = None) -> None:
    """List the users: name, roles, when added and when their token was last rotated (never a token)."""
    raise typer.Exit(list_users(as_json, state_dir, *_consoles()))


@users_app.command("revoke")
def revoke_command(name: NameArgument, state_dir: StateDirOption = None) -> None:
    """Remove a user: their token stops working at once."""
    raise typer.Exit(revoke(name, state_dir, *_consoles()))


@users_app.command("rotate")
def rotate_command(name: NameArgument, as_json: JsonOption = False, state_dir: StateDirOption = None) -> None:
    """Give a user a new token (printed once); the old one stops working at once."""
    raise typer.Exit(rotate(name, as_json, state_dir, *_consoles()))
