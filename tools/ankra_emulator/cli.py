"""The `ankra` entry point: the command tree, auth, faults, dispatch and the call log."""

from __future__ import annotations

import contextlib
import importlib
import ipaddress
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from . import faults as faults_mod
from . import render
from .context import Context
from .errors import AUTH, MISSING_TOKEN, CliError, forbidden, unauthorized, usage
from .parser import Command, Flag, Invocation, help_text, parse
from .state import Store, default_state_dir, hash_token, iso, now, token_expired

CLI_VERSION = "0.13.2"
VERSION_LINE = f"ankra version {CLI_VERSION} (Ankra CLI emulator, emulates v0.13)"
DEFAULT_BASE_URL = "https://platform.ankra.app"

OUTPUT = Flag("--output", short="-o", help="output format: json or yaml")
YES = Flag("--yes", "bool", short="-y", help="skip the confirmation prompt")
CLUSTER = Flag("--cluster", help="cluster name or id (overrides the selected cluster)")
PROVIDERS = ("hetzner", "ovh", "upcloud")
PROVIDER_TITLES = {"hetzner": "Hetzner", "ovh": "OVH", "upcloud": "UpCloud"}


class _Lazy:
    """A handler imported on first call: a run imports only the module of its own command,
    which keeps every `ankra` invocation's start-up short."""

    def __init__(self, module: str, name: str, **kwargs: Any) -> None:
        self.module, self.name, self.kwargs = module, name, kwargs

    def __call__(self, ctx: Context) -> int:
        handler = getattr(importlib.import_module(f"{__package__}.{self.module}"), self.name)
        return handler(ctx, **self.kwargs)


LOCATION_FLAG = {"hetzner": "--location", "ovh": "--region", "upcloud": "--zone"}


def _deprecated(replacement: str) -> str:
    return f'use "{replacement}" instead'


