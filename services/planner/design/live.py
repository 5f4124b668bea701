"""The cluster as it is: its stacks (addons, manifests), namespaces and the Secret keys they hold, read
with `cluster stacks list -o json` and `cluster get namespaces -o json`; and the comparison of an
ImportCluster file against it (what an apply adds, changes and removes).

Pure code: no I/O. Secret *values* are never read into text a person sees: a Secret is described by
its key names. Values under `encrypted_paths` are SOPS ciphertext as the platform stores them
(`ENC[AES256_GCM,data:…]`); Hermes copies them unchanged into the next apply, so a kept password is
not regenerated, and refuses to copy anything that is not ciphertext.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from hermes.contracts import StackChange
from pydantic import BaseModel, ConfigDict, Field

from .catalog import catalog

# Kinds one cluster runs once: a second ingress controller fights the first for the same IngressClass,
# a second cert-manager or kube-prometheus-stack owns the same CRDs.
SHARED_KINDS = ("ingress", "tls", "observability")
SOPS_VALUE = re.compile(r"^ENC\[[A-Z0-9_]+,data:")
# The line Hermes writes at the top of an addon's values: the design choices it rendered them from.
MARKER = "# hermes:"
_STATEFUL_KINDS = ("database", "cache", "observability")


class LiveError(ValueError):
    """The live state cannot be used as read (the message says what and what to do)."""


class Parent(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    kind: str


class LiveAddon(BaseModel):
    """An addon as `cluster stacks list -o json` shows it."""

    model_config = ConfigDict(extra="ignore")

    name: str
    chart_name: str
    chart_version: str = ""
    registry_name: str | None = None
    registry_url: str | None = None
    namespace: str | None = None
    parents: list[Parent] = Field(default_factory=list)
    values: str = ""
    encrypted_paths: list[str] = Field(default_factory=list)

    @property
    def marker(self) -> dict[str, str]:
        """The design choices Hermes recorded in the values (empty for an addon Hermes did not write)."""
        first = self.values.split("\n", 1)[0]
        if not first.startswith(MARKER):
            return {}
        return dict(p.split("=", 1) for p in first[len(MARKER):].split() if "=" in p)

    def file_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "chart_name": self.chart_name,
                                 "chart_version": self.chart_version}
        if self.registry_name:
            entry["registry_name"] = self.registry_name
        if self.registry_url:
            entry["registry_url"] = self.registry_url
        if self.namespace:
            entry["namespace"] = self.namespace
        if self.parents:
            entry["parents"] = [p.model_dump() for p in self.parents]
        entry["configuration"] = {"values": self.values}
        if self.encrypted_paths:
            entry["encrypted_paths"] = list(self.encrypted_paths)
        return entry


class LiveManifest(BaseModel):
    """A manifest of a stack; a Secret's values are SOPS ciphertext (never shown, copied unchanged)."""

    model_config = ConfigDict(extra="ignore")

    name: str
    manifest: str = ""
    parents: list[Parent] = Field(default_factory=list)
    encrypted_paths: list[str] = Field(default_factory=list)

    def objects(self) -> list[dict[str, Any]]:
        try:
            return [o for o in yaml.safe_load_all(self.manifest) if isinstance(o, dict)]
        except yaml.YAMLError:
            return []

    def secret_values(self) -> dict[str, str]:
        """Key -> stored (encrypted) value of the Secret objects in this manifest."""
        out: dict[str, str] = {}
        for obj in self.objects():
            if obj.get("kind") != "Secret":
                continue
            for section in ("stringData", "data"):
                values = obj.get(section)
                if isinstance(values, dict):
                    out.update({str(k): str(v) for k, v in values.items()})
        return out

    def secret_keys(self) -> list[str]:
        return list(self.secret_values())

    def is_secret(self) -> bool:
        return any(o.get("kind") == "Secret" for o in self.objects())

    def file_entry(self) -> dict[str, Any]:
        for key, value in self.secret_values().items():
            if not SOPS_VALUE.match(value):
                raise LiveError(f"the manifest {self.name!r} holds Secret key {key!r} in a form that is not "
                                "SOPS ciphertext; Hermes will not copy it into a new apply. Encrypt it "
                                "(list it under encrypted_paths and re-apply) and ask again.")
        entry: dict[str, Any] = {"name": self.name}
        if self.parents:
            entry["parents"] = [p.model_dump() for p in self.parents]
        if self.encrypted_paths:
            entry["encrypted_paths"] = list(self.encrypted_paths)
        entry["manifest"] = self.manifest
        return entry


