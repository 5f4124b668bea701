"""The architecture designer: a goal in plain words -> a drafted architecture, a bill of materials and
the ImportCluster YAML that `ankra cluster apply -f` builds.

Pure code: no I/O besides reading the package's own data files (components.yaml, prices.yaml; see
docs/components.md). Nothing here generates or embeds a secret: the credentials Secret holds
placeholders (`ENC[generated-at-apply]`), listed under `encrypted_paths`, that whoever applies the
stack replaces with generated values before SOPS encrypts them.

    d = design("My app needs a Postgres database and a Redis cache on staging", "staging-cluster")
    d.architecture()        # ArchitectureDraft: the tree a person reads
    d.bill_of_materials()   # BillOfMaterials: charts, versions, replicas, storage, requests, cost
    d.stack_yaml()          # what `ankra cluster apply -f` takes
    r = revise(d, "make Postgres storage 50Gi")   # r.design, r.changes
    diff_boms(d.bill_of_materials(), r.design.bill_of_materials())
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass, field
from typing import Any

import yaml
from hermes.contracts import ArchitectureDraft, BillOfMaterials, BomLine
from pydantic import BaseModel, ConfigDict, Field

from .design_catalog import (
    BACKUP_SCHEDULES,
    DATABASE_REF,
    KINDS,
    Catalog,
    Component,
    ExtraPod,
    catalog,
    prices,
)

__all__ = [
    "SECRET_PLACEHOLDER",
    "ClusterCapacity",
    "ComponentChoice",
    "Design",
    "DesignQuestion",
    "Revision",
    "check_stack_yaml",
    "design",
    "diff_boms",
    "plan_hash",
    "plan_hash_parts",
    "revise",
]

RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
KIND_ORDER = {k: i for i, k in enumerate(KINDS)}  # database, cache, ingress, tls, observability, secrets
ASSUMED_NODES = 3  # DaemonSet pods are counted for this many nodes when the cluster size is unknown
MAX_STORAGE_GI = 16 * 1024
MAX_REPLICAS = 9
SECRET_PLACEHOLDER = catalog().secret_placeholder


class DesignQuestion(Exception):
    """The designer cannot go on without the person: the text says why and what it can do."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _NotUnderstood(Exception):
    """A revision clause no rule recognises (internal)."""


# Models --------------------------------------------------------------------------------------
class ClusterCapacity(BaseModel):
    """What the target cluster can give: allocatable CPU and memory over its workers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_m: int = Field(ge=0, description="allocatable CPU, millicores, all workers")
    memory_mi: int = Field(ge=0, description="allocatable memory, MiB, all workers")
    workers: int = Field(default=1, ge=0)


class ComponentChoice(BaseModel):
    """One component of a design, with the choices made for it."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="catalog key: postgres-ha, redis, secrets…")
    kind: str
    name: str = Field(description="addon (or manifest) name in the stack")
    chart: str = Field(description="registry/chart, or 'manifest'")
    version: str = "-"
    replicas: int = 0
    storage_gi: int = Field(default=0, description="PVC size per replica, GiB")
    options: dict[str, str | bool] = Field(default_factory=dict, description="backups, aof")

    @property
    def storage(self) -> str:
        return f"{self.storage_gi}Gi" if self.storage_gi else "-"


