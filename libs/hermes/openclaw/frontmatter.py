"""A SKILL.md's frontmatter, read the way OpenClaw's skill loader reads it.

OpenClaw's rules (its `markdown/frontmatter.ts`, `agents/skills/frontmatter.ts`, `local-loader.ts` and
`config-eval.ts`), which decide whether a skill loads:

* The file must start with `---`; the block ends at the next line that starts with `---`. Without
  both there is no frontmatter (and so no description: the skill is skipped).
* The block is read twice: as YAML (the YAML 1.2 core schema: `yes`/`no` and dates stay text,
  duplicate keys are an error) and line by line (`key: value`, indented continuation lines).
  **Any** YAML error falls back to the line-by-line reading — most often an unquoted `: ` inside a
  description ("Triggers: order food"). When YAML parses, a line value that is a JSON object or
  array wins, and so does a plain line value where YAML made an object of an unquoted colon.
* Every value becomes text (mappings and lists as compact JSON). `name` falls back to the folder's
  name and is never checked; `description` must be non-empty. Nothing else makes a skill unusable.
* `metadata` is that text parsed as JSON5; its `openclaw` block (older names `clawdbot`, `moltbot`;
  the oldest, `clawdis`, is no longer read) gives `always` (a real boolean only), `os`, `requires.{bins, anyBins,
  env, config}`, `skillKey`, `primaryEnv`, `emoji`, `homepage`, `install`. Metadata that does not
  parse is simply absent: the skill still loads, ungated.
* Eligibility: `os` lists the platform; then `always: true`, or every requirement is met. A binary
  counts when it is on PATH or in the usual system folders (`/usr/bin`, `/opt/homebrew/bin`, …); a
  config path counts when truthy, and `browser.enabled` / `browser.evaluateEnabled` count as true
  when unset.

Nothing here raises on any input text.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import json5
import yaml

__all__ = [
    "DEFAULT_BINARY_PATHS",
    "DEFAULT_CONFIG_VALUES",
    "MANIFEST_KEYS",
    "MAX_SKILL_FILE_BYTES",
    "UNREAD_MANIFEST_KEYS",
    "Frontmatter",
    "Manifest",
    "config_path_truthy",
    "has_binary",
    "js_trim",
    "js_truthy",
    "missing_requirements",
    "parse_bool",
    "parse_frontmatter",
    "parse_line_frontmatter",
    "resolve_manifest",
    "split_frontmatter",
    "string_list",
]

# `metadata.<key>`: the current name first, then the runtime's older names (moltbot is the name of the
# release whose 50 bundled skills use it). The oldest name, clawdis, is read by no current runtime:
# a block under it is reported, not applied.
MANIFEST_KEYS = ("openclaw", "clawdbot", "moltbot")
UNREAD_MANIFEST_KEYS = ("clawdis",)
# Config paths a skill may require that OpenClaw treats as set when the config does not mention them.
DEFAULT_CONFIG_VALUES: dict[str, bool] = {"browser.enabled": True, "browser.evaluateEnabled": True}
# Folders OpenClaw also searches for a required binary on Linux and macOS, besides PATH.
DEFAULT_BINARY_PATHS = ("/opt/homebrew/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                        "/sbin", "/bin")
# OpenClaw does not read a SKILL.md larger than this (skills.limits.maxSkillFileBytes).
MAX_SKILL_FILE_BYTES = 256_000

# JavaScript's whitespace (String.prototype.trim and \s), which differs from Python's str.strip.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
            "\u2028\u2029\u202f\u205f\u3000\ufeff"
_S = "[" + re.escape(_JS_SPACE) + "]"
_LINE = re.compile(r"^([A-Za-z0-9_-]+):" + _S + r"*([^\n\r\u2028\u2029]*)$")


def js_trim(value: str) -> str:
    """`value.trim()` as JavaScript does it."""
    return value.strip(_JS_SPACE)


# ---------------------------------------------------------------------------------------------------
# The block.


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """(frontmatter block or None, body). The text must start with `---`; the block ends at the next
    line starting with `---`, and the body starts after that line."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normalized.startswith("---"):
        return None, normalized
    end = normalized.find("\n---", 3)
    if end == -1:
        return None, normalized
    block = normalized[4:end]
    after = normalized.find("\n", end + 1)
    body = "" if after == -1 else normalized[after + 1:]
    return block, body


