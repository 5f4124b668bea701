"""Rendering of execution results as replies: tables for lists, sentences for actions.

Pure functions: an `ExecutionResult` in, text and blocks out. Rendering is keyed on the catalog
command of each step, so it does not depend on how the request was phrased.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hermes.catalog import display
from hermes.contracts import Block, CodeBlock, ExecutionResult, StepResult, TableBlock

Rendered = tuple[str, list[Block]]


def _items(data: Any, *keys: str) -> list[dict[str, Any]]:
    """The list of objects in an API answer: a bare list or under one of `keys`."""
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    if isinstance(data, dict):
        for key in keys:
            if isinstance(data.get(key), list):
                return [d for d in data[key] if isinstance(d, dict)]
    return []


def _cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def _cluster_list(step: StepResult) -> Rendered:
    clusters = _items(step.data, "result", "clusters", "items")
    if not clusters:
        if step.data is None and step.stdout.strip():
            return "", [CodeBlock(text=step.stdout.rstrip())]
        return "No clusters found.", []
    rows = [
        [
            _cell(c.get("name")),
            _cell(c.get("provider") or c.get("kind")),
            _cell(c.get("state")),
            _cell(c.get("workers", c.get("nodes"))),
        ]
        for c in clusters
    ]
    table = TableBlock(title="Clusters", columns=["NAME", "PROVIDER", "STATE", "WORKERS"], rows=rows)
    return "", [table]


def _reconcile(step: StepResult) -> Rendered:
    created = None
    if isinstance(step.data, dict):
        created = step.data.get("created_operations", step.data.get("operations"))
    if isinstance(created, list):
        created = len(created)
    if isinstance(created, int):
        if created == 0:
            return "reconciliation triggered: no operations created, the stored state is already in sync.", []
        return f"reconciliation triggered: {created} operation(s) created.", []
    lines = [line.strip() for line in step.stdout.splitlines() if line.strip()]
    if any("triggered" in line.lower() for line in lines):
        return "reconciliation triggered.\n" + "\n".join(lines), []
    return "\n".join(lines) or "reconciliation requested.", []


def _columns(spec: list[tuple[str, Callable[[dict[str, Any]], Any]]]) -> Callable[[StepResult], Rendered]:
    """A renderer that shows the listed objects of a step as a table with the given columns."""

    def render(step: StepResult) -> Rendered:
        items = _items(step.data, "result", "stacks", "charts", "credentials", "tokens", "node_groups", "items")
        if not items:
            return (_generic(step) if step.data is None else ("Nothing found.", []))
        rows = [[_cell(get(item)) for _, get in spec] for item in items]
        return "", [TableBlock(columns=[name for name, _ in spec], rows=rows)]

    return render


def _count(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda item: len(item.get(key) or []) if isinstance(item.get(key), list) else item.get(key)


def _field(*keys: str) -> Callable[[dict[str, Any]], Any]:
    def get(item: dict[str, Any]) -> Any:
        for key in keys:
            if item.get(key) not in (None, ""):
                return item[key]
        return None
    return get


def _object(step: StepResult) -> Rendered:
    """One object (e.g. `cluster info`): its scalar fields as a two-column table."""
    if not isinstance(step.data, dict):
        return _generic(step)
    rows = [[str(k), _cell(v)] for k, v in step.data.items() if not isinstance(v, dict | list)]
    return "", [TableBlock(columns=["FIELD", "VALUE"], rows=rows)]


def _plain(step: StepResult) -> Rendered:
    """Text meant for a person (Ankra AI's answers, worker counts): shown as text."""
    return step.stdout.strip() or "Done.", []


def _health(step: StepResult) -> Rendered:
    data = step.data if isinstance(step.data, dict) else None
    if data is None:
        return _plain(step)
    head = f"status {data.get('status', '?')}, score {data.get('score', '?')}"
    issues = data.get("issues") if isinstance(data.get("issues"), list) else []
    blocks: list[Block] = []
    if issues:
        blocks.append(TableBlock(title="Issues", columns=["SEVERITY", "NAMESPACE", "ISSUE", "SUGGESTED"], rows=[
            [_cell(i.get("severity")), _cell(i.get("namespace")), _cell(i.get("title")),
             "; ".join(i.get("suggested_actions") or []) or "-"] for i in issues if isinstance(i, dict)]))
    analysis = data.get("ai_analysis") or data.get("analysis")
    return (f"{head}\n{analysis}" if isinstance(analysis, str) else head), blocks


def _generic(step: StepResult) -> Rendered:
    if step.data is not None:
        return "", [CodeBlock(text=json.dumps(step.data, indent=2, ensure_ascii=False), language="json")]
    text = step.stdout.rstrip()
    return ("Done.", []) if not text else ("", [CodeBlock(text=text)])


RENDERERS: dict[str, Callable[[StepResult], Rendered]] = {
    "cluster list": _cluster_list,
    "cluster reconcile": _reconcile,
    "cluster info": _object,
    "credentials get": _object,
    "charts info": _object,
    "cluster stacks list": _columns([("NAME", _field("name")), ("DESCRIPTION", _field("description")),
                                     ("STATE", _field("state")), ("WAVE", _field("deploy_wave")),
                                     ("MANIFESTS", _count("manifests")), ("ADDONS", _count("addons"))]),
    "charts list": _columns([("NAME", _field("name")), ("VERSION", _field("version")),
                             ("REPOSITORY", _field("repository_name", "repository_url")),
                             ("DESCRIPTION", _field("description"))]),
    "charts search": _columns([("NAME", _field("name")), ("VERSION", _field("version")),
                               ("REPOSITORY", _field("repository_name", "repository_url")),
                               ("DESCRIPTION", _field("description"))]),
    "credentials list": _columns([("ID", _field("id")), ("NAME", _field("name")),
                                  ("PROVIDER", _field("provider")), ("STATE", _field("state"))]),
    "tokens list": _columns([("ID", _field("id")), ("NAME", _field("name")), ("STATUS", _field("status")),
                             ("CREATED", _field("created_at")), ("EXPIRES", _field("expires_at")),
                             ("LAST USED", _field("last_used_at", "last_used"))]),
    "cluster node-group list": _columns([("NAME", _field("name")), ("COUNT", _field("count", "node_count")),
                                         ("SERVER TYPE", _field("server_type", "instance_type"))]),
    "cluster hetzner node-group list": _columns([("NAME", _field("name")),
                                                 ("COUNT", _field("count", "node_count")),
                                                 ("SERVER TYPE", _field("server_type", "instance_type"))]),
    "chat": _plain,
    "chat health": _health,
    "cluster hetzner workers": _plain,
    "cluster ovh workers": _plain,
    "cluster upcloud workers": _plain,
}


def failure_text(step: StepResult) -> str:
    """A person-readable sentence for a step that did not succeed."""
    shown = f"`{display(step.argv)}`"
    if step.outcome == "timeout":
        return f"{shown} did not finish in time and was stopped. {step.error or ''}".strip()
    if step.outcome == "refused":
        return f"{shown} was refused before it ran: {step.error}"
    if step.outcome == "unknown":
        return f"{shown}: outcome unknown — {step.error or 'check before retrying'}"
    detail = step.error or step.stderr.strip() or step.stdout.strip() or "no output"
    code = f" (exit code {step.exit_code})" if step.exit_code is not None else ""
    return f"{shown} failed{code}: {detail}"


def render_result(result: ExecutionResult) -> tuple[str, list[Block], bool]:
    """Text, blocks and whether it is an error, for the reply that ends a turn."""
    texts: list[str] = []
    blocks: list[Block] = []
    failed = False
    for step in result.steps:
        if step.outcome != "ok":
            failed = True
            texts.append(failure_text(step))
            continue
        renderer = RENDERERS.get(step.command, _generic)
        text, step_blocks = renderer(step)
        head = f"Ran `{display(step.argv)}`"
        texts.append(f"{head}: {text}" if text else f"{head}:")
        if step.truncated:
            texts.append("(output was longer than the cap and was cut)")
        blocks.extend(step_blocks)
    if not result.steps:
        failed = True
        texts.append(result.error or "The order was not run.")
    elif result.error and result.outcome != "ok":
        texts.append(result.error)
    return "\n".join(texts), blocks, failed
