"""Continuations: what the rules decide once the steps they asked for have run.

Each `ResumeRules` intent reads what its steps printed (JSON data first, else the table) and either
proposes the change, now that names are resolved to ids and checked, or answers why nothing needs to
run ("already revoked", "already 5 workers", "no stack called x on staging (stacks: …)").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hermes.catalog import display
from hermes_planner.decisions import Answer, ClusterFact, Context, Decision, PendingRequest, ResumeRules
from hermes_planner.engines.rules import plans
from hermes_planner.engines.rules.intents import INTENTS, build
from hermes_planner.engines.rules.resolvers import _ambiguous, _match, _near, _unknown_cluster, near_name
from hermes_planner.engines.rules.words import _ID_RE, _NAME_RE


@dataclass(frozen=True)
class StepOutput:
    """What one step printed, as the planner passes it to `resume`."""

    command: str
    exit_code: int | None
    stdout: str
    data: object | None = None


def resume(continuation: ResumeRules, outputs: list[StepOutput], context: Context | None = None) -> Decision:
    """The next decision of a multi-step run, from the outputs of the steps that ran."""
    params = continuation.params or {}
    out = outputs[-1] if outputs else None
    cluster = str(params.get("cluster") or "")
    if out is None or out.exit_code != 0:
        detail = ""
        if out is not None:
            first = next((ln.strip() for ln in (out.stdout or "").splitlines() if ln.strip()), "")
            detail = f" (exit {out.exit_code}{': ' + first[:200] if first else ''})"
        return Answer(f"I could not read what I needed for {cluster or 'this request'}{detail}, so I changed "
                      "nothing. Check the error above, then ask again.", kind="error")
    handler = _HANDLERS.get(continuation.intent)
    if handler is None:
        return Answer(f"I don't know how to continue “{continuation.intent}”, so I stopped here; nothing was "
                      "changed. Ask again in one message.", kind="error")
    return handler(params, out, context or Context())


def records(data: object) -> list[dict]:
    if isinstance(data, dict):
        for key in ("result", "clusters", "node_groups", "stacks", "tokens", "credentials", "items", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    return []


def table_rows(stdout: str) -> list[dict[str, str]]:
    """Rows of a box-drawn (│) or ASCII (|) table, keyed by lowercase header."""
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for line in (stdout or "").splitlines():
        if "│" not in line and "|" not in line:
            continue
        cells = [c.strip() for c in re.split(r"[│|]", line)[1:-1]]
        if not cells or all(not c for c in cells):
            continue
        if header is None:
            header = [c.lower() for c in cells]
            continue
        rows.append(dict(zip(header, cells, strict=False)))
    return rows


def _items(out: StepOutput) -> list[dict]:
    """The records a listing printed: its JSON data, else its table's rows."""
    return records(out.data) or [dict(r) for r in table_rows(out.stdout)]


# -- clusters ----------------------------------------------------------------------------------


def _lookup(params: dict, out: StepOutput, ctx: Context) -> Decision:
    from hermes_planner.engines.rules.resolvers import _Req

    cluster = str(params.get("cluster") or "")
    facts: list[ClusterFact] = []
    for r in _items(out):
        name = r.get("name")
        if isinstance(name, str) and name:
            provider = r.get("provider") or r.get("kind")
            facts.append(ClusterFact(name, str(provider).lower() if provider else None,
                                     str(r["id"]) if r.get("id") else None))
    lctx = Context(clusters=tuple(facts), profiles=ctx.profiles)
    req = _Req(cluster, lctx)
    if not req.words:
        return Answer("I could not tell which cluster you meant; nothing was changed. Name it, e.g. “Reconcile "
                      "the production cluster”.", kind="error")
    word = req.words[0]
    matches = _match(word, lctx.clusters or (), loose=True)
    if len({m.name for m in matches}) > 1:
        return _ambiguous(req.toks[0].orig, matches)
    if not matches:
        return _unknown_cluster(req, req.toks[0].orig, _near(word, lctx.clusters or ()))
    nxt = str(params.get("next") or "cluster.workers")
    rest = {k: v for k, v in params.items() if k not in ("cluster", "next")}
    return plans.with_fact(nxt, matches[0], rest)


def _parse_workers(out: StepOutput) -> int | None:
    data = out.data
    if isinstance(data, dict):
        for key in ("worker_count", "workers", "count"):
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.isdigit():
                return int(value)
    m = re.search(r"worker\s*count\s*:\s*(\d+)", out.stdout or "", flags=re.IGNORECASE)
    return int(m.group(1)) if m else None


def _direction(current: int | None, target: int) -> tuple[str, str]:
    """(word for the summary, lowercase direction): unknown counts as a scale down."""
    if current is None:
        return f"scale DOWN ? → {target} (direction unknown: treated as a scale down)", "down"
    if target > current:
        return f"scale up {current} → {target}", "up"
    return f"scale DOWN {current} → {target}", "down"


