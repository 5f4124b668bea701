"""Stack commands: stacks list/history/delete/rename/clone/create, and cluster validate/apply."""

from __future__ import annotations

import copy
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from . import render, stacks
from .context import Context, find_cluster
from .errors import CliError, not_found, usage
from .state import iso, now
from .waits import parse_duration, wait_for_write

STACK_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DEFAULT_APPLY_SECONDS = 2.0  # how long an emulated apply's deploy operation runs


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


def _history_view(stack: dict[str, Any]) -> dict[str, Any]:
    """The stack's history as `stacks history -o json` prints it (GetStackHistoryResponse,
    internal/client/stacks.go:55-79): grouped per member (addon or manifest), newest version first.
    The emulator records changes per stack; each member carries the stack's changes."""
    versions = [
        {"version_id": f"v{h['revision']}", "created_at": h["created_at"], "delta": [{"summary": h["summary"]}],
         "user_id": "", "user_name": h.get("author"), "external_user": None, "change_type": h["action"]}
        for h in reversed(stack.get("history", []))
    ]
    members = [("addon", a["name"]) for a in stack.get("addons", [])] + \
              [("manifest", m["name"]) for m in stack.get("manifests", [])]
    return {"history": [
        {"resource_name": name, "resource_type": kind,
         "resource_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stack['name']}/{kind}/{name}")),
         "version_history": copy.deepcopy(versions)}
        for kind, name in members
    ]}


def cmd_history(ctx: Context) -> int:
    """`cluster stacks history <stack>` (cmd/cluster_stacks.go:266-330)."""
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        view = _history_view(_stack(cluster, ctx.args[0]))
    if ctx.fmt:
        render.dump(view, ctx.fmt)
        return 0
    if not view["history"]:
        render.out(f"No history found for stack '{ctx.args[0]}'.")
        return 0
    render.out(f"History for stack '{ctx.args[0]}':")
    render.out("")
    render.table(
        ["Resource", "Type", "Change Type", "Created At", "Created By"],
        [
            [item["resource_name"], item["resource_type"], v["change_type"] or "-",
             render.humanize(v["created_at"]), v["user_name"] or v["external_user"] or v["user_id"] or "-"]
            for item in view["history"] for v in item["version_history"]
        ],
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
            state="up" if target["state"] == "online" else "pending",
        )
        _history(clone, "created", f'cloned from stack "{name}" of cluster "{source["name"]}"')
        target.setdefault("stacks", []).append(clone)
        target["updated_at"] = moment
    render.out(f'Stack "{name}" cloned to cluster "{target["name"]}" as "{new_name}".')
    return 0


# -- ImportCluster YAML --------------------------------------------------------------------------


def _load(ctx: Context, state: Any, *, by_flag: bool) -> tuple[dict[str, Any], stacks.ImportResult, Path]:
    """The file, its checks, and the cluster: `validate` may name one with --cluster
    (cmd/cluster_validate.go:45-53); `apply` always targets metadata.name (the persistent --cluster is
    ignored, cmd/apply.go:56-107)."""
    path = Path(ctx.flag("file")).expanduser()
    text = stacks.load_file(path)
    named = stacks.validate(text, path.parent, set()).cluster_name
    ref = (ctx.flag("cluster") if by_flag else None) or named
    if not ref:
        raise CliError(f'invalid ImportCluster in "{ctx.flag("file")}":\n  metadata.name is required')
    cluster = find_cluster(state, ref)
    result = stacks.validate(text, path.parent, stacks.namespaces_of(cluster.get("stacks", [])))
    return cluster, result, path


def _print_errors(title: str, errors: list[str]) -> None:
    """Per-resource details on stderr, as the CLI prints the server's errors."""
    render.err(title)
    for error in errors:
        render.err(f"- {error}")


