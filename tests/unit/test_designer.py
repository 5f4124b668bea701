"""The architecture designer: goal -> architecture, bill of materials, stack YAML; revisions; checks."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from ankra_emulator import charts
from ankra_emulator.stacks import validate as validate_stack
from hermes.contracts import ArchitectureDraft, BillOfMaterials
from hermes.signing import plan_hash
from hermes_planner.design.catalog import SIZES, catalog, parse_catalog, prices
from hermes_planner.design.goals import design
from hermes_planner.design.model import (
    SECRET_PLACEHOLDER,
    ClusterCapacity,
    ComponentChoice,
    Design,
    DesignQuestion,
    _choice,
    _with_secrets,
)
from hermes_planner.design.render import (
    architecture,
    bill_of_materials,
    capacity_warnings,
    connection_details,
    diff_boms,
    stack_yaml,
)
from hermes_planner.design.revise import revise
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

GUIDE_GOAL = "My app needs a Postgres database and a Redis cache on staging. Set it up."


@pytest.fixture
def guide() -> Design:
    return design(GUIDE_GOAL, "staging-cluster")


def _doc(d: Design) -> dict:
    return yaml.safe_load(stack_yaml(d))


def _stack(d: Design) -> dict:
    return _doc(d)["spec"]["stacks"][0]


def _addon(d: Design, name: str) -> dict:
    return next(a for a in _stack(d)["addons"] if a["name"] == name)


def _values(d: Design, name: str) -> dict:
    return yaml.safe_load(_addon(d, name)["configuration"]["values"])


def check_stack_yaml(text: str) -> list[str]:
    """The emulator's `cluster validate` rules (what the real CLI enforces) over an ImportCluster file."""
    return validate_stack(text, Path(".")).errors


def plan_hash_parts(d: Design) -> dict[str, str]:
    """What an approval binds: the exact stack YAML and the bill of materials (JSON)."""
    bom = bill_of_materials(d).model_dump(mode="json")
    return {"stack_yaml": stack_yaml(d),
            "bill_of_materials": json.dumps(bom, sort_keys=True, separators=(",", ":"), ensure_ascii=False)}


def design_hash(d: Design) -> str:
    parts = plan_hash_parts(d)
    return plan_hash(parts["stack_yaml"], parts["bill_of_materials"])


def _line(d: Design, name: str):
    return next(line for line in bill_of_materials(d).lines if line.component == name)


# The guide's example -------------------------------------------------------------------------
def test_guide_example_stack_and_components(guide: Design) -> None:
    assert guide.stack == "app-data"
    assert guide.cluster == "staging-cluster"
    assert guide.environment == "staging"
    assert [c.key for c in guide.components] == ["postgres-ha", "redis", "secrets"]
    pg = guide.component("postgres-ha")
    assert (pg.replicas, pg.storage_gi, pg.options["backups"]) == (2, 20, "daily")
    redis = guide.component("redis")
    assert (redis.replicas, redis.storage_gi, redis.options["aof"]) == (2, 2, True)


def test_guide_example_tree(guide: Design) -> None:
    draft = architecture(guide)
    assert isinstance(draft, ArchitectureDraft)
    lines = draft.tree.splitlines()
    assert lines[0] == "app-data (stack)"
    assert re.fullmatch(r"  ├─ postgres\s+primary \+ 1 read replica, 20Gi PVC, daily backups", lines[1])
    assert re.fullmatch(r"  ├─ redis\s+single master \+ 1 replica, 2Gi PVC, AOF persistence", lines[2])
    assert re.fullmatch(r"  └─ secrets\s+SOPS-encrypted credentials in the GitOps repo", lines[3])
    # the guide's column: names padded to 16
    assert lines[1].index("primary") == lines[2].index("single") == lines[3].index("SOPS") == 21
    assert draft.connection_secret == "app-data-credentials"
    assert draft.stack == "app-data" and draft.cluster == "staging-cluster"
    assert draft.warnings == []