def build_tree() -> Command:
    """The command tree of the CLI (current names plus the deprecated provider forms)."""
    root = Command(
        "ankra",
        "Ankra CLI: manage clusters, stacks, charts, credentials and tokens",
        flags=[Flag("--version", "bool", short="-v", help="print the version")],
        persistent=[
            Flag("--token", help="API token (or ANKRA_API_TOKEN)"),
            Flag("--base-url", help="API base URL (or ANKRA_BASE_URL)"),
            Flag("--config", help="config file (default $HOME/.ankra.yaml)"),
            Flag("--org", help="organisation (or ANKRA_ORG)"),
            OUTPUT,
            Flag("--help", "bool", short="-h", help="help for this command"),
        ],
    )
    root.add(Command("version", "Print the version", handler=_version, needs_auth=False))
    root.add(
        Command(
            "login",
            "Sign in with your browser (interactive)",
            handler=_Lazy("cmd_misc", "cmd_login"),
            needs_auth=False,
        )
    )

    cluster = root.add(Command("cluster", "Manage clusters", persistent=[CLUSTER]))
    cluster.add(
        Command(
            "list",
            "List all clusters",
            _Lazy("cmd_clusters", "cmd_list"),
            action="listing clusters",
            flags=[Flag("--sort", help="sort by field"), Flag("--order", help="asc or desc")],
        )
    )
    cluster.add(
        Command(
            "info",
            "Show a cluster's details",
            _Lazy("cmd_clusters", "cmd_info"),
            0,
            1,
            "[name]",
            action="getting cluster",
        )
    )
    cluster.add(
        Command(
            "get",
            "List a cluster's Kubernetes resources",
            _Lazy("cmd_clusters", "cmd_get"),
            0,
            1,
            "[name]",
            action="listing cluster resources",
        )
    )
    cluster.add(
        Command(
            "select",
            "Select the active cluster",
            _Lazy("cmd_clusters", "cmd_select"),
            0,
            1,
            "[name]",
            flags=[Flag("--name", help="cluster name (older form)")],
            action="selecting cluster",
        )
    )
    cluster.add(
        Command(
            "reconcile",
            "Trigger reconciliation",
            _Lazy("cmd_clusters", "cmd_reconcile"),
            0,
            1,
            "[name]",
            action="reconciling cluster",
            permission="clusters:reconcile",
        )
    )
    cluster.add(
        Command(
            "scale",
            "Scale a cluster's workers",
            _Lazy("cmd_clusters", "cmd_scale"),
            2,
            2,
            "<cluster> <count>",
            action="scaling cluster",
            permission="clusters:scale",
        )
    )
    cluster.add(
        Command(
            "deprovision",
            "Deprovision a cluster",
            _Lazy("cmd_clusters", "cmd_deprovision"),
            0,
            1,
            "[name|id]",
            flags=[Flag("--force", "bool", help="remove it now"), YES],
            action="deprovisioning cluster",
            permission="clusters:delete",
        )
    )
    file_flag = Flag("--file", short="-f", required=True, help="ImportCluster YAML file")
    cluster.add(
        Command(
            "validate",
            "Pre-flight check of a cluster YAML",
            _Lazy("cmd_stacks", "cmd_validate"),
            flags=[file_flag],
            action="validating cluster",
        )
    )
    cluster.add(
        Command(
            "apply",
            "Build stacks from a cluster YAML",
            _Lazy("cmd_stacks", "cmd_apply"),
            flags=[
                file_flag,
                Flag("--dry-run", "bool", help="validate and report only"),
                Flag("--wait", "bool", help="wait until the stacks are up"),
                Flag("--timeout", help="how long --wait waits (default 10m)"),
            ],
            action="applying cluster",
            permission="stacks:write",
        )
    )

    stacks = cluster.add(Command("stacks", "Manage stacks"))
    stacks.add(
        Command(
            "list", "List stacks", _Lazy("cmd_stacks", "cmd_list"), 0, 1, "[stack]", action="listing stacks"
        )
    )
    stacks.add(
        Command(
            "history",
            "Show a stack's history",
            _Lazy("cmd_stacks", "cmd_history"),
            1,
            1,
            "<stack>",
            action="getting stack history",
        )
    )
    stacks.add(
        Command(
            "delete",
            "Delete a stack",
            _Lazy("cmd_stacks", "cmd_delete"),
            1,
            1,
            "<stack>",
            flags=[YES],
            action="deleting stack",
            permission="stacks:delete",
        )
    )
    stacks.add(
        Command(
            "rename",
            "Rename a stack",
            _Lazy("cmd_stacks", "cmd_rename"),
            2,
            2,
            "<old> <new>",
            action="renaming stack",
            permission="stacks:write",
        )
    )
    stacks.add(
        Command(
            "clone",
            "Clone a stack to another cluster",
            _Lazy("cmd_stacks", "cmd_clone"),
            1,
            1,
            "<stack>",
            flags=[
                Flag("--to", required=True, help="target cluster"),
                Flag("--name", help="name of the copy"),
            ],
            action="cloning stack",
            permission="stacks:write",
        )
    )
    stacks.add(
        Command(
            "create",
            "Removed: use `ankra cluster apply -f`",
            _Lazy("cmd_stacks", "cmd_create"),
            0,
            None,
            "<name>",
            action="creating stack",
            permission="stacks:write",
        )
    )

    node_group = cluster.add(Command("node-group", "Manage node groups"))
    _node_group_commands(node_group, None, deprecated=False)

    for provider in PROVIDERS:
        title = PROVIDER_TITLES[provider]
        group = cluster.add(Command(provider, f"{title} clusters"))
        create_flags = [
            Flag("--name", required=True),
            Flag("--credential-id", required=True),
            Flag(LOCATION_FLAG[provider], required=True),
            Flag("--ssh-key-credential-id", required=provider != "hetzner"),
            Flag("--worker-count", "int"),
            Flag("--worker-server-type"),
            Flag("--control-plane-count", "int"),
            Flag("--control-plane-server-type"),
            Flag("--kubernetes-version"),
            Flag("--environment"),
            Flag("--description"),
        ]
        group.add(
            Command(
                "create",
                f"Create a {title} cluster",
                _Lazy("cmd_clusters", "cmd_create", provider=provider),
                flags=create_flags,
                action=f"creating {title} cluster",
                permission="clusters:create",
            )
        )
        group.add(
            Command(
                "workers",
                "Get the worker count",
                _Lazy("cmd_clusters", "cmd_workers", provider=provider),
                1,
                1,
                "<id>",
                action="getting worker count",
            )
        )
        group.add(
            Command(
                "scale",
                "Scale workers",
                _Lazy("cmd_clusters", "cmd_scale", provider=provider),
                2,
                2,
                "<id> <count>",
                action="scaling workers",
                permission="clusters:scale",
                deprecated=_deprecated("ankra cluster scale <cluster> <count>"),
            )
        )
        group.add(
            Command(
                "deprovision",
                "Deprovision the cluster",
                _Lazy("cmd_clusters", "cmd_deprovision", provider=provider),
                1,
                1,
                "<id>",
                flags=[Flag("--force", "bool"), YES],
                action="deprovisioning cluster",
                permission="clusters:delete",
                deprecated=_deprecated("ankra cluster deprovision <cluster>"),
            )
        )
        if provider == "hetzner":
            _node_group_commands(
                group.add(Command("node-group", "Manage node groups")), provider, deprecated=True
            )

    chat = root.add(
        Command(
            "chat",
            "Ask Ankra AI about your infrastructure",
            _Lazy("cmd_misc", "cmd_chat"),
            0,
            None,
            '"<question>"',
            flags=[Flag("--mode", help="ask or agent")],
            persistent=[CLUSTER],
            action="chatting with Ankra AI",
        )
    )
    chat.add(
        Command(
            "health",
            "Cluster health summary",
            _Lazy("cmd_misc", "cmd_health"),
            flags=[Flag("--ai", "bool", help="add an AI analysis")],
            action="getting cluster health",
        )
    )

    charts = root.add(Command("charts", "Browse Helm charts"))
    charts.add(
        Command(
            "list",
            "List available charts",
            _Lazy("cmd_misc", "cmd_charts_list"),
            action="listing charts",
            flags=[Flag("--page", "int"), Flag("--page-size", "int"), Flag("--subscribed", "bool")],
        )
    )
    charts.add(
        Command(
            "search",
            "Search charts",
            _Lazy("cmd_misc", "cmd_charts_search"),
            1,
            None,
            "<query>",
            action="searching charts",
        )
    )
    charts.add(
        Command(
            "info",
            "Chart details",
            _Lazy("cmd_misc", "cmd_charts_info"),
            1,
            1,
            "<name>",
            flags=[Flag("--repository", help="repository name or URL")],
            action="getting chart",
        )
    )

    creds = root.add(Command("credentials", "Manage provider credentials"))
    creds.add(
        Command(
            "list",
            "List credentials",
            _Lazy("cmd_misc", "cmd_credentials_list"),
            flags=[Flag("--provider")],
            action="listing credentials",
        )
    )
    creds.add(
        Command(
            "get",
            "Credential details (metadata only)",
            _Lazy("cmd_misc", "cmd_credentials_get"),
            1,
            1,
            "<id|name>",
            action="getting credential",
        )
    )
    creds.add(
        Command(
            "delete",
            "Delete a credential",
            _Lazy("cmd_misc", "cmd_credentials_delete"),
            1,
            1,
            "<id|name>",
            flags=[YES],
            action="deleting credential",
            permission="credentials:delete",
        )
    )
    for provider in ("hetzner", "ovh", "upcloud"):
        sub = creds.add(Command(provider, f"{PROVIDER_TITLES[provider]} credentials"))
        sub.add(
            Command(
                "create",
                "Create a credential (interactive)",
                _Lazy("cmd_misc", "cmd_credentials_create", provider=provider),
                flags=[Flag("--name")],
                action="creating credential",
                permission="credentials:create",
            )
        )

    tokens = root.add(Command("tokens", "Manage API tokens"))
    tokens.add(
        Command("list", "List API tokens", _Lazy("cmd_misc", "cmd_tokens_list"), action="listing tokens")
    )
    tokens.add(
        Command(
            "create",
            "Create an API token",
            _Lazy("cmd_misc", "cmd_tokens_create"),
            1,
            1,
            "<name>",
            flags=[Flag("--expires", help="ISO 8601 expiry")],
            action="creating token",
            permission="tokens:create",
        )
    )
    tokens.add(
        Command(
            "revoke",
            "Revoke an API token",
            _Lazy("cmd_misc", "cmd_tokens_revoke"),
            1,
            1,
            "<id>",
            action="revoking token",
            permission="tokens:revoke",
        )
    )
    return root