class LiveStack(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    description: str = ""
    deploy_wave: int = 0
    state: str = "up"
    addons: list[LiveAddon] = Field(default_factory=list)
    manifests: list[LiveManifest] = Field(default_factory=list)

    def addon(self, name: str) -> LiveAddon | None:
        return next((a for a in self.addons if a.name == name), None)

    def manifest(self, name: str) -> LiveManifest | None:
        return next((m for m in self.manifests if m.name == name), None)

    def file_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "description": self.description,
                                 "deploy_wave": self.deploy_wave,
                                 "manifests": [m.file_entry() for m in self.manifests]}
        if self.addons:
            entry["addons"] = [a.file_entry() for a in self.addons]
        return entry


class LiveCluster(BaseModel):
    """What runs on one cluster, as read just before drafting."""

    model_config = ConfigDict(extra="forbid")

    cluster: str
    stacks: list[LiveStack] = Field(default_factory=list)
    namespaces: list[str] = Field(default_factory=list)

    def stack(self, name: str) -> LiveStack | None:
        return next((s for s in self.stacks if s.name == name), None)

    def providers(self, kind: str, *, skip: str | None = None) -> list[tuple[str, LiveStack, LiveAddon]]:
        """(catalog key, stack, addon) of every addon that is the catalog's component of `kind`."""
        out = []
        for stack in self.stacks:
            if stack.name == skip:
                continue
            for addon in stack.addons:
                key = catalog_key(addon)
                if key is not None and catalog().get(key).kind == kind:
                    out.append((key, stack, addon))
        return out


def catalog_key(addon: LiveAddon) -> str | None:
    """The catalog component an addon is (by the key Hermes recorded, else by its chart)."""
    cat = catalog()
    recorded = addon.marker.get("key")
    if recorded and recorded in cat.components:
        return recorded
    for key, comp in cat.components.items():
        if not comp.manifest and comp.chart == addon.chart_name:
            return key
    return None


# -- reading ----------------------------------------------------------------------------------
def _items(data: Any) -> list[Any]:
    if isinstance(data, dict):
        for key in ("result", "items", "stacks", "data"):
            if isinstance(data.get(key), list):
                return data[key]
        return [data] if data.get("name") else []
    return data if isinstance(data, list) else []


def parse_stacks(cluster: str, data: Any) -> list[LiveStack]:
    """The stacks of a `cluster stacks list -o json` result."""
    stacks = []
    for raw in _items(data):
        if not isinstance(raw, dict) or not raw.get("name"):
            continue
        addons = []
        for a in raw.get("addons") or []:
            if not isinstance(a, dict) or not a.get("name") or not a.get("chart_name"):
                continue
            config = a.get("configuration") if isinstance(a.get("configuration"), dict) else {}
            addons.append(LiveAddon.model_validate({**a, "values": str(config.get("values") or ""),
                                                    "parents": _parents(a.get("parents"))}))
        manifests = [LiveManifest.model_validate({**m, "manifest": str(m.get("manifest") or ""),
                                                  "parents": _parents(m.get("parents"))})
                     for m in raw.get("manifests") or [] if isinstance(m, dict) and m.get("name")]
        stacks.append(LiveStack(name=str(raw["name"]), description=str(raw.get("description") or ""),
                                deploy_wave=int(raw.get("deploy_wave") or 0), state=str(raw.get("state") or "up"),
                                addons=addons, manifests=manifests))
    return stacks


def _parents(raw: Any) -> list[dict[str, str]]:
    out = []
    for p in raw or []:
        if isinstance(p, dict) and set(p) >= {"name", "kind"}:
            out.append({"name": str(p["name"]), "kind": str(p["kind"])})
        elif isinstance(p, dict) and len(p) == 1:
            kind, name = next(iter(p.items()))
            out.append({"name": str(name), "kind": str(kind)})
    return out


def parse_namespaces(data: Any) -> list[str]:
    """The namespace names of a `cluster get namespaces -o json` result."""
    names = []
    for item in _items(data):
        if not isinstance(item, dict):
            continue
        if item.get("kind") not in (None, "Namespace"):
            continue
        meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        name = item.get("name") or meta.get("name")
        if name and str(name) not in names:
            names.append(str(name))
    return names


def read_live(cluster: str, stacks_data: Any, namespaces_data: Any = None) -> LiveCluster:
    stacks = parse_stacks(cluster, stacks_data)
    namespaces = parse_namespaces(namespaces_data) if namespaces_data is not None else []
    return LiveCluster(cluster=cluster, stacks=stacks, namespaces=namespaces)


# -- comparing a file with the live state ------------------------------------------------------
def _chart(a: dict[str, Any] | LiveAddon) -> str:
    if isinstance(a, LiveAddon):
        return f"{a.registry_name + '/' if a.registry_name else ''}{a.chart_name} {a.chart_version}"
    reg = a.get("registry_name")
    return f"{reg + '/' if reg else ''}{a.get('chart_name')} {a.get('chart_version')}"