def test_guide_example_bill_of_materials(guide: Design) -> None:
    bom = bill_of_materials(guide)
    assert isinstance(bom, BillOfMaterials)
    pg, redis, secrets = bom.lines
    assert (pg.component, pg.chart, pg.replicas) == ("postgres", "bitnami/postgresql-ha", 2)
    assert pg.version.startswith("14.") and re.fullmatch(r"\d+\.\d+\.\d+", pg.version)
    assert (redis.component, redis.chart, redis.replicas) == ("redis", "bitnami/redis", 2)
    assert redis.version.startswith("19.") and re.fullmatch(r"\d+\.\d+\.\d+", redis.version)
    # the guide's "1 vCPU / 2Gi req" and "0.5 vCPU / 512Mi req"
    assert (pg.cpu_request_m, pg.memory_request_mi) == (1000, 2048)
    assert (redis.cpu_request_m, redis.memory_request_mi) == (500, 512)
    # storage counts every PVC: 2 x 20Gi data + 20Gi backup volume; 2 x 2Gi
    assert pg.storage_gi == 60 and redis.storage_gi == 4
    assert (secrets.chart, secrets.version, secrets.replicas) == ("manifest", "-", 0)
    assert "SOPS" in secrets.notes and "app-data-credentials" in secrets.notes
    assert bom.total_cpu_request_m == sum(line.cpu_request_m for line in bom.lines)
    assert bom.total_memory_request_mi == sum(line.memory_request_mi for line in bom.lines)
    assert bom.total_storage_gi == sum(line.storage_gi for line in bom.lines)
    assert bom.monthly_cost_estimate == pytest.approx(sum(line.monthly_cost_estimate for line in bom.lines))
    assert bom.monthly_cost_estimate > 0 and pg.monthly_cost_estimate > 0 and redis.monthly_cost_estimate > 0
    assert bom.currency == "EUR"
    assert "estimate" in bom.estimate_note.lower() and "not a quote" in bom.estimate_note
    assert bom.provider == "default"


def test_price_depends_on_provider() -> None:
    costs = {p: bill_of_materials(design(GUIDE_GOAL, "c", provider=p)) for p in prices().providers}
    assert len({b.monthly_cost_estimate for b in costs.values()}) == len(costs)
    assert all(b.provider == p for p, b in costs.items())
    assert design(GUIDE_GOAL + " on hetzner", "c").provider == "hetzner"
    with pytest.raises(DesignQuestion, match="no prices"):
        design(GUIDE_GOAL, "c", provider="moon-cloud")


def test_cost_is_price_table_arithmetic() -> None:
    d = design(GUIDE_GOAL, "c", provider="hetzner")
    p = prices().provider("hetzner")
    line = _line(d, "redis")
    expected = (line.cpu_request_m / 1000 * p.vcpu_month + line.memory_request_mi / 1024 * p.memory_gib_month
                + line.storage_gi * p.storage_gib_month)
    assert line.monthly_cost_estimate == round(expected, 2)


def test_connection_details_name_secret_and_hosts_never_values(guide: Design) -> None:
    details = connection_details(guide)
    text = "\n".join(details)
    assert "app-data-credentials" in details[0] and "redis-password" in details[0]
    assert any("postgres-postgresql-ha-pgpool.app-data.svc:5432" in d for d in details)
    assert any("redis-master.app-data.svc:6379" in d for d in details)
    assert SECRET_PLACEHOLDER not in text


