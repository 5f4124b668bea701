"""Stack commands: stacks list/history/delete/rename/clone/create, and cluster validate/apply."""

from __future__ import annotations

import copy
import re
import time
from pathlib import Path
from typing import Any

from . import render, stacks
from .context import Context, find_cluster
from .errors import USAGE, WAIT_TIMEOUT, CliError, not_found, usage
from .state import iso, now

STACK_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
CREATE_REMOVED = (
    "ankra cluster stacks create is no longer supported; use `ankra cluster apply -f "
    "cluster.yaml` to add new stacks via the cluster YAML"
)


def stack_view(stack: dict[str, Any]) -> dict[str, Any]:
    """A stack as `GET .../stacks` returns it."""
    return {
        "name": stack["name"],
        "description": stack.get("description", ""),
        "manifests": copy.deepcopy(stack.get("manifests", [])),
        "addons": copy.deepcopy(stack.get("addons", [])),
        "deploy_wave": stack.get("deploy_wave", 0),
        "state": stack.get("state", "up"),
        "created_at": stack.get("created_at"),
        "updated_at": stack.get("updated_at"),
    }


def _stack(cluster: dict[str, Any], name: str) -> dict[str, Any]:
    for stack in cluster.get("stacks", []):
        if stack["name"] == name:
            return stack
    raise not_found(f'stack "{name}" not found on cluster "{cluster["name"]}"')


def _history(stack: dict[str, Any], action: str, summary: str) -> None:
    history = stack.setdefault("history", [])
    history.append(
        {
            "revision": len(history) + 1,
            "action": action,
            "summary": summary,
            "author": "cli",
            "created_at": iso(now()),
        }
    )


def cmd_list(ctx: Context) -> int:
    """`cluster stacks list [stack]`."""
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        chosen = [_stack(cluster, ctx.args[0])] if ctx.args else cluster.get("stacks", [])
        views = [stack_view(s) for s in chosen]
    if ctx.fmt:
        render.dump(views[0] if ctx.args else views, ctx.fmt)
        return 0
    if not views:
        render.out(f'No stacks found on cluster "{cluster["name"]}".')
        return 0
    render.table(
        ["Name", "Description", "State", "Wave", "Manifests", "Addons"],
        [
            [
                v["name"],
                v["description"],
                render.state_cell(v["state"]),
                v["deploy_wave"],
                len(v["manifests"]),
                len(v["addons"]),
            ]
            for v in views
        ],
        title=f"Stacks on {cluster['name']}",
        styles={"State": "green"},
    )
    if ctx.args:
        view = views[0]
        if view["addons"]:
            render.table(
                ["Addon", "Chart", "Version", "Registry", "Namespace", "Parents"],
                [
                    [
                        a["name"],
                        a["chart_name"],
                        a["chart_version"],
                        a.get("registry_name") or "-",
                        a.get("namespace"),
                        _parents(a),
                    ]
                    for a in view["addons"]
                ],
            )
        if view["manifests"]:
            render.table(
                ["Manifest", "Parents", "Encrypted Paths"],
                [
                    [m["name"], _parents(m), ", ".join(m.get("encrypted_paths") or []) or "-"]
                    for m in view["manifests"]
                ],
            )
    return 0


def _parents(resource: dict[str, Any]) -> str:
    return ", ".join(f"{p['kind']}/{p['name']}" for p in resource.get("parents") or []) or "-"


def cmd_history(ctx: Context) -> int:
    """`cluster stacks history <stack>`."""
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        history = copy.deepcopy(_stack(cluster, ctx.args[0]).get("history", []))
    if ctx.fmt:
        render.dump(history, ctx.fmt)
        return 0
    render.table(
        ["Revision", "Action", "Summary", "Author", "When"],
        [
            [h["revision"], h["action"], h["summary"], h["author"], render.humanize(h["created_at"])]
            for h in reversed(history)
        ],
        title=f"History of stack {ctx.args[0]}",
    )
    return 0


