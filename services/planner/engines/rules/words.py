"""Words: the rules engine's vocabulary, how a message is cut into words, typo repair and the checks on
characters a name may never carry.

Pure functions of text: no I/O, no context beyond the names passed in.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

_MAX_QUESTION = 2000

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

# Words of applications a long goal names: they make it a design request, never a command.
APP_TERMS = frozenset(
    ["django", "celery", "rails", "sidekiq", "flask", "fastapi", "laravel", "wordpress", "nextjs", "next.js",
     "node.js", "nodejs", "express", "spring", "symfony", "php", "ruby", "python", "java", "golang", "webapp",
     "web-app", "frontend", "backend", "api-server", "microservice", "microservices", "saas", "shop", "store",
     "gi", "gib", "tb", "vcpu", "read-replica", "read-replicas", "replicas", "replica", "queue", "queues"]
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


# -- characters a name never carries ------------------------------------------------------------

_SHELL = re.compile(r"[`$;|&<>\\]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_EDGE_PUNCT = "\"'“”‘’()[]{},.!?:*"
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._'’-]*$")


def unsafe_characters(text: str) -> str | None:
    """What in `text` a command's names must never carry (shell metacharacters, control or invisible
    characters, look-alike letters inside a name), described for the person; None when it is clean."""
    if (m := _CONTROL.search(text)) is not None:
        return f"a control or invisible character (U+{ord(m.group()):04X})"
    if (m := _SHELL.search(text)) is not None:
        return f"the shell character “{m.group()}”"
    for word in text.split():
        core = word.strip(_EDGE_PUNCT)
        if not core or core.lower() in ("w/", "e.g", "i.e", "/", "-", "--", "+"):
            continue
        if _PLAIN_WORD.match(core) or not any(c.isascii() and c.isalnum() for c in core):
            continue
        odd = next((c for c in core if not (c.isascii() and (c.isalnum() or c in "._'-")) and c != "’"), "")
        if odd:
            kind = unicodedata.name(odd, "").lower() or f"u+{ord(odd):04x}"
            return f"“{core}”, which has a character no name has (“{odd}”, {kind})"
    return None


# -- typo repair --------------------------------------------------------------------------------

# Words a person may mean as a name even though they look like a misspelt word ("prod" is not "pod").
_PROTECTED = _ENV_ALIASES | frozenset(["production", "staging", "sandbox", "default", "demo", "edge", "main"])
_NO_REPAIR_AFTER = frozenset(["named", "called", "stack", "group", "node-group", "token", "credential", "chart",
                              "id", "profile", "as", "key", "type"])

_NO_REPAIR_BEFORE = frozenset(["stack", "stacks", "group", "node-group", "token", "chart", "profile", "cluster", "mode"])


def repair(words: list[str], vocabulary: frozenset[str], names: frozenset[str]) -> dict[int, str]:
    """Corrections for misspelt vocabulary words: index → the word meant ("lsit" → "list").

    Only plain words of four letters or more that are neither vocabulary nor a known name are
    repaired, only to a single closest vocabulary word (OSA distance 1, or 2 from seven letters on),
    and never a word that names something ("stack mointoring" keeps its name for the name checks).
    """
    fixes: dict[int, str] = {}
    for i, w in enumerate(words):
        if len(w) < 4 or not w.isalpha() or w in vocabulary or w in names or w in _PROTECTED:
            continue
        if i > 0 and words[i - 1] in _NO_REPAIR_AFTER:
            continue
        if i + 1 < len(words) and words[i + 1] in _NO_REPAIR_BEFORE:
            continue
        limit = 1 if len(w) < 7 else 2
        best = process.extract(w, vocabulary, scorer=OSA.distance, score_cutoff=limit, limit=3)
        if not best:
            continue
        top = best[0][1]
        closest = {b[0] for b in best if b[1] == top}
        # "clustres" is "clusters" or "cluster": either reads the same, the plural wins
        stems = {c.rstrip("s") for c in closest}
        if len(stems) == 1:
            fixes[i] = max(closest, key=len) if len(w) >= max(len(c) for c in closest) else min(closest, key=len)
    return fixes