class Design(BaseModel):
    """A drafted architecture: one stack of components on one cluster."""

    model_config = ConfigDict(extra="forbid")

    stack: str
    cluster: str
    environment: str
    size: str
    provider: str
    components: list[ComponentChoice]
    capacity: ClusterCapacity | None = None
    goal: str = ""
    notes: list[str] = Field(default_factory=list, description="assumptions made while designing")

    # Lookups -----------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        return self.stack

    @property
    def secret_name(self) -> str:
        return f"{self.stack}-credentials"

    @property
    def namespace_manifest(self) -> str:
        return f"{self.stack}-namespace"

    def component(self, key: str) -> ComponentChoice | None:
        return next((c for c in self.components if c.key == key), None)

    def of_kind(self, kind: str) -> ComponentChoice | None:
        return next((c for c in self.components if c.kind == kind), None)

    def has_secrets(self) -> bool:
        return self.component("secrets") is not None

    # Renderings --------------------------------------------------------------------------
    def architecture(self) -> ArchitectureDraft:
        """The drafted architecture as the guide shows it, with warnings."""
        width = max([16] + [len(c.name) + 2 for c in self.components])
        lines = [f"{self.stack} (stack)"]
        for i, choice in enumerate(self.components):
            branch = "└─" if i == len(self.components) - 1 else "├─"
            lines.append(f"  {branch} {choice.name.ljust(width)}{_summary(self, choice)}")
        warnings = list(self.notes)
        for choice in self.components:
            warnings.extend(catalog().get(choice.key).warnings)
        warnings.extend(self.capacity_warnings())
        return ArchitectureDraft(
            stack=self.stack, cluster=self.cluster, tree="\n".join(lines),
            components=[c.key for c in self.components],
            connection_secret=self.secret_name if self.has_secrets() else None, warnings=warnings)

    def bill_of_materials(self) -> BillOfMaterials:
        """Per component: chart, exact version, replicas, storage, requests, monthly estimate."""
        table = prices()
        provider = table.provider(self.provider)
        lines = [_bom_line(self, choice, provider) for choice in self.components]
        note = (f"{table.note} Prices for {provider.title} as of {table.as_of}, charged on resource "
                "requests and volumes (not on whole nodes); excludes traffic and off-cluster backups.")
        return BillOfMaterials(
            lines=lines,
            total_cpu_request_m=sum(line.cpu_request_m for line in lines),
            total_memory_request_mi=sum(line.memory_request_mi for line in lines),
            total_storage_gi=float(sum(line.storage_gi for line in lines)),
            monthly_cost_estimate=round(sum(line.monthly_cost_estimate for line in lines), 2),
            currency=table.currency, provider=provider.name, estimate_note=note)

    def stack_yaml(self) -> str:
        """The ImportCluster document for `ankra cluster apply -f` (and `cluster validate -f`)."""
        cat = catalog()
        ns_manifest = {"name": self.namespace_manifest, "manifest": _dump({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": self.namespace, "labels": {"app.kubernetes.io/managed-by": "hermes"}}})}
        manifests: list[dict[str, Any]] = [ns_manifest]
        ns_parent = [{"name": self.namespace_manifest, "kind": "manifest"}]
        secret_parent = [{"name": self.secret_name, "kind": "manifest"}]
        keys = self.secret_keys()
        if self.has_secrets():
            manifests.append({
                "name": self.secret_name, "parents": ns_parent, "encrypted_paths": ["stringData"],
                "manifest": _dump({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {
                        "name": self.secret_name, "namespace": self.namespace,
                        "labels": {"app.kubernetes.io/managed-by": "hermes"},
                        "annotations": {"hermes.ankra.io/generate-at-apply": ",".join(keys)}},
                    "type": "Opaque",
                    "stringData": dict.fromkeys(keys, SECRET_PLACEHOLDER)})})
        addons = []
        for choice in self.components:
            comp = cat.get(choice.key)
            if comp.manifest:
                continue
            addons.append({
                "name": choice.name, "chart_name": comp.chart, "chart_version": choice.version,
                "registry_name": comp.registry_name, "registry_url": comp.registry_url,
                "namespace": self.namespace,
                "parents": secret_parent if comp.secret_keys and self.has_secrets() else ns_parent,
                "configuration": {"values": _render_values(self, choice)}})
        stack: dict[str, Any] = {
            "name": self.stack, "description": self.description(),
            "deploy_wave": min(cat.deploy_waves.get(c.kind, 0) for c in self.components),
            "manifests": manifests}
        if addons:
            stack["addons"] = addons
        return _dump({"apiVersion": "v1", "kind": "ImportCluster", "metadata": {"name": self.cluster},
                      "spec": {"stacks": [stack]}})

    def description(self) -> str:
        names = [c.name for c in self.components] or ["nothing"]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return f"{listed} for {self.environment}, drafted by Hermes"

    def secret_keys(self) -> list[str]:
        """The keys of the credentials Secret (values are generated at apply, never shown)."""
        keys: list[str] = []
        for choice in self.components:
            for key in catalog().get(choice.key).secret_keys:
                if key not in keys:
                    keys.append(key)
        return keys

    def connection_details(self) -> list[str]:
        """What the app uses to connect: secret name and keys, service hostnames — never values."""
        out = []
        if self.has_secrets():
            out.append(f"Secret {self.secret_name} in namespace {self.namespace} (SOPS-encrypted in the "
                       f"GitOps repo), keys: {', '.join(self.secret_keys())}; reference it with "
                       "existingSecret or secretKeyRef — Hermes never shows the values")
        for choice in self.components:
            comp = catalog().get(choice.key)
            for line in comp.connection:
                if line.when == "replicated" and choice.replicas < 2:
                    continue
                out.append(string.Template(line.text).substitute(_variables(self, choice)))
        return out

    def capacity_warnings(self) -> list[str]:
        """Total requests against the cluster's capacity: near (>= 80%) or over."""
        if self.capacity is None:
            return []
        bom = self.bill_of_materials()
        warnings = []
        for what, need, have, unit in (
                ("CPU", bom.total_cpu_request_m, self.capacity.cpu_m, "m"),
                ("memory", bom.total_memory_request_mi, self.capacity.memory_mi, "Mi")):
            if have <= 0:
                warnings.append(f"The cluster reports no allocatable {what}; the stack cannot be scheduled.")
                continue
            share = need / have
            if share > 1:
                warnings.append(
                    f"Over capacity: the stack requests {need}{unit} {what} but the cluster has "
                    f"{have}{unit} allocatable ({share:.0%}); pods will stay Pending. Add workers "
                    "(`ankra cluster scale`) or choose smaller sizes.")
            elif share >= 0.8:
                warnings.append(
                    f"Near capacity: the stack requests {need}{unit} {what}, {share:.0%} of the cluster's "
                    f"{have}{unit} allocatable, before anything already running there.")
        for choice in self.components:
            if choice.replicas > 1 and self.capacity.workers < choice.replicas:
                warnings.append(
                    f"{choice.name} runs {choice.replicas} replicas on {self.capacity.workers} worker(s): "
                    "replicas will share a node, so losing that node loses more than one replica.")
        return warnings


@dataclass
class Revision:
    """A revised design and what changed, in lines a person reads."""

    design: Design
    changes: list[str] = field(default_factory=list)


# Text ----------------------------------------------------------------------------------------
def _normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    return re.sub(r"\s+", " ", text).strip().rstrip(".!?")


def _word_re(word: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9-])" + re.escape(word) + r"(?![a-z0-9-])")


_NEGATION = re.compile(r"(?:\bno|\bwithout|\binstead of|\bnot|\bdon't need|\bexcept)\s+(?:an?\s+|the\s+|any\s+)?$")


def _has_word(text: str, word: str, *, negatable: bool = False) -> bool:
    for match in _word_re(word).finditer(text):
        if negatable and _NEGATION.search(text[:match.start()]):
            continue
        return True
    return False


# Designing -----------------------------------------------------------------------------------
def _environment(text: str, cluster: str, environment: str | None, notes: list[str]) -> str:
    cat = catalog()
    if environment:
        env = cat.environment(environment)
        if env is None:
            raise DesignQuestion(f"I don't know the environment {environment!r}; I size designs for "
                                 f"{', '.join(cat.environments)}.")
        return env.name
    words = list(cat.environments) + list(cat.environment_aliases)
    for source in (text, cluster.lower()):
        hits = [w for w in words if re.search(r"(?<![a-z0-9])" + re.escape(w) + r"(?![a-z0-9])", source)]
        if hits:
            env = cat.environment(hits[0])
            assert env is not None
            return env.name
    notes.append(f"The environment was not stated; I sized this for {cat.default_environment}. "
                 f"Say {' / '.join(cat.environments)} to resize.")
    return cat.default_environment


def _database_key(text: str, env: str) -> str:
    cat = catalog()
    if any(_has_word(text, w) for w in cat.single_words):
        return "postgres"
    if any(_has_word(text, w) for w in cat.ha_words):
        return "postgres-ha"
    return cat.environments[env].database


def _detect(text: str, env: str, *, negatable: bool = True) -> list[str]:
    """Components the words of `text` ask for, one per kind for databases and caches."""
    cat = catalog()
    specific: list[str] = []
    generic: list[str] = []
    for entry in cat.vocabulary:
        if not any(_has_word(text, w, negatable=negatable) for w in entry.words):
            continue
        for key in entry.adds:
            key = _database_key(text, env) if key == DATABASE_REF else key
            (generic if entry.generic else specific).append(key)
    keys: list[str] = []
    for key in specific + generic:
        kind = cat.get(key).kind
        if key in keys:
            continue
        same_kind = [k for k in keys if cat.get(k).kind == kind]
        if kind in ("database", "cache") and same_kind:
            if key in generic:
                continue  # "a cache with valkey": the generic word gives way
            raise DesignQuestion(f"You named both {same_kind[0]} and {key}; which one should the "
                                 f"{kind} be?")
        keys.append(key)
    return keys


def _stack_name(text: str, keys: list[str]) -> str:
    named = re.search(r"\b(?:stack|namespace)\s+(?:named|called)\s+['\"`]?([a-z0-9][a-z0-9-]*)", text)
    if named:
        name = named.group(1).strip("-")
        if len(name) <= 50 and RFC1123_LABEL.match(name):
            return name
        raise DesignQuestion(f"{name!r} is not a usable stack name: use lowercase letters, digits and "
                             "'-', starting and ending with a letter or digit, at most 50 characters.")
    kinds = {catalog().get(k).kind for k in keys}
    if kinds & {"database", "cache"}:
        return "app-data"
    if kinds == {"observability"}:
        return "monitoring"
    if kinds <= {"ingress", "tls"}:
        return "ingress"
    return "platform"


def _provider(text: str, provider: str | None) -> str:
    table = prices()
    if provider:
        name = provider.strip().lower()
        if name not in table.providers:
            raise DesignQuestion(f"I have no prices for {provider!r}; I know "
                                 f"{', '.join(table.providers)}.")
        return name
    for name in table.providers:
        if name != table.default_provider and _has_word(text, name):
            return name
    return table.default_provider


def _choice(key: str, size: str) -> ComponentChoice:
    comp = catalog().get(key)
    if comp.manifest:
        return ComponentChoice(key=key, kind=comp.kind, name=comp.name, chart="manifest")
    defaults = comp.sizes[size]
    options: dict[str, str | bool] = {}
    if "backups" in comp.options:
        options["backups"] = defaults.backups or "off"
    if "aof" in comp.options:
        options["aof"] = True if defaults.aof is None else defaults.aof
    return ComponentChoice(key=key, kind=comp.kind, name=comp.name, chart=comp.chart_ref,
                           version=comp.version, replicas=max(defaults.replicas, comp.min_replicas),
                           storage_gi=defaults.storage_gi, options=options)


def _sorted(components: list[ComponentChoice]) -> list[ComponentChoice]:
    return sorted(components, key=lambda c: KIND_ORDER[c.kind])


def _with_secrets(components: list[ComponentChoice], size: str) -> list[ComponentChoice]:
    cat = catalog()
    needs = any(cat.get(c.key).secret_keys for c in components)
    rest = [c for c in components if c.key != "secrets"]
    if needs:
        rest.append(next((c for c in components if c.key == "secrets"), None) or _choice("secrets", size))
    return _sorted(rest)


WHAT_I_DESIGN = ("I can design: a Postgres database (single or HA with read replicas), a Redis or "
                 "Valkey cache, an ingress with TLS (ingress-nginx + cert-manager), and monitoring "
                 "(Prometheus/Grafana and Loki for logs); credentials go to a SOPS-encrypted Secret. "
                 "For example: \"my app needs a Postgres database and a Redis cache on staging\".")


def design(goal: str, cluster: str, environment: str | None = None, provider: str | None = None,
           capacity: ClusterCapacity | None = None) -> Design:
    """Draft a design for `goal` on `cluster`. Raises DesignQuestion when the goal names nothing known."""
    text = _normalise(goal)
    if not cluster or not cluster.strip():
        raise DesignQuestion("Which cluster should this be built on?")
    notes: list[str] = []
    env = _environment(text, cluster, environment, notes)
    keys = _detect(text, env)
    if not keys:
        raise DesignQuestion("I couldn't find anything I know how to build in that goal. " + WHAT_I_DESIGN)
    size = catalog().environments[env].size
    components = _with_secrets([_choice(k, size) for k in keys], size)
    if env == "production" and any(c.key == "postgres" for c in components):
        notes.append("Production with a single Postgres primary: no automatic failover. "
                     "Say \"make postgres highly available\" to use postgresql-ha.")
    return Design(stack=_stack_name(text, keys), cluster=cluster.strip(), environment=env, size=size,
                  provider=_provider(text, provider), components=components, capacity=capacity,
                  goal=goal, notes=notes)


# Rendering helpers ---------------------------------------------------------------------------
def _node_count(d: Design) -> int:
    return d.capacity.workers if d.capacity and d.capacity.workers > 0 else ASSUMED_NODES


def _extra_replicas(d: Design, pod: ExtraPod) -> int:
    return _node_count(d) if pod.per_node else pod.replicas


def _topology(comp: Component, replicas: int) -> str:
    n = replicas - 1
    template = comp.topology_one if replicas <= 1 else comp.topology_many
    return template.format(n=n, s="" if n == 1 else "s", replicas=replicas)


def _variables(d: Design, choice: ComponentChoice) -> dict[str, str]:
    comp = catalog().get(choice.key)
    v: dict[str, str] = {"name": choice.name, "namespace": d.namespace, "secret": d.secret_name}
    if comp.manifest:
        return v
    defaults = comp.sizes[d.size]
    backups = str(choice.options.get("backups", "off"))
    aof = bool(choice.options.get("aof", False))
    v.update({
        "replicas": str(choice.replicas), "read_replicas": str(max(choice.replicas - 1, 0)),
        "architecture": "replication" if choice.replicas > 1 else "standalone",
        "storage": f"{choice.storage_gi}Gi", "storage_gi": str(choice.storage_gi),
        "cpu": f"{defaults.cpu_m}m", "memory": f"{defaults.memory_mi}Mi",
        "backups_enabled": "true" if backups != "off" else "false",
        "backup_schedule": BACKUP_SCHEDULES.get(backups, "") or "@daily",
        "backups_text": f"{backups} backups" if backups != "off" else "no backups",
        "aof": "yes" if aof else "no", "aof_text": "AOF persistence" if aof else "RDB snapshots only",
        "rdb_save": "" if aof else "3600 1 300 100 60 10000",
        "topology": _topology(comp, choice.replicas),
    })
    for pod in defaults.extra:
        v[f"{pod.var}_replicas"] = str(_extra_replicas(d, pod))
        v[f"{pod.var}_cpu"] = f"{pod.cpu_m}m"
        v[f"{pod.var}_memory"] = f"{pod.memory_mi}Mi"
    v.update(defaults.vars)
    return v


def _summary(d: Design, choice: ComponentChoice) -> str:
    comp = catalog().get(choice.key)
    return string.Template(comp.summary).substitute(_variables(d, choice))


def _render_values(d: Design, choice: ComponentChoice) -> str:
    comp = catalog().get(choice.key)
    text = string.Template(comp.values).substitute(_variables(d, choice))
    text = "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"
    yaml.safe_load(text)  # a template that renders to bad YAML is a catalog bug: fail loudly
    return text


def _bom_line(d: Design, choice: ComponentChoice, provider: Any) -> BomLine:
    comp = catalog().get(choice.key)
    if comp.manifest:
        return BomLine(component=choice.name, chart="manifest", version="-", replicas=0,
                       notes=f"SOPS-encrypted Secret {d.secret_name}; keys: {', '.join(d.secret_keys())} "
                             "(values generated at apply, never shown)")
    defaults = comp.sizes[d.size]
    cpu = choice.replicas * defaults.cpu_m
    memory = choice.replicas * defaults.memory_mi
    notes = [f"{choice.replicas} × {defaults.cpu_m}m/{defaults.memory_mi}Mi"]
    storage = 0
    if choice.storage_gi:
        copies = choice.replicas if comp.storage_per_replica else 1
        storage = copies * choice.storage_gi
        notes.append(f"{copies} × {choice.storage_gi}Gi PVC")
        if comp.backup_volume and choice.options.get("backups", "off") != "off":
            storage += choice.storage_gi
            notes.append(f"{choice.storage_gi}Gi backup volume ({choice.options['backups']})")
    for pod in defaults.extra:
        count = _extra_replicas(d, pod)
        cpu += count * pod.cpu_m
        memory += count * pod.memory_mi
        per = "per node" if pod.per_node else ""
        assumed = f", {ASSUMED_NODES} nodes assumed" if pod.per_node and not d.capacity else ""
        notes.append(f"{pod.name} {count} × {pod.cpu_m}m/{pod.memory_mi}Mi{(' ' + per) if per else ''}{assumed}")
    cost = (cpu / 1000 * provider.vcpu_month + memory / 1024 * provider.memory_gib_month
            + storage * provider.storage_gib_month)
    for item in comp.fixed_costs:
        cost += provider.fixed(item)
        notes.append(f"1 {item.replace('_', ' ')}")
    if choice.options.get("aof") is True:
        notes.append("AOF")
    return BomLine(component=choice.name, chart=choice.chart, version=choice.version,
                   replicas=choice.replicas, storage_gi=float(storage), cpu_request_m=cpu,
                   memory_request_mi=memory, monthly_cost_estimate=round(cost, 2), notes="; ".join(notes))


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as literal blocks; list items indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _represent_str)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=1000)


