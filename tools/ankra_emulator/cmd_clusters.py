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
from .seed import ORGANISATION_ID
from .state import State, iso, now
from .waits import wait_for_write

PROVIDER_TITLES = {"hetzner": "Hetzner", "ovh": "OVH", "upcloud": "UpCloud", "digitalocean": "DigitalOcean",
                   "proxmox": "Proxmox VE", "morpheus": "HPE Morpheus"}
ONLINE = "online"  # a healthy cluster's state (internal/client/clusters.go ClusterListItem.State)
# The flags that carry each provider's location and node sizes (cmd/<provider>_cluster.go).
LOCATION_KEY = {"hetzner": "location", "ovh": "region", "upcloud": "zone", "digitalocean": "region",
                "proxmox": "node", "morpheus": "cloud_id"}
WORKER_SIZE_KEY = {"hetzner": "worker_server_type", "ovh": "worker_flavor_id", "upcloud": "worker_plan",
                   "digitalocean": "worker_size", "proxmox": "worker_instance_type", "morpheus": "worker_plan_id"}
CP_SIZE_KEY = {"hetzner": "control_plane_server_type", "ovh": "control_plane_flavor_id",
               "upcloud": "control_plane_plan", "digitalocean": "control_plane_size",
               "proxmox": "control_plane_instance_type", "morpheus": "control_plane_plan_id"}
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
    "digitalocean": ["ams3", "fra1", "lon1", "nyc1", "nyc3", "sfo3", "sgp1", "tor1"],
    "proxmox": ["pve1", "pve2", "pve3"],
    "morpheus": ["1", "2", "3"],
}
DEFAULT_SERVER_TYPES = {
    "hetzner": ("cx33", "cx23"),
    "ovh": ("b3-8", "b3-8"),
    "upcloud": ("2xCPU-4GB", "2xCPU-4GB"),
    "digitalocean": ("s-2vcpu-4gb", "s-2vcpu-4gb"),
    "proxmox": ("px-medium", "px-medium"),
    "morpheus": ("1", "1"),
}
KUBE_VERSIONS = ["v1.30.8", "v1.31.4", "v1.32.1"]
DEFAULT_KUBE_VERSION = "v1.31.4"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SORT_FIELDS = {
    "name": "name",
    "environment": "environment",
    "state": "state",
    "kind": "kind",
    "nodes": "nodes",
    "control_planes": "control_planes",
    "kube_version": "kube_version",
    "created": "created_at",
    "created_at": "created_at",
}


def cluster_view(cluster: dict[str, Any]) -> dict[str, Any]:
    """A cluster as `cluster list|info -o json` prints it: the API's ClusterListItem
    (internal/client/clusters.go:16-32). No provider, workers or location: `kind` names the provider."""
    w = workers(cluster)
    cp = int(cluster.get("control_planes", 1))
    return {
        "id": cluster["id"],
        "name": cluster["name"],
        "state": cluster["state"],
        "description": cluster.get("description", ""),
        "environment": cluster.get("environment", ""),
        "organisation_id": cluster.get("organisation_id", ORGANISATION_ID),
        "kube_version": cluster.get("kube_version"),
        "control_planes": cp,
        "nodes": w + cp,
        "created_at": cluster["created_at"],
        "operational_at": cluster.get("operational_at"),
        "slated_for_deletion_at": cluster.get("slated_for_deletion_at"),
        "deleted_at": None,
        "kind": cluster.get("kind"),
    }


def _require_running(cluster: dict[str, Any], doing: str) -> None:
    if cluster["state"] != ONLINE:
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
    """`cluster info [name]` (cmd/reconcile.go:128-184): the ClusterListItem, or its details as text."""
    ref = ctx.cluster_ref(ctx.args[0] if ctx.args else None)
    with ctx.session() as state:
        cluster = find_cluster(state, ref, action=f"fetching cluster details for {ref}")
        view = cluster_view(cluster)
    if ctx.fmt:
        render.dump(view, ctx.fmt)
        return 0
    render.out("Cluster Details:")
    for label, key in (("ID", "id"), ("Name", "name"), ("Environment", "environment"),
                       ("Kube Version", "kube_version"), ("State", "state"), ("Control Planes", "control_planes"),
                       ("Nodes", "nodes"), ("Kind", "kind")):
        render.out(f"  {label}: {view[key]}")
    return 0


