"""The rules engine's intents, as data: one entry per command family.

Each `Intent` names the words and phrasings that trigger it, its slots (what it needs, how each is
resolved, and the question asked when one is missing), the catalog command it builds (argv always come
from `hermes.catalog` through `build`, never from a literal), whether it changes things (read from the
catalog), an example and a help line. Help, examples, the vocabulary typos are repaired to, the "did you
mean" list and the missing-slot questions are all generated from `INTENTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hermes.catalog import CommandRefused, parse, spec_for
from hermes_planner.engines.rules import words as W
from rapidfuzz import fuzz, process


@dataclass(frozen=True)
class Slot:
    """One value an intent needs: its resolver, and the question asked when it is missing."""

    name: str
    # cluster (a name from the last cluster list), cluster_id (its UUID), stack, group, token, credential,
    # count, delta, name (a new name), text (free text, sanitised), location, provider, profile
    resolver: str
    question: str = ""  # a format string over the request's other slots ({cluster}, {stack}, …)
    required: bool = True


@dataclass(frozen=True)
class Intent:
    name: str
    family: str
    command: str | None  # the catalog command it builds (None: no command, e.g. a profile switch)
    triggers: tuple[str, ...] = ()  # words that call it (also the vocabulary typos are repaired to)
    phrasings: tuple[str, ...] = ()  # regular expressions over the normalised text
    slots: tuple[Slot, ...] = ()
    example: str = ""
    help: str | None = None  # a line of the help answer (None: not listed on its own)
    reads_first: str | None = None  # catalog command read to resolve and check names before proposing
    words: tuple[str, ...] = field(default=())  # further words the intent understands (vocabulary only)

    @property
    def mutates(self) -> bool:
        """Whether the command changes anything (from the catalog, never from the words)."""
        return bool(self.command) and spec_for(self.command).mutates

    def slot(self, name: str) -> Slot:
        return next(s for s in self.slots if s.name == name)

    def ask(self, slot: str, **values: object) -> str:
        """The question for a missing slot, with the example of the intent."""
        values.setdefault("example", self.example)
        return self.slot(slot).question.format(**values)


_CLUSTER_Q = "Which cluster should I {what}?"

INTENTS: dict[str, Intent] = {i.name: i for i in (
    # -- clusters -------------------------------------------------------------------------------
    Intent("cluster.list", "clusters", "cluster list",
           triggers=("clusters", "list", "show", "overview", "every", "all", "run", "have"),
           phrasings=(r"\bclusters\b", r"\b(every|all|each) clusters?\b", r"\bcluster overview\b"),
           example="List my Ankra clusters", help="list your Ankra clusters"),
    Intent("cluster.reconcile", "clusters", "cluster reconcile",
           triggers=("reconcile", "reconciliation", "resync", "sync", "reconciling"),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="reconcile")),),
           example="Reconcile the production cluster", help="trigger a reconciliation"),
    Intent("cluster.info", "clusters", "cluster info",
           triggers=("details", "describe", "info", "information", "inspect", "about", "summary", "status"),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="describe")),),
           example="Show the details of the production cluster", help="show a cluster's details or select it"),
    Intent("cluster.select", "clusters", "cluster select",
           triggers=("select", "choose", "pick", "active", "current"),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="select")),),
           example="Select the staging-cluster"),
    # -- stacks ---------------------------------------------------------------------------------
    Intent("stacks.list", "stacks", "cluster stacks list", triggers=("stack", "stacks"),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="list the stacks of")),
                  Slot("stack", "stack", required=False)),
           example="List the stacks on production", help="list, inspect, rename, clone or delete stacks"),
    Intent("stacks.history", "stacks", "cluster stacks history",
           triggers=("history", "changes", "changelog", "audit", "revisions"),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="show the stack history on")),
                  Slot("stack", "stack", "The history of which stack on {cluster}? Say for example “Show the "
                                         "history of stack monitoring on {cluster}”.")),
           example="Show the history of stack monitoring on production"),
    Intent("stacks.delete", "stacks", "cluster stacks delete",
           triggers=("delete", "remove", "destroy", "drop", "uninstall", "teardown"),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="delete the stack from")),
                  Slot("stack", "stack", "Which stack should I delete from {cluster}? I won't guess: name it, "
                                         "e.g. “Delete the monitoring stack from {cluster}”, or “List the "
                                         "stacks on {cluster}” to see them.")),
           example="Delete the monitoring stack from staging-cluster", reads_first="cluster stacks list"),
    Intent("stacks.rename", "stacks", "cluster stacks rename", triggers=("rename",),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="rename the stack on")),
                  Slot("stack", "stack", "Which stack should I rename on {cluster}, and to what? Say for "
                                         "example “Rename stack web to frontend on {cluster}”."),
                  Slot("new_name", "name")),
           example="Rename stack web to frontend on staging-cluster", reads_first="cluster stacks list"),
    Intent("stacks.clone", "stacks", "cluster stacks clone", triggers=("clone", "copy", "duplicate"),
           slots=(Slot("stack", "stack", "Which stack should I clone, from which cluster and to which? Say for "
                                         "example “Clone stack monitoring from staging-cluster to production”."),
                  Slot("cluster", "cluster", "Which cluster should I clone stack {stack} from?"),
                  Slot("to", "cluster", "To which cluster should I clone stack {stack}? Say for example "
                                        "“Clone stack {stack} from staging-cluster to production”.")),
           example="Clone stack monitoring from staging-cluster to production", reads_first="cluster stacks list"),
    # -- Ankra AI -------------------------------------------------------------------------------
    Intent("ai.chat", "ai", "chat",
           triggers=("why", "wrong", "crashing", "failing", "broken", "errors", "debug", "troubleshoot",
                     "diagnose", "investigate", "happening", "going"),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="ask Ankra AI about")),
                  Slot("question", "text", "What should I ask Ankra AI? Say for example “{example}”.")),
           example="Why are pods crashing on production?", help="ask Ankra AI about live cluster state"),
    Intent("ai.health", "ai", "chat health",
           triggers=("health", "healthy", "unhealthy", "healthcheck", "analysis"),
           slots=(Slot("cluster", "cluster", _CLUSTER_Q.format(what="check the health of")),),
           example="Check the health of production with AI analysis", help="check cluster health"),
    # -- charts ---------------------------------------------------------------------------------
    Intent("charts.search", "charts", "charts search", triggers=("search", "find", "chart", "charts", "helm"),
           slots=(Slot("query", "text", "What should I search the charts for? Say for example “{example}”."),),
           example="Search charts for postgres", help="search and inspect Helm charts"),
    Intent("charts.info", "charts", "charts info", triggers=("chart", "version", "versions"),
           slots=(Slot("chart", "name", "Which chart? Say for example “Show chart info for postgresql”, or "
                                        "“Search charts for postgres”."),),
           example="Show chart info for postgresql"),
    Intent("charts.list", "charts", "charts list", triggers=("charts", "available", "subscribed"),
           example="List available charts"),
    # -- workers and scaling --------------------------------------------------------------------
    Intent("cluster.scale", "workers", "cluster scale",
           triggers=("scale", "resize", "rescale", "increase", "decrease", "reduce", "grow", "shrink", "drop",
                     "more", "fewer", "extra", "additional"),
           slots=(Slot("cluster", "cluster_id", _CLUSTER_Q.format(what="scale")),
                  Slot("count", "count", "To how many workers should I scale {cluster}? I won't guess a number: "
                                         "say for example “Scale {cluster} to 5 workers”, “Add 2 workers to "
                                         "{cluster}”, or “How many workers does {cluster} have?”.")),
           example="Scale production to 5 workers", help="read and scale workers (“add 2 workers”, “drop to 1”)",
           reads_first="cluster {provider} workers"),
    Intent("cluster.workers", "workers", "cluster {provider} workers",
           triggers=("workers", "worker", "many", "count"),
           slots=(Slot("cluster", "cluster_id", _CLUSTER_Q.format(what="count the workers of")),),
           example="How many workers does production have?"),
    Intent("cluster.node_group.list", "node-groups", "cluster node-group list",
           triggers=("node-group", "node-groups", "pool", "pools", "group", "groups"),
           slots=(Slot("cluster", "cluster_id", _CLUSTER_Q.format(what="list the node groups of")),),
           example="List the node groups of production", help="manage node groups"),
    Intent("cluster.node_group.add", "node-groups", "cluster node-group add",
           triggers=("add", "create", "new"),
           slots=(Slot("cluster", "cluster_id", _CLUSTER_Q.format(what="add the node group to")),
                  Slot("group", "name", "What should the new node group on {cluster} be called? Say for "
                                        "example “Add a node group gpu to {cluster} with 2 nodes of type cx33”."),
                  Slot("instance_type", "name", "Which instance type should node group {group} on {cluster} "
                                                "use? Say for example “type cx33”."),
                  Slot("count", "count", required=False)),
           example="Add a node group gpu to staging-cluster with 2 nodes of type cx33"),
    Intent("cluster.node_group.scale", "node-groups", "cluster node-group scale",
           triggers=("scale", "resize", "grow", "shrink"),
           slots=(Slot("cluster", "cluster_id", _CLUSTER_Q.format(what="scale the node group on")),
                  Slot("group", "group", "Which node group of {cluster} should I scale? Say for example “Scale "
                                         "the node group workers on {cluster} to 3 nodes”."),
                  Slot("count", "count", "To how many nodes should I scale node group {group} on {cluster}? I "
                                         "won't guess a number: say for example “Scale the node group {group} "
                                         "on {cluster} to 3 nodes”.")),
           example="Scale the node group workers on production to 3 nodes", reads_first="cluster node-group list"),
    Intent("cluster.node_group.delete", "node-groups", "cluster node-group delete",
           triggers=("delete", "remove", "destroy"),
           slots=(Slot("cluster", "cluster_id", _CLUSTER_Q.format(what="delete the node group from")),
                  Slot("group", "group", "Which node group should I delete from {cluster}? I won't guess: name "
                                         "it, e.g. “Delete the node group gpu from {cluster}”, or “List the "
                                         "node groups of {cluster}” to see them.")),
           example="Delete the node group gpu from staging-cluster", reads_first="cluster node-group list"),
    # -- lifecycle ------------------------------------------------------------------------------
    Intent("cluster.create", "lifecycle", "cluster {provider} create",
           triggers=("create", "provision", "launch", "new", "spin"),
           slots=(Slot("provider", "provider", "Which provider should the new cluster run on: {providers}? Say "
                                               "for example “{example}”."),
                  Slot("name", "name", "a name"), Slot("location", "location", "a {location_word}"),
                  Slot("credential", "credential", "a credential id"),
                  Slot("ssh_key", "credential", "an SSH key credential id"),
                  Slot("workers", "count", required=False)),
           example="Create a Hetzner cluster named demo with credential cred-123 in fsn1 with 3 workers",
           help="create or deprovision Hetzner, OVH and UpCloud clusters", reads_first="credentials list"),
    Intent("cluster.deprovision", "lifecycle", "cluster deprovision",
           triggers=("deprovision", "decommission", "destroy", "teardown", "nuke"),
           slots=(Slot("cluster", "cluster", "Which cluster should I deprovision? I won't guess or assume one "
                                             "for this: name it explicitly, e.g. “Deprovision the cluster demo”."),),
           example="Deprovision the cluster demo"),
    # -- credentials and tokens -----------------------------------------------------------------
    Intent("credentials.list", "secrets", "credentials list",
           triggers=("credentials", "credential", "creds", "cred"),
           example="List my Hetzner credentials",
           help="list credentials (metadata only: values are never shown)"),
    Intent("credentials.get", "secrets", "credentials get", triggers=("credential",),
           slots=(Slot("credential", "credential"),), example="Show credential hetzner-main"),
    Intent("tokens.list", "secrets", "tokens list", triggers=("tokens", "token"), example="List my API tokens",
           help="list, create or revoke API tokens (the value is never shown)"),
    Intent("tokens.create", "secrets", "tokens create", triggers=("create", "generate", "issue", "mint"),
           slots=(Slot("name", "name", "What should the new API token be called? Say for example “Create an "
                                       "API token named hermes-agent”."),),
           example="Create an API token named ci-bot"),
    Intent("tokens.revoke", "secrets", "tokens revoke", triggers=("revoke", "invalidate", "disable"),
           slots=(Slot("token", "token", "Which token should I revoke? Name it or give its id — say for example "
                                         "“Revoke token ci-bot”, or “List my API tokens” to see them."),),
           example="Revoke token ci-bot", reads_first="tokens list"),
    # -- no command -----------------------------------------------------------------------------
    Intent("profile.switch", "profiles", None, triggers=("profile", "profiles", "mode", "switch"),
           slots=(Slot("profile", "profile"),),
           example="Switch to the production profile", help="switch profiles (“which profile am I using?”)"),
    Intent("design", "design", None,
           triggers=("setup", "needs", "need", "want", "design", "deploy", "install"),
           example="My app needs a Postgres database and a Redis cache on staging. Set it up.",
           help="design the infrastructure your app needs (sizes and all: the whole goal goes to the designer)"),
    Intent("help", "help", None, triggers=("help", "capabilities", "commands"),
           phrasings=(r"^(help|\?|commands|menu)$", r"\bwhat (can|do) you (do|know|support)\b",
                      r"\bhow (do|can) i use you\b", r"\bwhat are your (capabilities|commands)\b"),
           example="What can you do?"),
)}


def intent(name: str) -> Intent:
    return INTENTS[name]


# -- argv, always from the catalog ---------------------------------------------------------------


def build(command: str, args: dict[str, str] | None = None, flags: dict[str, str | bool | None] | None = None,
          ) -> list[str]:
    """The argv of a catalog command: its path, then its arguments in the catalog's order, then flags.

    Raises CommandRefused when a value is not acceptable (the catalog's own check), KeyError when the
    command, an argument or a flag is not the catalog's (a bug, never the person's words).
    """
    spec = spec_for(command)
    args = dict(args or {})
    argv = list(spec.path)
    names = {a.name for a in spec.args}
    if unknown := set(args) - names:
        raise KeyError(f"`{command}` has no argument {sorted(unknown)}")
    for a in spec.args:
        value = args.get(a.name)
        if value is None:
            break
        argv.append(str(value))
    known = {f.name for f in spec.flags}
    for name, value in (flags or {}).items():
        if name not in known:
            raise KeyError(f"`{command}` has no flag {name}")
        if value is None or value is False:
            continue
        argv += [name] if value is True else [name, str(value)]
    parse(argv)  # every argv the rules engine writes is a catalog command
    return argv


def buildable(command: str, args: dict[str, str] | None = None,
              flags: dict[str, str | bool | None] | None = None) -> list[str] | None:
    """`build`, or None when a value is refused by the catalog."""
    try:
        return build(command, args, flags)
    except CommandRefused:
        return None


def has_command(command: str) -> bool:
    try:
        spec = spec_for(command)
    except KeyError:
        return False
    return not spec.removed and spec.replaced_by is None


# -- what is generated from the table ------------------------------------------------------------

FEATURED = [i for i in INTENTS.values() if i.help]
EXAMPLES = [i.example for i in FEATURED]


def help_lines() -> list[str]:
    return [f"- {i.help}, e.g. “{i.example}”" for i in FEATURED]


def vocabulary() -> frozenset[str]:
    """Every word typos are repaired to: the table's triggers and the words the engine reads."""
    words: set[str] = set()
    for i in INTENTS.values():
        words.update(i.triggers)
        words.update(i.words)
        words.update(w.lower() for w in W._TOKEN_RE.findall(i.example) if w.isalpha())
    words.update(W._BASE_STOP, W._DOMAIN, W._DESIGN_TERMS, W._DESIGN_NOUNS, W._REVISE_VERBS, W._NUMBER_WORDS)
    words.update(("what's", "whats", "wrong", "happening", "going", "mode", "using", "help", "overview",
                  "every", "worker", "nodes"))
    return frozenset(w for w in words if w.isalpha() and len(w) >= 3) - W._PROTECTED


VOCABULARY = vocabulary()


def closest_examples(text: str, limit: int = 2) -> list[str]:
    """The table's examples nearest to `text` (for "did you mean"), best first."""
    choices = [i.example for i in INTENTS.values() if i.example and i.name != "help"]
    found = process.extract(text, choices, scorer=fuzz.token_set_ratio, score_cutoff=72, limit=limit)
    return [f[0] for f in found]
