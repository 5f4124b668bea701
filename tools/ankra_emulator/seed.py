"""The seed: the guide's two clusters, their stacks, credentials and one token.

Ids are fixed so tests and docs can name them; timestamps are relative to the seeding time so the
humanized ages ("45 days ago") read naturally.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .state import relative, token_record

STAGING_ID = "3f6c2a9e-5b1d-4c7a-9e2f-8d4b6a1c0e57"
PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"
CRED_HETZNER = "cred-7c1d2e3f-hetzner"
CRED_OVH = "cred-4a5b6c7d-ovh"
CRED_UPCLOUD = "cred-9e8f7a6b-upcloud"
CRED_SSH = "cred-2b3c4d5e-ssh"
CRED_GITHUB = "cred-6f7a8b9c-github"
SEED_TOKEN_ID = "tok_5e1f0c2a9b7d4e3f"
ORGANISATION_ID = "5d2c8f0e-7a41-4b6e-9c3d-1f8e2a7b4c60"
ALERT_DESTINATION_ID = "0c6a1f3e-8b2d-4e57-a9c4-3d7e5f1b2a90"
ALERT_ROUTE_ID = "7e4b2c1d-9f3a-4a68-b5e2-6c1d8f0a3b47"


def _ns(name: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def _stack(
    name: str,
    description: str,
    wave: int,
    manifests: list[dict],
    addons: list[dict],
    at: str,
    history: list[dict],
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "deploy_wave": wave,
        "state": "up",
        "manifests": manifests,
        "addons": addons,
        "created_at": at,
        "updated_at": at,
        "history": history,
    }


def _addon(
    name: str, chart: str, version: str, repo: str, url: str, namespace: str, parent: str, values: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "chart_name": chart,
        "chart_version": version,
        "registry_name": repo,
        "registry_url": url,
        "namespace": namespace,
        "parents": [{"name": parent, "kind": "manifest"}],
        "configuration": {"values": values},
        "encrypted_paths": [],
    }


def _manifest(name: str, text: str, parents: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "manifest": text,
        "encrypted_paths": [],
        "parents": [{"name": p, "kind": "manifest"} for p in parents or []],
    }


def _history(at: datetime, entries: list[tuple[str, str, float]]) -> list[dict[str, Any]]:
    return [
        {
            "revision": i + 1,
            "action": action,
            "summary": summary,
            "author": "ops@acme.example",
            "created_at": relative(at, days=days),
        }
        for i, (action, summary, days) in enumerate(entries)
    ]


PROM_URL = "https://prometheus-community.github.io/helm-charts"
GRAFANA_URL = "https://grafana.github.io/helm-charts"
NGINX_URL = "https://kubernetes.github.io/ingress-nginx"
JETSTACK_URL = "https://charts.jetstack.io"


def _monitoring(at: datetime, age: float, prom: str, loki: str) -> dict[str, Any]:
    return _stack(
        "monitoring",
        "Prometheus, Alertmanager, Grafana and Loki",
        1,
        [_manifest("monitoring-namespace", _ns("monitoring"))],
        [
            _addon(
                "kube-prometheus-stack",
                "kube-prometheus-stack",
                prom,
                "prometheus-community",
                PROM_URL,
                "monitoring",
                "monitoring-namespace",
                "grafana:\n  enabled: true\nprometheus:\n  prometheusSpec:\n    retention: 15d\n",
            ),
            _addon(
                "loki",
                "loki",
                loki,
                "grafana",
                GRAFANA_URL,
                "monitoring",
                "monitoring-namespace",
                "deploymentMode: SingleBinary\n",
            ),
        ],
        relative(at, days=age),
        _history(
            at,
            [
                ("created", "stack created with kube-prometheus-stack and loki", age),
                ("updated", f"kube-prometheus-stack pinned to {prom}", age / 3),
            ],
        ),
    )


def _ingress(at: datetime, age: float) -> dict[str, Any]:
    return _stack(
        "ingress",
        "ingress-nginx and cert-manager with Let's Encrypt",
        0,
        [
            _manifest("ingress-nginx-namespace", _ns("ingress-nginx")),
            _manifest("cert-manager-namespace", _ns("cert-manager")),
        ],
        [
            _addon(
                "ingress-nginx",
                "ingress-nginx",
                "4.11.3",
                "ingress-nginx",
                NGINX_URL,
                "ingress-nginx",
                "ingress-nginx-namespace",
                "controller:\n  replicaCount: 2\n",
            ),
            _addon(
                "cert-manager",
                "cert-manager",
                "v1.16.1",
                "jetstack",
                JETSTACK_URL,
                "cert-manager",
                "cert-manager-namespace",
                "crds:\n  enabled: true\n",
            ),
        ],
        relative(at, days=age),
        _history(at, [("created", "stack created", age)]),
    )


def _api_stack(at: datetime) -> dict[str, Any]:
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {n}\n  namespace: api\n"
        "spec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {n}}}\n  template:\n"
        "    metadata:\n      labels: {{app: {n}}}\n    spec:\n      containers:\n"
        "        - name: {n}\n          image: ghcr.io/acme/{n}:2.4.1\n"
        "          resources:\n            limits: {{memory: 256Mi}}\n"
    )
    return _stack(
        "api",
        "The acme API server and worker",
        3,
        [
            _manifest("api-namespace", _ns("api")),
            _manifest("api-server", deployment.format(n="api-server"), ["api-namespace"]),
            _manifest("api-worker", deployment.format(n="api-worker"), ["api-namespace"]),
        ],
        [],
        relative(at, days=20),
        _history(at, [("created", "stack created", 20), ("updated", "api-server image 2.4.1", 0.1)]),
    )


# The production incident the guide describes: two pods in CrashLoopBackOff in namespace api.
PRODUCTION_INCIDENTS = [
    {
        "pod": "api-server-7d8f9",
        "namespace": "api",
        "container": "api-server",
        "status": "CrashLoopBackOff",
        "reason": "OOMKilled",
        "restarts": 14,
        "memory_limit": "256Mi",
        "memory_peak": "312Mi",
        "detail": "OOMKilled (memory limit 256Mi, usage peaked at 312Mi)",
        "actions": [
            "Raise the api-server memory limit to at least 512Mi (request 384Mi) in the api stack",
            "Check api-server for unbounded caches: usage climbs steadily before each kill",
        ],
    },
    {
        "pod": "api-worker-3k9d2",
        "namespace": "api",
        "container": "api-worker",
        "status": "CrashLoopBackOff",
        "reason": "Error",
        "exit_code": 1,
        "restarts": 9,
        "detail": "exit code 1, missing DATABASE_URL env var",
        "actions": [
            "Set DATABASE_URL on the api-worker Deployment from a Secret (secretKeyRef)",
            "Confirm that Secret exists in namespace api before the worker starts",
        ],
    },
]


def _group(name: str, server_type: str, count: int, lo: int, hi: int, at: str) -> dict[str, Any]:
    return {"name": name, "instance_type": server_type, "count": count, "min": lo, "max": hi, "created_at": at}


def seed_state(token: str, at: datetime, *, role: str = "admin") -> dict[str, list[dict[str, Any]]]:
    """The seeded clusters, credentials and tokens; `token` becomes the "hermes-agent" token."""
    staging_at = relative(at, days=62)
    production_at = relative(at, days=180)
    clusters = [
        {
            "id": STAGING_ID,
            "name": "staging-cluster",
            "description": "Staging for the acme app",
            "environment": "staging",
            "state": "online",
            "kind": "hetzner",
            "kube_version": "v1.31.4",
            "control_planes": 1,
            "control_plane_instance_type": "cx23",
            "location": "fsn1",
            "credential_id": CRED_HETZNER,
            "min_workers": 1,
            "max_workers": 10,
            "node_groups": [_group("workers", "cx33", 3, 1, 10, staging_at)],
            "created_at": staging_at,
            "operational_at": relative(at, days=62),
            "updated_at": relative(at, days=2),
            "stacks": [_monitoring(at, 40, "65.1.1", "6.16.0"), _ingress(at, 55)],
            "operations": [],
            "incidents": [],
            "last_reconciled_at": relative(at, days=2),
        },
        {
            "id": PRODUCTION_ID,
            "name": "production",
            "description": "Production for the acme app",
            "environment": "production",
            "state": "online",
            "kind": "ovh",
            "kube_version": "v1.31.4",
            "control_planes": 1,
            "control_plane_instance_type": "b3-8",
            "location": "GRA9",
            "credential_id": CRED_OVH,
            "min_workers": 3,
            "max_workers": 20,
            "node_groups": [_group("workers", "b3-16", 5, 3, 20, production_at)],
            "created_at": production_at,
            "operational_at": relative(at, days=180),
            "updated_at": relative(at, hours=3),
            "stacks": [_monitoring(at, 150, "61.3.2", "6.6.4"), _ingress(at, 170), _api_stack(at)],
            "operations": [],
            "incidents": [dict(i) for i in PRODUCTION_INCIDENTS],
            "last_reconciled_at": relative(at, hours=3),
        },
    ]
    credentials = [
        {
            "id": CRED_HETZNER,
            "name": "hetzner-main",
            "provider": "hetzner",
            "state": "valid",
            "available": True,
            "repos": 0,
            "last_synced_at": relative(at, hours=6),
            "created_at": relative(at, days=90),
            "description": "Hetzner Cloud project acme-staging",
        },
        {
            "id": CRED_OVH,
            "name": "ovh-prod",
            "provider": "ovh",
            "state": "valid",
            "available": True,
            "repos": 0,
            "last_synced_at": relative(at, hours=6),
            "created_at": relative(at, days=200),
            "description": "OVHcloud Public Cloud project acme-prod",
        },
        {
            "id": CRED_UPCLOUD,
            "name": "upcloud-dev",
            "provider": "upcloud",
            "state": "valid",
            "available": True,
            "repos": 0,
            "last_synced_at": relative(at, days=1),
            "created_at": relative(at, days=30),
            "description": "UpCloud sub-account for experiments",
        },
        {
            "id": CRED_SSH,
            "name": "deploy-ssh-key",
            "provider": "ssh_key",
            "state": "valid",
            "available": True,
            "repos": 0,
            "last_synced_at": None,
            "created_at": relative(at, days=200),
            "description": "SSH key for OVH and UpCloud nodes",
            "fingerprint": "SHA256:q5Yc…x9Tw",
        },
        {
            "id": CRED_GITHUB,
            "name": "github-gitops",
            "provider": "github",
            "state": "valid",
            "available": True,
            "repos": 3,
            "last_synced_at": relative(at, minutes=20),
            "created_at": relative(at, days=200),
            "description": "GitOps repositories (acme org)",
        },
    ]
    seeded_token = token_record(token, name="hermes-agent", role=role, created=at, token_id=SEED_TOKEN_ID)
    seeded_token["created_at"] = relative(at, days=10)
    old = token_record(
        "ankra_revoked_" + SEED_TOKEN_ID,
        name="old-laptop",
        role="admin",
        created=at,
        token_id="tok_0b9a8c7d6e5f4a3b",
    )
    old.update(
        status="Revoked",
        created_at=relative(at, days=120),
        revoked_at=relative(at, days=60),
        last_used_at=relative(at, days=61),
    )
    alerts = {
        "alert_destinations": [
            {"id": ALERT_DESTINATION_ID, "name": "ops-slack", "url": None, "channel_id": "C0OPS", "channel_name": "#ops",
             "integration_type": "slack", "teams_tenant_id": None, "description": "On-call channel",
             "template": None, "enabled": True, "organisation_id": ORGANISATION_ID,
             "created_at": relative(at, days=90), "updated_at": relative(at, days=30)},
        ],
        "alert_routes": [
            {"id": ALERT_ROUTE_ID, "destination_id": ALERT_DESTINATION_ID, "cluster_id": PRODUCTION_ID,
             "severity": "critical", "kinds": ["pod_crash_loop", "node_not_ready"], "priority": 10,
             "stop_on_match": False, "enabled": True, "created_at": relative(at, days=90)},
        ],
    }
    return {"clusters": clusters, "credentials": credentials, "tokens": [seeded_token, old], "alerts": alerts}
