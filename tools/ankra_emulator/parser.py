"""A small cobra-like command parser.

Not argparse: cobra's behaviour differs in ways scripts notice — flags may appear anywhere after
the command words, persistent flags of a parent apply to its children, and every usage error is a
one-line `Error: ...` with exit 2 (argparse prints its own usage block and words). The messages
here are cobra's and pflag's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import usage


@dataclass(frozen=True)
class Flag:
    """One flag. `kind` is "str", "int" or "bool"; names are the long form, e.g. "--name"."""

    name: str
    kind: str = "str"
    short: str | None = None
    default: Any = None
    required: bool = False
    help: str = ""

    @property
    def key(self) -> str:
        """The key of the flag's value in a parsed invocation: "--credential-id" -> "credential_id"."""
        return self.name.lstrip("-").replace("-", "_")


@dataclass
class Command:
    """A node of the command tree: a group (has children), a leaf (has a handler), or both."""

    name: str
    help: str = ""
    handler: Callable[..., int] | None = None
    min_args: int = 0
    max_args: int | None = 0
    arg_usage: str = ""
    flags: list[Flag] = field(default_factory=list)
    persistent: list[Flag] = field(default_factory=list)  # inherited by every descendant
    action: str = ""  # what the CLI was doing, for "Error: <action>: unauthorized"
    permission: str | None = None  # RBAC permission a mutation needs; None for reads
    deprecated: str | None = None  # cobra's "Command "x" is deprecated, <this>" note on stderr
    needs_auth: bool = True
    # The real command this one follows: "cmd/cluster_scale.go:37" in ankraio/ankra-cli at the commit
    # named in README.md (the provenance table); tests/unit/test_cli_contract.py compares the trees.
    source: str = ""
    children: dict[str, Command] = field(default_factory=dict)
    parent: Command | None = None

    def add(self, child: Command) -> Command:
        """Attach a child command and return it."""
        child.parent = self
        self.children[child.name] = child
        return child

    @property
    def path(self) -> str:
        """The full command path, e.g. "ankra cluster stacks list"."""
        names = []
        node: Command | None = self
        while node is not None:
            names.append(node.name)
            node = node.parent
        return " ".join(reversed(names))

    def all_flags(self) -> list[Flag]:
        """The command's own flags plus the persistent flags of it and its ancestors."""
        flags = list(self.flags)
        node: Command | None = self
        while node is not None:
            flags.extend(node.persistent)
            node = node.parent
        return flags


@dataclass
class Invocation:
    """A parsed command line."""

    command: Command
    args: list[str]
    flags: dict[str, Any]
    given: set[str]  # keys of the flags that were actually on the command line

    def flag(self, key: str) -> Any:
        """The value of a flag by key (e.g. "credential_id"), or its default."""
        return self.flags.get(key)


def _valued_flag_names(root: Command) -> set[str]:
    """Every flag name (long and short) that takes a value, anywhere in the tree."""
    names: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        for f in node.flags + node.persistent:
            if f.kind != "bool":
                names.add(f.name)
                if f.short:
                    names.add(f.short)
        stack.extend(node.children.values())
    return names


def _resolve(root: Command, argv: list[str]) -> tuple[Command, list[str]]:
    """Find the command the words of argv name; return it and the remaining argv (flags and args).

    Like cobra, flags are skipped while looking for command words; a flag known to take a value
    swallows the next word.
    """
    valued = _valued_flag_names(root)
    node = root
    rest: list[str] = []
    i = 0
    words_done = False
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        if token.startswith("-") and len(token) > 1:
            rest.append(token)
            if "=" not in token and token in valued and i + 1 < len(argv):
                rest.append(argv[i + 1])
                i += 1
            i += 1
            continue
        if not words_done and token in node.children:
            node = node.children[token]
            i += 1
            continue
        if not words_done and node.children and node.handler is None and node.parent is None:
            raise usage(f'unknown command "{token}" for "{node.path}"', node.path)
        # Below the root, cobra treats an unknown word under a group as an argument of the group,
        # which only prints its help and exits 0 (e.g. `ankra cluster stacks create x`).
        words_done = True
        rest.append(token)
        i += 1
    return node, rest


