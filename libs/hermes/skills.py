"""The skills loader: OpenClaw skill folders (`SKILL.md`) exactly as OpenClaw lays them out.

A skill is a folder holding `SKILL.md` (or `skill.md`): YAML frontmatter, then a markdown body.
Hermes gives two parts of the body a meaning OpenClaw leaves to the model:

* `## Available Commands` is the command catalog of the skill. Every bullet with a backticked
  `ankra …` command is resolved against `hermes.catalog`; the union over enabled, eligible skills is
  the set of commands the planner may propose and the executor may run (`SkillSet.allowed_commands`).
* `## Guardrails` bullets become structured rules (`Guardrails`) that only ever make a profile stricter.

Roots, highest precedence first: `<workspace>/skills`, `<workspace>/.agents/skills`, `~/.agents/skills`,
`~/.openclaw/skills`, Hermes's bundled skills, `skills.load.extraDirs`. A broken skill is skipped with
its reason and never stops its siblings from loading.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import json5
import yaml

from hermes.catalog import COMMANDS, CommandSpec
from hermes.config import LoadedConfig
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
    "parse_commands",
    "parse_guardrails",
    "parse_skill",
    "resolve_command_path",
]

BUNDLED_SKILLS_DIR = Path(__file__).parent / "bundled_skills"
MAX_DEPTH = 6  # how deep under a root a skill folder may be
SKILL_FILES = ("SKILL.md", "skill.md")
_NAME = re.compile(r"^[a-z0-9-]{1,64}$")
_MAX_DESCRIPTION = 1024
_SKIP_DIRS = {"node_modules", "__pycache__"}
_METADATA_KEYS = ("openclaw", "clawdbot", "clawdis")  # current name first, then the older ones

# Commands a listed (older) command implies in the current CLI, beyond `CommandSpec.replaced_by`.
# The guide's SKILL.md was written for an older `ankra`; these keep its intent working on v0.13:
IMPLIED_COMMANDS: dict[str, tuple[str, ...]] = {
    # "Get cluster details": `cluster get` now lists a cluster's resources; the details are `cluster info`.
    "cluster get": ("cluster info",),
    # `cluster stacks create` was removed: stacks are built from a cluster YAML, checked then applied.
    "cluster stacks create": ("cluster validate", "cluster apply"),
}
# Also allowed, from `CommandSpec.replaced_by` (a deprecated form listed → its current form):
#   cluster <provider> scale              → cluster scale
#   cluster <provider> deprovision        → cluster deprovision
#   cluster hetzner node-group list|scale → cluster node-group list|scale
#   cluster stacks create                 → cluster apply

_BY_PATH: dict[tuple[str, ...], CommandSpec] = {c.path: c for c in COMMANDS}
_BY_KEY: dict[str, CommandSpec] = {c.key: c for c in COMMANDS}


class SkillStatus(StrEnum):
    LOADED = "loaded"  # enabled and eligible: its commands and guardrails apply
    DISABLED = "disabled"  # skills.entries.<key>.enabled is false
    INELIGIBLE = "ineligible"  # wrong OS or a requirement is missing
    BROKEN = "broken"  # the file cannot be used (YAML, name, description)
    SHADOWED = "shadowed"  # a skill of the same name in a higher-precedence root wins


@dataclass(frozen=True)
class SkillRoot:
    """A folder skills are looked for under, and which kind of root it is."""

    path: Path
    source: str  # workspace, workspace-agents, agents, openclaw, bundled, extra


@dataclass(frozen=True)
class SkillCommand:
    """One command of a skill's `## Available Commands` list."""

    template: str  # as written, e.g. "ankra cluster hetzner create --name <n> …"
    path: tuple[str, ...]  # the literal words after `ankra`
    description: str
    catalog_key: str | None  # the catalog command it is; None: unresolved
    group: str = ""  # the `###` heading it is under
    problem: str | None = None  # why it did not resolve


@dataclass(frozen=True)
class Requires:
    bins: tuple[str, ...] = ()
    any_bins: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    config: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkillMetadata:
    """`metadata.openclaw` (or `metadata.clawdbot` / `metadata.clawdis`)."""

    always: bool = False
    skill_key: str | None = None
    primary_env: str | None = None
    emoji: str | None = None
    homepage: str | None = None
    os: tuple[str, ...] = ()
    requires: Requires = Requires()
    install: tuple[dict[str, Any], ...] = ()
    source_key: str | None = None  # which of openclaw/clawdbot/clawdis it came from


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


