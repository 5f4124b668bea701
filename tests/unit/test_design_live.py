"""Designs start from the cluster as it is: the live read, reuse of what runs, merging into a stack that
exists, goals already met, and the diff of every apply against the live stacks (pure functions; the
emulator's seeded organisation and validator stand in for the platform)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from ankra_emulator import seed
from ankra_emulator import stacks as emulated
from ankra_emulator.cmd_stacks import stack_view
from hermes_planner.design import live as L
from hermes_planner.design.goals import design, fit
from hermes_planner.design.model import SECRET_PLACEHOLDER, DesignQuestion
from hermes_planner.design.render import bill_of_materials, stack_document, stack_yaml, storage_lines
from hermes_planner.design.revise import revise

GOAL = "My app needs a Postgres database and a Redis cache on staging"


class Staging:
    """The seeded staging cluster; `apply` does what the real `cluster apply` does: the file is the
    whole truth (stacks it omits are pruned)."""

    def __init__(self) -> None:
        state = seed.seed_state("tok", datetime.now(UTC))
        self.cluster = next(c for c in state["clusters"] if c["name"] == "staging-cluster")

    def live(self) -> L.LiveCluster:
        namespaces = [{"kind": "Namespace", "name": n} for n in ("default", "monitoring", "ingress-nginx")]
        return L.read_live("staging-cluster", [stack_view(s) for s in self.cluster["stacks"]], namespaces)

    def apply(self, text: str) -> None:
        result = emulated.validate(text, Path("."), set())
        assert result.errors == [], result.errors
        self.cluster["stacks"] = [dict(s) for s in result.stacks]

    def addons(self, stack: str) -> list[str]:
        return next([a["name"] for a in s["addons"]] for s in self.cluster["stacks"] if s["name"] == stack)

    def secret_keys(self, stack: str) -> list[str]:
        live = self.live().stack(stack)
        assert live is not None
        return [k for m in live.manifests for k in m.secret_keys()]


@pytest.fixture
def staging() -> Staging:
    return Staging()


def _built(staging: Staging) -> None:
    staging.apply(stack_yaml(fit(design(GOAL, "staging-cluster"), staging.live()).design))


def test_reads_stacks_addons_manifests_and_namespaces(staging: Staging) -> None:
    live = staging.live()
    assert [s.name for s in live.stacks] == ["monitoring", "ingress"]
    assert {a.chart_name for a in live.stack("ingress").addons} == {"ingress-nginx", "cert-manager"}
    assert live.stack("monitoring").manifest("monitoring-namespace") is not None
    assert live.namespaces == ["default", "monitoring", "ingress-nginx"]
    assert L.read_live("c", {"result": []}).stacks == []


def test_the_apply_file_carries_every_live_stack_unchanged(staging: Staging) -> None:
    fitted = fit(design(GOAL, "staging-cluster"), staging.live())
    assert fitted.met is None
    doc = stack_document(fitted.design)
    assert [s["name"] for s in doc["spec"]["stacks"]] == ["monitoring", "ingress", "app-data"]
    changes = L.diff_file(staging.live(), doc)
    assert [(c.stack, c.action) for c in changes] == [("monitoring", "keep"), ("ingress", "keep"),
                                                      ("app-data", "create")]
    assert L.removals(changes) == []
    staging.apply(stack_yaml(fitted.design))
    assert staging.addons("monitoring") == ["kube-prometheus-stack", "loki"]
    assert staging.addons("app-data") == ["postgres", "redis"]


def test_a_second_design_for_what_runs_is_met_and_keeps_postgres(staging: Staging) -> None:
    _built(staging)
    keys = staging.secret_keys("app-data")
    fitted = fit(design("I need a redis cache for my app on staging", "staging-cluster"), staging.live())
    assert fitted.met is not None and "Nothing to build" in fitted.met and "redis" in fitted.met
    # and had it been built, the file would still carry postgres and every password key
    doc = stack_document(fitted.design)
    app = next(s for s in doc["spec"]["stacks"] if s["name"] == "app-data")
    assert [a["name"] for a in app["addons"]] == ["postgres", "redis"]
    staging.apply(yaml.safe_dump(doc, sort_keys=False))
    assert staging.addons("app-data") == ["postgres", "redis"]
    assert staging.secret_keys("app-data") == keys


def test_adding_to_an_existing_stack_merges_and_keeps_stored_secrets(staging: Staging) -> None:
    staging.apply(stack_yaml(fit(design("a postgres database on staging", "staging-cluster"),
                                 staging.live()).design))
    stored = {k: v for m in staging.live().stack("app-data").manifests for k, v in m.secret_values().items()}
    fitted = fit(design("I need a redis cache for my app on staging", "staging-cluster"), staging.live())
    assert fitted.met is None
    assert [c.name for c in fitted.design.components] == ["postgres", "redis", "secrets"]
    [change] = [c for c in L.diff_file(staging.live(), stack_document(fitted.design)) if c.action != "keep"]
    assert change.stack == "app-data" and change.removed == [] and change.secret_keys_removed == []
    assert change.added == ["addon redis (bitnami/redis 19.6.4)"] and change.secret_keys_added == ["redis-password"]
    secret = next(m for m in stack_document(fitted.design)["spec"]["stacks"][-1]["manifests"]
                  if m["name"] == "app-data-credentials")
    values = yaml.safe_load(secret["manifest"])["stringData"]
    assert values["redis-password"] == SECRET_PLACEHOLDER
    assert all(values[k] == v and L.SOPS_VALUE.match(v) for k, v in stored.items())  # ciphertext, unchanged


def test_an_existing_monitoring_stack_is_recognised(staging: Staging) -> None:
    fitted = fit(design("Create a monitoring stack", "staging-cluster"), staging.live())
    assert fitted.met is not None and "`monitoring` stack" in fitted.met and "kube-prometheus-stack" in fitted.met


def test_cluster_wide_controllers_are_reused_not_duplicated(staging: Staging) -> None:
    goal = "postgres and redis with an ingress, tls and monitoring on staging"
    fitted = fit(design(goal, "staging-cluster"), staging.live())
    keys = {c.key for c in fitted.design.components}
    assert keys.isdisjoint({"ingress-nginx", "cert-manager", "kube-prometheus-stack", "loki"}), keys
    assert any(r.startswith("ingress: ingress-nginx") and "`ingress` stack" in r for r in fitted.reused)
    assert any("kube-prometheus-stack" in r and "`monitoring` stack" in r for r in fitted.reused)
    charts = [a["chart_name"] for s in stack_document(fitted.design)["spec"]["stacks"] for a in s.get("addons", [])]
    assert charts.count("ingress-nginx") == 1 and charts.count("kube-prometheus-stack") == 1


def test_a_new_goal_never_replaces_what_runs(staging: Staging) -> None:
    _built(staging)  # app-data runs postgresql-ha
    fitted = fit(design("a plain single postgres database on staging", "staging-cluster"), staging.live())
    assert fitted.met is not None  # postgres runs: kept as it runs, nothing removed
    with pytest.raises(DesignQuestion, match="already has redis"):
        fit(design("a valkey cache on staging", "staging-cluster"), staging.live())


def test_a_chart_swap_keeps_storage_and_shows_the_data_it_removes(staging: Staging) -> None:
    _built(staging)
    drafted = fit(design(GOAL, "staging-cluster"), staging.live()).design
    drafted = revise(drafted, "make postgres storage 50Gi").design
    r = revise(drafted, "use plain postgresql instead of postgresql-ha")
    assert r.changes[0].startswith("postgres: bitnami/postgresql-ha → bitnami/postgresql")
    pg = r.design.component("postgres")
    assert pg is not None and pg.storage_gi == 50 and pg.replicas == 1
    fitted = fit(r.design, staging.live(), revision=True)
    [change] = [c for c in L.diff_file(staging.live(), stack_document(fitted.design)) if c.action != "keep"]
    assert any("chart bitnami/postgresql-ha 14.3.10 → bitnami/postgresql" in c for c in change.changed)
    assert set(change.secret_keys_removed) == {"repmgr-password", "admin-password"}
    removes = L.removals([change])
    assert any("postgres (postgresql-ha) and its data" in r for r in removes)


def test_a_removal_is_only_what_was_asked(staging: Staging) -> None:
    _built(staging)
    drafted = fit(design(GOAL, "staging-cluster"), staging.live()).design
    fitted = fit(revise(drafted, "drop the cache").design, staging.live(), revision=True)
    changes = L.diff_file(staging.live(), stack_document(fitted.design))
    assert L.removals(changes) == ["app-data: addon redis (bitnami/redis 19.6.4)",
                                   "app-data: Secret keys redis-password"]
    staging.apply(stack_yaml(fitted.design))
    assert staging.addons("app-data") == ["postgres"] and staging.addons("ingress") == ["ingress-nginx", "cert-manager"]


def test_a_live_secret_that_is_not_ciphertext_is_never_copied() -> None:
    manifest = L.LiveManifest(name="s", manifest="apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
                                                 "stringData: {password: plain-text-value}\n")
    with pytest.raises(L.LiveError, match="not SOPS ciphertext"):
        manifest.file_entry()


def test_every_storage_line_says_what_the_volume_is_for_and_they_add_up() -> None:
    d = design(GOAL, "staging-cluster")
    lines = storage_lines(d)
    assert lines[0] == "postgres: 2 × 20Gi data (one volume per replica) + 20Gi backups (daily dumps) = 60Gi"
    assert lines[-1] == f"Total storage: {bill_of_materials(d).total_storage_gi:g}Gi"
