"""The designer's data: the component catalog (components.yaml) and the price table (prices.yaml).

Pure: the only I/O is reading these two package data files. The format is described in
docs/components.md. Loading checks the catalog thoroughly (a typo in a template variable, a default
version missing from `known_versions`, a size without replicas…) so a bad edit fails at import in
the tests, not in front of a person.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml

KINDS = ("database", "cache", "ingress", "tls", "observability", "secrets")
SIZES = ("small", "medium", "large")
OPTIONS = ("replicas", "storage", "backups", "aof", "version")
BACKUP_SCHEDULES = {"hourly": "@hourly", "daily": "@daily", "weekly": "@weekly", "off": ""}
DATABASE_REF = "$database"


class CatalogError(ValueError):
    """The catalog or the price table is malformed."""


@dataclass(frozen=True)
class ExtraPod:
    """Pods a component runs besides its main replicas (pgpool, webhook, grafana…)."""

    name: str
    replicas: int = 1
    cpu_m: int = 0
    memory_mi: int = 0
    per_node: bool = False  # a DaemonSet: one per worker node

    @property
    def var(self) -> str:
        """The template variable prefix: `kube-state-metrics` -> `kube_state_metrics`."""
        return self.name.replace("-", "_")


@dataclass(frozen=True)
class Size:
    """A component's defaults at one size tier. cpu_m/memory_mi are per replica."""

    replicas: int
    cpu_m: int
    memory_mi: int
    storage_gi: int = 0
    backups: str | None = None
    aof: bool | None = None
    extra: tuple[ExtraPod, ...] = ()
    vars: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionLine:
    text: str
    when: str | None = None  # "replicated": only with more than one replica


@dataclass(frozen=True)
class Component:
    """One entry of components.yaml."""

    key: str
    kind: str
    title: str
    summary: str
    manifest: bool = False
    addon_name: str = ""
    chart: str = ""
    registry_name: str = ""
    registry_url: str = ""
    version: str = "-"
    known_versions: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    min_replicas: int = 1
    topology_one: str = ""
    topology_many: str = ""
    storage_per_replica: bool = False
    backup_volume: bool = False
    secret_keys: tuple[str, ...] = ()
    fixed_costs: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    connection: tuple[ConnectionLine, ...] = ()
    sizes: dict[str, Size] = field(default_factory=dict)
    values: str = ""

    @property
    def name(self) -> str:
        """The name people and the stack YAML use (the addon name), `secrets` for the manifest."""
        return self.addon_name or self.key

    @property
    def chart_ref(self) -> str:
        """`registry/chart`, or `manifest`."""
        return "manifest" if self.manifest else f"{self.registry_name}/{self.chart}"

    def major(self, version: str | None = None) -> str:
        """`14.x` for 14.3.10, `v1.16.x` for v1.16.1 (the guide shows versions this way)."""
        v = version or self.version
        parts = v.split(".")
        if v.startswith(("v0.", "v1.", "0.")):
            return ".".join(parts[:2]) + ".x"
        return parts[0] + ".x"


@dataclass(frozen=True)
class VocabularyEntry:
    words: tuple[str, ...]
    adds: tuple[str, ...]
    generic: bool = False
    refers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    name: str
    size: str
    database: str


@dataclass(frozen=True)
class Catalog:
    components: dict[str, Component]
    environments: dict[str, Environment]
    environment_aliases: dict[str, str]
    default_environment: str
    vocabulary: tuple[VocabularyEntry, ...]
    ha_words: tuple[str, ...]
    single_words: tuple[str, ...]
    deploy_waves: dict[str, int]
    secret_placeholder: str

    def get(self, key: str) -> Component:
        return self.components[key]

    def environment(self, name: str) -> Environment | None:
        name = name.strip().lower()
        name = self.environment_aliases.get(name, name)
        return self.environments.get(name)


@dataclass(frozen=True)
class ProviderPrices:
    name: str
    title: str
    vcpu_month: float
    memory_gib_month: float
    storage_gib_month: float
    load_balancer_month: float

    def fixed(self, item: str) -> float:
        return float(getattr(self, f"{item}_month"))


@dataclass(frozen=True)
class PriceTable:
    currency: str
    as_of: str
    note: str
    default_provider: str
    providers: dict[str, ProviderPrices]

    def provider(self, name: str | None) -> ProviderPrices:
        return self.providers.get((name or "").strip().lower()) or self.providers[self.default_provider]


