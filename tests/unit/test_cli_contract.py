"""The catalog and the emulator against the real CLI's command tree.

tools/ankra_cli_tree.json is extracted from the CLI's Go source (tools/ankra_cli_tree.py, at the commit
it records). These tests fail when Hermes's catalog or the `ankra` emulator offers a command, flag or
positional argument the real CLI does not have, or a required flag Hermes would leave out. Refresh the
snapshot only by re-running the extractor against a new commit, never by hand.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ankra_emulator.cli import build_tree
from ankra_emulator.parser import Command
from hermes.catalog import CLI_SOURCE_COMMIT, COMMANDS, REMOVED_COMMANDS, ArgKind, CommandSpec

SNAPSHOT = Path(__file__).resolve().parents[2] / "tools" / "ankra_cli_tree.json"
HELP = {"name": "help", "short": "h", "type": "bool", "required": False}
# Flags the executor adds to a catalog command (never part of a plan); checked like any other flag.
EXECUTOR_FLAGS = ("--yes",)


@cache
def tree() -> dict[str, dict[str, Any]]:
    data = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return {c["path"]: c for c in data["commands"]}


def effective_flags(path: str) -> dict[str, dict[str, Any]]:
    """A command's own flags, the persistent flags of it and its ancestors, and cobra's --help."""
    commands = tree()
    words = path.split()
    flags: dict[str, dict[str, Any]] = {"help": HELP}
    for depth in range(len(words) + 1):
        node = commands.get(" ".join(words[:depth]))
        if node is not None:
            flags.update({f["name"]: f for f in node["persistent_flags"]})
    flags.update({f["name"]: f for f in commands[path]["flags"]})
    return flags


def positional_bounds(path: str) -> tuple[int, int | None]:
    """(min, max) positionals: the Args validator's, else what the Use string names."""
    node = tree()[path]
    named = node["positionals"]
    required = len([p for p in named if p.startswith("<")])
    unbounded = any("..." in p for p in named)
    lo = node["min_args"] if node["min_args"] is not None else required
    hi = node["max_args"] if node["max_args"] is not None else (None if unbounded else len(named))
    return lo, hi


def cli_paths_for(spec: CommandSpec) -> list[str]:
    """The real command paths a catalog entry stands for (`cluster get <kind>` stands for each kind)."""
    key = spec.key
    if key == "cluster get":
        # every kind sub-command; `cluster get resources <kind>` (any kind by name) has a shape of its own
        return [p for p, c in tree().items()
                if p.startswith("cluster get ") and c["runnable"] and p != "cluster get resources"]
    return [key]


def test_snapshot_is_from_the_commit_the_catalog_was_checked_against() -> None:
    data = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert data["commit"] == CLI_SOURCE_COMMIT
    assert data["generator"] == "tools/ankra_cli_tree.py"
    assert len(data["commands"]) > 100, "the extractor found too few commands: re-run it"


LIVE = [s for s in COMMANDS if not s.removed]


@pytest.mark.parametrize("spec", LIVE, ids=lambda s: s.key)
def test_every_catalog_command_exists_and_runs_in_the_cli(spec: CommandSpec) -> None:
    for path in cli_paths_for(spec):
        assert path in tree(), f"`ankra {path}` is not a command of the real CLI"
        node = tree()[path]
        assert node["runnable"], f"`ankra {path}` is a group: it only prints help"
        assert not node["hidden"], f"`ankra {path}` is hidden in the CLI"


@pytest.mark.parametrize("spec", REMOVED_COMMANDS, ids=lambda s: s.key)
def test_removed_catalog_commands_really_are_gone(spec: CommandSpec) -> None:
    assert spec.key not in tree(), f"`ankra {spec.key}` exists in the CLI: it should not be marked removed"
    assert spec.replaced_by and " ".join(spec.replaced_by) in tree()


@pytest.mark.parametrize("spec", LIVE, ids=lambda s: s.key)
def test_every_catalog_flag_exists_with_its_kind_and_shorthand(spec: CommandSpec) -> None:
    for path in cli_paths_for(spec):
        flags = effective_flags(path)
        for flag in spec.flags:
            name = flag.name.removeprefix("--")
            assert name in flags, f"`ankra {path}` has no flag {flag.name}"
            real = flags[name]
            is_switch = real["type"] == "bool"
            if flag.kind is None:
                assert is_switch, f"{flag.name} of `ankra {path}` takes a value ({real['type']})"
            elif flag.kind is ArgKind.BOOL:
                assert is_switch, f"{flag.name} of `ankra {path}` is not a boolean"
            else:
                assert not is_switch, f"{flag.name} of `ankra {path}` is a boolean switch"
                if flag.kind is ArgKind.INT:
                    assert real["type"].startswith("int"), f"{flag.name} of `ankra {path}` is {real['type']}"
                if flag.kind is ArgKind.DURATION:
                    assert real["type"] == "duration", f"{flag.name} of `ankra {path}` is {real['type']}"
            if flag.short:
                assert real["short"] == flag.short.removeprefix("-"), f"{flag.name} has no {flag.short}"
        for extra in EXECUTOR_FLAGS:
            if spec.prompts:
                assert extra.removeprefix("--") in flags, f"`ankra {path}` prompts but has no {extra}"


