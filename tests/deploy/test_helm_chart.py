"""deploy/helm/hermes: linted and rendered with the Helm v4 SDK (helm-python-sdk, no helm binary) for
several values sets; every rendered manifest validated by kubernetes-validate in strict mode."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from .conftest import CHART

KUBE_VERSIONS = ("1.31.0", "1.34.0")
COMPONENTS = ("gateway", "planner", "guard", "executor")

# The guide's values, as a user arriving from it writes them (plus what Hermes adds per component).
GUIDE_VALUES: dict[str, Any] = {
    "image": {"repository": "registry.example.com/hermes", "tag": "0.1.0"},
    "config": {"model": "claude-sonnet-4-20250514", "port": 8789, "logLevel": "info",
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
    "gateway": {"enabled": False}, "planner": {"enabled": False}, "guard": {"enabled": False},
    "executor": {"replicaCount": 3},
}

VALUE_SETS = {"defaults": {}, "guide": GUIDE_VALUES, "production": PRODUCTION_VALUES,
              "minimal": MINIMAL_VALUES, "executor-only": EXECUTOR_ONLY}


def render(values: dict[str, Any] | None) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    rendered = chart.render(copy.deepcopy(values) or None, name="hermes", namespace="hermes", is_install=True)
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
    report = helm.lint(CHART, copy.deepcopy(VALUE_SETS[name]) or None, strict=True, namespace="hermes",
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


def test_secrets_come_from_the_chart_or_from_an_existing_secret() -> None:
    docs = render(GUIDE_VALUES)
    secret = by_kind(docs, "Secret")["hermes"]
    assert {"api-token", "signing-key", "anthropic-api-key", "slack-bot-token", "redis-password",
            "nats-gateway-password", "nats-executor-password"} <= set(secret["data"])
    assert "discord-token" not in secret["data"]  # not set: not stored
    deps = deployments(docs)
    assert env_of(deps["planner"])["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "hermes", "key": "anthropic-api-key", "optional": True}
    assert "ANTHROPIC_API_KEY" not in env_of(deps["gateway"])  # the model key stays out of the gateway
    assert {c for c, d in deps.items() if "SLACK_BOT_TOKEN" in env_of(d)} == {"gateway", "planner", "guard"}
    # the signing key only where orders are signed (guard) and verified (executor)
    assert {c for c, d in deps.items() if "HERMES_SIGNING_KEY" in env_of(d)} == {"guard", "executor"}
    assert {c for c, d in deps.items() if "HERMES_API_TOKEN" in env_of(d)} == {"gateway"}
    # each component connects to NATS as its own user
    for component, dep in deps.items():
        env = env_of(dep)
        assert env["HERMES_NATS_URL"]["value"] == f"nats://{component}:$(HERMES_NATS_PASSWORD)@nats:4222"
        assert env["HERMES_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == f"nats-{component}-password"
        assert env["HERMES_REDIS_URL"]["value"] == "redis://:$(HERMES_REDIS_PASSWORD)@redis-master:6379/0"
    prod = render(PRODUCTION_VALUES)
    assert not by_kind(prod, "Secret"), "existingSecret: the chart creates no Secret"
    for dep in deployments(prod).values():
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env_of(dep).values() if "valueFrom" in e}
        assert refs == {"hermes-api-key"}
    assert env_of(deployments(prod)["planner"])["HERMES_NATS_URL"]["value"] == \
        "nats://planner:$(HERMES_NATS_PASSWORD)@nats.hermes.svc:4222"


def test_config_map_carries_the_guide_config_block_without_secrets() -> None:
    docs = render(GUIDE_VALUES)
    text = by_kind(docs, "ConfigMap")["hermes-config"]["data"]["hermes.json"]
    assert "sk-ant-test" not in text and "xoxb-1" not in text
    import json

    doc = json.loads(text)
    assert doc["config"] == {"model": "claude-sonnet-4-20250514", "port": 8789,
                             "anthropicApiKey": "${ANTHROPIC_API_KEY}"}
    env = env_of(deployments(docs)["planner"])
    assert env["HERMES_LOG_LEVEL"]["value"] == "INFO" and env["HERMES_CONFIG"]["value"] == "/etc/hermes/hermes.json"


def test_config_map_is_accepted_by_hermes_config_loader(tmp_path, monkeypatch) -> None:
    from hermes.config import load_config

    text = by_kind(render(GUIDE_VALUES), "ConfigMap")["hermes-config"]["data"]["hermes.json"]
    path = tmp_path / "hermes.json"
    path.write_text(text)
    result = load_config(path, env={"ANTHROPIC_API_KEY": "sk-ant-from-secret"})
    assert not result.errors, result.errors
    assert result.anthropic_api_key is not None
    assert result.anthropic_api_key.get_secret_value() == "sk-ant-from-secret"


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
    assert env["HERMES_NATS_URL"]["value"] == "nats://bootstrap:$(HERMES_NATS_PASSWORD)@nats:4222"
    assert env["HERMES_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "hermes",
                                                                         "key": "nats-bootstrap-password"}
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
    upgraded = helm.Chart.load(CHART).render(None, name="hermes", namespace="hermes", is_upgrade=True, revision=7)
    docs = [d for path, text in upgraded.items() if path.endswith(".yaml") for d in yaml.safe_load_all(text) if d]
    assert list(jobs(docs)) == ["hermes-bootstrap-7"]


def test_per_component_redis_users() -> None:
    docs = render({**GUIDE_VALUES, "redis": {"auth": {"perComponentUsers": True}}})
    secret = by_kind(docs, "Secret")["hermes"]["data"]
    for component, dep in deployments(docs).items():
        env = env_of(dep)
        assert env["HERMES_REDIS_URL"]["value"] == f"redis://{component}:$(HERMES_REDIS_PASSWORD)@redis-master:6379/0"
        key = env["HERMES_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"]
        assert key == f"redis-{component}-password" and key in secret
