"""deploy/ankra/hermes-stack.yaml: the ImportCluster stack that deploys Hermes through Ankra.

Checked by the Ankra CLI emulator (`cluster apply -f … --dry-run`, the rules the real CLI
enforces), for its shape (NATS and Redis first, then one addon per service), its Hermes
values rendered with the real chart, and its NATS permissions on a real nats-server.

The emulator's chart catalog and the designer's component catalog know Bitnami's redis but neither the
NATS chart nor Hermes's own: on Ankra these come from registries the user connects (docs/deploy.md).
The tests connect them the same way — by adding exactly those two charts to the catalogs — and a
separate test proves that, without them, the only complaints are about those two charts.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hermes import bus, permissions

from .conftest import CHART, STACK, start_auth_nats
from .test_helm_chart import (
    by_kind,
    deployments,
    env_of,
    jobs,
    mounted_keys,
    pods,
    render,
    secret_env_problems,
)
from .test_nats_permissions import ALL_SUBJECTS, MAY_PUBLISH, connect

HERMES_ADDONS = ("hermes-gateway", "hermes-planner", "hermes-guard", "hermes-executor")
CHART_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]

# The registries docs/deploy.md tells the user to connect, as catalog entries.
CONNECTED = [
    {"name": "nats", "description": "A Helm chart for the NATS.io High Speed Cloud Native Distributed Communications Technology.",
     "repository_name": "nats", "repository_url": "https://nats-io.github.io/k8s/helm/charts/",
     "subscribed": True, "versions": [{"version": "1.2.6", "app_version": "2.10.22"}]},
    {"name": "hermes", "description": "Hermes, Ankra's infrastructure agent",
     "repository_name": "hermes", "repository_url": "oci://registry.example.com/charts",
     "subscribed": True, "versions": [{"version": CHART_VERSION, "app_version": CHART_VERSION}]},
]


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return yaml.safe_load(STACK.read_text())


def _addons(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for s in stack["spec"]["stacks"] for a in s.get("addons", [])}


def _manifests(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for s in stack["spec"]["stacks"] for m in s.get("manifests", [])}


@pytest.fixture
def connected_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The NATS and Hermes chart registries connected, in both the emulator and the designer."""
    import dataclasses

    from ankra_emulator import charts
    from hermes_planner.design import goals as designer
    from hermes_planner.design.catalog import Component

    catalog = charts.catalog() + copy.deepcopy(CONNECTED)
    monkeypatch.setattr(charts, "catalog", lambda: catalog)
    base = designer.catalog()
    extra = {c["name"]: Component(key=f"connected-{c['name']}", kind="connected", title=c["name"], summary="",
                                  chart=c["name"], registry_name=c["repository_name"],
                                  registry_url=c["repository_url"], version=c["versions"][0]["version"],
                                  known_versions=tuple(v["version"] for v in c["versions"]))
             for c in CONNECTED}
    patched = dataclasses.replace(base, components={**base.components, **extra})
    monkeypatch.setattr(designer, "catalog", lambda: patched)