# Approval binding ----------------------------------------------------------------------------
def plan_hash_parts(d: Design) -> dict[str, str]:
    """What an approval must be bound to: the exact stack YAML and the bill of materials (JSON)."""
    bom = d.bill_of_materials().model_dump(mode="json")
    return {"stack_yaml": d.stack_yaml(),
            "bill_of_materials": json.dumps(bom, sort_keys=True, separators=(",", ":"), ensure_ascii=False)}


def plan_hash(d: Design) -> str:
    """sha256 over `plan_hash_parts`, in a fixed order."""
    digest = hashlib.sha256()
    for name, value in sorted(plan_hash_parts(d).items()):
        digest.update(name.encode() + b"\0" + value.encode() + b"\0")
    return digest.hexdigest()


# Bill of materials diff ----------------------------------------------------------------------
def _money(value: float, currency: str) -> str:
    symbol = {"EUR": "€", "USD": "$", "GBP": "£"}.get(currency, currency + " ")
    return f"{'-' if value < 0 else ''}{symbol}{abs(value):.2f}"


def _signed(value: float, currency: str) -> str:
    return ("+" if value >= 0 else "") + _money(value, currency)


def diff_boms(old: BillOfMaterials, new: BillOfMaterials) -> list[str]:
    """Infracost-style: what is added, removed and changed, and the monthly total delta."""
    cur = new.currency
    before = {line.component: line for line in old.lines}
    after = {line.component: line for line in new.lines}
    out = []
    for name in list(before) + [n for n in after if n not in before]:
        a, b = before.get(name), after.get(name)
        if a is None and b is not None:
            out.append(f"+ {name}: {b.chart} {b.version}, {b.replicas} replicas, {b.storage_gi:g}Gi, "
                       f"{_signed(b.monthly_cost_estimate, cur)}/month")
        elif b is None and a is not None:
            out.append(f"- {name}: {a.chart} {a.version}, {a.replicas} replicas, {a.storage_gi:g}Gi, "
                       f"{_signed(-a.monthly_cost_estimate, cur)}/month")
        elif a is not None and b is not None:
            changed = []
            if a.chart != b.chart:
                changed.append(f"chart {a.chart} → {b.chart}")
            if a.version != b.version:
                changed.append(f"version {a.version} → {b.version}")
            if a.replicas != b.replicas:
                changed.append(f"replicas {a.replicas} → {b.replicas}")
            if a.storage_gi != b.storage_gi:
                changed.append(f"storage {a.storage_gi:g}Gi → {b.storage_gi:g}Gi")
            if a.cpu_request_m != b.cpu_request_m:
                changed.append(f"CPU {a.cpu_request_m}m → {b.cpu_request_m}m")
            if a.memory_request_mi != b.memory_request_mi:
                changed.append(f"memory {a.memory_request_mi}Mi → {b.memory_request_mi}Mi")
            if a.monthly_cost_estimate != b.monthly_cost_estimate:
                delta = b.monthly_cost_estimate - a.monthly_cost_estimate
                changed.append(f"{_money(a.monthly_cost_estimate, cur)} → "
                               f"{_money(b.monthly_cost_estimate, cur)}/month ({_signed(delta, cur)})")
            if changed:
                out.append(f"~ {name}: " + ", ".join(changed))
    delta = round(new.monthly_cost_estimate - old.monthly_cost_estimate, 2)
    out.append(f"Monthly estimate: {_money(old.monthly_cost_estimate, cur)} → "
               f"{_money(new.monthly_cost_estimate, cur)} ({_signed(delta, cur)}/month, an estimate)")
    return out


