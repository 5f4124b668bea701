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

OUTPUT = Flag("--output", short="-o", help="Output format: json or yaml (default: human-readable)")
K8S_OUTPUT = Flag("--output", short="-o", default="table", help="Output format: table, json, yaml")
YES = Flag("--yes", "bool", help="Skip the confirmation prompt")
CLUSTER = Flag("--cluster", help="Target cluster name or ID for this command, overriding `ankra cluster select`")
WAIT = Flag("--wait", "bool", help="Wait for the operation to finish (default: submit and return immediately)")
TIMEOUT = Flag("--timeout", default="10m", help="Maximum time to wait when --wait is set")
NAMESPACE = Flag("--namespace", short="-n", help="Kubernetes namespace")
ALL_NAMESPACES = Flag("--all-namespaces", "bool", short="-A", help="List across all namespaces")
PROVIDERS = ("hetzner", "ovh", "upcloud", "digitalocean", "proxmox", "morpheus")
PROVIDER_TITLES = {"hetzner": "Hetzner", "ovh": "OVH", "upcloud": "UpCloud", "digitalocean": "DigitalOcean",
                   "proxmox": "Proxmox VE", "morpheus": "HPE Morpheus"}
# The kinds `cluster get` lists (cmd/cluster_k8s.go:106 kindConfigs, :635 pods).
GET_KINDS = ("pods", "deployments", "statefulsets", "daemonsets", "services", "namespaces", "nodes", "events",
             "configmaps", "secrets", "ingresses", "cronjobs", "k8s-jobs", "storageclasses")


class _Lazy:
    """A handler imported on first call: a run imports only the module of its own command,
    which keeps every `ankra` invocation's start-up short."""

    def __init__(self, module: str, name: str, **kwargs: Any) -> None:
        self.module, self.name, self.kwargs = module, name, kwargs

    def __call__(self, ctx: Context) -> int:
        handler = getattr(importlib.import_module(f"{__package__}.{self.module}"), self.name)
        return handler(ctx, **self.kwargs)


# Per provider, the flags of `cluster <provider> create` Hermes uses, as the CLI declares them
# (name, kind, required). Sizes differ per provider: Hetzner server types, OVH flavor IDs, UpCloud
# plans, DigitalOcean sizes, Proxmox instance types, Morpheus plan IDs.
CREATE_FLAGS: dict[str, tuple[str, list[tuple[str, str, bool]]]] = {
    "hetzner": ("cmd/hetzner_cluster.go:20", [
        ("--location", "str", True), ("--worker-server-type", "str", False),
        ("--control-plane-server-type", "str", False), ("--ssh-key-credential-id", "str", False)]),
    "ovh": ("cmd/ovh_cluster.go:21", [
        ("--region", "str", True), ("--worker-flavor-id", "str", False),
        ("--control-plane-flavor-id", "str", False), ("--ssh-key-credential-id", "str", True)]),
    "upcloud": ("cmd/upcloud_cluster.go:20", [
        ("--zone", "str", True), ("--worker-plan", "str", False), ("--control-plane-plan", "str", False),
        ("--ssh-key-credential-id", "str", True)]),
    "digitalocean": ("cmd/digitalocean_cluster.go:21", [
        ("--region", "str", True), ("--worker-size", "str", False), ("--control-plane-size", "str", False),
        ("--ssh-key-credential-id", "str", True)]),
    "proxmox": ("cmd/proxmox_cluster.go:20", [
        ("--node", "str", True), ("--bridge", "str", True), ("--worker-instance-type", "str", False),
        ("--control-plane-instance-type", "str", False), ("--ssh-key-credential-id", "str", True),
        ("--description", "str", False)]),
    "morpheus": ("cmd/morpheus_cluster.go:19", [
        ("--cloud-id", "int", True), ("--group-id", "int", True), ("--layout-id", "int", True),
        ("--network-id", "int", True), ("--worker-plan-id", "int", True), ("--control-plane-plan-id", "int", True),
        ("--bastion-plan-id", "int", True), ("--ssh-key-credential-id", "str", True),
        ("--description", "str", False)]),
}
# Lines of the other provider commands (workers; scale and deprovision where the provider has them).
PROVIDER_LINES = {
    "hetzner": {"workers": 150, "scale": 175, "deprovision": 106},
    "ovh": {"workers": 152, "scale": 177, "deprovision": 108},
    "upcloud": {"workers": 201, "scale": 226, "deprovision": 101},
    "digitalocean": {"workers": 198, "scale": 223, "deprovision": 100},
    "proxmox": {"workers": 148},
    "morpheus": {"workers": 151},
}