def test_emulator_accepts_the_stack_with_cluster_apply_dry_run(connected_registries, emulator_state,
                                                               monkeypatch, capsys) -> None:
    from ankra_emulator import cli

    state, token, _wrapper = emulator_state
    monkeypatch.setenv("ANKRA_EMULATOR_STATE", str(state))
    monkeypatch.setenv("ANKRA_API_TOKEN", token)
    before = json.loads((state / "clusters.json").read_text())
    code = cli.main(["cluster", "apply", "-f", str(STACK), "--dry-run", "--cluster", "staging-cluster"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "hermes" in out.out
    assert json.loads((state / "clusters.json").read_text()) == before, "a dry run changes nothing"
    # validate says the same
    assert cli.main(["cluster", "validate", "-f", str(STACK), "--cluster", "staging-cluster"]) == 0, \
        capsys.readouterr().err


def test_emulator_apply_stores_secrets_encrypted_only(connected_registries, emulator_state, monkeypatch,
                                                      capsys) -> None:
    from ankra_emulator import cli

    state, token, _wrapper = emulator_state
    monkeypatch.setenv("ANKRA_EMULATOR_STATE", str(state))
    monkeypatch.setenv("ANKRA_API_TOKEN", token)
    assert cli.main(["cluster", "apply", "-f", str(STACK), "--cluster", "staging-cluster"]) == 0, \
        capsys.readouterr().err
    stored = (state / "clusters.json").read_text()
    assert "ENC[AES256_GCM" in stored
    secret = yaml.safe_load(_manifests(yaml.safe_load(STACK.read_text()))["hermes-secrets"]["manifest"])
    for key, value in secret["stringData"].items():
        assert value not in stored, f"{key} is stored in plain text"
    capsys.readouterr()
    assert cli.main(["cluster", "stacks", "list", "hermes", "--cluster", "staging-cluster", "-o", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    stack = listed[0] if isinstance(listed, list) else listed
    assert {a["name"] for a in stack["addons"]} == {"nats", "redis", *HERMES_ADDONS}


def test_without_the_connected_registries_only_the_two_charts_are_missing(emulator_state) -> None:
    """The real emulator binary, unpatched: every rule passes but the registry one for nats/hermes."""
    _state, token, wrapper = emulator_state
    env = {**os.environ, "ANKRA_API_TOKEN": token}
    proc = subprocess.run([str(wrapper), "cluster", "apply", "-f", str(STACK), "--dry-run",
                           "--cluster", "staging-cluster"], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    if proc.returncode == 0:
        return  # the catalog has learnt both charts
    problems = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith("- ")]
    assert problems, proc.stderr
    for line in problems:
        assert re.match(r'- addon "(nats|hermes-\w+)": chart "(nats|hermes)" not found in any connected registry',
                        line), line


def test_nats_and_redis_first_then_one_addon_per_service(stack: dict[str, Any]) -> None:
    addons = _addons(stack)
    manifests = _manifests(stack)
    assert list(addons) == ["nats", "redis", *HERMES_ADDONS]
    assert addons["nats"]["parents"] == [{"name": "hermes-secrets", "kind": "manifest"}]
    assert addons["redis"]["parents"] == [{"name": "hermes-secrets", "kind": "manifest"}]
    assert manifests["hermes-secrets"]["parents"] == [{"name": "hermes-namespace", "kind": "manifest"}]
    for name in HERMES_ADDONS:
        addon = addons[name]
        assert addon["chart_name"] == "hermes" and addon["chart_version"] == CHART_VERSION
        parents = {(p["kind"], p["name"]) for p in addon["parents"]}
        assert {("addon", "nats"), ("addon", "redis"), ("manifest", "hermes-secrets")} <= parents
        assert addon["namespace"] == "hermes"
    assert addons["redis"]["chart_version"] == "20.2.1"
    redis_values = yaml.safe_load(addons["redis"]["configuration"]["values"])
    assert "appendonly yes" in redis_values["commonConfiguration"]
    assert redis_values["auth"]["existingSecret"] == "hermes-secrets"
    nats_values = yaml.safe_load(addons["nats"]["configuration"]["values"])
    assert nats_values["config"]["jetstream"]["fileStore"]["enabled"] is True


def test_secrets_are_under_encrypted_paths_and_cover_what_the_chart_reads(stack: dict[str, Any]) -> None:
    secret_manifest = _manifests(stack)["hermes-secrets"]
    assert secret_manifest["encrypted_paths"] == ["stringData"]
    secret = yaml.safe_load(secret_manifest["manifest"])
    keys = set(secret["stringData"])
    assert all(str(v).startswith("REPLACE_WITH_") for v in secret["stringData"].values())
    assert not keys & {"signing-key", "redis-password"}, "the shared HMAC key and Redis password are gone"
    # every key a Hermes release or the NATS/Redis addons read exists in the Secret
    needed: set[str] = set()
    for name in HERMES_ADDONS:
        values = yaml.safe_load(_addons(stack)[name]["configuration"]["values"])
        docs = render(values)
        for component, pod in pods(docs).items():
            for volume in pod["volumes"]:
                sources = [s["secret"] for s in volume.get("projected", {}).get("sources", []) if "secret" in s]
                if "secret" in volume:
                    sources.append({"name": volume["secret"]["secretName"], **volume["secret"]})
                for source in sources:
                    assert source["name"] == "hermes-secrets", (name, component)
                    if not source.get("optional"):
                        needed |= {i["key"] for i in source["items"]}
            assert not secret_env_problems(pod["containers"][0]["env"]), (name, component)
    assert {f"{c}.key" for c in ("gateway", "planner", "guard", "executor")} <= needed
    nats_env = yaml.safe_load(_addons(stack)["nats"]["configuration"]["values"])["container"]["env"]
    needed |= {v["valueFrom"]["secretKeyRef"]["key"] for v in nats_env.values()}
    redis = yaml.safe_load(_addons(stack)["redis"]["configuration"]["values"])
    needed.add(redis["auth"]["existingSecretPasswordKey"])
    needed |= {i["key"] for v in redis["master"]["extraVolumes"] for i in v["secret"]["items"]}
    assert needed <= keys, needed - keys


def test_every_release_reads_the_public_keys_of_one_config_map(stack: dict[str, Any]) -> None:
    config_map = yaml.safe_load(_manifests(stack)["hermes-trusted-keys"]["manifest"])
    assert config_map["kind"] == "ConfigMap" and "public-keys.json" in config_map["data"]
    for name in HERMES_ADDONS:
        addon = _addons(stack)[name]
        assert {"name": "hermes-trusted-keys", "kind": "manifest"} in addon["parents"]
        values = yaml.safe_load(addon["configuration"]["values"])
        assert values["trustedKeys"] == {"existingConfigMap": "hermes-trusted-keys"}
        docs = render(values)
        env = env_of(next(iter(deployments(docs).values())))
        assert env["HERMES_TRUSTED_KEYS"]["valueFrom"]["configMapKeyRef"] == {"name": "hermes-trusted-keys",
                                                                             "key": "public-keys.json"}
        assert not by_kind(docs, "ConfigMap").get("hermes-trusted-keys")


def test_redis_loads_the_acl_file_and_cannot_fall_back_to_nopass(stack: dict[str, Any]) -> None:
    """The redis addon (bitnami/redis 20.2.1) starts with `--aclfile` from hermes-secrets' redis-users.acl,
    the only key of that Secret its pod mounts besides the admin password; its probes log in as admin
    (the default user, which the chart's own probes use, is off)."""
    redis = yaml.safe_load(_addons(stack)["redis"]["configuration"]["values"])
    master = redis["master"]
    flag, path = master["extraFlags"]
    assert flag == "--aclfile"
    (volume,) = master["extraVolumes"]
    (mount,) = master["extraVolumeMounts"]
    assert mount["name"] == volume["name"] and mount["readOnly"] is True
    assert volume["secret"]["secretName"] == "hermes-secrets"
    assert volume["secret"]["items"] == [{"key": "redis-users.acl", "path": path.removeprefix(mount["mountPath"] + "/")}]
    assert volume["secret"]["defaultMode"] == 0o440, "readable by Redis (fsGroup), by nobody else"
    auth = redis["auth"]
    assert auth["enabled"] is True and auth["usePasswordFiles"] is True
    assert auth["existingSecret"] == "hermes-secrets" and auth["existingSecretPasswordKey"] == "redis-admin-password"
    for probe in ("customLivenessProbe", "customReadinessProbe"):
        command = master[probe]["exec"]["command"][-1]
        assert "redis-cli --user admin" in command and '"$REDIS_PASSWORD_FILE"' in command
    assert "acl" not in auth, "not the chart's ACL users: its lookup falls back to nopass"


def test_each_hermes_addon_renders_exactly_its_component(stack: dict[str, Any]) -> None:
    for name in HERMES_ADDONS:
        component = name.removeprefix("hermes-")
        values = yaml.safe_load(_addons(stack)[name]["configuration"]["values"])
        docs = render(values)
        assert list(deployments(docs)) == [component]
        assert not by_kind(docs, "Secret")
        env = env_of(deployments(docs)[component])
        assert env["HERMES_NATS_URL"]["value"] == "nats://nats.hermes.svc:4222"
        assert env["HERMES_NATS_USER"]["value"] == env["HERMES_REDIS_USER"]["value"] == component
        assert env["HERMES_NATS_DECLARE_STREAMS"]["value"] == "false"
        assert mounted_keys(pods(docs)[component])[f"{component}.key"] == "/run/secrets/hermes/service.key"
        # exactly one release runs the bootstrap Job
        assert bool(jobs(docs)) == (component == "gateway"), name
    executor = yaml.safe_load(_addons(stack)["hermes-executor"]["configuration"]["values"])
    assert executor["executor"]["replicaCount"] >= 2


def _nats_conf_from_stack(stack: dict[str, Any], path: Path) -> Path:
    """The nats.conf the NATS chart renders from the addon's `config.merge` (`<< $VAR >>` unquoted)."""
    merge = yaml.safe_load(_addons(stack)["nats"]["configuration"]["values"])["config"]["merge"]
    text = json.dumps({"jetstream": {"max_file_store": 1 << 30}, **merge}, indent=2)
    text = re.sub(r'"<< (.+?) >>"', r"\1", text)
    path.write_text(text)
    return path


def test_stack_nats_users_are_the_generated_ones(stack: dict[str, Any]) -> None:
    """The NATS addon's users are hermes.permissions' table, and its container has every password."""
    values = yaml.safe_load(_addons(stack)["nats"]["configuration"]["values"])
    assert values["config"]["merge"]["authorization"]["users"] == permissions.nats_helm_users(), \
        "regenerate: python -m hermes.permissions nats-helm"
    env = values["container"]["env"]
    assert set(env) == {permissions.password_env(u) for u in permissions.NATS_USERS}
    for user in permissions.NATS_USERS:
        assert env[permissions.password_env(user)]["valueFrom"]["secretKeyRef"] == {
            "name": "hermes-secrets", "key": f"nats-{user}-password"}


async def test_stack_nats_permissions_match_the_compose_ones(stack: dict[str, Any], tmp_path: Path) -> None:
    """The NATS users of the stack enforce the same rules on a real server as deploy/nats/nats.conf:
    the bootstrap user bootstraps, and each user publishes exactly its own subjects."""
    server = start_auth_nats(_nats_conf_from_stack(stack, tmp_path / "nats.conf"), tmp_path / "nats")
    try:
        await bus.bootstrap(server.url("bootstrap"))
        for user, allowed in MAY_PUBLISH.items():
            async with connect(server, user) as conn:
                for key, subject in ALL_SUBJECTS.items():
                    if key in allowed:
                        await conn.nc.jetstream().publish(subject, b"{}", timeout=5)
                    else:
                        await conn.nc.publish(subject, b"{}")
                        await conn.nc.flush()
                        assert await conn.violation(f'"{subject}"', timeout=2), (user, subject)
    finally:
        server.stop()