def cmd_delete(ctx: Context) -> int:
    """`cluster stacks delete <stack> [--yes]` (prompted)."""
    name = ctx.args[0]
    ref = ctx.cluster_ref()
    with ctx.session() as state:
        cluster = find_cluster(state, ref)
        _stack(cluster, name)
    ctx.confirm(
        f'Delete stack "{name}" from cluster "{cluster["name"]}"? This removes every addon and '
        "manifest in the stack!",
        f'stack "{name}" was not deleted',
    )
    with ctx.session() as state:
        cluster = find_cluster(state, ref)
        cluster["stacks"].remove(_stack(cluster, name))
        cluster["updated_at"] = iso(now())
    render.out(f'Stack "{name}" deleted from cluster "{cluster["name"]}".')
    return 0


def cmd_rename(ctx: Context) -> int:
    """`cluster stacks rename <old> <new>`."""
    old, new = ctx.args
    if not STACK_NAME.match(new) or len(new) > 63:
        raise usage(f'invalid stack name "{new}": use lowercase letters, digits and "-" (at most 63)')
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        stack = _stack(cluster, old)
        if any(s["name"] == new for s in cluster["stacks"]):
            raise CliError(f'stack "{new}" already exists on cluster "{cluster["name"]}"')
        stack["name"] = new
        stack["updated_at"] = iso(now())
        _history(stack, "renamed", f'renamed from "{old}"')
    render.out(f'Stack "{old}" renamed to "{new}" on cluster "{cluster["name"]}".')
    return 0


def cmd_clone(ctx: Context) -> int:
    """`cluster stacks clone <stack> --to <cluster> [--name N]`."""
    name = ctx.args[0]
    new_name = ctx.flag("name") or name
    if not STACK_NAME.match(new_name) or len(new_name) > 63:
        raise usage(f'invalid stack name "{new_name}": use lowercase letters, digits and "-" (at most 63)')
    with ctx.session() as state:
        source = find_cluster(state, ctx.cluster_ref())
        stack = _stack(source, name)
        target = find_cluster(state, ctx.flag("to"))
        if any(s["name"] == new_name for s in target.get("stacks", [])):
            raise CliError(f'stack "{new_name}" already exists on cluster "{target["name"]}"')
        clone = copy.deepcopy(stack)
        moment = iso(now())
        clone.update(
            name=new_name,
            created_at=moment,
            updated_at=moment,
            history=[],
            state="up" if target["state"] == "running" else "pending",
        )
        _history(clone, "created", f'cloned from stack "{name}" of cluster "{source["name"]}"')
        target.setdefault("stacks", []).append(clone)
        target["updated_at"] = moment
    render.out(f'Stack "{name}" cloned to cluster "{target["name"]}" as "{new_name}".')
    return 0


def cmd_create(ctx: Context) -> int:
    """`cluster stacks create` was removed at v0.13: it only points to `cluster apply`."""
    raise CliError(CREATE_REMOVED, USAGE)


# -- ImportCluster YAML --------------------------------------------------------------------------


def _load(ctx: Context, state: Any) -> tuple[dict[str, Any], stacks.ImportResult, Path]:
    path = Path(ctx.flag("file")).expanduser()
    text = stacks.load_file(path)
    # A first pass finds the cluster named in the file (--cluster wins over metadata.name).
    named = stacks.validate(text, path.parent, set()).cluster_name
    ref = ctx.flag("cluster") or named
    if not ref:
        ref = ctx.cluster_ref()
    cluster = find_cluster(state, ref)
    result = stacks.validate(text, path.parent, stacks.namespaces_of(cluster.get("stacks", [])))
    return cluster, result, path


def _fail(result: stacks.ImportResult, path: Path) -> CliError:
    n = len(result.errors)
    return CliError(
        f"{path.name}: validation failed with {n} error(s)", detail=[f"  - {e}" for e in result.errors]
    )


def cmd_validate(ctx: Context) -> int:
    """`cluster validate -f FILE [--cluster C]`: the pre-flight, no changes."""
    with ctx.session() as state:
        cluster, result, path = _load(ctx, state)
    if ctx.fmt:
        render.dump(
            {
                "name": cluster["name"],
                "cluster_id": cluster["id"],
                "valid": not result.errors,
                "errors": result.errors,
            },
            ctx.fmt,
        )
        if result.errors:
            raise _fail(result, path)
        return 0
    if result.errors:
        raise _fail(result, path)
    n_stacks, n_manifests, n_addons = result.counts
    render.out(
        f'✓ {path.name} is valid for cluster "{cluster["name"]}": {n_stacks} stack(s), '
        f"{n_manifests} manifest(s), {n_addons} addon(s)"
    )
    return 0