# The stack YAML ------------------------------------------------------------------------------
def test_stack_yaml_shape(guide: Design) -> None:
    doc = _doc(guide)
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]) == ("v1", "ImportCluster", {"name": "staging-cluster"})
    stack = doc["spec"]["stacks"][0]
    assert stack["name"] == "app-data" and stack["description"] and stack["deploy_wave"] == 2
    ns, secret = stack["manifests"]
    assert ns["name"] == "app-data-namespace" and "parents" not in ns
    assert yaml.safe_load(ns["manifest"])["kind"] == "Namespace"
    assert secret["name"] == "app-data-credentials"
    assert secret["parents"] == [{"name": "app-data-namespace", "kind": "manifest"}]
    assert secret["encrypted_paths"] == ["stringData"]
    pg = _addon(guide, "postgres")
    assert (pg["chart_name"], pg["chart_version"], pg["registry_name"], pg["registry_url"], pg["namespace"]) == (
        "postgresql-ha", "14.3.10", "bitnami", "https://charts.bitnami.com/bitnami", "app-data")
    assert pg["parents"] == [{"name": "app-data-credentials", "kind": "manifest"}]
    values = _values(guide, "postgres")
    assert values["postgresql"]["existingSecret"] == "app-data-credentials"
    assert values["pgpool"]["existingSecret"] == "app-data-credentials"
    assert values["postgresql"]["replicaCount"] == 2 and values["persistence"]["size"] == "20Gi"
    assert values["backup"]["enabled"] is True and values["backup"]["cronjob"]["schedule"] == "@daily"
    redis = _values(guide, "redis")
    assert redis["auth"]["existingSecret"] == "app-data-credentials"
    assert redis["architecture"] == "replication" and redis["replica"]["replicaCount"] == 1
    assert "appendonly yes" in redis["commonConfiguration"]


def test_stack_yaml_is_block_style_with_literal_blocks(guide: Design) -> None:
    text = stack_yaml(guide)
    assert "manifest: |" in text and "values: |" in text
    assert "&id" not in text and "*id" not in text and "{" not in text.split("values: |")[0]


def test_secret_holds_only_placeholders_under_encrypted_paths(guide: Design) -> None:
    secret = yaml.safe_load(_stack(guide)["manifests"][1]["manifest"])
    assert secret["kind"] == "Secret" and "data" not in secret
    assert set(secret["stringData"]) == {"postgres-password", "password", "repmgr-password", "admin-password",
                                         "redis-password"}
    assert set(secret["stringData"].values()) == {SECRET_PLACEHOLDER}


SECRETISH = re.compile(r"(?i)(password|secret|token|key)\s*:\s*(?!app-data-credentials|ENC\[generated|"
                       r"redis-password|valkey-password|grafana-admin|\S*-password$)(\S{8,})")


@pytest.mark.parametrize("goal", [GUIDE_GOAL, "postgres, valkey, monitoring and ingress in production"])
def test_no_secret_looking_values_anywhere(goal: str) -> None:
    d = design(goal, "c")
    text = stack_yaml(d)
    for line in text.splitlines():
        assert not SECRETISH.search(line), line
    # no base64 blobs or random-looking tokens (long, mixing digits, upper and lower case)
    for name, part in plan_hash_parts(d).items():
        assert not [t for t in re.findall(r"[A-Za-z0-9+/=_-]{16,}", part)
                    if re.search(r"\d", t) and re.search(r"[a-z]", t) and re.search(r"[A-Z]", t)], name


def test_yaml_valid_by_every_rule_for_every_environment() -> None:
    for env in catalog().environments:
        for goal in (GUIDE_GOAL, "monitoring", "ingress with tls", "a highly available database and valkey",
                     "postgres redis monitoring ingress"):
            d = design(goal, "cluster-1", environment=env)
            assert check_stack_yaml(stack_yaml(d)) == [], (env, goal)


# The validator can fail: one broken document per rule ------------------------------------------
def _broken(guide: Design, mutate) -> list[str]:
    doc = copy.deepcopy(_doc(guide))
    mutate(doc["spec"]["stacks"][0], doc)
    return check_stack_yaml(yaml.safe_dump(doc, sort_keys=False))