def find_skill_files(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Every SKILL.md (or skill.md) under `root`, at most `max_depth` folders down; a folder holding
    one is a skill and is not descended into. Hidden folders and node_modules are skipped."""
    found: list[Path] = []
    seen: set[Path] = set()

    def walk(folder: Path, depth: int) -> None:
        try:
            real = folder.resolve()
            if real in seen:
                return  # a symlink loop
            seen.add(real)
            children = sorted(folder.iterdir())
        except OSError:
            return
        names = {c.name for c in children}
        for candidate in SKILL_FILES:
            if candidate in names and (folder / candidate).is_file():
                found.append(folder / candidate)
                return
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
    """Why the skill cannot be used here, or None. `os` must match; then `always` or every requirement."""
    meta = skill.metadata
    if meta.os and platform not in meta.os:
        return f"runs on {', '.join(meta.os)} only (this host is {platform})"
    if meta.always:
        return None
    path = environ.get("PATH", os.defpath)
    req = meta.requires
    missing_bins = [b for b in req.bins if shutil.which(b, path=path) is None]
    if missing_bins:
        return "needs " + ", ".join(f"`{b}`" for b in missing_bins) + " on PATH"
    if req.any_bins and not any(shutil.which(b, path=path) for b in req.any_bins):
        return "needs one of " + ", ".join(f"`{b}`" for b in req.any_bins) + " on PATH"
    entry = config.skills.entries.get(skill.key) if config is not None else None
    for name in req.env:
        if environ.get(name):
            continue
        if entry is not None and name in entry.env and entry.env[name].get_secret_value():
            continue
        if entry is not None and entry.api_key is not None and meta.primary_env == name:
            continue
        return (f"needs environment variable {name} (set it, or add it to "
                f"skills.entries.{skill.key}.env in the config)")
    for dotted in req.config:
        if config is None or not config.config_path_truthy(dotted):
            return f"needs config {dotted} to be set (truthy)"
    return None


# ---------------------------------------------------------------------------------------------------
# Parsing one SKILL.md.


def parse_skill(file: Path, root: SkillRoot) -> Skill:
    """Parse one skill file. Never raises: an unusable file gives a BROKEN skill with the reason."""
    folder = file.parent
    skill = Skill(folder=folder, file=file, root=root, name=folder.name)

    def broken(reason: str) -> Skill:
        skill.status = SkillStatus.BROKEN
        skill.reason = reason
        return skill

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return broken(f"cannot read {file.name}: {exc}")
    front_text, body, problem = split_frontmatter(text)
    if problem:
        return broken(problem)
    data, problem = load_frontmatter(front_text or "")
    if problem:
        return broken(problem)
    skill.frontmatter = data
    skill.body = body.replace("{baseDir}", str(folder))

    name = data.get("name")
    name = folder.name if name is None or name == "" else str(name).strip()
    skill.name = name
    if not _NAME.match(name):
        source = "name" if data.get("name") else "folder name (no `name` in the frontmatter)"
        return broken(f"{source} {name!r} is not 1–64 lowercase letters, digits and hyphens")
    description = data.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        return broken("`description` is missing: it says when the skill applies and is required")
    if not isinstance(description, str):
        return broken("`description` must be text")
    description = description.strip()
    if len(description) > _MAX_DESCRIPTION:
        return broken(f"`description` is {len(description)} characters; the limit is {_MAX_DESCRIPTION}")
    skill.description = description

    metadata, problem = _metadata(data.get("metadata"))
    if problem:
        return broken(problem)
    skill.metadata = metadata
    skill.permissions = _str_list(data.get("permissions"))
    config_schema = data.get("config")
    skill.config_schema = config_schema if isinstance(config_schema, dict) else {}
    skill.user_invocable = _bool(data.get("user-invocable"), True)
    skill.disable_model_invocation = _bool(data.get("disable-model-invocation"), False)
    skill.commands = parse_commands(skill.body)
    skill.guardrails, skill.rules = parse_guardrails(skill.body)
    return skill


def split_frontmatter(text: str) -> tuple[str | None, str, str | None]:
    """(frontmatter, body, problem). The frontmatter sits between a first `---` line and the next."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, text, None
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1:]), None
    return None, text, "the YAML frontmatter has no closing `---` line"