def _cmd(name: str, help_text: str, handler: Any = None, lo: int = 0, hi: int | None = 0, usage_text: str = "",
         flags: list[Flag] | None = None, source: str = "", action: str = "", permission: str | None = None,
         **kwargs: Any) -> Command:
    return Command(name, help_text, handler, lo, hi, usage_text, flags=list(flags or []), action=action,
                   permission=permission, source=source, **kwargs)


def build_tree() -> Command:
    """The command tree: the real CLI's names, positionals and flags for every emulated command.

    Each command's `source` is the file:line of the real CLI it follows (README.md, "Provenance").
    """
    root = Command(
        "ankra",
        "CLI for the Ankra platform",
        flags=[Flag("--version", "bool", short="-v", help="version for ankra")],
        persistent=[
            Flag("--config", help="config file (default is $HOME/.ankra.yaml)"),
            Flag("--token", help="API token for authentication (or set ANKRA_API_TOKEN)"),
            Flag("--base-url", help="Base URL for the Ankra API (or set ANKRA_BASE_URL)"),
            Flag("--org", help="Organisation name or ID to run this command against (or set ANKRA_ORG)"),
            Flag("--help", "bool", short="-h", help="help for this command"),
        ],
        source="cmd/root.go:52",
    )
    root.add(_cmd("login", "Sign in with your browser (interactive)", _Lazy("cmd_misc", "cmd_login"),
                  source="cmd/login.go:52", needs_auth=False))

    cluster = root.add(Command("cluster", "Manage clusters", persistent=[CLUSTER], source="cmd/reconcile.go:27"))
    cl = "cmd_clusters"
    cluster.add(_cmd("list", "List all clusters", _Lazy(cl, "cmd_list"), flags=[
        Flag("--sort", help="sort by field"), Flag("--order", help="asc or desc"), OUTPUT],
        source="cmd/reconcile.go:44", action="listing clusters"))
    cluster.add(_cmd("info", "Show details of a specific cluster", _Lazy(cl, "cmd_info"), 0, 1, "[name]",
                     [OUTPUT], "cmd/reconcile.go:128", "fetching cluster details"))
    get = cluster.add(Command("get", "Get Kubernetes resources from the active cluster",
                              source="cmd/cluster_k8s.go:1002"))
    for kind in GET_KINDS:
        kind_flags = [NAMESPACE, ALL_NAMESPACES, Flag("--name", help="Filter by name"), K8S_OUTPUT]
        kind_flags.append(Flag("--node", help="Filter by node name") if kind == "pods"
                          else Flag("--selector", short="-l", help="Label selector"))
        get.add(_cmd(kind, f"List {kind} in the cluster", _Lazy(cl, "cmd_get", kind=kind), 0, 1, "[name]",
                     kind_flags, "cmd/cluster_k8s.go:635" if kind == "pods" else "cmd/cluster_k8s.go:569",
                     f"listing {kind}"))
    cluster.add(_cmd("select", "Select a cluster to be the active cluster", _Lazy(cl, "cmd_select"), 0, 1,
                     "[cluster_name]", source="cmd/cluster_select.go:33", action="selecting cluster"))
    cluster.add(_cmd("reconcile", "Trigger reconciliation", _Lazy(cl, "cmd_reconcile"), 0, 1,
                     "[cluster_name]", [OUTPUT], "cmd/reconcile.go:186", "reconciling cluster",
                     "clusters:reconcile"))
    cluster.add(_cmd("scale", "Scale the default worker pool of a cloud cluster", _Lazy(cl, "cmd_scale"), 2, 2,
                     "<cluster_id> <worker_count>", [OUTPUT], "cmd/cluster_scale.go:37", "scaling workers",
                     "clusters:scale"))
    cluster.add(_cmd("deprovision", "Deprovision a cluster", _Lazy(cl, "cmd_deprovision"), 0, 1,
                     "[cluster_name]", [Flag("--force", "bool"), Flag("--auto-delete", "bool"), YES, OUTPUT],
                     "cmd/reconcile.go:303", "deprovisioning cluster", "clusters:delete"))
    cluster.add(_cmd("validate", "Validate an ImportCluster YAML", _Lazy("cmd_stacks", "cmd_validate"), flags=[
        Flag("--file", short="-f", required=True, help="Path to the ImportCluster YAML file to validate"),
        Flag("--strict-secrets", "bool", help="Treat plaintext secrets as errors instead of warnings"),
        Flag("--cluster", help="Validate against an existing cluster's resources (cluster name or ID)"),
        OUTPUT], source="cmd/cluster_validate.go:11", action="validating cluster"))
    cluster.add(_cmd("apply", "Apply an ImportCluster YAML to the Ankra API", _Lazy("cmd_stacks", "cmd_apply"),
                     flags=[Flag("--file", short="-f", required=True, help="ImportCluster YAML file"),
                            Flag("--dry-run", "bool", help="Validate locally without calling the API"),
                            Flag("--allow-repoint", "bool"), Flag("--allow-repoint-destroying-data", "bool"),
                            WAIT, TIMEOUT, OUTPUT],
                     source="cmd/apply.go:20", action="applying cluster", permission="stacks:write"))

    stacks = cluster.add(Command("stacks", "Manage stacks", source="cmd/cluster_stacks.go:17"))
    st = "cmd_stacks"
    stacks.add(_cmd("list", "List stacks", _Lazy(st, "cmd_list"), 0, 1, "[stack name]", [OUTPUT],
                    "cmd/cluster_stacks.go:23", "listing stacks"))
    stacks.add(_cmd("history", "Show a stack's history", _Lazy(st, "cmd_history"), 1, 1, "<name>", [OUTPUT],
                    "cmd/cluster_stacks.go:266", "getting stack history"))
    stacks.add(_cmd("delete", "Delete a stack", _Lazy(st, "cmd_delete"), 1, 1, "<name>", [YES],
                    "cmd/cluster_stacks.go:200", "deleting stack", "stacks:delete"))
    stacks.add(_cmd("rename", "Rename a stack", _Lazy(st, "cmd_rename"), 2, 2, "<old_name> <new_name>",
                    source="cmd/cluster_stacks.go:237", action="renaming stack", permission="stacks:write"))
    stacks.add(_cmd("clone", "Clone a stack to another cluster", _Lazy(st, "cmd_clone"), 1, 1,
                    "<stack_name> --to <target_cluster>",
                    [Flag("--to", short="-t", required=True, help="target cluster"),
                     Flag("--name", short="-n", help="name of the copy"), Flag("--include-config", "bool"), OUTPUT],
                    "cmd/cluster_stacks.go:335", "cloning stack", "stacks:write"))

    node_group = cluster.add(Command("node-group", "Manage node groups", source="cmd/cluster_node_group.go:207"))
    _node_group_commands(node_group, None, "cmd/cluster_node_group.go", {"list": 216, "add": 270, "scale": 327,
                                                                        "delete": 414})

    for provider in PROVIDERS:
        title = PROVIDER_TITLES[provider]
        source, extra = CREATE_FLAGS[provider]
        file = source.split(":")[0]
        group = cluster.add(Command(provider, f"Manage {title} clusters", source=f"{file}:14"))
        create_flags = [
            Flag("--name", required=True),
            Flag("--credential-id", required=True),
            *(Flag(name, kind, required=required) for name, kind, required in extra),
            Flag("--worker-count", "int"),
            Flag("--control-plane-count", "int"),
            Flag("--kubernetes-version"),
            OUTPUT,
        ]
        group.add(_cmd("create", f"Create a new {title} cluster",
                       _Lazy(cl, "cmd_create", provider=provider), flags=create_flags, source=source,
                       action=f"creating {title} cluster", permission="clusters:create"))
        lines = PROVIDER_LINES[provider]
        group.add(_cmd("workers", f"Get current worker count for a {title} cluster",
                       _Lazy(cl, "cmd_workers", provider=provider), 1, 1, "<cluster_id>", [OUTPUT],
                       f"{file}:{lines['workers']}", "fetching worker count"))
        if "scale" in lines:
            group.add(_cmd("scale", f"Scale workers of a {title} cluster", _Lazy(cl, "cmd_scale", provider=provider),
                           2, 2, "<cluster_id> <worker_count>", [OUTPUT], f"{file}:{lines['scale']}",
                           "scaling workers", "clusters:scale"))
        if "deprovision" in lines:
            group.add(_cmd("deprovision", f"Deprovision a {title} cluster",
                           _Lazy(cl, "cmd_deprovision", provider=provider), 1, 1, "<cluster_id>",
                           [Flag("--force", "bool"), YES, OUTPUT], f"{file}:{lines['deprovision']}",
                           "deprovisioning cluster", "clusters:delete"))
        if provider == "hetzner":
            _node_group_commands(group.add(Command("node-group", "Manage node groups", source=f"{file}:338")),
                                 provider, file, {"list": 344, "add": 371, "scale": 416, "delete": 495})

    # Debugging reads (cmd/cluster_events.go, cluster_k8s.go, cluster_metrics.go, cluster_top.go,
    # cluster_describe.go, cluster_operation.go)
    dbg = "cmd_debug"
    cluster.add(_cmd("events", "List cluster events, optionally scoped to one object", _Lazy(dbg, "cmd_events"),
                     flags=[NAMESPACE, ALL_NAMESPACES, Flag("--for", help="kind/name of the involved object"),
                            Flag("--type", help="Normal or Warning"), Flag("--name"),
                            Flag("--selector", short="-l"), K8S_OUTPUT],
                     source="cmd/cluster_events.go:23", action="listing events"))
    cluster.add(_cmd("logs", "Read a pod's logs", _Lazy(dbg, "cmd_logs"), 0, 1, "[pod_name]", [
        NAMESPACE, Flag("--container", short="-c"), Flag("--tail", "int"), Flag("--since", "int"),
        Flag("--follow", "bool", short="-f", default=True), Flag("--previous", "bool", short="-p"),
        Flag("--selector", short="-l"), Flag("--all-containers", "bool"), K8S_OUTPUT],
        source="cmd/cluster_k8s.go:769", action="reading logs"))
    metrics = cluster.add(Command("metrics", "Query the cluster's Prometheus", source="cmd/cluster_metrics.go:17"))
    metrics.add(_cmd("query", "Run an instant PromQL query", _Lazy(dbg, "cmd_metrics_query"), 1, 1, "[promql]",
                     [Flag("--timeout", "int"), K8S_OUTPUT], "cmd/cluster_metrics.go:26", "querying metrics"))
    top = cluster.add(Command("top", "Show CPU and memory use", source="cmd/cluster_top.go:35"))
    top.add(_cmd("nodes", "CPU and memory per node", _Lazy(dbg, "cmd_top", what="nodes"),
                 flags=[Flag("--sort-by", default="name"), K8S_OUTPUT], source="cmd/cluster_top.go:65",
                 action="reading node metrics"))
    top.add(_cmd("pods", "CPU and memory per pod", _Lazy(dbg, "cmd_top", what="pods"),
                 flags=[NAMESPACE, ALL_NAMESPACES, Flag("--containers", "bool"), Flag("--sort-by", default="name"),
                        K8S_OUTPUT], source="cmd/cluster_top.go:47", action="reading pod metrics"))
    cluster.add(_cmd("describe", "Describe a Kubernetes object and its events", _Lazy(dbg, "cmd_describe"), 2, 2,
                     "<kind> <name>", [NAMESPACE, Flag("--api-version"), Flag("--group"), K8S_OUTPUT],
                     "cmd/cluster_describe.go:27", "describing resource"))
    operations = cluster.add(Command("operations", "Manage executions (deployments and platform writes)",
                                     source="cmd/cluster_operation.go:62"))
    operations.add(_cmd("list", "List executions for the active cluster", _Lazy(dbg, "cmd_operations"), 0, 1,
                        "[execution ID]", [Flag("--failed", "bool"), Flag("--limit", "int"), Flag("--status"),
                                           OUTPUT], "cmd/cluster_operation.go:69", "listing executions"))

    alerts = root.add(Command("alerts", "Manage alert destinations and routes", source="cmd/alerts.go:17"))
    destinations = alerts.add(Command("destinations", "Alert destinations", source="cmd/alerts.go:36"))
    destinations.add(_cmd("list", "List alert destinations", _Lazy(dbg, "cmd_alert_destinations"),
                          flags=[Flag("--page", "int", default=1), Flag("--page-size", "int", default=20),
                                 Flag("--search"), Flag("--enabled", "bool"), Flag("--disabled", "bool"), OUTPUT],
                          source="cmd/alerts.go:47", action="listing alert destinations"))
    routes = alerts.add(Command("routes", "Alert routes", source="cmd/alerts_routes.go:15"))
    routes.add(_cmd("list", "List alert routes", _Lazy(dbg, "cmd_alert_routes"), flags=[OUTPUT],
                    source="cmd/alerts_routes.go:32", action="listing alert routes"))

    chat = root.add(_cmd("chat", "Chat with Ankra AI about your clusters", _Lazy("cmd_misc", "cmd_chat"), 0, 1,
                         "[message]", [Flag("--cluster", help="Cluster name for context"),
                                       Flag("--mode", help="ask or agent")],
                         "cmd/chat.go:49", "chatting with Ankra AI"))
    chat.add(_cmd("health", "Get AI-analyzed cluster health", _Lazy("cmd_misc", "cmd_health"), flags=[
        Flag("--ai", "bool", default=True, help="Include AI analysis"),
        Flag("--cluster", help="Target cluster name or ID (defaults to the selected cluster)"), OUTPUT],
        source="cmd/chat.go:424", action="getting cluster health"))

    charts = root.add(Command("charts", "Browse Helm charts", source="cmd/charts.go:14"))
    charts.add(_cmd("list", "List available charts", _Lazy("cmd_misc", "cmd_charts_list"), flags=[
        Flag("--page", "int"), Flag("--page-size", "int"), Flag("--subscribed", "bool"), OUTPUT],
        source="cmd/charts.go:20", action="listing charts"))
    charts.add(_cmd("search", "Search charts", _Lazy("cmd_misc", "cmd_charts_search"), 1, 1, "<query>", [OUTPUT],
                    "cmd/charts.go:73", "searching charts"))
    charts.add(_cmd("info", "Chart details", _Lazy("cmd_misc", "cmd_charts_info"), 1, 1, "<chart_name>",
                    [Flag("--repository", help="repository name or URL"), OUTPUT], "cmd/charts.go:127",
                    "getting chart"))

    creds = root.add(Command("credentials", "Manage provider credentials", source="cmd/credentials.go:15"))
    creds.add(_cmd("list", "List credentials", _Lazy("cmd_misc", "cmd_credentials_list"), flags=[
        Flag("--provider"), Flag("--sort"), Flag("--order", default="asc"), OUTPUT],
        source="cmd/credentials.go:33", action="listing credentials"))
    creds.add(_cmd("get", "Credential details (metadata only)", _Lazy("cmd_misc", "cmd_credentials_get"), 1, 1,
                   "<credential_id|name>", [OUTPUT], "cmd/credentials.go:186", "getting credential"))
    creds.add(_cmd("delete", "Delete a credential", _Lazy("cmd_misc", "cmd_credentials_delete"), 1, 1,
                   "<credential_id>", [YES], "cmd/credentials.go:133", "deleting credential",
                   "credentials:delete"))
    for provider, line in (("hetzner", "cmd/hetzner_credentials.go:75"), ("ovh", "cmd/ovh_credentials.go:72"),
                           ("upcloud", "cmd/upcloud_credentials.go:73")):
        sub = creds.add(Command(provider, f"{PROVIDER_TITLES[provider]} credentials",
                                source=line.split(":")[0] + ":15"))
        create_flags = [Flag("--name", required=True)]
        if provider == "ovh":
            create_flags.append(Flag("--project-id", required=True))
        sub.add(_cmd("create", "Create a credential (interactive)",
                     _Lazy("cmd_misc", "cmd_credentials_create", provider=provider), flags=create_flags,
                     source=line, action="creating credential", permission="credentials:create"))

    tokens = root.add(Command("tokens", "Manage API tokens", source="cmd/tokens.go:14"))
    tokens.add(_cmd("list", "List API tokens", _Lazy("cmd_misc", "cmd_tokens_list"), flags=[
        Flag("--sort"), Flag("--order"), OUTPUT], source="cmd/tokens.go:30", action="listing tokens"))
    tokens.add(_cmd("create", "Create an API token", _Lazy("cmd_misc", "cmd_tokens_create"), 1, 1, "<name>",
                    [Flag("--expires", help="ISO 8601 expiry"), OUTPUT], "cmd/tokens.go:94", "creating token",
                    "tokens:create"))
    tokens.add(_cmd("revoke", "Revoke an API token", _Lazy("cmd_misc", "cmd_tokens_revoke"), 1, 1, "<token_id>",
                    source="cmd/tokens.go:137", action="revoking token", permission="tokens:revoke"))
    return root


