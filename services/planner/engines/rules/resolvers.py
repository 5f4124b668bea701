"""Resolvers: the request being read, and how the names in it become the things they name.

Cluster names are resolved against the last `cluster list` (`Context.clusters`) when it is known: exact
name or id, then a unique segment or prefix ("staging" → "staging-cluster", "prod" → "production"); a
near miss (rapidfuzz) gets "did you mean"; an unknown name gets the list of known clusters. When the
clusters are unknown, a name is taken as written. Pure functions: no I/O.
"""

from __future__ import annotations

import re

from hermes_planner.decisions import Answer, ClusterFact, Context
from hermes_planner.engines.rules.intents import VOCABULARY
from hermes_planner.engines.rules.words import (
    _BACKREFS,
    _CLUSTER_STOP,
    _DETERMINERS,
    _ENV_ALIASES,
    _ID_RE,
    _NAME_RE,
    _NOUN_AFTER,
    _OBJECT_STOP,
    _int,
    _normalise,
    _tokenise,
    repair,
)
from rapidfuzz import fuzz, process


class _Req:
    """One request being interpreted: the text, its tokens and the context."""

    def __init__(self, text: str, ctx: Context, override: str | None = None) -> None:
        self.text = text  # as written: free text (a question, a goal) is taken from here
        self.ctx = ctx
        self.override = override  # a cluster imposed by "now the same on X"
        toks = _tokenise(text)
        self.repaired: dict[str, str] = {}  # misspelt word → the vocabulary word it was read as
        fixes = repair([t.low for t in toks], VOCABULARY, _known_names(ctx))
        if fixes:
            for i, word in fixes.items():
                self.repaired[toks[i].orig] = word
            text = _respell(text, self.repaired)
            toks = _tokenise(text)
        self.low = _normalise(text)
        self.toks = toks
        self.words = [t.low for t in self.toks]

    def has(self, pattern: str) -> bool:
        return re.search(pattern, self.low) is not None

    def any(self, *words: str) -> bool:
        return any(w in self.words for w in words)

    def index(self, *words: str) -> int | None:
        for i, w in enumerate(self.words):
            if w in words:
                return i
        return None

    def after(self, i: int, skip: frozenset[str] | tuple[str, ...] = _DETERMINERS) -> int | None:
        """Index of the first word after `i` that is not in `skip`."""
        j = i + 1
        while j < len(self.words) and self.words[j] in skip:
            j += 1
        return j if j < len(self.words) else None

    def before(self, i: int, skip: frozenset[str] | tuple[str, ...] = ()) -> int | None:
        j = i - 1
        while j >= 0 and self.words[j] in skip:
            j -= 1
        return j if j >= 0 else None

    def first_int(self, exclude: set[int] | None = None) -> tuple[int, int] | None:
        for i, w in enumerate(self.words):
            if exclude and i in exclude:
                continue
            n = _int(w)
            if n is not None:
                return i, n
        return None

# -- clusters: finding and resolving names ------------------------------------------------------

_STRONG, _WEAK = 0, 1
_DEFAULT_MARKERS = {"on": _STRONG, "from": _WEAK, "in": _WEAK, "for": _WEAK, "of": _WEAK, "at": _WEAK}


def _could_be_cluster(word: str) -> bool:
    return bool(_NAME_RE.match(word)) and not word.isdigit() and word not in _CLUSTER_STOP


def _candidates(req: _Req, markers: dict[str, int], verbs: tuple[str, ...],
                exclude: set[int]) -> list[tuple[int, int]]:
    words = req.words
    found: list[tuple[int, int, int]] = []  # (strength, position, index)
    for i, w in enumerate(words):
        if w in ("cluster", "clusters"):
            j = req.after(i, _DETERMINERS | {"named", "called", "id"})
            if j is not None:
                found.append((_STRONG, i, j))
            k = req.before(i)
            if k is not None:
                found.append((_STRONG, i, k))
        elif w in markers:
            j = req.after(i, _DETERMINERS | {"cluster"})
            if j is not None and not (j + 1 < len(words) and words[j + 1] in _NOUN_AFTER):
                found.append((markers[w], i, j))
        elif w in verbs:
            j = req.after(i, _DETERMINERS | {"cluster", "up", "down", "of", "for", "on"})
            if j is not None:
                found.append((_STRONG, i, j))
    found.sort()
    seen: set[int] = set()
    out: list[tuple[int, int]] = []
    for strength, _pos, j in found:
        if j in seen or j in exclude or not _could_be_cluster(words[j]):
            continue
        seen.add(j)
        out.append((j, strength))
    return out