def _parse_int(value: str, flag: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise usage(
            f'invalid argument "{value}" for "{flag}" flag: strconv.ParseInt: parsing '
            f'"{value}": invalid syntax'
        ) from None


def parse(root: Command, argv: list[str]) -> Invocation:
    """Parse argv (without the program name) against the tree rooted at `root`."""
    node, rest = _resolve(root, argv)
    specs = node.all_flags()
    by_long = {f.name: f for f in specs}
    by_short = {f.short: f for f in specs if f.short}
    values: dict[str, Any] = {f.key: f.default for f in specs}
    given: set[str] = set()
    args: list[str] = []
    i = 0
    while i < len(rest):
        token = rest[i]
        if token == "--":
            args.extend(rest[i + 1 :])
            break
        if token.startswith("--"):
            name, eq, inline = token.partition("=")
            spec = by_long.get(name)
            if spec is None:
                raise usage(f"unknown flag: {name}", node.path)
            shown = name
        elif token.startswith("-") and len(token) > 1:
            letter = token[1]
            spec = by_short.get("-" + letter)
            if spec is None:
                raise usage(f"unknown shorthand flag: '{letter}' in {token}", node.path)
            tail = token[2:]
            eq, inline = ("=", tail[1:]) if tail.startswith("=") else ("=" if tail else "", tail)
            shown = f"'{letter}' in {token}"
        else:
            args.append(token)
            i += 1
            continue
        if spec.kind == "bool":
            if eq and inline.lower() not in {"true", "false", "1", "0"}:
                raise usage(
                    f'invalid argument "{inline}" for "{spec.name}" flag: '
                    f'strconv.ParseBool: parsing "{inline}": invalid syntax',
                    node.path,
                )
            values[spec.key] = (inline.lower() in {"true", "1"}) if eq else True
        else:
            if eq:
                raw = inline
            elif i + 1 < len(rest):
                raw = rest[i + 1]
                i += 1
            else:
                raise usage(f"flag needs an argument: {shown}", node.path)
            values[spec.key] = _parse_int(raw, spec.name) if spec.kind == "int" else raw
        given.add(spec.key)
        i += 1
    if values.get("help"):
        return Invocation(node, args, values, given)
    if node.handler is None:
        # A group without a command of its own: cobra prints its help.
        return Invocation(node, args, {**values, "help": True}, given)
    _check_args(node, args)
    missing = [f.name.lstrip("-") for f in specs if f.required and f.key not in given]
    if missing:
        raise usage("required flag(s) " + ", ".join(f'"{m}"' for m in missing) + " not set", node.path)
    return Invocation(node, args, values, given)


def _check_args(node: Command, args: list[str]) -> None:
    """Cobra's positional-argument validators and their messages."""
    lo, hi, n = node.min_args, node.max_args, len(args)
    if hi is not None and lo == hi and n != lo:
        raise usage(f"accepts {lo} arg(s), received {n}", node.path)
    if n < lo:
        raise usage(f"requires at least {lo} arg(s), only received {n}", node.path)
    if hi is not None and n > hi:
        if lo == 0:
            raise usage(f"accepts at most {hi} arg(s), received {n}", node.path)
        raise usage(f"accepts between {lo} and {hi} arg(s), received {n}", node.path)


def help_text(node: Command) -> str:
    """A cobra-style help page for a command."""
    lines = [node.help or node.path, ""]
    if node.deprecated:
        lines += [f"Deprecated: {node.deprecated}", ""]
    lines.append("Usage:")
    if node.handler is not None:
        lines.append(f"  {node.path} {node.arg_usage} [flags]".replace("  [", " [").rstrip())
    if node.children:
        lines.append(f"  {node.path} [command]")
        lines += ["", "Available Commands:"]
        width = max(len(c) for c in node.children)
        for name, child in sorted(node.children.items()):
            lines.append(f"  {name.ljust(width)}  {child.help}")
    own = node.flags + node.persistent
    inherited = [f for f in node.all_flags() if f not in own]
    for title, flags in (("Flags:", own), ("Global Flags:", inherited)):
        if flags:
            lines += ["", title]
            for f in flags:
                short = f"{f.short}, " if f.short else "    "
                kind = "" if f.kind == "bool" else f" {f.kind if f.kind == 'int' else 'string'}"
                lines.append(f"  {short}{f.name}{kind}".ljust(34) + f.help)
    if node.children:
        lines += ["", f'Use "{node.path} [command] --help" for more information about a command.']
    return "\n".join(lines) + "\n"
