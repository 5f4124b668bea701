"""deploy/helm/hermes: linted and rendered with the Helm v4 SDK (helm-python-sdk, no helm binary) for
several values sets; every rendered manifest validated by kubernetes-validate in strict mode. No secret
is in any container's environment: each component mounts its own keys of the Secret as files, and the
Redis ACL the chart renders holds SHA-256 hashes only (loaded into a real redis-server here)."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import redis as redis_py
import yaml
from hermes import permissions
from hermes.signing import ServiceKey

from .conftest import CHART, start_redis_with_aclfile

KUBE_VERSIONS = ("1.31.0", "1.34.0")
COMPONENTS = ("gateway", "planner", "guard", "executor")

# Test keys (fixed seeds: not secrets), as `hermes keys DIR` + --set-file would give them.
TEST_KEYS = {c: ServiceKey(c, hashlib.sha256(f"test-{c}".encode()).digest()) for c in COMPONENTS}
PUBLIC_KEYS = json.dumps({c: k.public_text for c, k in TEST_KEYS.items()}, indent=2) + "\n"
KEY_VALUES: dict[str, Any] = {"serviceKeys": {c: k.private_text() + "\n" for c, k in TEST_KEYS.items()},
                              "trustedKeys": {"json": PUBLIC_KEYS}}

# The guide's values, as a user arriving from it writes them (plus what Hermes adds per component).
GUIDE_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com/hermes", "tag": "0.1.0"},
    "config": {"model": "anthropic/claude-sonnet-4-6", "port": 8789, "logLevel": "info",
               "anthropicApiKey": "sk-ant-test", "slackBotToken": "xoxb-1", "slackAppToken": "xapp-1"},
    "resources": {"requests": {"memory": "512Mi", "cpu": "250m"}, "limits": {"memory": "1Gi", "cpu": "1000m"}},
    "persistence": {"enabled": True, "size": "5Gi"},
}

PRODUCTION_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com/hermes", "tag": "0.1.0"},
    "config": {"anthropicApiKey": ""},
    "existingSecret": {"name": "hermes-api-key", "anthropicApiKeyKey": "anthropic-api-key"},
    "persistence": {"enabled": True, "size": "5Gi", "storageClass": "fast"},
    "ingress": {
        "enabled": True, "className": "nginx",
        "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt-prod"},
        "hosts": [{"host": "hermes.your-domain.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
        "tls": [{"secretName": "hermes-tls", "hosts": ["hermes.your-domain.com"]}],
    },
    "executor": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6}, "maxInFlight": 2,
                 "resources": {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}},
    "gateway": {"replicaCount": 1},
    "nats": {"url": "nats://nats.hermes.svc:4222"},
    "redis": {"url": "redis://redis-master.hermes.svc:6379/0"},
}

MINIMAL_VALUES: dict[str, Any] = {
    "networkPolicy": {"enabled": False},
    "serviceAccount": {"create": False},
    "nats": {"auth": {"enabled": False}},
    "redis": {"auth": {"enabled": False}},
    "executor": {"replicaCount": 1},
}

# One component per release, as the Ankra stack installs them.
EXECUTOR_ONLY: dict[str, Any] = {
    "existingSecret": {"name": "hermes-secrets"},
    "trustedKeys": {"existingConfigMap": "hermes-trusted-keys"},
    "gateway": {"enabled": False}, "planner": {"enabled": False}, "guard": {"enabled": False},
    "executor": {"replicaCount": 3},
}

VALUE_SETS = {"defaults": {}, "guide": GUIDE_VALUES, "production": PRODUCTION_VALUES,
              "minimal": MINIMAL_VALUES, "executor-only": EXECUTOR_ONLY}


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else \
            copy.deepcopy(value)
    return out


def with_keys(values: dict[str, Any] | None) -> dict[str, Any]:
    """`values` with the keys an install needs (`hermes keys` + --set-file), unless it names its own."""
    values = values or {}
    if values.get("existingSecret", {}).get("name"):
        return merged({"trustedKeys": KEY_VALUES["trustedKeys"]}, values) \
            if not values.get("trustedKeys") else copy.deepcopy(values)
    return merged(KEY_VALUES, values)


def render(values: dict[str, Any] | None, *, keys: bool = True, **options: Any) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    values = with_keys(values) if keys else copy.deepcopy(values)
    options = {"is_install": True, **options}
    rendered = chart.render(values or None, name="hermes", namespace="hermes", **options)
    docs: list[dict[str, Any]] = []
    for path, text in rendered.items():
        if not path.endswith((".yaml", ".yml")):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in by_kind(docs, "Deployment").values()}


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_chart_lints_strictly(name: str) -> None:
    report = helm.lint(CHART, with_keys(VALUE_SETS[name]), strict=True, namespace="hermes",
                       kube_version="v1.31.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_manifest_is_valid_kubernetes(name: str, kube_version: str) -> None:
    docs = render(VALUE_SETS[name])
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.ValidationError as err:
            raise AssertionError(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {err.message} at "
                                 f"{'/'.join(map(str, err.path))}") from None


def test_strict_validation_is_real() -> None:
    """A misspelt field in a rendered Deployment is refused by the strict schemas."""
    deployment = deployments(render({}))["gateway"]
    deployment["spec"]["template"]["spec"]["automountServiceAcountToken"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[-1], strict=True)


def test_one_deployment_per_component_with_its_own_replica_count() -> None:
    values = {c: {"replicaCount": n} for c, n in zip(COMPONENTS, (1, 1, 1, 4), strict=True)}
    deps = deployments(render(values))
    assert sorted(deps) == sorted(COMPONENTS)
    assert {c: d["spec"]["replicas"] for c, d in deps.items()} == {"gateway": 1, "planner": 1, "guard": 1,
                                                                    "executor": 4}
    for component, dep in deps.items():
        selector = dep["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/component"] == component
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == f"ghcr.io/ankraio/hermes-{component}:0.1.0"
        expected = "RollingUpdate" if component == "executor" else "Recreate"
        assert dep["spec"]["strategy"]["type"] == expected
    # only the gateway listens, so only it has a Service
    services = by_kind(render({}), "Service")
    assert list(services) == ["hermes"]
    assert services["hermes"]["spec"]["selector"]["app.kubernetes.io/component"] == "gateway"


def test_a_top_level_replica_count_from_the_guide_is_refused_with_a_clear_message() -> None:
    with pytest.raises(helm.HelmError, match="replicaCount is set per component"):
        render({"replicaCount": 1})


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_security_context_and_no_service_account_token(name: str) -> None:
    docs = render(VALUE_SETS[name])
    for component, dep in deployments(docs).items():
        pod = dep["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False, component
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] == 1000 and psc["fsGroup"] == 1000
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
        container = pod["containers"][0]
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 1000
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert {"/tmp", "/var/lib/hermes", "/etc/hermes"} <= set(mounts)
        assert mounts["/etc/hermes"]["readOnly"] is True
    for sa in by_kind(docs, "ServiceAccount").values():
        assert sa["automountServiceAccountToken"] is False


def test_gateway_probes_on_healthz_and_readyz() -> None:
    gateway = deployments(render(GUIDE_VALUES))["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gateway["ports"] == [{"name": "http", "containerPort": 8789, "protocol": "TCP"}]
    env = env_of(deployments(render(GUIDE_VALUES))["gateway"])
    assert env["HERMES_HTTP_PORT"]["value"] == "8789" and env["HERMES_HTTP_HOST"]["value"] == "0.0.0.0"


def test_network_policy_allows_only_https_dns_nats_and_redis_egress() -> None:
    policies = by_kind(render({}), "NetworkPolicy")
    egress = policies["hermes-egress"]
    assert egress["spec"]["policyTypes"] == ["Egress"]
    assert egress["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "hermes",
                                                             "app.kubernetes.io/instance": "hermes"}
    ports = sorted((p["protocol"], p["port"]) for rule in egress["spec"]["egress"] for p in rule["ports"])
    assert ports == [("TCP", 53), ("TCP", 443), ("TCP", 4222), ("TCP", 6379), ("UDP", 53)]
    assert all(rule.get("to") for rule in egress["spec"]["egress"]), "every rule names its peers"
    ingress = policies["hermes-ingress"]
    assert [p["port"] for r in ingress["spec"]["ingress"] for p in r["ports"]] == [8789]
    assert not by_kind(render(MINIMAL_VALUES), "NetworkPolicy")


SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET|(^|_)KEYS?$|API_KEY|SIGNING", re.IGNORECASE)


def pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """component -> pod spec, for every Deployment and Job."""
    out = {c: d["spec"]["template"]["spec"] for c, d in deployments(docs).items()}
    for job in by_kind(docs, "Job").values():
        out["bootstrap"] = job["spec"]["template"]["spec"]
    return out


def secret_env_problems(env: list[dict[str, Any]]) -> list[str]:
    problems = []
    for e in env:
        name = e["name"]
        if "secretKeyRef" in e.get("valueFrom", {}):
            problems.append(f"{name} comes from a Secret: mount it as a file")
        if SECRETISH.search(name) and not name.endswith("_FILE") and \
                not (name == "HERMES_TRUSTED_KEYS" and "configMapKeyRef" in e.get("valueFrom", {})):
            problems.append(f"{name} names a secret")
        if re.search(r"://[^/@\s]*:[^/@\s]*@", str(e.get("value", ""))):
            problems.append(f"{name} is a URL with credentials")
    return problems


def mounted_keys(pod: dict[str, Any]) -> dict[str, str]:
    """Secret key -> path in the container, of the pod's `secrets` volume (mounted at /run/secrets/hermes)."""
    (volume,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
    sources = [s["secret"] for s in volume["projected"]["sources"]] if "projected" in volume else \
        [{"name": volume["secret"]["secretName"], **volume["secret"]}]
    container = pod["containers"][0]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "secrets"]
    assert mount["readOnly"] is True
    return {i["key"]: f"{mount['mountPath']}/{i['path']}" for source in sources for i in source["items"]}


