"""The command catalog: every `ankra` command Hermes may run, parsed from an argv list.

A plan's commands must parse here, or nothing runs. The risk class of a command comes from this
catalog — never from the words of a request or of a model. The data mirrors the current `ankra`
CLI (v0.13) and accepts the older vocabulary of the guide's SKILL.md by translating it.
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
    NAME = "name"  # a cluster, stack, group, id or chart name
    INT = "int"
    TEXT = "text"  # free text, e.g. a question for Ankra AI
    PATH = "path"  # a file of the plan, by its plain name in the run's directory (the stack YAML)
    URL = "url"
    ISO_TIME = "iso-time"


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

    @property
    def key(self) -> str:
        return " ".join(self.path)


_CLUSTER = Flag("--cluster")
_SORT = (Flag("--sort"), Flag("--order"))


def _provider_commands(provider: str, location_flag: str, ssh_key: bool) -> list[CommandSpec]:
    create_flags = [
        Flag("--name", required=True),
        Flag("--credential-id", required=True),
        Flag(location_flag, required=True),
        Flag("--worker-count", ArgKind.INT),
        Flag("--worker-server-type"),
        Flag("--control-plane-count", ArgKind.INT),
        Flag("--control-plane-server-type"),
        Flag("--kubernetes-version"),
    ]
    if ssh_key:
        create_flags.append(Flag("--ssh-key-credential-id", required=True))
    p = ("cluster", provider)
    cmds = [
        CommandSpec(p + ("create",), Risk.PROVISION, f"Create a {provider} cluster",
                    flags=tuple(create_flags), mutates=True),
        CommandSpec(p + ("workers",), Risk.READ, "Get the worker count", args=(Arg("cluster"),)),
        CommandSpec(p + ("scale",), Risk.SCALE, "Scale workers (deprecated form)",
                    args=(Arg("cluster"), Arg("count", ArgKind.INT)), mutates=True,
                    replaced_by=("cluster", "scale")),
        CommandSpec(p + ("deprovision",), Risk.DESTRUCTIVE, "Deprovision (deprecated form)",
                    args=(Arg("cluster"),), flags=(Flag("--force", None),), prompts=True, mutates=True,
                    replaced_by=("cluster", "deprovision")),
    ]
    if provider == "hetzner":
        g = p + ("node-group",)
        cmds += [
            CommandSpec(g + ("list",), Risk.READ, "List node groups (deprecated form)",
                        args=(Arg("cluster"),), json_output=True, replaced_by=("cluster", "node-group", "list")),
            CommandSpec(g + ("scale",), Risk.SCALE, "Scale a node group (deprecated form)",
                        args=(Arg("cluster"), Arg("group"), Arg("count", ArgKind.INT)), mutates=True,
                        replaced_by=("cluster", "node-group", "scale")),
        ]
    return cmds


COMMANDS: tuple[CommandSpec, ...] = (
    # Clusters
    CommandSpec(("cluster", "list"), Risk.READ, "List all clusters", flags=_SORT, json_output=True),
    CommandSpec(("cluster", "info"), Risk.READ, "Show a cluster's details",
                args=(Arg("cluster", required=False),), flags=(_CLUSTER,), json_output=True),
    CommandSpec(("cluster", "get"), Risk.READ, "List a cluster's Kubernetes resources",
                args=(Arg("cluster", required=False),), flags=(_CLUSTER,), json_output=True),
    CommandSpec(("cluster", "select"), Risk.WRITE, "Select the active cluster",
                args=(Arg("cluster", required=False),), flags=(Flag("--name"),), mutates=True,
                interactive_without="cluster"),
    CommandSpec(("cluster", "reconcile"), Risk.WRITE, "Trigger reconciliation",
                args=(Arg("cluster", required=False),), flags=(_CLUSTER,), json_output=True, mutates=True),
    # Stacks
    CommandSpec(("cluster", "stacks", "list"), Risk.READ, "List stacks",
                args=(Arg("stack", required=False),), flags=(_CLUSTER,), json_output=True),
    CommandSpec(("cluster", "stacks", "history"), Risk.READ, "Show a stack's change history",
                args=(Arg("stack"),), flags=(_CLUSTER,), json_output=True),
    CommandSpec(("cluster", "stacks", "delete"), Risk.DESTRUCTIVE, "Delete a stack",
                args=(Arg("stack"),), flags=(_CLUSTER,), prompts=True, mutates=True),
    CommandSpec(("cluster", "stacks", "rename"), Risk.WRITE, "Rename a stack",
                args=(Arg("stack"), Arg("new_name")), flags=(_CLUSTER,), mutates=True),
    CommandSpec(("cluster", "stacks", "clone"), Risk.WRITE, "Clone a stack to another cluster",
                args=(Arg("stack"),), flags=(_CLUSTER, Flag("--to", required=True), Flag("--name")),
                mutates=True),
    CommandSpec(("cluster", "stacks", "create"), Risk.PROVISION, "Create a stack (removed in v0.13)",
                args=(Arg("stack"),), flags=(_CLUSTER,), mutates=True, replaced_by=("cluster", "apply")),
    CommandSpec(("cluster", "validate"), Risk.READ, "Pre-flight check of a cluster YAML",
                flags=(Flag("--file", ArgKind.PATH, required=True, short="-f"), _CLUSTER)),
    CommandSpec(("cluster", "apply"), Risk.PROVISION, "Build stacks from a cluster YAML",
                flags=(Flag("--file", ArgKind.PATH, required=True, short="-f"), _CLUSTER,
                       Flag("--dry-run", None), Flag("--wait", None)), mutates=True),
    # Scaling and lifecycle
    CommandSpec(("cluster", "scale"), Risk.SCALE, "Scale a cluster's workers",
                args=(Arg("cluster"), Arg("count", ArgKind.INT)), mutates=True),
    CommandSpec(("cluster", "node-group", "list"), Risk.READ, "List node groups",
                args=(Arg("cluster"),), json_output=True),
    CommandSpec(("cluster", "node-group", "add"), Risk.PROVISION, "Add a node group",
                args=(Arg("cluster"), Arg("group")),
                flags=(Flag("--count", ArgKind.INT), Flag("--server-type")), mutates=True),
    CommandSpec(("cluster", "node-group", "scale"), Risk.SCALE, "Scale a node group",
                args=(Arg("cluster"), Arg("group"), Arg("count", ArgKind.INT)), mutates=True),
    CommandSpec(("cluster", "node-group", "delete"), Risk.DESTRUCTIVE, "Delete a node group",
                args=(Arg("cluster"), Arg("group")), prompts=True, mutates=True),
    CommandSpec(("cluster", "deprovision"), Risk.DESTRUCTIVE, "Deprovision a cluster",
                args=(Arg("cluster", required=False),), flags=(Flag("--force", None),), prompts=True,
                mutates=True),
    *_provider_commands("hetzner", "--location", ssh_key=False),
    *_provider_commands("ovh", "--region", ssh_key=True),
    *_provider_commands("upcloud", "--zone", ssh_key=True),
    # Ankra AI
    CommandSpec(("chat", "health"), Risk.READ, "Cluster health summary",
                flags=(_CLUSTER, Flag("--ai", None)), json_output=True),
    CommandSpec(("chat",), Risk.READ, "Ask Ankra AI about live cluster state",
                args=(Arg("question", ArgKind.TEXT, required=False),),
                flags=(_CLUSTER, Flag("--mode")), interactive_without="question"),
    # Charts
    CommandSpec(("charts", "list"), Risk.READ, "List available charts",
                flags=(Flag("--page", ArgKind.INT), Flag("--page-size", ArgKind.INT),
                       Flag("--subscribed", None)), json_output=True),
    CommandSpec(("charts", "search"), Risk.READ, "Search charts", args=(Arg("query", ArgKind.TEXT),),
                json_output=True),
    CommandSpec(("charts", "info"), Risk.READ, "Chart details", args=(Arg("chart"),),
                flags=(Flag("--repository", ArgKind.URL),), json_output=True),
    # Credentials and tokens: secret-bearing, values never shown
    CommandSpec(("credentials", "list"), Risk.SECRET, "List credentials (metadata only)",
                flags=(Flag("--provider"),), json_output=True),
    CommandSpec(("credentials", "get"), Risk.SECRET, "Credential details (metadata only)",
                args=(Arg("credential"),), json_output=True),
    CommandSpec(("tokens", "list"), Risk.SECRET, "List API tokens", json_output=True),
    CommandSpec(("tokens", "create"), Risk.SECRET, "Create an API token (the value is withheld)",
                args=(Arg("name"),), flags=(Flag("--expires", ArgKind.ISO_TIME),), json_output=True,
                mutates=True),
    CommandSpec(("tokens", "revoke"), Risk.DESTRUCTIVE, "Revoke an API token", args=(Arg("token_id"),),
                mutates=True),
)

_BY_PATH: dict[tuple[str, ...], CommandSpec] = {c.path: c for c in COMMANDS}
_MAX_DEPTH = max(len(c.path) for c in COMMANDS)

# Flags the executor owns: a plan never sets them.
_RESERVED_FLAGS = {"--yes", "-y", "--token", "--base-url", "--config", "--org", "-o", "--output"}

_PATTERNS = {
    ArgKind.NAME: re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,252}$"),
    ArgKind.INT: re.compile(r"^(0|[1-9][0-9]{0,5})$"),
    ArgKind.URL: re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"),
    ArgKind.ISO_TIME: re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9:]+)?)?$"),
}
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
        """The cluster the command is about, when it names one."""
        value = self.args.get("cluster") or self.flags.get("--cluster") or self.flags.get("--name")
        return value if isinstance(value, str) else None


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
        spec = _BY_PATH.get(tuple(argv[:depth]))
        if spec is not None:
            break
    if spec is None:
        shown = " ".join(argv[:3])
        raise CommandRefused(f"`ankra {shown}` is not a command in Hermes's catalog")
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
            if eq:
                value = inline
            else:
                if i + 1 >= len(rest):
                    raise CommandRefused(f"flag {name} needs a value")
                value = rest[i + 1]
                i += 1
            _check_value(value, flag.kind, f"flag {flag.name}")
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
        alt = "--name" if spec.key == "cluster select" else None
        if not (alt and alt in flags):
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
