"""The rules engine: plain language to a plan of catalog commands, with no LLM.

Pure functions of text (and of a small, explicit context): no I/O. Each rule recognises one family
of intents and builds argv lists that parse against `hermes.catalog`; a request no rule recognises
gets an answer that says what Hermes can do — never silence.

Results:

- `Understood`: commands to run (optionally with a `Continuation`: the planner runs the steps, then
  calls `resume(continuation, outputs)` to get the next interpretation — e.g. scaling reads the
  current worker count first, then proposes `cluster scale` with the direction spelled out).
- `Answer`: a question back (a missing or unknown name, a missing number), help, or a refusal.
- `SwitchProfile`, `DesignRequest`, `ReviseDesign`, `ApprovalAnswer`: things the planner handles
  without a command of the catalog (profile switch, architecture design, approvals).

Principles:

- Names the person did not give are never invented. A destructive command needs an explicit name
  (a back-reference like "it" counts for stacks and node groups, never for deprovisioning), a scale
  needs an explicit number, a cluster creation needs every required parameter.
- Cluster names are resolved against the last `cluster list` (`RulesContext.clusters`) when it is
  known: exact name or id, then a unique segment/prefix ("staging" → "staging-cluster",
  "prod" → "production"); a near miss gets "did you mean"; an unknown name gets the list of known
  clusters. When the clusters are unknown, a name is taken as written.
- Free text (questions for Ankra AI, chart queries) is sanitised: no shell metacharacters, no
  control characters, no leading dash; the executor adds `-o json`, `--yes` and `--config` itself.
- The provider of a cluster (needed by `cluster <provider> workers`) comes from the context. When
  the clusters are unknown, the engine first runs `cluster list` with a `cluster.lookup`
  continuation and resumes to the workers read; when the cluster is known but its provider is not,
  it asks.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace

from hermes.approval_answers import ApprovalAnswer, approval_answer
from hermes.catalog import display
from hermes.contracts import PlanStep

# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterFact:
    """One cluster from the last `cluster list`."""

    name: str
    provider: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class RulesContext:
    """What the planner knows about the conversation, for resolving names and references."""

    clusters: tuple[ClusterFact, ...] | None = None  # from the last `cluster list`; None = unknown
    profiles: tuple[str, ...] = ("default",)
    last_cluster: str | None = None  # for "now the same on production" / "it"
    last_request: str | None = None  # previous user text, for "now the same on X"
    has_design: bool = False  # a drafted architecture is on the table
    pending_approval_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Continuation:
    """What to do once the steps of an `Understood` have run: `resume(continuation, outputs)`."""

    intent: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutput:
    """What one step printed, as the planner passes it to `resume`."""

    command: str
    exit_code: int | None
    stdout: str
    data: object | None = None


@dataclass(frozen=True)
class Understood:
    """A request the rules engine turned into commands."""

    intent: str
    steps: list[PlanStep]
    summary: str
    cluster: str | None = None
    continuation: Continuation | None = None


@dataclass(frozen=True)
class Answer:
    """A request answered in words: help, a question back, or a refusal to guess."""

    text: str
    kind: str = "answer"  # "answer" or "error"
    suggestions: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SwitchProfile:
    """Make `name` the conversation's active profile (the name is one of `RulesContext.profiles`)."""

    name: str


@dataclass(frozen=True)
class DesignRequest:
    """Design (then, after approval, build) the infrastructure a goal needs."""

    goal: str
    cluster: str | None
    environment: str | None  # "production", "staging", "sandbox" or None


@dataclass(frozen=True)
class ReviseDesign:
    """Change the drafted architecture that is on the table, then re-draft it."""

    instruction: str


Interpretation = Understood | Answer | SwitchProfile | DesignRequest | ReviseDesign | ApprovalAnswer

EXAMPLES = [
    "List my Ankra clusters",
    "Reconcile the production cluster",
    "Show the details of the production cluster",
    "List the stacks on production",
    "Why are pods crashing on production?",
    "Check the health of production with AI analysis",
    "Search charts for postgres",
    "Scale production to 5 workers",
    "List the node groups of production",
    "Create a Hetzner cluster named demo with credential cred-123 in fsn1 with 3 workers",
    "List my Hetzner credentials",
    "List my API tokens",
    "Switch to the production profile",
    "My app needs a Postgres database and a Redis cache on staging. Set it up.",
]

PROVIDERS = ("hetzner", "ovh", "upcloud")
_PROVIDER_TITLES = {"hetzner": "Hetzner", "ovh": "OVH", "upcloud": "UpCloud"}
_LOCATION_FLAG = {"hetzner": "--location", "ovh": "--region", "upcloud": "--zone"}
_LOCATION_WORD = {"hetzner": "location", "ovh": "region", "upcloud": "zone"}
_LOCATION_EXAMPLE = {"hetzner": "fsn1", "ovh": "GRA7", "upcloud": "de-fra1"}
_MAX_COUNT = 1000  # a larger worker or node count is a typo, not a request
_MAX_QUESTION = 2000

# -- words --------------------------------------------------------------------------------------

_DETERMINERS = frozenset(
    ["the", "my", "our", "a", "an", "this", "that", "your", "their", "its", "these", "those", "some", "all", "every"]
)
_BASE_STOP = _DETERMINERS | frozenset(
    ["on", "in", "at", "of", "for", "to", "from", "with", "by", "into", "onto", "about", "as", "via", "over", "under", "without", "within", "inside", "across", "and", "or", "but", "then", "than", "so", "if", "i", "me", "we", "us", "you", "it", "they", "them", "he", "she", "s", "t", "d", "ll", "re", "ve", "m", "is", "are", "am", "be", "been", "being", "was", "were", "do", "does", "did", "done", "have", "has", "had", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "let", "lets", "what", "which", "who", "whom", "whose", "why", "how", "when", "where", "there", "here", "please", "pls", "now", "just", "also", "too", "again", "same", "thing", "things", "one", "ones", "ok", "okay", "yes", "no", "not", "don", "dont", "hey", "hi", "hello", "thanks", "thank", "kindly", "quickly", "currently", "right", "really", "very", "list", "show", "get", "give", "tell", "display", "see", "view", "print", "check", "select", "switch", "use", "set", "make", "reconcile", "reconciliation", "sync", "resync", "re-sync", "trigger", "run", "delete", "remove", "destroy", "drop", "rename", "clone", "copy", "duplicate", "create", "add", "new", "build", "deploy", "install", "scale", "resize", "increase", "decrease", "reduce", "grow", "shrink", "up", "down", "out", "deprovision", "decommission", "provision", "tear", "teardown", "revoke", "search", "find", "look", "describe", "inspect", "analyse", "analyze", "ask", "need", "needs", "want", "wants", "like", "start", "stop", "spin", "launch", "go", "named", "called", "name", "know"]
)
_DOMAIN = frozenset(
    ["cluster", "clusters", "stack", "stacks", "node-group", "node-groups", "node", "nodes", "worker", "workers", "group", "groups", "pool", "pools", "chart", "charts", "helm", "credential", "credentials", "cred", "creds", "token", "tokens", "api", "profile", "profiles", "health", "healthy", "unhealthy", "history", "info", "information", "details", "detail", "status", "overview", "count", "ankra", "ai", "kubernetes", "k8s", "hetzner", "ovh", "upcloud", "environment", "env", "pods", "pod", "namespace", "namespaces", "deployment", "deployments", "service", "services", "container", "containers", "app", "application", "replica", "replicas", "id", "ids", "everything", "anything", "something", "current", "active", "default", "other", "another", "more", "less", "fewer", "crashloopbackoff", "crashloop", "crashing", "failing", "broken", "error", "errors", "wrong", "problem", "problems", "issue", "issues", "pending", "oomkilled", "logs", "log"]
)
_CLUSTER_STOP = _BASE_STOP | _DOMAIN
_OBJECT_STOP = _BASE_STOP | frozenset(
    ["cluster", "clusters", "stack", "stacks", "node-group", "node-groups", "group", "groups", "node", "nodes", "worker", "workers", "chart", "charts", "history", "info", "details", "token", "tokens", "credential", "credentials", "profile", "profiles"]
)
_GROUP_STOP = _OBJECT_STOP - {"worker", "workers"}
# A word followed by one of these names something inside a cluster, not the cluster.
_NOUN_AFTER = frozenset(
    ["namespace", "namespaces", "pod", "pods", "deployment", "deployments", "service", "services", "container", "containers", "stack", "stacks", "node-group", "node-groups", "group", "groups", "chart", "charts", "profile", "profiles", "credential", "credentials", "token", "tokens", "app", "workload", "workloads", "database", "db", "cache", "replica", "replicas"]
)
_BACKREFS = ("it", "there", "that cluster", "this cluster", "same cluster", "that one")
_ENV_ALIASES = frozenset(["prod", "stag", "stage", "stg", "dev", "sandbox", "sbx", "test", "qa", "preprod", "uat"])
_NUMBER_WORDS = {
    w: i for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
    )
}
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_TOKEN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_FORBIDDEN_TEXT = re.compile(r"[`$;|&<>\\\x00-\x1f\x7f-\x9f]")