def cmd_validate(ctx: Context) -> int:
    """`cluster validate -f FILE [--cluster C] [--strict-secrets]` (cmd/cluster_validate.go:39-103):
    details go to stderr, then `Error: validation failed for "<file>"` (exit 1)."""
    shown = ctx.flag("file")
    with ctx.session() as state:
        _cluster, result, _path = _load(ctx, state, by_flag=True)
    if ctx.fmt:
        render.dump({"valid": not result.errors, "errors": result.errors, "warnings": []}, ctx.fmt)
        if result.errors:
            raise CliError(f'validation failed for "{shown}"')
        return 0
    if result.errors:
        _print_errors(f'Validation failed for "{shown}":', result.errors)
        raise CliError(f'validation failed for "{shown}"')
    render.out(f'Validation passed for "{shown}"; no changes applied.')
    return 0


def cmd_apply(ctx: Context) -> int:
    """`cluster apply -f FILE [--dry-run] [--allow-repoint[-destroying-data]] [--wait [--timeout D]]`
    (cmd/apply.go:56-157).

    The file is the cluster's whole desired state: stacks it declares are created or replaced, and
    stacks it no longer declares are pruned (CHANGELOG v0.13.0-rc0; the ankra-import-cluster skill).
    `metadata.name` names the cluster; the persistent --cluster is ignored. A name no cluster has imports
    a new cluster (POST /api/v1/clusters/import, internal/client/clusters.go:415-443): kind `imported`,
    state `offline` until its agent connects, stacks `pending`; with --wait the CLI prints
    "Cluster '<name>' imported!" and the agent install command (cmd/apply.go:141-155).
    The write is asynchronous: without --wait the CLI prints "Cluster apply submitted." and returns; the
    deploy runs as an operation (`ankra cluster operations list`) that finishes after `apply_seconds`
    (a fault setting, default 2). --wait waits for the configuration write only, never for the deploys,
    and exits 5 when --timeout passes first (waits.py).
    """
    shown = ctx.flag("file")
    dry_run = bool(ctx.flag("dry_run"))
    parse_duration(str(ctx.flag("timeout") or "10m"))
    path = Path(shown).expanduser()
    text = stacks.load_file(path)
    named = stacks.validate(text, path.parent, set()).cluster_name
    if not named:
        raise CliError(f'invalid ImportCluster in "{shown}":\n  \'metadata.name\' is required (this is the '
                       "cluster name)")
    # cmd/apply.go:74-86: checked after the file is read, before the resource graph.
    if ctx.flag("allow_repoint_destroying_data") and not ctx.flag("allow_repoint"):
        raise CliError("--allow-repoint-destroying-data requires --allow-repoint")
    with ctx.session() as state:
        cluster = next((c for c in state.clusters if c["name"] == named), None)
        existing_ns = stacks.namespaces_of(cluster.get("stacks", [])) if cluster else set()
        result = stacks.validate(text, path.parent, existing_ns)
        if result.errors:
            if ctx.fmt:
                render.dump({"name": named, "cluster_id": cluster["id"] if cluster else "", "import_command": "",
                             "errors": result.errors}, ctx.fmt)
            else:
                _print_errors("Import failed with the following issues:", result.errors)
            raise CliError("import failed")
        if dry_run:
            render.out(f'Validation succeeded for "{shown}"; no changes applied (--dry-run).')
            return 0
        moment = now()
        imported = cluster is None
        if imported:
            cluster = _import_cluster(state, named, result, moment, ctx.extra.get("base_url", "https://platform.ankra.app"))
        # An imported cluster whose agent never connected stores its configuration; nothing deploys yet.
        awaiting = cluster.get("kind") == "imported" and cluster["state"] == "offline"
        if awaiting:
            pass
        elif cluster["state"] != "online":
            raise CliError(
                f'applying cluster: cluster "{cluster["name"]}" is {cluster["state"]}: stacks can be applied '
                "once it is online"
            )
        existing = {s["name"]: s for s in cluster.get("stacks", [])}
        declared = {s["name"] for s in result.stacks}
        pruned = [name for name in existing if name not in declared]
        op_id = str(uuid.uuid4())
        seconds = float(ctx.faults.get("apply_seconds", DEFAULT_APPLY_SECONDS))
        new_stacks = []
        for new in sorted(result.stacks, key=lambda s: s["deploy_wave"]):
            old = existing.get(new["name"])
            record = {
                **new,
                # A new cluster's stacks wait for its agent; nothing deploys until it connects.
                "state": "pending" if awaiting else "deploying",
                "operation_id": None if awaiting else op_id,
                "created_at": old["created_at"] if old else iso(moment),
                "updated_at": iso(moment),
                "history": old.get("history", []) if old else [],
            }
            _history(record, "updated" if old else "created",
                     f"{len(new['manifests'])} manifest(s), {len(new['addons'])} addon(s) from cluster apply")
            new_stacks.append(record)
        cluster["stacks"] = new_stacks
        cluster["updated_at"] = iso(moment)
        if not awaiting:
            cluster.setdefault("operations", []).append({
                "id": op_id, "name": f"cluster apply {Path(shown).name}", "type": "cluster_apply",
                "status": "running", "steps": {"succeeded": 0, "failed": 0, "running": len(new_stacks) or 1},
                "error": None, "created_at": iso(moment), "updated_at": iso(moment),
                "ready_at": iso(moment + timedelta(seconds=seconds)),
                "stacks": [s["name"] for s in new_stacks], "pruned": pruned,
            })
    if not ctx.flag("wait"):
        if ctx.fmt:
            render.dump({"submitted": True, "operation": "Cluster apply",
                         "hint": "re-run with --wait to block until completion and see the full result"}, ctx.fmt)
            return 0
        render.out("Cluster apply submitted.")
        render.out("The platform is applying changes in the background.")
        render.out("Re-run the same command with --wait to block until completion and see the full result.")
        render.out("Avoid submitting the same change again while it may still be running "
                   "(duplicate node groups can double cost).")
        render.out("For a new cluster, the agent install command is only shown when you use --wait.")
        return 0
    wait_for_write(ctx, "applying cluster", "POST", "/api/v1/clusters/import")
    base = ctx.extra.get("base_url", "https://platform.ankra.app")
    command = cluster.get("import_command", "") if imported else ""
    if ctx.fmt:
        render.dump({"name": cluster["name"], "cluster_id": cluster["id"], "import_command": command}, ctx.fmt)
        return 0
    if not command:
        render.out(f"Cluster '{cluster['name']}' configuration applied.")
        render.out("")
        render.out("Add-on and manifest deploys run in the background from here.")
        render.out("Track them with 'ankra cluster operations list' before treating this as deployed.")
    else:
        render.out(f"Cluster '{cluster['name']}' imported!")
        render.out("")
        render.out("To install the Ankra agent, run:")
        render.out(" ".join(command.split()))
    render.out("")
    render.out("View it in the UI:")
    render.out(f"  {base}/organisation/clusters/cluster/imported/{cluster['id']}/overview")
    return 0


def _import_cluster(
    state: Any, name: str, result: stacks.ImportResult, moment: Any, base: str
) -> dict[str, Any]:
    """A cluster imported by `cluster apply`: no nodes known until its agent connects. Its import
    command is the agent's Helm install (the shape of internal/client/agent_test.go:41-43)."""
    cluster_id = str(uuid.uuid4())
    token = "ank_cai_" + uuid.uuid4().hex
    cluster = {
        "id": cluster_id,
        "name": name,
        "description": result.description or "",
        "environment": "",
        "state": "offline",
        "state_since": iso(moment),
        "kind": "imported",
        "kube_version": None,
        "control_planes": 0,
        "node_groups": [],
        "created_at": iso(moment),
        "updated_at": iso(moment),
        "stacks": [],
        "operations": [],
        "incidents": [],
        "last_reconciled_at": None,
        "import_command": (
            "helm upgrade --install ankra-agent oci://registry.ankra.cloud/ankra/ankra-agent --version 2.1.439 "
            f"--set config.ankra_url={base} --set config.token={token} "
            "--namespace=ankra --create-namespace"
        ),
    }
    state.clusters.append(cluster)
    return cluster