def _segments(name: str) -> list[str]:
    return [s for s in re.split(r"[-_.]", name.lower()) if s]


def _match(word: str, clusters: tuple[ClusterFact, ...], *, loose: bool) -> list[ClusterFact]:
    """Clusters a word names: exact name or id; else a segment or prefix; else (loose) a substring."""
    exact = [c for c in clusters if word == c.name.lower() or (c.id and word == c.id.lower())]
    if exact:
        return exact[:1]
    segment = [c for c in clusters if word in _segments(c.name)]
    if segment:
        return segment
    if loose or word in _ENV_ALIASES:
        prefix = [c for c in clusters if len(word) >= 3 and c.name.lower().startswith(word)]
        if prefix:
            return prefix
    if loose and len(word) >= 4:
        return [c for c in clusters if word in c.name.lower()]
    return []


def _near(word: str, clusters: tuple[ClusterFact, ...]) -> str | None:
    """The one cluster a misspelt name is close to ("prodution" → "production"), else None."""
    keys: dict[str, str] = {}
    for c in clusters:
        keys.setdefault(c.name.lower(), c.name)
        for seg in _segments(c.name):
            if seg not in _CLUSTER_STOP and len(seg) >= 3:
                keys.setdefault(seg, c.name)
    return near_name(word, keys)


def near_name(word: str, keys: dict[str, str], cutoff: float = 80) -> str | None:
    """The value of the key closest to `word` when exactly one name is that close (rapidfuzz)."""
    if len(word) < 3 or not keys:
        return None
    found = process.extract(word.lower(), list(keys), scorer=fuzz.ratio, score_cutoff=cutoff, limit=5)
    names = {keys[f[0]] for f in found if f[1] == found[0][1]} if found else set()
    return names.pop() if len(names) == 1 else None


def _known_list(clusters: tuple[ClusterFact, ...]) -> str:
    return ", ".join(c.name for c in clusters) if clusters else "none"


def _unknown_cluster(req: _Req, word: str, near: str | None) -> Answer:
    clusters = req.ctx.clusters or ()
    if near:
        fixed = re.sub(rf"(?<![\w-]){re.escape(word)}(?![\w-])", near, req.text.strip(), count=1)
        return Answer(f"I don't know a cluster called “{word}”. Did you mean “{near}”?",
                      suggestions=[fixed] if fixed != req.text.strip() else [])
    if not clusters:
        return Answer(f"I don't know a cluster called “{word}”: the last cluster list showed no clusters. "
                      "Say “List my Ankra clusters” to refresh it.", suggestions=["List my Ankra clusters"])
    return Answer(f"I don't know a cluster called “{word}”. Known clusters: {_known_list(clusters)}.",
                  suggestions=["List my Ankra clusters"])


def _ambiguous(word: str, matches: list[ClusterFact]) -> Answer:
    names = sorted({m.name for m in matches})
    return Answer(f"“{word}” could be {' or '.join(f'“{n}”' for n in names)}: which cluster do you mean?",
                  suggestions=names)


def _ask_cluster(req: _Req, what: str, example: str) -> Answer:
    clusters = req.ctx.clusters
    text = f"Which cluster should I {what}? Say for example “{example}”"
    if clusters:
        return Answer(f"{text}. Known clusters: {_known_list(clusters)}.", suggestions=[example])
    return Answer(f"{text}, or “List my Ankra clusters” to see their names.",
                  suggestions=[example, "List my Ankra clusters"])


def _backref(req: _Req) -> bool:
    return any(re.search(rf"\b{re.escape(b)}\b", req.low) for b in _BACKREFS)