# Design vocabulary: what a goal (or a change to a drafted design) is about.
_DESIGN_TERMS = frozenset(
    ["postgres", "postgresql", "mysql", "mariadb", "mongo", "mongodb", "database", "databases", "db", "redis", "valkey", "memcached", "cache", "kafka", "rabbitmq", "queue", "nats", "ingress", "tls", "https", "certificate", "certificates", "cert-manager", "monitoring", "observability", "prometheus", "grafana", "loki", "logging", "tracing", "jaeger", "tempo", "alerting", "minio", "storage", "elasticsearch", "opensearch", "backup", "backups", "secrets", "vault", "keycloak"]
)
_DESIGN_NOUNS = _DESIGN_TERMS | frozenset(
    ["replica", "replicas", "pvc", "version", "persistence", "aof", "gi", "gb", "mi", "mb", "memory", "cpu", "component", "components", "primary", "master", "design", "architecture", "ha"]
)
_REVISE_VERBS = frozenset(
    ["add", "make", "swap", "replace", "change", "pin", "drop", "remove", "use", "increase", "decrease", "bump", "set", "upgrade", "downgrade", "resize", "double", "halve", "switch", "enable", "disable", "give", "raise", "lower", "reduce", "turn", "move", "put", "include", "exclude", "skip", "keep", "instead", "without"]
)


# -- text handling ------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".!?")


@dataclass(frozen=True)
class _Tok:
    low: str
    orig: str


def _tokenise(text: str) -> list[_Tok]:
    raw = _TOKEN_RE.findall(text)
    toks: list[_Tok] = []
    i = 0
    while i < len(raw):
        low = raw[i].lower()
        nxt = raw[i + 1].lower() if i + 1 < len(raw) else ""
        if low in ("node", "nodes") and nxt in ("group", "groups", "pool", "pools"):
            toks.append(_Tok("node-groups" if nxt.endswith("s") else "node-group", f"{raw[i]} {raw[i + 1]}"))
            i += 2
            continue
        if low in ("nodegroup", "node-pool", "nodepool"):
            low = "node-group"
        elif low in ("nodegroups", "node-pools", "nodepools"):
            low = "node-groups"
        toks.append(_Tok(low, raw[i]))
        i += 1
    return toks


def sanitise_text(text: str, limit: int = _MAX_QUESTION) -> str:
    """Free text made safe for a TEXT argument: no shell metacharacters or control characters."""
    cleaned = _FORBIDDEN_TEXT.sub(" ", text)
    cleaned = re.sub(r"^[\s-]+", "", re.sub(r"\s+", " ", cleaned)).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 3].rstrip() + "..."
    return cleaned


def _int(word: str) -> int | None:
    if word.isdigit() and len(word) <= 7:
        return int(word)
    return _NUMBER_WORDS.get(word)


class _Req:
    """One request being interpreted: the text, its tokens and the context."""

    def __init__(self, text: str, ctx: RulesContext, override: str | None = None) -> None:
        self.text = text
        self.ctx = ctx
        self.override = override  # a cluster imposed by "now the same on X"
        self.low = _normalise(text)
        self.toks = _tokenise(text)
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


def _step(argv: list[str], title: str) -> PlanStep:
    return PlanStep(argv=argv, title=title[:500])


def _run(intent: str, argv: list[str], title: str, cluster: str | None = None,
         summary: str | None = None, continuation: Continuation | None = None) -> Understood:
    step = _step(argv, title)
    text = summary if summary is not None else f"Running `{display(argv)}`..."
    return Understood(intent, [step], text[:4000], cluster=cluster, continuation=continuation)


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
    keys: dict[str, str] = {}
    for c in clusters:
        keys.setdefault(c.name.lower(), c.name)
        for seg in _segments(c.name):
            if seg not in _CLUSTER_STOP and len(seg) >= 3:
                keys.setdefault(seg, c.name)
    close = difflib.get_close_matches(word, list(keys), n=1, cutoff=0.75)
    return keys[close[0]] if close else None


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


def _provider_of(req: _Req, cluster: str) -> str | None:
    for p in PROVIDERS:
        if p in req.words:
            return p
    for c in req.ctx.clusters or ():
        if c.name == cluster and c.provider:
            return c.provider.lower()
    return None


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


# -- rules --------------------------------------------------------------------------------------


def _approvals(req: _Req) -> Interpretation | None:
    ctx = req.ctx
    answer = approval_answer(req.text)
    if answer is None:
        return None
    if answer.approval_id is not None:
        return ApprovalAnswer(answer.decision, answer.approval_id)
    decision = answer.decision
    pending = ctx.pending_approval_ids
    if not pending:
        if decision == "approve":
            return Answer("There is nothing waiting for your approval right now.")
        return Answer("There is nothing waiting for your approval, so there is nothing to cancel.")
    if len(pending) == 1:
        return ApprovalAnswer(decision, pending[0])
    if decision == "reject":
        return ApprovalAnswer("reject", None)
    return Answer("Several plans are waiting for approval: which one? "
                  + " ".join(f"“approve {p}”" for p in pending),
                  suggestions=[f"approve {p}" for p in pending])


_SAME_RE = re.compile(
    r"^(?:(?:ok|okay|now|and|then|great|thanks|good)[, ]+)*(?:please )?"
    r"(?:(?:do|run|try|repeat|apply)\s+)?(?:the\s+)?(?:same(?: thing)?|that|this|it)(?:\s+again)?"
    r"(?:\s+(?:on|for|in|with|against|to))\s+(?P<rest>.+?)(?:\s+(?:too|as well|also|please))*$"
)
_SAME_RE_2 = re.compile(r"^(?:and|now|then)\s+(?:on|for|in)\s+(?P<rest>.+?)(?:\s+(?:too|as well|also))*$")


def _same_on(req: _Req) -> Interpretation | None:
    m = _SAME_RE.match(req.low) or _SAME_RE_2.match(req.low)
    if not m:
        return None
    ctx = req.ctx
    if not ctx.last_request or _SAME_RE.match(_normalise(ctx.last_request)):
        return Answer("I don't have an earlier request to repeat. Say the whole request, e.g. "
                      "“Reconcile the production cluster”.", suggestions=list(EXAMPLES[:2]))
    rest = _Req(m.group("rest"), ctx)
    idx = [i for i, w in enumerate(rest.words) if _could_be_cluster(w)]
    if not idx:
        return Answer("Which cluster should I do that on? Say for example “now the same on production”.")
    new, problem = _resolve_word(rest, idx[0])
    if problem:
        return problem
    assert new is not None
    base = replace(ctx, last_request=None)
    previous = _interpret(_Req(ctx.last_request, base))
    old = getattr(previous, "cluster", None) or ctx.last_cluster
    text = ctx.last_request
    if old:
        prev_req = _Req(text, base)
        for t in prev_req.toks:
            if not _could_be_cluster(t.low):
                continue
            hits = _match(t.low, ctx.clusters, loose=True) if ctx.clusters is not None else []
            if t.low == old.lower() or any(h.name == old for h in hits):
                text = re.sub(rf"(?<![\w-]){re.escape(t.orig)}(?![\w-])", new, text, count=1)
                break
    return _interpret(_Req(text, base, override=new))