def _set_secret(stack: dict, **changes) -> None:
    secret = stack["manifests"][1]
    obj = yaml.safe_load(secret["manifest"])
    obj["stringData"].update(changes)
    secret["manifest"] = yaml.safe_dump(obj)


BREAKAGES = {
    "unknown-field": lambda s, d: s["addons"][0].update(chart_repo="x"),
    "unknown-field ": lambda s, d: d.update(extra=1),
    "duplicate-name": lambda s, d: s["addons"][1].update(name="postgres"),
    "parent": lambda s, d: s["addons"][0].update(parents=[{"name": "nowhere", "kind": "manifest"}]),
    "parent ": lambda s, d: s["addons"][0].update(parents=[{"name": "app-data-credentials", "kind": "addon"}]),
    "parent  ": lambda s, d: s["addons"][0].update(parents=[{"name": "app-data-credentials", "kind": "chart"}]),
    "cycle": lambda s, d: s["manifests"][0].update(parents=[{"name": "postgres", "kind": "addon"}]),
    "namespace": lambda s, d: s["addons"][0].update(parents=[]),
    "namespace ": lambda s, d: s["addons"][0].update(namespace="App_Data"),
    "chart": lambda s, d: s["addons"][0].update(chart_version="14.x"),
    "chart ": lambda s, d: s["addons"][0].update(chart_name="postgres-operator"),
    "chart  ": lambda s, d: s["addons"][0].update(registry_url="https://example.com/charts"),
    "plaintext-secret": lambda s, d: s["manifests"][1].pop("encrypted_paths"),
    "deploy-wave": lambda s, d: s.update(deploy_wave=-1),
    "structure": lambda s, d: d.update(kind="Cluster"),
}


@pytest.mark.parametrize("rule", sorted(BREAKAGES))
def test_validator_catches_each_broken_rule(guide: Design, rule: str) -> None:
    errors = _broken(guide, BREAKAGES[rule])
    assert errors, f"the emulator's validator accepted a document breaking {rule.strip()}"


def test_validator_rejects_bad_yaml() -> None:
    assert check_stack_yaml("spec: [unclosed")
    assert check_stack_yaml("- a list")


def test_yaml_accepted_by_the_ankra_emulator(guide: Design) -> None:
    for d in (guide, design("postgres, valkey, monitoring and ingress in sandbox", "c"),
              design("monitoring on production", "c")):
        result = validate_stack(stack_yaml(d), Path("."))
        assert result.errors == [], result.errors
    broken = stack_yaml(guide).replace("chart_version: 14.3.10", "chart_version: 14.x")
    assert validate_stack(broken, Path(".")).errors


# Goals ---------------------------------------------------------------------------------------
def test_monitoring_goal() -> None:
    d = design("set up monitoring and observability for the cluster", "prod-eu")
    assert d.stack == "monitoring" and d.environment == "production"
    assert {"kube-prometheus-stack", "loki"} <= {c.key for c in d.components}
    assert _addon(d, "kube-prometheus-stack")["registry_url"] == "https://prometheus-community.github.io/helm-charts"
    assert _addon(d, "loki")["chart_version"].startswith("6.")
    assert _values(d, "kube-prometheus-stack")["grafana"]["admin"]["existingSecret"] == "monitoring-credentials"


def test_ingress_goal() -> None:
    d = design("I need an ingress with TLS certificates for my domain", "c", environment="sandbox")
    assert d.stack == "ingress"
    assert [c.key for c in d.components] == ["ingress-nginx", "cert-manager"]
    assert _addon(d, "ingress-nginx")["registry_url"] == "https://kubernetes.github.io/ingress-nginx"
    assert _addon(d, "cert-manager")["registry_url"] == "https://charts.jetstack.io"
    assert _values(d, "cert-manager")["crds"]["enabled"] is True
    assert not d.has_secrets() and architecture(d).connection_secret is None
    assert _line(d, "ingress-nginx").monthly_cost_estimate >= prices().provider(None).load_balancer_month