def _target(current: int | None, params: dict, what: str, name: str) -> tuple[int | None, Answer | None]:
    target, delta = params.get("target"), params.get("delta")
    if isinstance(target, int):
        return target, None
    if not isinstance(delta, int):
        return None, Answer(f"I don't know the target {what} count for {name}; nothing changed. Say the total, "
                            f"e.g. “Scale {name} to 3 {what}s”.", kind="error")
    if current is None:
        return None, Answer(f"I could not read the current {what} count of {name}, so I can't add or remove "
                            f"{what}s relative to it; nothing changed. Say the total, e.g. “Scale {name} to 5 "
                            f"{what}s”.", kind="error")
    if current + delta < 0:
        return None, Answer(f"{name} has {current} {what}s: I can't remove {-delta}; nothing changed.", kind="error")
    return current + delta, None


def _scale(params: dict, out: StepOutput, ctx: Context) -> Decision:
    cluster = str(params.get("cluster") or "")
    current = _parse_workers(out)
    target, problem = _target(current, params, "worker", cluster)
    if problem:
        return problem
    assert target is not None
    if target > plans.MAX_COUNT:
        return plans.too_many(target, "workers")
    cid = params.get("cluster_id") or (plans.fact_of(ctx, cluster) or ClusterFact(cluster)).id
    if not cid or not (_NAME_RE.match(cluster) or _ID_RE.match(cluster)):
        return Answer(f"I could not tell the id of the cluster to scale ({cluster or 'none named'}); nothing "
                      "changed. Say “List my Ankra clusters”, then ask again.", kind="error")
    if current is not None and current == target:
        return Answer(f"{cluster} already has {target} workers: nothing to do.")
    words, direction = _direction(current, target)
    argv = build("cluster scale", {"cluster": str(cid), "count": str(target)})
    current_text = str(current) if current is not None else "unknown"
    now = f"{cluster} has {current} workers now" if current is not None else \
        f"I could not read the current worker count of {cluster}"
    summary = (f"{now}; target {target}: {words}.\n"
               f"Command: `{display(argv)}` ({cluster})" + (" — a scale down waits for approval."
                                                           if direction == "down" else ""))
    return plans.run("cluster.scale", argv, f"Scale {cluster} {direction} from {current_text} to {target} workers",
                     cluster, summary=summary)


def _groups(out: StepOutput) -> list[tuple[str, int | None]]:
    found: list[tuple[str, int | None]] = []
    for r in _items(out):
        name = str(r.get("name") or "")
        count = None
        for key in ("count", "nodes", "node_count", "size"):
            value = r.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                count = value
                break
            if isinstance(value, str) and value.isdigit():
                count = int(value)
                break
        if name:
            found.append((name, count))
    return found


def _node_group(params: dict, out: StepOutput, ctx: Context, *, delete: bool) -> Decision:
    cluster = str(params.get("cluster") or "")
    group = str(params.get("group") or "")
    cid = params.get("cluster_id") or (plans.fact_of(ctx, cluster) or ClusterFact(cluster)).id or cluster
    if not group:
        return Answer(f"I don't know which node group of {cluster} you mean; nothing changed. Say for example "
                      f"“List the node groups of {cluster}”.", kind="error")
    groups = _groups(out)
    names = [g for g, _ in groups]
    current = next((c for g, c in groups if g == group), None)
    if names and group not in names:
        near = near_name(group, {g.lower(): g for g in names})
        hint = f" Did you mean “{near}”?" if near else ""
        return Answer(f"{cluster} has no node group called “{group}”.{hint} Its node groups: {', '.join(names)}.",
                      suggestions=[f"List the node groups of {cluster}"])
    if delete:
        argv = build("cluster node-group delete", {"cluster": str(cid), "group": group})
        return plans.run("cluster.node_group.delete", argv, f"Delete node group {group} from {cluster}", cluster,
                         summary=f"Delete node group {group} ({current if current is not None else '?'} nodes) "
                                 f"from {cluster}. Command: `{display(argv)}` — it runs only after approval.")
    target, problem = _target(current, params, "node", f"node group {group} on {cluster}")
    if problem:
        return problem
    assert target is not None
    if target > plans.MAX_COUNT:
        return plans.too_many(target, "nodes")
    if current is not None and current == target:
        return Answer(f"Node group {group} on {cluster} already has {target} nodes: nothing to do.")
    words, direction = _direction(current, target)
    argv = build("cluster node-group scale", {"cluster": str(cid), "group": group, "count": str(target)})
    current_text = str(current) if current is not None else "unknown"
    now = f"Node group {group} on {cluster} has {current} nodes now" if current is not None else \
        f"I could not read the current size of node group {group} on {cluster}"
    summary = (f"{now}; target {target}: {words}.\n"
               f"Command: `{display(argv)}` ({cluster})" + (" — a scale down waits for approval."
                                                           if direction == "down" else ""))
    return plans.run("cluster.node_group.scale", argv,
                     f"Scale node group {group} on {cluster} {direction} from {current_text} to {target} nodes",
                     cluster, summary=summary)


