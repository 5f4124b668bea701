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
    # `cluster list -o json` items are ClusterListItem (internal/client/clusters.go:16-32): `kind` is the
    # provider, `nodes` counts control planes too; healthy is "online".
    rows = [
        [
            _cell(c.get("name")),
            _cell(c.get("kind")),
            _cell(c.get("state")),
            _cell(c.get("nodes")),
            _cell(c.get("id")),
        ]
        for c in clusters
    ]
    table = TableBlock(title="Clusters", columns=["NAME", "KIND", "STATE", "NODES", "ID"], rows=rows)
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
    """`chat health -o json`: {cluster_id, health_report: {status, score, issues, pod_stats, node_stats,
    evaluated_at}, ai_insights[], summary, generated_at} (internal/client/chat.go:52-87)."""
    data = step.data if isinstance(step.data, dict) else None
    report = data.get("health_report") if data is not None else None
    if not isinstance(report, dict):
        return _plain(step)
    head = f"status {report.get('status', '?')}, score {report.get('score', '?')}/100"
    pods = report.get("pod_stats") if isinstance(report.get("pod_stats"), dict) else {}
    nodes = report.get("node_stats") if isinstance(report.get("node_stats"), dict) else {}
    if pods:
        head += f"; pods {pods.get('running', '?')}/{pods.get('total', '?')} running"
    if nodes:
        head += f", nodes {nodes.get('ready', '?')}/{nodes.get('total', '?')} ready"
    issues = report.get("issues") if isinstance(report.get("issues"), list) else []
    blocks: list[Block] = []
    if issues:
        blocks.append(TableBlock(title="Issues", columns=["SEVERITY", "NAMESPACE", "ISSUE", "SUGGESTED"], rows=[
            [_cell(i.get("severity")), _cell(i.get("namespace")), _cell(i.get("title")),
             "; ".join(i.get("suggested_actions") or []) or "-"] for i in issues if isinstance(i, dict)]))
    insights = data.get("ai_insights") if isinstance(data.get("ai_insights"), list) else []
    if insights:
        blocks.append(TableBlock(title="Root causes (Ankra AI)", columns=["SEVERITY", "FINDING", "ROOT CAUSE"], rows=[
            [_cell(i.get("severity")), _cell(i.get("title")), _cell(i.get("root_cause_analysis"))]
            for i in insights if isinstance(i, dict)]))
    summary = data.get("summary")
    return (f"{head}\n{summary}" if isinstance(summary, str) and summary else head), blocks


def _workers(step: StepResult) -> Rendered:
    """`cluster <provider> workers -o json`: {worker_count, min, max}."""
    if isinstance(step.data, dict) and "worker_count" in step.data:
        d = step.data
        return f"{d.get('worker_count')} workers (min {_cell(d.get('min'))}, max {_cell(d.get('max'))}).", []
    return _plain(step)


def _change(step: StepResult) -> Rendered:
    """A write's JSON: an asynchronous submission, or its result (counts before and after)."""
    d = step.data
    if not isinstance(d, dict):
        return _plain(step)
    if d.get("submitted"):
        return (f"{d.get('operation', 'The change')} was submitted and runs in the background; "
                "follow it with `ankra cluster operations list`."), []
    if "previous_count" in d and "new_count" in d:
        what = f"node group {d['group_name']}" if d.get("group_name") else "workers"
        if d["previous_count"] == d["new_count"]:
            return f"{what}: already {d['new_count']}, nothing changed.", []
        return f"{what}: scaled from {d['previous_count']} to {d['new_count']}.", []
    if "group_name" in d and "count" in d:
        return f"node group {d['group_name']} created with {d['count']} node(s).", []
    if "group_name" in d and "deleted" in d:
        return f"node group {d['group_name']} deleted, {d['deleted']} node(s) removed.", []
    if "cluster_id" in d and "name" in d and not d.get("errors"):
        return (f"configuration of {d['name']} applied; add-on deploys continue in the background "
                "(`ankra cluster operations list`)."), []
    return _generic(step)


