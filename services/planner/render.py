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


def _generic(step: StepResult) -> Rendered:
    if step.data is not None:
        return "", [CodeBlock(text=json.dumps(step.data, indent=2, ensure_ascii=False), language="json")]
    text = step.stdout.rstrip()
    return ("Done.", []) if not text else ("", [CodeBlock(text=text)])


RENDERERS: dict[str, Callable[[StepResult], Rendered]] = {
    "cluster list": _cluster_list,
    "cluster reconcile": _reconcile,
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
