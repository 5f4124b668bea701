"""What a design looks like to a person and to `ankra`: the architecture tree, the bill of materials,
connection details, capacity warnings, the ImportCluster YAML `cluster apply -f` takes, and the
infracost-style diff of two bills of materials.

Pure code. A design fitted to the live cluster renders a file that carries every live stack (the real
`cluster apply` prunes what the file omits): the other stacks unchanged, the design's stack merged with
what runs in it. Secret values are the generated-at-apply placeholder for a new key and the live SOPS
ciphertext, copied unchanged, for a kept one: never a plaintext secret.
"""

from __future__ import annotations

import string
from typing import Any

import yaml
from hermes.contracts import ArchitectureDraft, BillOfMaterials, BomLine

from .catalog import BACKUP_SCHEDULES, catalog, prices
from .live import MARKER
from .model import (
    ASSUMED_NODES,
    SECRET_PLACEHOLDER,
    ComponentChoice,
    Design,
    _extra_replicas,
    _topology,
)


# Renderings --------------------------------------------------------------------------
def architecture(d: Design) -> ArchitectureDraft:
    """The drafted architecture as the guide shows it, with warnings."""
    width = max([16] + [len(c.name) + 2 for c in d.components])
    lines = [f"{d.stack} (stack)"]
    for i, choice in enumerate(d.components):
        branch = "└─" if i == len(d.components) - 1 else "├─"
        lines.append(f"  {branch} {choice.name.ljust(width)}{_summary(d, choice)}")
    warnings = list(d.notes)
    for choice in d.components:
        warnings.extend(catalog().get(choice.key).warnings)
    warnings.extend(capacity_warnings(d))
    return ArchitectureDraft(
        stack=d.stack, cluster=d.cluster, tree="\n".join(lines),
        components=[c.key for c in d.components],
        connection_secret=d.secret_name if d.has_secrets() else None, warnings=warnings)


def bill_of_materials(d: Design) -> BillOfMaterials:
    """Per component: chart, exact version, replicas, storage, requests, monthly estimate."""
    table = prices()
    provider = table.provider(d.provider)
    lines = [_bom_line(d, choice, provider) for choice in d.components]
    note = (f"{table.note} Prices for {provider.title} as of {table.as_of}, charged on resource "
            "requests and volumes (not on whole nodes); excludes traffic and off-cluster backups.")
    return BillOfMaterials(
        lines=lines,
        total_cpu_request_m=sum(line.cpu_request_m for line in lines),
        total_memory_request_mi=sum(line.memory_request_mi for line in lines),
        total_storage_gi=float(sum(line.storage_gi for line in lines)),
        monthly_cost_estimate=round(sum(line.monthly_cost_estimate for line in lines), 2),
        currency=table.currency, provider=provider.name, estimate_note=note)


