"""Emulated Ankra AI: cluster health reports and chat answers, from the emulator's state.

Health comes from the cluster's record: its nodes (workers + control planes), its stacks (pods per
addon and manifest), failed stacks, and seeded incidents (production's two CrashLoopBackOff pods).
Chat matches keywords of the question against that report; it never invents other clusters' data.
"""

from __future__ import annotations

import re
from typing import Any

SYSTEM_PODS = 14  # kube-system, CNI, CSI and the Ankra agent on a fresh cluster
PODS_PER_ADDON = 3
PODS_PER_WORKLOAD = 1


def workers(cluster: dict[str, Any]) -> int:
    """The cluster's worker count: the sum of its node groups."""
    return sum(int(g["count"]) for g in cluster.get("node_groups", []))


def _workload_count(stack: dict[str, Any]) -> int:
    count = 0
    for manifest in stack.get("manifests", []):
        text = manifest.get("manifest") or ""
        count += len(re.findall(r"^kind:\s*(Deployment|StatefulSet|DaemonSet)\s*$", text, re.MULTILINE))
    return count


def report(cluster: dict[str, Any], *, ai: bool = False) -> dict[str, Any]:
    """The health report `chat health` shows (API shape of /kubernetes/health)."""
    incidents = cluster.get("incidents", [])
    stacks = cluster.get("stacks", [])
    nodes_total = workers(cluster) + int(cluster.get("control_planes", 1))
    running_cluster = cluster.get("state") == "online"
    nodes_ready = nodes_total if running_cluster else 0
    pods_total = SYSTEM_PODS + sum(
        PODS_PER_ADDON * len(s.get("addons", [])) + PODS_PER_WORKLOAD * _workload_count(s) for s in stacks
    )
    crashloop = [i for i in incidents if i.get("status") == "CrashLoopBackOff"]
    pending = sum(PODS_PER_ADDON for s in stacks if s.get("state") not in ("up", "failed"))
    failed_pods = sum(PODS_PER_ADDON for s in stacks if s.get("state") == "failed")
    running = max(0, pods_total - len(crashloop) - pending - failed_pods)
    issues: list[dict[str, Any]] = []
    for incident in crashloop:
        issues.append(
            {
                "title": f"Pod {incident['pod']} is in CrashLoopBackOff: {incident['detail']}",
                "severity": "critical",
                "namespace": incident["namespace"],
                "resource": f"pod/{incident['pod']}",
                "restarts": incident.get("restarts", 0),
                "suggested_actions": list(incident.get("actions", [])),
            }
        )
    for stack in stacks:
        if stack.get("state") == "failed":
            issues.append(
                {
                    "title": f"Stack {stack['name']} failed to deploy",
                    "severity": "high",
                    "namespace": None,
                    "resource": f"stack/{stack['name']}",
                    "suggested_actions": [
                        (
                            f"Inspect `ankra cluster stacks history {stack['name']}` "
                            "and the failing addon's values, then re-apply"
                        )
                    ],
                }
            )
    if not running_cluster:
        issues.append(
            {
                "title": f"Cluster is {cluster.get('state')}",
                "severity": "high",
                "namespace": None,
                "resource": f"cluster/{cluster['name']}",
                "suggested_actions": ["Wait for the cluster to finish its current operation"],
            }
        )
    penalty = {"critical": 14, "high": 10, "medium": 5, "low": 2}
    score = max(0, 100 - sum(penalty.get(i["severity"], 5) for i in issues))
    status = "healthy" if not issues else ("critical" if score < 50 else "degraded")
    result: dict[str, Any] = {
        "cluster_id": cluster["id"],
        "cluster_name": cluster["name"],
        "status": status,
        "score": score,
        "issues": issues,
        "pods": {
            "total": pods_total,
            "running": running,
            "pending": pending,
            "crash_loop_back_off": len(crashloop),
            "failed": failed_pods,
        },
        "nodes": {"total": nodes_total, "ready": nodes_ready, "not_ready": nodes_total - nodes_ready},
    }
    if ai:
        result["ai_analysis"] = analysis(cluster, result)
    return result