def kubernetes_resources(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """The Kubernetes objects of a cluster as Kubernetes returns them (apiVersion, kind, metadata, status):
    nodes, namespaces and workloads from its stacks, Helm releases' pods, and the seeded incidents' pods."""
    import yaml

    created = cluster["created_at"]
    out: list[dict[str, Any]] = []
    ready = "True" if cluster["state"] == ONLINE else "False"

    def obj(kind: str, name: str, namespace: str, at: str, status: dict[str, Any], **extra: Any) -> None:
        meta = {"name": name, "creationTimestamp": at}
        if namespace:
            meta["namespace"] = namespace
        out.append({"apiVersion": "apps/v1" if kind in ("Deployment", "StatefulSet") else "v1", "kind": kind,
                    "metadata": meta, "status": status, **extra})

    for i in range(int(cluster.get("control_planes", 1))):
        obj("Node", f"{cluster['name']}-control-plane-{i + 1}", "", created,
            {"conditions": [{"type": "Ready", "status": ready}]})
    for group in cluster.get("node_groups", []):
        for i in range(int(group["count"])):
            obj("Node", f"{cluster['name']}-{group['name']}-{i + 1}", "", group.get("created_at", created),
                {"conditions": [{"type": "Ready", "status": ready}]})
    for stack in cluster.get("stacks", []):
        at = stack.get("updated_at", created)
        for manifest in stack.get("manifests", []):
            try:
                docs = list(yaml.safe_load_all(manifest.get("manifest") or ""))
            except yaml.YAMLError:
                continue
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind"):
                    meta = doc.get("metadata") or {}
                    status: dict[str, Any] = {"phase": "Active"} if doc["kind"] == "Namespace" else {}
                    if doc["kind"] in ("Deployment", "StatefulSet"):
                        replicas = int((doc.get("spec") or {}).get("replicas", 1))
                        crashing = [i for i in cluster.get("incidents", []) if i["container"] == meta.get("name")]
                        status = {"replicas": replicas, "readyReplicas": 0 if crashing else replicas}
                    obj(doc["kind"], meta.get("name", ""), meta.get("namespace", ""), at, status)
        for addon in stack.get("addons", []):
            phase = "Running" if stack.get("state") == "up" else "Pending"
            obj("Pod", f"{addon['name']}-0", addon.get("namespace", ""), at,
                {"phase": phase, "containerStatuses": [{"name": addon["name"], "ready": phase == "Running",
                                                        "restartCount": 0}]})
    for incident in cluster.get("incidents", []):
        obj("Pod", incident["pod"], incident["namespace"], cluster.get("updated_at", created), {
            "phase": "Running",
            "containerStatuses": [{
                "name": incident["container"], "ready": False, "restartCount": incident.get("restarts", 0),
                "state": {"waiting": {"reason": incident["status"]}},
                "lastState": {"terminated": {"reason": incident["reason"], "exitCode": incident.get("exit_code", 137)}},
            }]})
    return out


_GET_KIND = {"pods": "Pod", "deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet",
             "services": "Service", "namespaces": "Namespace", "nodes": "Node", "events": "Event",
             "configmaps": "ConfigMap", "secrets": "Secret", "ingresses": "Ingress", "cronjobs": "CronJob",
             "k8s-jobs": "Job", "storageclasses": "StorageClass"}


def cmd_get(ctx: Context, kind: str) -> int:
    """`cluster get <kind> [name] [-n NS | -A]` (cmd/cluster_k8s.go:569,635): the active cluster's objects."""
    namespace = None if ctx.flag("all_namespaces") else ctx.flag("namespace")
    name = ctx.args[0] if ctx.args else ctx.flag("name")
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        items = [o for o in kubernetes_resources(cluster) if o["kind"] == _GET_KIND[kind]]
    if namespace:
        items = [o for o in items if o["metadata"].get("namespace") == namespace]
    if name:
        items = [o for o in items if name in o["metadata"]["name"]]
    if ctx.fmt:  # GetResourcesResponse (internal/client/kubernetes.go:126-140)
        render.dump({"resource_responses": [{
            "status": "success", "group": "apps" if _GET_KIND[kind] in ("Deployment", "StatefulSet") else None,
            "items": items, "kind": _GET_KIND[kind], "name": name or None, "namespace": namespace,
            "version": "v1", "total_count": len(items)}]}, ctx.fmt)
        return 0
    if not items:
        render.out(f"No {kind} found.")
        return 0
    render.table(
        ["Name", "Namespace", "Status", "Age"],
        [[o["metadata"]["name"], o["metadata"].get("namespace", "-"), _status(o),
          render.humanize(o["metadata"]["creationTimestamp"])] for o in items],
    )
    return 0


def _status(o: dict[str, Any]) -> str:
    status = o.get("status") or {}
    for c in status.get("containerStatuses", []):
        waiting = (c.get("state") or {}).get("waiting")
        if waiting:
            return waiting["reason"]
    if "phase" in status:
        return status["phase"]
    if "readyReplicas" in status:
        return f"{status['readyReplicas']}/{status['replicas']}"
    for cond in status.get("conditions", []):
        if cond.get("type") == "Ready":
            return "Ready" if cond["status"] == "True" else "NotReady"
    return "-"


def cmd_select(ctx: Context) -> int:
    """`cluster select [cluster_name]` (cmd/cluster_select.go:33): save the active cluster; without a
    name it opens an interactive picker."""
    import json

    ref = ctx.args[0] if ctx.args else None
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


def cluster_by_id(state: State, cluster_id: str, provider: str | None, action: str) -> dict[str, Any]:
    """A cluster looked up by its ID only, as the CLI does for scale, node groups and workers
    (`GetClusterByID`, internal/client/clusters.go:95-107; provider routes /clusters/<provider>/{id}/…).
    A name is not an ID: the API knows no cluster under it."""
    for cluster in state.clusters:
        if cluster["id"] == cluster_id:
            if provider and cluster.get("kind") != provider:
                raise not_found(
                    f"{action}: API request failed: 404 Not Found: {PROVIDER_TITLES[provider]} cluster "
                    f'"{cluster_id}" not found (it is a {cluster.get("kind")} cluster)')
            return cluster
    hint = ""
    named = next((c for c in state.clusters if c["name"] == cluster_id), None)
    if named is not None:
        hint = f" ({cluster_id!r} is a cluster name; this command takes the cluster ID {named['id']})"
    if provider:  # GET /clusters/<provider>/{id}/…: the API answers 404
        raise not_found(f"{action}: API request failed: 404 Not Found: cluster not found{hint}")
    raise CliError(f'looking up cluster "{cluster_id}": no cluster found for id "{cluster_id}"{hint}')


def cmd_scale(ctx: Context, provider: str | None = None) -> int:
    """`cluster scale <cluster_id> <worker_count>` (cmd/cluster_scale.go:37-93) and the provider form
    `cluster <provider> scale <cluster_id> <worker_count>`."""
    ref, count_text = ctx.args
    try:
        target = int(count_text, 10)
    except ValueError:
        raise CliError(f'invalid worker count: strconv.Atoi: parsing "{count_text}": invalid syntax') from None
    with ctx.session() as state:
        cluster = cluster_by_id(state, ref, provider, "scaling workers")
        if cluster.get("kind") not in SCALE_KINDS:  # cmd/cluster_scale.go:62-67
            raise CliError(
                f'cluster "{ref}" (kind "{cluster.get("kind")}") does not support worker scaling. Only Hetzner, '
                "OVH, UpCloud, DigitalOcean, Proxmox VE, and HPE Morpheus clusters can be scaled with this command"
            )
        _require_running(cluster, "scale it")
        lo, hi = int(cluster.get("min_workers", 0)), int(cluster.get("max_workers", 100))
        if not lo <= target <= hi:
            raise CliError(
                f"scaling workers: worker count {target} is outside the allowed range for cluster "
                f'"{cluster["name"]}" (min {lo}, max {hi})'
            )
        previous = workers(cluster)
        groups = cluster["node_groups"]
        rest = previous - int(groups[0]["count"])
        if target - rest < 0:
            raise CliError(
                f"scaling workers: cannot scale to {target}: the other node groups already have {rest} "
                "workers; scale them with `ankra cluster node-group scale`"
            )
        groups[0]["count"] = target - rest
        cluster["updated_at"] = iso(now())
    if ctx.fmt:
        render.dump({"previous_count": previous, "new_count": target}, ctx.fmt)
        return 0
    if provider is None:
        render.out(f"  Provider: {cluster['kind']}")
    if previous == target:
        render.out(f"Worker count is already {target}, no changes needed.")
    else:
        direction = "up" if target > previous else "down"
        render.out(f"Scaling {direction} from {previous} to {target} workers.")
    return 0


def cmd_workers(ctx: Context, provider: str) -> int:
    """`cluster <provider> workers <cluster_id>` (e.g. cmd/hetzner_cluster.go:150-173)."""
    with ctx.session() as state:
        cluster = cluster_by_id(state, ctx.args[0], provider, "fetching worker count")
        data = {
            "worker_count": workers(cluster),
            "min": cluster.get("min_workers"),
            "max": cluster.get("max_workers"),
        }
    if ctx.fmt:
        render.dump(data, ctx.fmt)
    else:
        render.out(f"Worker Count: {data['worker_count']}")
        render.out(f"  Min: {data['min']}")
        render.out(f"  Max: {data['max']}")
    return 0


# -- node groups (cmd/cluster_node_group.go; writes are asynchronous unless --wait) ---------------


def _group(cluster: dict[str, Any], name: str) -> dict[str, Any]:
    for group in cluster.get("node_groups", []):
        if group["name"] == name:
            return group
    raise not_found(f'node group "{name}" not found on cluster "{cluster["id"]}"')


def group_view(group: dict[str, Any]) -> dict[str, Any]:
    """A node group as the API returns it (NodeGroupInfo, internal/client/hetzner_clusters.go:221-231)."""
    return {
        "name": group["name"],
        "instance_type": group["instance_type"],
        "count": group["count"],
        "min": group["min"],
        "max": group["max"],
        "autoscaling_enabled": bool(group.get("autoscaling_enabled", False)),
        "labels": dict(group.get("labels") or {}),
        "taints": list(group.get("taints") or []),
    }


def _submitted(ctx: Context, label: str) -> int:
    """What an asynchronous write prints without --wait (cmd/async_write.go:55-61, cmd/output.go:50-62)."""
    if ctx.fmt:
        render.dump({"submitted": True, "operation": label,
                     "hint": "re-run with --wait to block until completion and see the full result"}, ctx.fmt)
        return 0
    render.out(f"{label} submitted.")
    render.out("The platform is applying changes in the background.")
    render.out("Re-run the same command with --wait to block until completion and see the full result.")
    render.out("Avoid submitting the same change again while it may still be running "
               "(duplicate node groups can double cost).")
    return 0


def _record_operation(cluster: dict[str, Any], name: str, kind: str) -> None:
    moment = iso(now())
    cluster.setdefault("operations", []).append({
        "id": str(uuid.uuid4()), "name": name, "type": kind, "status": "completed",
        "steps": {"succeeded": 1, "failed": 0, "running": 0}, "error": None,
        "created_at": moment, "updated_at": moment, "ready_at": moment,
    })


def cmd_ng_list(ctx: Context, provider: str | None = None) -> int:
    """`cluster node-group list <cluster_id>` (cmd/cluster_node_group.go:216-245)."""
    with ctx.session() as state:
        cluster = cluster_by_id(state, ctx.args[0], provider, "listing node groups")
        groups = [group_view(g) for g in cluster.get("node_groups", [])]
    if ctx.fmt:
        render.dump({"node_groups": groups}, ctx.fmt)
        return 0
    if not groups:
        render.out("No node groups found.")
        return 0
    for g in groups:
        render.out(f"{g['name']:<20}  type={g['instance_type']:<8}  count={g['count']}  "
                   f"labels={len(g['labels'])}  taints={len(g['taints'])}")
    return 0


def cmd_ng_add(ctx: Context, provider: str | None = None) -> int:
    """`cluster node-group add <cluster_id> --name G --instance-type T [--count N] [--wait]`
    (cmd/cluster_node_group.go:270-325, flags :686-692)."""
    ref = ctx.args[0]
    name = ctx.flag("name")
    count = ctx.flag("count") if ctx.flag("count") is not None else 1
    if count < 0:
        raise usage(f'invalid --count "{count}": expected a whole number')
    if not NAME_RE.match(name) or len(name) > 63:
        raise usage(f'invalid node group name "{name}": use lowercase letters, digits and "-"')
    with ctx.session() as state:
        cluster = cluster_by_id(state, ref, provider, "adding node group")
        _require_running(cluster, "add a node group")
        if any(g["name"] == name for g in cluster["node_groups"]):
            raise CliError(f'adding node group: node group "{name}" already exists on cluster "{ref}"')
        instance_type = ctx.flag("instance_type") or cluster["node_groups"][0]["instance_type"]
        cluster["node_groups"].append({"name": name, "instance_type": instance_type, "count": count,
                                       "min": 0, "max": max(10, count), "created_at": iso(now())})
        cluster["updated_at"] = iso(now())
        _record_operation(cluster, f"add node group {name}", "node_group_add")
        route = f"/api/v1/clusters/{cluster['kind']}/{cluster['id']}/node-groups"
    if not ctx.flag("wait"):
        return _submitted(ctx, "Node group add")
    wait_for_write(ctx, "adding node group", "POST", route)
    if ctx.fmt:
        render.dump({"group_name": name, "count": count}, ctx.fmt)
    else:
        render.out(f"Node group '{name}' created with {count} node(s).")
    return 0


def cmd_ng_scale(ctx: Context, provider: str | None = None) -> int:
    """`cluster node-group scale <cluster_id> <group_name> <count> [--wait]` (cmd/cluster_node_group.go:327-370)."""
    ref, name, count_text = ctx.args
    try:
        target = int(count_text, 10)
    except ValueError:
        raise CliError(f'invalid count: strconv.Atoi: parsing "{count_text}": invalid syntax') from None
    with ctx.session() as state:
        cluster = cluster_by_id(state, ref, provider, "scaling node group")
        _require_running(cluster, "scale it")
        group = _group(cluster, name)
        if not int(group["min"]) <= target <= int(group["max"]):
            raise CliError(
                f'scaling node group: node count {target} is outside the allowed range for node group "{name}" '
                f"(min {group['min']}, max {group['max']})"
            )
        previous = int(group["count"])
        group["count"] = target
        cluster["updated_at"] = iso(now())
        _record_operation(cluster, f"scale node group {name}", "node_group_scale")
        route = f"/api/v1/clusters/{cluster['kind']}/{cluster['id']}/node-groups/{name}/scale"
    if not ctx.flag("wait"):
        return _submitted(ctx, "Node group scale")
    wait_for_write(ctx, "scaling node group", "PUT", route)
    if ctx.fmt:
        render.dump({"group_name": name, "previous_count": previous, "new_count": target}, ctx.fmt)
    else:
        render.out(f"Node group '{name}' scaled from {previous} to {target}.")
    return 0


def cmd_ng_delete(ctx: Context, provider: str | None = None) -> int:
    """`cluster node-group delete <cluster_id> <group_name> [--yes] [--wait]` (cmd/cluster_node_group.go:414-462)."""
    ref, name = ctx.args
    with ctx.session() as state:
        cluster = cluster_by_id(state, ref, provider, "deleting node group")
        _group(cluster, name)
        if len(cluster["node_groups"]) == 1:
            raise CliError(
                f'deleting node group: node group "{name}" is the last one of cluster "{ref}"; '
                "deprovision the cluster instead"
            )
    ctx.confirm(
        f'Delete node group "{name}" from cluster "{ref}"? This deletes all its nodes!',
        f'node group "{name}" was not deleted',
    )
    with ctx.session() as state:
        cluster = cluster_by_id(state, ref, provider, "deleting node group")
        group = _group(cluster, name)
        cluster["node_groups"].remove(group)
        cluster["updated_at"] = iso(now())
        _record_operation(cluster, f"delete node group {name}", "node_group_delete")
        route = f"/api/v1/clusters/{cluster['kind']}/{cluster['id']}/node-groups/{name}"
    if not ctx.flag("wait"):
        return _submitted(ctx, "Node group delete")
    wait_for_write(ctx, "deleting node group", "DELETE", route)
    if ctx.fmt:
        render.dump({"group_name": name, "deleted": int(group["count"])}, ctx.fmt)
    else:
        render.out(f"Node group '{name}' deleted. {group['count']} node(s) removed.")
    return 0


# -- lifecycle -----------------------------------------------------------------------------------


SCALE_KINDS = {"hetzner", "ovh", "upcloud", "digitalocean", "proxmox", "morpheus"}
FORCE_KINDS = {"hetzner", "upcloud", "ovh", "digitalocean"}


def _lifecycle_cluster(state: State, ref: str, provider: str | None) -> dict[str, Any]:
    """`cluster deprovision [cluster_name]` takes a name or ID; the provider form an ID."""
    if provider:
        return cluster_by_id(state, ref, provider, "deprovisioning cluster")
    return find_cluster(state, ref)


def cmd_deprovision(ctx: Context, provider: str | None = None) -> int:
    """`cluster deprovision [name|id] [--force] [--yes]` and `cluster <provider> deprovision <id>`."""
    ref = ctx.cluster_ref(ctx.args[0] if ctx.args else None)
    force = bool(ctx.flag("force"))
    with ctx.session() as state:
        cluster = _lifecycle_cluster(state, ref, provider)
        if cluster["state"] == "deprovisioning" and not force:
            raise CliError(
                f'cluster "{cluster["name"]}" is already being deprovisioned (use --force to remove it now)'
            )
    if force and not provider and cluster.get("kind") not in FORCE_KINDS:
        # cmd/reconcile.go:326-339: only these four deprovision endpoints honour force.
        render.err("warning: --force has no effect for this cluster type")
    if provider == "hetzner":  # cmd/hetzner_cluster.go:117-121
        question = (f'Deprovision Hetzner cluster "{cluster["id"]}"? '
                    "This deletes all its servers, networks and SSH keys!")
    elif provider:
        question = f'Deprovision cluster "{cluster["name"]}"? This deletes its servers, volumes and load balancers!'
    else:  # cmd/reconcile.go:341-345
        question = (f'Deprovision cluster "{cluster["name"]}"? This deletes all its cloud resources '
                    "(servers, networks, SSH keys)!")
    ctx.confirm(question, f'cluster "{cluster["name"]}" was not deprovisioned')
    with ctx.session() as state:
        cluster = _lifecycle_cluster(state, ref, provider)
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
    """`cluster <provider> create --name N --credential-id C <location> [sizes…]`: a new cluster in state
    provisioning (cmd/<provider>_cluster.go; size flags per provider, see cli.CREATE_FLAGS)."""
    name = ctx.flag("name")
    location = str(ctx.flag(LOCATION_KEY[provider]))
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
        flag = "--" + LOCATION_KEY[provider].replace("_", "-")
        raise CliError(
            f'{PROVIDER_TITLES[provider]} {flag} "{location}" is not available '
            f"(available: {', '.join(LOCATIONS[provider])})"
        )
    worker_type, cp_type = DEFAULT_SERVER_TYPES[provider]
    worker_type = str(ctx.flag(WORKER_SIZE_KEY[provider]) or worker_type)
    cp_type = str(ctx.flag(CP_SIZE_KEY[provider]) or cp_type)
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
            "environment": "",
            "state": "provisioning",
            "state_since": moment,
            "kind": provider,
            "kube_version": version,
            "control_planes": cp_count,
            "control_plane_instance_type": cp_type,
            "location": location,
            "credential_id": ctx.flag("credential_id"),
            "ssh_key_credential_id": ssh_key,
            "min_workers": 1,
            "max_workers": max(10, worker_count),
            "node_groups": [
                {
                    "name": "workers",
                    "instance_type": worker_type,
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
        render.dump({"cluster_id": cluster["id"], "name": name, "state": "provisioning"}, ctx.fmt)
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


def provider_of(cluster: dict[str, Any]) -> str:
    """A cluster's provider: its `kind`."""
    return str(cluster.get("kind"))