def _profiles(req: _Req) -> Interpretation | None:
    i = req.index("profile", "profiles")
    if i is None:
        return _bare_profile(req)
    profiles = req.ctx.profiles
    listing = ", ".join(f"“{p}”" for p in profiles) or "none"
    asks = req.words[i] == "profiles" or req.has(r"\b(which|what) profile\b|\bactive profile\b|\bcurrent profile\b")
    if asks and not req.any("switch", "use", "activate", "change", "select", "set", "load"):
        return Answer(f"The profiles I know are {listing}. Say for example “Switch to the "
                      f"{profiles[-1] if profiles else 'production'} profile”.",
                      suggestions=[f"Switch to the {p} profile" for p in profiles])
    options: list[int] = []
    k = req.before(i, ("the", "a", "my", "our"))
    if k is not None:
        options.append(k)
    j = req.after(i, _DETERMINERS | {"to", "named", "called", "into"})
    if j is not None:
        options.append(j)
    name = None
    for o in options:
        w = req.words[o]
        if w not in _BASE_STOP and w not in ("profile", "profiles"):
            name = o
            break
    if name is None:
        return Answer(f"Which profile? The profiles I know are {listing}.",
                      suggestions=[f"Switch to the {p} profile" for p in profiles])
    word = req.toks[name].orig
    for p in profiles:
        if p.lower() == word.lower():
            return SwitchProfile(p)
    close = difflib.get_close_matches(word.lower(), [p.lower() for p in profiles], n=1, cutoff=0.75)
    hint = ""
    if close:
        hint = f" Did you mean “{next(p for p in profiles if p.lower() == close[0])}”?"
    return Answer(f"I don't know a profile called “{word}”.{hint} The profiles I know are {listing}.",
                  suggestions=[f"Switch to the {p} profile" for p in profiles])


def _bare_profile(req: _Req) -> Interpretation | None:
    """"switch to sandbox" where "sandbox" is a profile: a switch, or a question when it is a cluster too."""
    m = re.fullmatch(r"(?:please )?(?:switch|change|go) (?:over )?to (?:the )?([a-z0-9][a-z0-9._-]*)|"
                     r"(?:please )?use (?:the )?([a-z0-9][a-z0-9._-]*)", req.low)
    if not m:
        return None
    word = m.group(1) or m.group(2)
    profile = next((p for p in req.ctx.profiles if p.lower() == word), None)
    if profile is None:
        return None
    clusters = req.ctx.clusters
    if clusters is not None and not _match(word, clusters, loose=False):
        return SwitchProfile(profile)
    return Answer(f"Do you mean the “{profile}” profile or the “{word}” cluster? Say “Switch to the {profile} "
                  f"profile” or “Select the {word} cluster”.",
                  suggestions=[f"Switch to the {profile} profile", f"Select the {word} cluster"])


def _count_target(req: _Req, exclude: set[int]) -> tuple[int | None, int | None]:
    """(index, number) of the target count: "to N", "N workers|nodes", "count N"."""
    words = req.words
    for i, w in enumerate(words):
        if i in exclude:
            continue
        n = _int(w)
        if n is None:
            continue
        prev = words[i - 1] if i > 0 else ""
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if prev in ("to", "of", "count", "=", "with", "at") or nxt in (
                "worker", "workers", "node", "nodes", "instances", "machines", "servers", "vms"):
            return i, n
    return None, None


def _too_many(n: int, what: str) -> Answer:
    return Answer(f"{n} {what} is more than I will ask for in one step (the limit is {_MAX_COUNT}). "
                  "Please check the number.", kind="error")


def _node_groups(req: _Req) -> Interpretation | None:
    gi = req.index("node-group", "node-groups")
    if gi is None:
        if not (req.any("group", "groups") and req.any("worker", "workers", "node", "nodes")):
            return None
        gi = req.index("group", "groups")
        assert gi is not None
    group_i = _object_name(req, ("node-group", "node-groups", "group", "groups"), stop=_GROUP_STOP)
    exclude = {group_i} if group_i is not None else set()
    count_i, count = _count_target(req, exclude)
    if count_i is not None:
        exclude.add(count_i)
    markers = {**_DEFAULT_MARKERS, "to": _WEAK}
    group = req.words[group_i] if group_i is not None else None
    example_group = group or "gpu"

    if req.any("add", "create", "new") and not req.has(r"\bnodes? to (the )?[a-z0-9-]+ node.group"):
        cluster, problem = _cluster_ref(req, what="add the node group to", markers=markers, exclude=exclude,
                                        example=f"Add a node group {example_group} to staging-cluster")
        if problem:
            return problem
        if group is None:
            return Answer(f"What should the new node group on {cluster} be called? Say for example "
                          f"“Add a node group gpu to {cluster} with 2 nodes”.")
        if not _K8S_NAME_RE.match(group):
            return Answer(f"“{group}” is not a valid node group name: use lowercase letters, digits and “-”.")
        argv = ["cluster", "node-group", "add", cluster, group]
        if count is not None:
            if count > _MAX_COUNT:
                return _too_many(count, "nodes")
            argv += ["--count", str(count)]
        ti = req.index("type", "server-type")
        if ti is not None and ti + 1 < len(req.words) and _NAME_RE.match(req.words[ti + 1]):
            argv += ["--server-type", req.words[ti + 1]]
        return _run("cluster.node_group.add", argv, f"Add node group {group} to {cluster}", cluster)

    if req.any("delete", "remove", "destroy", "drop"):
        cluster, problem = _cluster_ref(req, what="delete the node group from", markers=markers,
                                        exclude=exclude, destructive=True,
                                        example=f"Delete the node group {example_group} from staging-cluster")
        if problem:
            return problem
        if group is None:
            return Answer(f"Which node group should I delete from {cluster}? I won't guess: name it, e.g. "
                          f"“Delete the node group gpu from {cluster}”, or “List the node groups of "
                          f"{cluster}” to see them.", suggestions=[f"List the node groups of {cluster}"])
        return _run("cluster.node_group.delete", ["cluster", "node-group", "delete", cluster, group],
                    f"Delete node group {group} from {cluster}", cluster)

    if req.any("scale", "resize", "set", "grow", "shrink", "increase", "decrease", "reduce"):
        cluster, problem = _cluster_ref(req, what="scale the node group on", markers=markers,
                                        exclude=exclude,
                                        example=f"Scale the node group {example_group} on production to 3 nodes")
        if problem:
            return problem
        if group is None:
            return Answer(f"Which node group of {cluster} should I scale? Say for example “Scale the node "
                          f"group workers on {cluster} to 3 nodes”.",
                          suggestions=[f"List the node groups of {cluster}"])
        if count is None:
            return Answer(f"To how many nodes should I scale node group {group} on {cluster}? I won't "
                          f"guess a number: say for example “Scale the node group {group} on {cluster} "
                          "to 3 nodes”.")
        if count > _MAX_COUNT:
            return _too_many(count, "nodes")
        argv = ["cluster", "node-group", "list", cluster]
        return _run("cluster.node_group.scale", argv, f"Read the node groups of {cluster}", cluster,
                    summary=f"Reading the current size of node group {group} on {cluster} before scaling "
                            f"it to {count}: running `{display(argv)}`...",
                    continuation=Continuation("cluster.node_group.scale",
                                              {"cluster": cluster, "group": group, "target": count}))

    cluster, problem = _cluster_ref(req, what="list the node groups of", markers=markers, exclude=exclude,
                                    example="List the node groups of production")
    if problem:
        return problem
    return _run("cluster.node_group.list", ["cluster", "node-group", "list", cluster],
                f"List node groups of {cluster}", cluster)


