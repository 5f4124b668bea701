"""The skills loader: OpenClaw skill folders (`SKILL.md`) exactly as OpenClaw lays them out and reads them.

A skill is a folder holding `SKILL.md` (or `skill.md`): frontmatter, then a markdown body. Whether a
skill loads follows OpenClaw's own loader (see `hermes.openclaw.frontmatter`): any YAML problem falls
back to reading the frontmatter line by line, the name is not checked, only a missing description (or
an unreadable or oversized file) makes a skill unusable. What OpenClaw would accept but is unusual
(a name outside the Agent Skills form, a YAML error, metadata that is not JSON5, `command-dispatch:
tool`) is kept in `Skill.warnings` and shown by `hermes skills list`.

Hermes gives two parts of the body a meaning OpenClaw leaves to the model:

* The skill's commands. `## Available Commands` is the command catalog of the skill when the body has
  that section: every bullet with a backticked `ankra …` command. A skill without it (the official
  Ankra skills `ankra skills install` writes, and the one `ankra openclaw skill` generates) names its
  commands in code: fenced or indented code lines and inline code starting with `ankra `. Each command
  is resolved against `hermes.catalog`; the union over enabled, eligible skills is the set of commands
  the planner may propose and the executor may run (`SkillSet.allowed_commands`). A command Hermes
  cannot run is kept as unresolved, with the reason, and reported.
* `## Guardrails` bullets become structured rules (`Guardrails`) that only ever make a profile stricter.

Roots, highest precedence first: `<workspace>/skills`, `<workspace>/.agents/skills`, `~/.agents/skills`,
`~/.openclaw/skills`, Hermes's bundled skills, `skills.load.extraDirs`. A broken skill is skipped with
its reason and never stops its siblings from loading. At the top of a root, a single `*.md` file
written by `ankra openclaw skill` (frontmatter `source: ankra-cli`) is a skill too.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import json5

from hermes import catalog
from hermes.config import LoadedConfig
from hermes.openclaw import frontmatter as ocfm
from hermes.profiles import Guardrails, Profile, merge_guardrails

__all__ = [
    "BUNDLED_SKILLS_DIR",
    "IMPLIED_COMMANDS",
    "MAX_DEPTH",
    "Skill",
    "SkillCommand",
    "SkillRoot",
    "SkillSet",
    "SkillStatus",
    "SkillWatcher",
    "commands_allowed_by",
    "default_roots",
    "discover_skills",
    "parse_body_commands",
    "parse_commands",
    "parse_guardrails",
    "parse_skill",
    "resolve_command_path",
]

BUNDLED_SKILLS_DIR = Path(__file__).parent / "bundled_skills"
MAX_DEPTH = 6  # how deep under a root a skill folder may be
SKILL_FILES = ("SKILL.md", "skill.md")
GENERATED_SOURCE = "ankra-cli"  # frontmatter `source:` of the file `ankra openclaw skill` writes
_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
_MAX_DESCRIPTION = 1024
_SKIP_DIRS = {"node_modules", "__pycache__"}

# Commands a listed (older) command implies in the current CLI, beyond `CommandSpec.replaced_by`.
# The guide's SKILL.md was written for an older `ankra`; these keep its intent working on v0.13:
IMPLIED_COMMANDS: dict[str, tuple[str, ...]] = {
    # "Get cluster details": `cluster get` now lists a cluster's resources; the details are `cluster info`.
    "cluster get": ("cluster info",),
    # `cluster stacks create` was removed: stacks are built from a cluster YAML, checked then applied,
    # and the apply's deploy is followed to its end in the cluster's operations.
    "cluster stacks create": ("cluster validate", "cluster apply", "cluster operations list"),
}
# Also allowed, from `CommandSpec.replaced_by` (a deprecated form listed → its current form):
#   cluster <provider> scale              → cluster scale
#   cluster <provider> deprovision        → cluster deprovision
#   cluster hetzner node-group list|scale → cluster node-group list|scale
#   cluster stacks create                 → cluster apply


def _by_path() -> dict[tuple[str, ...], catalog.CommandSpec]:
    """Every command a skill may name: the current ones and those older CLIs had (which resolve to
    what replaced them)."""
    return {tuple(c.path): c for c in (*catalog.COMMANDS, *catalog.REMOVED_COMMANDS)}


def _by_key() -> dict[str, catalog.CommandSpec]:
    return {c.key: c for c in (*catalog.COMMANDS, *catalog.REMOVED_COMMANDS)}


def _runnable() -> set[str]:
    return {c.key for c in catalog.COMMANDS}


class SkillStatus(StrEnum):
    LOADED = "loaded"  # enabled and eligible: its commands and guardrails apply
    DISABLED = "disabled"  # skills.entries.<key>.enabled is false
    INELIGIBLE = "ineligible"  # wrong OS or a requirement is missing
    BROKEN = "broken"  # the file cannot be used (unreadable, too large, no description)
    SHADOWED = "shadowed"  # a skill of the same name in a higher-precedence root wins


@dataclass(frozen=True)
class SkillRoot:
    """A folder skills are looked for under, and which kind of root it is."""

    path: Path
    source: str  # workspace, workspace-agents, agents, openclaw, bundled, extra


@dataclass(frozen=True)
class SkillCommand:
    """One `ankra` command a skill names."""

    template: str  # as written, e.g. "ankra cluster hetzner create --name <n> …"
    path: tuple[str, ...]  # the literal words after `ankra`
    description: str
    catalog_key: str | None  # the catalog command it is; None: unresolved
    group: str = ""  # the `###` heading it is under
    problem: str | None = None  # why it did not resolve
    # Options written with it that the catalog's command does not take (the command is still allowed;
    # a plan using such an option is refused by the catalog when it is parsed).
    unknown_flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Requires:
    bins: tuple[str, ...] = ()
    any_bins: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    config: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkillMetadata:
    """`metadata.openclaw` (or the older `metadata.clawdbot` / `metadata.moltbot`)."""

    always: bool = False
    skill_key: str | None = None
    primary_env: str | None = None
    emoji: str | None = None
    homepage: str | None = None
    os: tuple[str, ...] = ()
    requires: Requires = Requires()
    install: tuple[dict[str, Any], ...] = ()
    source_key: str | None = None  # which of openclaw/clawdbot/moltbot it came from


@dataclass
class Skill:
    """One skill folder, usable or not (`status` and `reason` say)."""

    folder: Path
    file: Path
    root: SkillRoot
    name: str
    description: str = ""
    status: SkillStatus = SkillStatus.LOADED
    reason: str | None = None
    frontmatter: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    metadata: SkillMetadata = SkillMetadata()
    permissions: list[str] = field(default_factory=list)  # policy input (e.g. shell, network)
    config_schema: dict[str, Any] = field(default_factory=dict)  # the frontmatter's `config:` block
    commands: list[SkillCommand] = field(default_factory=list)
    guardrails: list[str] = field(default_factory=list)
    rules: Guardrails = field(default_factory=Guardrails)
    shadowed_by: Path | None = None
    user_invocable: bool = True
    disable_model_invocation: bool = False
    # What OpenClaw accepts but a person should know (YAML read line by line, a name outside the Agent
    # Skills form, metadata that is not JSON5, `command-dispatch: tool`, …).
    warnings: list[str] = field(default_factory=list)
    # Where the commands come from: "available-commands" (that section), "body" (code in the body), "".
    command_source: str = ""
    command_dispatch: str | None = None  # `command-dispatch` (OpenClaw's direct tool dispatch)
    command_tool: str | None = None  # `command-tool`
    values: dict[str, str] = field(default_factory=dict)  # every frontmatter key as OpenClaw's text

    @property
    def key(self) -> str:
        """The key of `skills.entries.<key>`: metadata skillKey, else the name."""
        return self.metadata.skill_key or self.name

    @property
    def loaded(self) -> bool:
        return self.status is SkillStatus.LOADED

    @property
    def resolved_commands(self) -> list[SkillCommand]:
        return [c for c in self.commands if c.catalog_key is not None]

    @property
    def unresolved_commands(self) -> list[SkillCommand]:
        return [c for c in self.commands if c.catalog_key is None]

    def secret_config_keys(self) -> list[str]:
        """Keys of the `config:` schema marked `secret: true` (their values are secrets)."""
        return [k for k, v in self.config_schema.items() if isinstance(v, dict) and v.get("secret") is True]


# ---------------------------------------------------------------------------------------------------
# Roots and discovery.


def default_roots(workspace: Path | None, home: Path, config: LoadedConfig | None = None) -> list[SkillRoot]:
    """The roots in OpenClaw's precedence, highest first."""
    roots: list[SkillRoot] = []
    if workspace is not None:
        roots += [SkillRoot(workspace / "skills", "workspace"),
                  SkillRoot(workspace / ".agents" / "skills", "workspace-agents")]
    roots += [SkillRoot(home / ".agents" / "skills", "agents"),
              SkillRoot(home / ".openclaw" / "skills", "openclaw"),
              SkillRoot(BUNDLED_SKILLS_DIR, "bundled")]
    if config is not None:
        base = config.path.parent if config.path else Path.cwd()
        for entry in config.skills.load.extra_dirs:
            path = Path(entry).expanduser()
            roots.append(SkillRoot(path if path.is_absolute() else base / path, "extra"))
    return roots