# ---------------------------------------------------------------------------------------------------
# YAML, with the core schema of YAML 1.2 (what OpenClaw's parser uses).


class _CoreLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            raise yaml.constructor.ConstructorError(None, None, "expected a mapping", node.start_mark)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                key = json.dumps(key, separators=(",", ":"), ensure_ascii=False, default=str)
            if key in mapping:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (map keys must be unique)", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


_CoreLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+0123456789.")),
):
    _CoreLoader.add_implicit_resolver(_tag, re.compile(_pattern), _first)


def _core_int(loader: _CoreLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text, 0)
    return int(text)


def _core_float(loader: _CoreLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).lower()
    if text.endswith(".inf"):
        return -math.inf if text.startswith("-") else math.inf
    if text == ".nan":
        return math.nan
    return float(text)


def _core_bool(loader: _CoreLoader, node: yaml.ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


_CoreLoader.add_constructor("tag:yaml.org,2002:int", _core_int)
_CoreLoader.add_constructor("tag:yaml.org,2002:float", _core_float)
_CoreLoader.add_constructor("tag:yaml.org,2002:bool", _core_bool)
# Timestamps and `<<` merges are YAML 1.1: under the core schema they are plain text.
_CoreLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def load_yaml(block: str) -> tuple[Any, str | None]:
    """(data, problem) of a YAML block under the core schema; problem says where and what."""
    try:
        return yaml.load(block, Loader=_CoreLoader), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""  # +1 for `---`, +1 1-based
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, f"the frontmatter is not valid YAML{where}: {what}"
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. a very deep or odd document
        return None, f"the frontmatter is not valid YAML: {exc.__class__.__name__}"


def _js_number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _json_default(value: Any) -> Any:
    return str(value)


def _to_text(value: Any) -> str | None:
    """A frontmatter value as the text OpenClaw keeps (None: the key is dropped)."""
    if value is None:
        return None
    if isinstance(value, str):
        return js_trim(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _js_number(value)
    if isinstance(value, dict | list):
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default,
                              allow_nan=False)
        except ValueError:
            return json.dumps(_nan_to_null(value), separators=(",", ":"), ensure_ascii=False,
                              default=_json_default)
    return None


def _nan_to_null(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_null(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------
# Line by line.


def _strip_quotes(value: str) -> str:
    if len(value) >= 1 and ((value.startswith('"') and value.endswith('"'))
                            or (value.startswith("'") and value.endswith("'"))):
        return value[1:-1]
    return value


def parse_line_frontmatter(block: str) -> dict[str, str]:
    """`key: value` lines; an empty value followed by indented lines takes those lines (joined)."""
    out: dict[str, str] = {}
    lines = block.split("\n")
    i = 0
    while i < len(lines):
        match = _LINE.match(lines[i])
        if not match:
            i += 1
            continue
        key, inline = match.group(1), js_trim(match.group(2))
        if not inline and i + 1 < len(lines) and lines[i + 1].startswith((" ", "\t")):
            j = i + 1
            taken: list[str] = []
            while j < len(lines):
                line = lines[j]
                if line and not line.startswith((" ", "\t")):
                    break
                taken.append(line)
                j += 1
            value = js_trim("\n".join(taken))
            if value:
                out[key] = value
            i = j
            continue
        value = _strip_quotes(inline)
        if value:
            out[key] = value
        i += 1
    return out


# ---------------------------------------------------------------------------------------------------
# Both readings, merged.


@dataclass
class Frontmatter:
    """A frontmatter as OpenClaw sees it (`values`: every key as text) and as YAML sees it (`data`:
    the structured mapping when the block is valid YAML; None otherwise)."""

    values: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    present: bool = False  # the file has a `---` … `---` block
    yaml_problem: str | None = None  # why YAML failed and the line-by-line reading was used

    def get(self, key: str) -> str | None:
        return self.values.get(key)


def parse_frontmatter(text: str) -> tuple[Frontmatter, str]:
    """(frontmatter, body) of a SKILL.md's text."""
    block, body = split_frontmatter(text)
    if block is None:
        return Frontmatter(), body
    lines = parse_line_frontmatter(block)
    data, problem = load_yaml(block)
    if problem is None and not isinstance(data, dict):
        shape = "empty" if data is None else f"a {type(data).__name__}, not key: value pairs"
        problem = f"the frontmatter YAML is {shape}"
        data = None
    if data is None:
        return Frontmatter(values=lines, data=None, present=True, yaml_problem=problem), body
    values: dict[str, str] = {}
    structured: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = js_trim(str(raw_key)) if not isinstance(raw_key, bool) else ("true" if raw_key else "false")
        if isinstance(raw_key, int | float) and not isinstance(raw_key, bool):
            key = _js_number(raw_key)
        if not key:
            continue
        structured[key] = value
        text_value = _to_text(value)
        if text_value is not None:
            values[key] = text_value
    for key, value in lines.items():
        if value.startswith(("{", "[")):
            values[key] = value
        elif (key in values and values[key].startswith("{") and "\n" not in value
              and value not in ("|", ">")):
            values[key] = value  # YAML made an object of an unquoted colon: the plain text wins
    return Frontmatter(values=values, data=structured, present=True), body


# ---------------------------------------------------------------------------------------------------
# `metadata.openclaw`.


def string_list(value: Any) -> list[str]:
    """An array (each entry as text) or a comma-separated string, trimmed, empties dropped."""
    if isinstance(value, list):
        return [t for t in (js_trim(_js_string(v)) for v in value) if t]
    if isinstance(value, str):
        return [t for t in (js_trim(p) for p in value.split(",")) if t]
    return []


def _js_string(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _js_number(value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, list):
        return ",".join("" if v is None else _js_string(v) for v in value)
    return str(value)


def parse_bool(value: str | None, default: bool) -> bool:
    """true/1/yes/on and false/0/no/off (any case); anything else gives `default`."""
    if value is None:
        return default
    text = js_trim(value).lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    return default


@dataclass(frozen=True)
class Manifest:
    """The `metadata.<openclaw|clawdbot|moltbot|clawdis>` block, read as OpenClaw reads it."""

    key: str  # which block it came from
    always: bool | None = None
    skill_key: str | None = None
    primary_env: str | None = None
    emoji: str | None = None
    homepage: str | None = None
    os: tuple[str, ...] = ()
    bins: tuple[str, ...] = ()
    any_bins: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    config: tuple[str, ...] = ()
    install: tuple[dict[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)


def resolve_manifest(metadata_text: str | None) -> tuple[Manifest | None, str | None]:
    """(manifest or None, problem). The problem (metadata that is not JSON5) is only worth a warning:
    OpenClaw then reads no metadata, and so the skill is not gated."""
    if not metadata_text:
        return None, None
    try:
        parsed = json5.loads(metadata_text)
    except (ValueError, TypeError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        return None, f"`metadata` is not JSON5 ({detail}); its requirements are not applied"
    if not isinstance(parsed, dict):
        return None, None
    for key in MANIFEST_KEYS:
        block = parsed.get(key)
        if isinstance(block, dict | list):  # any object, even an empty one, is the block
            return _manifest(key, block if isinstance(block, dict) else {}), None
    for key in UNREAD_MANIFEST_KEYS:
        if isinstance(parsed.get(key), dict):
            return None, (f"`metadata.{key}` is the runtime's oldest name and is no longer read (by OpenClaw "
                          f"or Hermes): its requirements are not applied; rename it to `metadata.openclaw`")
    return None, None


def _manifest(key: str, block: Mapping[str, Any]) -> Manifest:
    requires = block.get("requires")
    requires = requires if isinstance(requires, dict) else {}
    config_raw = requires.get("config")
    if isinstance(config_raw, list):
        config = [js_trim(e) for e in config_raw if isinstance(e, str) and js_trim(e)]
    else:
        config = string_list(config_raw)
    install = block.get("install")

    def text(name: str) -> str | None:
        value = block.get(name)
        return value if isinstance(value, str) else None

    always = block.get("always")
    return Manifest(
        key=key,
        always=always if isinstance(always, bool) else None,
        skill_key=text("skillKey"),
        primary_env=text("primaryEnv"),
        emoji=text("emoji"),
        homepage=text("homepage"),
        os=tuple(string_list(block.get("os"))),
        bins=tuple(string_list(requires.get("bins"))),
        any_bins=tuple(string_list(requires.get("anyBins"))),
        env=tuple(string_list(requires.get("env"))),
        config=tuple(config),
        install=tuple(i for i in install if isinstance(i, dict)) if isinstance(install, list) else (),
        raw=dict(block),
    )


# ---------------------------------------------------------------------------------------------------
# Eligibility helpers.


def has_binary(name: str, path: str | None, platform: str) -> bool:
    """Is `name` an executable file in a folder of `path`, or (off Windows) in DEFAULT_BINARY_PATHS?"""
    folders = [p.strip() for p in (path or "").split(os.pathsep) if p.strip()]
    if platform != "win32":
        folders += [p for p in DEFAULT_BINARY_PATHS if p not in folders]
    if not name or "/" in name or name in (".", ".."):
        return False
    for folder in folders:
        candidate = Path(folder) / name
        try:
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return True
        except OSError:
            continue
    return False


def js_truthy(value: Any) -> bool:
    """OpenClaw's truthiness of a config value: null → false; booleans as they are; numbers ≠ 0;
    text when not blank; any object or array (even empty) → true."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return bool(js_trim(value))
    secret = getattr(value, "get_secret_value", None)
    if callable(secret):
        return bool(js_trim(str(secret())))
    return True


_MISSING = object()


def config_path_truthy(document: Mapping[str, Any] | None, dotted: str,
                       defaults: Mapping[str, bool] = DEFAULT_CONFIG_VALUES) -> bool:
    """Is the value at `dotted` truthy? Unset paths in `defaults` take their default."""
    node: Any = document if document is not None else _MISSING
    for part in (p for p in dotted.split(".") if p):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            node = _MISSING
            break
    if node is _MISSING:
        return bool(defaults.get(dotted, False))
    return js_truthy(node)


def missing_requirements(manifest: Manifest, *, path: str | None, platform: str,
                         has_env: Callable[[str], bool],
                         config_truthy: Callable[[str], bool]) -> list[str]:
    """What keeps a skill from being eligible ([] when eligible), in OpenClaw's order: `os`, then
    (unless `always`) bins, anyBins, env, config. `has_env(name)` and `config_truthy(path)` decide."""
    if manifest.os and platform not in manifest.os:
        return [f"runs on {', '.join(manifest.os)} only (this host is {platform})"]
    if manifest.always is True:
        return []
    problems: list[str] = []
    missing = [b for b in manifest.bins if not has_binary(b, path, platform)]
    if missing:
        problems.append("needs " + ", ".join(f"`{b}`" for b in missing) + " on PATH")
    if manifest.any_bins and not any(has_binary(b, path, platform) for b in manifest.any_bins):
        problems.append("needs one of " + ", ".join(f"`{b}`" for b in manifest.any_bins) + " on PATH")
    for name in manifest.env:
        if not has_env(name):
            problems.append(f"needs environment variable {name}")
    for dotted in manifest.config:
        if not config_truthy(dotted):
            problems.append(f"needs config {dotted} to be set (truthy)")
    return problems