def _stacks(req: _Req) -> Interpretation | None:
    si = req.index("stack", "stacks")
    if si is None:
        return None
    words = req.words
    name_i = _object_name(req, ("stack", "stacks"))
    # "create a monitoring stack": building goes through the designer (stacks create is removed).
    building = req.any("create", "build", "deploy", "new", "add", "make", "install", "setup", "provision") or \
        req.has(r"\bset up\b")
    if building and not req.any("delete", "remove", "rename", "clone", "copy", "history"):
        cluster, problem = _cluster_ref(req, what="build the stack on", required=False,
                                        exclude={name_i} if name_i is not None else set(),
                                        markers={**_DEFAULT_MARKERS, "to": _STRONG})
        if problem:
            return problem
        return DesignRequest(goal=req.text.strip(), cluster=cluster, environment=_environment(cluster, req))
    exclude = {name_i} if name_i is not None else set()
    stack = words[name_i] if name_i is not None else None

    if req.any("rename"):
        to_i = None
        for i, w in enumerate(words):
            if w in ("to", "as", "into") and name_i is not None and i > name_i:
                to_i = req.after(i, _DETERMINERS)
                break
        if to_i is not None:
            exclude.add(to_i)
        cluster, problem = _cluster_ref(req, what="rename the stack on", exclude=exclude,
                                        example="Rename stack web to frontend on staging-cluster")
        if problem:
            return problem
        new = words[to_i] if to_i is not None and _NAME_RE.match(words[to_i]) and \
            words[to_i] not in _OBJECT_STOP else None
        if stack is None or new is None:
            return Answer(f"Which stack should I rename on {cluster}, and to what? Say for example "
                          f"“Rename stack web to frontend on {cluster}”.")
        return _run("stacks.rename", ["cluster", "stacks", "rename", stack, new, "--cluster", cluster],
                    f"Rename stack {stack} to {new} on {cluster}", cluster)

    if req.any("clone", "copy", "duplicate"):
        to_i = as_i = None
        for i, w in enumerate(words):
            if w in ("to", "onto", "into") and to_i is None:
                to_i = req.after(i, _DETERMINERS | {"cluster"})
            if w in ("as", "named", "called") and i > 0 and words[i - 1] not in ("stack", "stacks"):
                as_i = req.after(i, _DETERMINERS)
        for i in (to_i, as_i):
            if i is not None:
                exclude.add(i)
        if stack is None:
            return Answer("Which stack should I clone, from which cluster and to which? Say for example "
                          "“Clone stack monitoring from staging-cluster to production”.")
        if to_i is None:
            return Answer(f"To which cluster should I clone stack {stack}? Say for example “Clone stack "
                          f"{stack} from staging-cluster to production”.")
        target, problem = _resolve_word(req, to_i)
        if problem:
            return problem
        source, problem = _cluster_ref(req, what=f"clone stack {stack} from", exclude=exclude,
                                       markers={"from": _STRONG, "on": _STRONG, "in": _WEAK, "of": _WEAK},
                                       example=f"Clone stack {stack} from staging-cluster to {target}")
        if problem:
            return problem
        assert source is not None and target is not None
        argv = ["cluster", "stacks", "clone", stack, "--cluster", source, "--to", target]
        if as_i is not None and _NAME_RE.match(words[as_i]) and words[as_i] not in _OBJECT_STOP:
            argv += ["--name", words[as_i]]
        return _run("stacks.clone", argv, f"Clone stack {stack} from {source} to {target}", source)

    if req.any("delete", "remove", "destroy", "drop", "uninstall", "teardown") or req.has(r"\btear down\b"):
        cluster, problem = _cluster_ref(req, what="delete the stack from", exclude=exclude, destructive=True,
                                        example="Delete the monitoring stack from staging-cluster")
        if problem:
            return problem
        if stack is None:
            return Answer(f"Which stack should I delete from {cluster}? I won't guess: name it, e.g. "
                          f"“Delete the monitoring stack from {cluster}”, or “List the stacks on {cluster}” "
                          "to see them.", suggestions=[f"List the stacks on {cluster}"])
        return _run("stacks.delete", ["cluster", "stacks", "delete", stack, "--cluster", cluster],
                    f"Delete stack {stack} from {cluster}", cluster)

    if req.any("history", "changes", "changed", "changelog", "log", "audit", "revisions"):
        cluster, problem = _cluster_ref(req, what="show the stack history on", exclude=exclude,
                                        example="Show the history of stack monitoring on production")
        if problem:
            return problem
        if stack is None:
            return Answer(f"The history of which stack on {cluster}? Say for example “Show the history of "
                          f"stack monitoring on {cluster}”.", suggestions=[f"List the stacks on {cluster}"])
        return _run("stacks.history", ["cluster", "stacks", "history", stack, "--cluster", cluster],
                    f"Show the history of stack {stack} on {cluster}", cluster)

    cluster, problem = _cluster_ref(req, what="list the stacks of", exclude=exclude,
                                    example="List the stacks on production")
    if problem:
        return problem
    if stack is not None and words[si] == "stack":
        return _run("stacks.list", ["cluster", "stacks", "list", stack, "--cluster", cluster],
                    f"Show stack {stack} on {cluster}", cluster)
    return _run("stacks.list", ["cluster", "stacks", "list", "--cluster", cluster],
                f"List stacks on {cluster}", cluster)


def _value_after(req: _Req, i: int, skip: frozenset[str], pattern: re.Pattern[str] = _ID_RE) -> int | None:
    j = req.after(i, skip)
    if j is None:
        return None
    w = req.words[j]
    if w in _BASE_STOP or w in ("cluster", "workers", "worker") or not pattern.match(req.toks[j].orig):
        return None
    return j