def _k8s_items(step: StepResult) -> list[dict[str, Any]]:
    data = step.data
    if isinstance(data, dict) and isinstance(data.get("resource_responses"), list):
        return [i for r in data["resource_responses"] if isinstance(r, dict) for i in _items(r, "items")]
    return _items(data, "items")


def _pod_status(obj: dict[str, Any]) -> str:
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    for c in status.get("containerStatuses") or []:
        waiting = ((c or {}).get("state") or {}).get("waiting")
        if isinstance(waiting, dict) and waiting.get("reason"):
            return str(waiting["reason"])
    return _cell(status.get("phase"))


def _restarts(obj: dict[str, Any]) -> str:
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    counts = [c.get("restartCount", 0) for c in status.get("containerStatuses") or [] if isinstance(c, dict)]
    return str(sum(counts)) if counts else "-"


def _k8s_get(step: StepResult) -> Rendered:
    items = _k8s_items(step)
    if not items:
        return (_generic(step) if step.data is None else ("Nothing found.", []))
    rows = [[_cell((i.get("metadata") or {}).get("namespace")), _cell((i.get("metadata") or {}).get("name")),
             _cell(i.get("kind")), _pod_status(i), _restarts(i)] for i in items]
    return "", [TableBlock(columns=["NAMESPACE", "NAME", "KIND", "STATUS", "RESTARTS"], rows=rows)]


def _events(step: StepResult) -> Rendered:
    events = _items(step.data, "items", "events")
    if not events:
        return (_generic(step) if step.data is None else ("No events found.", []))
    rows = [[_cell(e.get("type")), _cell(e.get("reason")),
             f"{_cell((e.get('involvedObject') or {}).get('kind')).lower()}/{_cell((e.get('involvedObject') or {}).get('name'))}",
             _cell((e.get("involvedObject") or {}).get("namespace")), _cell(e.get("count")), _cell(e.get("message"))]
            for e in events]
    warnings = sum(1 for e in events if e.get("type") == "Warning")
    return f"{len(events)} event(s), {warnings} warning(s).", [
        TableBlock(title="Events", columns=["TYPE", "REASON", "OBJECT", "NAMESPACE", "COUNT", "MESSAGE"], rows=rows)]


def _logs(step: StepResult) -> Rendered:
    entries = _items(step.data)
    if not entries:
        return _plain(step)
    text = "\n".join(f"{e.get('pod')}/{e.get('container')}: {line}" if len(entries) > 1 else str(line)
                     for e in entries for line in (e.get("lines") or []))
    return "", [CodeBlock(text=text or "(no log lines)")]


def _metrics(step: StepResult) -> Rendered:
    data = step.data if isinstance(step.data, dict) else None
    if data is None:
        return _plain(step)
    series = [s for s in data.get("result") or [] if isinstance(s, dict)]
    if not series:
        return "The query matched no series.", []
    rows = [[", ".join(f"{k}={v}" for k, v in (s.get("metric") or {}).items()) or "-",
             _cell((s.get("value") or [None, None])[1])] for s in series]
    note = " (truncated)" if data.get("truncated") else ""
    return f"{len(series)} series{note}.", [TableBlock(columns=["SERIES", "VALUE"], rows=rows)]


def _top(step: StepResult) -> Rendered:
    items = _items(step.data, "items")
    if not items:
        return (_generic(step) if step.data is None else ("No metrics available yet.", []))
    rows = []
    for i in items:
        meta = i.get("metadata") or {}
        usage = i.get("usage") or {}
        if not usage and isinstance(i.get("containers"), list) and i["containers"]:
            usage = (i["containers"][0] or {}).get("usage") or {}
        rows.append([_cell(meta.get("namespace")), _cell(meta.get("name")), _cell(usage.get("cpu")),
                     _cell(usage.get("memory"))])
    return "", [TableBlock(columns=["NAMESPACE", "NAME", "CPU", "MEMORY"], rows=rows)]