def test_secret_env_problems_finds_the_old_layout() -> None:
    """The check is real: the environment of the shared-HMAC chart is caught entry by entry."""
    ref = {"valueFrom": {"secretKeyRef": {"name": "hermes", "key": "k"}}}
    old = [{"name": "HERMES_NATS_PASSWORD", **ref}, {"name": "HERMES_SIGNING_KEY", **ref},
           {"name": "HERMES_API_TOKEN", **ref}, {"name": "ANKRA_API_TOKEN", **ref},
           {"name": "HERMES_NATS_URL", "value": "nats://gateway:$(HERMES_NATS_PASSWORD)@nats:4222"}]
    assert len(secret_env_problems(old)) >= len(old)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_no_pod_has_a_secret_in_its_environment(name: str) -> None:
    for component, pod in pods(render(VALUE_SETS[name])).items():
        for container in pod["containers"]:
            env = container.get("env", [])
            assert not secret_env_problems(env), (component, secret_env_problems(env))
            names = {e["name"] for e in env}
            assert not names & {"HERMES_SIGNING_KEY", "HERMES_API_TOKEN", "HERMES_NATS_PASSWORD",
                                "HERMES_REDIS_PASSWORD", "ANKRA_API_TOKEN", "ANTHROPIC_API_KEY"}, component