def _create_cluster(req: _Req) -> Interpretation | None:
    if not req.any("cluster") or req.any("stack", "stacks"):
        return None
    if not (req.any("create", "provision", "launch", "new", "build", "make") or
            req.has(r"\bspin up\b|\bset up a\b|\bsetup a\b|\bstart a\b")):
        return None
    words = req.words
    provider = next((p for p in PROVIDERS if p in words), None)
    used: set[int] = set()
    params: dict[str, str] = {}
    skip = _DETERMINERS | {"id", "named", "called", "credential", "credentials", "credential-id", "is", "of",
                           "="}
    # ssh key credential first: "ssh key deploy-key", "ssh-key-credential-id X"
    for i, w in enumerate(words):
        if w in ("ssh-key-credential-id", "ssh-key", "ssh-keys") or (
                w == "ssh" and i + 1 < len(words) and words[i + 1] in ("key", "keys", "key-credential-id")):
            start = i if w != "ssh" else i + 1
            j = _value_after(req, start, skip | {"key", "keys", "key-credential-id"})
            if j is not None:
                params["ssh_key"] = req.toks[j].orig
                used.update({i, start, j})
            break
    for i, w in enumerate(words):
        if i in used:
            continue
        if w in ("credential", "credentials", "credential-id", "cred", "creds") and "credential" not in params:
            j = _value_after(req, i, skip)
            if j is not None and j not in used:
                params["credential"] = req.toks[j].orig
                used.update({i, j})
        elif w in ("named", "called", "name") and "name" not in params:
            j = _value_after(req, i, _DETERMINERS | {"is", "="}, _NAME_RE)
            if j is not None and j not in used:
                params["name"] = req.toks[j].orig
                used.update({i, j})
        elif w in ("location", "region", "zone", "datacenter", "datacentre", "dc") and "location" not in params:
            j = _value_after(req, i, _DETERMINERS | {"is", "="})
            if j is not None and j not in used:
                params["location"] = req.toks[j].orig
                used.update({i, j})
        elif w in ("worker-count", "workers", "worker") and "workers" not in params:
            k = i - 1 if i > 0 and _int(words[i - 1]) is not None else None
            if k is None and i + 1 < len(words) and _int(words[i + 1]) is not None:
                k = i + 1
            if k is not None and k not in used:
                params["workers"] = str(_int(words[k]))
                used.update({i, k})
    for i, w in enumerate(words):
        if w in ("in", "at") and "location" not in params:
            j = _value_after(req, i, _DETERMINERS)
            if j is not None and j not in used and words[j] not in _CLUSTER_STOP:
                params["location"] = req.toks[j].orig
                used.update({i, j})
    if "name" not in params:
        ci = req.index("cluster")
        if ci is not None:
            j = req.after(ci, ())
            if j is not None and j not in used and _K8S_NAME_RE.match(words[j]) and words[j] not in _CLUSTER_STOP:
                params["name"] = req.toks[j].orig
    if provider is None:
        return Answer("Which provider should the new cluster run on: Hetzner, OVH or UpCloud? Say for example "
                      "“Create a Hetzner cluster named demo with credential <credential-id> in fsn1 with 3 "
                      "workers”.", suggestions=["List my credentials"])
    title = _PROVIDER_TITLES[provider]
    loc_word = _LOCATION_WORD[provider]
    needed = [("name", "a name"), ("credential", "a credential id"), ("location", f"a {loc_word}")]
    if provider != "hetzner":
        needed.append(("ssh_key", "an SSH key credential id"))
    missing = [label for key, label in needed if key not in params]
    if "name" in params and not _K8S_NAME_RE.match(params["name"]):
        return Answer(f"“{params['name']}” is not a valid cluster name: use lowercase letters, digits and “-”.")
    if "workers" in params and int(params["workers"]) > _MAX_COUNT:
        return _too_many(int(params["workers"]), "workers")
    example = (f"Create {'an' if provider in ('ovh', 'upcloud') else 'a'} {title} cluster named "
               f"{params.get('name', 'demo')} with credential {params.get('credential', '<credential-id>')}"
               + (f" and ssh key {params.get('ssh_key', '<ssh-key-credential-id>')}" if provider != "hetzner" else "")
               + f" in {params.get('location', _LOCATION_EXAMPLE[provider])}"
               + f" with {params.get('workers', '3')} workers")
    if missing:
        given = ", ".join(f"{k} {v}" for k, v in params.items()) or "nothing yet"
        need = ", ".join(missing[:-1]) + (" and " if len(missing) > 1 else "") + missing[-1]
        return Answer(f"To create {'an' if provider in ('ovh', 'upcloud') else 'a'} {title} cluster I still need "
                      f"{need} (I don't guess these). So far I have: {given}. Say for example “{example}”.",
                      suggestions=[example, f"List my {title} credentials"])
    argv = ["cluster", provider, "create", "--name", params["name"], "--credential-id", params["credential"],
            _LOCATION_FLAG[provider], params["location"]]
    if provider != "hetzner":
        argv += ["--ssh-key-credential-id", params["ssh_key"]]
    if "workers" in params:
        argv += ["--worker-count", params["workers"]]
    lines = [f"Create a {title} cluster with these parameters:",
             f"- name: {params['name']}",
             f"- credential id: {params['credential']}",
             f"- {loc_word}: {params['location']}"]
    if provider != "hetzner":
        lines.append(f"- SSH key credential id: {params['ssh_key']}")
    lines.append(f"- workers: {params.get('workers', 'the provider default')}")
    lines.append(f"Command: `{display(argv)}` — it runs only after you confirm.")
    return _run("cluster.create", argv, f"Create {title} cluster {params['name']}", params["name"],
                summary="\n".join(lines))


def _workers_step(req: _Req, cluster: str, then: str, target: int | None = None,
                  delta: int | None = None) -> Interpretation:
    """Read a cluster's worker count (looking its provider up first when unknown)."""
    params: dict[str, object] = {"cluster": cluster}
    if target is not None:
        params["target"] = target
    if delta is not None:
        params["delta"] = delta
    provider = _provider_of(req, cluster)
    if provider is None and req.ctx.clusters is None:
        argv = ["cluster", "list"]
        return _run("cluster.lookup", argv, "List all clusters (to find the provider)", cluster,
                    summary=f"Looking up which provider runs {cluster}: running `{display(argv)}`...",
                    continuation=Continuation("cluster.lookup", {**params, "next": then}))
    if provider is None:
        return Answer(f"Which provider runs {cluster}: Hetzner, OVH or UpCloud? The last cluster list doesn't "
                      f"say. Say for example “How many workers does the hetzner cluster {cluster} have?”.")
    if provider not in PROVIDERS:
        return Answer(f"{cluster} is a {provider} cluster: Ankra reads and scales workers only for Hetzner, "
                      f"OVH and UpCloud clusters. Try “Show the details of {cluster}”.",
                      suggestions=[f"Show the details of {cluster}"])
    argv = ["cluster", provider, "workers", cluster]
    if then == "cluster.workers":
        return _run("cluster.workers", argv, f"Get the worker count of {cluster}", cluster)
    goal = f"scaling it to {target}" if target is not None else f"changing it by {delta:+d}"
    return _run("cluster.scale", argv, f"Read the worker count of {cluster}", cluster,
                summary=f"Reading the current worker count of {cluster} before {goal}: running "
                        f"`{display(argv)}`...",
                continuation=Continuation("cluster.scale", params))


def _scale(req: _Req) -> Interpretation | None:
    relative = req.has(r"\b(add|remove)\s+(\d+|[a-z]+)\s+(more\s+)?(workers?|nodes?)\b")
    if not (req.any("scale", "resize", "rescale") or relative or
            req.has(r"\b(set|change|increase|decrease|reduce|grow|shrink|bump)\b.*\b(workers?|nodes?|worker count)\b")):
        return None
    if req.any("replica", "replicas", "pod", "pods", "deployment") and not req.any("worker", "workers", "node", "nodes"):
        return None
    count_i, count = _count_target(req, set())
    if relative:
        m = re.search(r"\b(add|remove)\s+(\d+|[a-z]+)\s+(?:more\s+)?(?:workers?|nodes?)\b", req.low)
        assert m is not None
        n = _int(m.group(2))
        if n is not None:
            delta = n if m.group(1) == "add" else -n
            cluster, problem = _cluster_ref(req, what="scale", markers={**_DEFAULT_MARKERS, "to": _STRONG},
                                            verbs=("scale",), example="Add 2 workers to production")
            if problem:
                return problem
            assert cluster is not None
            return _workers_step(req, cluster, "cluster.scale", delta=delta)
    exclude = {count_i} if count_i is not None else set()
    cluster, problem = _cluster_ref(req, what="scale", verbs=("scale", "resize", "rescale"), exclude=exclude,
                                    example="Scale production to 5 workers")
    if problem:
        return problem
    assert cluster is not None
    if count is None:
        return Answer(f"To how many workers should I scale {cluster}? I won't guess a number: say for example "
                      f"“Scale {cluster} to 5 workers”, or “How many workers does {cluster} have?”.",
                      suggestions=[f"How many workers does {cluster} have?"])
    if count > _MAX_COUNT:
        return _too_many(count, "workers")
    return _workers_step(req, cluster, "cluster.scale", target=count)


def _workers(req: _Req) -> Interpretation | None:
    if not (req.any("workers", "worker", "worker-count") or req.has(r"\bhow many nodes\b")):
        return None
    cluster, problem = _cluster_ref(req, what="count the workers of", verbs=("does", "has"),
                                    example="How many workers does production have?")
    if problem:
        return problem
    assert cluster is not None
    return _workers_step(req, cluster, "cluster.workers")


def _reconcile(req: _Req) -> Interpretation | None:
    if not (req.has(r"\b(reconcil\w*|resync\w*|re-sync\w*)\b") or
            req.has(r"^(please )?(force )?(a )?sync\b|\btrigger (a )?(re)?sync\b|\bforce (a )?(re)?sync\b")):
        return None
    cluster, problem = _cluster_ref(req, what="reconcile", example="Reconcile the production cluster",
                                    verbs=("reconcile", "reconciliation", "sync", "resync", "re-sync",
                                           "reconciling"))
    if problem:
        return problem
    assert cluster is not None
    return _run("cluster.reconcile", ["cluster", "reconcile", cluster], f"Reconcile {cluster}", cluster)