def _node_group_commands(group: Command, provider: str | None, file: str, lines: dict[str, int]) -> None:
    add_flags = [Flag("--name", required=True, help="Node group name"),
                 Flag("--instance-type", required=provider is None, help="Server type / flavor / plan"),
                 Flag("--count", "int", default=1, help="Number of nodes")]
    if provider is None:
        add_flags += [Flag("--availability-zone"), Flag("--user-data-file")]
    cl = "cmd_clusters"
    group.add(_cmd("list", "List node groups", _Lazy(cl, "cmd_ng_list", provider=provider), 1, 1, "<cluster_id>",
                   [OUTPUT], f"{file}:{lines['list']}", "listing node groups"))
    group.add(_cmd("add", "Add a node group", _Lazy(cl, "cmd_ng_add", provider=provider), 1, 1, "<cluster_id>",
                   [*add_flags, WAIT, TIMEOUT, OUTPUT], f"{file}:{lines['add']}", "adding node group",
                   "clusters:scale"))
    group.add(_cmd("scale", "Scale a node group", _Lazy(cl, "cmd_ng_scale", provider=provider), 3, 3,
                   "<cluster_id> <group_name> <count>", [WAIT, TIMEOUT, OUTPUT], f"{file}:{lines['scale']}",
                   "scaling node group", "clusters:scale"))
    group.add(_cmd("delete", "Delete a node group", _Lazy(cl, "cmd_ng_delete", provider=provider), 2, 2,
                   "<cluster_id> <group_name>", [WAIT, TIMEOUT, OUTPUT, YES], f"{file}:{lines['delete']}",
                   "deleting node group", "clusters:scale"))


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
    output = inv.flags.get("output")
    # Kubernetes reads take "table" (their default, cmd/cluster_k8s.go); the others json or yaml only
    # (cmd/cluster_partial.go:217-228).
    takes_table = any(f.name == "--output" and f.default == "table" for f in node.all_flags())
    fmt = render.check_format(None if takes_table and output == "table" else output)
    ctx = Context(inv=inv, store=store, faults=faults, fmt=fmt)
    if node.needs_auth:
        config = _config(inv)
        ctx.extra["base_url"] = _check_base_url(inv, config).rstrip("/")
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