def test_each_component_mounts_only_its_own_keys() -> None:
    docs = render(GUIDE_VALUES)  # a model key and Slack tokens set: the chart's own Secret
    expected = {c: {f"{c}.key": "service.key", f"nats-{c}-password": "nats-password",
                    f"redis-{c}-password": "redis-password"} for c in COMPONENTS}
    expected["gateway"] |= {"api-token": "api-token", "slack-bot-token": "slack-bot-token",
                            "slack-app-token": "slack-app-token"}
    expected["planner"] |= {"anthropic-api-key": "anthropic-api-key"}
    expected["executor"] |= {"ankra-api-token": "ankra-api-token"}
    expected["bootstrap"] = {"nats-bootstrap-password": "nats-password"}
    secret = by_kind(docs, "Secret")["hermes"]["data"]
    for component, pod in pods(docs).items():
        keys = mounted_keys(pod)
        assert {k: v.rsplit("/", 1)[1] for k, v in keys.items()} == expected[component], component
        assert set(keys) <= set(secret), component
        (volume,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
        mode = (volume.get("projected") or volume.get("secret"))["defaultMode"]
        assert mode == 0o440, "root-owned, readable through fsGroup"
        # and each file variable points at one of its own files
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        files = {v for k, v in env.items() if k.endswith("_FILE")}
        assert files and files <= set(keys.values()), (component, files - set(keys.values()))
    # the app token of Slack is optional (HTTP mode has none); nothing else is
    gateway = pods(docs)["gateway"]
    (volume,) = [v for v in gateway["volumes"] if v["name"] == "secrets"]
    optional = [s["secret"] for s in volume["projected"]["sources"] if s["secret"].get("optional")]
    assert [[i["key"] for i in s["items"]] for s in optional] == [["slack-app-token"]]


def test_every_component_logs_in_as_itself_from_files() -> None:
    docs = render(GUIDE_VALUES)
    for component, dep in deployments(docs).items():
        env = env_of(dep)
        assert env["HERMES_NATS_URL"]["value"] == "nats://nats:4222"
        assert env["HERMES_REDIS_URL"]["value"] == "redis://redis-master:6379/0"
        assert env["HERMES_NATS_USER"]["value"] == env["HERMES_REDIS_USER"]["value"] == component
        assert env["HERMES_NATS_PASSWORD_FILE"]["value"] == "/run/secrets/hermes/nats-password"
        assert env["HERMES_REDIS_PASSWORD_FILE"]["value"] == "/run/secrets/hermes/redis-password"
        assert env["HERMES_SERVICE_KEY_FILE"]["value"] == "/run/secrets/hermes/service.key"
        assert env["HERMES_TRUSTED_KEYS"]["valueFrom"]["configMapKeyRef"] == {"name": "hermes-trusted-keys",
                                                                             "key": "public-keys.json"}
    assert json.loads(by_kind(docs, "ConfigMap")["hermes-trusted-keys"]["data"]["public-keys.json"]) == \
        json.loads(PUBLIC_KEYS)
    deps = deployments(docs)
    assert env_of(deps["planner"])["HERMES_ANTHROPIC_API_KEY_FILE"]["value"] == "/run/secrets/hermes/anthropic-api-key"
    assert env_of(deps["gateway"])["HERMES_API_TOKEN_FILE"]["value"] == "/run/secrets/hermes/api-token"
    assert env_of(deps["executor"])["HERMES_ANKRA_API_TOKEN_FILE"]["value"] == "/run/secrets/hermes/ankra-api-token"
    assert {c for c, d in deps.items() if "HERMES_ANTHROPIC_API_KEY_FILE" in env_of(d)} == {"planner"}


def test_the_chart_secret_holds_the_keys_and_generated_passwords() -> None:
    docs = render(GUIDE_VALUES)
    data = {k: base64.b64decode(v).decode() for k, v in by_kind(docs, "Secret")["hermes"]["data"].items()}
    for component, key in TEST_KEYS.items():
        assert ServiceKey.from_text(component, data[f"{component}.key"]).public_text == key.public_text
    assert {f"nats-{u}-password" for u in permissions.NATS_USERS} <= set(data)
    assert {f"redis-{u}-password" for u in permissions.REDIS_USERS} <= set(data)
    assert data["anthropic-api-key"] == "sk-ant-test" and data["slack-bot-token"] == "xoxb-1"
    assert "discord-token" not in data and "signing-key" not in data and "redis-password" not in data
    import ankra_emulator.state

    assert data["ankra-api-token"] == ankra_emulator.state.DEFAULT_TOKEN, "the emulator's, when none is given"
    assert len(data["api-token"]) >= 32
    assert not by_kind(render(PRODUCTION_VALUES), "Secret"), "existingSecret: the chart creates no Secret"


def test_an_existing_secret_is_read_by_key_and_nothing_is_generated() -> None:
    prod = render(PRODUCTION_VALUES)
    for component, pod in pods(prod).items():
        (volume,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
        names = {s["secret"]["name"] for s in volume["projected"]["sources"]} if "projected" in volume else \
            {volume["secret"]["secretName"]}
        assert names == {"hermes-api-key"}, component
    planner = mounted_keys(pods(prod)["planner"])
    assert planner["anthropic-api-key"] == "/run/secrets/hermes/anthropic-api-key"
    # a Secret without a model key: say so, and the planner mounts none (the rule-based planner)
    rules = render({**PRODUCTION_VALUES, "existingSecret": {"name": "hermes-api-key", "anthropicApiKeyKey": ""}})
    assert "anthropic-api-key" not in mounted_keys(pods(rules)["planner"])
    assert "HERMES_ANTHROPIC_API_KEY_FILE" not in env_of(deployments(rules)["planner"])


@pytest.mark.parametrize(("values", "message"), [
    ({}, "trustedKeys: every component needs the services' public keys"),
    ({"trustedKeys": {"json": PUBLIC_KEYS}}, "serviceKeys.gateway is empty"),
    ({"trustedKeys": {"json": PUBLIC_KEYS}, "serviceKeys": {**KEY_VALUES["serviceKeys"], "guard": "bm90LWEta2V5"}},
     "serviceKeys.guard is not a key of `hermes keys`"),
    ({**KEY_VALUES, "trustedKeys": {"json": "{not json"}}, "trustedKeys.json is not JSON"),
    ({**KEY_VALUES, "trustedKeys": {"json": json.dumps({"gateway": "x"})}}, "has no public key for planner"),
])
def test_missing_or_broken_keys_fail_the_render_with_what_to_do(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render(values, keys=False)


def test_chat_tokens_are_files_of_the_gateway_alone(tmp_path: Path) -> None:
    docs = render({**GUIDE_VALUES, "config": {**GUIDE_VALUES["config"], "telegramToken": "1:t"}})
    data = by_kind(docs, "ConfigMap")["hermes-config"]["data"]
    assert "xoxb-1" not in json.dumps(data) and "channels" not in json.loads(data["hermes.json"])
    gateway_doc = json.loads(data["gateway.json"])
    assert gateway_doc["channels"]["slack"]["botToken"] == {"source": "file", "id": "/run/secrets/hermes/slack-bot-token"}
    assert "discord" not in gateway_doc["channels"]
    deps = deployments(docs)
    assert env_of(deps["gateway"])["HERMES_CONFIG"]["value"] == "/etc/hermes/gateway.json"
    assert all(env_of(deps[c])["HERMES_CONFIG"]["value"] == "/etc/hermes/hermes.json" for c in COMPONENTS[1:])
    assert {"slack-bot-token", "telegram-token"} <= set(mounted_keys(pods(docs)["gateway"]))
    for component in COMPONENTS[1:]:
        assert not {"slack-bot-token", "slack-app-token", "telegram-token"} & set(mounted_keys(pods(docs)[component]))
    # the config loader reads them from the files the gateway mounts
    from hermes.config import load_config

    secrets = {k: base64.b64decode(v).decode() for k, v in by_kind(docs, "Secret")["hermes"]["data"].items()}
    for key, path in mounted_keys(pods(docs)["gateway"]).items():
        (tmp_path / Path(path).name).write_text(secrets[key])
    doc = tmp_path / "gateway.json"
    doc.write_text(data["gateway.json"].replace("/run/secrets/hermes", str(tmp_path)))
    loaded = load_config(doc, env={})
    assert not loaded.errors, loaded.errors
    assert loaded.channels.slack.bot_token.get_secret_value() == "xoxb-1"
    assert loaded.channels.slack.app_token.get_secret_value() == "xapp-1"
    assert loaded.channels.telegram.bot_token.get_secret_value() == "1:t"
    # with an existing Secret, a platform is turned on by name
    prod = render({**PRODUCTION_VALUES, "gateway": {"chat": {"discord": True}}})
    assert "discord-token" in mounted_keys(pods(prod)["gateway"])
    assert json.loads(by_kind(prod, "ConfigMap")["hermes-config"]["data"]["gateway.json"])["channels"] == \
        {"discord": {"token": {"source": "file", "id": "/run/secrets/hermes/discord-token"}}}


def test_config_map_carries_the_guide_config_block_without_secrets() -> None:
    docs = render(GUIDE_VALUES)
    text = by_kind(docs, "ConfigMap")["hermes-config"]["data"]["hermes.json"]
    assert "sk-ant-test" not in text and "xoxb-1" not in text and "${" not in text

    doc = json.loads(text)
    assert doc["config"] == {"model": "anthropic/claude-sonnet-4-6", "port": 8789}
    env = env_of(deployments(docs)["planner"])
    assert env["HERMES_LOG_LEVEL"]["value"] == "INFO" and env["HERMES_CONFIG"]["value"] == "/etc/hermes/hermes.json"


def test_config_map_is_accepted_by_hermes_config_loader(tmp_path) -> None:
    from hermes.config import load_config

    for key in ("hermes.json", "gateway.json"):
        text = by_kind(render(GUIDE_VALUES), "ConfigMap")["hermes-config"]["data"][key]
        path = tmp_path / key
        path.write_text(text)
        result = load_config(path, env={})
        assert result.anthropic_api_key is None, "the planner reads its key from a file, not from the config"
        if key == "hermes.json":
            assert not result.errors, result.errors


def test_executor_sandbox_may_write_the_emulator_state() -> None:
    dockerfile = (CHART.parents[2] / "Dockerfile").read_text()
    state = re.search(r"python -m ankra_emulator wrapper --state (\S+)", dockerfile).group(1)
    env = env_of(deployments(render({}))["executor"])
    assert json.loads(env["HERMES_EXEC_BWRAP_WRITABLE"]["value"]) == [state]
    release = env_of(deployments(render({"executor": {"sandboxWritable": []}}))["executor"])
    assert json.loads(release["HERMES_EXEC_BWRAP_WRITABLE"]["value"]) == []


def test_persistence_ingress_and_autoscaling() -> None:
    prod = render(PRODUCTION_VALUES)
    claims = by_kind(prod, "PersistentVolumeClaim")
    assert sorted(claims) == ["hermes-gateway-state", "hermes-guard-state", "hermes-planner-state"]
    assert all(c["spec"]["resources"]["requests"]["storage"] == "5Gi" for c in claims.values())
    assert all(c["spec"]["storageClassName"] == "fast" for c in claims.values())
    deps = deployments(prod)
    state = {v["name"]: v for v in deps["executor"]["spec"]["template"]["spec"]["volumes"]}["state"]
    assert "emptyDir" in state, "the executor scales: it keeps no volume"
    ingress = by_kind(prod, "Ingress")["hermes"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["hermes.your-domain.com"], "secretName": "hermes-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "hermes", "port": {"name": "http"}}
    hpa = by_kind(prod, "HorizontalPodAutoscaler")["hermes-executor"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "hermes-executor"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert "replicas" not in deps["executor"]["spec"], "the HPA owns the executor's replica count"
    assert env_of(deps["executor"])["HERMES_EXEC_MAX_IN_FLIGHT"]["value"] == "2"
    assert not by_kind(render({}), "HorizontalPodAutoscaler") and not by_kind(render({}), "Ingress")
    assert not by_kind(render({}), "PersistentVolumeClaim")


def test_one_component_per_release() -> None:
    docs = render(EXECUTOR_ONLY)
    assert list(deployments(docs)) == ["executor"]
    assert not by_kind(docs, "Service") and not by_kind(docs, "Secret")
    assert deployments(docs)["executor"]["spec"]["replicas"] == 3


def jobs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return by_kind(docs, "Job")


def test_the_bootstrap_job_creates_the_streams_as_the_bootstrap_user() -> None:
    docs = render(GUIDE_VALUES)
    (job,) = jobs(docs).values()
    assert job["metadata"]["name"] == "hermes-bootstrap-1"  # one per revision: every upgrade runs it
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["hermes", "bootstrap"]
    assert container["image"] == "registry.example.com/hermes-gateway:0.1.0"
    env = {e["name"]: e for e in container["env"]}
    assert env["HERMES_NATS_URL"]["value"] == "nats://nats:4222" and env["HERMES_NATS_USER"]["value"] == "bootstrap"
    assert env["HERMES_NATS_PASSWORD_FILE"]["value"] == "/run/secrets/hermes/nats-password"
    assert mounted_keys(pod) == {"nats-bootstrap-password": "/run/secrets/hermes/nats-password"}
    assert "nats-bootstrap-password" in by_kind(docs, "Secret")["hermes"]["data"]
    # the executor and the bootstrap agree on the executor consumer's ack wait
    executor_env = env_of(deployments(docs)["executor"])
    assert env["HERMES_EXEC_ACK_WAIT_SECONDS"]["value"] == executor_env["HERMES_EXEC_ACK_WAIT_SECONDS"]["value"] == "60"
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "OnFailure"
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    # its pod falls under the chart's egress policy (NATS only, besides DNS and HTTPS)
    labels = job["spec"]["template"]["metadata"]["labels"]
    egress = by_kind(docs, "NetworkPolicy")["hermes-egress"]["spec"]["podSelector"]["matchLabels"]
    assert egress.items() <= labels.items()
    # the components declare nothing: their users may not
    for component, dep in deployments(docs).items():
        assert env_of(dep)["HERMES_NATS_DECLARE_STREAMS"]["value"] == "false", component


def test_no_bootstrap_job_without_nats_users_or_when_disabled() -> None:
    assert not jobs(render(MINIMAL_VALUES))
    for dep in deployments(render(MINIMAL_VALUES)).values():
        assert "HERMES_NATS_DECLARE_STREAMS" not in env_of(dep)
    assert not jobs(render({"bootstrap": {"enabled": False}}))
    docs = render({}, is_install=False, is_upgrade=True, revision=7)
    assert list(jobs(docs)) == ["hermes-bootstrap-7"]


def rendered_acl(values: dict[str, Any]) -> tuple[str, dict[str, str]]:
    data = by_kind(render(values), "Secret")["hermes"]["data"]
    passwords = {u: base64.b64decode(data[f"redis-{u}-password"]).decode() for u in permissions.REDIS_USERS}
    return base64.b64decode(data["redis-users.acl"]).decode(), passwords


def test_the_acl_template_is_the_generated_one() -> None:
    text = (CHART / "files" / "redis-users.acl").read_text()
    placeholders = {u: "${" + permissions.redis_password_env(u) + "}" for u in permissions.REDIS_USERS}
    assert text.splitlines() == permissions.redis_acl("hermes", placeholders, hashed=False), \
        "python -m hermes.permissions redis-acl > deploy/helm/hermes/files/redis-users.acl"


def test_the_rendered_acl_has_hashes_only_no_nopass_and_the_default_user_off() -> None:
    acl, passwords = rendered_acl(GUIDE_VALUES)
    assert acl.splitlines() == permissions.redis_acl("hermes", passwords, hashed=True)
    assert acl.splitlines()[0].split()[:3] == ["user", "default", "off"]
    assert "nopass" not in acl and ">" not in acl
    assert not any(p in acl for p in passwords.values())
    # per-component users are the default
    for component, dep in deployments(render({})).items():
        assert env_of(dep)["HERMES_REDIS_USER"]["value"] == component


def test_the_rendered_acl_loads_into_redis_and_lets_in_only_the_components(tmp_path: Path) -> None:
    acl, passwords = rendered_acl(GUIDE_VALUES)
    aclfile = tmp_path / "users.acl"
    aclfile.write_text(acl)
    server = start_redis_with_aclfile(aclfile, tmp_path / "redis")
    try:
        for user, password in passwords.items():
            assert redis_py.Redis(host=server.host, port=server.port, username=user, password=password).ping()
        with pytest.raises(redis_py.exceptions.AuthenticationError):
            redis_py.Redis(host=server.host, port=server.port).ping()
        for user in ("default", "gateway"):
            with pytest.raises(redis_py.exceptions.AuthenticationError):
                redis_py.Redis(host=server.host, port=server.port, username=user, password="").ping()
    finally:
        server.stop()


def test_a_tampered_acl_template_fails_the_render(tmp_path: Path) -> None:
    import shutil

    chart = tmp_path / "hermes"
    shutil.copytree(CHART, chart)
    template = chart / "files" / "redis-users.acl"
    template.write_text(template.read_text().replace(">${HERMES_REDIS_GUARD_PASSWORD}", "nopass"))
    with pytest.raises(helm.HelmError, match="is not the generated ACL"):
        helm.Chart.load(chart).render(with_keys({}), name="hermes", namespace="hermes", is_install=True)


def test_one_shared_redis_password_when_per_component_users_are_off() -> None:
    docs = render({"redis": {"auth": {"perComponentUsers": False}}})
    data = by_kind(docs, "Secret")["hermes"]["data"]
    assert "redis-password" in data and "redis-users.acl" not in data
    for component, dep in deployments(docs).items():
        assert "HERMES_REDIS_USER" not in env_of(dep)
        assert mounted_keys(pods(docs)[component])["redis-password"] == "/run/secrets/hermes/redis-password"