@pytest.mark.parametrize("goal", ["make me a sandwich", "deploy my website", "", "hello"])
def test_unknown_goal_is_a_question(goal: str) -> None:
    with pytest.raises(DesignQuestion) as err:
        design(goal, "c")
    assert "Postgres" in err.value.text and "Redis" in err.value.text and "monitoring" in err.value.text


def test_database_choice_by_environment_and_words() -> None:
    assert design("a database", "c", environment="sandbox").component("postgres") is not None
    assert design("a database", "c", environment="production").component("postgres-ha") is not None
    assert design("a highly available postgres", "c", environment="sandbox").component("postgres-ha")
    assert design("postgres with a replica", "c", environment="sandbox").component("postgres-ha")
    assert design("a single instance postgres", "c", environment="production").component("postgres")


def test_cache_words() -> None:
    assert design("a cache with valkey", "c").component("valkey") is not None
    assert design("a cache with valkey", "c").component("redis") is None
    assert design("redis", "c").component("redis") is not None
    assert design("postgres but no cache", "c").of_kind("cache") is None
    with pytest.raises(DesignQuestion, match="which one"):
        design("redis and valkey", "c")


def test_environment_sizes_and_assumption() -> None:
    sandbox = design("postgres and redis in sandbox", "c")
    prod = design("postgres and redis", "prod-cluster")
    assert sandbox.environment == "sandbox" and prod.environment == "production"
    assert bill_of_materials(sandbox).monthly_cost_estimate < bill_of_materials(prod).monthly_cost_estimate
    unknown = design("postgres and redis", "cluster-7")
    assert unknown.environment == "staging"
    assert any("not stated" in w for w in architecture(unknown).warnings)


def test_stack_name_from_goal() -> None:
    assert design("postgres in a stack called shop-data", "c").stack == "shop-data"
    assert design("monitoring and an ingress", "c").stack == "platform"
    d = design("postgres in a stack named billing", "c")
    assert d.secret_name == "billing-credentials"
    assert check_stack_yaml(stack_yaml(d)) == []


# Capacity ------------------------------------------------------------------------------------
def test_capacity_warning_when_requests_exceed_a_small_cluster() -> None:
    small = ClusterCapacity(cpu_m=1000, memory_mi=2048, workers=1)
    d = design(GUIDE_GOAL, "staging-cluster", capacity=small)
    warnings = capacity_warnings(d)
    assert any(w.startswith("Over capacity") and "CPU" in w for w in warnings)
    assert any("share a node" in w for w in warnings)
    assert set(warnings) <= set(architecture(d).warnings)


def test_capacity_near_and_fine() -> None:
    d = design(GUIDE_GOAL, "c")
    bom = bill_of_materials(d)
    near = ClusterCapacity(cpu_m=int(bom.total_cpu_request_m / 0.85), memory_mi=100_000, workers=3)
    assert any(w.startswith("Near capacity") for w in capacity_warnings(d.model_copy(update={"capacity": near})))
    roomy = ClusterCapacity(cpu_m=64_000, memory_mi=256_000, workers=6)
    assert capacity_warnings(d.model_copy(update={"capacity": roomy})) == []
    assert capacity_warnings(d) == []  # no capacity known: nothing to compare


# Iteration -----------------------------------------------------------------------------------
def _only_changed(before: Design, after: Design, key: str, **fields) -> None:
    """`after` differs from `before` only in the named fields of component `key`."""
    for b, a in zip(before.components, after.components, strict=True):
        if b.key == key:
            for name, value in fields.items():
                assert getattr(a, name) == value, name
            assert a.model_dump(exclude=set(fields)) == b.model_dump(exclude=set(fields))
        else:
            assert a == b