def _node_group_commands(group: Command, provider: str | None, *, deprecated: bool) -> None:
    def note(sub: str, usage_text: str) -> str | None:
        return _deprecated(f"ankra cluster node-group {sub} {usage_text}") if deprecated else None

    group.add(
        Command(
            "list",
            "List node groups",
            _Lazy("cmd_clusters", "cmd_ng_list", provider=provider),
            1,
            1,
            "<cluster>",
            action="listing node groups",
            deprecated=note("list", "<cluster>"),
        )
    )
    group.add(
        Command(
            "add",
            "Add a node group",
            _Lazy("cmd_clusters", "cmd_ng_add", provider=provider),
            2,
            2,
            "<cluster> <group>",
            flags=[Flag("--count", "int"), Flag("--server-type"), Flag("--min", "int"), Flag("--max", "int")],
            action="adding node group",
            permission="clusters:scale",
            deprecated=note("add", "<cluster> <group>"),
        )
    )
    group.add(
        Command(
            "scale",
            "Scale a node group",
            _Lazy("cmd_clusters", "cmd_ng_scale", provider=provider),
            3,
            3,
            "<cluster> <group> <count>",
            action="scaling node group",
            permission="clusters:scale",
            deprecated=note("scale", "<cluster> <group> <count>"),
        )
    )
    group.add(
        Command(
            "delete",
            "Delete a node group",
            _Lazy("cmd_clusters", "cmd_ng_delete", provider=provider),
            2,
            2,
            "<cluster> <group>",
            flags=[YES],
            action="deleting node group",
            permission="clusters:scale",
            deprecated=note("delete", "<cluster> <group>"),
        )
    )


