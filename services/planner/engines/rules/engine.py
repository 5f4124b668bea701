"""The rules engine: plain language to decisions, with no model.

Pure functions of text and of a small, explicit context: no I/O. What it understands is data
(`intents.INTENTS`: one entry per command family, with its words, slots, catalog command, example and
help line); the recognisers below read a message's words into an intent's slots, the resolvers turn
names into the things they name (`resolvers`), and `plans` builds the decision, its argv always from
the catalog. Multi-step runs go on in `resume`.

Principles:

- Never silence: a request that is not (or only partly) understood gets an answer that says what was
  understood, what was not, and what Hermes can do.
- Names the person did not give are never invented; a near miss gets "did you mean"; a name that
  carries shell-like, control or look-alike characters is refused, never resolved.
- Typos in the vocabulary are repaired (rapidfuzz): "lsit my clustres" lists the clusters.
- Several requests in one message run in order as one plan; a part that needs the result of an
  earlier one is said so, never dropped silently.
- A long goal is a design request (`DesignGoal` with the whole text), not a command triggered by a
  word inside it.
- Names of tokens, credentials, node groups and stacks are resolved and checked (a read first, then
  a continuation) before anything that needs approval is proposed.
- A question back for a missing value keeps the request (`Answer.pending`); the next message fills it.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from hermes.approval_answers import ApprovalAnswer, approval_answer
from hermes.catalog import CommandRefused, display
from hermes.contracts import ExecutionResult
from hermes_planner.decisions import (
    Answer,
    ClusterFact,
    Context,
    Decision,
    DesignGoal,
    PendingRequest,
    Propose,
    ResumeRules,
    ReviseDesign,
    SwitchProfile,
)
from hermes_planner.engines.rules import plans
from hermes_planner.engines.rules.intents import EXAMPLES, INTENTS, build, closest_examples, help_lines
from hermes_planner.engines.rules.plans import MAX_COUNT as _MAX_COUNT
from hermes_planner.engines.rules.plans import PROVIDERS, run
from hermes_planner.engines.rules.plans import too_many as _too_many
from hermes_planner.engines.rules.resolvers import (
    _DEFAULT_MARKERS,
    _STRONG,
    _WEAK,
    _backref,
    _cluster_ref,
    _could_be_cluster,
    _environment,
    _match,
    _object_name,
    _Req,
    _resolve_word,
    near_name,
)
from hermes_planner.engines.rules.resume import StepOutput, records, resume, table_rows
from hermes_planner.engines.rules.words import (
    _BASE_STOP,
    _CLUSTER_STOP,
    _DESIGN_NOUNS,
    _DESIGN_TERMS,
    _DETERMINERS,
    _GROUP_STOP,
    _ID_RE,
    _K8S_NAME_RE,
    _NAME_RE,
    _OBJECT_STOP,
    _REVISE_VERBS,
    APP_TERMS,
    _int,
    _normalise,
    sanitise_text,
    unsafe_characters,
)

__all__ = [
    "EXAMPLES", "Answer", "ApprovalAnswer", "ClusterFact", "Context", "Decision", "DesignGoal", "PendingRequest",
    "Propose", "ResumeRules", "ReviseDesign", "RulesEngine", "StepOutput", "SwitchProfile", "help_answer",
    "interpret", "records", "resume", "sanitise_text", "table_rows",
]

Interpretation = Decision
# Intents whose free text is sanitised into a TEXT argument: shell characters in it are dropped, not refused.
_FREE_TEXT = frozenset(["ai.chat", "charts.search"])


# -- rules --------------------------------------------------------------------------------------


def _approvals(req: _Req) -> Decision | None:
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


def _same_on(req: _Req) -> Decision | None:
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



def _bare_profile(req: _Req) -> Decision | None:
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



def _value_after(req: _Req, i: int, skip: frozenset[str], pattern: re.Pattern[str] = _ID_RE) -> int | None:
    j = req.after(i, skip)
    if j is None:
        return None
    w = req.words[j]
    if w in _BASE_STOP or w in ("cluster", "workers", "worker") or not pattern.match(req.toks[j].orig):
        return None
    return j



def _reconcile(req: _Req) -> Decision | None:
    if not (req.has(r"\b(reconcil\w*|resync\w*|re-sync\w*)\b") or
            req.has(r"^(please )?(force )?(a )?sync\b|\btrigger (a )?(re)?sync\b|\bforce (a )?(re)?sync\b")):
        return None
    cluster, problem = _cluster_ref(req, what="reconcile", example="Reconcile the production cluster",
                                    verbs=("reconcile", "reconciliation", "sync", "resync", "re-sync",
                                           "reconciling"))
    if problem:
        return problem
    assert cluster is not None
    return run("cluster.reconcile", build("cluster reconcile", {"cluster": cluster}), f"Reconcile {cluster}", cluster)



def _deprovision(req: _Req) -> Decision | None:
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
        return Answer(INTENTS["cluster.deprovision"].ask("cluster"))
    argv = build("cluster deprovision", {"cluster": cluster})
    return run("cluster.deprovision", argv, f"Deprovision {cluster}", cluster,
               summary=f"Deprovisioning {cluster} deletes the cluster and everything on it. "
                       f"Command: `{display(argv)}` — it runs only after approval.")


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



def _credentials(req: _Req) -> Decision | None:
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
        argv = build("credentials get", {"credential": cred})
        return run("credentials.get", argv, f"Show credential {cred} (metadata only)",
                   summary=f"Running `{display(argv)}`... (metadata only: secret values are never shown)")
    argv = build("credentials list", flags={"--provider": provider})
    return run("credentials.list", argv, "List credentials (metadata only)")



def _charts(req: _Req) -> Decision | None:
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
        return run("charts.search", build("charts search", {"query": query}), f"Search charts for {query}")
    if req.any("info", "details", "detail", "describe", "about", "version", "versions") or \
            (req.any("show", "get") and words[ci] == "chart"):
        j = _object_name(req, ("chart", "charts", "about", "for", "on", "info", "details", "describe"))
        if j is not None and words[j] not in ("available", "subscribed"):
            return run("charts.info", build("charts info", {"chart": words[j]}), f"Show chart {words[j]}")
        if words[ci] == "chart":
            return Answer("Which chart? Say for example “Show chart info for postgresql”, or “Search charts "
                          "for postgres”.")
    argv = build("charts list", flags={"--subscribed": req.any("subscribed")})
    return run("charts.list", argv, "List available charts")



def _health(req: _Req) -> Decision | None:
    if not req.any("health", "healthy", "unhealthy", "health-check", "healthcheck"):
        return None
    cluster, problem = _cluster_ref(req, what="check the health of", example="Check the health of production",
                                    markers={**_DEFAULT_MARKERS, "is": _WEAK})
    if problem:
        return problem
    assert cluster is not None
    ai = req.any("ai", "analysis", "analyse", "analyze", "analysed", "analyzed", "diagnose", "deep", "detailed") \
        or req.has(r"root[- ]cause")
    argv = build("chat health", flags={"--cluster": cluster, "--ai": ai})
    return run("ai.health", argv, f"Health of {cluster}" + (" with AI analysis" if ai else ""), cluster)



_QUESTION_RE = (
    r"\bwhy\b|what'?s (wrong|happening|going on|broken|failing)|what is (wrong|happening|going on)|"
    r"what went wrong|troubleshoot|root[- ]cause|\bcrash|\bfailing\b|\bfails\b|\bfailed\b|\bfailure|"
    r"\bbroken\b|\berrors?\b|not working|\bdebug|\bdiagnos|\binvestigat|\boom|crashloop|\brestart|"
    r"\bslow\b|\blatency\b|\bask (ankra )?ai\b|\bankra ai\b|\bdown\b|what'?s up\b|\bhow'?s \w+(-\w+)* doing\b|"
    r"\bhow is \w+(-\w+)* doing\b|\bwhats (wrong|happening|going on)\b"
)


def _question_text(req: _Req) -> str:
    text = re.sub(r"^\s*(?:hey\s+hermes[,:]?\s*)?(?:please\s+)?(?:ask\s+(?:the\s+)?(?:ankra\s+)?(?:ai\s+)?"
                  r"(?:about\s+|whether\s+|if\s+)?)?", "", req.text, flags=re.IGNORECASE)
    return sanitise_text(text or req.text)


def _chat(req: _Req) -> Decision | None:
    if not req.has(_QUESTION_RE):
        return None
    if req.has(r"\b(scale|scaling) down\b|\btear down\b|\bcount down\b|\bshut down\b"):
        return None
    return _chat_for(req)


def _chat_for(req: _Req) -> Decision:
    cluster, problem = _cluster_ref(req, what="ask Ankra AI about",
                                    example="Why are pods crashing on production?")
    if problem:
        return problem
    assert cluster is not None
    question = _question_text(req)
    if not question:
        return Answer("What should I ask Ankra AI? Say for example “Why are pods crashing on production?”.")
    argv = build("chat", {"question": question}, {"--cluster": cluster})
    return run("ai.chat", argv, f"Ask Ankra AI about {cluster}", cluster,
                summary=f"Let me check with Ankra AI... Running `{display(argv)}` on {cluster}...")



_GOAL_RE = (
    r"\bset ?up\b|\bneeds?\b|\bwants?\b|\bdeploy\b|\binstall\b|\badd\b|\bcreate\b|\bbuild\b|\bprovision\b|"
    r"\bgive (me|us)\b|\bget (me|us)\b|\brun\b|\bhost\b|\bspin up\b|\bdesign\b|\benable\b|\bi'?d like\b"
)


def _design(req: _Req) -> Decision | None:
    terms = [w for w in req.words if w in _DESIGN_TERMS]
    if not terms or not req.has(_GOAL_RE):
        return None
    cluster, problem = _cluster_ref(req, what="build it on", required=False,
                                    markers={**_DEFAULT_MARKERS, "to": _STRONG, "in": _STRONG})
    if problem:
        return problem
    return DesignGoal(goal=req.text.strip(), cluster=cluster, environment=_environment(cluster, req))



def _select(req: _Req) -> Decision | None:
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
    return run("cluster.select", build("cluster select", {"cluster": cluster}), f"Select {cluster}", cluster)



def _info(req: _Req) -> Decision | None:
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
    return run("cluster.info", build("cluster info", {"cluster": cluster}), f"Show details of {cluster}", cluster)


def _cluster_question(req: _Req) -> Decision | None:
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





def _profiles(req: _Req) -> Decision | None:
    i = req.index("profile", "profiles")
    if i is None:
        i = _mode_index(req)
    if i is None:
        return _bare_profile(req)
    ctx = req.ctx
    profiles = ctx.profiles
    listing = ", ".join(f"“{p}”" for p in profiles) or "none"
    switching = req.any("switch", "use", "activate", "change", "select", "set", "load", "go", "enable")
    if not switching and req.has(r"\b(which|what)\b.*\b(profile|mode)\b|\b(active|current)\s+(profile|mode)\b|"
                                 r"\b(profile|mode)\b.*\b(am i|are we|is (active|on|in use))\b"):
        active = ctx.active_profile or ctx.default_profile
        now = (f"You are using the “{active}” profile." if ctx.active_profile else
               f"You are using the default profile “{active}” (no other profile was chosen in this "
               "conversation)." if active else
               "You are using the default profile (no other profile was chosen in this conversation).")
        return Answer(f"{now} The profiles I know are {listing}. Say for example “Switch to the "
                      f"{_other_profile(profiles, active)} profile” to change it.",
                      suggestions=[f"Switch to the {p} profile" for p in profiles if p != active])
    asks = req.words[i] == "profiles"
    if asks and not switching:
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
        if w not in _BASE_STOP and w not in ("profile", "profiles", "mode"):
            name = o
            break
    if name is None:
        return Answer(f"Which profile? The profiles I know are {listing}.",
                      suggestions=[f"Switch to the {p} profile" for p in profiles])
    word = req.toks[name].orig
    for p in profiles:
        if p.lower() == word.lower():
            return SwitchProfile(p)
    close = near_name(word, {p.lower(): p for p in profiles}, cutoff=75)
    hint = f" Did you mean “{close}”?" if close else ""
    return Answer(f"I don't know a profile called “{word}”.{hint} The profiles I know are {listing}.",
                  suggestions=[f"Switch to the {p} profile" for p in profiles])


def _mode_index(req: _Req) -> int | None:
    """"sandbox mode" means the sandbox profile when sandbox is one; "which mode" asks for the profile."""
    i = req.index("mode", "modes")
    if i is None:
        return None
    names = {p.lower() for p in req.ctx.profiles}
    near = {req.words[k] for k in (i - 1, i + 1) if 0 <= k < len(req.words)}
    if near & names or req.has(r"\b(which|what|current|active)\b.*\bmode\b"):
        return i
    return None


def _other_profile(profiles: tuple[str, ...], active: str | None) -> str:
    others = [p for p in profiles if p != (active or "default")]
    return others[-1] if others else "production"


# -- counts -------------------------------------------------------------------------------------

_N = r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|another)"
_UP = ("add", "more", "extra", "additional", "another", "up", "increase", "grow", "plus", "raise", "bump")
_DOWN = ("remove", "fewer", "less", "down", "decrease", "reduce", "shrink", "drop", "minus", "take", "lower", "cut")


def _n(word: str) -> int | None:
    return 1 if word in ("a", "an", "another") else _int(word)


def _delta(req: _Req) -> tuple[int | None, Answer | None]:
    """A relative change ("add 2 workers", "by 2 more", "one fewer node"): (signed delta, or a question)."""
    low = req.low
    unit = r"(?:workers?|nodes?|machines?|servers?|instances?)(?![ -]?(?:groups?|pools?)\b)"
    m = re.search(rf"\b(add|remove|drop|take away|take off)\s+{_N}\s+(?:more\s+|extra\s+|additional\s+)?{unit}", low)
    if m and _n(m.group(2)) is not None:
        n = _n(m.group(2)) or 0
        return (n if m.group(1) == "add" else -n), None
    m = re.search(rf"\b{_N}\s+(more|extra|additional|fewer|less)\s+{unit}", low)
    if m and _n(m.group(1)) is not None:
        n = _n(m.group(1)) or 0
        return (n if m.group(2) in ("more", "extra", "additional") else -n), None
    if re.search(rf"\banother\s+{unit}", low):
        return 1, None
    m = re.search(rf"\bby\s+{_N}(\s+(more|fewer|less))?\b", low)
    if m and _n(m.group(1)) is not None:
        n = _n(m.group(1)) or 0
        up = m.group(3) == "more" or any(w in req.words for w in _UP)
        down = m.group(3) in ("fewer", "less") or any(w in req.words for w in _DOWN)
        if up == down:
            return None, Answer(f"Should I add {n} or remove {n}? Say for example “Scale it up by {n}” or “Scale "
                                f"it down by {n}”, or give the total.")
        return (n if up else -n), None
    return None, None


# -- node groups ----------------------------------------------------------------------------------


def _node_groups(req: _Req) -> Decision | None:
    gi = req.index("node-group", "node-groups")
    if gi is None:
        if not (req.any("group", "groups") and req.any("worker", "workers", "node", "nodes")):
            return None
        gi = req.index("group", "groups")
        assert gi is not None
    group_i = _object_name(req, ("node-group", "node-groups", "group", "groups"), stop=_GROUP_STOP)
    exclude = {group_i} if group_i is not None else set()
    ti = req.index("type", "server-type", "instance-type", "flavor", "flavour", "plan")
    itype = None
    if ti is not None and ti + 1 < len(req.words) and _NAME_RE.match(req.words[ti + 1]):
        itype = req.toks[ti + 1].orig
        exclude.update({ti, ti + 1})
    delta, dq = _delta(req)
    count_i, count = (None, None) if delta is not None else _count_target(req, exclude)
    if count_i is not None:
        exclude.add(count_i)
    markers = {**_DEFAULT_MARKERS, "to": _WEAK}
    group = req.words[group_i] if group_i is not None else None

    relative_nodes = req.has(r"\bnodes? (to|from) (the )?[a-z0-9-]+ node.group")
    if req.any("add", "create", "new") and not relative_nodes and delta is None:
        spec = INTENTS["cluster.node_group.add"]
        cluster, problem = _cluster_ref(req, what="add the node group to", markers=markers, exclude=exclude,
                                        example=spec.example)
        if problem:
            return problem
        assert cluster is not None
        if count is not None and count > _MAX_COUNT:
            return _too_many(count, "nodes")
        slots: dict[str, Any] = {"group": group, "instance_type": itype, "count": count}
        return plans.by_id(spec.name, cluster, req.ctx, {k: v for k, v in slots.items() if v is not None})

    if req.any("delete", "remove", "destroy", "drop") and delta is None:
        spec = INTENTS["cluster.node_group.delete"]
        cluster, problem = _cluster_ref(req, what="delete the node group from", markers=markers,
                                        exclude=exclude, destructive=True, example=spec.example)
        if problem:
            return problem
        assert cluster is not None
        if group is None:
            return Answer(spec.ask("group", cluster=cluster), suggestions=[f"List the node groups of {cluster}"])
        return plans.by_id(spec.name, cluster, req.ctx, {"group": group})

    if req.any("scale", "resize", "set", "grow", "shrink", "increase", "decrease", "reduce") or delta is not None \
            or dq is not None:
        spec = INTENTS["cluster.node_group.scale"]
        cluster, problem = _cluster_ref(req, what="scale the node group on", markers=markers, exclude=exclude,
                                        example=spec.example)
        if problem:
            return problem
        assert cluster is not None
        if group is None:
            return Answer(spec.ask("group", cluster=cluster), suggestions=[f"List the node groups of {cluster}"])
        if dq is not None:
            return dq
        if count is None and delta is None:
            return Answer(spec.ask("count", cluster=cluster, group=group))
        if count is not None and count > _MAX_COUNT:
            return _too_many(count, "nodes")
        change = {"target": count} if count is not None else {"delta": delta}
        return plans.by_id(spec.name, cluster, req.ctx, {"group": group, **change})

    spec = INTENTS["cluster.node_group.list"]
    cluster, problem = _cluster_ref(req, what="list the node groups of", markers=markers, exclude=exclude,
                                    example=spec.example)
    if problem:
        return problem
    assert cluster is not None
    return plans.by_id(spec.name, cluster, req.ctx, {})


# -- workers and scaling --------------------------------------------------------------------------

_SCALE_VERBS = ("scale", "resize", "rescale", "drop", "shrink", "grow", "reduce", "increase", "decrease", "bump",
                "cut", "lower", "raise")


def _scale(req: _Req) -> Decision | None:
    delta, dq = _delta(req)
    to_only = req.has(rf"^(please )?(drop|cut|reduce|shrink|lower|bring|take|scale)( it| them)?( down| back)? to {_N}$")
    if not (req.any("scale", "resize", "rescale") or delta is not None or to_only or
            req.has(r"\b(set|change|increase|decrease|reduce|grow|shrink|bump|drop|cut|lower|raise|bring)\b.*"
                    r"\b(workers?|nodes?|worker count)\b")):
        return None
    if req.any("replica", "replicas", "pod", "pods", "deployment") and not req.any("worker", "workers", "node", "nodes"):
        return None
    spec = INTENTS["cluster.scale"]
    count_i, count = (None, None) if delta is not None or dq is not None else _count_target(req, set())
    exclude = {count_i} if count_i is not None else set()
    cluster, problem = _cluster_ref(req, what="scale", markers={**_DEFAULT_MARKERS, "to": _WEAK}
                                    if delta is not None else None,
                                    verbs=_SCALE_VERBS, exclude=exclude, example=spec.example)
    if problem:
        return problem
    assert cluster is not None
    if dq is not None:
        return dq
    if delta is not None:
        return plans.by_id(spec.name, cluster, req.ctx, {"delta": delta})
    if count is None:
        return Answer(spec.ask("count", cluster=cluster), suggestions=[f"How many workers does {cluster} have?"])
    if count > _MAX_COUNT:
        return _too_many(count, "workers")
    return plans.by_id(spec.name, cluster, req.ctx, {"target": count}, provider=_provider_word(req))


def _provider_word(req: _Req) -> str | None:
    return next((p for p in plans.WORKER_PROVIDERS if p in req.words), None)


def _workers(req: _Req) -> Decision | None:
    if not (req.any("workers", "worker", "worker-count") or req.has(r"\bhow many nodes\b")):
        return None
    spec = INTENTS["cluster.workers"]
    cluster, problem = _cluster_ref(req, what="count the workers of", verbs=("does", "has"), example=spec.example)
    if problem:
        return problem
    assert cluster is not None
    return plans.by_id(spec.name, cluster, req.ctx, {}, provider=_provider_word(req))


# -- tokens ---------------------------------------------------------------------------------------


def _tokens(req: _Req) -> Decision | None:
    ti = req.index("token", "tokens")
    if ti is None or req.has(r"\bcluster\b.*\b(create|provision)\b|\b(create|provision)\b.*\bcluster\b"):
        return None
    if req.any("revoke", "delete", "remove", "invalidate", "disable"):
        spec = INTENTS["tokens.revoke"]
        api = {i for i, w in enumerate(req.words) if w == "api"}
        j = _object_name(req, ("token", "tokens", "id"), pattern=_ID_RE, exclude=api)
        if j is None:
            return Answer(spec.ask("token"), suggestions=["List my API tokens"])
        token = req.toks[j].orig
        argv = build("tokens list")
        return run(spec.name, argv, "List API tokens (to find the token)",
                   summary=f"Checking token {token} before revoking it: running `{display(argv)}`...",
                   then=ResumeRules(intent=spec.name, params={"token": token}))
    if req.any("create", "new", "generate", "issue", "make", "mint"):
        spec = INTENTS["tokens.create"]
        j = _object_name(req, ("token", "tokens", "named", "called", "for"))
        if j is not None and req.words[j] == "api":
            j = _object_name(req, ("named", "called", "for"), exclude={j})
        if j is None:
            return Answer(spec.ask("name"))
        name = req.words[j]
        date = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", req.low)
        argv = build("tokens create", {"name": name}, {"--expires": date.group(1) if date else None})
        return run(spec.name, argv, f"Create API token {name}",
                   summary=f"Creating API token {name}: running `{display(argv)}`... The token value is "
                           "shown once by Ankra and withheld from chat.")
    return run("tokens.list", build("tokens list"), "List API tokens")


# -- stacks ---------------------------------------------------------------------------------------


def _check_stack(intent: str, cluster: str, stack: str, **more: Any) -> Propose:
    argv = build("cluster stacks list", flags={"--cluster": cluster})
    doing = {"stacks.delete": "deleting it", "stacks.rename": "renaming it", "stacks.clone": "cloning it"}[intent]
    return run(intent, argv, f"List stacks on {cluster} (to check {stack})", cluster,
               summary=f"Checking stack {stack} on {cluster} before {doing}: running `{display(argv)}`...",
               then=ResumeRules(intent="stacks.check",
                                params={"cluster": cluster, "stack": stack, "next": intent,
                                        **{k: v for k, v in more.items() if v is not None}}))


def _stacks(req: _Req) -> Decision | None:
    si = req.index("stack", "stacks")
    if si is None:
        return None
    words = req.words
    name_i = _object_name(req, ("stack", "stacks"))
    clusters = req.ctx.clusters
    if name_i is not None and words[si] == "stacks" and clusters is not None and \
            _match(words[name_i], clusters, loose=False):
        name_i = None  # "production stacks": the cluster's stacks, not a stack called production
    # "create a monitoring stack": building goes through the designer (stacks create is removed).
    building = req.any("create", "build", "deploy", "new", "add", "make", "install", "setup", "provision") or \
        req.has(r"\bset up\b")
    if building and not req.any("delete", "remove", "rename", "clone", "copy", "history"):
        cluster, problem = _cluster_ref(req, what="build the stack on", required=False,
                                        exclude={name_i} if name_i is not None else set(),
                                        markers={**_DEFAULT_MARKERS, "to": _STRONG})
        if problem:
            return problem
        return DesignGoal(goal=req.text.strip(), cluster=cluster, environment=_environment(cluster, req))
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
        assert cluster is not None
        return _check_stack("stacks.rename", cluster, stack, new_name=new)

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
        new_name = words[as_i] if as_i is not None and _NAME_RE.match(words[as_i]) and \
            words[as_i] not in _OBJECT_STOP else None
        return _check_stack("stacks.clone", source, stack, to=target, **{"as": new_name})

    if req.any("delete", "remove", "destroy", "drop", "uninstall", "teardown") or req.has(r"\btear down\b"):
        cluster, problem = _cluster_ref(req, what="delete the stack from", exclude=exclude, destructive=True,
                                        example="Delete the monitoring stack from staging-cluster")
        if problem:
            return problem
        if stack is None:
            return Answer(INTENTS["stacks.delete"].ask("stack", cluster=cluster),
                          suggestions=[f"List the stacks on {cluster}"])
        assert cluster is not None
        return _check_stack("stacks.delete", cluster, stack)

    if req.any("history", "changes", "changed", "changelog", "log", "audit", "revisions"):
        cluster, problem = _cluster_ref(req, what="show the stack history on", exclude=exclude,
                                        example="Show the history of stack monitoring on production")
        if problem:
            return problem
        if stack is None:
            return Answer(f"The history of which stack on {cluster}? Say for example “Show the history of "
                          f"stack monitoring on {cluster}”.", suggestions=[f"List the stacks on {cluster}"])
        return run("stacks.history", build("cluster stacks history", {"stack": stack}, {"--cluster": cluster}),
                    f"Show the history of stack {stack} on {cluster}", cluster)

    cluster, problem = _cluster_ref(req, what="list the stacks of", exclude=exclude,
                                    example="List the stacks on production")
    if problem:
        return problem
    if stack is not None and words[si] == "stack":
        return run("stacks.list", build("cluster stacks list", {"stack": stack}, {"--cluster": cluster}),
                    f"Show stack {stack} on {cluster}", cluster)
    return run("stacks.list", build("cluster stacks list", flags={"--cluster": cluster}),
                f"List stacks on {cluster}", cluster)


def _create_cluster(req: _Req) -> Decision | None:
    if not req.any("cluster") or req.any("stack", "stacks") or \
            req.has(r"\b(active|current|default|selected) cluster\b"):
        return None
    if not (req.any("create", "provision", "launch", "new", "build", "make") or
            req.has(r"\bspin up\b|\bset up a\b|\bsetup a\b|\bstart a\b")):
        return None
    return plans.create(_create_slots(req))


def _create_slots(req: _Req) -> dict[str, Any]:
    """The slots of a cluster creation the message gives (provider, name, credential, location, …)."""
    words = req.words
    provider = next((p for p in PROVIDERS if p in words), None)
    used: set[int] = set()
    params: dict[str, Any] = {}
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
                params["workers"] = _int(words[k])
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
    if provider is not None:
        params["provider"] = provider
    return params


_EVERY = r"\b(every|each|all)\s+(of\s+)?(the\s+|my\s+|our\s+)?clusters?\b|\bclusters? overview\b|" \
         r"\boverview of (all |my |our |the )?clusters\b|\bclusters (we|i) (run|have|own)\b"


def _list_clusters(req: _Req) -> Decision | None:
    text = req.low
    listing = re.search(r"\bclusters\b", text) and re.search(
        r"\b(list|show|what|which|see|display|get|give|all|my|our|every|any)\b", text)
    if listing or re.search(_EVERY, text) or re.fullmatch(r"(please )?(list|show|my|our)?\s*clusters", text):
        argv = build("cluster list")
        return run("cluster.list", argv, "List all clusters")
    return None


def _cluster_question(req: _Req) -> Decision | None:
    """A question that names a known cluster and nothing else matched: ask Ankra AI."""
    if not (req.text.strip().endswith("?") or req.has(r"^(how|what|which|is|are|does|do|can|where|when)\b")):
        return None
    clusters = req.ctx.clusters
    named = clusters is not None and any(_match(w, clusters, loose=False) for w in req.words if _could_be_cluster(w))
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


_SIZES = r"\b\d+(\.\d+)?\s*(gi|gib|gb|mi|mib|mb|ti|tib|tb|vcpus?|cpus?|cores?)\b"


def _long_goal(req: _Req) -> Decision | None:
    """A goal in several words and components ("a Django app with Celery workers, Postgres with two read
    replicas and 100Gi…") is a design request with the whole text, never a command on a word inside it."""
    words = req.words
    terms = {w for w in words if w in _DESIGN_TERMS or w in APP_TERMS}
    sizes = req.has(_SIZES)
    goalish = req.has(_GOAL_RE) or req.has(r"\b(we'?re|we are|i'?m|i am) (building|running|launching|shipping)\b")
    long_ = len(words) >= 16
    if not ((long_ and (terms or sizes) and goalish) or (len(terms) >= 2 and sizes and goalish) or
            (len(words) >= 30 and len(terms) >= 2)):
        return None
    if req.ctx.has_design and not _fresh_goal(req) and not req.has(r"\b(new|another|second|different) (app|goal)\b"):
        return ReviseDesign(req.text.strip())
    cluster, problem = _cluster_ref(req, what="build it on", required=False,
                                    markers={**_DEFAULT_MARKERS, "to": _STRONG, "in": _STRONG})
    if problem is not None:
        cluster = None  # a name the goal mentions in passing: the designer asks when it needs one
    return DesignGoal(goal=req.text.strip(), cluster=cluster, environment=_environment(cluster, req))


def _interpret(req: _Req) -> Decision | None:
    goal = _long_goal(req)
    if goal is not None:
        return goal
    result: Decision | None = None
    for rule in _RULES:
        result = rule(req)
        if result is not None:
            break
    revising = req.ctx.has_design and _looks_like_revision(req) and not req.override
    if revising and (result is None or (isinstance(result, DesignGoal) and not _fresh_goal(req))):
        return ReviseDesign(req.text.strip())
    return result


# -- help -------------------------------------------------------------------------------------------


def _help(req: _Req) -> Answer | None:
    if any(re.search(p, req.low) for p in INTENTS["help"].phrasings) or req.low in ("help me", "help please",
                                                                                   "please help", "hermes help"):
        return Answer("\n".join(["Here is what I can do (I'll confirm anything that changes something):",
                                 *help_lines(),
                                 ("You can also ask several things at once, e.g. “List my clusters and then "
                                  "show my API tokens”.")]),
                      suggestions=list(EXAMPLES))
    return None


def help_answer(text: str, req: _Req | None = None) -> Answer:
    """What Hermes says when it does not understand: what it understood, what it can do, with examples."""
    shown = text.strip()
    if len(shown) > 120:
        shown = shown[:117] + "..."
    lines = [f"I did not understand “{shown}”." if shown else "Tell me what you need."]
    if req is not None and req.words:
        known = [c.name for c in req.ctx.clusters or () if any(_match(w, (c,), loose=False) for w in req.words
                                                             if _could_be_cluster(w))]
        if known:
            lines.append(f"I recognised the cluster {known[0]}, but not what to do with it: for example "
                         f"“Reconcile {known[0]}”, “List the stacks on {known[0]}” or “Is {known[0]} healthy?”.")
        near = closest_examples(shown) if len(req.words) >= 2 else []
        if near:
            lines.append(f"Did you mean “{near[0]}”?")
    lines[-1] += " Here is what I can do now:"
    lines += help_lines()
    return Answer("\n".join(lines), suggestions=list(EXAMPLES))


# -- several requests in one message -------------------------------------------------------------

_THEN = re.compile(r"\s*[,.]?\s*\b(?:and then|and after that|after that|afterwards|then|and also|also|plus)\b"
                   r"[\s,]*", re.IGNORECASE)
_AND = re.compile(r"\s*,?\s+and\s+|\s*,\s+(?=[a-z])|(?<=[a-z0-9?!])[.?!]\s+", re.IGNORECASE)


def _parts(text: str, pattern: re.Pattern[str]) -> list[str]:
    return [p.strip(" ,.") for p in pattern.split(text) if p and p.strip(" ,.")]


def _single(text: str, ctx: Context) -> Decision:
    req = _Req(text, ctx)
    for early in (_approvals, _same_on, _profiles):
        result = early(req)
        if result is not None:
            return result
    return _interpret(req) or help_answer(text, req)


def _several(text: str, ctx: Context, whole: Decision | None) -> Decision | None:
    """Several requests in one message: one plan with their steps in order, or None when it is one request."""
    if isinstance(whole, (DesignGoal, ReviseDesign, ApprovalAnswer, SwitchProfile)):
        return None
    strong = _parts(text, _THEN)
    if len(strong) >= 2:
        return _combine(strong, ctx, strict=False)
    weak = _parts(text, _AND)
    if len(weak) >= 2 and not (isinstance(whole, Answer) and whole.pending is not None):
        return _combine(weak, ctx, strict=True)
    return None


def _combine(parts: list[str], ctx: Context, *, strict: bool) -> Decision | None:
    decided: list[tuple[str, Decision]] = []
    last = ctx.last_cluster
    previous: str | None = None
    for part in parts:
        pctx = replace(ctx, last_cluster=last)
        decision = _single(part, pctx)
        if not isinstance(decision, Propose) and previous is not None:
            alone = _Req(part, pctx)
            # "reconcile staging and production": the same request on another cluster
            if alone.words and all(_could_be_cluster(w) or w in _DETERMINERS or w in ("cluster", "too")
                                   for w in alone.words):
                name, problem = _resolve_word(alone, next(i for i, w in enumerate(alone.words)
                                                          if _could_be_cluster(w))) \
                    if any(_could_be_cluster(w) for w in alone.words) else (None, None)
                if name:
                    decision = _interpret(_Req(previous, replace(pctx, last_request=None), override=name)) or decision
                elif problem is not None:
                    decision = problem
        decided.append((part, decision))
        if isinstance(decision, Propose):
            last = decision.cluster or last
            previous = part
    proposals = [(p, d) for p, d in decided if isinstance(d, Propose)]
    if strict and len(proposals) != len(decided):
        return None
    if not proposals:
        return None
    if len(decided) == 1:
        return decided[0][1]
    steps: list = []
    intents: list[str] = []
    notes: list[str] = []
    then = None
    cluster = None
    stopped_at: int | None = None
    for k, (part, d) in enumerate(decided):
        if not isinstance(d, Propose):
            first = d.text.split("\n")[0] if isinstance(d, Answer) else type(d).__name__
            notes.append(f"I left out “{part}”: {first}")
            continue
        if d.then is not None:
            rest = [p for p, _ in decided[k + 1:]]
            for s in d.steps:  # the read a continuation needs comes last, once
                steps = [x for x in steps if x.argv != s.argv]
            steps += d.steps
            then = d.then
            intents.append(d.intent)
            cluster = d.cluster or cluster
            if rest:
                stopped_at = k
                notes.append("I'll stop after that: “" + d.summary.split("\n")[0].rstrip(".") + "” needs its result "
                             "first, so ask for " + " and ".join(f"“{r}”" for r in rest) + " again once it is done.")
            break
        for s in d.steps:
            if all(x.argv != s.argv for x in steps):
                steps.append(s)
        intents.append(d.intent)
        cluster = d.cluster or cluster
    del stopped_at
    summary = plans.describe(steps) + ("\n" + "\n".join(notes) if notes else "")
    return Propose("+".join(intents), steps, summary[:4000], cluster=cluster, then=then)


# -- a question back waiting for its answer ------------------------------------------------------

_FILLER = re.compile(r"^(?:(?:ok|okay|sure|yes|yeah|right|well|so|then|please|hmm|fine)[,!.]?\s+)*(?:(?:let'?s\s+)?"
                     r"(?:use|take|pick|choose|go with|try|it'?s|it is|that'?s|with|in|at|on|call it|name it|"
                     r"named|called|the|a|an|credential|credentials|cred|ssh key|ssh-key|key|location|region|zone|"
                     r"id|name|type|instance type|provider|on)\s+)*", re.IGNORECASE)
_CANCEL = re.compile(r"^(cancel|never ?mind|forget (it|that)|stop|abort|drop it)( (it|that|this))?( please)?$")


def _continue_pending(text: str, ctx: Context, pending: PendingRequest) -> Decision | None:
    """The answer to the question Hermes asked last: fill the slot and go on, or None for a new request."""
    low = _normalise(text)
    label = pending.intent.replace(".", " ").replace("_", " ")
    if _CANCEL.match(low) and not ctx.pending_approval_ids:
        return Answer(f"OK, I dropped the {label} request; nothing was changed.")
    if approval_answer(text) is not None:
        return None
    value = _pending_value(text, pending)
    slots = dict(pending.slots)
    if pending.intent == "cluster.create":
        extra = {k: v for k, v in _create_slots(_Req(text, ctx)).items() if v is not None}
        if value is None and not extra:
            return None
        if value is not None:
            slots[pending.missing] = value
        slots.update({k: v for k, v in extra.items() if k != pending.missing or value is None})
        return plans.create(slots)
    if value is None:
        return None
    slots[pending.missing] = value
    if pending.intent == "cluster.node_group.add":
        return plans.node_group_add(slots)
    return None


def _pending_value(text: str, pending: PendingRequest) -> Any:
    rest = _FILLER.sub("", text.strip()).strip().strip(".!?\"'“”")
    if not rest or len(rest.split()) > 2 or unsafe_characters(rest):
        return None
    word = rest.split()[0]
    if (word.lower() in _BASE_STOP or word.lower() in _CLUSTER_STOP - {"default"}) and pending.missing != "provider":
        return None
    choices = {c.lower(): c for c in pending.choices}
    if word.lower() in choices:
        value: Any = choices[word.lower()]
    elif choices and (near := near_name(word, choices, cutoff=85)):
        value = near
    else:
        value = word
    if pending.missing == "provider":
        key = value.lower()
        return key if key in PROVIDERS else near_name(key, {p: p for p in PROVIDERS}, cutoff=75)
    if pending.missing in ("count", "workers"):
        return _int(word.lower())
    if pending.missing in ("name", "group"):
        return value.lower() if _K8S_NAME_RE.match(value.lower()) else None
    return value if _ID_RE.match(value) else None


# -- the entry points -----------------------------------------------------------------------------


def _refuse_unsafe(text: str, decision: Decision) -> Decision:
    """A name that carries shell-like, control or look-alike characters is never resolved: refuse."""
    problem = unsafe_characters(text)
    if problem is None:
        return decision
    if isinstance(decision, Propose) and all(i in _FREE_TEXT for i in decision.intent.split("+")):
        return decision  # free text: sanitised into the question, never a name
    if isinstance(decision, (Propose, SwitchProfile, Answer)):
        return Answer(f"I won't run that: your message contains {problem}, and I only pass plain names (letters, "
                      "digits, “-”, “_”, “.”) to commands. Nothing was run. Say it again with plain names, e.g. "
                      "“Reconcile the production cluster”.", kind="error", suggestions=list(EXAMPLES[:2]))
    return decision


def interpret(text: str, context: Context | None = None) -> Decision:
    """Turn a person's message into a decision: commands, an answer in words, a switch, a design…"""
    ctx = context or Context()
    if not text or not text.strip():
        return help_answer(text or "")
    try:
        return _refuse_unsafe(text, _decide(text, ctx))
    except CommandRefused as exc:
        return Answer(f"I understood the request, but a value in it is not one Ankra accepts: {exc}. Nothing was "
                      "run. Say it again with a plain name or number.", kind="error")


def _decide(text: str, ctx: Context) -> Decision:
    if ctx.pending_request is not None:
        filled = _continue_pending(text, ctx, ctx.pending_request)
        if filled is not None:
            return filled
    req = _Req(text, ctx)
    for early in (_approvals, _help, _same_on, _profiles):
        result = early(req)
        if result is not None:
            return result
    result = _interpret(req)
    several = _several(text, ctx, result)
    if several is not None:
        return several
    if result is not None:
        return result
    if _looks_like_revision(req) and any(w in _DESIGN_NOUNS for w in req.words) and req.words \
            and req.words[0] in _REVISE_VERBS:
        return Answer("There is no drafted architecture to change yet. Tell me the goal first, e.g. “My app "
                      "needs a Postgres database and a Redis cache on staging. Set it up.”",
                      suggestions=[EXAMPLES[-1]])
    return help_answer(text, req)


class RulesEngine:
    """The rules engine behind the `Engine` protocol: no model, no key, no cost."""

    name = "rules"

    async def next(self, text: str, context: Context) -> Decision:
        return interpret(text, context)

    async def resume(self, then: ResumeRules, result: ExecutionResult, context: Context) -> Decision:
        outputs = [StepOutput(s.command, s.exit_code, s.stdout, s.data) for s in result.steps]
        try:
            return resume(then, outputs, context)
        except CommandRefused as exc:
            return Answer(f"I could not build the next command: {exc}. Nothing was changed.", kind="error")

    async def close(self) -> None:
        return None