def _marker_of(values: str) -> dict[str, str]:
    return LiveAddon(name="-", chart_name="-", values=values).marker


def _values_change(name: str, old: str, new: str) -> list[str]:
    if old == new:
        return []
    a, b = _marker_of(old), _marker_of(new)
    out = []
    for field, label, unit in (("replicas", "replicas", ""), ("storage_gi", "storage", "Gi"),
                               ("backups", "backups", ""), ("aof", "AOF", "")):
        if a.get(field) != b.get(field) and (a.get(field) or b.get(field)):
            out.append(f"{label} {a.get(field, '?')}{unit} → {b.get(field, '?')}{unit}")
    if not out:
        out.append("values changed")
    return [f"addon {name}: {', '.join(out)}"]


def _secret_keys(entry: dict[str, Any]) -> list[str]:
    return LiveManifest(name=str(entry.get("name")), manifest=str(entry.get("manifest") or "")).secret_keys()


def diff_stack(old: LiveStack | None, new: dict[str, Any]) -> StackChange:
    """What applying the stack `new` (a file entry) does to the live stack `old`."""
    name = str(new.get("name"))
    new_addons = {str(a["name"]): a for a in new.get("addons") or []}
    new_manifests = {str(m["name"]): m for m in new.get("manifests") or []}
    if old is None:
        keys = [k for m in new_manifests.values() for k in _secret_keys(m)]
        return StackChange(stack=name, action="create",
                           added=[f"addon {n} ({_chart(a)})" for n, a in new_addons.items()]
                           + [f"manifest {n}" for n in new_manifests],
                           secret_keys_added=keys)
    added, changed, removed, replaced = [], [], [], []
    for n, a in new_addons.items():
        live = old.addon(n)
        if live is None:
            added.append(f"addon {n} ({_chart(a)})")
            continue
        if live.chart_name != a.get("chart_name"):
            line = f"addon {n}: chart {_chart(live)} → {_chart(a)}"
            changed.append(line)
            key = catalog_key(live)
            if key is None or catalog().get(key).kind in _STATEFUL_KINDS:
                replaced.append(f"{n} ({live.chart_name}) and its data: the new chart does not take over "
                                "the old chart's volumes")
            continue
        if live.chart_version != a.get("chart_version"):
            changed.append(f"addon {n}: version {live.chart_version} → {a.get('chart_version')}")
        changed += _values_change(n, live.values, str((a.get("configuration") or {}).get("values") or ""))
    for live in old.addons:
        if live.name not in new_addons:
            removed.append(f"addon {live.name} ({_chart(live)})")
    keys_added: list[str] = []
    keys_dropped: list[str] = []
    for n, m in new_manifests.items():
        live_m = old.manifest(n)
        if live_m is None:
            added.append(f"manifest {n}")
            keys_added += _secret_keys(m)
            continue
        before, after = live_m.secret_keys(), _secret_keys(m)
        keys_added += [k for k in after if k not in before]
        keys_dropped += [k for k in before if k not in after]
        if live_m.is_secret():
            if before != after:
                changed.append(f"manifest {n}: Secret keys changed")
        elif live_m.manifest.strip() != str(m.get("manifest") or "").strip():
            changed.append(f"manifest {n}: content changed")
    for live_m in old.manifests:
        if live_m.name not in new_manifests:
            removed.append(f"manifest {live_m.name}")
            keys_dropped += live_m.secret_keys()
    action = "update" if added or changed or removed or keys_added or keys_dropped else "keep"
    return StackChange(stack=name, action=action, added=added, changed=changed, removed=removed + replaced,
                       secret_keys_added=keys_added, secret_keys_removed=keys_dropped)


def diff_file(live: LiveCluster | None, document: dict[str, Any]) -> list[StackChange]:
    """Every stack an ImportCluster document declares against the live cluster, and the live stacks it
    omits (which `cluster apply` prunes: each is a removal)."""
    stacks = (document.get("spec") or {}).get("stacks") or []
    out = [diff_stack(live.stack(str(s.get("name"))) if live else None, s) for s in stacks]
    named = {str(s.get("name")) for s in stacks}
    for stack in live.stacks if live else []:
        if stack.name not in named:
            addons = ", ".join(a.name for a in stack.addons) or "no addons"
            out.append(StackChange(stack=stack.name, action="remove",
                                   removed=[f"stack {stack.name} with {addons}"],
                                   secret_keys_removed=[k for m in stack.manifests for k in m.secret_keys()]))
    return out


def removals(changes: list[StackChange]) -> list[str]:
    """What an apply would remove, each in words (empty: it removes nothing)."""
    out = []
    for c in changes:
        out += [f"{c.stack}: {r}" for r in c.removed]
        if c.secret_keys_removed:
            out.append(f"{c.stack}: Secret keys {', '.join(c.secret_keys_removed)}")
    return out