def test_add_a_read_replica(guide: Design) -> None:
    r = revise(guide, "add a read replica")
    _only_changed(guide, r.design, "postgres-ha", replicas=3)
    assert r.changes == ["postgres: replicas 2 → 3 (primary + 2 read replicas)"]
    assert "primary + 2 read replicas" in architecture(r.design).tree
    assert _values(r.design, "postgres")["postgresql"]["replicaCount"] == 3
    assert guide.component("postgres-ha").replicas == 2  # the original is untouched


@pytest.mark.parametrize("instruction", ["make Postgres storage 50Gi", "postgres storage to 50 gigs",
                                         "set the database disk to 50 GB"])
def test_postgres_storage(guide: Design, instruction: str) -> None:
    r = revise(guide, instruction)
    _only_changed(guide, r.design, "postgres-ha", storage_gi=50)
    assert r.changes == ["postgres storage 20Gi → 50Gi"]
    assert _values(r.design, "postgres")["persistence"]["size"] == "50Gi"
    assert _line(r.design, "postgres").storage_gi == 150


def test_swap_redis_for_valkey(guide: Design) -> None:
    r = revise(guide, "swap Redis for Valkey")
    assert [c.key for c in r.design.components] == ["postgres-ha", "valkey", "secrets"]
    valkey = r.design.component("valkey")
    assert (valkey.replicas, valkey.storage_gi, valkey.options["aof"]) == (2, 2, True)
    assert valkey.version.startswith("2.")
    assert r.changes[0].startswith("redis → valkey 2.x")
    assert r.design.component("postgres-ha") == guide.component("postgres-ha")
    values = _values(r.design, "valkey")
    assert values["auth"]["existingSecretPasswordKey"] == "valkey-password"
    secret = yaml.safe_load(_stack(r.design)["manifests"][1]["manifest"])
    assert "valkey-password" in secret["stringData"] and "redis-password" not in secret["stringData"]
    assert check_stack_yaml(stack_yaml(r.design)) == []


def test_pin_a_known_version(guide: Design) -> None:
    r = revise(guide, "pin Redis to 19.5.0")
    _only_changed(guide, r.design, "redis", version="19.5.0")
    assert r.changes == ["redis: version 19.6.4 → 19.5.0"]
    assert _addon(r.design, "redis")["chart_version"] == "19.5.0"


@pytest.mark.parametrize("version", ["1.0.0", "19.6.2"])
def test_pin_an_unknown_version_is_refused_with_known_ones(guide: Design, version: str) -> None:
    with pytest.raises(DesignQuestion) as err:
        revise(guide, f"pin redis to {version}")
    for known in catalog().get("redis").known_versions:
        assert known in err.value.text
    assert version in err.value.text


@pytest.mark.parametrize("instruction", ["drop the cache", "remove redis"])
def test_remove_the_cache(guide: Design, instruction: str) -> None:
    r = revise(guide, instruction)
    assert [c.key for c in r.design.components] == ["postgres-ha", "secrets"]
    assert r.changes == ["removed redis"]
    secret = yaml.safe_load(_stack(r.design)["manifests"][1]["manifest"])
    assert "redis-password" not in secret["stringData"]
    assert "redis" not in architecture(r.design).tree


def test_removing_the_last_credentialed_component_removes_the_secret() -> None:
    d = design("postgres and an ingress", "c")
    r = revise(d, "drop the database")
    assert [c.key for c in r.design.components] == ["ingress-nginx", "cert-manager"]
    assert r.changes[0] == "removed postgres" and "removed secrets" in r.changes[1]
    assert check_stack_yaml(stack_yaml(r.design)) == []


def test_add_monitoring(guide: Design) -> None:
    r = revise(guide, "add monitoring")
    assert [c.key for c in r.design.components] == ["postgres-ha", "redis", "kube-prometheus-stack", "loki",
                                                    "secrets"]
    assert [c.split(" (")[0] for c in r.changes] == ["added kube-prometheus-stack", "added loki"]
    for key in ("postgres-ha", "redis"):
        assert r.design.component(key) == guide.component(key)
    assert check_stack_yaml(stack_yaml(r.design)) == []