def _deprovision(req: _Req) -> Interpretation | None:
    verbs = ("deprovision", "decommission", "destroy", "delete", "remove", "teardown", "nuke")
    if not (req.any(*verbs) or req.has(r"\btear down\b")):
        return None
    explicit = req.any("deprovision", "decommission") or req.any("cluster")
    if not explicit and (req.ctx.clusters is None or not any(
            _match(w, req.ctx.clusters, loose=False) for w in req.words if _could_be_cluster(w))):
        return None
    cluster, problem = _cluster_ref(req, what="deprovision", destructive=True,
                                    verbs=verbs + ("tear", "down"),
                                    example="Deprovision the cluster demo")
    if problem:
        return problem
    if cluster is None or (cluster == req.ctx.last_cluster and not req.override and not _named(req, cluster)):
        return Answer("Which cluster should I deprovision? I won't guess or assume one for this: name it "
                      "explicitly, e.g. “Deprovision the cluster demo”.")
    return _run("cluster.deprovision", ["cluster", "deprovision", cluster], f"Deprovision {cluster}", cluster,
                summary=f"Deprovisioning {cluster} deletes the cluster and everything on it. "
                        f"Command: `{display(['cluster', 'deprovision', cluster])}` — it runs only after "
                        "approval.")


def _named(req: _Req, cluster: str) -> bool:
    """Whether the request names the cluster itself (not through "it" or the last cluster)."""
    clusters = req.ctx.clusters
    for w in req.words:
        if not _could_be_cluster(w):
            continue
        if w == cluster.lower():
            return True
        if clusters is not None and any(m.name == cluster for m in _match(w, clusters, loose=True)):
            return True
    return False


def _tokens(req: _Req) -> Interpretation | None:
    ti = req.index("token", "tokens")
    if ti is None or req.has(r"\bcluster\b.*\b(create|provision)\b|\b(create|provision)\b.*\bcluster\b"):
        return None
    if req.any("revoke", "delete", "remove", "invalidate", "disable"):
        j = _object_name(req, ("token", "tokens", "id"), pattern=_ID_RE)
        if j is None or req.words[j] == "api":
            return Answer("Which token should I revoke? I need its id — say for example “Revoke token "
                          "tok-123”, or “List my API tokens” to see the ids.",
                          suggestions=["List my API tokens"])
        token_id = req.toks[j].orig
        return _run("tokens.revoke", ["tokens", "revoke", token_id], f"Revoke API token {token_id}")
    if req.any("create", "new", "generate", "issue", "make", "mint"):
        j = _object_name(req, ("token", "tokens", "named", "called", "for"))
        if j is not None and req.words[j] == "api":
            j = _object_name(req, ("named", "called", "for"), exclude={j})
        if j is None:
            return Answer("What should the new API token be called? Say for example “Create an API token "
                          "named hermes-agent”.")
        name = req.words[j]
        argv = ["tokens", "create", name]
        date = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", req.low)
        if date:
            argv += ["--expires", date.group(1)]
        return _run("tokens.create", argv, f"Create API token {name}",
                    summary=f"Creating API token {name}: running `{display(argv)}`... The token value is "
                            "shown once by Ankra and withheld from chat.")
    return _run("tokens.list", ["tokens", "list"], "List API tokens")


def _credentials(req: _Req) -> Interpretation | None:
    ci = req.index("credential", "credentials", "cred", "creds", "secrets") if req.any(
        "credential", "credentials", "cred", "creds") else None
    if ci is None:
        return None
    provider_words = {"hetzner": "hetzner", "ovh": "ovh", "upcloud": "upcloud", "github": "github",
                      "ssh": "ssh_key", "ssh-key": "ssh_key"}
    provider = next((provider_words[w] for w in req.words if w in provider_words), None)
    plural = req.words[ci] in ("credentials", "creds")
    j = None
    if not plural or req.any("details", "detail", "describe", "info", "get"):
        for anchor in (("named", "called", "id"), ("credential", "cred", "credentials"), ("for", "about")):
            j = _object_name(req, anchor, pattern=_ID_RE)
            if j is not None and req.words[j] in provider_words:
                j = None
            if j is not None:
                break
    if j is not None:
        cred = req.toks[j].orig
        return _run("credentials.get", ["credentials", "get", cred], f"Show credential {cred} (metadata only)",
                    summary=f"Running `{display(['credentials', 'get', cred])}`... (metadata only: secret "
                            "values are never shown)")
    argv = ["credentials", "list"]
    if provider:
        argv += ["--provider", provider]
    return _run("credentials.list", argv, "List credentials (metadata only)")


def _charts(req: _Req) -> Interpretation | None:
    ci = req.index("chart", "charts", "helm")
    if ci is None:
        return None
    if req.any("install", "deploy", "add", "setup") or req.has(r"\bset up\b"):
        return None  # building goes through the designer
    words = req.words
    chart_words = {"chart", "charts", "helm", "search", "find", "look", "lookup", "available", "any", "is",
                   "there", "are", "me", "for", "a", "an", "the", "some", "matching", "named", "called",
                   "about", "like", "up", "with", "please", "can", "you", "i", "do", "we", "have",
                   "show", "list"}
    if req.any("search", "find", "look", "lookup") or req.has(r"\b(is there|are there|any) (a |an )?\w*\s*charts?\b") \
            or req.has(r"\bcharts? (for|matching|like)\b"):
        start = 0
        for i, w in enumerate(words):
            if w in ("for", "matching", "named", "called", "like", "about"):
                start = i + 1
                break
        terms = [req.toks[i].orig for i in range(start, len(words)) if words[i] not in chart_words]
        if not terms:
            terms = [req.toks[i].orig for i in range(len(words)) if words[i] not in chart_words]
        query = sanitise_text(" ".join(terms), 200)
        if not query:
            return Answer("What should I search the charts for? Say for example “Search charts for postgres”.")
        return _run("charts.search", ["charts", "search", query], f"Search charts for {query}")
    if req.any("info", "details", "detail", "describe", "about", "version", "versions") or \
            (req.any("show", "get") and words[ci] == "chart"):
        j = _object_name(req, ("chart", "charts", "about", "for", "on", "info", "details", "describe"))
        if j is not None and words[j] not in ("available", "subscribed"):
            return _run("charts.info", ["charts", "info", words[j]], f"Show chart {words[j]}")
        if words[ci] == "chart":
            return Answer("Which chart? Say for example “Show chart info for postgresql”, or “Search charts "
                          "for postgres”.")
    argv = ["charts", "list"]
    if req.any("subscribed"):
        argv.append("--subscribed")
    return _run("charts.list", argv, "List available charts")


def _health(req: _Req) -> Interpretation | None:
    if not req.any("health", "healthy", "unhealthy", "health-check", "healthcheck"):
        return None
    cluster, problem = _cluster_ref(req, what="check the health of", example="Check the health of production",
                                    markers={**_DEFAULT_MARKERS, "is": _WEAK})
    if problem:
        return problem
    assert cluster is not None
    argv = ["chat", "health", "--cluster", cluster]
    ai = req.any("ai", "analysis", "analyse", "analyze", "analysed", "analyzed", "diagnose", "deep", "detailed") \
        or req.has(r"root[- ]cause")
    if ai:
        argv.append("--ai")
    return _run("ai.health", argv, f"Health of {cluster}" + (" with AI analysis" if ai else ""), cluster)


_QUESTION_RE = (
    r"\bwhy\b|what'?s (wrong|happening|going on|broken|failing)|what is (wrong|happening|going on)|"
    r"what went wrong|troubleshoot|root[- ]cause|\bcrash|\bfailing\b|\bfails\b|\bfailed\b|\bfailure|"
    r"\bbroken\b|\berrors?\b|not working|\bdebug|\bdiagnos|\binvestigat|\boom|crashloop|\brestart|"
    r"\bslow\b|\blatency\b|\bask (ankra )?ai\b|\bankra ai\b|\bdown\b"
)


