"""Cluster commands: list, info, get, select, reconcile, scale, workers, node groups, deprovision,
and the provider create commands."""

from __future__ import annotations

import re
import sys
import uuid
from typing import Any

from . import render
from .context import Context, find_cluster
from .errors import CliError, not_found, usage
from .health import report, workers
from .state import State, iso, now

PROVIDER_TITLES = {"hetzner": "Hetzner", "ovh": "OVH", "upcloud": "UpCloud"}
LOCATIONS = {
    "hetzner": ["fsn1", "nbg1", "hel1", "ash", "hil", "sin"],
    "ovh": ["GRA7", "GRA9", "GRA11", "SBG5", "BHS5", "DE1", "UK1", "WAW1"],
    "upcloud": [
        "de-fra1",
        "fi-hel1",
        "fi-hel2",
        "nl-ams1",
        "uk-lon1",
        "pl-waw1",
        "es-mad1",
        "se-sto1",
        "us-nyc1",
        "us-chi1",
        "us-sjo1",
        "sg-sin1",
        "au-syd1",
    ],
}
DEFAULT_SERVER_TYPES = {
    "hetzner": ("cx33", "cx23"),
    "ovh": ("b3-8", "b3-8"),
    "upcloud": ("2xCPU-4GB", "2xCPU-4GB"),
}
KUBE_VERSIONS = ["v1.30.8", "v1.31.4", "v1.32.1"]
DEFAULT_KUBE_VERSION = "v1.31.4"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SORT_FIELDS = {
    "name": "name",
    "environment": "environment",
    "state": "state",
    "kind": "kind",
    "provider": "provider",
    "nodes": "nodes",
    "workers": "workers",
    "control_planes": "control_planes",
    "kube_version": "kube_version",
    "created": "created_at",
    "created_at": "created_at",
}


def cluster_view(cluster: dict[str, Any]) -> dict[str, Any]:
    """A cluster as the API returns it (plus provider and workers, which Hermes shows)."""
    w = workers(cluster)
    cp = int(cluster.get("control_planes", 1))
    return {
        "id": cluster["id"],
        "name": cluster["name"],
        "state": cluster["state"],
        "description": cluster.get("description", ""),
        "environment": cluster.get("environment", ""),
        "kube_version": cluster.get("kube_version"),
        "control_planes": cp,
        "nodes": w + cp,
        "created_at": cluster["created_at"],
        "kind": cluster.get("kind"),
        "provider": cluster.get("provider"),
        "workers": w,
        "min_workers": cluster.get("min_workers"),
        "max_workers": cluster.get("max_workers"),
        "location": cluster.get("location"),
        "credential_id": cluster.get("credential_id"),
        "stack_count": len(cluster.get("stacks", [])),
        "updated_at": cluster.get("updated_at"),
        "last_reconciled_at": cluster.get("last_reconciled_at"),
    }


def _require_running(cluster: dict[str, Any], doing: str) -> None:
    if cluster["state"] != "running":
        raise CliError(
            f'cluster "{cluster["name"]}" is {cluster["state"]}: cannot {doing} until it is running'
        )


# -- read commands -------------------------------------------------------------------------------


def cmd_list(ctx: Context) -> int:
    """`cluster list [-o json|yaml] [--sort F --order asc|desc]`."""
    sort, order = ctx.flag("sort"), (ctx.flag("order") or "asc").lower()
    if order not in ("asc", "desc"):
        raise usage(f'invalid --order "{order}" (expected asc or desc)')
    if sort and sort not in SORT_FIELDS:
        raise usage(f'invalid --sort field "{sort}" (expected one of: {", ".join(sorted(SORT_FIELDS))})')
    with ctx.session() as state:
        views = [cluster_view(c) for c in state.clusters]
    if sort or ctx.given("order"):
        key = SORT_FIELDS[sort or "name"]
        views.sort(key=lambda v: (v[key] is None, v[key]), reverse=order == "desc")
    if ctx.fmt:
        render.dump(views, ctx.fmt)
        return 0
    if not views:
        render.out("No clusters found.")
        return 0
    render.table(
        ["Name", "Environment", "Kube Version", "Nodes", "Control Planes", "State", "Kind", "Created"],
        [
            [
                v["name"],
                v["environment"],
                v["kube_version"],
                v["nodes"],
                v["control_planes"],
                v["state"],
                v["kind"],
                render.humanize(v["created_at"]),
            ]
            for v in views
        ],
        styles={"State": "green", "Name": "bold"},
    )
    return 0


