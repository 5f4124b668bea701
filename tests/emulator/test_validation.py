"""ImportCluster YAML rules: one bad file per rule, and a good multi-stack file that applies."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from .conftest import Emu

GOOD = textwrap.dedent("""\
    apiVersion: v1
    kind: ImportCluster
    metadata: {name: staging-cluster}
    spec:
      stacks:
        - name: app-data
          description: Postgres and Redis for the app
          deploy_wave: 2
          manifests:
            - name: app-data-namespace
              manifest: |
                apiVersion: v1
                kind: Namespace
                metadata: {name: app-data}
            - name: app-data-credentials
              parents: [{name: app-data-namespace, kind: manifest}]
              encrypted_paths: [stringData]
              manifest: |
                apiVersion: v1
                kind: Secret
                metadata: {name: app-data-credentials, namespace: app-data}
                stringData:
                  postgres-password: correct-horse-battery
          addons:
            - name: postgres
              chart_name: postgresql-ha
              chart_version: 14.3.10
              registry_name: bitnami
              registry_url: https://charts.bitnami.com/bitnami
              namespace: app-data
              parents: [{name: app-data-credentials, kind: manifest}]
              configuration:
                values: |
                  postgresql:
                    existingSecret: app-data-credentials
            - name: redis
              chart_name: redis
              chart_version: 19.6.4
              registry_name: bitnami
              namespace: app-data
              parents: [{name: app-data-namespace, kind: manifest}]
        - name: edge
          description: Ingress for the app
          deploy_wave: 1
          manifests:
            - name: edge-namespace
              manifest: |
                apiVersion: v1
                kind: Namespace
                metadata: {name: edge}
          addons:
            - name: edge-ingress
              chart_name: ingress-nginx
              chart_version: 4.11.2
              namespace: edge
              parents: [{name: edge-namespace, kind: manifest}]
    """)


def _doc(*stacks: dict, kind: str = "ImportCluster") -> str:
    """An ImportCluster file for staging-cluster with the given stacks."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"name": "staging-cluster"},
            "spec": {"stacks": list(stacks)},
        },
        sort_keys=False,
    )