def stack_entry(d: Design) -> dict[str, Any]:
    """The design's stack as a file entry; merged with the live stack of that name when there is one
    (what runs there and is not a component of the design is kept as it is)."""
    cat = catalog()
    live = d.live_stack()
    ns_manifest = {"name": d.namespace_manifest, "manifest": _dump({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": d.namespace, "labels": {"app.kubernetes.io/managed-by": "hermes"}}})}
    if live is not None and (kept := live.manifest(d.namespace_manifest)) is not None:
        ns_manifest = kept.file_entry()
    manifests: list[dict[str, Any]] = [ns_manifest]
    ns_parent = [{"name": d.namespace_manifest, "kind": "manifest"}]
    secret_parent = [{"name": d.secret_name, "kind": "manifest"}]
    keys = d.secret_keys()
    if d.has_secrets():
        stored = live.manifest(d.secret_name).secret_values() if live and live.manifest(d.secret_name) else {}
        new_keys = [k for k in keys if k not in stored]
        manifests.append({
            "name": d.secret_name, "parents": ns_parent, "encrypted_paths": ["stringData"],
            "manifest": _dump({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {
                    "name": d.secret_name, "namespace": d.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "hermes"},
                    "annotations": {"hermes.ankra.io/generate-at-apply": ",".join(new_keys)}},
                "type": "Opaque",
                "stringData": {k: stored.get(k, SECRET_PLACEHOLDER) for k in keys}})})
    addons = []
    for choice in d.components:
        comp = cat.get(choice.key)
        if comp.manifest:
            continue
        running = live.addon(choice.name) if live is not None else None
        if running is not None and choice.live_values is not None and running.chart_name == comp.chart \
                and running.chart_version == choice.version:
            addons.append(running.file_entry())  # unchanged: exactly as it runs
            continue
        addons.append({
            "name": choice.name, "chart_name": comp.chart, "chart_version": choice.version,
            "registry_name": comp.registry_name, "registry_url": comp.registry_url,
            "namespace": d.namespace,
            "parents": secret_parent if comp.secret_keys and d.has_secrets() else ns_parent,
            "configuration": {"values": _render_values(d, choice)}})
    if live is not None:
        ours = {c.name for c in d.components} | {d.secret_name, d.namespace_manifest} | set(d.removed)
        manifests += [m.file_entry() for m in live.manifests if m.name not in ours]
        addons += [a.file_entry() for a in live.addons if a.name not in ours]
    waves = [cat.deploy_waves.get(c.kind, 0) for c in d.components]
    stack: dict[str, Any] = {
        "name": d.stack, "description": live.description if live and live.description else description(d),
        "deploy_wave": min(waves + ([live.deploy_wave] if live else [])) if waves or live else 0,
        "manifests": manifests}
    if addons:
        stack["addons"] = addons
    return stack


def stack_document(d: Design) -> dict[str, Any]:
    """The ImportCluster document: every live stack (unchanged) and the design's stack in its place."""
    ours = stack_entry(d)
    stacks = [ours if s.name == d.stack else s.file_entry() for s in d.live.stacks] if d.live else []
    if not any(s is ours for s in stacks):
        stacks.append(ours)
    return {"apiVersion": "v1", "kind": "ImportCluster", "metadata": {"name": d.cluster},
            "spec": {"stacks": stacks}}


def stack_yaml(d: Design) -> str:
    """The ImportCluster document for `ankra cluster apply -f` (and `cluster validate -f`)."""
    return _dump(stack_document(d))


def storage_lines(d: Design) -> list[str]:
    """Every volume of the design and what it is for, adding up to the bill of materials' total."""
    out = []
    total = 0
    for choice in d.components:
        comp = catalog().get(choice.key)
        if comp.manifest or not choice.storage_gi:
            continue
        copies = choice.replicas if comp.storage_per_replica else 1
        parts = [f"{copies} × {choice.storage_gi}Gi data"
                 + (" (one volume per replica)" if copies > 1 else "")]
        size = copies * choice.storage_gi
        if comp.backup_volume and choice.options.get("backups", "off") != "off":
            parts.append(f"{choice.storage_gi}Gi backups ({choice.options['backups']} dumps)")
            size += choice.storage_gi
        total += size
        out.append(f"{choice.name}: {' + '.join(parts)} = {size}Gi")
    if out:
        out.append(f"Total storage: {total}Gi")
    return out


def description(d: Design) -> str:
    names = [c.name for c in d.components] or ["nothing"]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"{listed} for {d.environment}, drafted by Hermes"


def connection_details(d: Design) -> list[str]:
    """What the app uses to connect: secret name and keys, service hostnames — never values."""
    out = []
    if d.has_secrets():
        out.append(f"Secret {d.secret_name} in namespace {d.namespace} (SOPS-encrypted in the "
                   f"GitOps repo), keys: {', '.join(d.secret_keys())}; reference it with "
                   "existingSecret or secretKeyRef — Hermes never shows the values")
    for choice in d.components:
        comp = catalog().get(choice.key)
        for line in comp.connection:
            if line.when == "replicated" and choice.replicas < 2:
                continue
            out.append(string.Template(line.text).substitute(_variables(d, choice)))
    return out


def capacity_warnings(d: Design) -> list[str]:
    """Total requests against the cluster's capacity: near (>= 80%) or over."""
    if d.capacity is None:
        return []
    bom = bill_of_materials(d)
    warnings = []
    for what, need, have, unit in (
            ("CPU", bom.total_cpu_request_m, d.capacity.cpu_m, "m"),
            ("memory", bom.total_memory_request_mi, d.capacity.memory_mi, "Mi")):
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
    for choice in d.components:
        if choice.replicas > 1 and d.capacity.workers < choice.replicas:
            warnings.append(
                f"{choice.name} runs {choice.replicas} replicas on {d.capacity.workers} worker(s): "
                "replicas will share a node, so losing that node loses more than one replica.")
    return warnings


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
    if choice.live_values is not None:
        return choice.live_values  # unchanged since it was read: kept exactly as it runs
    text = string.Template(comp.values).substitute(_variables(d, choice))
    text = "\n".join(line.rstrip() for line in text.splitlines()).strip("\n") + "\n"
    yaml.safe_load(text)  # a template that renders to bad YAML is a catalog bug: fail loudly
    return _marker(choice) + text


def _marker(choice: ComponentChoice) -> str:
    """The first line of Hermes's values: the choices they render, read back by the next design."""
    fields = {"key": choice.key, "replicas": choice.replicas, "storage_gi": choice.storage_gi,
              **{k: str(v).lower() for k, v in choice.options.items()}}
    return f"{MARKER} " + " ".join(f"{k}={v}" for k, v in fields.items()) + "\n"


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
        notes.append(f"{copies} × {choice.storage_gi}Gi data PVC" + (" (one per replica)" if copies > 1 else ""))
        if comp.backup_volume and choice.options.get("backups", "off") != "off":
            storage += choice.storage_gi
            notes.append(f"{choice.storage_gi}Gi backup volume ({choice.options['backups']} dumps)")
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