def test_use_three_replicas_for_redis(guide: Design) -> None:
    r = revise(guide, "use 3 replicas for redis")
    _only_changed(guide, r.design, "redis", replicas=3)
    assert r.changes == ["redis: replicas 2 → 3 (single master + 2 replicas)"]
    assert _values(r.design, "redis")["replica"]["replicaCount"] == 2


def test_other_revisions(guide: Design) -> None:
    assert revise(guide, "weekly backups").changes == ["postgres backups daily → weekly"]
    assert revise(guide, "turn off AOF").changes == ["redis AOF persistence on → off"]
    single = revise(guide, "make postgres a single instance")
    assert single.design.component("postgres").replicas == 1
    assert _addon(single.design, "postgres")["chart_name"] == "postgresql"
    both = revise(guide, "swap redis for valkey and make postgres storage 50gi")
    assert both.changes[0].startswith("redis → valkey") and both.changes[1] == "postgres storage 20Gi → 50Gi"


@pytest.mark.parametrize("instruction", ["do a barrel roll", "make it faster", ""])
def test_unknown_instruction_is_a_question(guide: Design, instruction: str) -> None:
    with pytest.raises(DesignQuestion) as err:
        revise(guide, instruction)
    assert "read replica" in err.value.text


@pytest.mark.parametrize("instruction, fragment", [
    ("remove valkey", "no valkey"),
    ("add valkey", "swap redis for valkey"),
    ("remove a replica", "at least 2"),
    ("remove postgres and redis", "empty"),
    ("add redis", "already"),
    ("use 2 replicas for cert-manager", "cert-manager has no replicas setting"),
])
def test_impossible_revisions_explain(guide: Design, instruction: str, fragment: str) -> None:
    if "cert-manager" in instruction:
        guide = revise(guide, "add an ingress with tls").design
    with pytest.raises(DesignQuestion) as err:
        revise(guide, instruction)
    assert fragment in err.value.text


# Diff and approval binding -------------------------------------------------------------------
def test_diff_boms(guide: Design) -> None:
    old = bill_of_materials(guide)
    bigger = bill_of_materials(revise(guide, "add a read replica").design)
    lines = diff_boms(old, bigger)
    assert lines[0].startswith("~ postgres: replicas 2 → 3")
    assert lines[-1].startswith("Monthly estimate:") and "(+€" in lines[-1]
    swapped = diff_boms(old, bill_of_materials(revise(guide, "swap redis for valkey").design))
    assert any(line.startswith("- redis: bitnami/redis 19.6.4") for line in swapped)
    assert any(line.startswith("+ valkey: bitnami/valkey 2.0.1") for line in swapped)
    dropped = diff_boms(old, bill_of_materials(revise(guide, "drop the cache").design))
    assert dropped[-1].endswith("an estimate)") and "(-€" in dropped[-1]
    same = f"€{old.monthly_cost_estimate:.2f}"
    assert diff_boms(old, old) == [f"Monthly estimate: {same} → {same} (+€0.00/month, an estimate)"]


def test_plan_hash_parts_bind_yaml_and_bom(guide: Design) -> None:
    parts = plan_hash_parts(guide)
    assert parts["stack_yaml"] == stack_yaml(guide)
    assert BillOfMaterials.model_validate(json.loads(parts["bill_of_materials"])) == bill_of_materials(guide)
    assert design_hash(guide) == design_hash(design(GUIDE_GOAL, "staging-cluster"))
    assert design_hash(guide) != design_hash(revise(guide, "pin redis to 19.5.0").design)


# The catalog ---------------------------------------------------------------------------------
def test_catalog_versions_exist_in_the_emulator_chart_catalog() -> None:
    for comp in catalog().components.values():
        if comp.manifest:
            continue
        found = charts.find(comp.chart, comp.registry_url)
        assert found, comp.key
        for version in comp.known_versions:
            assert any(charts.has_version(c, version) for c in found), (comp.key, version)


