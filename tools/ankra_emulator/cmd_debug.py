"""Debugging reads: cluster events, logs, metrics query, top, describe, operations list, and alerts.

All answer from the emulator's state: the seeded incidents (production's OOMKilled api-server and the
api-worker missing DATABASE_URL), the cluster's nodes and stacks, and the operations other commands
record (apply, node-group writes, reconcile).
"""

from __future__ import annotations

from typing import Any

from . import render
from .cmd_clusters import _status, kubernetes_resources
from .context import Context, find_cluster
from .errors import CliError, not_found, usage
from .health import workers

_METRICS_HINT = "No metrics available yet: the metrics server has not reported for this cluster."


def _events(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """Kubernetes Event objects for the cluster: BackOff/OOMKilling per incident, Normal ones for nodes."""
    at = cluster.get("updated_at") or cluster["created_at"]
    out: list[dict[str, Any]] = []
    for incident in cluster.get("incidents", []):
        obj = {"kind": "Pod", "name": incident["pod"], "namespace": incident["namespace"]}
        if incident.get("reason") == "OOMKilled":
            out.append(_event("Warning", "OOMKilling", obj, at, incident.get("restarts", 1),
                              f"Memory cgroup out of memory: Killed process (container {incident['container']}, "
                              f"limit {incident['memory_limit']}, peak {incident['memory_peak']})"))
        else:
            out.append(_event("Warning", "Failed", obj, at, incident.get("restarts", 1),
                              f"Error: container {incident['container']} exited with code "
                              f"{incident.get('exit_code')}: {incident['detail'].split(', ', 1)[-1]}"))
        out.append(_event("Warning", "BackOff", obj, at, incident.get("restarts", 1),
                          f"Back-off restarting failed container {incident['container']} in pod {incident['pod']}"))
    for i in range(int(cluster.get("control_planes", 1))):
        node = {"kind": "Node", "name": f"{cluster['name']}-control-plane-{i + 1}", "namespace": ""}
        out.append(_event("Normal", "NodeReady", node, cluster["created_at"], 1, "Node status is now: NodeReady"))
    return out


def _event(kind: str, reason: str, obj: dict[str, str], at: str, count: int, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Event", "type": kind, "reason": reason, "message": message,
        "count": count, "lastTimestamp": at,
        "metadata": {"name": f"{obj['name']}.{reason.lower()}", "namespace": obj["namespace"]},
        "involvedObject": dict(obj),
    }


def cmd_events(ctx: Context) -> int:
    """`cluster events [-n NS | -A] [--for kind/name] [--type Normal|Warning]` (cmd/cluster_events.go:23-296):
    `-o json` prints the list of Event objects."""
    kind_filter = ctx.flag("type")
    if kind_filter and kind_filter not in ("Normal", "Warning"):
        raise usage(f'invalid --type "{kind_filter}": use Normal or Warning')
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        events = _events(cluster)
    namespace = None if ctx.flag("all_namespaces") else ctx.flag("namespace")
    if namespace:
        events = [e for e in events if e["involvedObject"]["namespace"] == namespace]
    if kind_filter:
        events = [e for e in events if e["type"] == kind_filter]
    target = ctx.flag("for")
    if target:
        kind, _, name = target.partition("/")
        if not name:
            raise usage(f'invalid --for "{target}": use <kind>/<name>, e.g. pod/api-server-7d8f9')
        events = [e for e in events if e["involvedObject"]["kind"].lower() == kind.lower()
                  and e["involvedObject"]["name"] == name]
    if ctx.fmt:
        render.dump(events, ctx.fmt)
        return 0
    if not events:
        render.out("No events found.")
        return 0
    render.table(
        ["Last Seen", "Type", "Reason", "Object", "Namespace", "Count", "Message"],
        [[render.humanize(e["lastTimestamp"]), e["type"], e["reason"],
          f"{e['involvedObject']['kind'].lower()}/{e['involvedObject']['name']}",
          e["involvedObject"]["namespace"] or "<cluster>", e["count"], e["message"]] for e in events],
    )
    return 0


def _log_lines(incident: dict[str, Any], previous: bool) -> list[str]:
    if incident.get("reason") == "OOMKilled":
        lines = ["INFO starting api-server 2.4.1", "INFO cache warm-up: 180Mi",
                 "WARN heap 240Mi of limit 256Mi", "INFO cache warm-up: 290Mi"]
        return lines if previous else lines[:2]
    return ["INFO starting api-worker 2.4.1",
            "FATAL config: required environment variable DATABASE_URL is not set", "exit status 1"]


def cmd_logs(ctx: Context) -> int:
    """`cluster logs [pod_name] -n NS [--previous] [--tail N] [--follow=false]` (cmd/cluster_k8s.go:769-900).
    The emulator never streams: a followed read ends with the backlog, as with --follow=false."""
    pod = ctx.args[0] if ctx.args else None
    selector = ctx.flag("selector")
    namespace = ctx.flag("namespace")
    # The checks and their order of cmd/cluster_k8s.go:809-848, all before any API call.
    if not namespace:
        raise usage("--namespace (-n) is required for logs")
    if not pod and not selector:
        raise usage("logs needs a pod name or a label selector (-l)")
    if pod and selector:
        raise usage("pass either a pod name or -l/--selector, not both")
    if ctx.flag("container") and ctx.flag("all_containers"):
        raise usage("--container and --all-containers select different things; pass only one")
    follow_set = ctx.given("follow") and bool(ctx.flag("follow"))
    if ctx.fmt and follow_set:
        raise usage("-o json|yaml cannot follow a stream; drop --follow or use -o table")
    if ctx.flag("previous") and follow_set:
        raise usage("--previous reads a terminated container's log, which is closed and cannot be followed; "
                    "drop --follow")
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        incidents = [i for i in cluster.get("incidents", []) if i["namespace"] == namespace]
        pods = {o["metadata"]["name"] for o in kubernetes_resources(cluster)
                if o["kind"] == "Pod" and o["metadata"].get("namespace") == namespace}
    if pod and pod not in pods:
        raise not_found(f'reading logs: pod "{pod}" not found in namespace "{namespace}"')
    if selector:
        # Emulated pods carry no labels: a selector's values match pods named `<value>-…` (cmd/cluster_logs.go:82).
        values = [part.split("=", 1)[-1].strip() for part in selector.split(",") if part.strip()]
        matched = {p for p in pods if all(p.startswith(v + "-") for v in values)}
        if not matched:
            raise not_found(f'no pods match selector "{selector}" in namespace {namespace}')
        incidents = [i for i in incidents if i["pod"] in matched]
    chosen = [i for i in incidents if not pod or i["pod"] == pod]
    entries = [{"pod": i["pod"], "container": ctx.flag("container") or i["container"],
                "lines": _log_lines(i, bool(ctx.flag("previous")))} for i in chosen]
    if pod and not chosen:
        entries = [{"pod": pod, "container": ctx.flag("container") or pod, "lines": ["INFO ready"]}]
    tail = ctx.flag("tail")
    if tail:
        for entry in entries:
            entry["lines"] = entry["lines"][-tail:]
    if ctx.fmt:
        render.dump(entries, ctx.fmt)
        return 0
    for entry in entries:
        for line in entry["lines"]:
            render.out(line if len(entries) == 1 else f"[{entry['pod']}/{entry['container']}] {line}")
    return 0


def cmd_metrics_query(ctx: Context) -> int:
    """`cluster metrics query <promql>` (cmd/cluster_metrics.go:26-49): the API's PromQL result
    (internal/client/metrics.go:12-18). Answers memory and restart queries from the incidents."""
    query = ctx.args[0]
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
    series: list[dict[str, Any]] = []
    q = query.lower()
    for incident in cluster.get("incidents", []):
        labels = {"namespace": incident["namespace"], "pod": incident["pod"], "container": incident["container"]}
        if "restart" in q:
            series.append({"metric": labels, "value": [0, str(incident.get("restarts", 0))]})
        elif "memory" in q and incident.get("memory_peak"):
            series.append({"metric": labels, "value": [0, str(int(incident["memory_peak"].rstrip("Mi")) * 1048576)]})
    if "up" == q.strip():
        series = [{"metric": {"job": "kubelet"}, "value": [0, "1"]}]
    data = {"status": "success", "result_type": "vector", "result": series, "total_series": len(series),
            "truncated": False}
    if ctx.fmt:
        render.dump(data, ctx.fmt)
        return 0
    if not series:
        render.out("No series matched.")
        return 0
    render.table(["Metric", "Value"], [[", ".join(f"{k}={v}" for k, v in s["metric"].items()), s["value"][1]]
                                       for s in series])
    return 0


def cmd_top(ctx: Context, what: str) -> int:
    """`cluster top nodes|pods` (cmd/cluster_top.go:47-160): metrics.k8s.io items, `-o json` as a list."""
    sort_by = ctx.flag("sort_by") or "name"
    if sort_by not in ("name", "cpu", "memory"):
        raise usage(f'unsupported --sort-by "{sort_by}": use name, cpu or memory')
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        resources = kubernetes_resources(cluster)
    items: list[dict[str, Any]] = []
    if what == "nodes":
        nodes = [o for o in resources if o["kind"] == "Node"]
        per_node = max(1, len([o for o in resources if o["kind"] == "Pod"]) // max(1, workers(cluster)))
        for i, node in enumerate(nodes):
            items.append({"kind": "NodeMetrics", "metadata": {"name": node["metadata"]["name"]},
                          "usage": {"cpu": f"{150 + 40 * i + 20 * per_node}m", "memory": f"{1200 + 150 * i}Mi"}})
    else:
        namespace = None if ctx.flag("all_namespaces") else ctx.flag("namespace")
        incidents = {i["pod"]: i for i in cluster.get("incidents", [])}
        for pod in (o for o in resources if o["kind"] == "Pod"):
            meta = pod["metadata"]
            if namespace and meta.get("namespace") != namespace:
                continue
            incident = incidents.get(meta["name"])
            memory = incident["memory_peak"] if incident and incident.get("memory_peak") else "64Mi"
            items.append({"kind": "PodMetrics", "metadata": {"name": meta["name"], "namespace": meta.get("namespace")},
                          "containers": [{"name": meta["name"], "usage": {"cpu": "12m", "memory": memory}}]})
    if ctx.fmt:
        render.dump(items, ctx.fmt)
        return 0
    if not items:
        render.out(_METRICS_HINT)
        return 0
    if what == "nodes":
        render.table(["Name", "CPU", "Memory"],
                     [[i["metadata"]["name"], i["usage"]["cpu"], i["usage"]["memory"]] for i in items])
    else:
        render.table(["Namespace", "Name", "CPU", "Memory"],
                     [[i["metadata"]["namespace"], i["metadata"]["name"], i["containers"][0]["usage"]["cpu"],
                       i["containers"][0]["usage"]["memory"]] for i in items])
    return 0


_KINDS = {"pod": "Pod", "pods": "Pod", "deployment": "Deployment", "deployments": "Deployment",
          "node": "Node", "nodes": "Node", "namespace": "Namespace", "namespaces": "Namespace"}


def cmd_describe(ctx: Context) -> int:
    """`cluster describe <kind> <name> [-n NS]` (cmd/cluster_describe.go:27-120): the object and its events."""
    kind_word, name = ctx.args
    kind = _KINDS.get(kind_word.lower())
    if kind is None:
        # cmd/cluster_k8s_kinds.go:130-135 (the emulator knows fewer kinds than the CLI's builtinK8sKinds)
        raise usage(f'unknown resource kind "{kind_word}": pass both --group and --api-version for a kind '
                    f"outside {', '.join(sorted(set(_KINDS.values())))} (the kinds the emulator describes)")
    namespace = ctx.flag("namespace")
    if kind in ("Node", "Namespace"):  # cluster-scoped: no namespace (cmd/cluster_describe.go:61-68)
        namespace = None
    elif not namespace:
        raise usage(f"--namespace (-n) is required to describe a {kind}")
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        objects = [o for o in kubernetes_resources(cluster) if o["kind"] == kind and o["metadata"]["name"] == name
                   and (not namespace or o["metadata"].get("namespace", "") == namespace)]
        events = [e for e in _events(cluster) if e["involvedObject"]["kind"] == kind
                  and e["involvedObject"]["name"] == name]
    if not objects:
        where = f' in namespace "{namespace}"' if namespace else ""
        raise not_found(f'describing resource: {kind_word} "{name}" not found{where}')
    described = {"object": objects[0], "events": events}
    if ctx.fmt:
        render.dump(described, ctx.fmt)
        return 0
    obj = objects[0]
    render.out(f"Name:       {name}")
    render.out(f"Namespace:  {obj['metadata'].get('namespace') or '-'}")
    render.out(f"Kind:       {kind}")
    render.out(f"Status:     {_status(obj)}")
    for c in obj.get("status", {}).get("containerStatuses", []):
        last = (c.get("lastState") or {}).get("terminated")
        render.out(f"Container {c['name']}: ready={str(c['ready']).lower()} restarts={c['restartCount']}"
                   + (f" last terminated: {last['reason']} (exit {last['exitCode']})" if last else ""))
    render.out("Events:")
    for e in events or []:
        render.out(f"  {e['type']}  {e['reason']}  {e['message']}")
    if not events:
        render.out("  <none>")
    return 0


def _operation_view(cluster: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """An operation as `cluster operations list -o json` prints it (ExecutionSummary,
    internal/client/executions.go:21-35)."""
    steps = op.get("steps") or {"succeeded": 1, "failed": 0, "running": 0}
    return {
        "id": op["id"], "scope": "cluster", "cluster_id": cluster["id"], "cluster_name": cluster["name"],
        "organisation_id": cluster.get("organisation_id", ""), "name": op.get("name") or op.get("type", ""),
        "display_name": op.get("name") or op.get("type", ""), "type": op.get("type", ""),
        "status": op.get("status") or op.get("state") or "completed", "error_excerpt": op.get("error"),
        "step_summary": {"succeeded": steps["succeeded"], "failed": steps["failed"], "running": steps["running"]},
        "created_at": op.get("created_at"), "updated_at": op.get("updated_at") or op.get("created_at"),
    }


def cmd_operations(ctx: Context) -> int:
    """`cluster operations list [execution ID] [--failed] [--status S] [--limit N]`
    (cmd/cluster_operation.go:69-195): the cluster's executions, newest first."""
    limit = ctx.flag("limit") or 20
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        views = [_operation_view(cluster, op) for op in reversed(cluster.get("operations", []))]
    statuses = [s.strip() for s in (ctx.flag("status") or "").split(",") if s.strip()]
    if ctx.flag("failed"):
        statuses += ["failed", "critical"]
    if statuses:
        views = [v for v in views if v["status"] in statuses]
    if ctx.args:
        found = [v for v in views if v["id"] == ctx.args[0]]
        if not found:
            raise not_found(f'execution "{ctx.args[0]}" not found')
        if ctx.fmt:
            render.dump(found[0], ctx.fmt)
            return 0
        v = found[0]
        render.out(f"Execution {v['id']}: {v['name']} — {v['status']}")
        return 0
    views = views[:limit]
    if ctx.fmt:
        render.dump(views, ctx.fmt)
        return 0
    if not views:
        render.out("No executions found for the active cluster.")
        return 0
    render.table(
        ["ID", "Name", "Status", "Steps (✓/✗/⟳)", "Error", "Created At", "Updated At"],
        [[v["id"], v["name"], v["status"],
          f"{v['step_summary']['succeeded']}/{v['step_summary']['failed']}/{v['step_summary']['running']}",
          v["error_excerpt"] or "-", render.humanize(v["created_at"]), render.humanize(v["updated_at"])]
         for v in views],
    )
    return 0


def cmd_alert_destinations(ctx: Context) -> int:
    """`alerts destinations list` (cmd/alerts.go:47-102; AlertDestination, internal/client/alerts.go:19-40)."""
    with ctx.session() as state:
        items = [dict(d) for d in state.extra.get("alert_destinations", [])]
    if ctx.flag("enabled") and ctx.flag("disabled"):
        raise CliError("--enabled and --disabled are mutually exclusive", 2)
    if ctx.flag("enabled") or ctx.flag("disabled"):
        items = [d for d in items if d["enabled"] == bool(ctx.flag("enabled"))]
    if ctx.flag("search"):
        items = [d for d in items if ctx.flag("search").lower() in d["name"].lower()]
    if ctx.fmt:
        render.dump(items, ctx.fmt)
        return 0
    if not items:
        render.out("No alert destinations found.")
        return 0
    render.table(["ID", "Name", "Type", "Enabled"],
                 [[d["id"], d["name"], d.get("integration_type", ""), "yes" if d["enabled"] else "no"] for d in items])
    return 0


def cmd_alert_routes(ctx: Context) -> int:
    """`alerts routes list` (cmd/alerts_routes.go:32-68)."""
    with ctx.session() as state:
        items = [dict(r) for r in state.extra.get("alert_routes", [])]
    if ctx.fmt:
        render.dump(items, ctx.fmt)
        return 0
    if not items:
        render.out("No alert routes found.")
        return 0
    render.table(["ID", "Destination", "Severity", "Kinds", "Enabled"],
                 [[r["id"], r["destination_id"], r.get("severity") or "-", ", ".join(r.get("kinds") or []) or "-",
                   "yes" if r["enabled"] else "no"] for r in items])
    return 0