def _question_text(req: _Req) -> str:
    text = re.sub(r"^\s*(?:hey\s+hermes[,:]?\s*)?(?:please\s+)?(?:ask\s+(?:the\s+)?(?:ankra\s+)?(?:ai\s+)?"
                  r"(?:about\s+|whether\s+|if\s+)?)?", "", req.text, flags=re.IGNORECASE)
    return sanitise_text(text or req.text)


def _chat(req: _Req) -> Interpretation | None:
    if not req.has(_QUESTION_RE):
        return None
    if req.has(r"\b(scale|scaling) down\b|\btear down\b|\bcount down\b|\bshut down\b"):
        return None
    return _chat_for(req)


def _chat_for(req: _Req) -> Interpretation:
    cluster, problem = _cluster_ref(req, what="ask Ankra AI about",
                                    example="Why are pods crashing on production?")
    if problem:
        return problem
    assert cluster is not None
    question = _question_text(req)
    if not question:
        return Answer("What should I ask Ankra AI? Say for example “Why are pods crashing on production?”.")
    argv = ["chat", question, "--cluster", cluster]
    return _run("ai.chat", argv, f"Ask Ankra AI about {cluster}", cluster,
                summary=f"Let me check with Ankra AI... Running `{display(argv)}` on {cluster}...")


_GOAL_RE = (
    r"\bset ?up\b|\bneeds?\b|\bwants?\b|\bdeploy\b|\binstall\b|\badd\b|\bcreate\b|\bbuild\b|\bprovision\b|"
    r"\bgive (me|us)\b|\bget (me|us)\b|\brun\b|\bhost\b|\bspin up\b|\bdesign\b|\benable\b|\bi'?d like\b"
)


def _design(req: _Req) -> Interpretation | None:
    terms = [w for w in req.words if w in _DESIGN_TERMS]
    if not terms or not req.has(_GOAL_RE):
        return None
    cluster, problem = _cluster_ref(req, what="build it on", required=False,
                                    markers={**_DEFAULT_MARKERS, "to": _STRONG, "in": _STRONG})
    if problem:
        return problem
    return DesignRequest(goal=req.text.strip(), cluster=cluster, environment=_environment(cluster, req))


def _select(req: _Req) -> Interpretation | None:
    active = req.has(r"\b(active|current|default|selected) cluster\b")
    if not (req.any("select", "switch", "use", "change", "choose", "pick") or
            (active and req.any("set", "make"))):
        return None
    clusters = req.ctx.clusters
    mentions_cluster = req.any("cluster") or active
    if not mentions_cluster:
        if clusters is not None:
            if not any(_match(w, clusters, loose=False) for w in req.words if _could_be_cluster(w)):
                m = re.fullmatch(r"(?:please )?(?:select|switch to|use) (?:the )?([a-z0-9][a-z0-9._-]*)", req.low)
                if not m:
                    return None
        elif not re.fullmatch(r"(?:please )?(?:select|switch to|use) (?:the )?([a-z0-9][a-z0-9._-]*)"
                              r"(?: cluster)?", req.low):
            return None
    cluster, problem = _cluster_ref(req, what="select", markers={"to": _STRONG, **_DEFAULT_MARKERS},
                                    verbs=("select", "use", "choose", "pick"),
                                    example="Select the staging-cluster")
    if problem:
        return problem
    assert cluster is not None
    return _run("cluster.select", ["cluster", "select", cluster], f"Select {cluster}", cluster)


def _list_clusters(req: _Req) -> Interpretation | None:
    text = req.low
    if re.search(r"\bclusters\b", text) and re.search(
        r"\b(list|show|what|which|see|display|get|give|all|my|our)\b", text
    ):
        step = PlanStep(argv=["cluster", "list"], title="List all clusters")
        return Understood("cluster.list", [step], f"Running `{display(step.argv)}`...")
    return None


def _info(req: _Req) -> Interpretation | None:
    if not (req.any("info", "information", "details", "detail", "describe", "get", "show", "status",
                    "overview", "inspect", "about", "summary") or req.has(r"\btell me about\b")):
        return None
    required = req.any("cluster")
    cluster, problem = _cluster_ref(req, what="describe", required=required,
                                    verbs=("get", "show", "describe", "inspect", "info", "about"),
                                    example="Show the details of the production cluster")
    if problem:
        return problem
    if cluster is None:
        return None
    if not required and req.ctx.last_cluster == cluster and not _named(req, cluster) and not _backref(req):
        return None
    return _run("cluster.info", ["cluster", "info", cluster], f"Show details of {cluster}", cluster)


def _cluster_question(req: _Req) -> Interpretation | None:
    """A question that names a known cluster and nothing else matched: ask Ankra AI."""
    if not (req.text.strip().endswith("?") or req.has(r"^(how|what|which|is|are|does|do|can|where|when)\b")):
        return None
    clusters = req.ctx.clusters
    named = False
    for w in req.words:
        if not _could_be_cluster(w):
            continue
        if clusters is None:
            continue
        if _match(w, clusters, loose=False):
            named = True
            break
    if not named and not req.override:
        return None
    return _chat_for(req)


_RULES = (
    _node_groups,
    _stacks,
    _create_cluster,
    _scale,
    _workers,
    _reconcile,
    _deprovision,
    _tokens,
    _credentials,
    _charts,
    _health,
    _chat,
    _design,
    _select,
    _list_clusters,
    _info,
    _cluster_question,
)


def _looks_like_revision(req: _Req) -> bool:
    words = [w for w in req.words if w not in ("please", "and", "also", "ok", "okay", "now", "then", "lets",
                                                  "let", "s", "can", "could", "you", "would")]
    starts = bool(words) and words[0] in _REVISE_VERBS
    nouns = any(w in _DESIGN_NOUNS for w in req.words) or req.has(r"\b\d+\s*(gi|gb|mi|mb)\b")
    return starts or nouns


def _fresh_goal(req: _Req) -> bool:
    return req.has(r"^(please )?(set ?up|my app(lication)? needs|design|build me|start over|new design)\b")


def _interpret(req: _Req) -> Interpretation | None:
    result: Interpretation | None = None
    for rule in _RULES:
        result = rule(req)
        if result is not None:
            break
    revising = req.ctx.has_design and _looks_like_revision(req) and not req.override
    if revising and (result is None or (isinstance(result, DesignRequest) and not _fresh_goal(req))):
        return ReviseDesign(req.text.strip())
    return result


def interpret(text: str, context: RulesContext | None = None) -> Interpretation:
    """Turn a person's message into commands, or into an answer in words."""
    ctx = context or RulesContext()
    if not text or not text.strip():
        return help_answer(text or "")
    req = _Req(text, ctx)
    for early in (_approvals, _same_on, _profiles):
        result = early(req)
        if result is not None:
            return result
    result = _interpret(req)
    if result is not None:
        return result
    if _looks_like_revision(req) and any(w in _DESIGN_NOUNS for w in req.words) and req.words \
            and req.words[0] in _REVISE_VERBS:
        return Answer("There is no drafted architecture to change yet. Tell me the goal first, e.g. “My app "
                      "needs a Postgres database and a Redis cache on staging. Set it up.”",
                      suggestions=[EXAMPLES[-1]])
    return help_answer(text)


