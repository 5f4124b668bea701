"""The rules engine: the guide's first requests become catalog commands; anything it does not
understand gets an answer saying what Hermes can do — never silence, never a guess."""

from __future__ import annotations

import pytest
from hermes.catalog import parse
from hermes_planner.engines.rules.engine import EXAMPLES, Answer, ClusterFact, Context, Propose, interpret

GUIDE_CLUSTERS = Context(clusters=(ClusterFact("staging-cluster", "hetzner", "c-stg"),
                                        ClusterFact("production", "ovh", "c-prd")))


def understood(text: str, context: Context | None = None) -> Propose:
    result = interpret(text, context)
    assert isinstance(result, Propose), result
    for step in result.steps:
        parse(step.argv)  # every command the rules engine writes is a catalog command
    return result


@pytest.mark.parametrize("text", [
    "List my Ankra clusters",
    "list clusters",
    "show me my clusters",
    "what clusters do I have",
    "Which clusters do we have?",
])
@pytest.mark.parametrize("context", [None, GUIDE_CLUSTERS], ids=["unknown-clusters", "known-clusters"])
def test_asking_for_the_clusters_lists_them(text: str, context: Context | None) -> None:
    result = understood(text, context)
    assert result.intent == "cluster.list"
    assert [s.argv for s in result.steps] == [["cluster", "list"]]


@pytest.mark.parametrize("text, cluster", [
    ("Reconcile the production cluster", "production"),
    ("reconcile staging-cluster", "staging-cluster"),
    ("trigger a reconciliation of production", "production"),
])
def test_reconcile_request_names_its_cluster(text: str, cluster: str) -> None:
    result = understood(text)
    assert result.intent == "cluster.reconcile"
    assert [s.argv for s in result.steps] == [["cluster", "reconcile", cluster]]
    assert result.cluster == cluster


def test_reconcile_resolves_a_short_name_against_known_clusters() -> None:
    result = understood("reconcile staging", GUIDE_CLUSTERS)
    assert [s.argv for s in result.steps] == [["cluster", "reconcile", "staging-cluster"]]


@pytest.mark.parametrize("context", [None, GUIDE_CLUSTERS], ids=["unknown-clusters", "known-clusters"])
def test_reconcile_without_a_cluster_asks_which_one(context: Context | None) -> None:
    result = interpret("reconcile", context)
    assert isinstance(result, Answer)
    assert "Which cluster" in result.text
    assert "reconcile" in result.text.lower()


def test_reconcile_of_an_unknown_cluster_does_not_guess() -> None:
    result = interpret("reconcile mars-base", GUIDE_CLUSTERS)
    assert not isinstance(result, Propose)


@pytest.mark.parametrize("text", ["hello", "asdkjh qwe zzz", "blorp?", "", "   "])
def test_unrecognised_text_gets_an_answer_listing_what_hermes_can_do(text: str) -> None:
    result = interpret(text)
    assert isinstance(result, Answer)
    assert result.text.strip()
    assert "List my Ankra clusters" in result.text
    assert "Reconcile the production cluster" in result.text
    assert result.suggestions == EXAMPLES


def test_help_answer_quotes_what_was_not_understood() -> None:
    result = interpret("asdkjh qwe zzz")
    assert "asdkjh qwe zzz" in result.text


def test_help_answer_cuts_a_very_long_message() -> None:
    result = interpret("zq " * 200)
    assert isinstance(result, Answer)
    assert "zq " * 60 not in result.text


def test_examples_start_with_the_guides_first_requests() -> None:
    assert EXAMPLES[:2] == ["List my Ankra clusters", "Reconcile the production cluster"]


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.startswith(("Switch", "My app"))])
def test_every_command_example_is_understood_as_catalog_commands(example: str) -> None:
    result = interpret(example, GUIDE_CLUSTERS)
    assert isinstance(result, Propose), result
    for step in result.steps:
        parse(step.argv)
