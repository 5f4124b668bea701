"""The rules engine's whole vocabulary: plain-language phrasings mapped to exact results.

Context for the table: the clusters of the guide's example (`staging-cluster` on Hetzner, `production`
on OVH) and the guide's profiles. Every argv an `Propose` carries must parse against the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from hermes import catalog
from hermes_planner.engines.rules import engine as rules
from hermes_planner.engines.rules.engine import (
    Answer,
    ApprovalAnswer,
    ClusterFact,
    Context,
    DesignGoal,
    Propose,
    ResumeRules,
    ReviseDesign,
    StepOutput,
    SwitchProfile,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CLUSTERS = (
    ClusterFact("staging-cluster", "hetzner", "c-stg"),
    ClusterFact("production", "ovh", "c-prd"),
)
BASE = Context(clusters=CLUSTERS, profiles=("default", "production", "sandbox"))
CONTEXTS = {
    "base": BASE,
    "none": Context(),  # nothing known: names are taken as written
    "last": replace(BASE, last_cluster="production"),
    "design": replace(BASE, has_design=True, last_cluster="staging-cluster"),
    "pending": replace(BASE, pending_approval_ids=("ap-1",)),
    "pending2": replace(BASE, pending_approval_ids=("ap-1", "ap-2")),
}


@dataclass(frozen=True)
class Run:
    """An Propose with exactly these argv lists (and, optionally, this continuation)."""

    intent: str
    argv: list[str]
    cluster: str | None = None
    continuation: tuple[str, dict] | None = None


@dataclass(frozen=True)
class Asks:
    """An Answer (a question back or a refusal) whose text contains every fragment."""

    fragments: tuple[str, ...]


def asks(*fragments: str) -> Asks:
    return Asks(fragments)


S, P = "staging-cluster", "production"

TABLE: list[tuple[str, str, object]] = [
    # --- clusters: list, info, select, reconcile
    ("List my Ankra clusters", "base", Run("cluster.list", ["cluster", "list"])),
    ("what clusters do I have?", "base", Run("cluster.list", ["cluster", "list"])),
    ("show all clusters", "none", Run("cluster.list", ["cluster", "list"])),
    ("Reconcile the production cluster", "base", Run("cluster.reconcile", ["cluster", "reconcile", P], P)),
    ("Reconcile the production cluster", "none", Run("cluster.reconcile", ["cluster", "reconcile", P], P)),
    ("resync prod", "base", Run("cluster.reconcile", ["cluster", "reconcile", P], P)),
    ("sync staging", "base", Run("cluster.reconcile", ["cluster", "reconcile", S], S)),
    ("trigger a reconciliation of staging-cluster", "base", Run("cluster.reconcile", ["cluster", "reconcile", S], S)),
    ("reconcile it", "last", Run("cluster.reconcile", ["cluster", "reconcile", P], P)),
    ("Show the details of the production cluster", "base", Run("cluster.info", ["cluster", "info", P], P)),
    ("get production", "base", Run("cluster.info", ["cluster", "info", P], P)),
    ("describe staging", "base", Run("cluster.info", ["cluster", "info", S], S)),
    ("tell me about prod", "base", Run("cluster.info", ["cluster", "info", P], P)),
    ("cluster info c-stg", "base", Run("cluster.info", ["cluster", "info", S], S)),
    ("Select the staging-cluster", "base", Run("cluster.select", ["cluster", "select", S], S)),
    ("use cluster staging", "base", Run("cluster.select", ["cluster", "select", S], S)),
    ("switch to staging", "base", Run("cluster.select", ["cluster", "select", S], S)),
    # --- stacks
    ("List the stacks on production", "base", Run("stacks.list", ["cluster", "stacks", "list", "--cluster", P], P)),
    ("what stacks are on staging?", "base",
     Run("stacks.list", ["cluster", "stacks", "list", "--cluster", S], S)),
    ("list the stacks", "last", Run("stacks.list", ["cluster", "stacks", "list", "--cluster", P], P)),
    ("Show the history of stack monitoring on production", "base",
     Run("stacks.history", ["cluster", "stacks", "history", "monitoring", "--cluster", P], P)),
    ("history of the app-data stack on staging", "base",
     Run("stacks.history", ["cluster", "stacks", "history", "app-data", "--cluster", S], S)),
    # a change to a named stack reads the stacks first (issue 13): the continuation checks the name
    ("Delete the monitoring stack from staging-cluster", "base",
     Run("stacks.delete", ["cluster", "stacks", "list", "--cluster", S], S,
         ("stacks.check", {"cluster": S, "stack": "monitoring", "next": "stacks.delete"}))),
    ("remove stack web on prod", "base", Run("stacks.delete", ["cluster", "stacks", "list", "--cluster", P], P,
                                             ("stacks.check", {"cluster": P, "stack": "web", "next": "stacks.delete"}))),
    ("Rename stack web to frontend on staging", "base",
     Run("stacks.rename", ["cluster", "stacks", "list", "--cluster", S], S,
         ("stacks.check", {"cluster": S, "stack": "web", "next": "stacks.rename", "new_name": "frontend"}))),
    ("Clone stack monitoring from staging to production", "base",
     Run("stacks.clone", ["cluster", "stacks", "list", "--cluster", S], S,
         ("stacks.check", {"cluster": S, "stack": "monitoring", "next": "stacks.clone", "to": P}))),
    ("copy the monitoring stack from staging to production as monitoring-prod", "base",
     Run("stacks.clone", ["cluster", "stacks", "list", "--cluster", S], S,
         ("stacks.check", {"cluster": S, "stack": "monitoring", "next": "stacks.clone", "to": P,
                           "as": "monitoring-prod"}))),
    ("Create a monitoring stack on my staging cluster", "base", DesignGoal(
        "Create a monitoring stack on my staging cluster", S, "staging")),
    # --- Ankra AI
    ("Why are pods crashing on production?", "base",
     Run("ai.chat", ["chat", "Why are pods crashing on production?", "--cluster", P], P)),
    ("What's wrong with staging?", "base", Run("ai.chat", ["chat", "What's wrong with staging?", "--cluster", S], S)),
    ("Ask Ankra AI why the api returns 502 on production", "base",
     Run("ai.chat", ["chat", "why the api returns 502 on production", "--cluster", P], P)),
    ("find the root cause of the failing deployment on prod", "base",
     Run("ai.chat", ["chat", "find the root cause of the failing deployment on prod", "--cluster", P], P)),
    ("why are pods crashing?", "last", Run("ai.chat", ["chat", "why are pods crashing?", "--cluster", P], P)),
    ("Check the health of production", "base", Run("ai.health", ["chat", "health", "--cluster", P], P)),
    ("is staging healthy?", "base", Run("ai.health", ["chat", "health", "--cluster", S], S)),
    ("health of staging with AI analysis", "base",
     Run("ai.health", ["chat", "health", "--cluster", S, "--ai"], S)),
    ("analyse the health of prod", "base", Run("ai.health", ["chat", "health", "--cluster", P, "--ai"], P)),
    # --- charts
    ("Search charts for postgres", "base", Run("charts.search", ["charts", "search", "postgres"])),
    ("find a redis chart", "base", Run("charts.search", ["charts", "search", "redis"])),
    ("Show chart info for postgresql", "base", Run("charts.info", ["charts", "info", "postgresql"])),
    ("charts info redis", "base", Run("charts.info", ["charts", "info", "redis"])),
    ("list available charts", "base", Run("charts.list", ["charts", "list"])),
    ("show the subscribed charts", "base", Run("charts.list", ["charts", "list", "--subscribed"])),
    # --- provisioning
    # a creation reads the credentials first (issue 13): the continuation resolves and checks them
    ("Create a Hetzner cluster named demo with credential cred-123 in fsn1 with 3 workers", "base",
     Run("cluster.create", ["credentials", "list"], "demo",
         ("cluster.create", {"slots": {"provider": "hetzner", "name": "demo", "credential": "cred-123",
                                       "location": "fsn1", "workers": 3}}))),
    ("Create an OVH cluster named edge with credential ovh-1 and ssh key deploy-key in GRA7", "base",
     Run("cluster.create", ["credentials", "list"], "edge",
         ("cluster.create", {"slots": {"provider": "ovh", "name": "edge", "credential": "ovh-1", "location": "GRA7",
                                       "ssh_key": "deploy-key"}}))),
    ("provision an upcloud cluster called up1 with credential uc-1, ssh key sk-1, zone de-fra1, 2 workers", "base",
     Run("cluster.create", ["credentials", "list"], "up1",
         ("cluster.create", {"slots": {"provider": "upcloud", "name": "up1", "credential": "uc-1",
                                       "location": "de-fra1", "ssh_key": "sk-1", "workers": 2}}))),
    # --- workers, scaling, node groups, deprovision
    ("How many workers does production have?", "base",
     Run("cluster.workers", ["cluster", "ovh", "workers", "c-prd"], P)),
    ("workers of staging", "base", Run("cluster.workers", ["cluster", "hetzner", "workers", "c-stg"], S)),
    ("how many workers does staging have", "none",
     Run("cluster.lookup", ["cluster", "list"], "staging",
         ("cluster.lookup", {"cluster": "staging", "next": "cluster.workers"}))),
    ("Scale production to 5 workers", "base",
     Run("cluster.scale", ["cluster", "ovh", "workers", "c-prd"], P, ("cluster.scale", {"cluster": P, "cluster_id": "c-prd", "target": 5}))),
    ("scale staging to 2", "base",
     Run("cluster.scale", ["cluster", "hetzner", "workers", "c-stg"], S, ("cluster.scale", {"cluster": S, "cluster_id": "c-stg", "target": 2}))),
    ("resize the staging cluster to three workers", "base",
     Run("cluster.scale", ["cluster", "hetzner", "workers", "c-stg"], S, ("cluster.scale", {"cluster": S, "cluster_id": "c-stg", "target": 3}))),
    ("scale to 3 workers", "last",
     Run("cluster.scale", ["cluster", "ovh", "workers", "c-prd"], P, ("cluster.scale", {"cluster": P, "cluster_id": "c-prd", "target": 3}))),
    ("add 2 workers to production", "base",
     Run("cluster.scale", ["cluster", "ovh", "workers", "c-prd"], P, ("cluster.scale", {"cluster": P, "cluster_id": "c-prd", "delta": 2}))),
    ("List the node groups of production", "base",
     Run("cluster.node_group.list", ["cluster", "node-group", "list", "c-prd"], P)),
    ("node groups on staging", "base", Run("cluster.node_group.list", ["cluster", "node-group", "list", "c-stg"], S)),
    ("Scale the node group workers on production to 3 nodes", "base",
     Run("cluster.node_group.scale", ["cluster", "node-group", "list", "c-prd"], P,
         ("cluster.node_group.scale", {"cluster": P, "cluster_id": "c-prd", "group": "workers", "target": 3}))),
    ("Add a node group gpu to staging-cluster with 2 nodes of type cx33", "base",
     Run("cluster.node_group.add", ["cluster", "node-group", "add", "c-stg", "--name", "gpu", "--instance-type", "cx33",
                                    "--count", "2"], S)),
    ("Delete the node group gpu from staging-cluster", "base",
     Run("cluster.node_group.delete", ["cluster", "node-group", "list", "c-stg"], S,
         ("cluster.node_group.delete", {"cluster": S, "cluster_id": "c-stg", "group": "gpu"}))),
    ("deprovision production", "base", Run("cluster.deprovision", ["cluster", "deprovision", P], P)),
    ("destroy the staging cluster", "base", Run("cluster.deprovision", ["cluster", "deprovision", S], S)),
    # --- credentials and tokens
    ("List my Hetzner credentials", "base",
     Run("credentials.list", ["credentials", "list", "--provider", "hetzner"])),
    ("list credentials", "base", Run("credentials.list", ["credentials", "list"])),
    ("show credential hetzner-main", "base", Run("credentials.get", ["credentials", "get", "hetzner-main"])),
    ("List my API tokens", "base", Run("tokens.list", ["tokens", "list"])),
    ("create a token named ci-bot", "base", Run("tokens.create", ["tokens", "create", "ci-bot"])),
    ("Create an API token for hermes-agent", "base", Run("tokens.create", ["tokens", "create", "hermes-agent"])),
    ("revoke token Tok-123", "base", Run("tokens.revoke", ["tokens", "list"], None,
                                         ("tokens.revoke", {"token": "Tok-123"}))),
    # --- profiles
    ("Switch to the production profile", "base", SwitchProfile("production")),
    ("use the sandbox profile", "base", SwitchProfile("sandbox")),
    ("switch to sandbox", "base", SwitchProfile("sandbox")),
    # --- design goals
    ("My app needs a Postgres database and a Redis cache on staging. Set it up.", "base", DesignGoal(
        "My app needs a Postgres database and a Redis cache on staging. Set it up.", S, "staging")),
    ("set up monitoring on production", "base", DesignGoal("set up monitoring on production", P, "production")),
    ("I need a database", "base", DesignGoal("I need a database", None, None)),
    ("add an ingress with TLS to staging", "base", DesignGoal("add an ingress with TLS to staging", S, "staging")),
    # --- iterating on a drafted design
    ("add a read replica", "design", ReviseDesign("add a read replica")),
    ("make Postgres storage 50Gi", "design", ReviseDesign("make Postgres storage 50Gi")),
    ("swap Redis for Valkey", "design", ReviseDesign("swap Redis for Valkey")),
    ("pin Redis to 19.6.2", "design", ReviseDesign("pin Redis to 19.6.2")),
    ("drop the cache", "design", ReviseDesign("drop the cache")),
    ("use 3 replicas", "design", ReviseDesign("use 3 replicas")),
    ("Reconcile the production cluster", "design", Run("cluster.reconcile", ["cluster", "reconcile", P], P)),
    # --- approvals
    ("y", "pending", ApprovalAnswer("approve", "ap-1")),
    ("yes", "pending", ApprovalAnswer("approve", "ap-1")),
    ("Yes, go ahead!", "pending", ApprovalAnswer("approve", "ap-1")),
    ("n", "pending", ApprovalAnswer("reject", "ap-1")),
    ("no", "pending", ApprovalAnswer("reject", "ap-1")),
    ("cancel", "pending", ApprovalAnswer("reject", "ap-1")),
    ("approve ap-7", "base", ApprovalAnswer("approve", "ap-7")),
    ("reject AB12cd", "base", ApprovalAnswer("reject", "AB12cd")),
    ("no", "pending2", ApprovalAnswer("reject", None)),
    # --- refusing to guess: it asks instead
    ("reconcile", "none", asks("Which cluster should I reconcile?", "List my Ankra clusters")),
    ("Reconcile prodution", "base", asks("I don't know a cluster called “prodution”. Did you mean “production”?")),
    ("scale prodution to 3 workers", "base", asks("Did you mean “production”?")),
    ("Reconcile the qa cluster", "base", asks("I don't know a cluster called “qa”", S, P)),
    ("Deprovision the cluster demo", "base", asks("“demo”", "Known clusters")),
    ("delete the stack on staging", "base", asks("Which stack should I delete from staging-cluster?")),
    ("delete the monitoring stack", "last", asks("Which cluster should I delete the stack from?")),
    ("deprovision it", "last", asks("Which cluster should I deprovision?")),
    ("deprovision", "base", asks("Which cluster should I deprovision?")),
    ("scale production", "base", asks("To how many workers should I scale production?", "won't guess")),
    ("scale down staging", "base", asks("To how many workers should I scale staging-cluster?")),
    ("Scale the node group workers on production", "base", asks("To how many nodes")),
    ("delete node group on staging", "base", asks("Which node group should I delete")),
    ("create a hetzner cluster", "base", asks("a name, a credential id and a location", "Create a Hetzner cluster")),
    ("Create a Hetzner cluster named demo with credential cred-1", "base",
     asks("still need a location", "name demo", "credential cred-1")),
    ("Add a node group gpu to staging-cluster with 2 nodes", "base", asks("Which instance type")),
    ("create a cluster named x", "base", asks("Which provider")),
    ("revoke the token", "base", asks("Which token should I revoke?")),
    ("create a token", "base", asks("What should the new API token be called?")),
    ("Why are pods crashing?", "base", asks("Which cluster should I ask Ankra AI about?")),
    ("switch to the prodution profile", "base", asks("I don't know a profile called “prodution”", "“production”")),
    ("switch profile to qa", "base", asks("I don't know a profile called “qa”", "“sandbox”")),
    ("switch to production", "base", asks("the “production” profile or the “production” cluster")),
    ("yes", "base", asks("nothing waiting for your approval")),
    ("go ahead", "base", asks("nothing waiting for your approval")),
    ("yes", "pending2", asks("which one?", "approve ap-1", "approve ap-2")),
    ("add a read replica", "base", asks("no drafted architecture")),
]


def _ids() -> list[str]:
    return [f"{i:03d}-{text[:40]}-{ctx}" for i, (text, ctx, _) in enumerate(TABLE)]


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 60
    refusals = [e for _, _, e in TABLE if isinstance(e, Asks)]
    assert len(refusals) >= 10


@pytest.mark.parametrize(("text", "ctx", "expected"), TABLE, ids=_ids())
def test_phrasing(text: str, ctx: str, expected: object) -> None:
    result = rules.interpret(text, CONTEXTS[ctx])
    if isinstance(expected, Run):
        assert isinstance(result, Propose), result
        assert result.intent == expected.intent
        assert [s.argv for s in result.steps] == [expected.argv]
        assert result.cluster == expected.cluster
        if expected.continuation is None:
            assert result.then is None
        else:
            assert result.then == ResumeRules(intent=expected.continuation[0], params=expected.continuation[1])
        for step in result.steps:
            catalog.parse(step.argv)
    elif isinstance(expected, Asks):
        assert isinstance(result, Answer), result
        assert result.text.strip()
        for fragment in expected.fragments:
            assert fragment in result.text
    else:
        assert result == expected


def test_every_emitted_argv_parses_against_the_catalog() -> None:
    seen = 0
    for text, ctx, _ in TABLE:
        result = rules.interpret(text, CONTEXTS[ctx])
        if isinstance(result, Propose):
            for step in result.steps:
                parsed = catalog.parse(step.argv)
                assert not set(step.argv) & {"-o", "--output", "--yes", "-y", "--config"}
                assert parsed.spec.replaced_by is None, f"{step.argv} uses a deprecated form"
                seen += 1
    assert seen >= 40


# -- results kept from the first engine (others' tests rely on them) ------------------------------


def test_no_context_keeps_the_first_engine_results() -> None:
    listing = rules.interpret("List my Ankra clusters")
    assert isinstance(listing, Propose)
    assert listing.intent == "cluster.list" and listing.steps[0].argv == ["cluster", "list"]
    assert listing.summary == "Running `ankra cluster list`..."
    reconcile = rules.interpret("Reconcile the production cluster")
    assert isinstance(reconcile, Propose)
    assert reconcile.steps[0].argv == ["cluster", "reconcile", "production"]
    assert reconcile.cluster == "production"
    # A change may wait for an approval: it is said as what it does, never as already running.
    assert reconcile.summary == "Reconcile production: `ankra cluster reconcile production`."
    bare = rules.interpret("reconcile")
    assert isinstance(bare, Answer) and "Which cluster" in bare.text
    unknown = rules.interpret("What is the meaning of life, the universe and everything")
    assert isinstance(unknown, Answer)
    assert unknown.suggestions[:2] == ["List my Ankra clusters", "Reconcile the production cluster"]
    assert "List my Ankra clusters" in unknown.text


def test_help_lists_every_category_with_an_example() -> None:
    answer = rules.help_answer("blorp")
    for example in ("List my Ankra clusters", "Reconcile the production cluster", "Why are pods crashing",
                    "Search charts", "Scale production to 5 workers", "node groups", "credentials",
                    "API tokens", "Switch to the production profile", "Postgres database", "stacks",
                    "health", "Create a Hetzner cluster"):
        assert example in answer.text, example
    assert answer.text.index("List my Ankra clusters") < answer.text.index("Reconcile the production cluster")


# -- details the table can't show -----------------------------------------------------------------


def test_create_summary_lists_every_parameter_back() -> None:
    first = rules.interpret("Create an OVH cluster named edge with credential ovh-1 and ssh key deploy-key "
                            "in GRA7 with 4 workers", BASE)
    assert isinstance(first, Propose) and first.steps[0].argv == ["credentials", "list"]
    creds = [{"id": "ovh-1", "name": "ovh main", "provider": "ovh", "available": True},
             {"id": "deploy-key", "name": "deploy", "provider": "ssh_key", "available": True}]
    result = rules.resume(first.then, [StepOutput("credentials list", 0, "", creds)])
    assert isinstance(result, Propose)
    assert result.steps[0].argv == ["cluster", "ovh", "create", "--name", "edge", "--credential-id", "ovh-1",
                                    "--region", "GRA7", "--ssh-key-credential-id", "deploy-key", "--worker-count", "4"]
    for fragment in ("name: edge", "credential id: ovh-1", "region: GRA7", "SSH key credential id: deploy-key",
                     "workers: 4"):
        assert fragment in result.summary


def test_question_is_sanitised() -> None:
    result = rules.interpret("Why is the api failing; rm -rf / `whoami` $(id) | tee x & on production?", BASE)
    assert isinstance(result, Propose) and result.intent == "ai.chat"
    question = result.steps[0].argv[1]
    for bad in "`$;|&<>\\":
        assert bad not in question
    assert question.startswith("Why is the api failing")
    assert result.steps[0].argv[2:] == ["--cluster", "production"]
    catalog.parse(result.steps[0].argv)


def test_question_never_starts_with_a_dash() -> None:
    result = rules.interpret("-- --why is production failing?", BASE)
    assert isinstance(result, Propose)
    assert not result.steps[0].argv[1].startswith("-")
    catalog.parse(result.steps[0].argv)


@pytest.mark.parametrize(("last", "argv"), [
    ("Reconcile the staging cluster", ["cluster", "reconcile", "production"]),
    ("List the stacks on staging", ["cluster", "stacks", "list", "--cluster", "production"]),
    ("Why are pods crashing on staging?", ["chat", "Why are pods crashing on production?", "--cluster", "production"]),
    ("Check the health of staging with AI analysis", ["chat", "health", "--cluster", "production", "--ai"]),
])
def test_now_the_same_on_production(last: str, argv: list[str]) -> None:
    ctx = replace(BASE, last_request=last, last_cluster="staging-cluster")
    for phrasing in ("now the same on production", "do that for prod too", "same for production"):
        result = rules.interpret(phrasing, ctx)
        assert isinstance(result, Propose), (phrasing, result)
        assert result.steps[0].argv == argv
        assert result.cluster == "production"


def test_now_the_same_for_a_design_and_for_a_scale() -> None:
    ctx = replace(BASE, last_request="set up monitoring on staging", last_cluster="staging-cluster")
    assert rules.interpret("now the same on production", ctx) == DesignGoal(
        "set up monitoring on production", "production", "production")
    ctx = replace(BASE, last_request="Scale staging to 4 workers", last_cluster="staging-cluster")
    result = rules.interpret("now the same on production", ctx)
    assert isinstance(result, Propose)
    assert result.then == ResumeRules(intent="cluster.scale", params={"cluster": "production", "cluster_id": "c-prd",
                                                                      "target": 4})


def test_now_the_same_without_a_previous_request_or_on_an_unknown_cluster() -> None:
    assert isinstance(rules.interpret("now the same on production", BASE), Answer)
    ctx = replace(BASE, last_request="Reconcile the staging cluster")
    answer = rules.interpret("now the same on prodution", ctx)
    assert isinstance(answer, Answer) and "Did you mean “production”?" in answer.text


def test_cluster_words_are_never_names() -> None:
    for text in ("reconcile the cluster", "reconcile my cluster", "reconcile on the cluster please",
                 "reconcile cluster", "reconcile our ankra cluster now"):
        for ctx in (Context(), BASE):
            result = rules.interpret(text, ctx)
            assert isinstance(result, Answer), (text, result)
            assert "Which cluster" in result.text


def test_names_are_taken_as_written_when_clusters_are_unknown() -> None:
    result = rules.interpret("Delete stack web on qa-east", Context())
    assert isinstance(result, Propose)
    # the stacks of qa-east are read first; the delete follows once "web" is found there
    assert result.steps[0].argv == ["cluster", "stacks", "list", "--cluster", "qa-east"]
    after = rules.resume(result.then, [StepOutput("cluster stacks list", 0, "", [{"name": "web"}])])
    assert isinstance(after, Propose)
    assert after.steps[0].argv == ["cluster", "stacks", "delete", "web", "--cluster", "qa-east"]


def test_ambiguous_prefix_asks() -> None:
    ctx = Context(clusters=(ClusterFact("staging-a", "hetzner"), ClusterFact("staging-b", "hetzner")))
    answer = rules.interpret("reconcile staging", ctx)
    assert isinstance(answer, Answer) and "staging-a" in answer.text and "staging-b" in answer.text


def test_workers_of_a_cluster_whose_provider_is_unknown_asks() -> None:
    ctx = Context(clusters=(ClusterFact("edge", None),))
    answer = rules.interpret("how many workers does edge have?", ctx)
    assert isinstance(answer, Answer) and "Which provider" in answer.text
    ctx = Context(clusters=(ClusterFact("edge", "imported"),))
    answer = rules.interpret("scale edge to 3 workers", ctx)
    # the providers whose workers Ankra reads come from the catalog (`cluster <provider> workers`)
    assert isinstance(answer, Answer) and all(p in answer.text for p in ("Hetzner", "OVH", "UpCloud"))


def test_a_profile_that_is_also_a_cluster_is_asked_about() -> None:
    answer = rules.interpret("switch to production", replace(BASE, clusters=None))
    assert isinstance(answer, Answer)
    assert "profile" in answer.text and "cluster" in answer.text


def test_unknown_profile_lists_the_profiles_with_default_context() -> None:
    answer = rules.interpret("Switch to the production profile")
    assert isinstance(answer, Answer) and "“default”" in answer.text


# -- resume: multi-step runs ----------------------------------------------------------------------

# Scaling carries the cluster's id (`cluster scale <cluster_id> <n>`), shown to people by its name.
SCALE = ResumeRules(intent="cluster.scale", params={"cluster": "production", "cluster_id": "c-prd", "target": 5})


def _workers_output(stdout: str, data: object | None = None, exit_code: int | None = 0) -> list[StepOutput]:
    return [StepOutput("cluster ovh workers", exit_code, stdout, data)]


def test_resume_scale_up() -> None:
    result = rules.resume(SCALE, _workers_output("Worker Count: 3\nMin: 1\nMax: 10\n"))
    assert isinstance(result, Propose)
    assert result.intent == "cluster.scale" and result.then is None
    assert [s.argv for s in result.steps] == [["cluster", "scale", "c-prd", "5"]]
    assert "scale up 3 → 5" in result.summary
    catalog.parse(result.steps[0].argv)


def test_resume_scale_down() -> None:
    result = rules.resume(ResumeRules(intent="cluster.scale", params={"cluster": "production", "cluster_id": "c-prd",
                                                                      "target": 2}),
                          _workers_output("Worker Count: 5\n"))
    assert isinstance(result, Propose)
    assert result.steps[0].argv == ["cluster", "scale", "c-prd", "2"]
    assert "scale DOWN 5 → 2" in result.summary


def test_resume_scale_reads_json_data() -> None:
    result = rules.resume(SCALE, _workers_output("", {"worker_count": 7, "min": 1, "max": 10}))
    assert isinstance(result, Propose) and "scale DOWN 7 → 5" in result.summary


def test_resume_scale_equal_is_an_answer() -> None:
    result = rules.resume(SCALE, _workers_output("Worker Count: 5\n"))
    assert isinstance(result, Answer) and "already has 5 workers" in result.text


def test_resume_scale_unparseable_is_treated_as_scale_down() -> None:
    result = rules.resume(SCALE, _workers_output("something unexpected"))
    assert isinstance(result, Propose)
    assert result.steps[0].argv == ["cluster", "scale", "c-prd", "5"]
    assert "scale DOWN" in result.summary and "unknown" in result.summary


def test_resume_after_a_failed_read_changes_nothing() -> None:
    result = rules.resume(SCALE, _workers_output("Error: unauthorized", exit_code=6))
    assert isinstance(result, Answer) and result.kind == "error"
    assert isinstance(rules.resume(SCALE, []), Answer)


def test_resume_relative_scale() -> None:
    cont = ResumeRules(intent="cluster.scale", params={"cluster": "production", "cluster_id": "c-prd", "delta": -2})
    result = rules.resume(cont, _workers_output("Worker Count: 5\n"))
    assert isinstance(result, Propose) and result.steps[0].argv == ["cluster", "scale", "c-prd", "3"]


def test_lookup_then_workers_then_scale() -> None:
    first = rules.interpret("scale production to 5 workers", Context())
    assert isinstance(first, Propose) and first.steps[0].argv == ["cluster", "list"]
    assert first.then == ResumeRules(intent="cluster.lookup", params={"cluster": "production", "target": 5, "next": "cluster.scale"})
    listing = [{"id": "c-prd", "name": "production", "provider": "ovh", "kind": "ovh"},
               {"id": "c-stg", "name": "staging-cluster", "provider": "hetzner", "kind": "hetzner"}]
    second = rules.resume(first.then, [StepOutput("cluster list", 0, "", listing)])
    assert isinstance(second, Propose)
    assert second.steps[0].argv == ["cluster", "ovh", "workers", "c-prd"]
    assert second.then == SCALE
    third = rules.resume(second.then, _workers_output("Worker Count: 3\n"))
    assert isinstance(third, Propose) and third.steps[0].argv == ["cluster", "scale", "c-prd", "5"]


def test_lookup_of_an_unlisted_cluster_is_an_answer() -> None:
    cont = ResumeRules(intent="cluster.lookup", params={"cluster": "prodution", "next": "cluster.workers"})
    result = rules.resume(cont, [StepOutput("cluster list", 0, "", [{"name": "production", "provider": "ovh"}])])
    assert isinstance(result, Answer) and "Did you mean “production”?" in result.text


def test_resume_node_group_scale() -> None:
    cont = ResumeRules(intent="cluster.node_group.scale", params={"cluster": "production", "cluster_id": "c-prd",
                                                                  "group": "workers", "target": 3})
    result = rules.resume(cont, [StepOutput("cluster node-group list", 0, "", [{"name": "workers", "count": 5}])])
    assert isinstance(result, Propose)
    assert result.steps[0].argv == ["cluster", "node-group", "scale", "c-prd", "workers", "3"]
    assert "scale DOWN 5 → 3" in result.summary
    table = "│ Name    │ Server Type │ Nodes │\n│ workers │ b3-16       │ 3     │\n"
    same = rules.resume(cont, [StepOutput("cluster node-group list", 0, table, None)])
    assert isinstance(same, Answer) and "already has 3 nodes" in same.text
    missing = rules.resume(cont, [StepOutput("cluster node-group list", 0, "", [{"name": "gpu", "count": 1}])])
    assert isinstance(missing, Answer) and "gpu" in missing.text


# -- properties -----------------------------------------------------------------------------------

_VOCAB = [
    "the", "my", "on", "to", "of", "for", "scale", "reconcile", "stack", "stacks", "delete", "cluster",
    "production", "staging", "prod", "prodution", "5", "three", "workers", "node", "group", "add",
    "chart", "search", "why", "crashing", "health", "ai", "yes", "no", "approve", "same", "now", "it",
    "profile", "switch", "use", "create", "hetzner", "ovh", "upcloud", "named", "credential", "ssh",
    "key", "in", "fsn1", ";", "`", "$", "|", "&", "--", "--cluster", "-o", "json", "token", "revoke",
    "deprovision", "history", "clone", "rename", "from", "as", "999999999", "0", "postgres", "redis",
    "set", "up", "design", "replica", "50Gi",
]
_CTX = st.sampled_from([Context(), BASE, CONTEXTS["last"], CONTEXTS["design"], CONTEXTS["pending2"],
                        replace(BASE, last_request="Reconcile the staging cluster", last_cluster="staging-cluster")])
_TEXT = st.one_of(st.text(max_size=300), st.lists(st.sampled_from(_VOCAB), max_size=14).map(" ".join))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT, ctx=_CTX)
def test_interpret_never_raises_and_never_returns_nothing(text: str, ctx: Context) -> None:
    result = rules.interpret(text, ctx)
    assert result is not None
    if isinstance(result, Answer):
        assert result.text.strip()
    if isinstance(result, Propose):
        assert result.steps
        for step in result.steps:
            catalog.parse(step.argv)
            assert len(step.title) <= 500
        assert len(result.summary) <= 4000