def _version(ctx: Context) -> int:
    render.out(VERSION_LINE)
    return 0


# -- auth ----------------------------------------------------------------------------------------


def _config_path(inv: Invocation) -> str:
    return os.path.expanduser(inv.flags.get("config") or os.path.join(os.path.expanduser("~"), ".ankra.yaml"))


def _config(inv: Invocation) -> dict[str, Any]:
    path = _config_path(inv)
    if not os.path.exists(path):
        return {}
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CliError(f"reading config {path}: {err}") from None
    return data if isinstance(data, dict) else {}


def _token(inv: Invocation, config: dict[str, Any]) -> str | None:
    """--token, then the config file's token, then ANKRA_API_TOKEN."""
    return (
        inv.flags.get("token")
        or (str(config["token"]) if config.get("token") else None)
        or os.environ.get("ANKRA_API_TOKEN")
        or None
    )


def _check_base_url(inv: Invocation, config: dict[str, Any]) -> str:
    """The API base URL; plain http is refused unless loopback or explicitly allowed."""
    url = (
        inv.flags.get("base_url")
        or os.environ.get("ANKRA_BASE_URL")
        or config.get("base_url")
        or DEFAULT_BASE_URL
    )
    parts = urlsplit(str(url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f'invalid base URL "{url}": expected https://host[:port]')
    if (
        parts.scheme == "http"
        and not _loopback(parts.hostname)
        and os.environ.get("ANKRA_ALLOW_INSECURE_HTTP") != "1"
    ):
        raise CliError(
            f'refusing to send your API token over plain http to "{url}": use https, or set '
            "ANKRA_ALLOW_INSECURE_HTTP=1 for a trusted network"
        )
    return str(url)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def _authenticate(ctx: Context, command: str, raw_token: str) -> None:
    """Consume an injected failure, then check the token and the command's permission."""
    node = ctx.inv.command
    action = node.action or "calling the Ankra API"
    with ctx.store.session() as state:
        if faults_mod.take_failure(ctx.store, ctx.faults, state.counters, command):
            code = int(ctx.faults.get("fail_exit_code") or 1)
            raise CliError(
                f"{action}: API request failed: 503 Service Unavailable "
                "(injected by the emulator's fail-next fault)",
                code,
            )
        digest = hash_token(raw_token)
        entry = next((t for t in state.tokens if t["token_hash"] == digest), None)
        moment = now()
        if entry is None or entry["status"] != "Active" or token_expired(entry, moment):
            raise unauthorized(action)
        entry["last_used_at"] = iso(moment)
        ctx.token = dict(entry)
    if faults_mod.is_forbidden(ctx.faults, command) or (node.permission and entry.get("role") == "viewer"):
        raise forbidden(node.permission or "org:admin")


# -- main ----------------------------------------------------------------------------------------


def _utf8_stdio() -> None:
    # The executor's scrubbed environment has no LANG; box drawing and ✓ still need UTF-8.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            if (stream.encoding or "").lower().replace("-", "") != "utf8":
                stream.reconfigure(encoding="utf-8")


def _run(argv: list[str], store: Store, faults: dict[str, Any], seen: dict[str, Any]) -> int:
    root = build_tree()
    inv = parse(root, argv)
    node = inv.command
    command = node.path.removeprefix("ankra").strip()
    seen["command"] = command or None
    if inv.flags.get("version") and node is root:
        render.out(VERSION_LINE)
        return 0
    if inv.flags.get("help"):
        sys.stdout.write(help_text(node))
        return 0
    if node.deprecated:
        render.err(f'Command "{node.name}" is deprecated, {node.deprecated}')
    fmt = render.check_format(inv.flags.get("output"))
    ctx = Context(inv=inv, store=store, faults=faults, fmt=fmt)
    if node.needs_auth:
        config = _config(inv)
        _check_base_url(inv, config)
        token = _token(inv, config)
        if not token:
            raise CliError(MISSING_TOKEN, AUTH)
        _authenticate(ctx, command, token)
    assert node.handler is not None
    return node.handler(ctx)


def _report(error: CliError) -> None:
    render.err(f"Error: {error.message}")
    for line in error.detail:
        render.err(line)
    if error.usage_hint:
        render.err(f"Run '{error.usage_hint} --help' for usage.")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None and os.path.basename(sys.argv[0]).startswith("ankra-emulator"):
        from .admin import admin

        handled = admin(args)
        if handled is not None:
            return handled
    _utf8_stdio()
    started = time.monotonic()
    store = Store(default_state_dir())
    seen: dict[str, Any] = {"command": None}
    code = 1
    try:
        faults = faults_mod.load(store)
        if faults.get("hang"):
            faults_mod.log_call(store, args, None, started, None, note="hang")
        faults_mod.delay_and_hang(faults)
        code = _run(args, store, faults, seen)
    except CliError as error:
        _report(error)
        code = error.code
    except KeyboardInterrupt:
        render.err("Error: interrupted")
        code = 130
    except BrokenPipeError:
        code = 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        faults_mod.log_call(store, args, code, started, seen["command"])
    return code


__all__ = ["VERSION_LINE", "build_tree", "main", "usage"]