def analysis(cluster: dict[str, Any], health: dict[str, Any]) -> str:
    """The `--ai` paragraph: a root-cause reading of the report."""
    if not health["issues"]:
        return (
            f"{cluster['name']} looks healthy: all {health['nodes']['ready']} nodes are Ready and "
            f"{health['pods']['running']} of {health['pods']['total']} pods are running. No restarts, "
            "evictions or failed stacks were found; no action is needed."
        )
    parts = []
    for incident in cluster.get("incidents", []):
        if incident.get("reason") == "OOMKilled":
            parts.append(
                f"{incident['pod']} is being OOMKilled: its memory limit is "
                f"{incident['memory_limit']} but usage peaked at {incident['memory_peak']}, so "
                "the kernel kills it on each spike; raising the limit (and checking for a leak) "
                "will stop the restarts."
            )
        elif incident.get("exit_code") is not None:
            parts.append(
                f"{incident['pod']} exits with code {incident['exit_code']} at startup: "
                f"{incident['detail'].split(', ', 1)[-1]}; it needs that configuration before it "
                "can run."
            )
    for issue in health["issues"]:
        if issue["resource"].startswith(("stack/", "cluster/")):
            parts.append(issue["title"] + ".")
    tail = (
        f" The other {health['pods']['running']} pods and all {health['nodes']['ready']} nodes are "
        "healthy, so this is an application configuration problem, not a capacity one."
    )
    return " ".join(parts) + tail


_TOPICS = (
    ("memory", r"\b(memory|oom\w*|ram|limit)\b"),
    ("database", r"\b(database|database_url|db|env(ironment)? var\w*|postgres\w*)\b"),
    ("crash", r"\b(crash\w*|crashloop\w*|restart\w*|fail\w*|broken|error\w*|why|down|backoff)\b"),
    ("nodes", r"\b(nodes?|workers?|capacity|cpu|scale|scaling)\b"),
    ("stacks", r"\b(stacks?|addons?|charts?|deploy\w*|helm)\b"),
    ("pods", r"\b(pods?|workloads?)\b"),
    ("health", r"\b(health\w*|status|ok|okay|fine|doing|issues?|problems?)\b"),
)


def topic(question: str) -> str:
    """The first topic whose keywords the question contains, or "general"."""
    q = question.lower()
    for name, pattern in _TOPICS:
        if re.search(pattern, q):
            return name
    return "general"


def _crash_lines(cluster: dict[str, Any]) -> list[str]:
    incidents = [i for i in cluster.get("incidents", []) if i.get("status") == "CrashLoopBackOff"]
    if not incidents:
        return [
            (
                f"No pods are crashing on {cluster['name']}: no CrashLoopBackOff, OOMKilled or "
                "error restarts in the last hour."
            )
        ]
    namespaces = sorted({i["namespace"] for i in incidents})
    lines = [
        (
            f"Ankra AI found {len(incidents)} pods in CrashLoopBackOff in the "
            f"{', '.join(namespaces)} namespace{'s' if len(namespaces) > 1 else ''} on {cluster['name']}:"
        )
    ]
    lines += [f"- {i['pod']}: {i['detail']}" for i in incidents]
    lines.append("")
    lines.append("Suggested next steps:")
    lines += [f"- {a}" for i in incidents for a in i.get("actions", [])[:1]]
    return lines


def answer(question: str, clusters: list[dict[str, Any]], *, mode: str = "ask") -> str:
    """Ankra AI's answer to a question about one cluster (or, without one, the whole org)."""
    kind = topic(question)
    lines: list[str] = []
    if len(clusters) != 1:
        troubled = [c for c in clusters if c.get("incidents")]
        if kind in ("crash", "memory", "database", "pods") and troubled:
            for cluster in troubled:
                lines += _topic_lines(kind, cluster)
        else:
            lines.append(f"Your organisation has {len(clusters)} clusters:")
            for cluster in clusters:
                h = report(cluster)
                lines.append(
                    f"- {cluster['name']} ({cluster.get('kind')}, {cluster.get('state')}): "
                    f"{h['status']}, score {h['score']}/100, {h['pods']['running']}/"
                    f"{h['pods']['total']} pods running"
                )
            lines.append("Pass --cluster <name> to ask about one cluster in detail.")
    else:
        lines += _topic_lines(kind, clusters[0])
    if mode == "agent":
        lines += [
            "",
            (
                "Agent mode: I inspected live data only and made no changes. Apply a fix through "
                "your stack (e.g. `ankra cluster apply -f cluster.yaml`) after review."
            ),
        ]
    return "\n".join(lines)