def cmd_info(ctx: Context) -> int:
    """`cluster info [name]`: a cluster's details."""
    ref = ctx.cluster_ref(ctx.args[0] if ctx.args else None)
    with ctx.session() as state:
        cluster = find_cluster(state, ref)
        view = cluster_view(cluster)
        groups = [dict(g) for g in cluster.get("node_groups", [])]
    if ctx.fmt:
        render.dump({**view, "node_groups": groups}, ctx.fmt)
        return 0
    render.key_values(
        [
            ("Name", view["name"]),
            ("ID", view["id"]),
            ("State", view["state"]),
            ("Description", view["description"]),
            ("Environment", view["environment"]),
            ("Provider", view["provider"]),
            ("Kind", view["kind"]),
            ("Location", view["location"]),
            ("Kube Version", view["kube_version"]),
            ("Control Planes", view["control_planes"]),
            ("Workers", f"{view['workers']} (min {view['min_workers']}, max {view['max_workers']})"),
            ("Nodes", view["nodes"]),
            (
                "Node Groups",
                ", ".join(f"{g['name']} ({g['count']}x {g['server_type']})" for g in groups) or "-",
            ),
            ("Stacks", view["stack_count"]),
            ("Last Reconciled", render.humanize(view["last_reconciled_at"])),
            ("Created", f"{render.humanize(view['created_at'])} ({view['created_at']})"),
        ]
    )
    return 0


