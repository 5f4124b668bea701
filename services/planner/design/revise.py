"""Revising a drafted design in words: resize, add or drop replicas, swap a chart, pin a version,
change backups or AOF, remove or add a component. Each revision says what changed.

Pure code. A revision works on a copy; what the person removes is remembered (`Design.removed`), so a
design fitted to the live cluster drops it there too, and nothing else.
"""

from __future__ import annotations

import re

from .catalog import DATABASE_REF, catalog
from .goals import _detect
from .model import (
    MAX_REPLICAS,
    MAX_STORAGE_GI,
    ComponentChoice,
    Design,
    DesignQuestion,
    Revision,
    _choice,
    _has_word,
    _normalise,
    _NotUnderstood,
    _topology,
    _with_secrets,
)

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


_SINGLE = ("single", "plain", "simple", "non-ha")


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
    # A chart named outright wins: "plain postgresql" is bitnami/postgresql, whatever the environment.
    charts = sorted(((k, c) for k, c in cat.components.items() if c.kind == old.kind and not c.manifest),
                    key=lambda kc: -len(kc[1].chart))
    named = next((k for k, c in charts if _has_word(new_text, c.chart) or _has_word(new_text, c.chart_ref)), None)
    if named is not None:
        new_key = named
    elif old.kind == "database" and any(_has_word(new_text, w) for w in cat.ha_words + ("highly available",)):
        new_key = "postgres-ha"
    elif old.kind == "database" and any(_has_word(new_text, w) for w in cat.single_words + _SINGLE):
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
    single = any(_has_word(new_text, w) for w in cat.single_words + _SINGLE)
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
        if t.name not in d.removed:
            d.removed.append(t.name)
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


def _changed(old: ComponentChoice, new: ComponentChoice) -> bool:
    skip = {"live_values"}
    return old.model_dump(exclude=skip) != new.model_dump(exclude=skip)


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
        new.components = _with_secrets(new.components, new.size, keep=bool(new.kept_secret_keys))
        was = {c.name: c for c in d.components}
        for choice in new.components:
            old = was.get(choice.name)
            if choice.live_values is not None and (old is None or _changed(old, choice)):
                choice.live_values = None  # rendered anew from the catalog with the changed choices
            if choice.name in new.removed:
                new.removed.remove(choice.name)  # added back
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