@pytest.mark.parametrize("spec", LIVE, ids=lambda s: s.key)
def test_catalog_requires_every_flag_the_cli_requires(spec: CommandSpec) -> None:
    required_here = {f.name.removeprefix("--") for f in spec.flags if f.required}
    for path in cli_paths_for(spec):
        required = {n for n, f in effective_flags(path).items() if f["required"]}
        missing = required - required_here
        assert not missing, f"`ankra {path}` requires --{', --'.join(sorted(missing))}; the catalog does not"


@pytest.mark.parametrize("spec", LIVE, ids=lambda s: s.key)
def test_catalog_positionals_fit_the_cli(spec: CommandSpec) -> None:
    args = list(spec.args)
    if spec.key == "cluster get":
        assert args[0].name == "kind"
        args = args[1:]  # the kind is the sub-command's name
    for path in cli_paths_for(spec):
        lo, hi = positional_bounds(path)
        required = len([a for a in args if a.required or a.name == spec.interactive_without])
        assert hi is None or len(args) <= hi, f"`ankra {path}` takes at most {hi} argument(s), not {len(args)}"
        assert required >= lo, f"`ankra {path}` needs {lo} argument(s); the catalog requires {required}"


@pytest.mark.parametrize("spec", LIVE, ids=lambda s: s.key)
def test_json_output_exactly_where_the_cli_has_an_output_flag(spec: CommandSpec) -> None:
    for path in cli_paths_for(spec):
        has_output = "output" in effective_flags(path)
        assert spec.json_output == has_output, (
            f"`ankra {path}` {'has' if has_output else 'has no'} -o/--output; the catalog says "
            f"json_output={spec.json_output}"
        )


@pytest.mark.parametrize("spec", LIVE, ids=lambda s: s.key)
def test_cluster_id_arguments_match_the_cli_usage(spec: CommandSpec) -> None:
    """An argument the CLI names `<cluster_id>` is a CLUSTER_ID in the catalog, and the other way round."""
    if spec.key == "cluster get":
        return
    named = tree()[spec.key]["positionals"]
    for arg, usage in zip(spec.args, named, strict=False):
        by_id = usage.strip("<>[]") == "cluster_id"
        assert (arg.kind is ArgKind.CLUSTER_ID) == by_id, f"<{arg.name}> of `ankra {spec.key}` vs {usage}"


@pytest.mark.parametrize("spec", LIVE, ids=lambda s: s.key)
def test_every_catalog_command_names_its_source(spec: CommandSpec) -> None:
    file, _, line = spec.source.partition(":")
    assert file.startswith("cmd/") and line.isdigit(), f"{spec.key}: source {spec.source!r} is not file:line"
    declared = {tree()[p]["source"].split(":")[0] for p in cli_paths_for(spec)}
    assert file in declared, f"{spec.key}: source {file} but the CLI declares it in {sorted(declared)}"


# -- the emulator --------------------------------------------------------------------------------


def _emulator_commands() -> list[Command]:
    out: list[Command] = []
    stack = [build_tree()]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children.values())
    return out


def _path(node: Command) -> str:
    return node.path.removeprefix("ankra").strip()


EMULATED = [n for n in _emulator_commands() if n.handler is not None and _path(n) != ""]


def test_the_emulator_is_introspectable_and_emulates_the_commands_hermes_runs() -> None:
    emulated = {_path(n) for n in EMULATED}
    wanted = {s.key for s in LIVE if s.key != "cluster get"}
    assert wanted <= emulated, f"catalog commands the emulator lacks: {sorted(wanted - emulated)}"


@pytest.mark.parametrize("node", EMULATED, ids=_path)
def test_every_emulated_command_exists_in_the_cli(node: Command) -> None:
    path = _path(node)
    assert path in tree(), f"the emulator offers `ankra {path}`, which the real CLI does not have"
    assert tree()[path]["runnable"] or path == "cluster get", f"`ankra {path}` only prints help in the CLI"


@pytest.mark.parametrize("node", EMULATED, ids=_path)
def test_every_emulated_flag_exists_in_the_cli(node: Command) -> None:
    path = _path(node)
    flags = effective_flags(path)
    for flag in node.all_flags():
        name = flag.name.removeprefix("--")
        if path == "" and name == "version":
            continue
        assert name in flags, f"the emulator's `ankra {path}` has {flag.name}; the real CLI does not"
        real = flags[name]
        assert (flag.kind == "bool") == (real["type"] == "bool"), f"{flag.name} of `ankra {path}`: kind differs"
        if flag.short:
            assert real["short"] == flag.short.removeprefix("-"), f"{flag.name} of `ankra {path}`: shorthand"
        assert flag.required == real["required"], f"{flag.name} of `ankra {path}`: required differs"


@pytest.mark.parametrize("node", EMULATED, ids=_path)
def test_every_emulated_command_takes_the_cli_positionals(node: Command) -> None:
    path = _path(node)
    lo, hi = positional_bounds(path)
    assert node.min_args == lo, f"`ankra {path}`: the emulator needs {node.min_args} argument(s), the CLI {lo}"
    assert node.max_args == hi, f"`ankra {path}`: the emulator takes up to {node.max_args}, the CLI {hi}"
