"""The rules engine on real phrasings (issue 17), cluster ids (issue 18) and names checked before an
approval is asked for (issue 13): what the eval's one-line expectations cannot show."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hermes import catalog
from hermes_planner.decisions import (
    Answer,
    ClusterFact,
    Context,
    DesignGoal,
    PendingRequest,
    Propose,
    ResumeRules,
    SwitchProfile,
)
from hermes_planner.engines.rules import engine as rules
from hermes_planner.engines.rules import intents
from hermes_planner.engines.rules.resume import StepOutput

STG, PRD = "6f1c2d3e-0000-4000-8000-00000000a001", "6f1c2d3e-0000-4000-8000-00000000b002"
BASE = Context(clusters=(ClusterFact("staging-cluster", "hetzner", STG), ClusterFact("production", "ovh", PRD)),
               profiles=("default", "production", "sandbox"))


def out(command: str, data: object = None, stdout: str = "", code: int = 0) -> list[StepOutput]:
    return [StepOutput(command, code, stdout, data)]


# -- the table ------------------------------------------------------------------------------------


def test_every_intent_builds_a_current_catalog_command() -> None:
    for intent in intents.INTENTS.values():
        if intent.command and "{" not in intent.command:
            spec = catalog.spec_for(intent.command)
            assert not spec.removed and spec.replaced_by is None, intent.name
            assert intent.mutates == spec.mutates


def test_help_and_examples_come_from_the_table() -> None:
    answer = rules.interpret("help", BASE)
    assert isinstance(answer, Answer) and "Here is what I can do" in answer.text
    for intent in intents.FEATURED:
        assert intent.example in answer.text and intent.help in answer.text
    assert answer.suggestions == intents.EXAMPLES == [i.example for i in intents.FEATURED]
    assert "did not understand" not in answer.text


def test_build_refuses_what_the_catalog_refuses() -> None:
    assert intents.build("cluster reconcile", {"cluster": "production"}) == ["cluster", "reconcile", "production"]
    with pytest.raises(catalog.CommandRefused):
        intents.build("cluster reconcile", {"cluster": "prod;rm"})
    with pytest.raises(KeyError):
        intents.build("cluster reconcile", flags={"--nope": "x"})


# -- words --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["reconcile prod`id`", "reconcile pr\u043eduction", "reconcile prod\x00",
                                  "delete stack a|b on staging", "reconcile $(whoami)"])
def test_names_with_shell_control_or_look_alike_characters_are_refused(text: str) -> None:
    answer = rules.interpret(text, BASE)
    assert isinstance(answer, Answer) and answer.kind == "error"
    assert "I won't run that" in answer.text and "Nothing was run" in answer.text


def test_typos_in_the_vocabulary_are_repaired_but_names_are_not() -> None:
    listing = rules.interpret("lsit my clustres pls", Context())
    assert isinstance(listing, Propose) and listing.steps[0].argv == ["cluster", "list"]
    near = rules.interpret("reconcile prodution", BASE)
    assert isinstance(near, Answer) and "Did you mean “production”?" in near.text
    prod = rules.interpret("reconcile prod", BASE)  # "prod" is not "pod"
    assert isinstance(prod, Propose) and prod.steps[0].argv == ["cluster", "reconcile", "production"]


def test_a_message_not_understood_says_what_was_recognised() -> None:
    answer = rules.interpret("staging blorp zorb", BASE)
    assert isinstance(answer, Answer)
    assert "I recognised the cluster staging-cluster" in answer.text


# -- several requests -----------------------------------------------------------------------------


def test_several_requests_run_in_order_as_one_plan() -> None:
    plan = rules.interpret("list clusters and then show me tokens", BASE)
    assert isinstance(plan, Propose)
    assert [s.argv for s in plan.steps] == [["cluster", "list"], ["tokens", "list"]]


def test_a_part_that_needs_a_result_comes_last_and_the_rest_is_named() -> None:
    plan = rules.interpret("scale production to 5 workers and then list my clusters", BASE)
    assert isinstance(plan, Propose)
    assert [s.argv for s in plan.steps] == [["cluster", "ovh", "workers", PRD]]
    assert plan.then is not None and plan.then.intent == "cluster.scale"
    assert "“list my clusters” again" in plan.summary


def test_a_part_not_understood_is_named_not_dropped() -> None:
    plan = rules.interpret("list clusters and then blorp the zorb", BASE)
    assert isinstance(plan, Propose) and [s.argv for s in plan.steps] == [["cluster", "list"]]
    assert "I left out “blorp the zorb”" in plan.summary


def test_and_inside_one_request_does_not_split_it() -> None:
    goal = "My app needs a Postgres database and a Redis cache on staging. Set it up."
    assert rules.interpret(goal, BASE) == DesignGoal(goal, "staging-cluster", "staging")


# -- profiles -------------------------------------------------------------------------------------


def test_which_profile_names_the_active_one() -> None:
    default = rules.interpret("which profile am I using", BASE)
    assert isinstance(default, Answer) and "You are using the default profile" in default.text
    sandbox = rules.interpret("which profile am I using", replace(BASE, active_profile="sandbox"))
    assert isinstance(sandbox, Answer) and "You are using the “sandbox” profile" in sandbox.text
    assert rules.interpret("switch to sandbox mode", BASE) == SwitchProfile("sandbox")


# -- long goals -------------------------------------------------------------------------------------


def test_a_long_goal_is_a_design_request_with_the_whole_text() -> None:
    goal = ("We're building a Django app with Celery workers, a Postgres database with two read replicas and "
            "100Gi of storage, and Redis as the broker. Please set it up on staging.")
    assert rules.interpret(goal, BASE) == DesignGoal(goal, "staging-cluster", "staging")


# -- scaling: ids, relative changes -----------------------------------------------------------------


def test_relative_scaling_computes_the_target_from_the_observed_count() -> None:
    first = rules.interpret("drop staging-cluster by one worker", BASE)
    assert isinstance(first, Propose) and first.steps[0].argv == ["cluster", "hetzner", "workers", STG]
    assert first.then == ResumeRules(intent="cluster.scale",
                                     params={"cluster": "staging-cluster", "cluster_id": STG, "delta": -1})
    second = rules.resume(first.then, out("cluster hetzner workers", {"worker_count": 3}), BASE)
    assert isinstance(second, Propose) and second.steps[0].argv == ["cluster", "scale", STG, "2"]
    assert "staging-cluster" in second.summary and "scale DOWN 3 → 2" in second.summary


def test_absolute_scale_to_the_current_count_needs_nothing() -> None:
    first = rules.interpret("drop staging-cluster to 1 worker", BASE)
    assert isinstance(first, Propose) and first.then is not None
    same = rules.resume(first.then, out("cluster hetzner workers", {"worker_count": 1}), BASE)
    assert isinstance(same, Answer) and "already has 1 workers" in same.text


def test_unknown_clusters_are_looked_up_for_their_id() -> None:
    first = rules.interpret("list the node groups of production", Context())
    assert isinstance(first, Propose) and first.steps[0].argv == ["cluster", "list"]
    listing = [{"id": PRD, "name": "production", "kind": "ovh"}]
    second = rules.resume(first.then, out("cluster list", listing))
    assert isinstance(second, Propose) and second.steps[0].argv == ["cluster", "node-group", "list", PRD]


# -- names checked before an approval --------------------------------------------------------------

TOKENS = [{"id": "tok-1", "name": "ci-bot", "revoked": False}, {"id": "tok-2", "name": "old-bot", "revoked": True}]


def test_revoking_a_token_by_name_resolves_its_id() -> None:
    first = rules.interpret("revoke token ci-bot", BASE)
    assert isinstance(first, Propose) and first.steps[0].argv == ["tokens", "list"]
    second = rules.resume(first.then, out("tokens list", TOKENS))
    assert isinstance(second, Propose) and second.steps[0].argv == ["tokens", "revoke", "tok-1"]
    assert "ci-bot" in second.summary


def test_an_already_revoked_or_unknown_token_needs_no_approval() -> None:
    revoked = rules.resume(ResumeRules(intent="tokens.revoke", params={"token": "old-bot"}), out("tokens list", TOKENS))
    assert isinstance(revoked, Answer) and "already revoked" in revoked.text
    unknown = rules.resume(ResumeRules(intent="tokens.revoke", params={"token": "ci-bt"}), out("tokens list", TOKENS))
    assert isinstance(unknown, Answer) and "Did you mean “ci-bot”?" in unknown.text and "Nothing was revoked" in unknown.text


def test_deleting_a_stack_that_is_not_there_lists_the_stacks() -> None:
    first = rules.interpret("delete the monitorng stack from staging", BASE)
    assert isinstance(first, Propose) and first.then is not None
    stacks = {"stacks": [{"name": "monitoring"}, {"name": "app-data"}]}
    missing = rules.resume(first.then, out("cluster stacks list", stacks))
    assert isinstance(missing, Answer)
    assert "no stack called “monitorng” on staging-cluster" in missing.text and "monitoring, app-data" in missing.text
    assert "Did you mean “monitoring”?" in missing.text


def test_node_group_delete_checks_the_group_exists() -> None:
    first = rules.interpret("delete node group gpu from staging", BASE)
    assert isinstance(first, Propose) and first.then is not None
    ok = rules.resume(first.then, out("cluster node-group list", [{"name": "gpu", "count": 2}]))
    assert isinstance(ok, Propose) and ok.steps[0].argv == ["cluster", "node-group", "delete", STG, "gpu"]
    missing = rules.resume(first.then, out("cluster node-group list", [{"name": "cpu", "count": 2}]))
    assert isinstance(missing, Answer) and "no node group called “gpu”" in missing.text


# -- follow-ups keep the pending request -------------------------------------------------------------

CREDS = [{"id": "ovh-1", "name": "ovh main", "provider": "ovh", "available": True},
         {"id": "ovh-2", "name": "ovh spare", "provider": "ovh", "available": True},
         {"id": "key-1", "name": "deploy", "provider": "ssh_key", "available": True}]


def test_a_missing_credential_is_asked_with_the_choices_and_the_answer_completes_the_request() -> None:
    first = rules.interpret("create an OVH cluster named edge in GRA7 with ssh key key-1", BASE)
    assert isinstance(first, Propose) and first.steps[0].argv == ["credentials", "list"]
    question = rules.resume(first.then, out("credentials list", CREDS))
    assert isinstance(question, Answer) and question.pending is not None
    assert question.pending.missing == "credential" and question.pending.choices == ["ovh-1", "ovh-2"]
    assert "ovh-1" in question.text
    follow = rules.interpret("credential ovh-2", replace(BASE, pending_request=question.pending))
    assert isinstance(follow, Propose) and follow.steps[0].argv == ["credentials", "list"]  # not `credentials get`
    done = rules.resume(follow.then, out("credentials list", CREDS))
    assert isinstance(done, Propose)
    assert done.steps[0].argv == ["cluster", "ovh", "create", "--name", "edge", "--credential-id", "ovh-2",
                                  "--region", "GRA7", "--ssh-key-credential-id", "key-1"]


def test_a_missing_location_offers_the_providers_locations() -> None:
    question = rules.interpret("create a hetzner cluster named demo with credential cred-1", BASE)
    assert isinstance(question, Answer) and question.pending == PendingRequest(
        intent="cluster.create", slots={"provider": "hetzner", "name": "demo", "credential": "cred-1"},
        missing="location", choices=["fsn1", "nbg1", "hel1", "ash", "hil", "sin"])
    assert "fsn1" in question.text


def test_a_new_request_drops_the_pending_one() -> None:
    pending = PendingRequest(intent="cluster.create", slots={"provider": "ovh"}, missing="credential", choices=["ovh-1"])
    listing = rules.interpret("list my clusters", replace(BASE, pending_request=pending))
    assert isinstance(listing, Propose) and listing.steps[0].argv == ["cluster", "list"]


def test_a_credential_for_another_provider_is_refused() -> None:
    cont = ResumeRules(intent="cluster.create", params={"slots": {"provider": "ovh", "name": "edge", "location": "GRA7",
                                                                  "credential": "deploy", "ssh_key": "key-1"}})
    answer = rules.resume(cont, out("credentials list", CREDS))
    assert isinstance(answer, Answer) and "is for ssh_key" in answer.text and answer.pending is not None


def test_which_profile_names_the_configured_default_when_none_was_chosen() -> None:
    result = rules.interpret("which profile am I using", Context(profiles=("default", "staging-safe"),
                                                                 default_profile="staging-safe"))
    assert isinstance(result, Answer)
    assert "default profile “staging-safe”" in result.text