def _cluster_ref(req: _Req, *, what: str, example: str = "Reconcile the production cluster", markers: dict[str, int] | None = None,
                 verbs: tuple[str, ...] = (), exclude: set[int] | None = None, required: bool = True,
                 destructive: bool = False, scan: bool = True) -> tuple[str | None, Answer | None]:
    """The cluster a request is about, or the Answer that asks about it.

    Explicit mentions first ("on X", "X cluster", "cluster X", the object of a verb), then (known
    clusters only) any word that names a cluster. Then a back-reference ("it", "there") or, for a
    command that is not destructive, the conversation's last cluster; else ask (if required).
    A destructive command never falls back to the last cluster silently.
    """
    if req.override:
        return req.override, None
    exclude = exclude or set()
    cands = _candidates(req, markers if markers is not None else _DEFAULT_MARKERS, verbs, exclude)
    clusters = req.ctx.clusters
    if clusters is not None:
        for j, strength in cands:
            matches = _match(req.words[j], clusters, loose=strength == _STRONG)
            if len({m.name for m in matches}) > 1:
                return None, _ambiguous(req.toks[j].orig, matches)
            if matches:
                return matches[0].name, None
        if scan:
            for j, w in enumerate(req.words):
                if j in exclude or not _could_be_cluster(w):
                    continue
                matches = _match(w, clusters, loose=False)
                if len({m.name for m in matches}) > 1:
                    return None, _ambiguous(req.toks[j].orig, matches)
                if matches:
                    return matches[0].name, None
        for j, strength in cands:
            near = _near(req.words[j], clusters)
            if strength == _STRONG or near:
                return None, _unknown_cluster(req, req.toks[j].orig, near)
    elif cands:
        return req.words[cands[0][0]], None
    last = req.ctx.last_cluster
    if last and (_backref(req) or not destructive):
        return last, None
    if required:
        return None, _ask_cluster(req, what, example)
    return None, None


def _resolve_word(req: _Req, j: int) -> tuple[str | None, Answer | None]:
    """A word given as a cluster name (e.g. the target of a clone), resolved against the context."""
    word = req.words[j]
    clusters = req.ctx.clusters
    if clusters is None:
        if _could_be_cluster(word):
            return word, None
        return None, Answer(f"“{req.toks[j].orig}” is not a cluster name I can use.")
    matches = _match(word, clusters, loose=True)
    if len({m.name for m in matches}) > 1:
        return None, _ambiguous(req.toks[j].orig, matches)
    if matches:
        return matches[0].name, None
    return None, _unknown_cluster(req, req.toks[j].orig, _near(word, clusters))


def _environment(cluster: str | None, req: _Req) -> str | None:
    def guess(s: str) -> str | None:
        if "prod" in s and "preprod" not in s:
            return "production"
        if "stag" in s or "stg" in s:
            return "staging"
        if "sandbox" in s or "sbx" in s:
            return "sandbox"
        return None

    if cluster:
        return guess(cluster.lower())
    for w in req.words:
        if w in ("production", "prod", "staging", "stage", "sandbox"):
            return guess(w)
    return None


def _object_name(req: _Req, anchor: tuple[str, ...], *, exclude: set[int] | None = None,
                 pattern: re.Pattern[str] = _NAME_RE, stop: frozenset[str] = _OBJECT_STOP) -> int | None:
    """Index of the name of an object ("stack web", "the web stack", "stack named web")."""
    exclude = exclude or set()
    words = req.words
    for i, w in enumerate(words):
        if w not in anchor:
            continue
        options: list[int] = []
        j = req.after(i, ())
        if j is not None and words[j] in ("named", "called"):
            options.append(j + 1)
        k = req.before(i)
        if k is not None:
            options.append(k)
        if j is not None:
            options.append(j)
        for o in options:
            if o < len(words) and o not in exclude and words[o] not in stop \
                    and pattern.match(req.toks[o].orig if pattern is _ID_RE else words[o]) \
                    and not words[o].isdigit():
                return o
    return None



def _known_names(ctx: Context) -> frozenset[str]:
    """Names the context knows (clusters, their segments, profiles): never "repaired" as typos."""
    names: set[str] = {p.lower() for p in ctx.profiles}
    if ctx.active_profile:
        names.add(ctx.active_profile.lower())
    for c in ctx.clusters or ():
        names.add(c.name.lower())
        names.update(_segments(c.name))
    return frozenset(names)


def _respell(text: str, fixes: dict[str, str]) -> str:
    for wrong, right in fixes.items():
        text = re.sub(rf"(?<![\w-]){re.escape(wrong)}(?![\w-])", right, text, count=1)
    return text