# Revising ------------------------------------------------------------------------------------
_NUMBERS = {"a": 1, "an": 1, "one": 1, "another": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
            "seven": 7, "eight": 8, "nine": 9}
_NUM = r"(\d+|a|an|one|another|two|three|four|five|six|seven|eight|nine)"


def _number(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBERS[token]


def _mentions(text: str, d: Design) -> list[ComponentChoice]:
    """Components of the design the words of `text` point at, in design order."""
    cat = catalog()
    hit: set[str] = set()
    for choice in d.components:
        comp = cat.get(choice.key)
        names = {choice.key, choice.name}
        if not comp.manifest:
            names.add(comp.chart)
        if any(_has_word(text, n) for n in names):
            hit.add(choice.key)
    for entry in cat.vocabulary:
        if not any(_has_word(text, w) for w in entry.words):
            continue
        for ref in entry.refers:
            if ref == DATABASE_REF or entry.generic:
                kind = "database" if ref == DATABASE_REF else cat.get(ref).kind
                hit.update(c.key for c in d.components if c.kind == kind)
            else:
                hit.add(ref)
    if _has_word(text, "secrets") or _has_word(text, "credentials"):
        hit.add("secrets")
    return [c for c in d.components if c.key in hit]


def _named_but_absent(text: str, d: Design) -> list[str]:
    """Component keys the text names specifically that the design does not have."""
    cat = catalog()
    present = {c.key for c in d.components}
    absent = []
    for key, comp in cat.components.items():
        if key in present or comp.manifest:
            continue
        if any(_has_word(text, n) for n in {key, comp.chart}) and not any(
                c.kind == comp.kind and c.name == comp.name for c in d.components):
            absent.append(key)
    return absent


def _target(text: str, d: Design, option: str, default_kinds: tuple[str, ...]) -> ComponentChoice:
    """The one component an instruction is about: named, or the obvious default for the option."""
    cat = catalog()
    named = _mentions(text, d)
    if not named:
        missing = _named_but_absent(text, d)
        if missing:
            raise DesignQuestion(f"There is no {missing[0]} in the design; it has "
                                 f"{', '.join(c.name for c in d.components)}.")
        able = [c for c in d.components if option in cat.get(c.key).options]
        for kind in default_kinds:
            named = [c for c in able if c.kind == kind]
            if named:
                break
        else:
            named = able
    able = [c for c in named if option in cat.get(c.key).options]
    if not able:
        which = ", ".join(c.name for c in named) or "nothing in the design"
        supports = [c.name for c in d.components if option in cat.get(c.key).options]
        raise DesignQuestion(f"{which} has no {option} setting"
                             + (f"; {', '.join(supports)} {'does' if len(supports) == 1 else 'do'}."
                                if supports else "."))
    if len(able) > 1:
        raise DesignQuestion(f"Which one — {' or '.join(c.name for c in able)}?")
    return able[0]


def _storage_gi(text: str) -> int | None:
    m = re.search(r"(\d+(?:\.\d+)?)\s*(gi|gib|gb|g|gigs?|gigabytes?|ti|tib|tb|t|terabytes?)(?![a-z])", text)
    if not m:
        return None
    value = float(m.group(1))
    if m.group(2).startswith("t"):
        value *= 1024
    return round(value)


def _rev_pin(text: str, d: Design) -> list[str] | None:
    m = re.search(r"(?<![\w.])(v?\d+\.\d+\.\d+)(?![\w.])", text)
    if not m or not re.search(r"\b(pin|version|use|upgrade|downgrade|set|to|at)\b", text):
        return None
    wanted = m.group(1)
    choice = _target(text.replace(wanted, " "), d, "version", ())
    comp = catalog().get(choice.key)
    match = next((v for v in comp.known_versions if v.lstrip("v") == wanted.lstrip("v")), None)
    if match is None:
        raise DesignQuestion(f"{comp.chart_ref} has no known version {wanted}. Known versions: "
                             f"{', '.join(comp.known_versions)}.")
    if match == choice.version:
        raise DesignQuestion(f"{choice.name} is already at {match}.")
    old = choice.version
    choice.version = match
    line = f"{choice.name}: version {old} → {match}"
    if old.lstrip("v").split(".")[0] != match.lstrip("v").split(".")[0]:
        line += " (major version change: read the chart's upgrade notes)"
    return [line]


def _rev_storage(text: str, d: Design) -> list[str] | None:
    size = _storage_gi(text)
    if size is None or not re.search(r"\b(storage|disk|disks|volume|volumes|pvc|space|size)\b", text):
        return None
    choice = _target(text, d, "storage", ("database", "cache", "observability"))
    if not 1 <= size <= MAX_STORAGE_GI:
        raise DesignQuestion(f"Storage must be between 1Gi and {MAX_STORAGE_GI}Gi.")
    if size == choice.storage_gi:
        raise DesignQuestion(f"{choice.name} storage is already {size}Gi.")
    old = choice.storage_gi
    choice.storage_gi = size
    line = f"{choice.name} storage {old}Gi → {size}Gi"
    if size < old:
        line += " (shrinking a PVC is not possible in place: existing volumes keep their size)"
    return [line]


def _set_replicas(d: Design, choice: ComponentChoice, replicas: int) -> list[str]:
    comp = catalog().get(choice.key)
    if replicas < comp.min_replicas:
        hint = (" — say \"swap postgres for a single postgres\" for one instance"
                if choice.key == "postgres-ha" else "")
        raise DesignQuestion(f"{choice.name} ({comp.chart_ref}) needs at least {comp.min_replicas} "
                             f"replicas{hint}.")
    if replicas > MAX_REPLICAS:
        raise DesignQuestion(f"{replicas} replicas is more than I design for ({MAX_REPLICAS} at most).")
    if replicas == choice.replicas:
        raise DesignQuestion(f"{choice.name} already has {replicas} replicas.")
    old = choice.replicas
    choice.replicas = replicas
    return [f"{choice.name}: replicas {old} → {replicas} ({_topology(comp, replicas)})"]


def _rev_replicas(text: str, d: Design) -> list[str] | None:
    if not re.search(r"\breplicas?\b|\binstances?\b|\bnodes?\b|\bpods?\b", text):
        return None
    defaults = ("database", "cache")
    if m := re.search(r"\b(?:add|another|one more|plus)\b(?:\s+" + _NUM + r")?(?:\s+more)?\s+(?:read\s+)?"
                      r"(?:replicas?|instances?)\b", text) or re.search(r"\b(another|one more)\b", text):
        count = _number(m.group(1)) if m.lastindex and m.group(1) and m.group(1) not in ("one more",) else 1
        choice = _target(text, d, "replicas", defaults)
        return _set_replicas(d, choice, choice.replicas + count)
    if m := re.search(r"\b(?:remove|drop|delete|one fewer|one less|fewer|less)\b(?:\s+" + _NUM
                      + r")?\s+(?:read\s+)?(?:replicas?|instances?)\b", text):
        count = _number(m.group(1)) if m.group(1) else 1
        choice = _target(text, d, "replicas", defaults)
        return _set_replicas(d, choice, choice.replicas - count)
    m = re.search(r"\b" + _NUM + r"\s+(read\s+)?(?:replicas?|instances?|nodes?|pods?)\b", text) or \
        re.search(r"\b(?:replicas?|instances?)\s+(?:to|=|at|of)\s+" + _NUM + r"\b", text)
    if m:
        count = _number(m.group(1))
        read = m.lastindex is not None and m.lastindex >= 2 and bool(m.group(2))
        choice = _target(text, d, "replicas", defaults)
        return _set_replicas(d, choice, count + 1 if read else count)
    return None


def _rev_backups(text: str, d: Design) -> list[str] | None:
    if not re.search(r"\bbackups?\b", text):
        return None
    if re.search(r"\b(no|disable|disabled|off|without|stop|turn off|remove|drop)\b", text):
        schedule = "off"
    else:
        schedule = next((s for s in ("hourly", "daily", "weekly") if s in text), "daily")
    choice = _target(text, d, "backups", ("database",))
    old = str(choice.options.get("backups", "off"))
    if old == schedule:
        raise DesignQuestion(f"{choice.name} backups are already {schedule}.")
    choice.options["backups"] = schedule
    return [f"{choice.name} backups {old} → {schedule}"]


def _rev_aof(text: str, d: Design) -> list[str] | None:
    if not re.search(r"\baof\b|append[- ]?only", text):
        return None
    on = not re.search(r"\b(no|disable|disabled|off|without|stop|turn off)\b", text)
    choice = _target(text, d, "aof", ("cache",))
    if bool(choice.options.get("aof")) == on:
        raise DesignQuestion(f"{choice.name} AOF persistence is already {'on' if on else 'off'}.")
    choice.options["aof"] = on
    return [f"{choice.name} AOF persistence {'off → on' if on else 'on → off'}"]


def _replace(d: Design, old: ComponentChoice, new_key: str) -> list[str]:
    comp = catalog().get(new_key)
    new = _choice(new_key, d.size)
    if "replicas" in comp.options:
        new.replicas = max(old.replicas, comp.min_replicas)
    if "storage" in comp.options and old.storage_gi:
        new.storage_gi = old.storage_gi
    for option in ("aof", "backups"):
        if option in comp.options and option in old.options:
            new.options[option] = old.options[option]
    d.components[d.components.index(old)] = new
    line = f"{old.name} → {new.name} {comp.major()} ({comp.chart_ref} {comp.version})"
    if old.name == new.name:
        line = f"{old.name}: {old.chart} → {comp.chart_ref} {comp.version}"
    if new.replicas != old.replicas:
        line += f", replicas {old.replicas} → {new.replicas}"
    return [line]


def _rev_swap(text: str, d: Design) -> list[str] | None:
    cat = catalog()
    m = (re.search(r"\b(?:swap|replace|switch|change|move)\b(?P<old>.+?)\b(?:for|with|to|by|into)\b(?P<new>.+)",
                   text)
         or re.search(r"\buse\b(?P<new>.+?)\binstead of\b(?P<old>.+)", text))
    ha = re.search(r"\bmake\b(?P<old>.+?)\b(?P<new>highly available|high availability|ha|single|"
                   r"standalone|single instance)\b", text)
    m = m or ha
    if not m:
        return None
    olds = _mentions(m.group("old"), d)
    if len(olds) != 1:
        if not olds:
            missing = _named_but_absent(m.group("old"), d)
            if missing:
                raise DesignQuestion(f"There is no {missing[0]} in the design to swap.")
            return None
        raise DesignQuestion(f"Swap which one — {' or '.join(c.name for c in olds)}?")
    old = olds[0]
    new_text = m.group("new")
    if old.kind == "database" and any(_has_word(new_text, w) for w in cat.ha_words + ("highly available",)):
        new_key = "postgres-ha"
    elif old.kind == "database" and any(_has_word(new_text, w) for w in cat.single_words + ("single",)):
        new_key = "postgres"
    else:
        wanted = _detect(new_text, d.environment, negatable=False)
        same = [k for k in wanted if cat.get(k).kind == old.kind]
        if not same:
            kin = [k for k, c in cat.components.items() if c.kind == old.kind and k != old.key]
            raise DesignQuestion(f"I can swap {old.name} for {' or '.join(kin) or 'nothing else'} "
                                 "(same kind of component).")
        new_key = same[0]
    if new_key == old.key:
        raise DesignQuestion(f"{old.name} already uses {old.chart}.")
    changes = _replace(d, old, new_key)
    single = any(_has_word(new_text, w) for w in cat.single_words + ("single",))
    new = d.component(new_key)
    if single and new is not None and new.replicas > 1:
        changes[-1] += f", replicas {new.replicas} → 1"
        new.replicas = 1
    return changes


def _rev_remove(text: str, d: Design) -> list[str] | None:
    if not re.search(r"\b(drop|remove|delete|without|get rid of|no longer need|don't need|do not need)\b",
                     text):
        return None
    targets = _mentions(text, d)
    if not targets:
        missing = _named_but_absent(text, d)
        if missing:
            raise DesignQuestion(f"There is no {missing[0]} in the design.")
        return None
    if any(t.key == "secrets" for t in targets) and len(targets) == 1:
        raise DesignQuestion("The credentials Secret stays while a component needs credentials; it goes "
                             "away by itself when the last one is removed.")
    targets = [t for t in targets if t.key != "secrets"]
    if len(targets) == len([c for c in d.components if c.key != "secrets"]):
        raise DesignQuestion("That would leave the stack empty. Tell me what to build instead.")
    for t in targets:
        d.components.remove(t)
    return [f"removed {t.name}" for t in targets]


def _rev_add(text: str, d: Design) -> list[str] | None:
    if not re.search(r"\b(add|include|also|plus|want|need|with|set up|enable)\b", text):
        return None
    cat = catalog()
    wanted = _detect(text, d.environment)
    if not wanted:
        return None
    changes = []
    for key in wanted:
        comp = cat.get(key)
        if d.component(key):
            continue
        same = d.of_kind(comp.kind)
        if comp.kind in ("database", "cache") and same is not None:
            raise DesignQuestion(f"The design already has {same.name} as its {comp.kind}; say "
                                 f"\"swap {same.name} for {key}\" to change it.")
        d.components.append(_choice(key, d.size))
        changes.append(f"added {comp.name} ({comp.chart_ref} {comp.version})")
    if not changes:
        raise DesignQuestion(f"{', '.join(cat.get(k).name for k in wanted)} "
                             f"{'is' if len(wanted) == 1 else 'are'} already in the design.")
    return changes


_RULES = (_rev_pin, _rev_storage, _rev_backups, _rev_aof, _rev_replicas, _rev_swap, _rev_remove, _rev_add)

WHAT_I_REVISE = ("I can: add a read replica (\"add a read replica\", \"use 3 replicas for redis\"), "
                 "resize storage (\"make Postgres storage 50Gi\"), swap a chart (\"swap Redis for "
                 "Valkey\", \"make postgres highly available\"), pin a version (\"pin Redis to 19.5.0\"), "
                 "change backups or AOF (\"weekly backups\", \"turn off AOF\"), remove a component "
                 "(\"drop the cache\") or add one (\"add monitoring\", \"add an ingress with TLS\").")


def _apply(text: str, d: Design) -> list[str]:
    for rule in _RULES:
        changes = rule(text, d)
        if changes is not None:
            return changes
    raise _NotUnderstood(text)


_CLAUSES = re.compile(r"\s*(?:;|,\s*and\b|,\s*then\b|\bthen\b|,|\band\b|\balso\b)\s*")


def revise(d: Design, instruction: str) -> Revision:
    """Apply one instruction (or several, joined by "and", ",", ";") to a copy of the design."""
    text = _normalise(instruction)
    if not text:
        raise DesignQuestion("What should I change? " + WHAT_I_REVISE)
    clauses = [c for c in _CLAUSES.split(text) if c]
    attempts = [clauses] if len(clauses) > 1 else []
    attempts.append([text])
    for parts in attempts:
        new = d.model_copy(deep=True)
        changes: list[str] = []
        try:
            for part in parts:
                changes.extend(_apply(part, new))
        except _NotUnderstood:
            continue
        before = {c.key for c in new.components}
        new.components = _with_secrets(new.components, new.size)
        after = {c.key for c in new.components}
        if "secrets" in after - before:
            changes.append(f"added secrets ({new.secret_name})")
        if "secrets" in before - after:
            changes.append(f"removed secrets ({new.secret_name}): nothing needs credentials any more")
        kinds = {c.kind for c in new.components}
        if not kinds - {"secrets"}:
            raise DesignQuestion("That would leave the stack empty. Tell me what to build instead.")
        return Revision(design=new, changes=changes)
    raise DesignQuestion(f"I didn't understand {instruction.strip()!r}. " + WHAT_I_REVISE)


# Checking a stack YAML -----------------------------------------------------------------------
_TOP_KEYS = {"apiVersion", "kind", "metadata", "spec"}
_METADATA_KEYS = {"name", "description", "labels"}
_SPEC_KEYS = {"stacks"}
_STACK_KEYS = {"name", "description", "deploy_wave", "manifests", "addons"}
_MANIFEST_KEYS = {"name", "parents", "encrypted_paths", "manifest", "manifest_base64", "from_file"}
_ADDON_KEYS = {"name", "chart_name", "chart_version", "registry_name", "registry_url", "namespace",
               "parents", "configuration", "encrypted_paths"}
_CONFIGURATION_KEYS = {"values", "values_base64"}


def _known_charts(cat: Catalog) -> dict[str, list[Component]]:
    charts: dict[str, list[Component]] = {}
    for comp in cat.components.values():
        if not comp.manifest:
            charts.setdefault(comp.chart, []).append(comp)
    return charts


def check_stack_yaml(text: str, *, placeholders_only: bool = True) -> list[str]:
    """The rules `ankra cluster apply`/`validate` enforce, applied to an ImportCluster document.

    Returns every problem (empty when valid), each as `<rule>: <message>`. Rules: structure,
    unknown-field, duplicate-name, parent (defined, kind manifest|addon), cycle, namespace (RFC 1123
    label; the Namespace manifest is an ancestor of what deploys into it), chart (known chart and exact
    known version, in the named registry), deploy-wave, plaintext-secret (Secret data under
    `encrypted_paths`) and, with `placeholders_only`, secret-value (Secret values are only the
    generated-at-apply placeholder: the designer never writes a real secret).
    """
    errors: list[str] = []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        return [f"structure: not valid YAML: {' '.join(str(err).split())}"]
    if not isinstance(doc, dict):
        return ["structure: expected an ImportCluster mapping"]

    def unknown(where: str, data: dict[str, Any], allowed: set[str]) -> None:
        errors.extend(f'unknown-field: {where}: unknown field "{k}"' for k in data if k not in allowed)

    unknown("file", doc, _TOP_KEYS)
    if doc.get("apiVersion") != "v1" or doc.get("kind") != "ImportCluster":
        errors.append("structure: apiVersion must be v1 and kind ImportCluster")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        errors.append("structure: metadata.name (the cluster) is required")
    else:
        unknown("metadata", metadata, _METADATA_KEYS)
    spec = doc.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("stacks"), list) or not spec["stacks"]:
        return errors + ["structure: spec.stacks must list at least one stack"]
    unknown("spec", spec, _SPEC_KEYS)

    cat = catalog()
    charts = _known_charts(cat)
    resources: dict[str, dict[str, Any]] = {}  # name -> {kind, parents, namespaces, creates}
    stack_names: set[str] = set()
    for si, stack in enumerate(spec["stacks"]):
        if not isinstance(stack, dict) or not stack.get("name"):
            errors.append(f"structure: spec.stacks[{si}] needs a name")
            continue
        sname = str(stack["name"])
        unknown(f'stack "{sname}"', stack, _STACK_KEYS)
        if sname in stack_names:
            errors.append(f'duplicate-name: stack "{sname}" is defined twice')
        stack_names.add(sname)
        wave = stack.get("deploy_wave", 0)
        if not isinstance(wave, int) or isinstance(wave, bool) or wave < 0:
            errors.append(f'deploy-wave: stack "{sname}": deploy_wave must be a whole number >= 0, got {wave!r}')
        for key, kind, allowed in (("manifests", "manifest", _MANIFEST_KEYS), ("addons", "addon", _ADDON_KEYS)):
            items = stack.get(key) or []
            if not isinstance(items, list):
                errors.append(f'structure: stack "{sname}": {key} must be a list')
                continue
            for item in items:
                if not isinstance(item, dict) or not item.get("name"):
                    errors.append(f'structure: stack "{sname}": every {kind} needs a name')
                    continue
                name = str(item["name"])
                label = f'{kind} "{name}"'
                unknown(label, item, allowed)
                if name in resources:
                    errors.append(f"duplicate-name: {label}: the name is already used by a "
                                  f"{resources[name]['kind']}")
                    continue
                parents = []
                for entry in item.get("parents") or []:
                    if isinstance(entry, dict) and set(entry) == {"name", "kind"}:
                        pkind, pname = entry["kind"], str(entry["name"])
                    elif isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in ("manifest", "addon"):
                        pkind, pname = next(iter(entry.items()))
                    else:
                        errors.append(f"parent: {label}: parent {entry!r} must be {{name, kind}}")
                        continue
                    if pkind not in ("manifest", "addon"):
                        errors.append(f'parent: {label}: parent "{pname}" has kind {pkind!r} '
                                      "(expected manifest or addon)")
                        continue
                    parents.append((pkind, str(pname)))
                res = {"kind": kind, "parents": parents, "namespaces": set(), "creates": set()}
                resources[name] = res
                if kind == "manifest":
                    _check_manifest(item, label, res, errors, placeholders_only, cat.secret_placeholder)
                else:
                    _check_addon(item, label, res, errors, charts)
    # parents defined, with the right kind
    for name, res in resources.items():
        for pkind, pname in res["parents"]:
            target = resources.get(pname)
            if target is None:
                errors.append(f'parent: {res["kind"]} "{name}": parent {pkind} "{pname}" is not defined')
            elif target["kind"] != pkind:
                errors.append(f'parent: {res["kind"]} "{name}": parent "{pname}" is a {target["kind"]}, '
                              f"not a {pkind}")
            elif pname == name:
                errors.append(f'cycle: {res["kind"]} "{name}" lists itself as a parent')
    # cycles
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for _, parent in resources[node]["parents"]:
            if parent not in resources or parent == node:
                continue
            if state.get(parent) == 1:
                cycle = trail[trail.index(parent):] + [parent] if parent in trail else [node, parent]
                errors.append("cycle: " + " -> ".join(cycle))
            elif parent not in state:
                visit(parent, trail + [parent])
        state[node] = 2

    for node in resources:
        if node not in state:
            visit(node, [node])

    # namespaces: created by a manifest that is an ancestor of what deploys into them
    creators = {ns: name for name, res in resources.items() for ns in res["creates"]}

    def ancestors(node: str) -> set[str]:
        seen: set[str] = set()
        todo = [p for _, p in resources[node]["parents"]]
        while todo:
            cur = todo.pop()
            if cur in seen or cur not in resources:
                continue
            seen.add(cur)
            todo.extend(p for _, p in resources[cur]["parents"])
        return seen

    for name, res in resources.items():
        for ns in sorted(res["namespaces"]):
            creator = creators.get(ns)
            if creator is None:
                if ns not in {"default", "kube-system", "kube-public", "kube-node-lease"}:
                    errors.append(f'namespace: {res["kind"]} "{name}": namespace "{ns}" is not created by '
                                  "a Namespace manifest in this file")
            elif creator != name and creator not in ancestors(name):
                errors.append(f'namespace: {res["kind"]} "{name}": the manifest "{creator}" that creates '
                              f'namespace "{ns}" is not among its parents')
    return errors


