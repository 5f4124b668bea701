"""The command catalog: every `ankra` command Hermes may run, parsed from an argv list.

A plan's commands must parse here, or nothing runs. The risk class of a command comes from this
catalog — never from the words of a request or of a model. The data mirrors the current `ankra`
CLI (v0.13): every CommandSpec names the file:line of the CLI's source it was checked against
(`source`, at CLI_SOURCE_COMMIT), and tests/unit/test_cli_contract.py holds it to the command tree
extracted from that source (tools/ankra_cli_tree.json). Older forms the guide's SKILL.md lists are
kept as deprecated (`replaced_by`) or removed (`removed`) entries so skills still resolve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Risk(StrEnum):
    """What a command can do, from least to most consequential."""

    READ = "read"
    WRITE = "write"
    SCALE = "scale"
    DESTRUCTIVE = "destructive"
    PROVISION = "provision"
    SECRET = "secret"  # reads or produces credentials or tokens


class ArgKind(StrEnum):
    NAME = "name"  # a cluster name, stack, group, id or chart name
    # A cluster's UUID: the CLI looks these commands' cluster up by ID (GET /clusters?cluster_id=…), never
    # by name. Parsing accepts any name-shaped value so an older plan is judged, not refused; callers
    # resolve a name to its ID first (`ankra cluster list -o json` → `id`), see `is_cluster_id`.
    CLUSTER_ID = "cluster-id"
    INT = "int"
    TEXT = "text"  # free text, e.g. a question for Ankra AI or a PromQL query
    PATH = "path"  # a file of the plan, by its plain name in the run's directory (the stack YAML)
    URL = "url"
    ISO_TIME = "iso-time"
    DURATION = "duration"  # a Go duration such as 90s, 10m or 1h
    BOOL = "bool"  # an explicit boolean value, always written inline: --follow=false


@dataclass(frozen=True)
class Arg:
    name: str
    kind: ArgKind = ArgKind.NAME
    required: bool = True


@dataclass(frozen=True)
class Flag:
    name: str  # long form, e.g. "--name"
    kind: ArgKind | None = ArgKind.NAME  # None: a boolean switch
    required: bool = False
    short: str | None = None
    choices: tuple[str, ...] | None = None  # the only values Hermes passes


# The commit of the real CLI (ankraio/ankra-cli) every `CommandSpec.source` was checked against.
CLI_SOURCE_COMMIT = "1233747a3b077462096cf9340603de416c3b6d23"


@dataclass(frozen=True)
class CommandSpec:
    """One command of the catalog."""

    path: tuple[str, ...]
    risk: Risk
    summary: str
    args: tuple[Arg, ...] = ()
    flags: tuple[Flag, ...] = ()
    json_output: bool = False  # has `-o json`
    prompts: bool = False  # asks `[y/N]` unless --yes
    mutates: bool = False
    # Why the command would wait on a terminal, when a required value is missing.
    interactive_without: str | None = None
    replaced_by: tuple[str, ...] | None = None  # deprecated form: the current command's path
    # Where the command is declared in the CLI's source at CLI_SOURCE_COMMIT ("cmd/cluster_scale.go:37").
    source: str = ""
    # Not a command of the current CLI: kept so older skills and plans resolve, but `parse` refuses it.
    removed: bool = False

    @property
    def key(self) -> str:
        return " ".join(self.path)


# `cluster` and its descendants inherit `--cluster` (cmd/cluster_select.go:233); `apply` ignores it.
_CLUSTER = Flag("--cluster")
_SORT = (Flag("--sort"), Flag("--order", choices=("asc", "desc")))
_WAIT = (Flag("--wait", None), Flag("--timeout", ArgKind.DURATION))  # cmd/async_write.go:14-17
_NAMESPACE = Flag("--namespace", short="-n")
_ALL_NAMESPACES = Flag("--all-namespaces", None, short="-A")

# Per provider: (source file, line of `create`, location flag, worker size flag, control-plane size flag,
# whether the SSH key credential is required, other required create flags).
_PROVIDERS: dict[str, tuple[str, int, str, str, str, bool, tuple[Flag, ...]]] = {
    "hetzner": ("cmd/hetzner_cluster.go", 20, "--location", "--worker-server-type",
                "--control-plane-server-type", False, ()),
    "ovh": ("cmd/ovh_cluster.go", 21, "--region", "--worker-flavor-id", "--control-plane-flavor-id", True, ()),
    "upcloud": ("cmd/upcloud_cluster.go", 20, "--zone", "--worker-plan", "--control-plane-plan", True, ()),
    "digitalocean": ("cmd/digitalocean_cluster.go", 21, "--region", "--worker-size", "--control-plane-size",
                     True, ()),
    "proxmox": ("cmd/proxmox_cluster.go", 20, "--node", "--worker-instance-type",
                "--control-plane-instance-type", True, (Flag("--bridge", required=True),)),
    "morpheus": ("cmd/morpheus_cluster.go", 19, "--cloud-id", "--worker-plan-id", "--control-plane-plan-id",
                 True, tuple(Flag(f, ArgKind.INT, required=True) for f in (
                     "--group-id", "--layout-id", "--network-id", "--bastion-plan-id"))),
}
# Lines of the provider commands Hermes runs (`workers`, deprecated `scale` and `deprovision`).
_PROVIDER_LINES: dict[str, dict[str, int]] = {
    "hetzner": {"workers": 150, "scale": 175, "deprovision": 106},
    "ovh": {"workers": 152, "scale": 177, "deprovision": 108},
    "upcloud": {"workers": 201, "scale": 226, "deprovision": 101},
    "digitalocean": {"workers": 198, "scale": 223, "deprovision": 100},
    "proxmox": {"workers": 148},
    "morpheus": {"workers": 151},
}


def _provider_commands(provider: str) -> list[CommandSpec]:
    file, create_line, location, worker_size, cp_size, ssh_required, extra = _PROVIDERS[provider]
    morpheus = provider == "morpheus"
    size_kind = ArgKind.INT if morpheus else ArgKind.NAME
    create_flags = [
        Flag("--name", required=True),
        Flag("--credential-id", required=True),
        Flag(location, ArgKind.INT if morpheus else ArgKind.NAME, required=True),
        Flag("--worker-count", ArgKind.INT),
        Flag(worker_size, size_kind, required=morpheus),
        Flag("--control-plane-count", ArgKind.INT),
        Flag(cp_size, size_kind, required=morpheus),
        Flag("--kubernetes-version"),
        Flag("--ssh-key-credential-id", required=ssh_required),
        *extra,
    ]
    p = ("cluster", provider)
    lines = _PROVIDER_LINES[provider]
    cmds = [
        CommandSpec(p + ("create",), Risk.PROVISION, f"Create a {provider} cluster",
                    flags=tuple(create_flags), json_output=True, mutates=True,
                    source=f"{file}:{create_line}"),
        CommandSpec(p + ("workers",), Risk.READ, "Get the worker count (min, max)",
                    args=(Arg("cluster", ArgKind.CLUSTER_ID),), json_output=True,
                    source=f"{file}:{lines['workers']}"),
    ]
    if "scale" in lines:
        cmds.append(CommandSpec(p + ("scale",), Risk.SCALE, "Scale workers (provider form)",
                                args=(Arg("cluster", ArgKind.CLUSTER_ID), Arg("count", ArgKind.INT)),
                                json_output=True, mutates=True, replaced_by=("cluster", "scale"),
                                source=f"{file}:{lines['scale']}"))
    if "deprovision" in lines:
        cmds.append(CommandSpec(p + ("deprovision",), Risk.DESTRUCTIVE, "Deprovision (provider form)",
                                args=(Arg("cluster", ArgKind.CLUSTER_ID),), flags=(Flag("--force", None),),
                                json_output=True, prompts=True, mutates=True,
                                replaced_by=("cluster", "deprovision"), source=f"{file}:{lines['deprovision']}"))
    if provider == "hetzner":
        g = p + ("node-group",)
        cmds += [
            CommandSpec(g + ("list",), Risk.READ, "List node groups (provider form)",
                        args=(Arg("cluster", ArgKind.CLUSTER_ID),), json_output=True,
                        replaced_by=("cluster", "node-group", "list"), source="cmd/hetzner_cluster.go:344"),
            CommandSpec(g + ("scale",), Risk.SCALE, "Scale a node group (provider form)",
                        args=(Arg("cluster", ArgKind.CLUSTER_ID), Arg("group"), Arg("count", ArgKind.INT)),
                        flags=_WAIT, json_output=True, mutates=True,
                        replaced_by=("cluster", "node-group", "scale"), source="cmd/hetzner_cluster.go:416"),
        ]
    return cmds


_K8S_GET = (_CLUSTER, _NAMESPACE, _ALL_NAMESPACES)

COMMANDS: tuple[CommandSpec, ...] = (
    # Clusters
    CommandSpec(("cluster", "list"), Risk.READ, "List all clusters", flags=_SORT, json_output=True,
                source="cmd/reconcile.go:44"),
    CommandSpec(("cluster", "info"), Risk.READ, "Show a cluster's details",
                args=(Arg("cluster", required=False),), flags=(_CLUSTER,), json_output=True,
                source="cmd/reconcile.go:128"),
    # `cluster get` is a group: `cluster get <kind> [name]`, one sub-command per kind (pods, deployments,
    # services, nodes, events, …; cmd/cluster_k8s.go:106,635,1002-1046), each with -o.
    CommandSpec(("cluster", "get"), Risk.READ, "List a cluster's Kubernetes resources of one kind",
                args=(Arg("kind"), Arg("name", required=False)), flags=_K8S_GET, json_output=True,
                source="cmd/cluster_k8s.go:1002"),
    CommandSpec(("cluster", "select"), Risk.WRITE, "Select the active cluster",
                args=(Arg("cluster", required=False),), mutates=True,
                interactive_without="cluster", source="cmd/cluster_select.go:33"),
    CommandSpec(("cluster", "reconcile"), Risk.WRITE, "Trigger reconciliation",
                args=(Arg("cluster", required=False),), flags=(_CLUSTER,), json_output=True, mutates=True,
                source="cmd/reconcile.go:186"),
    # Stacks
    CommandSpec(("cluster", "stacks", "list"), Risk.READ, "List stacks",
                args=(Arg("stack", required=False),), flags=(_CLUSTER,), json_output=True,
                source="cmd/cluster_stacks.go:23"),
    CommandSpec(("cluster", "stacks", "history"), Risk.READ, "Show a stack's change history",
                args=(Arg("stack"),), flags=(_CLUSTER,), json_output=True, source="cmd/cluster_stacks.go:266"),
    CommandSpec(("cluster", "stacks", "delete"), Risk.DESTRUCTIVE, "Delete a stack",
                args=(Arg("stack"),), flags=(_CLUSTER,), prompts=True, mutates=True,
                source="cmd/cluster_stacks.go:200"),
    CommandSpec(("cluster", "stacks", "rename"), Risk.WRITE, "Rename a stack",
                args=(Arg("stack"), Arg("new_name")), flags=(_CLUSTER,), mutates=True,
                source="cmd/cluster_stacks.go:237"),
    CommandSpec(("cluster", "stacks", "clone"), Risk.WRITE, "Clone a stack to another cluster",
                args=(Arg("stack"),), flags=(_CLUSTER, Flag("--to", required=True, short="-t"),
                                             Flag("--name", short="-n"), Flag("--include-config", None)),
                json_output=True, mutates=True, source="cmd/cluster_stacks.go:335"),
    CommandSpec(("cluster", "validate"), Risk.READ, "Pre-flight check of a cluster YAML (details on stderr)",
                flags=(Flag("--file", ArgKind.PATH, required=True, short="-f"), _CLUSTER,
                       Flag("--strict-secrets", None)), json_output=True, source="cmd/cluster_validate.go:11"),
    # Asynchronous unless --wait; prunes every stack, addon and manifest the file no longer declares,
    # so the file must carry everything that should stay. Targets metadata.name (--cluster is ignored).
    CommandSpec(("cluster", "apply"), Risk.PROVISION, "Apply a cluster YAML (prunes what it omits)",
                flags=(Flag("--file", ArgKind.PATH, required=True, short="-f"), _CLUSTER,
                       Flag("--dry-run", None), *_WAIT), json_output=True, mutates=True,
                source="cmd/apply.go:20"),
    # Scaling and lifecycle: these look the cluster up by its ID
    CommandSpec(("cluster", "scale"), Risk.SCALE, "Scale a cluster's default worker pool",
                args=(Arg("cluster", ArgKind.CLUSTER_ID), Arg("count", ArgKind.INT)), json_output=True,
                mutates=True, source="cmd/cluster_scale.go:37"),
    CommandSpec(("cluster", "node-group", "list"), Risk.READ, "List node groups",
                args=(Arg("cluster", ArgKind.CLUSTER_ID),), json_output=True,
                source="cmd/cluster_node_group.go:216"),
    CommandSpec(("cluster", "node-group", "add"), Risk.PROVISION, "Add a node group",
                args=(Arg("cluster", ArgKind.CLUSTER_ID),),
                flags=(Flag("--name", required=True), Flag("--instance-type", required=True),
                       Flag("--count", ArgKind.INT), *_WAIT), json_output=True, mutates=True,
                source="cmd/cluster_node_group.go:270"),
    CommandSpec(("cluster", "node-group", "scale"), Risk.SCALE, "Scale a node group",
                args=(Arg("cluster", ArgKind.CLUSTER_ID), Arg("group"), Arg("count", ArgKind.INT)),
                flags=_WAIT, json_output=True, mutates=True, source="cmd/cluster_node_group.go:327"),
    CommandSpec(("cluster", "node-group", "delete"), Risk.DESTRUCTIVE, "Delete a node group",
                args=(Arg("cluster", ArgKind.CLUSTER_ID), Arg("group")), flags=_WAIT, json_output=True,
                prompts=True, mutates=True, source="cmd/cluster_node_group.go:414"),
    CommandSpec(("cluster", "deprovision"), Risk.DESTRUCTIVE, "Deprovision a cluster",
                args=(Arg("cluster", required=False),), flags=(_CLUSTER, Flag("--force", None)),
                json_output=True, prompts=True, mutates=True, source="cmd/reconcile.go:303"),
    *(c for provider in _PROVIDERS for c in _provider_commands(provider)),
    # Debugging reads: events, logs, metrics, top, describe, operations, alerts
    CommandSpec(("cluster", "events"), Risk.READ, "List Kubernetes events, optionally for one object",
                flags=(*_K8S_GET, Flag("--selector", short="-l"), Flag("--for"), Flag("--type", choices=("Normal", "Warning")), Flag("--name")),
                json_output=True, source="cmd/cluster_events.go:23"),
    # --follow defaults to true and streams forever: Hermes always passes --follow=false.
    CommandSpec(("cluster", "logs"), Risk.READ, "Read a pod's logs (bounded)",
                args=(Arg("pod", required=False),),
                flags=(_CLUSTER, _NAMESPACE, Flag("--container", short="-c"), Flag("--tail", ArgKind.INT),
                       Flag("--since", ArgKind.INT), Flag("--previous", None, short="-p"),
                       Flag("--selector", short="-l"), Flag("--all-containers", None),
                       Flag("--follow", ArgKind.BOOL, required=True, choices=("false",))),
                json_output=True, source="cmd/cluster_k8s.go:769"),
    CommandSpec(("cluster", "metrics", "query"), Risk.READ, "Run an instant PromQL query",
                args=(Arg("promql", ArgKind.TEXT),), flags=(_CLUSTER, Flag("--timeout", ArgKind.INT)),
                json_output=True, source="cmd/cluster_metrics.go:26"),
    CommandSpec(("cluster", "top", "nodes"), Risk.READ, "CPU and memory use per node",
                flags=(_CLUSTER, Flag("--sort-by")), json_output=True, source="cmd/cluster_top.go:65"),
    CommandSpec(("cluster", "top", "pods"), Risk.READ, "CPU and memory use per pod",
                flags=(_CLUSTER, _NAMESPACE, _ALL_NAMESPACES, Flag("--containers", None), Flag("--sort-by")),
                json_output=True, source="cmd/cluster_top.go:47"),
    CommandSpec(("cluster", "describe"), Risk.READ, "Describe one Kubernetes object with its events",
                args=(Arg("kind"), Arg("name")),
                flags=(_CLUSTER, _NAMESPACE, Flag("--api-version"), Flag("--group")), json_output=True,
                source="cmd/cluster_describe.go:27"),
    CommandSpec(("cluster", "operations", "list"), Risk.READ, "List operations (executions), or one by ID",
                args=(Arg("operation", required=False),),
                flags=(_CLUSTER, Flag("--failed", None), Flag("--limit", ArgKind.INT), Flag("--status")),
                json_output=True, source="cmd/cluster_operation.go:69"),
    CommandSpec(("alerts", "destinations", "list"), Risk.READ, "List alert destinations",
                flags=(Flag("--page", ArgKind.INT), Flag("--page-size", ArgKind.INT), Flag("--search"),
                       Flag("--enabled", None), Flag("--disabled", None)), json_output=True,
                source="cmd/alerts.go:47"),
    CommandSpec(("alerts", "routes", "list"), Risk.READ, "List alert routes", json_output=True,
                source="cmd/alerts_routes.go:32"),
    # Ankra AI
    CommandSpec(("chat", "health"), Risk.READ, "Cluster health report (--ai defaults to on)",
                flags=(_CLUSTER, Flag("--ai", None)), json_output=True, source="cmd/chat.go:424"),
    CommandSpec(("chat",), Risk.READ, "Ask Ankra AI about live cluster state",
                args=(Arg("question", ArgKind.TEXT, required=False),),
                flags=(_CLUSTER, Flag("--mode", choices=("ask", "agent"))), interactive_without="question",
                source="cmd/chat.go:49"),
    # Charts
    CommandSpec(("charts", "list"), Risk.READ, "List available charts",
                flags=(Flag("--page", ArgKind.INT), Flag("--page-size", ArgKind.INT),
                       Flag("--subscribed", None)), json_output=True, source="cmd/charts.go:20"),
    CommandSpec(("charts", "search"), Risk.READ, "Search charts", args=(Arg("query", ArgKind.TEXT),),
                json_output=True, source="cmd/charts.go:73"),
    CommandSpec(("charts", "info"), Risk.READ, "Chart details", args=(Arg("chart"),),
                flags=(Flag("--repository", ArgKind.URL),), json_output=True, source="cmd/charts.go:127"),
    # Credentials and tokens: secret-bearing, values never shown
    CommandSpec(("credentials", "list"), Risk.SECRET, "List credentials (metadata only)",
                flags=(Flag("--provider"), *_SORT), json_output=True, source="cmd/credentials.go:33"),
    CommandSpec(("credentials", "get"), Risk.SECRET, "Credential details (metadata only)",
                args=(Arg("credential"),), json_output=True, source="cmd/credentials.go:186"),
    CommandSpec(("tokens", "list"), Risk.SECRET, "List API tokens", flags=_SORT, json_output=True,
                source="cmd/tokens.go:30"),
    CommandSpec(("tokens", "create"), Risk.SECRET, "Create an API token (the value is withheld)",
                args=(Arg("name"),), flags=(Flag("--expires", ArgKind.ISO_TIME),), json_output=True,
                mutates=True, source="cmd/tokens.go:94"),
    CommandSpec(("tokens", "revoke"), Risk.DESTRUCTIVE, "Revoke an API token", args=(Arg("token_id"),),
                mutates=True, source="cmd/tokens.go:137"),
)

# Commands of older CLIs that the current one does not have. Not in COMMANDS (nothing may plan or run
# them); `parse` refuses them naming what replaced them, and `removed_command` lets older skills resolve.
REMOVED_COMMANDS: tuple[CommandSpec, ...] = (
    # `stacks` has no `create` (cmd/cluster_stacks.go:17): cobra prints the `stacks` help and exits 0,
    # so running it would report success and change nothing.
    CommandSpec(("cluster", "stacks", "create"), Risk.PROVISION, "Create a stack (not in the current CLI)",
                args=(Arg("stack"),), flags=(_CLUSTER,), mutates=True, replaced_by=("cluster", "apply"),
                source="cmd/cluster_stacks.go:17", removed=True),
)
_REMOVED_BY_PATH: dict[tuple[str, ...], CommandSpec] = {c.path: c for c in REMOVED_COMMANDS}


def removed_command(key: str) -> CommandSpec | None:
    """The entry of a command older CLIs had and the current one does not (e.g. 'cluster stacks create')."""
    return _REMOVED_BY_PATH.get(tuple(key.split()))


_BY_PATH: dict[tuple[str, ...], CommandSpec] = {c.path: c for c in COMMANDS}
_MAX_DEPTH = max(len(c.path) for c in COMMANDS)

# Flags the executor owns: a plan never sets them.
_RESERVED_FLAGS = {"--yes", "-y", "--token", "--base-url", "--config", "--org", "-o", "--output"}

_PATTERNS = {
    ArgKind.NAME: re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,252}$"),
    ArgKind.INT: re.compile(r"^(0|[1-9][0-9]{0,5})$"),
    ArgKind.URL: re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"),
    ArgKind.ISO_TIME: re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9:]+)?)?$"),
    ArgKind.DURATION: re.compile(r"^([0-9]{1,6}(\.[0-9]{1,3})?(ms|s|m|h)){1,3}$"),
    ArgKind.BOOL: re.compile(r"^(true|false)$"),
}
_PATTERNS[ArgKind.CLUSTER_ID] = _PATTERNS[ArgKind.NAME]
# The shape of a cluster ID (cmd/cluster.go:30, `isLikelyClusterID`).
CLUSTER_ID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_cluster_id(value: str) -> bool:
    """Whether `value` is shaped like a cluster UUID (what CLUSTER_ID arguments must be at run time)."""
    return bool(CLUSTER_ID_PATTERN.fullmatch(value))
# A file argument names one of the plan's files, which the executor writes into the run's own
# directory (the command's working directory): a plain name, never a path to anywhere else.
PLAIN_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Free text may hold punctuation, but not what a shell (or a terminal) would act on.
_TEXT_FORBIDDEN = re.compile(r"[`$;|&<>\\\x00-\x1f\x7f]")


class CommandRefused(ValueError):
    """An argv that is not a catalog command, or whose arguments are not acceptable."""


@dataclass(frozen=True)
class ParsedCommand:
    """An argv that parsed against the catalog."""

    spec: CommandSpec
    argv: list[str]
    args: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str | bool] = field(default_factory=dict)

    @property
    def risk(self) -> Risk:
        return self.spec.risk

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def cluster(self) -> str | None:
        """The cluster the command is about (a name or an ID), when it names one."""
        value = self.args.get("cluster") or self.flags.get("--cluster")
        if value is None and self.spec.path[-1] == "create" and self.spec.path[0] == "cluster":
            value = self.flags.get("--name")  # a provider create names the new cluster
        return value if isinstance(value, str) else None

    @property
    def cluster_id_args(self) -> dict[str, str]:
        """The arguments the CLI looks up as cluster IDs that are not shaped like one (to resolve first)."""
        return {a.name: self.args[a.name] for a in self.spec.args
                if a.kind is ArgKind.CLUSTER_ID and a.name in self.args and not is_cluster_id(self.args[a.name])}


def parse(argv: list[str]) -> ParsedCommand:
    """Parse an `ankra` argv (without the program name) against the catalog.

    Raises CommandRefused with a reason a person can act on.
    """
    if not argv:
        raise CommandRefused("empty command")
    if argv[0] in {"ankra"}:
        raise CommandRefused("pass the argv without the program name 'ankra'")
    spec = None
    for depth in range(min(_MAX_DEPTH, len(argv)), 0, -1):
        spec = _BY_PATH.get(tuple(argv[:depth])) or _REMOVED_BY_PATH.get(tuple(argv[:depth]))
        if spec is not None:
            break
    if spec is None:
        shown = " ".join(argv[:3])
        raise CommandRefused(f"`ankra {shown}` is not a command in Hermes's catalog")
    if spec.removed:
        current = " ".join(spec.replaced_by or ())
        raise CommandRefused(
            f"`ankra {spec.key}` does not exist in the current ankra CLI (it would only print help); "
            f"use `ankra {current}` instead"
        )
    rest = argv[len(spec.path):]
    flags_by_name: dict[str, Flag] = {}
    for f in spec.flags:
        flags_by_name[f.name] = f
        if f.short:
            flags_by_name[f.short] = f
    positionals: list[str] = []
    flags: dict[str, str | bool] = {}
    i = 0
    while i < len(rest):
        token = rest[i]
        if token.startswith("-") and not _is_negative_number(token):
            name, eq, inline = token.partition("=")
            if name in _RESERVED_FLAGS:
                raise CommandRefused(f"flag {name} is set by Hermes's executor, never by a plan")
            flag = flags_by_name.get(name)
            if flag is None:
                raise CommandRefused(f"`ankra {spec.key}` has no flag {name}")
            if flag.kind is None:
                if eq:
                    raise CommandRefused(f"flag {name} takes no value")
                flags[flag.name] = True
                i += 1
                continue
            if flag.kind is ArgKind.BOOL and not eq:
                # cobra reads `--flag false` as the switch plus a positional `false`
                raise CommandRefused(f"flag {name} takes its value inline, e.g. {name}=false")
            if eq:
                value = inline
            else:
                if i + 1 >= len(rest):
                    raise CommandRefused(f"flag {name} needs a value")
                value = rest[i + 1]
                i += 1
            _check_value(value, flag.kind, f"flag {flag.name}")
            if flag.choices and value not in flag.choices:
                raise CommandRefused(
                    f"flag {flag.name} {value!r} is not accepted; use one of: {', '.join(flag.choices)}"
                )
            flags[flag.name] = value
            i += 1
            continue
        positionals.append(token)
        i += 1
    if len(positionals) > len(spec.args):
        raise CommandRefused(
            f"`ankra {spec.key}` takes at most {len(spec.args)} argument(s), got {len(positionals)}"
        )
    args: dict[str, str] = {}
    for arg, value in zip(spec.args, positionals, strict=False):
        _check_value(value, arg.kind, arg.name)
        args[arg.name] = value
    for arg in spec.args[len(positionals):]:
        if arg.required:
            raise CommandRefused(f"`ankra {spec.key}` needs <{arg.name}>")
    for f in spec.flags:
        if f.required and f.name not in flags:
            raise CommandRefused(f"`ankra {spec.key}` needs {f.name}")
    if spec.interactive_without and spec.interactive_without not in args:
        raise CommandRefused(
            f"`ankra {spec.key}` without <{spec.interactive_without}> waits for terminal input; "
            f"Hermes always passes it"
        )
    return ParsedCommand(spec=spec, argv=list(argv), args=args, flags=flags)


def _is_negative_number(token: str) -> bool:
    return token[1:].isdigit()


def file_name_problem(value: str) -> str | None:
    """What is wrong with `value` as a file argument (None: a plain file name of the run's directory)."""
    if value.startswith("/"):
        problem = "is an absolute path"
    elif ".." in value:
        problem = "contains `..`"
    elif "/" in value or "\\" in value:
        problem = "contains a directory separator"
    elif not PLAIN_FILE_NAME.fullmatch(value):  # `$` alone would allow a trailing newline
        problem = ("is not a plain file name (a letter or digit, then up to 127 letters, digits, "
                   "`.`, `_` or `-`)")
    else:
        return None
    return (f"{problem}: Hermes only reads files it wrote into the run's own directory, so name one of "
            "the plan's files by its plain name (e.g. stack.yaml)")


def _check_value(value: str, kind: ArgKind, what: str) -> None:
    if kind is ArgKind.PATH:
        problem = file_name_problem(value)
        if problem:
            raise CommandRefused(f"{what} {value!r} {problem}")
        return
    if kind is ArgKind.TEXT:
        if not value.strip() or len(value) > 4000:
            raise CommandRefused(f"{what} must be 1–4000 characters of text")
        if _TEXT_FORBIDDEN.search(value):
            raise CommandRefused(f"{what} contains a shell metacharacter or control character")
        return
    if not _PATTERNS[kind].fullmatch(value):  # `$` alone would allow a trailing newline
        raise CommandRefused(f"{what} {value!r} is not a valid {kind.value}")


def spec_for(key: str) -> CommandSpec:
    """The catalog entry for a key such as 'cluster list'."""
    try:
        return _BY_PATH[tuple(key.split())]
    except KeyError:
        raise KeyError(f"no catalog command {key!r}") from None


def display(argv: list[str]) -> str:
    """How a command is shown to a person: `ankra cluster list`."""
    import shlex

    return "ankra " + " ".join(shlex.quote(a) for a in argv)