def kubernetes_resources(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects `cluster get` lists (v0.13): nodes, namespaces, workloads, pods."""
    import yaml

    created = cluster["created_at"]
    out: list[dict[str, Any]] = []
    ready = "Ready" if cluster["state"] == "running" else "NotReady"
    for i in range(int(cluster.get("control_planes", 1))):
        out.append(
            {
                "kind": "Node",
                "namespace": "",
                "name": f"{cluster['name']}-control-plane-{i + 1}",
                "status": ready,
                "created_at": created,
            }
        )
    for group in cluster.get("node_groups", []):
        for i in range(int(group["count"])):
            out.append(
                {
                    "kind": "Node",
                    "namespace": "",
                    "name": f"{cluster['name']}-{group['name']}-{i + 1}",
                    "status": ready,
                    "created_at": group.get("created_at", created),
                }
            )
    for stack in cluster.get("stacks", []):
        for manifest in stack.get("manifests", []):
            try:
                objects = list(yaml.safe_load_all(manifest.get("manifest") or ""))
            except yaml.YAMLError:
                continue
            for obj in objects:
                if isinstance(obj, dict) and obj.get("kind"):
                    meta = obj.get("metadata") or {}
                    out.append(
                        {
                            "kind": obj["kind"],
                            "namespace": meta.get("namespace", ""),
                            "name": meta.get("name", ""),
                            "status": "Active" if obj["kind"] == "Namespace" else "Synced",
                            "created_at": stack.get("updated_at", created),
                        }
                    )
        for addon in stack.get("addons", []):
            out.append(
                {
                    "kind": "HelmRelease",
                    "namespace": addon.get("namespace", ""),
                    "name": addon["name"],
                    "status": "Deployed" if stack.get("state") == "up" else stack.get("state"),
                    "created_at": stack.get("updated_at", created),
                }
            )
    for incident in cluster.get("incidents", []):
        out.append(
            {
                "kind": "Pod",
                "namespace": incident["namespace"],
                "name": incident["pod"],
                "status": incident["status"],
                "created_at": cluster.get("updated_at", created),
            }
        )
    return out


def cmd_get(ctx: Context) -> int:
    """`cluster get [name]` (v0.13): the cluster's Kubernetes resources."""
    ref = ctx.cluster_ref(ctx.args[0] if ctx.args else None)
    with ctx.session() as state:
        cluster = find_cluster(state, ref)
        resources = kubernetes_resources(cluster)
    if ctx.fmt:
        render.dump(resources, ctx.fmt)
        return 0
    render.table(
        ["Kind", "Namespace", "Name", "Status", "Age"],
        [
            [r["kind"], r["namespace"] or "-", r["name"], r["status"], render.humanize(r["created_at"])]
            for r in resources
        ],
        title=f"Resources in cluster {cluster['name']}",
    )
    return 0


def cmd_select(ctx: Context) -> int:
    """`cluster select <name>`: save the active cluster (interactive without a name)."""
    import json

    ref = ctx.args[0] if ctx.args else ctx.flag("name")
    with ctx.session() as state:
        if not ref:
            ref = _pick(state)
        cluster = find_cluster(state, ref)
    path = ctx.selection_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {"cluster_id": cluster["id"], "cluster_name": cluster["name"], "selected_at": iso(now())},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    render.out(f"Selected cluster: {cluster['name']} is now active.")
    return 0


def _pick(state: State) -> str:
    """The interactive picker of `cluster select` with no name."""
    if not sys.stdin.isatty():
        raise usage(
            "cluster select without a name opens an interactive picker and needs a terminal; "
            "pass the cluster: ankra cluster select <name>"
        )
    for i, cluster in enumerate(state.clusters, 1):
        render.out(f"  {i}) {cluster['name']} ({cluster['state']})")
    sys.stdout.write("Select a cluster: ")
    sys.stdout.flush()
    choice = sys.stdin.readline().strip()
    if choice.isdigit() and 1 <= int(choice) <= len(state.clusters):
        return state.clusters[int(choice) - 1]["id"]
    return choice


# -- reconcile and scaling -------------------------------------------------------------------------


def cmd_reconcile(ctx: Context) -> int:
    """`cluster reconcile [name]`: one operation per stack; none when the cluster has no stacks."""
    ref = ctx.cluster_ref(ctx.args[0] if ctx.args else None)
    with ctx.session() as state:
        cluster = find_cluster(state, ref)
        if not ctx.fmt:
            render.out(f"Triggering reconciliation for cluster: {cluster['name']}")
        _require_running(cluster, "reconcile it")
        moment = iso(now())
        created = []
        for stack in cluster.get("stacks", []):
            op = {
                "id": str(uuid.uuid4()),
                "type": "reconcile",
                "stack": stack["name"],
                "state": "completed",
                "created_at": moment,
            }
            created.append(op)
            _history(stack, "reconciled", "reconciliation triggered from the CLI")
        cluster.setdefault("operations", []).extend(created)
        cluster["last_reconciled_at"] = moment
    if ctx.fmt:
        render.dump({"cluster_id": cluster["id"], "created_operations": len(created)}, ctx.fmt)
    elif created:
        render.out(f"Reconciliation triggered: {len(created)} operation(s) created")
    else:
        render.out("Reconciliation triggered: no operations created - stored state is already in sync")
    return 0


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


def _count(text: str, what: str) -> int:
    if not re.fullmatch(r"\d{1,6}", text):
        raise usage(f'invalid {what} "{text}": expected a whole number')
    return int(text)


def _provider_cluster(state: State, ref: str, provider: str | None) -> dict[str, Any]:
    cluster = find_cluster(state, ref)
    if provider and cluster.get("provider") != provider:
        raise not_found(
            f'{PROVIDER_TITLES[provider]} cluster "{ref}" not found '
            f"(it is a {cluster.get('provider')} cluster)"
        )
    return cluster


def cmd_scale(ctx: Context, provider: str | None = None) -> int:
    """`cluster scale <cluster> <n>` and the deprecated `cluster <provider> scale <id> <n>`."""
    ref, count_text = ctx.args
    target = _count(count_text, "worker count")
    with ctx.session() as state:
        cluster = _provider_cluster(state, ref, provider)
        _require_running(cluster, "scale it")
        lo, hi = int(cluster.get("min_workers", 0)), int(cluster.get("max_workers", 100))
        if not lo <= target <= hi:
            raise CliError(
                f"worker count {target} is outside the allowed range for cluster "
                f'"{cluster["name"]}" (min {lo}, max {hi})'
            )
        previous = workers(cluster)
        groups = cluster["node_groups"]
        rest = previous - int(groups[0]["count"])
        if target - rest < 0:
            raise CliError(
                f"cannot scale to {target}: the other node groups already have {rest} workers; "
                "scale them with `ankra cluster node-group scale`"
            )
        groups[0]["count"] = target - rest
        cluster["updated_at"] = iso(now())
    if ctx.fmt:
        render.dump({"previous_count": previous, "new_count": target}, ctx.fmt)
    else:
        render.out(f"Cluster '{cluster['name']}' workers scaled from {previous} to {target}.")
    return 0


def cmd_workers(ctx: Context, provider: str) -> int:
    """`cluster <provider> workers <id>`: `Worker Count / Min / Max`."""
    with ctx.session() as state:
        cluster = _provider_cluster(state, ctx.args[0], provider)
        data = {
            "worker_count": workers(cluster),
            "min": cluster.get("min_workers"),
            "max": cluster.get("max_workers"),
        }
    if ctx.fmt:
        render.dump(data, ctx.fmt)
    else:
        render.out(f"Worker Count: {data['worker_count']}")
        render.out(f"Min: {data['min']}")
        render.out(f"Max: {data['max']}")
    return 0


# -- node groups ---------------------------------------------------------------------------------


def _group(cluster: dict[str, Any], name: str) -> dict[str, Any]:
    for group in cluster.get("node_groups", []):
        if group["name"] == name:
            return group
    raise not_found(f'node group "{name}" not found on cluster "{cluster["name"]}"')


def cmd_ng_list(ctx: Context, provider: str | None = None) -> int:
    """`cluster node-group list <cluster>`."""
    with ctx.session() as state:
        cluster = _provider_cluster(state, ctx.args[0], provider)
        groups = [dict(g) for g in cluster.get("node_groups", [])]
    if ctx.fmt:
        render.dump(groups, ctx.fmt)
        return 0
    render.table(
        ["Name", "Server Type", "Nodes", "Min", "Max", "Created"],
        [
            [g["name"], g["server_type"], g["count"], g["min"], g["max"], render.humanize(g["created_at"])]
            for g in groups
        ],
    )
    return 0


def cmd_ng_add(ctx: Context, provider: str | None = None) -> int:
    """`cluster node-group add <cluster> <group> [--count N] [--server-type T]`."""
    ref, name = ctx.args
    count = ctx.flag("count") if ctx.flag("count") is not None else 1
    if count < 0:
        raise usage(f'invalid --count "{count}": expected a whole number')
    if not NAME_RE.match(name) or len(name) > 63:
        raise usage(f'invalid node group name "{name}": use lowercase letters, digits and "-"')
    with ctx.session() as state:
        cluster = _provider_cluster(state, ref, provider)
        _require_running(cluster, "add a node group")
        if any(g["name"] == name for g in cluster["node_groups"]):
            raise CliError(f'node group "{name}" already exists on cluster "{cluster["name"]}"')
        server_type = ctx.flag("server_type") or cluster["node_groups"][0]["server_type"]
        group = {
            "name": name,
            "server_type": server_type,
            "count": count,
            "min": ctx.flag("min") if ctx.flag("min") is not None else 0,
            "max": ctx.flag("max") if ctx.flag("max") is not None else max(10, count),
            "created_at": iso(now()),
        }
        cluster["node_groups"].append(group)
        cluster["updated_at"] = iso(now())
    if ctx.fmt:
        render.dump(group, ctx.fmt)
    else:
        render.out(
            f"Node group '{name}' added to cluster '{cluster['name']}' with {count} node(s) "
            f"of type {server_type}."
        )
    return 0


def cmd_ng_scale(ctx: Context, provider: str | None = None) -> int:
    """`cluster node-group scale <cluster> <group> <count>`."""
    ref, name, count_text = ctx.args
    target = _count(count_text, "node count")
    with ctx.session() as state:
        cluster = _provider_cluster(state, ref, provider)
        _require_running(cluster, "scale it")
        group = _group(cluster, name)
        if not int(group["min"]) <= target <= int(group["max"]):
            raise CliError(
                f'node count {target} is outside the allowed range for node group "{name}" '
                f"(min {group['min']}, max {group['max']})"
            )
        previous = int(group["count"])
        group["count"] = target
        cluster["updated_at"] = iso(now())
    if ctx.fmt:
        render.dump({"node_group": name, "previous_count": previous, "new_count": target}, ctx.fmt)
    else:
        render.out(f"Node group '{name}' scaled from {previous} to {target}.")
    return 0


def cmd_ng_delete(ctx: Context, provider: str | None = None) -> int:
    """`cluster node-group delete <cluster> <group> [--yes]` (prompted)."""
    ref, name = ctx.args
    with ctx.session() as state:
        cluster = _provider_cluster(state, ref, provider)
        _group(cluster, name)
        if len(cluster["node_groups"]) == 1:
            raise CliError(
                f'node group "{name}" is the last one of cluster "{cluster["name"]}"; '
                "deprovision the cluster instead"
            )
    ctx.confirm(
        f'Delete node group "{name}" from cluster "{cluster["name"]}"? Its nodes are drained and removed!',
        f'node group "{name}" was not deleted',
    )
    with ctx.session() as state:
        cluster = _provider_cluster(state, ref, provider)
        group = _group(cluster, name)
        cluster["node_groups"].remove(group)
        cluster["updated_at"] = iso(now())
    render.out(f"Node group '{name}' deleted from cluster '{cluster['name']}'.")
    return 0


# -- lifecycle -----------------------------------------------------------------------------------


def cmd_deprovision(ctx: Context, provider: str | None = None) -> int:
    """`cluster deprovision [name|id] [--force] [--yes]` and `cluster <provider> deprovision <id>`."""
    ref = ctx.cluster_ref(ctx.args[0] if ctx.args else None)
    force = bool(ctx.flag("force"))
    with ctx.session() as state:
        cluster = _provider_cluster(state, ref, provider)
        if cluster["state"] == "deprovisioning" and not force:
            raise CliError(
                f'cluster "{cluster["name"]}" is already being deprovisioned (use --force to remove it now)'
            )
    ctx.confirm(
        f'Deprovision cluster "{cluster["name"]}"? This deletes its servers, volumes and load balancers!',
        f'cluster "{cluster["name"]}" was not deprovisioned',
    )
    with ctx.session() as state:
        cluster = _provider_cluster(state, ref, provider)
        if force:
            state.clusters.remove(cluster)
            cluster["state"] = "deprovisioned"
        else:
            cluster["state"] = "deprovisioning"
            cluster["state_since"] = iso(now())
            cluster["updated_at"] = iso(now())
    if ctx.fmt:
        render.dump({"id": cluster["id"], "name": cluster["name"], "state": cluster["state"]}, ctx.fmt)
    elif force:
        render.out(f"Cluster '{cluster['name']}' deprovisioned (forced).")
    else:
        render.out(f"Cluster '{cluster['name']}' is being deprovisioned.")
    return 0


def cmd_create(ctx: Context, provider: str) -> int:
    """`cluster hetzner|ovh|upcloud create ...`: a new cluster in state provisioning."""
    name = ctx.flag("name")
    location = ctx.flag({"hetzner": "location", "ovh": "region", "upcloud": "zone"}[provider])
    if not NAME_RE.match(name) or len(name) > 63:
        raise usage(f'invalid cluster name "{name}": use lowercase letters, digits and "-" (at most 63)')
    worker_count = ctx.flag("worker_count") if ctx.flag("worker_count") is not None else 1
    cp_count = ctx.flag("control_plane_count") if ctx.flag("control_plane_count") is not None else 1
    if not 1 <= worker_count <= 100:
        raise usage(f"invalid --worker-count {worker_count}: expected 1 to 100")
    if cp_count not in (1, 3, 5):
        raise usage(f"invalid --control-plane-count {cp_count}: expected 1, 3 or 5")
    version = ctx.flag("kubernetes_version") or DEFAULT_KUBE_VERSION
    version = version if version.startswith("v") else "v" + version
    if version not in KUBE_VERSIONS:
        raise CliError(
            f'Kubernetes version "{version}" is not available (available: {", ".join(KUBE_VERSIONS)})'
        )
    if location not in LOCATIONS[provider]:
        raise CliError(
            f'{PROVIDER_TITLES[provider]} location "{location}" is not available '
            f"(available: {', '.join(LOCATIONS[provider])})"
        )
    worker_type, cp_type = DEFAULT_SERVER_TYPES[provider]
    with ctx.session() as state:
        if any(c["name"] == name for c in state.clusters):
            raise CliError(f'a cluster named "{name}" already exists')
        _credential(state, ctx.flag("credential_id"), provider)
        ssh_key = ctx.flag("ssh_key_credential_id")
        if ssh_key:
            _credential(state, ssh_key, "ssh_key")
        moment = iso(now())
        cluster = {
            "id": str(uuid.uuid4()),
            "name": name,
            "description": ctx.flag("description") or "",
            "environment": ctx.flag("environment") or "",
            "state": "provisioning",
            "state_since": moment,
            "provider": provider,
            "kind": provider,
            "kube_version": version,
            "control_planes": cp_count,
            "control_plane_server_type": ctx.flag("control_plane_server_type") or cp_type,
            "location": location,
            "credential_id": ctx.flag("credential_id"),
            "ssh_key_credential_id": ssh_key,
            "min_workers": 1,
            "max_workers": max(10, worker_count),
            "node_groups": [
                {
                    "name": "workers",
                    "server_type": ctx.flag("worker_server_type") or worker_type,
                    "count": worker_count,
                    "min": 1,
                    "max": max(10, worker_count),
                    "created_at": moment,
                }
            ],
            "created_at": moment,
            "updated_at": moment,
            "stacks": [],
            "operations": [],
            "incidents": [],
            "last_reconciled_at": None,
        }
        state.clusters.append(cluster)
    if ctx.fmt:
        render.dump(cluster_view(cluster), ctx.fmt)
        return 0
    render.out(f"{PROVIDER_TITLES[provider]} cluster '{name}' created successfully!")
    render.out(f"Cluster ID: {cluster['id']}")
    render.out(f"Provisioning has started; follow it with: ankra cluster info {name}")
    return 0


def _credential(state: State, ref: str, provider: str) -> dict[str, Any]:
    for cred in state.credentials:
        if ref in (cred["id"], cred["name"]):
            if cred["provider"] != provider:
                raise CliError(f'credential "{ref}" is a {cred["provider"]} credential, not {provider}')
            if not cred.get("available", True):
                raise CliError(f'credential "{ref}" is not available')
            return cred
    raise not_found(f'credential "{ref}" not found')


def health_of(state: State, ref: str, ai: bool) -> dict[str, Any]:
    """The health report of a cluster by name or id."""
    return report(find_cluster(state, ref), ai=ai)