def load_frontmatter(text: str) -> tuple[dict[str, Any], str | None]:
    """The frontmatter as a mapping, or the reason it is not one.

    Block YAML first; when that fails, OpenClaw's own leniency: a `metadata:` value spread over
    several lines as JSON5 (comments, trailing commas) is parsed as JSON5 and the rest as YAML.
    """
    if not text.strip():
        return {}, None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        data = _lenient_frontmatter(text)
        if data is None:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 2}" if mark is not None else ""  # +1 for `---`, +1 1-based
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            return {}, f"the YAML frontmatter is invalid{where}: {what}"
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        return {}, f"the frontmatter must be key: value pairs, not {type(data).__name__}"
    return {str(k): v for k, v in data.items()}, None


def _lenient_frontmatter(text: str) -> dict[str, Any] | None:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(r"^metadata\s*:", line)), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and not re.match(r"^[A-Za-z0-9_-]+\s*:", lines[end]):
        end += 1
    block = "\n".join([lines[start].split(":", 1)[1], *lines[start + 1:end]]).strip()
    try:
        metadata = json5.loads(block)
        rest = yaml.safe_load("\n".join(lines[:start] + lines[end:])) or {}
    except (ValueError, yaml.YAMLError):
        return None
    if not isinstance(rest, dict):
        return None
    return {**rest, "metadata": metadata}


def _metadata(raw: Any) -> tuple[SkillMetadata, str | None]:
    if raw is None:
        return SkillMetadata(), None
    if isinstance(raw, str):
        try:
            raw = json5.loads(raw)
        except ValueError as exc:
            return SkillMetadata(), f"`metadata` is not valid JSON5: {exc}"
    if not isinstance(raw, dict):
        return SkillMetadata(), "`metadata` must be a mapping (block YAML or a JSON5 object)"
    source_key = next((k for k in _METADATA_KEYS if isinstance(raw.get(k), dict)), None)
    if source_key is None:
        return SkillMetadata(), None  # other tools' metadata: nothing for Hermes
    meta = raw[source_key]
    requires = meta.get("requires") if isinstance(meta.get("requires"), dict) else {}
    install = meta.get("install") if isinstance(meta.get("install"), list) else []
    return SkillMetadata(
        always=_bool(meta.get("always"), False),
        skill_key=str(meta["skillKey"]) if meta.get("skillKey") else None,
        primary_env=str(meta["primaryEnv"]) if meta.get("primaryEnv") else None,
        emoji=meta.get("emoji"),
        homepage=meta.get("homepage"),
        os=tuple(_str_list(meta.get("os"))),
        requires=Requires(
            bins=tuple(_str_list(requires.get("bins"))),
            any_bins=tuple(_str_list(requires.get("anyBins"))),
            env=tuple(_str_list(requires.get("env"))),
            config=tuple(_str_list(requires.get("config"))),
        ),
        install=tuple(i for i in install if isinstance(i, dict)),
        source_key=source_key,
    ), None


def _str_list(value: Any) -> list[str]:
    """An array, or a comma-separated string, as a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value)]


def _bool(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1", "on"}
    return default


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
            path = command_path(template)
            key, problem = resolve_command_path(path)
            commands.append(SkillCommand(template=template, path=path, description=description,
                                         catalog_key=key, group=group, problem=problem))
    return commands


def command_path(template: str) -> tuple[str, ...]:
    """The literal words after `ankra`, up to the first placeholder, option or quoted text."""
    try:
        tokens = shlex.split(template)
    except ValueError:
        tokens = template.split()
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
        return None, "no command words after `ankra`"
    if path in _BY_PATH:
        return _BY_PATH[path].key, None
    for depth in range(len(path) - 1, 0, -1):
        spec = _BY_PATH.get(path[:depth])
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
    allowed: set[str] = set()
    for key in keys:
        spec = _BY_KEY.get(key)
        if spec is None:
            continue
        allowed.add(key)
        if spec.replaced_by:
            allowed.add(" ".join(spec.replaced_by))
        allowed.update(IMPLIED_COMMANDS.get(key, ()))
    return {k for k in allowed if k in _BY_KEY}


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
            if skill.status is SkillStatus.BROKEN:
                continue
            resolved = skill.resolved_commands
            lines.append(f"    commands: {len(resolved)} resolved"
                         + (f", {len(skill.unresolved_commands)} unresolved" if skill.unresolved_commands else ""))
            for command in skill.unresolved_commands:
                lines.append(f"      unresolved: `{command.template}` — {command.problem}")
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