def _describe(step: StepResult) -> Rendered:
    data = step.data if isinstance(step.data, dict) else None
    if data is None or not isinstance(data.get("object"), dict):
        return _plain(step)
    obj = data["object"]
    meta = obj.get("metadata") or {}
    head = f"{_cell(obj.get('kind'))} {_cell(meta.get('namespace'))}/{_cell(meta.get('name'))}: {_pod_status(obj)}"
    events = [e for e in data.get("events") or [] if isinstance(e, dict)]
    blocks: list[Block] = []
    if events:
        blocks.append(TableBlock(title="Events", columns=["TYPE", "REASON", "MESSAGE"], rows=[
            [_cell(e.get("type")), _cell(e.get("reason")), _cell(e.get("message"))] for e in events]))
    return head, blocks


def _generic(step: StepResult) -> Rendered:
    if step.data is not None:
        return "", [CodeBlock(text=json.dumps(step.data, indent=2, ensure_ascii=False), language="json")]
    text = step.stdout.rstrip()
    return ("Done.", []) if not text else ("", [CodeBlock(text=text)])


def _stack_history(step: StepResult) -> Rendered:
    """`cluster stacks history -o json` (GetStackHistoryResponse, internal/client/stacks.go:55-79): one
    row per stored version of each member, as the CLI's own table shows it."""
    items = _items(step.data, "history")
    rows = [[_cell(item.get("resource_name")), _cell(item.get("resource_type")), _cell(v.get("change_type")),
             _cell(v.get("created_at")),
             _cell(v.get("user_name") or v.get("external_user") or v.get("user_id"))]
            for item in items for v in item.get("version_history") or [] if isinstance(v, dict)]
    if not rows:
        return "No history found for this stack.", []
    return "", [TableBlock(title="Stack history", columns=["RESOURCE", "TYPE", "CHANGE", "WHEN", "BY"], rows=rows)]


RENDERERS: dict[str, Callable[[StepResult], Rendered]] = {
    "cluster stacks history": _stack_history,
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
    "tokens list": _columns([("ID", _field("id")), ("NAME", _field("name")),
                             ("STATUS", lambda t: "revoked" if t.get("revoked") else "active"),
                             ("CREATED", _field("created_at")), ("EXPIRES", _field("expires_at")),
                             ("LAST USED", _field("last_used_at", "last_used"))]),
    "cluster node-group list": _columns([("NAME", _field("name")), ("COUNT", _field("count")),
                                         ("INSTANCE TYPE", _field("instance_type")), ("MIN", _field("min")),
                                         ("MAX", _field("max"))]),
    "cluster hetzner node-group list": _columns([("NAME", _field("name")), ("COUNT", _field("count")),
                                                 ("INSTANCE TYPE", _field("instance_type")), ("MIN", _field("min")),
                                                 ("MAX", _field("max"))]),
    "cluster operations list": _columns([("ID", _field("id")), ("NAME", _field("display_name", "name")),
                                         ("STATUS", _field("status")),
                                         ("STEPS ✓/✗/⟳", lambda o: "/".join(
                                             str((o.get("step_summary") or {}).get(k, "-"))
                                             for k in ("succeeded", "failed", "running"))),
                                         ("ERROR", _field("error_excerpt")), ("CREATED", _field("created_at"))]),
    "alerts destinations list": _columns([("ID", _field("id")), ("NAME", _field("name")),
                                          ("TYPE", _field("integration_type")),
                                          ("ENABLED", lambda d: "yes" if d.get("enabled") else "no")]),
    "alerts routes list": _columns([("ID", _field("id")), ("DESTINATION", _field("destination_id")),
                                    ("SEVERITY", _field("severity")), ("KINDS", _count("kinds")),
                                    ("ENABLED", lambda r: "yes" if r.get("enabled") else "no")]),
    "cluster get": _k8s_get,
    "cluster events": _events,
    "cluster logs": _logs,
    "cluster metrics query": _metrics,
    "cluster top nodes": _top,
    "cluster top pods": _top,
    "cluster describe": _describe,
    "cluster scale": _change,
    "cluster node-group add": _change,
    "cluster node-group scale": _change,
    "cluster node-group delete": _change,
    "cluster apply": _change,
    "chat": _plain,
    "chat health": _health,
    **{f"cluster {p} workers": _workers for p in ("hetzner", "ovh", "upcloud", "digitalocean", "proxmox",
                                                  "morpheus")},
    **{f"cluster {p} scale": _change for p in ("hetzner", "ovh", "upcloud", "digitalocean")},
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
