"""The architecture designer: a goal in plain words -> a drafted design; and the design fitted to the
cluster as it is (`fit`): what already runs is reused, a stack that exists is merged into, a goal
already met builds nothing.

Pure code: no I/O besides reading the package's own data files (components.yaml, prices.yaml; see
docs/components.md). Nothing here generates or embeds a secret.

    d = design("My app needs a Postgres database and a Redis cache on staging", "staging-cluster")
    fitted = fit(d, read_live("staging-cluster", stacks_json, namespaces_json))
    render.architecture(fitted.design); render.bill_of_materials(fitted.design)
    render.stack_yaml(fitted.design)          # what `ankra cluster apply -f` takes
    revise.revise(d, "make Postgres storage 50Gi")
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .catalog import DATABASE_REF, catalog, prices
from .live import SHARED_KINDS, LiveAddon, LiveCluster, LiveStack, catalog_key, diff_stack
from .model import (
    RFC1123_LABEL,
    ClusterCapacity,
    ComponentChoice,
    Design,
    DesignQuestion,
    _choice,
    _has_word,
    _normalise,
    _sorted,
    _with_secrets,
)
from .render import stack_entry


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



# Fitting a design to the cluster as it is -----------------------------------------------------
@dataclass
class Fit:
    """A design fitted to the live cluster: what it reuses, and whether the goal is met already."""

    design: Design
    reused: list[str] = field(default_factory=list)
    met: str | None = None  # the goal is met by what runs: this says so, and nothing is built


def _from_live(addon: LiveAddon, key: str, size: str) -> ComponentChoice:
    """A running addon as a component of the design, with the choices recorded in its values (catalog
    defaults for an addon Hermes did not write)."""
    base = _choice(key, size)
    marker = addon.marker
    options: dict[str, str | bool] = dict(base.options)
    for name in options:
        if name in marker:
            value = marker[name]
            options[name] = value == "true" if value in ("true", "false") else value
    return base.model_copy(update={
        "name": addon.name, "version": addon.chart_version or base.version,
        "replicas": int(marker["replicas"]) if marker.get("replicas", "").isdigit() else base.replicas,
        "storage_gi": int(marker["storage_gi"]) if marker.get("storage_gi", "").isdigit() else base.storage_gi,
        "options": options, "live_values": addon.values})


def _listing(stack: LiveStack) -> str:
    return ", ".join(f"{a.name} ({a.chart_name} {a.chart_version})" for a in stack.addons) or "no addons"


def fit(d: Design, live: LiveCluster, *, revision: bool = False) -> Fit:
    """Fit `d` to the cluster as it is.

    - A cluster-wide component (ingress controller, cert-manager, monitoring) that runs in another stack
      is reused, not added a second time (two controllers, two owners of the same CRDs).
    - A stack of the same name is merged into: what runs there stays. A new goal never removes or
      replaces anything (a component it names that runs already is kept as it runs); a revision changes
      only what the person asked (`Design.removed` for removals).
    - When the result changes nothing, `met` says what already runs.
    """
    cat = catalog()
    d = d.model_copy(deep=True)
    d.live = live
    reused: list[str] = []
    for choice in list(d.components):
        if choice.kind not in SHARED_KINDS:
            continue
        found = live.providers(choice.kind, skip=d.stack)
        if found:
            _key, stack, addon = next((f for f in found if f[0] == choice.key), found[0])
            d.components.remove(choice)
            reused.append(f"{choice.kind}: {addon.name} ({addon.chart_name} {addon.chart_version}) from the "
                          f"`{stack.name}` stack")
    target = live.stack(d.stack)
    removed_keys: set[str] = set()
    if target is not None:
        for addon in target.addons:
            key = catalog_key(addon)
            if key is None:
                continue  # not a catalog component: kept exactly as it runs
            if addon.name in d.removed:
                removed_keys.add(key)
                continue
            comp = cat.get(key)
            mine = next((c for c in d.components if c.name == addon.name), None)
            running = _from_live(addon, key, d.size)
            if mine is not None:
                if revision:
                    if mine.key != key:
                        removed_keys.add(key)  # swapped: the old chart's keys go with it
                    elif mine.model_dump(exclude={"live_values"}) == running.model_dump(exclude={"live_values"}):
                        mine.live_values = addon.values
                    continue
                if mine.key != key:
                    d.notes.append(f"{addon.name} in the `{d.stack}` stack runs {addon.chart_name} "
                                   f"{addon.chart_version}; I kept it. Say \"swap {addon.name} for {mine.key}\" "
                                   "to change it.")
                d.components[d.components.index(mine)] = running
                continue
            same = d.of_kind(comp.kind) if comp.kind in ("database", "cache") else None
            if same is not None and not revision:
                raise DesignQuestion(
                    f"The `{d.stack}` stack on {d.cluster} already has {addon.name} ({addon.chart_name} "
                    f"{addon.chart_version}) as its {comp.kind}. Say \"swap {addon.name} for {same.key}\" "
                    f"once the draft is shown to change it, or name another stack (\"… in a stack named "
                    f"{d.stack}-2\").")
            d.components.append(running)
        known = {k for c in cat.components.values() for k in c.secret_keys}
        live_keys = [k for m in target.manifests if m.name == d.secret_name for k in m.secret_keys()]
        d.kept_secret_keys = [k for k in live_keys if k not in known]
        if removed_keys:
            named = {k for c in d.components if c.key not in removed_keys for k in cat.get(c.key).secret_keys}
            d.kept_secret_keys = [k for k in d.kept_secret_keys if k not in named]
    d.components = _sorted(_with_secrets(d.components, d.size, keep=bool(d.kept_secret_keys)))
    d.reused = reused
    if target is not None and diff_stack(target, stack_entry(d)).action == "keep":
        also = f" It also has {'; '.join(reused)}." if reused else ""
        return Fit(d, reused, met=f"{d.cluster} already has this: the `{d.stack}` stack runs {_listing(target)}."
                                  f"{also} Nothing to build.")
    if target is None and not [c for c in d.components if c.key != "secrets"]:
        return Fit(d, reused, met=f"{d.cluster} already runs what you asked for ({'; '.join(reused)}). "
                                  "Nothing to build.")
    return Fit(d, reused)