# Loading -------------------------------------------------------------------------------------
def _read(name: str) -> str:
    return files("hermes_planner.design").joinpath(name).read_text(encoding="utf-8")


def _need(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data or data[key] in (None, ""):
        raise CatalogError(f"{where}: `{key}` is required")
    return data[key]


_ALLOWED_COMPONENT_KEYS = {
    "kind", "title", "summary", "manifest", "addon_name", "chart", "registry_name", "registry_url",
    "version", "known_versions", "options", "min_replicas", "topology", "storage_per_replica",
    "backup_volume", "secret_keys", "fixed_costs", "warnings", "connection", "sizes", "values",
}
_ALLOWED_SIZE_KEYS = {"replicas", "cpu_m", "memory_mi", "storage_gi", "backups", "aof", "extra", "vars"}
_ALLOWED_EXTRA_KEYS = {"name", "replicas", "cpu_m", "memory_mi", "per_node"}


def _size(raw: Any, where: str) -> Size:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping")
    unknown = set(raw) - _ALLOWED_SIZE_KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown fields {sorted(unknown)}")
    extra = []
    for i, e in enumerate(raw.get("extra") or []):
        if not isinstance(e, dict) or set(e) - _ALLOWED_EXTRA_KEYS:
            raise CatalogError(f"{where}.extra[{i}]: expected {{name, replicas, cpu_m, memory_mi, per_node}}")
        extra.append(ExtraPod(name=str(_need(e, "name", f"{where}.extra[{i}]")),
                              replicas=int(e.get("replicas", 1)), cpu_m=int(e.get("cpu_m", 0)),
                              memory_mi=int(e.get("memory_mi", 0)), per_node=bool(e.get("per_node", False))))
    backups = raw.get("backups")
    if backups is not None:
        backups = str(backups)
        if backups not in BACKUP_SCHEDULES:
            raise CatalogError(f"{where}: backups must be one of {sorted(BACKUP_SCHEDULES)}")
    replicas = int(_need(raw, "replicas", where))
    if replicas < 1:
        raise CatalogError(f"{where}: replicas must be >= 1")
    return Size(replicas=replicas, cpu_m=int(_need(raw, "cpu_m", where)),
                memory_mi=int(_need(raw, "memory_mi", where)), storage_gi=int(raw.get("storage_gi", 0)),
                backups=backups, aof=None if raw.get("aof") is None else bool(raw["aof"]),
                extra=tuple(extra), vars={str(k): str(v) for k, v in (raw.get("vars") or {}).items()})


def _component(key: str, raw: Any) -> Component:
    where = f"components.{key}"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected a mapping")
    unknown = set(raw) - _ALLOWED_COMPONENT_KEYS
    if unknown:
        raise CatalogError(f"{where}: unknown fields {sorted(unknown)}")
    kind = _need(raw, "kind", where)
    if kind not in KINDS:
        raise CatalogError(f"{where}: kind must be one of {KINDS}")
    if raw.get("manifest"):
        return Component(key=key, kind=kind, title=str(_need(raw, "title", where)),
                         summary=str(_need(raw, "summary", where)), manifest=True)
    options = tuple(raw.get("options") or ())
    bad = set(options) - set(OPTIONS)
    if bad:
        raise CatalogError(f"{where}: unknown options {sorted(bad)} (known: {', '.join(OPTIONS)})")
    version = str(_need(raw, "version", where))
    known = tuple(str(v) for v in _need(raw, "known_versions", where))
    if version not in known:
        raise CatalogError(f"{where}: version {version} is not in known_versions")
    sizes_raw = _need(raw, "sizes", where)
    sizes = {name: _size(sizes_raw.get(name), f"{where}.sizes.{name}") for name in SIZES}
    topology = raw.get("topology") or {}
    connection = []
    for line in raw.get("connection") or []:
        if isinstance(line, str):
            connection.append(ConnectionLine(line))
        else:
            connection.append(ConnectionLine(str(line["text"]), line.get("when")))
    comp = Component(
        key=key, kind=kind, title=str(_need(raw, "title", where)), summary=str(_need(raw, "summary", where)),
        addon_name=str(raw.get("addon_name") or key), chart=str(_need(raw, "chart", where)),
        registry_name=str(_need(raw, "registry_name", where)),
        registry_url=str(_need(raw, "registry_url", where)), version=version, known_versions=known,
        options=options, min_replicas=int(raw.get("min_replicas", 1)),
        topology_one=str(topology.get("one", "1 replica")),
        topology_many=str(topology.get("many", "{replicas} replicas")),
        storage_per_replica=bool(raw.get("storage_per_replica", False)),
        backup_volume=bool(raw.get("backup_volume", False)),
        secret_keys=tuple(raw.get("secret_keys") or ()), fixed_costs=tuple(raw.get("fixed_costs") or ()),
        warnings=tuple(raw.get("warnings") or ()), connection=tuple(connection), sizes=sizes,
        values=str(_need(raw, "values", where)),
    )
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", comp.addon_name):
        raise CatalogError(f"{where}: addon_name must be an RFC 1123 label")
    return comp


def template_variables(template: str) -> set[str]:
    """The `$name` / `${name}` variables a template uses."""
    found = set()
    for match in string.Template.pattern.finditer(template):
        name = match.group("named") or match.group("braced")
        if name:
            found.add(name)
    return found


def parse_catalog(text: str) -> Catalog:
    """Parse and check components.yaml text (exposed so tests and docs examples can use it)."""
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict):
        raise CatalogError("components.yaml: expected a mapping")
    components = {str(k): _component(str(k), v) for k, v in (_need(raw, "components", "file")).items()}
    envs = {}
    for name, env in _need(raw, "environments", "file").items():
        if env.get("size") not in SIZES:
            raise CatalogError(f"environments.{name}: size must be one of {SIZES}")
        if env.get("database") not in components:
            raise CatalogError(f"environments.{name}: database {env.get('database')!r} is not a component")
        envs[str(name)] = Environment(str(name), env["size"], env["database"])
    vocabulary = []
    for i, entry in enumerate(_need(raw, "vocabulary", "file")):
        adds = tuple(str(a) for a in entry["adds"])
        for a in adds:
            if a != DATABASE_REF and a not in components:
                raise CatalogError(f"vocabulary[{i}]: {a!r} is not a component")
        refers = tuple(str(a) for a in entry.get("refers") or adds)
        for a in refers:
            if a != DATABASE_REF and a not in components:
                raise CatalogError(f"vocabulary[{i}]: {a!r} is not a component")
        vocabulary.append(VocabularyEntry(tuple(str(w).lower() for w in entry["words"]), adds,
                                          bool(entry.get("generic", False)), refers))
    aliases = {str(k): str(v) for k, v in (raw.get("environment_aliases") or {}).items()}
    default_env = str(raw.get("default_environment", "staging"))
    if default_env not in envs:
        raise CatalogError("default_environment must be one of the environments")
    waves = {str(k): int(v) for k, v in (raw.get("deploy_waves") or {}).items()}
    placeholder = str(_need(raw, "secret_placeholder", "file"))
    return Catalog(components=components, environments=envs, environment_aliases=aliases,
                   default_environment=default_env, vocabulary=tuple(vocabulary),
                   ha_words=tuple(raw.get("ha_words") or ()), single_words=tuple(raw.get("single_words") or ()),
                   deploy_waves=waves, secret_placeholder=placeholder)


def parse_prices(text: str) -> PriceTable:
    raw = yaml.safe_load(text)
    providers = {}
    for name, p in _need(raw, "providers", "prices").items():
        where = f"prices.providers.{name}"
        providers[str(name)] = ProviderPrices(
            name=str(name), title=str(p.get("title", name)),
            vcpu_month=float(_need(p, "vcpu_month", where)),
            memory_gib_month=float(_need(p, "memory_gib_month", where)),
            storage_gib_month=float(_need(p, "storage_gib_month", where)),
            load_balancer_month=float(p.get("load_balancer_month", 0.0)))
    default = str(raw.get("default_provider", "default"))
    if default not in providers:
        raise CatalogError("prices: default_provider must be one of the providers")
    return PriceTable(currency=str(raw.get("currency", "EUR")), as_of=str(raw.get("as_of", "")),
                      note=str(raw.get("note", "Estimated from a price table; not a quote.")),
                      default_provider=default, providers=providers)


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The packaged component catalog."""
    return parse_catalog(_read("components.yaml"))


@lru_cache(maxsize=1)
def prices() -> PriceTable:
    """The packaged price table."""
    return parse_prices(_read("prices.yaml"))
