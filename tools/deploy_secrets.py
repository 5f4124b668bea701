#!/usr/bin/env python3
"""Make every secret a Hermes deployment needs, one file each, in a private folder.

    .venv/bin/python tools/deploy_secrets.py                      # docker compose: deploy/secrets/
    .venv/bin/python tools/deploy_secrets.py DIR --kubernetes hermes-secrets --namespace hermes > secrets.yaml

The folder is mode 0700 and every file 0600, owned by the user the images run as (1000:1000: compose
bind-mounts each file into the one container that reads it, keeping the file's owner and mode; run
this as root, e.g. with sudo, so it can hand the files to that user). Files that exist are kept, so
running it again changes nothing but what it derives (`public-keys.json`, `redis-users.acl`).

What it writes (the file names are also the keys of the Kubernetes Secret the Helm chart reads):

  gateway.key planner.key guard.key executor.key   each service's own Ed25519 key (`hermes keys`)
  public-keys.json                                 their public keys: HERMES_TRUSTED_KEYS (not secret)
  nats-<user>-password                             gateway planner guard executor bootstrap admin integration
  redis-<user>-password                            gateway planner guard executor admin
  redis-users.acl                                  the Redis ACL (hermes.permissions), passwords as SHA-256
                                                   hashes only; the default user is off
  api-token                                        optional bootstrap admin token of the gateway
  ankra-api-token                                  the executor's Ankra token (default: the emulator's)
  anthropic-api-key                                the planner's model key (empty: rule-based planner)
  slack-bot-token slack-app-token discord-token telegram-token
                                                   the gateway's chat tokens (empty unless set)

Put a value you were given (a token) with `--set NAME`, which reads it from standard input (never from
the command line or the environment):  printf %s "$TOKEN" | … tools/deploy_secrets.py --set ankra-api-token

It needs the project's Python (`hermes` importable): the repository's .venv, or the image itself:
  docker run --rm -i --user 0 -v "$PWD/deploy/secrets:/out" -v "$PWD/tools:/tools:ro" \\
    hermes-runtime:local python /tools/deploy_secrets.py /out
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DIR = ROOT / "deploy" / "secrets"
IMAGE_USER = "1000:1000"  # the user every Hermes image runs as (Dockerfile)

try:
    from hermes import permissions
    from hermes.signing import ServiceKey
    from hermes.subjects import SERVICES
except ImportError:  # pragma: no cover - a message for a person
    sys.stderr.write("error: `hermes` is not importable: run this with the project's Python (.venv/bin/python "
                     "tools/deploy_secrets.py) or inside the image (see the module's help)\n")
    raise SystemExit(2) from None

# Secrets a person provides (`--set`); each is written empty first, which every service reads as "not set".
PROVIDED: dict[str, str] = {
    "api-token": "the gateway's bootstrap admin token (generated)",
    "ankra-api-token": "the executor's Ankra API token (`ankra tokens create hermes-agent`)",
    "anthropic-api-key": "the planner's model key",
    "slack-bot-token": "Slack bot token (xoxb-)",
    "slack-app-token": "Slack app-level token (xapp-, Socket Mode)",
    "discord-token": "Discord bot token",
    "telegram-token": "Telegram bot token",
}
PUBLIC_KEYS = "public-keys.json"
REDIS_ACL = "redis-users.acl"
CHAT_TOKENS = ("slack-bot-token", "slack-app-token", "discord-token", "telegram-token")


def emulator_token() -> str:
    """The token the Ankra CLI emulator (the executor image's default `ankra`) accepts: public, not secret."""
    try:
        from ankra_emulator.state import DEFAULT_TOKEN
    except ImportError:
        return ""
    return DEFAULT_TOKEN


def nats_password_file(user: str) -> str:
    return f"nats-{user}-password"


def redis_password_file(user: str) -> str:
    return f"redis-{user}-password"


class SecretsDir:
    """A 0700 folder of 0600 files owned by `owner` (uid, gid), or by whoever runs this when None."""

    def __init__(self, root: Path, owner: tuple[int, int] | None) -> None:
        self.root = root
        self.owner = owner
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
        ignore = root / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# secrets: never commit them\n*\n")

    def path(self, name: str) -> Path:
        return self.root / name

    def read(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8").strip()

    def write(self, name: str, value: str) -> Path:
        target = self.path(name)
        tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            if self.owner is not None:
                os.fchown(fd, *self.owner)
            os.write(fd, (value + "\n").encode() if value else b"")
        finally:
            os.close(fd)
        os.replace(tmp, target)
        return target

    def ensure(self, name: str, make: Callable[[], str]) -> str:
        """The file's value; made (and written) when the file does not exist. Mode and owner are fixed up."""
        target = self.path(name)
        if target.exists():
            value = self.read(name)
            self.write(name, value)  # mode 0600 and the owner, also for a file written by hand
            return value
        value = make()
        self.write(name, value)
        return value


def make_all(box: SecretsDir, redis_prefix: str) -> dict[str, str]:
    """Every file; returns name -> value (public-keys.json included)."""
    values: dict[str, str] = {}
    public: dict[str, str] = {}
    for service in SERVICES:
        text = box.ensure(f"{service}.key", lambda s=service: ServiceKey.generate(s).private_text())
        public[service] = ServiceKey.from_text(service, text).public_text  # refuses a broken key file
        values[f"{service}.key"] = text
    for user in permissions.NATS_USERS:
        values[nats_password_file(user)] = box.ensure(nats_password_file(user), lambda: secrets.token_hex(24))
    redis_passwords = {}
    for user in permissions.REDIS_USERS:
        name = redis_password_file(user)
        redis_passwords[user] = values[name] = box.ensure(name, lambda: secrets.token_hex(24))
    acl = "\n".join(permissions.redis_acl(redis_prefix, redis_passwords, hashed=True))
    values[REDIS_ACL] = acl
    box.write(REDIS_ACL, acl)
    defaults = {"api-token": lambda: secrets.token_urlsafe(32), "ankra-api-token": emulator_token}
    for name in PROVIDED:
        values[name] = box.ensure(name, defaults.get(name, lambda: ""))
    values[PUBLIC_KEYS] = json.dumps(public, indent=2)
    box.write(PUBLIC_KEYS, values[PUBLIC_KEYS])
    return values


def kubernetes_manifests(values: dict[str, str], name: str, namespace: str) -> str:
    """A Secret with every secret (the keys the chart and the NATS/Redis addons read) and a ConfigMap
    `<name>-trusted-keys` with the public keys, as YAML for `kubectl apply -f -` or an Ankra stack."""
    import yaml

    data = {k: v for k, v in values.items() if k != PUBLIC_KEYS and (v or k not in CHAT_TOKENS)}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": name, "namespace": namespace}, "stringData": data}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{name.removesuffix('-secrets')}-trusted-keys", "namespace": namespace},
                  "data": {PUBLIC_KEYS: values[PUBLIC_KEYS]}}

    class Literal(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Literal.add_representer(str, text)
    return yaml.dump_all([secret, config_map], Dumper=Literal, sort_keys=False, width=10_000)


def parse_owner(text: str) -> tuple[int, int]:
    uid, _, gid = text.partition(":")
    try:
        return int(uid), int(gid or uid)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--owner must be UID:GID (numbers), got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/deploy_secrets.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR,
                        help=f"the secrets folder (default {DEFAULT_DIR.relative_to(ROOT)})")
    parser.add_argument("--owner", type=parse_owner, default=parse_owner(IMAGE_USER),
                        help=f"UID:GID of the files (default {IMAGE_USER}, the images' user)")
    parser.add_argument("--set", dest="set_names", action="append", default=[], choices=sorted(PROVIDED),
                        metavar="NAME", help="write NAME from standard input: " + ", ".join(sorted(PROVIDED)))
    parser.add_argument("--redis-prefix", default="hermes", help="the services' HERMES_REDIS_PREFIX (default hermes)")
    parser.add_argument("--kubernetes", metavar="SECRET", help="also print a Secret SECRET and a ConfigMap "
                        "<SECRET without -secrets>-trusted-keys as YAML on standard output")
    parser.add_argument("--namespace", default="hermes", help="namespace of --kubernetes (default hermes)")
    args = parser.parse_args(argv)

    owner: tuple[int, int] | None = args.owner
    if os.geteuid() != 0:
        if owner[0] != os.getuid() and not args.kubernetes:
            sys.stderr.write(
                f"error: the files must belong to uid {owner[0]} (the user the images run as: compose mounts each "
                f"file with its owner and mode 0600), and only root can give them away. Run this with sudo, or "
                f"inside the image (see --help); or pass --owner {os.getuid()}:{os.getgid()} if the services run "
                "as you.\n")
            return 2
        owner = None  # already ours
    box = SecretsDir(args.directory, owner)
    for name in args.set_names:
        value = getpass.getpass(f"{PROVIDED[name]}: ") if sys.stdin.isatty() else sys.stdin.read()
        box.write(name, value.strip())
    values = make_all(box, args.redis_prefix)
    print(f"secrets in {args.directory} (0700; files 0600"
          f"{f', owner {owner[0]}:{owner[1]}' if owner else ''}): " + ", ".join(sorted(values)),
          file=sys.stderr)
    if args.kubernetes:
        sys.stdout.write(kubernetes_manifests(values, args.kubernetes, args.namespace))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