def _topic_lines(kind: str, cluster: dict[str, Any]) -> list[str]:
    h = report(cluster)
    name = cluster["name"]
    if kind == "memory":
        oom = [i for i in cluster.get("incidents", []) if i.get("reason") == "OOMKilled"]
        if not oom:
            return [f"No memory pressure on {name}: no OOMKilled containers and every node has headroom."]
        return [
            f"{i['pod']} in namespace {i['namespace']} on {name} is OOMKilled: memory limit "
            f"{i['memory_limit']}, usage peaked at {i['memory_peak']}. Raise the limit to at least "
            "512Mi and check for a leak."
            for i in oom
        ]
    if kind == "database":
        env = [i for i in cluster.get("incidents", []) if "DATABASE_URL" in i.get("detail", "")]
        if not env:
            return [f"No database connection errors on {name}."]
        return [
            f"{i['pod']} in namespace {i['namespace']} on {name} exits with code {i.get('exit_code')}: "
            "missing DATABASE_URL env var. Set it from a Secret on the Deployment."
            for i in env
        ]
    if kind == "crash":
        return _crash_lines(cluster)
    if kind == "nodes":
        return [
            (
                f"{name} has {h['nodes']['total']} nodes ({workers(cluster)} workers, "
                f"{cluster.get('control_planes', 1)} control plane), {h['nodes']['ready']} Ready. "
                f"Worker autoscaling bounds: {cluster.get('min_workers')}–{cluster.get('max_workers')}."
            )
        ]
    if kind == "stacks":
        stacks = cluster.get("stacks", [])
        if not stacks:
            return [f"{name} has no stacks yet."]
        return [f"{name} has {len(stacks)} stacks:"] + [
            f"- {s['name']}: {s.get('state')}, {len(s.get('addons', []))} addons, "
            f"{len(s.get('manifests', []))} manifests"
            for s in stacks
        ]
    if kind == "pods":
        lines = [
            (
                f"{name}: {h['pods']['running']} of {h['pods']['total']} pods running, "
                f"{h['pods']['pending']} pending, {h['pods']['crash_loop_back_off']} in CrashLoopBackOff."
            )
        ]
        if h["pods"]["crash_loop_back_off"]:
            lines += _crash_lines(cluster)[1:]
        return lines
    if kind == "health":
        lines = [
            (
                f"{name} is {h['status']} (score {h['score']}/100): {h['nodes']['ready']}/"
                f"{h['nodes']['total']} nodes Ready, {h['pods']['running']}/{h['pods']['total']} pods running."
            )
        ]
        lines += [f"- [{i['severity']}] {i['title']}" for i in h["issues"]]
        return lines
    return [
        (
            f"I looked at {name} ({cluster.get('kind')}, {cluster.get('state')}, Kubernetes "
            f"{cluster.get('kube_version')}): {h['status']}, {h['nodes']['ready']} nodes Ready, "
            f"{h['pods']['running']}/{h['pods']['total']} pods running, {len(cluster.get('stacks', []))} stacks."
        ),
        "Ask me about crashes, health, memory, pods, nodes or stacks for more detail.",
    ]


def wire(cluster: dict[str, Any], *, ai: bool, at: str) -> dict[str, Any]:
    """The `chat health -o json` document: the API's ProactiveInsightWire (internal/client/chat.go:52-87),
    with the report nested under `health_report` and the AI's root-cause insights in `ai_insights`."""
    flat = report(cluster)
    issues = [
        {
            "title": i["title"],
            "severity": i["severity"],
            "description": i.get("description") or i["title"],
            "namespace": i["namespace"],
            "suggested_actions": list(i["suggested_actions"]),
        }
        for i in flat["issues"]
    ]
    pods, nodes = flat["pods"], flat["nodes"]
    insights: list[dict[str, Any]] = []
    if ai:
        for incident in cluster.get("incidents", []):
            if incident.get("reason") == "OOMKilled":
                cause = (f"{incident['pod']} is OOMKilled: its memory limit is {incident['memory_limit']} but "
                         f"usage peaked at {incident['memory_peak']}, so the kernel kills it on each spike.")
            else:
                cause = (f"{incident['pod']} exits with code {incident.get('exit_code')} at startup: "
                         f"{incident['detail'].split(', ', 1)[-1]}.")
            insights.append({
                "title": f"{incident['pod']} in CrashLoopBackOff ({incident['reason']})",
                "root_cause_analysis": cause,
                "severity": "critical",
                "impact_assessment": f"Workload {incident['container']} in namespace {incident['namespace']} "
                                     "is unavailable while it restarts.",
            })
    summary = analysis(cluster, flat) if ai else ""
    return {
        "cluster_id": cluster["id"],
        "health_report": {
            "status": flat["status"],
            "score": flat["score"],
            "issues": issues,
            "pod_stats": {"total": pods["total"], "running": pods["running"], "pending": pods["pending"],
                          "failed": pods["failed"], "crash_loop_back_off": pods["crash_loop_back_off"]},
            "node_stats": {"total": nodes["total"], "ready": nodes["ready"], "not_ready": nodes["not_ready"]},
            "evaluated_at": at,
        },
        "ai_insights": insights,
        "summary": summary,
        "generated_at": at,
    }