def _check_manifest(item: dict[str, Any], label: str, res: dict[str, Any], errors: list[str],
                    placeholders_only: bool, placeholder: str) -> None:
    sources = [k for k in ("manifest", "manifest_base64", "from_file") if item.get(k) is not None]
    if sources != ["manifest"] or not isinstance(item["manifest"], str):
        errors.append(f"structure: {label}: needs a `manifest: |` YAML string (the designer writes no other form)")
        return
    try:
        objects = [o for o in yaml.safe_load_all(item["manifest"]) if o is not None]
    except yaml.YAMLError:
        errors.append(f"structure: {label}: manifest is not valid YAML")
        return
    encrypted = item.get("encrypted_paths") or []
    if not isinstance(encrypted, list) or not all(isinstance(p, str) for p in encrypted):
        errors.append(f"structure: {label}: encrypted_paths must be a list of strings")
        encrypted = []
    for obj in objects:
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(meta, dict) or not obj.get("kind") or not meta.get("name"):
            errors.append(f"structure: {label}: every object needs apiVersion, kind and metadata.name")
            continue
        if obj["kind"] == "Namespace":
            ns = str(meta["name"])
            res["creates"].add(ns)
            if len(ns) > 63 or not RFC1123_LABEL.match(ns):
                errors.append(f'namespace: {label}: "{ns}" is not an RFC 1123 label')
        elif isinstance(meta.get("namespace"), str):
            res["namespaces"].add(meta["namespace"])
        if obj["kind"] != "Secret":
            continue
        for section in ("data", "stringData"):
            values = obj.get(section)
            if not isinstance(values, dict):
                continue
            for key, value in values.items():
                path = f"{section}.{key}"
                if not any(path == p or path.startswith(p + ".") for p in encrypted) and \
                        not str(value).startswith("ENC[AES256_GCM,data:"):
                    errors.append(f"plaintext-secret: {label}: {path} is not under encrypted_paths")
                if placeholders_only and value != placeholder:
                    errors.append(f"secret-value: {label}: {path} holds a value, not the "
                                  f"{placeholder} placeholder")