def test_every_component_renders_at_every_size() -> None:
    for key, comp in catalog().components.items():
        if comp.manifest:
            continue
        for size in SIZES:
            env = next(e for e in catalog().environments.values() if e.size == size)
            d = Design(stack="s", cluster="c", environment=env.name, size=size, provider="default",
                       components=_with_secrets([_choice(key, size)], size))
            assert check_stack_yaml(stack_yaml(d)) == [], (key, size)
            assert architecture(d).tree


def test_catalog_rejects_a_typo() -> None:
    from importlib.resources import files

    text = files("hermes_planner.design").joinpath("components.yaml").read_text()
    with pytest.raises(ValueError, match="known_versions"):
        parse_catalog(text.replace("version: 19.6.4", "version: 19.6.9", 1))
    with pytest.raises(ValueError, match="unknown fields"):
        parse_catalog(text.replace("    kind: cache\n", "    kind: cache\n    colour: red\n", 1))


# Property: any subset of components --------------------------------------------------------------
ADDON_KEYS = [k for k, c in catalog().components.items() if not c.manifest]


@st.composite
def designs(draw) -> Design:
    database = draw(st.sampled_from([None, "postgres", "postgres-ha"]))
    cache = draw(st.sampled_from([None, "redis", "valkey"]))
    others = draw(st.lists(st.sampled_from(["ingress-nginx", "cert-manager", "kube-prometheus-stack", "loki"]),
                           unique=True))
    keys = [k for k in (database, cache) if k] + others
    if not keys:
        keys = [draw(st.sampled_from(ADDON_KEYS))]
    env = draw(st.sampled_from(sorted(catalog().environments)))
    size = catalog().environments[env].size
    components: list[ComponentChoice] = []
    for key in keys:
        choice = _choice(key, size)
        comp = catalog().get(key)
        if "replicas" in comp.options:
            choice.replicas = draw(st.integers(min_value=comp.min_replicas, max_value=5))
        if "storage" in comp.options:
            choice.storage_gi = draw(st.integers(min_value=1, max_value=2000))
        if "version" in comp.options:
            choice.version = draw(st.sampled_from(comp.known_versions))
        components.append(choice)
    capacity = draw(st.none() | st.builds(ClusterCapacity, cpu_m=st.integers(0, 64_000),
                                           memory_mi=st.integers(0, 256_000), workers=st.integers(0, 9)))
    stack = draw(st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,8})?", fullmatch=True))
    return Design(stack=stack, cluster="c", environment=env, size=size,
                  provider=draw(st.sampled_from(sorted(prices().providers))),
                  components=_with_secrets(components, size), capacity=capacity)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs())
def test_property_any_subset_validates_and_totals_add_up(d: Design) -> None:
    text = stack_yaml(d)
    assert check_stack_yaml(text) == []
    bom = bill_of_materials(d)
    assert bom.total_cpu_request_m == sum(line.cpu_request_m for line in bom.lines)
    assert bom.total_memory_request_mi == sum(line.memory_request_mi for line in bom.lines)
    assert bom.total_storage_gi == pytest.approx(sum(line.storage_gi for line in bom.lines))
    assert bom.monthly_cost_estimate == pytest.approx(sum(line.monthly_cost_estimate for line in bom.lines),
                                                      abs=0.01)
    assert all(line.monthly_cost_estimate >= 0 for line in bom.lines)
    assert len(architecture(d).tree.splitlines()) == len(d.components) + 1
    assert (architecture(d).connection_secret is not None) == d.has_secrets()
    doc = yaml.safe_load(text)
    addons = doc["spec"]["stacks"][0].get("addons", [])
    assert len({a["name"] for a in addons}) == len(addons)