def cmd_apply(ctx: Context) -> int:
    """`cluster apply -f FILE [--cluster C] [--dry-run] [--wait]`: create or update the file's stacks.

    Stacks are matched by name: a stack in the file replaces the stack of that name, others are
    added; stacks not in the file are left alone.
    """
    dry_run = bool(ctx.flag("dry_run"))
    timeout = _duration(ctx.flag("timeout") or "10m")
    stuck = bool(ctx.faults.get("apply_stuck"))
    with ctx.session() as state:
        cluster, result, path = _load(ctx, state)
        if result.errors:
            raise _fail(result, path)
        if cluster["state"] != "running" and not dry_run:
            raise CliError(
                f'cluster "{cluster["name"]}" is {cluster["state"]}: stacks can be applied once it is running'
            )
        existing = {s["name"]: s for s in cluster.get("stacks", [])}
        changes = []
        for new in sorted(result.stacks, key=lambda s: s["deploy_wave"]):
            old = existing.get(new["name"])
            changes.append(("updated" if old else "created", new))
        if not dry_run:
            moment = iso(now())
            for action, new in changes:
                old = existing.get(new["name"])
                record = {
                    **new,
                    "state": "deploying" if stuck else "up",
                    "created_at": old["created_at"] if old else moment,
                    "updated_at": moment,
                    "history": old.get("history", []) if old else [],
                }
                _history(
                    record,
                    action,
                    f"{len(new['manifests'])} manifest(s), {len(new['addons'])} addon(s) from cluster apply",
                )
                if old:
                    cluster["stacks"][cluster["stacks"].index(old)] = record
                else:
                    cluster.setdefault("stacks", []).append(record)
            cluster["updated_at"] = moment
    payload = {
        "name": cluster["name"],
        "cluster_id": cluster["id"],
        "errors": [],
        "dry_run": dry_run,
        "stacks": [
            {
                "name": s["name"],
                "action": a,
                "manifests": len(s["manifests"]),
                "addons": len(s["addons"]),
                "deploy_wave": s["deploy_wave"],
            }
            for a, s in changes
        ],
    }
    if ctx.fmt:
        render.dump(payload, ctx.fmt)
    else:
        prefix = "Dry run: would apply" if dry_run else "Applying"
        render.out(f'{prefix} {path.name} to cluster "{cluster["name"]}"')
        for action, s in changes:
            mark = "+" if action == "created" else "~"
            verb = ("would be " + action) if dry_run else action
            render.out(
                f"  {mark} stack {s['name']} (wave {s['deploy_wave']}): {len(s['manifests'])} "
                f"manifest(s), {len(s['addons'])} addon(s) {verb}"
            )
        if dry_run:
            render.out("Dry run: no changes made.")
        else:
            created = sum(1 for a, _ in changes if a == "created")
            render.out(
                f'Cluster "{cluster["name"]}" applied: {created} stack(s) created, '
                f"{len(changes) - created} updated."
            )
    if ctx.flag("wait") and not dry_run:
        return _wait(ctx, cluster["id"], [s["name"] for _, s in changes], timeout)
    return 0


def _wait(ctx: Context, cluster_id: str, names: list[str], timeout: float) -> int:
    """Poll until the applied stacks are up; exit 5 when the timeout passes first."""
    deadline = time.monotonic() + timeout
    while True:
        with ctx.session() as state:
            cluster = find_cluster(state, cluster_id)
            pending = [
                s["name"] for s in cluster.get("stacks", []) if s["name"] in names and s["state"] != "up"
            ]
        if not pending:
            if not ctx.fmt:
                render.out(f"✓ {len(names)} stack(s) up.")
            return 0
        if time.monotonic() >= deadline:
            raise CliError(
                f"timed out after {timeout:g}s waiting for stacks to become ready: {', '.join(pending)}",
                WAIT_TIMEOUT,
            )
        time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))


def _duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not match:
        raise usage(f'invalid --timeout "{text}": expected a duration such as 30s, 5m or 1h')
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
