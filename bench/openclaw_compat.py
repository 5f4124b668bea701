"""Does Hermes load the same skills OpenClaw loads?

    python bench/openclaw_compat.py DIR [DIR …] [--out bench/results/openclaw_compat.md] [--platform linux]

Every SKILL.md under each DIR is judged twice, each file on its own (no precedence between them):

* by Hermes's loader (`hermes.skills.parse_skill`, then its eligibility rules), and
* by a separate reading of OpenClaw's rules written here from OpenClaw's loader (`markdown/frontmatter.ts`,
  `agents/skills/frontmatter.ts`, `agents/skills/local-loader.ts`, `shared/config-eval.ts`): split the
  block at the first `\\n---`, read it as YAML (core schema) and line by line, merge, require a non-empty
  description, read `metadata.{openclaw,clawdbot,moltbot}` as JSON5, then `os` / `always` / `requires`.
  Only the YAML reading itself is shared with Hermes (`hermes.openclaw.frontmatter.load_yaml`).

Each side gives loaded, ineligible or broken (skipped by the loader); the figures say how often they
agree, and every disagreement is listed. The environment is fixed: no config file, no environment
variables, an empty PATH (so a binary counts only in OpenClaw's usual system folders), `--platform`.

Results go to `--out` as markdown (default bench/results/openclaw_compat.md).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "libs"))

import json5
from hermes.openclaw.frontmatter import DEFAULT_BINARY_PATHS, load_yaml
from hermes.skills import SkillRoot, SkillStatus, _judge, parse_skill

LOADED, INELIGIBLE, BROKEN = "loaded", "ineligible", "broken"
MAX_BYTES = 256_000


# ---------------------------------------------------------------------------------------------------
# OpenClaw's rules, read independently of Hermes's implementation.

_WS = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029" \
      "\u202f\u205f\u3000\ufeff"
_KEY_LINE = re.compile(r"^([A-Za-z0-9_-]+):[" + re.escape(_WS) + r"]*([^\n\r\u2028\u2029]*)$")


def _trim(text: str) -> str:
    return text.strip(_WS)


def _coerce(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _trim(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return None


def _by_lines(block: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = block.split("\n")
    index = 0
    while index < len(lines):
        match = _KEY_LINE.match(lines[index])
        if match is None:
            index += 1
            continue
        key, inline = match.group(1), _trim(match.group(2))
        if not inline and index + 1 < len(lines) and lines[index + 1][:1] in (" ", "\t"):
            end = index + 1
            while end < len(lines) and not (lines[end] and lines[end][0] not in " \t"):
                end += 1
            value = _trim("\n".join(lines[index + 1:end]))
            if value:
                out[key] = value
            index = end
            continue
        if len(inline) >= 1 and inline[0] == inline[-1] and inline[0] in "\"'":
            inline = inline[1:-1]
        if inline:
            out[key] = inline
        index += 1
    return out


def openclaw_frontmatter(text: str) -> dict[str, str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    block = text[4:end]
    lines = _by_lines(block)
    data, problem = load_yaml(block)
    if problem is not None or not isinstance(data, dict):
        return lines
    merged = {}
    for key, value in data.items():
        key = _trim(str(key)) if not isinstance(key, bool) else str(key).lower()
        coerced = _coerce(value)
        if key and coerced is not None:
            merged[key] = coerced
    for key, value in lines.items():
        if value[:1] in ("{", "[") or key in merged and merged[key].startswith("{") and "\n" not in value and value not in ("|", ">"):
            merged[key] = value
    return merged


def _list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [s for s in (_trim(v if isinstance(v, str) else json.dumps(v)) for v in value) if s]
    if isinstance(value, str):
        return [s for s in (_trim(p) for p in value.split(",")) if s]
    return []


def openclaw_manifest(front: dict[str, str]) -> dict[str, Any] | None:
    raw = front.get("metadata")
    if not raw:
        return None
    try:
        parsed = json5.loads(raw)
    except Exception:
        return None
    if not isinstance(parsed, dict):
        return None
    for key in ("openclaw", "clawdbot", "moltbot"):
        if isinstance(parsed.get(key), dict | list):
            return parsed[key] if isinstance(parsed[key], dict) else {}
    return None


def _has_bin(name: str) -> bool:
    return any(os.access(os.path.join(folder, name), os.X_OK) and os.path.isfile(os.path.join(folder, name))
               for folder in DEFAULT_BINARY_PATHS) if name and "/" not in name else False


def openclaw_verdict(file: Path, platform: str) -> tuple[str, dict[str, Any]]:
    try:
        if file.is_symlink() or file.stat().st_size > MAX_BYTES:
            return BROKEN, {}
        text = file.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return BROKEN, {}
    front = openclaw_frontmatter(text)
    name = _trim(front.get("name", "")) or _trim(file.parent.name)
    if not name or not _trim(front.get("description", "")):
        return BROKEN, {"name": name}
    meta = openclaw_manifest(front)
    info = {"name": name, "metadata": meta is not None}
    if meta is None:
        return LOADED, info
    osl = _list(meta.get("os"))
    if osl and platform not in osl:
        return INELIGIBLE, info
    if meta.get("always") is True:
        return LOADED, info
    req = meta.get("requires") if isinstance(meta.get("requires"), dict) else {}
    if not all(_has_bin(b) for b in _list(req.get("bins"))):
        return INELIGIBLE, info
    any_bins = _list(req.get("anyBins"))
    if any_bins and not any(_has_bin(b) for b in any_bins):
        return INELIGIBLE, info
    if _list(req.get("env")):  # no variable is set in this run
        return INELIGIBLE, info
    config = req.get("config")
    paths = ([c.strip() for c in config if isinstance(c, str) and c.strip()] if isinstance(config, list)
             else _list(config))
    if any(p not in ("browser.enabled", "browser.evaluateEnabled") for p in paths):
        return INELIGIBLE, info  # no config file: only the two defaulted paths are truthy
    return LOADED, info


# ---------------------------------------------------------------------------------------------------
# Hermes.


def hermes_verdict(file: Path, root: Path, platform: str) -> tuple[str, Any]:
    skill = parse_skill(file, SkillRoot(root, "extra"))
    if skill.status is SkillStatus.BROKEN:
        return BROKEN, skill
    _judge(skill, None, {"PATH": ""}, platform)
    return (LOADED if skill.status is SkillStatus.LOADED else INELIGIBLE), skill


# ---------------------------------------------------------------------------------------------------
# The run.


@dataclass
class Row:
    file: str
    hermes: str
    openclaw: str
    hermes_reason: str | None
    warnings: list[str]
    names_agree: bool


def run(directory: Path, platform: str) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as empty_path:
        os.environ["PATH"] = empty_path  # nothing on PATH: only the usual system folders count
        for file in sorted(directory.rglob("SKILL.md")):
            if any(part.startswith(".") or part == "node_modules" for part in file.relative_to(directory).parts):
                continue
            h, skill = hermes_verdict(file, directory, platform)
            o, info = openclaw_verdict(file, platform)
            rows.append(Row(file=str(file.relative_to(directory)), hermes=h, openclaw=o,
                            hermes_reason=skill.reason, warnings=list(skill.warnings),
                            names_agree=("name" not in info) or info["name"] == skill.name))
    return rows


def _warning_kind(text: str) -> str:
    kinds = (("not valid YAML", "YAML read line by line"), ("Agent Skills form", "name outside the spec form"),
             ("command-dispatch", "command-dispatch noted"), ("not JSON5", "metadata not JSON5 (ungated)"),
             ("oldest name", "metadata.clawdis (not read)"),
             ("characters; the Agent Skills limit", "description over 1,024 chars"),
             ("not valid UTF-8", "not UTF-8"))
    for needle, kind in kinds:
        if needle in text:
            return kind
    return "other"


def render(results: list[tuple[Path, str, list[Row]]], platform: str) -> str:
    out = ["# OpenClaw compatibility: which skills load", "",
           ("Generated by `python bench/openclaw_compat.py` (see its docstring for the method). Each SKILL.md is "
           "judged alone by Hermes's loader and by an independent reading of OpenClaw's loader rules, in a fixed "
           f"environment: platform `{platform}`, no config file, no environment variables, empty PATH (binaries "
           "count only in OpenClaw's usual system folders of the machine that ran it)."), ""]
    for directory, label, rows in results:
        total = len(rows)
        agree = sum(r.hermes == r.openclaw for r in rows)
        out += [f"## {label}", "", f"Directory: `{directory}` — {total} SKILL.md files.", "",
                "| | OpenClaw | Hermes | agree |", "|---|---:|---:|---:|"]
        for state in (LOADED, INELIGIBLE, BROKEN):
            o = sum(r.openclaw == state for r in rows)
            h = sum(r.hermes == state for r in rows)
            both = sum(r.openclaw == state and r.hermes == state for r in rows)
            out.append(f"| {state} | {o} | {h} | {both} |")
        pct = 100.0 * agree / total if total else 100.0
        out += ["", (f"**Agreement: {agree}/{total} ({pct:.2f}%).** Skill names agree on "
                    f"{sum(r.names_agree for r in rows)}/{total}."), ""]
        kinds = collections.Counter(_warning_kind(w) for r in rows for w in r.warnings)
        if kinds:
            out += ["Notes Hermes attaches (a skill OpenClaw accepts but a person should know about):", ""]
            out += [f"- {kind}: {count}" for kind, count in kinds.most_common()]
            out.append("")
        reasons = collections.Counter((r.hermes_reason or "").split(":")[0].split(" (")[0]
                                      for r in rows if r.hermes == BROKEN)
        if reasons:
            out += ["Why Hermes skips the broken ones:", ""]
            out += [f"- {reason}: {count}" for reason, count in reasons.most_common()]
            out.append("")
        disagreements = [r for r in rows if r.hermes != r.openclaw]
        if disagreements:
            out += ["Disagreements:", ""]
            out += [f"- `{r.file}`: OpenClaw {r.openclaw}, Hermes {r.hermes} ({r.hermes_reason})"
                    for r in disagreements]
            out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="directories holding skill folders")
    parser.add_argument("--label", action="append", default=[], help="a heading per directory (in order)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "openclaw_compat.md")
    parser.add_argument("--platform", default="linux", choices=["linux", "darwin", "win32"])
    args = parser.parse_args(argv)
    results = []
    for index, directory in enumerate(args.dirs):
        if not directory.is_dir():
            parser.error(f"{directory} is not a directory: pass a folder of skill folders (each holding SKILL.md)")
        label = args.label[index] if index < len(args.label) else str(directory)
        rows = run(directory, args.platform)
        results.append((directory, label, rows))
        agree = sum(r.hermes == r.openclaw for r in rows)
        print(f"{label}: {agree}/{len(rows)} agree", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, args.platform) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
