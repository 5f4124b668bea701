"""The designer's data: a drafted design, its components and what the target cluster can give, and the
text helpers every part of the designer reads words with.

Pure data: no I/O. Nothing here holds a secret: the credentials Secret is described by key names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from .catalog import KINDS, Component, ExtraPod, catalog
from .live import MARKER, LiveCluster, LiveStack

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
    live_values: str | None = Field(default=None, description="the values the live addon runs with, kept "
                                    "verbatim while nothing about the component changes")

    @property
    def foreign(self) -> bool:
        """Runs with values Hermes did not write (found on the cluster): it reads no Hermes Secret."""
        return self.live_values is not None and not self.live_values.startswith(MARKER)

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
    live: LiveCluster | None = Field(default=None, description="the cluster as read before drafting")
    reused: list[str] = Field(default_factory=list, description="what the design uses from other stacks")
    removed: list[str] = Field(default_factory=list, description="component names the person asked to remove")
    kept_secret_keys: list[str] = Field(default_factory=list, description="keys of the live Secret no "
                                        "component names, kept")

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


    def secret_keys(self) -> list[str]:
        """The keys of the credentials Secret (values are generated at apply, never shown); keys the live
        Secret holds that no component names are kept."""
        keys: list[str] = []
        for choice in self.components:
            if choice.foreign:
                continue
            for key in catalog().get(choice.key).secret_keys:
                if key not in keys:
                    keys.append(key)
        keys += [k for k in self.kept_secret_keys if k not in keys]
        return keys

    def live_stack(self) -> LiveStack | None:
        """The live stack of the same name, when the design was fitted to the cluster as it is."""
        return self.live.stack(self.stack) if self.live is not None else None

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


def _with_secrets(components: list[ComponentChoice], size: str, *, keep: bool = False) -> list[ComponentChoice]:
    """The components with the credentials Secret when one needs credentials (or `keep`: the live Secret
    holds keys that stay)."""
    cat = catalog()
    needs = keep or any(cat.get(c.key).secret_keys for c in components if not c.foreign)
    rest = [c for c in components if c.key != "secrets"]
    if needs:
        rest.append(next((c for c in components if c.key == "secrets"), None) or _choice("secrets", size))
    return _sorted(rest)



def _node_count(d: Design) -> int:
    return d.capacity.workers if d.capacity and d.capacity.workers > 0 else ASSUMED_NODES


def _extra_replicas(d: Design, pod: ExtraPod) -> int:
    return _node_count(d) if pod.per_node else pod.replicas


def _topology(comp: Component, replicas: int) -> str:
    n = replicas - 1
    template = comp.topology_one if replicas <= 1 else comp.topology_many
    return template.format(n=n, s="" if n == 1 else "s", replicas=replicas)