def _check_addon(item: dict[str, Any], label: str, res: dict[str, Any], errors: list[str],
                 charts: dict[str, list[Component]]) -> None:
    namespace = item.get("namespace")
    if not isinstance(namespace, str) or len(namespace) > 63 or not RFC1123_LABEL.match(namespace):
        errors.append(f"namespace: {label}: namespace {namespace!r} is not an RFC 1123 label")
    else:
        res["namespaces"].add(namespace)
    chart, version = item.get("chart_name"), item.get("chart_version")
    if not isinstance(version, str) or not version:
        errors.append(f"chart: {label}: chart_version must be an exact version string")
    found = charts.get(str(chart), [])
    if not found:
        errors.append(f"chart: {label}: chart {chart!r} is not in a connected registry")
    else:
        for repo_field, attr in (("registry_name", "registry_name"), ("registry_url", "registry_url")):
            repo = item.get(repo_field)
            if repo and not any(str(repo).rstrip("/") == getattr(c, attr).rstrip("/") for c in found):
                errors.append(f"chart: {label}: chart {chart!r} is not in registry {repo!r}")
        if isinstance(version, str) and not any(version in c.known_versions for c in found):
            errors.append(f"chart: {label}: {chart} has no version {version!r} "
                          f"(known: {', '.join(found[0].known_versions)})")
    configuration = item.get("configuration") or {}
    if not isinstance(configuration, dict):
        errors.append(f"structure: {label}: configuration must be a mapping")
        return
    errors.extend(f'unknown-field: {label} configuration: unknown field "{k}"'
                  for k in configuration if k not in _CONFIGURATION_KEYS)
    values = configuration.get("values")
    if values is not None:
        if not isinstance(values, str):
            errors.append(f"structure: {label}: configuration.values must be a YAML string")
        else:
            try:
                yaml.safe_load(values)
            except yaml.YAMLError:
                errors.append(f"structure: {label}: configuration.values is not valid YAML")