def _ns(name: str = "data", resource: str = "ns") -> dict:
    return {"name": resource, "manifest": f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n"}


def _redis(**over: object) -> dict:
    addon = {
        "name": "r",
        "chart_name": "redis",
        "chart_version": "19.6.4",
        "namespace": "data",
        "parents": [{"name": "ns", "kind": "manifest"}],
    }
    addon.update(over)
    return {k: v for k, v in addon.items() if v is not None}


def _cm(name: str, parent: dict) -> dict:
    return {
        "name": name,
        "parents": [parent],
        "manifest": f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n",
    }


SECRET = (
    "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: data}\n"
    "stringData: {user: app, password: hunter2}\n"
)

BAD = {
    "unknown_field": (_doc({"name": "s", "colour": "blue"}), 'stack "s": unknown field "colour"'),
    "unknown_addon_field": (
        _doc({"name": "s", "manifests": [_ns()], "addons": [_redis(chart_versoin="1")]}),
        'addon "r": unknown field "chart_versoin"',
    ),
    "duplicate_names": (
        _doc({"name": "s", "manifests": [_ns()], "addons": [_redis(name="ns")]}),
        'addon "ns": duplicate name',
    ),
    "duplicate_stacks": (_doc({"name": "s"}, {"name": "s"}), 'stack "s": duplicate stack name'),
    "undefined_parent": (
        _doc(
            {
                "name": "s",
                "manifests": [_ns()],
                "addons": [_redis(parents=[{"name": "ns", "kind": "manifest"}, {"name": "secrets", "kind": "manifest"}])],
            }
        ),
        'addon "r": parent manifest "secrets" is not defined in this file',
    ),
    "bad_parent_kind": (
        _doc(
            {"name": "s", "manifests": [_ns()], "addons": [_redis(parents=[{"name": "ns", "kind": "helm"}])]}
        ),
        'addon "r": parent #1 has invalid kind "helm" (must be "manifest" or "addon")',
    ),
    "cycle": (
        _doc(
            {
                "name": "s",
                "manifests": [_cm("a", {"name": "b", "kind": "manifest"}), _cm("b", {"name": "a", "kind": "manifest"})],
            }
        ),
        "dependency cycle",
    ),
    "namespace_not_rfc1123": (
        _doc({"name": "s", "manifests": [_ns()], "addons": [_redis(namespace="App_Data")]}),
        'addon "r": namespace "App_Data" is not a valid RFC 1123 label',
    ),
    "namespace_manifest_not_ancestor": (
        _doc({"name": "s", "manifests": [_ns()], "addons": [_redis(parents=None)]}),
        'addon "r": deploys into namespace "data" but manifest "ns"',
    ),
    "namespace_missing": (
        _doc({"name": "s", "addons": [_redis(namespace="nowhere", parents=None)]}),
        'addon "r": namespace "nowhere" is not created by any manifest',
    ),
    "unknown_chart": (
        _doc({"name": "s", "manifests": [_ns()], "addons": [_redis(chart_name="redis-enterprise-xl")]}),
        'addon "r": chart "redis-enterprise-xl" not found',
    ),
    "unknown_version": (
        _doc({"name": "s", "manifests": [_ns()], "addons": [_redis(chart_version="19.x")]}),
        'addon "r": chart "redis" has no version "19.x"',
    ),
    "wrong_registry": (
        _doc(
            {"name": "s", "manifests": [_ns()], "addons": [_redis(registry_url="https://charts.jetstack.io")]}
        ),
        'addon "r": chart "redis" not found in registry "https://charts.jetstack.io"',
    ),
    "plaintext_secret": (
        _doc(
            {
                "name": "s",
                "manifests": [
                    _ns(),
                    {
                        "name": "creds",
                        "parents": [{"name": "ns", "kind": "manifest"}],
                        "encrypted_paths": ["stringData.user"],
                        "manifest": SECRET,
                    },
                ],
            }
        ),
        'manifest "creds": plaintext secret values in Secret "creds" (stringData.password)',
    ),
    "wrong_kind": (_doc({"name": "s"}, kind="Cluster"), 'file: kind must be "ImportCluster"'),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_rule_rejects_bad_yaml(case: str, emu: Emu, write_yaml) -> None:
    text, expected = BAD[case]
    path = write_yaml(text)
    before = (emu.state / "clusters.json").read_bytes()
    result = emu.run("cluster", "validate", "-f", path)
    assert result.returncode == 1, (case, result.stdout, result.stderr)
    # cmd/cluster_validate.go:86-94: details on stderr, then the error line; nothing on stdout
    lines = result.stderr.splitlines()
    assert lines[0] == f'Validation failed for "{path}":' and result.stdout == ""
    assert any(expected in line for line in lines[1:-1] if line.startswith("- ")), (case, result.stderr)
    assert lines[-1] == f'Error: validation failed for "{path}"'
    # apply refuses the same file (cmd/apply.go:120-134: "Import failed …", `import failed`), changes nothing.
    applied = emu.run("cluster", "apply", "-f", path)
    assert applied.returncode == 1 and expected in applied.stderr
    assert applied.stderr.splitlines()[0] == "Import failed with the following issues:"
    assert applied.stderr.splitlines()[-1] == "Error: import failed"
    assert (emu.state / "clusters.json").read_bytes() == before


def test_every_error_is_listed_one_per_line(emu: Emu, write_yaml) -> None:
    text = _doc(
        {
            "name": "s",
            "colour": "blue",
            "addons": [_redis(chart_version="0.0.1", namespace="Bad_NS", parents=None)],
        }
    )
    path = write_yaml(text)
    result = emu.run("cluster", "validate", "-f", path)
    detail = [line for line in result.stderr.splitlines()[1:] if line.startswith("- ")]
    assert len(detail) == 3
    assert result.stderr.splitlines()[-1] == f'Error: validation failed for "{path}"'


def test_good_multi_stack_yaml_validates_applies_and_lists(emu: Emu, write_yaml) -> None:
    path = write_yaml(GOOD)
    valid = emu.run("cluster", "validate", "-f", path)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout == f'Validation passed for "{path}"; no changes applied.\n'

    dry = emu.run("cluster", "apply", "-f", path, "--dry-run")
    assert dry.returncode == 0
    assert dry.stdout == f'Validation succeeded for "{path}"; no changes applied (--dry-run).\n'
    assert "app-data" not in {
        s["name"] for s in emu.json("cluster", "stacks", "list", "--cluster", "staging-cluster")
    }

    emu.write_faults(apply_seconds=0)
    applied = emu.run("cluster", "apply", "-f", path, "--wait")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith("Cluster 'staging-cluster' configuration applied.\n")
    assert "Track them with 'ankra cluster operations list'" in applied.stdout
    listing = emu.run("cluster", "stacks", "list", "--cluster", "staging-cluster")
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[1:-1]]
        for line in listing.stdout.splitlines()
        if line.startswith("│") and "Name" not in line
    }
    assert rows["app-data"] == ["app-data", "Postgres and Redis for the app", "✓ up", "2", "2", "2"]
    assert rows["edge"] == ["edge", "Ingress for the app", "✓ up", "1", "1", "1"]
    # apply prunes what the file no longer declares (CHANGELOG v0.13.0-rc0): the seeded stacks are gone
    assert set(rows) == {"app-data", "edge"}

    # The secret's value never reaches the state: it is stored SOPS-style encrypted.
    state_text = "".join(p.read_text() for p in emu.state.glob("*.json"))
    assert "correct-horse-battery" not in state_text and "ENC[AES256_GCM" in state_text

    again = emu.run("cluster", "apply", "-f", path)  # asynchronous by default
    assert again.stdout.startswith("Cluster apply submitted.\n")
    history = emu.json("cluster", "stacks", "history", "app-data", "--cluster", "staging-cluster")["history"]
    # GetStackHistoryResponse: grouped per member, newest version first
    assert history and {item["resource_type"] for item in history} <= {"addon", "manifest"}
    assert [v["change_type"] for v in history[0]["version_history"]] == ["updated", "created"]