def help_answer(text: str) -> Answer:
    """What Hermes says when it does not understand: what it can do, with examples."""
    shown = text.strip()
    if len(shown) > 120:
        shown = shown[:117] + "..."
    lines = [
        f"I did not understand “{shown}”. Here is what I can do now:" if shown
        else "Tell me what you need. Here is what I can do now:",
        "- list your Ankra clusters, e.g. “List my Ankra clusters”",
        "- trigger a reconciliation, e.g. “Reconcile the production cluster”",
        "- show a cluster's details or select it, e.g. “Show the details of the production cluster”",
        "- list, inspect, rename, clone or delete stacks, e.g. “List the stacks on production”",
        "- ask Ankra AI about live cluster state, e.g. “Why are pods crashing on production?”",
        "- check cluster health, e.g. “Check the health of production with AI analysis”",
        "- search and inspect Helm charts, e.g. “Search charts for postgres”",
        "- read and scale workers, e.g. “Scale production to 5 workers”",
        "- manage node groups, e.g. “List the node groups of production”",
        ("- create or deprovision Hetzner, OVH and UpCloud clusters, e.g. “Create a Hetzner cluster named "
         "demo with credential cred-123 in fsn1 with 3 workers”"),
        "- list credentials and API tokens (values are never shown), e.g. “List my Hetzner credentials”",
        "- switch profiles, e.g. “Switch to the production profile”",
        ("- design the infrastructure your app needs, e.g. “My app needs a Postgres database and a Redis "
         "cache on staging. Set it up.”"),
    ]
    return Answer("\n".join(lines), suggestions=list(EXAMPLES))


# -- multi-step runs ----------------------------------------------------------------------------


def resume(continuation: Continuation, outputs: list[StepOutput]) -> Interpretation:
    """The next interpretation of a multi-step run, from the outputs of the steps that ran."""
    params = continuation.params or {}
    out = outputs[-1] if outputs else None
    cluster = str(params.get("cluster") or "")
    if out is None or out.exit_code != 0:
        detail = ""
        if out is not None:
            first = next((ln.strip() for ln in (out.stdout or "").splitlines() if ln.strip()), "")
            detail = f" (exit {out.exit_code}{': ' + first[:200] if first else ''})"
        return Answer(f"I could not read what I needed for {cluster or 'this request'}{detail}, so I changed "
                      "nothing.", kind="error")
    if continuation.intent == "cluster.lookup":
        return _resume_lookup(params, out)
    if continuation.intent == "cluster.scale":
        return _resume_scale(params, out)
    if continuation.intent == "cluster.node_group.scale":
        return _resume_node_group_scale(params, out)
    return Answer(f"I don't know how to continue “{continuation.intent}”.", kind="error")


def _records(data: object) -> list[dict]:
    if isinstance(data, dict):
        for key in ("result", "clusters", "node_groups", "items", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if isinstance(data, list):
        return [d for d in data if isinstance(d, dict)]
    return []


def _table_rows(stdout: str) -> list[dict[str, str]]:
    """Rows of a box-drawn (│) or ASCII (|) table, keyed by lowercase header."""
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    for line in (stdout or "").splitlines():
        if "│" not in line and "|" not in line:
            continue
        cells = [c.strip() for c in re.split(r"[│|]", line)[1:-1]]
        if not cells or all(not c for c in cells):
            continue
        if header is None:
            header = [c.lower() for c in cells]
            continue
        rows.append(dict(zip(header, cells, strict=False)))
    return rows


def _resume_lookup(params: dict, out: StepOutput) -> Interpretation:
    cluster = str(params.get("cluster") or "")
    facts: list[ClusterFact] = []
    for r in _records(out.data):
        name = r.get("name")
        if isinstance(name, str):
            provider = r.get("provider") or r.get("kind")
            facts.append(ClusterFact(name, str(provider).lower() if provider else None,
                                     str(r["id"]) if r.get("id") else None))
    if not facts:
        for row in _table_rows(out.stdout):
            if row.get("name"):
                kind = (row.get("provider") or row.get("kind") or "").lower() or None
                facts.append(ClusterFact(row["name"], kind, row.get("id")))
    ctx = RulesContext(clusters=tuple(facts))
    req = _Req(cluster, ctx)
    if not req.words:
        return Answer("I could not tell which cluster you meant.", kind="error")
    resolved, problem = _resolve_word(req, 0)
    if problem:
        return problem
    assert resolved is not None
    target = params.get("target")
    delta = params.get("delta")
    return _workers_step(_Req(resolved, ctx), resolved, str(params.get("next") or "cluster.workers"),
                         target=int(target) if isinstance(target, int) else None,
                         delta=int(delta) if isinstance(delta, int) else None)


def _parse_workers(out: StepOutput) -> int | None:
    data = out.data
    if isinstance(data, dict):
        for key in ("worker_count", "workers", "count"):
            value = data.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str) and value.isdigit():
                return int(value)
    m = re.search(r"worker\s*count\s*:\s*(\d+)", out.stdout or "", flags=re.IGNORECASE)
    return int(m.group(1)) if m else None


def _direction(current: int | None, target: int) -> tuple[str, str]:
    """(word for the summary, lowercase direction): unknown counts as a scale down."""
    if current is None:
        return f"scale DOWN ? → {target} (direction unknown: treated as a scale down)", "down"
    if target > current:
        return f"scale up {current} → {target}", "up"
    return f"scale DOWN {current} → {target}", "down"


def _resume_scale(params: dict, out: StepOutput) -> Interpretation:
    cluster = str(params.get("cluster") or "")
    current = _parse_workers(out)
    target = params.get("target")
    delta = params.get("delta")
    if not isinstance(target, int):
        if not isinstance(delta, int):
            return Answer(f"I don't know the target worker count for {cluster}; nothing changed.", kind="error")
        if current is None:
            return Answer(f"I could not read the current worker count of {cluster}, so I can't add or remove "
                          "workers relative to it. Say the total, e.g. "
                          f"“Scale {cluster} to 5 workers”.", kind="error")
        target = current + delta
        if target < 0:
            return Answer(f"{cluster} has {current} workers: I can't remove {-delta}.", kind="error")
    if not _NAME_RE.match(cluster) and not _ID_RE.match(cluster):
        return Answer("I could not tell which cluster to scale; nothing changed.", kind="error")
    if current is not None and current == target:
        return Answer(f"{cluster} already has {target} workers: nothing to do.")
    words, direction = _direction(current, target)
    argv = ["cluster", "scale", cluster, str(target)]
    current_text = str(current) if current is not None else "unknown"
    now = f"{cluster} has {current} workers now" if current is not None else \
        f"I could not read the current worker count of {cluster}"
    summary = (f"{now}; target {target}: {words}.\n"
               f"Command: `{display(argv)}`" + (" — a scale down waits for approval." if direction == "down"
                                                   else ""))
    return _run("cluster.scale", argv, f"Scale {cluster} {direction} from {current_text} to {target} workers",
                cluster, summary=summary)


def _resume_node_group_scale(params: dict, out: StepOutput) -> Interpretation:
    cluster = str(params.get("cluster") or "")
    group = str(params.get("group") or "")
    target = params.get("target")
    if not isinstance(target, int) or not group:
        return Answer(f"I don't know which node group of {cluster} to scale, or to what; nothing changed.",
                      kind="error")
    names: list[str] = []
    current: int | None = None
    found = False
    for r in _records(out.data):
        names.append(str(r.get("name")))
        if r.get("name") == group:
            found = True
            for key in ("count", "nodes", "node_count", "size"):
                value = r.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    current = value
                    break
    if not names:
        for row in _table_rows(out.stdout):
            names.append(row.get("name", ""))
            if row.get("name") == group:
                found = True
                value = row.get("nodes") or row.get("count") or ""
                current = int(value) if value.isdigit() else None
    if names and not found:
        return Answer(f"{cluster} has no node group called “{group}”. Its node groups: "
                      f"{', '.join(n for n in names if n)}.", suggestions=[f"List the node groups of {cluster}"])
    if current is not None and current == target:
        return Answer(f"Node group {group} on {cluster} already has {target} nodes: nothing to do.")
    words, direction = _direction(current, target)
    argv = ["cluster", "node-group", "scale", cluster, group, str(target)]
    current_text = str(current) if current is not None else "unknown"
    now = f"Node group {group} on {cluster} has {current} nodes now" if current is not None else \
        f"I could not read the current size of node group {group} on {cluster}"
    summary = (f"{now}; target {target}: {words}.\n"
               f"Command: `{display(argv)}`" + (" — a scale down waits for approval." if direction == "down"
                                                   else ""))
    return _run("cluster.node_group.scale", argv,
                f"Scale node group {group} on {cluster} {direction} from {current_text} to {target} nodes",
                cluster, summary=summary)