# -- stacks, tokens, credentials ---------------------------------------------------------------


def _stack(params: dict, out: StepOutput, ctx: Context) -> Decision:
    """A stack named for a change exists on its cluster (and a rename's new name is free)."""
    cluster, stack, nxt = str(params.get("cluster") or ""), str(params.get("stack") or ""), str(params.get("next"))
    names = [str(r.get("name")) for r in _items(out) if r.get("name")]
    if stack not in names:
        near = near_name(stack, {n.lower(): n for n in names})
        hint = f" Did you mean “{near}”?" if near else ""
        shown = ", ".join(names) if names else "none"
        return Answer(f"There is no stack called “{stack}” on {cluster}.{hint} Stacks on {cluster}: {shown}. "
                      "Nothing was changed.", suggestions=[f"List the stacks on {cluster}"])
    if nxt == "stacks.delete":
        argv = build("cluster stacks delete", {"stack": stack}, {"--cluster": cluster})
        return plans.run(nxt, argv, f"Delete stack {stack} from {cluster}", cluster,
                         summary=f"Delete stack {stack} from {cluster}: every addon and manifest in it goes. "
                                 f"Command: `{display(argv)}` — it runs only after approval.")
    if nxt == "stacks.rename":
        new = str(params.get("new_name") or "")
        if new in names:
            return Answer(f"{cluster} already has a stack called “{new}”: pick another name for {stack}.")
        argv = build("cluster stacks rename", {"stack": stack, "new_name": new}, {"--cluster": cluster})
        return plans.run(nxt, argv, f"Rename stack {stack} to {new} on {cluster}", cluster)
    if nxt == "stacks.clone":
        argv = build("cluster stacks clone", {"stack": stack},
                     {"--cluster": cluster, "--to": str(params.get("to")), "--name": params.get("as")})
        return plans.run(nxt, argv, f"Clone stack {stack} from {cluster} to {params.get('to')}", cluster)
    return Answer(f"I don't know how to continue “{nxt}” for stack {stack}; nothing was changed.", kind="error")


def _revoke(params: dict, out: StepOutput, ctx: Context) -> Decision:
    wanted = str(params.get("token") or "")
    tokens = _items(out)
    found = next((t for t in tokens if wanted in (str(t.get("id")), str(t.get("name")))), None)
    if found is None:
        found = next((t for t in tokens if wanted.lower() in (str(t.get("id")).lower(), str(t.get("name")).lower())),
                     None)
    if found is None:
        names = [str(t.get("name") or t.get("id")) for t in tokens if not _revoked(t)]
        near = near_name(wanted, {str(t.get("name")).lower(): str(t.get("name")) for t in tokens if t.get("name")})
        hint = f" Did you mean “{near}”?" if near else ""
        return Answer(f"There is no API token called “{wanted}”.{hint} Active tokens: {', '.join(names) or 'none'}. "
                      "Nothing was revoked.", suggestions=[f"Revoke token {near}"] if near else ["List my API tokens"])
    label = f"{found.get('name')} ({found.get('id')})" if found.get("name") else str(found.get("id"))
    if _revoked(found):
        return Answer(f"Token {label} is already revoked: nothing to do.")
    argv = build("tokens revoke", {"token_id": str(found.get("id"))})
    return plans.run("tokens.revoke", argv, f"Revoke API token {label}",
                     summary=f"Revoke API token {label}: anything using it stops working. "
                             f"Command: `{display(argv)}` — it runs only after approval.")


def _revoked(token: dict) -> bool:
    value = token.get("revoked")
    if isinstance(value, bool):
        return value
    return str(token.get("status") or "").lower() == "revoked" or bool(token.get("revoked_at"))


def _create(params: dict, out: StepOutput, ctx: Context) -> Decision:
    slots = dict(params.get("slots") or {})
    return plans.create(slots, credentials=_items(out))


_HANDLERS: dict[str, Any] = {
    "cluster.lookup": _lookup,
    "cluster.scale": _scale,
    "cluster.node_group.scale": lambda p, o, c: _node_group(p, o, c, delete=False),
    "cluster.node_group.delete": lambda p, o, c: _node_group(p, o, c, delete=True),
    "stacks.check": _stack,
    "tokens.revoke": _revoke,
    "cluster.create": _create,
}
assert set(_HANDLERS) - {"cluster.lookup", "stacks.check"} <= set(INTENTS)

__all__ = ["PendingRequest", "StepOutput", "records", "resume", "table_rows"]