def is_generated_skill_file(file: Path) -> bool:
    """Is `file` a single-file skill written by `ankra openclaw skill` (frontmatter `source: ankra-cli`)?"""
    try:
        with file.open("rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except OSError:
        return False
    block, _ = ocfm.split_frontmatter(head)
    if block is None:
        return False
    return ocfm.parse_line_frontmatter(block).get("source") == GENERATED_SOURCE


def find_skill_files(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Every SKILL.md (or skill.md) under `root`, at most `max_depth` folders down; a folder holding
    one is a skill and is not descended into. Hidden folders, node_modules and folders that resolve
    outside the root are skipped. At the top of the root, a `*.md` file `ankra openclaw skill` wrote
    is a skill too."""
    found: list[Path] = []
    seen: set[Path] = set()
    try:
        root_real = root.resolve()
    except OSError:
        return found

    def walk(folder: Path, depth: int) -> None:
        try:
            real = folder.resolve()
            if real in seen:
                return  # a symlink loop
            if real != root_real and root_real not in real.parents:
                return  # a symlink out of the root (OpenClaw does not follow those either)
            seen.add(real)
            children = sorted(folder.iterdir())
        except OSError:
            return
        names = {c.name for c in children}
        for candidate in SKILL_FILES:
            if candidate in names and (folder / candidate).is_file():
                found.append(folder / candidate)
                return
        if depth == 0:
            for child in children:
                if child.suffix.lower() == ".md" and child.is_file() and is_generated_skill_file(child):
                    found.append(child)
        if depth >= max_depth:
            return
        for child in children:
            if child.name.startswith(".") or child.name in _SKIP_DIRS:
                continue
            if child.is_dir():
                walk(child, depth + 1)

    if root.is_dir():
        walk(root, 0)
    return found


def discover_skills(roots: list[SkillRoot], config: LoadedConfig | None = None,
                    environ: Mapping[str, str] | None = None, platform: str = sys.platform) -> SkillSet:
    """Find, parse and judge every skill under `roots` (highest precedence first)."""
    environ = os.environ if environ is None else environ
    skills: list[Skill] = []
    winners: dict[str, Skill] = {}
    for root in roots:
        for file in find_skill_files(root.path):
            skill = parse_skill(file, root)
            skills.append(skill)
            if skill.status is SkillStatus.BROKEN:
                continue  # a broken skill takes no name: a lower copy may still load
            winner = winners.get(skill.name)
            if winner is not None:
                skill.status = SkillStatus.SHADOWED
                skill.shadowed_by = winner.file
                skill.reason = f"shadowed by {winner.file} ({winner.root.source})"
                continue
            winners[skill.name] = skill
            _judge(skill, config, environ, platform)
    return SkillSet(skills=skills, roots=list(roots), config=config)


def _judge(skill: Skill, config: LoadedConfig | None, environ: Mapping[str, str], platform: str) -> None:
    """Set the status of a parsed skill: disabled, ineligible (with the reason) or loaded."""
    entry = config.skills.entries.get(skill.key) if config is not None else None
    if entry is not None and not entry.enabled:
        skill.status = SkillStatus.DISABLED
        skill.reason = f"disabled by skills.entries.{skill.key}.enabled = false"
        return
    reason = eligibility_problem(skill, config, environ, platform)
    if reason is not None:
        skill.status = SkillStatus.INELIGIBLE
        skill.reason = reason


def eligibility_problem(skill: Skill, config: LoadedConfig | None, environ: Mapping[str, str],
                        platform: str = sys.platform) -> str | None:
    """Why the skill cannot be used here, or None. `os` must match; then `always` or every requirement
    (OpenClaw's rules: binaries also count in the usual system folders; `browser.enabled` and
    `browser.evaluateEnabled` count as true when the config does not set them)."""
    meta = skill.metadata
    if meta.source_key is None:
        return None
    entry = config.skills.entries.get(skill.key) if config is not None else None

    def has_env(name: str) -> bool:
        if environ.get(name):
            return True
        if entry is not None and name in entry.env and entry.env[name].get_secret_value():
            return True
        return entry is not None and entry.api_key is not None and meta.primary_env == name

    def config_truthy(dotted: str) -> bool:
        return ocfm.config_path_truthy(config.data if config is not None else None, dotted)

    manifest = ocfm.Manifest(key=meta.source_key, always=meta.always, os=meta.os, bins=meta.requires.bins,
                             any_bins=meta.requires.any_bins, env=meta.requires.env,
                             config=meta.requires.config)
    problems = ocfm.missing_requirements(manifest, path=environ.get("PATH", os.defpath), platform=platform,
                                         has_env=has_env, config_truthy=config_truthy)
    if not problems:
        return None
    shown = []
    for problem in problems:
        if problem.startswith("needs environment variable "):
            name = problem.removeprefix("needs environment variable ")
            problem += f" (set it, or add it to skills.entries.{skill.key}.env in the config)"
            if meta.primary_env == name:
                problem = problem[:-1] + f", or set skills.entries.{skill.key}.apiKey)"
        shown.append(problem)
    return "; ".join(shown)


# ---------------------------------------------------------------------------------------------------
# Parsing one SKILL.md.


def parse_skill(file: Path, root: SkillRoot) -> Skill:
    """Parse one skill file. Never raises: an unusable file gives a BROKEN skill with the reason."""
    folder = file.parent
    single_file = file.name not in SKILL_FILES
    skill = Skill(folder=folder, file=file, root=root, name=file.stem if single_file else folder.name)

    def broken(reason: str) -> Skill:
        skill.status = SkillStatus.BROKEN
        skill.reason = reason
        return skill

    try:
        if file.is_symlink():
            return broken(f"{file.name} is a symbolic link; skill files must be regular files (OpenClaw "
                          f"refuses them too): copy the file into the skill folder")
        size = file.stat().st_size
        if size > ocfm.MAX_SKILL_FILE_BYTES:
            return broken(f"{file.name} is {size} bytes; skill files are read up to "
                          f"{ocfm.MAX_SKILL_FILE_BYTES} bytes (as in OpenClaw): move long reference text "
                          f"into other files of the skill folder")
        raw = file.read_bytes()
    except OSError as exc:
        return broken(f"cannot read {file.name}: {exc.strerror or exc}")
    text = raw.decode("utf-8", errors="replace")
    if "\ufffd" in text and b"\xef\xbf\xbd" not in raw:
        skill.warnings.append(f"{file.name} is not valid UTF-8; undecodable bytes were replaced")
    fm, body = ocfm.parse_frontmatter(text)
    skill.values = dict(fm.values)
    skill.frontmatter = dict(fm.data) if fm.data is not None else dict(fm.values)
    skill.body = body.replace("{baseDir}", str(folder))
    if fm.present and fm.yaml_problem and fm.values:
        skill.warnings.append(f"{fm.yaml_problem}; read line by line instead, as OpenClaw does (quote the "
                              f"value, e.g. description: \"…\", to make it valid YAML)")

    fallback = ocfm.js_trim(file.stem if single_file else folder.name)
    name = ocfm.js_trim(fm.get("name") or "") or fallback
    skill.name = name
    if not _NAME.match(name):
        source = "name" if fm.get("name") else "folder name (no `name` in the frontmatter)"
        skill.warnings.append(f"{source} {name!r} is not the Agent Skills form (1–64 lowercase letters, "
                              f"digits and hyphens); OpenClaw loads it anyway, and so does Hermes")
    description = ocfm.js_trim(fm.get("description") or "")
    if not description:
        if not fm.present:
            return broken("no frontmatter: the file must start with a `---` line, then `name:` and "
                          "`description:`, then a closing `---` line (`description` is required)")
        if fm.yaml_problem and fm.values:
            return broken(f"`description` is missing: it says when the skill applies and is required "
                          f"(also: {fm.yaml_problem})")
        return broken("`description` is missing: it says when the skill applies and is required")
    if len(description) > _MAX_DESCRIPTION:
        skill.warnings.append(f"`description` is {len(description)} characters; the Agent Skills limit is "
                              f"{_MAX_DESCRIPTION} (OpenClaw does not enforce it, nor does Hermes)")
    skill.description = description

    manifest, problem = ocfm.resolve_manifest(fm.get("metadata"))
    if problem:
        skill.warnings.append(problem)
    if manifest is not None:
        skill.metadata = SkillMetadata(
            always=manifest.always is True, skill_key=manifest.skill_key, primary_env=manifest.primary_env,
            emoji=manifest.emoji, homepage=manifest.homepage, os=manifest.os,
            requires=Requires(bins=manifest.bins, any_bins=manifest.any_bins, env=manifest.env,
                              config=manifest.config),
            install=manifest.install, source_key=manifest.key)
    data = fm.data or {}
    skill.permissions = _str_list(data["permissions"] if "permissions" in data else
                                  _text_value(fm.get("permissions")))
    config_schema = data["config"] if "config" in data else _text_value(fm.get("config"))
    skill.config_schema = config_schema if isinstance(config_schema, dict) else {}
    skill.user_invocable = ocfm.parse_bool(fm.get("user-invocable"), True)
    skill.disable_model_invocation = ocfm.parse_bool(fm.get("disable-model-invocation"), False)
    dispatch = ocfm.js_trim(fm.get("command-dispatch") or "").lower() or None
    skill.command_dispatch = dispatch
    skill.command_tool = ocfm.js_trim(fm.get("command-tool") or "") or None
    if dispatch == "tool":
        tool = f" (`command-tool: {skill.command_tool}`)" if skill.command_tool else ""
        skill.warnings.append(f"`command-dispatch: tool`{tool} sends OpenClaw's slash command straight to a "
                              f"tool; Hermes has no direct tool dispatch, so the skill is used through the "
                              f"planner like any other")
    elif dispatch is not None:
        skill.warnings.append(f"`command-dispatch: {dispatch}` is not a dispatch OpenClaw knows (it has "
                              f"`tool`); ignored")
    if has_section(skill.body, "Available Commands"):
        skill.commands = parse_commands(skill.body)
        skill.command_source = "available-commands"
    else:
        skill.commands = parse_body_commands(skill.body)
        skill.command_source = "body" if skill.commands else ""
    skill.guardrails, skill.rules = parse_guardrails(skill.body)
    return skill


def _text_value(value: str | None) -> Any:
    """A frontmatter value read line by line, as the structure it spells: JSON5 text, or a YAML-style
    list of `- item` lines; otherwise the text itself."""
    if value is None:
        return None
    if value.startswith(("{", "[")):
        try:
            return json5.loads(value)
        except (ValueError, TypeError, RecursionError):
            return value
    lines = [line.strip() for line in value.split("\n") if line.strip()]
    if lines and all(line.startswith("- ") for line in lines):
        return [line[2:].strip() for line in lines]
    return value


def split_frontmatter(text: str) -> tuple[str | None, str, str | None]:
    """(frontmatter, body, problem), as OpenClaw splits them: the text must start with `---`; the block
    ends at the next line starting with `---`."""
    block, body = ocfm.split_frontmatter(text)
    if block is None and text.replace("\r\n", "\n").startswith("---"):
        return None, body, "the frontmatter has no closing `---` line"
    return block, body, None


def load_frontmatter(text: str) -> tuple[dict[str, Any], str | None]:
    """The frontmatter block as a mapping, and the reason YAML could not read it (then the mapping is
    OpenClaw's line-by-line reading: every value as text)."""
    if not text.strip():
        return {}, None
    data, problem = ocfm.load_yaml(text)
    if problem is None and isinstance(data, dict):
        return {str(k): v for k, v in data.items()}, None
    return dict(ocfm.parse_line_frontmatter(text)), problem or "the frontmatter is not key: value pairs"


def _str_list(value: Any) -> list[str]:
    """An array, or a comma-separated string, as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


# ---------------------------------------------------------------------------------------------------
# The body: `## Available Commands` and `## Guardrails`.

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_CODE = re.compile(r"`([^`]+)`")
_WORD = re.compile(r"^[a-z][a-z0-9-]*$")


def _section(body: str, title: str) -> list[tuple[str, str]]:
    """(subheading, line) of every line under the heading `title`, up to the next heading of the
    same or a higher level. Fenced code blocks are skipped."""
    out: list[tuple[str, str]] = []
    level: int | None = None
    group = ""
    fenced = False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        match = _HEADING.match(line)
        if match:
            depth, text = len(match.group(1)), match.group(2)
            if level is None:
                if text.strip().lower() == title.lower():
                    level = depth
                continue
            if depth <= level:
                if text.strip().lower() == title.lower():
                    continue  # a second section of the same name continues the list
                level = None
                continue
            group = text.strip()
            continue
        if level is not None:
            out.append((group, line))
    return out


def parse_commands(body: str) -> list[SkillCommand]:
    """Every backticked `ankra …` command on a bullet of `## Available Commands`, resolved against the
    catalog."""
    commands: list[SkillCommand] = []
    seen: set[str] = set()
    for group, line in _section(body, "Available Commands"):
        bullet = _BULLET.match(line)
        if not bullet:
            continue
        text = bullet.group(1)
        spans = list(_CODE.finditer(text))
        ankra_spans = [m for m in spans if m.group(1).strip().split(" ")[0] == "ankra"]
        if not ankra_spans:
            continue
        last = ankra_spans[-1]
        description = re.sub(r"^\s*(?:--|—|–|-|:)\s*", "", text[last.end():]).strip()
        for span in ankra_spans:
            template = span.group(1).strip()
            if template in seen:
                continue
            seen.add(template)
            commands.append(_command(template, description, group))
    return commands


def command_path(template: str) -> tuple[str, ...]:
    """The literal words after `ankra`, up to the first placeholder, option or quoted text."""
    tokens = _tokens(template)
    words: list[str] = []
    for token in tokens[1:]:
        if not _WORD.match(token):
            break
        words.append(token)
    return tuple(words)


def resolve_command_path(path: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(catalog key, problem). An exact catalog path; else the longest catalog path the words start
    with, when the remaining literal words fit its positional arguments (e.g. `cluster reconcile prod`)."""
    if not path:
        return None, "no command words after `ankra` (Hermes runs only catalog commands)"
    by_path = _by_path()
    if path in by_path:
        return by_path[path].key, None
    for depth in range(len(path) - 1, 0, -1):
        spec = by_path.get(path[:depth])
        if spec is not None:
            extra = len(path) - depth
            if extra <= len(spec.args):
                return spec.key, None
            return None, (f"`ankra {' '.join(path)}`: `ankra {spec.key}` takes {len(spec.args)} "
                          f"argument(s), not {extra}")
    return None, f"`ankra {' '.join(path)}` is not a command in Hermes's catalog (hermes.catalog)"


def commands_allowed_by(keys: Iterable[str]) -> set[str]:
    """The catalog keys a list of skill commands allows: each key, the current form of a deprecated
    one (`CommandSpec.replaced_by`), and what `IMPLIED_COMMANDS` adds."""
    by_key = _by_key()
    allowed: set[str] = set()
    for key in keys:
        spec = by_key.get(key)
        if spec is None:
            continue
        allowed.add(key)
        replaced_by = getattr(spec, "replaced_by", None)
        if replaced_by:
            allowed.add(" ".join(replaced_by))
        allowed.update(IMPLIED_COMMANDS.get(key, ()))
    return allowed & _runnable()


# Options the executor sets itself (a skill writing them is not asking for anything Hermes lacks).
_EXECUTOR_FLAGS = {"--yes", "-y", "--token", "--base-url", "--config", "--org", "-o", "--output", "--help", "-h"}


def _unknown_flags(template: str, key: str | None) -> tuple[str, ...]:
    if key is None:
        return ()
    spec = _by_key().get(key)
    if spec is None:
        return ()
    known = set(_EXECUTOR_FLAGS)
    for flag in getattr(spec, "flags", ()):
        known.add(flag.name)
        if getattr(flag, "short", None):
            known.add(flag.short)
    out: list[str] = []
    for token in _tokens(template):
        if token.startswith("-") and not token[1:].isdigit() and token not in ("-", "--"):
            name = token.split("=", 1)[0]
            if name not in known and name not in out:
                out.append(name)
    return tuple(out)


def _tokens(template: str) -> list[str]:
    try:
        return shlex.split(template)
    except ValueError:
        return template.split()


def _command(template: str, description: str, group: str) -> SkillCommand:
    path = command_path(template)
    key, problem = resolve_command_path(path)
    if key is None and not path:
        problem = f"`{template}`: {problem}"
    return SkillCommand(template=template, path=path, description=description, catalog_key=key, group=group,
                        problem=problem, unknown_flags=_unknown_flags(template, key))


# `ankra` then a subcommand or an option: not the bare program name, not `ankra = {` (HCL) or `ankra:`.
_ANKRA_COMMAND = re.compile(r"^ankra\s+[-A-Za-z]")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_PROMPT = re.compile(r"^(?:\$|>|#)\s+(?=ankra\b)")


def has_section(body: str, title: str) -> bool:
    """Does the body have a heading `title` (outside code blocks)?"""
    fenced = False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = _HEADING.match(line)
        if not fenced and match and match.group(2).strip().lower() == title.lower():
            return True
    return False


def parse_body_commands(body: str) -> list[SkillCommand]:
    """Every `ankra …` command the body names in code: lines of fenced or indented code blocks
    (continued with a trailing backslash; a `$ ` prompt and a trailing `# comment` dropped) and inline
    code. Each is resolved against the catalog; those that do not resolve are kept with the reason."""
    commands: list[SkillCommand] = []
    seen: set[str] = set()
    group = ""
    fenced = False
    pending = ""

    def add(template: str, description: str) -> None:
        template = " ".join(template.split())
        if template in seen:
            return
        seen.add(template)
        commands.append(_command(template, description, group))

    def code_line(text: str) -> None:
        text = _PROMPT.sub("", text.strip())
        if not _ANKRA_COMMAND.match(text):
            return
        comment = ""
        hash_at = re.search(r"\s#\s", text)
        if hash_at:
            text, comment = text[:hash_at.start()], text[hash_at.end():].strip()
        add(text.strip(), comment)

    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            pending = ""
            continue
        if fenced or (line.startswith(("    ", "\t")) and line.strip().startswith("ankra")) or pending:
            joined = pending + " " + line.strip() if pending else line
            if joined.rstrip().endswith("\\"):
                pending = joined.rstrip()[:-1]
                continue
            pending = ""
            code_line(joined)
            continue
        heading = _HEADING.match(line)
        if heading:
            group = heading.group(2).strip()
            continue
        spans = [m for m in _CODE.finditer(line) if _ANKRA_COMMAND.match(m.group(1).strip())]
        for span in spans:
            rest = re.sub(r"^\s*(?:--|—|–|-|:)\s*", "", line[span.end():]).strip()
            add(span.group(1).strip(), rest)
    return commands


_CONFIRM = re.compile(r"\b(confirm\w*|approv\w*|ask\w*|permission)\b")
_OPERATIONS = re.compile(r"\b(deprovision|delete|revoke|scale|destroy|remove|uninstall|drain)\b")
_NEGATION = re.compile(r"\b(never|not|don't|dont|avoid|must not|do not)\b")
_REVEAL = re.compile(r"\b(expose|reveal|show|echo|print|share|leak|display|output|include)\w*")
_SECRETS = re.compile(r"\b(tokens?|credentials?|secrets?|passwords?|api keys?|keys)\b")


def parse_guardrails(body: str) -> tuple[list[str], Guardrails]:
    """The bullets of `## Guardrails` and the structured rules they imply (matched on keywords)."""
    bullets: list[str] = []
    for _, line in _section(body, "Guardrails"):
        match = _BULLET.match(line)
        if match:
            bullets.append(match.group(1).strip())
        elif bullets and line.strip() and line.startswith((" ", "\t")):
            bullets[-1] += " " + line.strip()  # a bullet continued on the next line
    words: list[str] = []
    rules: dict[str, bool] = {}
    for bullet in bullets:
        text = bullet.lower()
        plain = text.replace("`", "")
        if _CONFIRM.search(plain):
            for op in _OPERATIONS.finditer(plain):
                word = op.group(1)
                if word == "scale":
                    after = plain[op.end():op.end() + 12]
                    if re.match(r"\W*(\(down\)|down)", after):
                        word = "scale-down"
                    elif re.match(r"\W*(\(up\)|up)", after):
                        word = "scale-up"
                if word not in words:
                    words.append(word)
        if "scal" in plain and re.search(r"\bcurrent\b", plain) and re.search(r"\b(count|size|number)\b", plain):
            rules["show_current_count_before_scale"] = True
        if _NEGATION.search(plain) and _REVEAL.search(plain) and _SECRETS.search(plain):
            rules["withhold_secrets"] = True
        if re.search(r"\b(creat\w*|provision\w*)\b", plain) and re.search(r"\bparameters?\b|\bsettings\b|\bvalues\b",
                                                                         plain) \
                and re.search(r"\b(back|repeat|read|list|confirm\w*)\b", plain):
            rules["read_back_create_parameters"] = True
        if "architecture" in plain and re.search(r"\b(draft\w*|present|propose|design)\b", plain):
            rules["require_architecture_draft"] = True
        if "bill of materials" in plain or re.search(r"\bbom\b", plain):
            rules["require_bill_of_materials"] = True
        if re.search(r"\bprefer\w*\b", plain) and re.search(r"\bankra chat\b|\bankra ai\b", plain):
            rules["prefer_ankra_chat"] = True
    return bullets, Guardrails(require_confirmation=words, **rules)


# ---------------------------------------------------------------------------------------------------
# The set of skills.


@dataclass
class SkillSet:
    """Every skill found, usable or not, and what the usable ones allow."""

    skills: list[Skill] = field(default_factory=list)
    roots: list[SkillRoot] = field(default_factory=list)
    config: LoadedConfig | None = None

    def loaded(self, profile: Profile | None = None) -> list[Skill]:
        """The enabled, eligible skills (only those `profile.skills` names, when a profile is given)."""
        out = [s for s in self.skills if s.status is SkillStatus.LOADED]
        if profile is not None:
            wanted = set(profile.skills)
            out = [s for s in out if s.name in wanted or s.key in wanted]
        return out

    def get(self, name: str) -> Skill | None:
        """The skill that holds `name` (the winner, when shadowed copies exist)."""
        candidates = [s for s in self.skills if s.name == name and s.status is not SkillStatus.SHADOWED]
        return candidates[0] if candidates else None

    def allowed_commands(self, profile: Profile | None = None) -> set[str]:
        """The catalog keys the planner may propose and the executor may run: the Available Commands
        of every loaded skill (of `profile`'s skills, when given), with their current forms."""
        keys = [c.catalog_key for s in self.loaded(profile) for c in s.commands if c.catalog_key]
        return commands_allowed_by(keys)

    def guardrail_policy(self, profile: Profile | None = None) -> Guardrails:
        """The loaded skills' guardrails merged: to apply on top of a profile (only ever stricter)."""
        policy = Guardrails()
        for skill in self.loaded(profile):
            policy = merge_guardrails(policy, skill.rules)
        return policy

    def apply(self, profile: Profile) -> Profile:
        """`profile` with its skills' guardrails added."""
        return profile.model_copy(update={
            "guardrails": merge_guardrails(profile.guardrails, self.guardrail_policy(profile))})

    def permissions(self, profile: Profile | None = None) -> set[str]:
        """The union of the loaded skills' `permissions:` (e.g. shell, network)."""
        return {p for s in self.loaded(profile) for p in s.permissions}

    def secret_values(self) -> list[str]:
        """Values of `skills.entries.<key>.config` keys a skill's config schema marks `secret: true`."""
        if self.config is None:
            return []
        values: list[str] = []
        for skill in self.skills:
            entry = self.config.skills.entries.get(skill.key)
            if entry is None:
                continue
            for key in skill.secret_config_keys():
                value = entry.config.get(key)
                if isinstance(value, str) and value:
                    values.append(value)
        return sorted(set(values))

    def env_for(self, skill: Skill, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """What `skills.entries.<key>` adds to the environment for this skill (never overriding)."""
        if self.config is None:
            return {}
        return self.config.skill_env(skill.key, environ, primary_env=skill.metadata.primary_env)

    def report(self) -> str:
        """What `hermes skills list` prints."""
        lines = [f"Skills: {len(self.loaded())} loaded, {len(self.skills) - len(self.loaded())} not loaded"]
        lines.append("Roots (highest precedence first):")
        for root in self.roots:
            lines.append(f"  {root.source:<17} {root.path}{'' if root.path.is_dir() else '  (missing)'}")
        for skill in self.skills:
            if skill.status is SkillStatus.LOADED:
                status = "loaded"
            elif skill.status is SkillStatus.SHADOWED:
                status = f"shadowed by {skill.shadowed_by}"
            else:
                status = f"skipped ({skill.status.value}): {skill.reason}"
            lines.append(f"- {skill.name} [{skill.root.source}] {skill.file}")
            lines.append(f"    status: {status}")
            for warning in skill.warnings:
                lines.append(f"    note: {warning}")
            if skill.status is SkillStatus.BROKEN:
                continue
            resolved = skill.resolved_commands
            source = {"available-commands": " (## Available Commands)",
                      "body": " (named in the body's code)"}.get(skill.command_source, "")
            lines.append(f"    commands{source}: {len(resolved)} resolved"
                         + (f", {len(skill.unresolved_commands)} unresolved (Hermes cannot run them)"
                            if skill.unresolved_commands else ""))
            for command in skill.unresolved_commands:
                lines.append(f"      unresolved: `{command.template}` — {command.problem}")
            for command in resolved:
                if command.unknown_flags:
                    lines.append(f"      `{command.template}`: option(s) {', '.join(command.unknown_flags)} "
                                 f"are not in the catalog's `ankra {command.catalog_key}`; a plan using them is "
                                 f"refused")
            if skill.guardrails:
                lines.append(f"    guardrails: {len(skill.guardrails)}")
            if skill.permissions:
                lines.append(f"    permissions: {', '.join(skill.permissions)}")
        allowed = sorted(self.allowed_commands())
        lines.append(f"Allowed commands ({len(allowed)}):")
        lines += [f"  ankra {key}" for key in allowed]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# Reload on change.


Snapshot = frozenset[tuple[str, int, int]]


class SkillWatcher:
    """Notices a changed, added or removed SKILL.md by polling (path, mtime_ns, size) of every skill
    file under the roots. The planner calls `changed()` at the start of a turn and `reload()` when it
    says so. A file written less than `debounce` seconds ago is treated as still being written."""

    def __init__(self, roots: list[SkillRoot], debounce: float = 0.25, config: LoadedConfig | None = None,
                 environ: Mapping[str, str] | None = None, platform: str = sys.platform,
                 clock: Callable[[], float] = time.time) -> None:
        self.roots = roots
        self.debounce = debounce
        self.config = config
        self.environ = environ
        self.platform = platform
        self._clock = clock
        self._seen: Snapshot = self.snapshot()
        self._pending: Snapshot | None = None
        self._pending_since = 0.0

    def snapshot(self) -> Snapshot:
        entries: set[tuple[str, int, int]] = set()
        for root in self.roots:
            for file in find_skill_files(root.path):
                try:
                    st = file.stat()
                except OSError:
                    continue
                entries.add((str(file), st.st_mtime_ns, st.st_size))
        return frozenset(entries)

    def changed(self) -> bool:
        """Has any skill file changed since the last load, and has it settled?"""
        current = self.snapshot()
        if current == self._seen:
            self._pending = None
            return False
        now = self._clock()
        if current != self._pending:
            self._pending, self._pending_since = current, now
        newest = max((mtime for _, mtime, _ in current - self._seen), default=0) / 1e9
        return now - newest >= self.debounce or now - self._pending_since >= self.debounce

    def reload(self) -> SkillSet:
        """Discover the skills again and remember the files as seen."""
        before = self.snapshot()
        skills = discover_skills(self.roots, self.config, self.environ, self.platform)
        self._seen, self._pending = before, None
        return skills