def test_shorthand_parents_and_existing_namespace(emu: Emu, write_yaml) -> None:
    # "monitoring" exists on the cluster already (seeded stack), so no Namespace manifest is needed.
    text = _doc(
        {
            "name": "dashboards",
            "addons": [
                {
                    "name": "grafana",
                    "chart_name": "grafana",
                    "chart_version": "8.5.2",
                    "namespace": "monitoring",
                }
            ],
        }
    )
    result = emu.run("cluster", "apply", "-f", write_yaml(text), "--cluster", "staging-cluster")
    assert result.returncode == 0, result.stderr


def test_apply_missing_file_and_new_cluster(emu: Emu, write_yaml) -> None:
    missing = emu.run("cluster", "apply", "-f", "/nonexistent/cluster.yaml")
    assert missing.returncode == 1 and "no such file" in missing.stderr
    # apply targets metadata.name; the persistent --cluster is ignored (cmd/apply.go:56-107)
    # an unknown metadata.name imports a new cluster (POST /api/v1/clusters/import); see test_go_ported.py
    unknown = emu.run("cluster", "apply", "-f", write_yaml(GOOD.replace("{name: staging-cluster}", "{name: nope}")))
    assert unknown.returncode == 0 and unknown.stdout.startswith("Cluster apply submitted.\n"), unknown.stderr
    assert emu.json("cluster", "info", "nope")["kind"] == "imported"
    ignored = emu.run("cluster", "apply", "-f", write_yaml(GOOD), "--cluster", "production")
    assert ignored.returncode == 0, ignored.stderr
    assert "app-data" in {s["name"] for s in emu.json("cluster", "stacks", "list", "--cluster", "staging-cluster")}
    assert "app-data" not in {s["name"] for s in emu.json("cluster", "stacks", "list", "--cluster", "production")}


def test_apply_is_asynchronous_and_its_operation_shows_when_it_finishes(emu: Emu, write_yaml) -> None:
    """TestApplyClusterAsyncSubmitAgainstMockAPI (cmd/apply_async_smoke_test.go:13): without --wait the
    apply is submitted; `cluster operations list` shows the deploy until it completes."""
    emu.write_faults(apply_seconds=1.5)
    submitted = emu.json("cluster", "apply", "-f", write_yaml(GOOD))
    assert submitted == {"submitted": True, "operation": "Cluster apply",
                         "hint": "re-run with --wait to block until completion and see the full result"}
    ops = emu.json("cluster", "operations", "list", "--cluster", "staging-cluster")
    assert ops[0]["type"] == "cluster_apply" and ops[0]["status"] == "running"
    assert ops[0]["step_summary"]["running"] == 2
    import time

    deadline = time.monotonic() + 20
    while emu.json("cluster", "operations", "list", "--cluster", "staging-cluster")[0]["status"] != "completed":
        assert time.monotonic() < deadline, "the apply operation never completed"
        time.sleep(0.3)
    states = {s["name"]: s["state"] for s in emu.json("cluster", "stacks", "list", "--cluster", "staging-cluster")}
    assert states == {"app-data": "up", "edge": "up"}


def test_stuck_apply_keeps_its_operation_running_and_stacks_deploying(emu: Emu, write_yaml) -> None:
    emu.write_faults(apply_stuck=True, apply_seconds=0)
    result = emu.run("cluster", "apply", "-f", write_yaml(GOOD), "--wait", "--timeout", "1s")
    assert result.returncode == 0, result.stderr  # --wait covers the configuration write, not the deploys
    assert emu.json("cluster", "operations", "list", "--cluster", "staging-cluster")[0]["status"] == "running"
    states = {
        s["name"]: s["state"] for s in emu.json("cluster", "stacks", "list", "--cluster", "staging-cluster")
    }
    assert states["app-data"] == "deploying"
    listing = emu.run("cluster", "stacks", "list", "--cluster", "staging-cluster")
    assert "⟳ deploying" in listing.stdout
