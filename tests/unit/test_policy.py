"""The guard's policy: the verdict for a plan comes from the catalog's risk classes and the profile,
and the strictest step wins."""

from __future__ import annotations

import json

import pytest
from hermes.catalog import COMMANDS, ArgKind, Risk, parse
from hermes.contracts import ArchitectureDraft, BillOfMaterials, BomLine, Plan, PlanStep, StepResult
from hermes.profiles import DEFAULT_PROFILE, Autonomy, Guardrails, Profile
from hermes_guard.policy import Verdict, decide, decide_step, describe
from hypothesis import given
from hypothesis import strategies as st

from tests.unit._catalog_argv import minimal_argv, valid_argv

DRAFT = ArchitectureDraft(stack="app-data", cluster="staging-cluster", tree="app-data\n└─ postgresql")
BOM = BillOfMaterials(lines=[BomLine(component="postgresql", chart="bitnami/postgresql-ha")])

# The guide's profiles, pasted as the guide writes them.
GUIDE_PROFILES = json.loads("""
{
  "profiles": {
    "production": {
      "model": "claude-sonnet-4-20250514",
      "skills": ["ankra"],
      "autonomy": "confirm-all",
      "guardrails": {
        "require_confirmation": ["delete", "deprovision", "scale-down"],
        "require_architecture_draft": true,
        "require_bill_of_materials": true
      }
    },
    "sandbox": {
      "model": "claude-sonnet-4-20250514",
      "skills": ["ankra"],
      "autonomy": "auto",
      "guardrails": {
        "require_confirmation": ["deprovision"]
      }
    }
  }
}
""")["profiles"]
PRODUCTION = Profile(name="production", **GUIDE_PROFILES["production"])
SANDBOX = Profile(name="sandbox", **GUIDE_PROFILES["sandbox"])
READ_ONLY = Profile(name="viewer", autonomy=Autonomy.READ_ONLY)
CONFIRM_ALL = Profile(name="careful", autonomy=Autonomy.CONFIRM_ALL)
AUTO = Profile(name="free", autonomy=Autonomy.AUTO)
AUTO_SCALE_DOWN = Profile(name="free-but-down", autonomy=Autonomy.AUTO,
                          guardrails=Guardrails(require_confirmation=["scale-down"]))

READ = ["cluster", "list"]
RECONCILE = ["cluster", "reconcile", "production"]
SCALE = ["cluster", "scale", "production", "5"]
DEPROVISION = ["cluster", "deprovision", "production"]
STACK_DELETE = ["cluster", "stacks", "delete", "app-data", "--cluster", "production"]
APPLY = ["cluster", "apply", "-f", "stack.yaml", "--cluster", "staging-cluster"]
STACK = {"stack.yaml": "stack:\n  name: app-data\n"}  # the file a plan carries for `-f stack.yaml`
CREATE = ["cluster", "hetzner", "create", "--name", "demo", "--credential-id", "cred-123", "--location", "fsn1"]


def plan(*argvs: list[str], **fields) -> Plan:
    return Plan(conversation_id="c", correlation_id="c", message_id="m", requested_by="alice", intent="test",
                steps=[PlanStep(argv=list(a)) for a in argvs], **fields)


def verdict(profile: Profile, *argvs: list[str], **fields) -> Verdict:
    return decide(plan(*argvs, **fields), profile).verdict


def workers_read(count: int) -> StepResult:
    return StepResult(step_id="r", argv=["cluster", "hetzner", "workers", "production"],
                      command="cluster hetzner workers", outcome="ok", exit_code=0,
                      stdout=f"Worker Count: {count}\n")


# -- the default profile (confirm-destructive) ---------------------------------------------------


def test_default_profile_is_confirm_destructive() -> None:
    assert DEFAULT_PROFILE.autonomy is Autonomy.CONFIRM_DESTRUCTIVE


@pytest.mark.parametrize("argv", [
    READ, ["cluster", "info", "production"], ["chat", "Why are pods crashing?"], ["charts", "search", "redis"],
    ["cluster", "validate", "-f", "stack.yaml"], ["credentials", "list"],
])
def test_default_profile_runs_reads(argv: list[str]) -> None:
    assert verdict(DEFAULT_PROFILE, argv, files=STACK) is Verdict.RUN


def test_default_profile_runs_a_reconcile() -> None:
    assert verdict(DEFAULT_PROFILE, RECONCILE) is Verdict.RUN


@pytest.mark.parametrize("argv", [
    SCALE, DEPROVISION, STACK_DELETE, CREATE, ["tokens", "revoke", "tok-1"], ["tokens", "create", "ci"],
    ["cluster", "node-group", "delete", "production", "pool-a"], ["cluster", "ovh", "deprovision", "production"],
])
def test_default_profile_asks_before_consequential_commands(argv: list[str]) -> None:
    decision = decide(plan(argv), DEFAULT_PROFILE)
    assert decision.verdict is Verdict.APPROVAL
    assert "needs approval" in decision.reasons[0]


def test_default_profile_asks_before_applying_a_drafted_build() -> None:
    assert verdict(DEFAULT_PROFILE, APPLY, architecture=DRAFT, bill_of_materials=BOM, files=STACK) is Verdict.APPROVAL


def test_default_profile_refuses_a_build_without_draft_and_bill_of_materials() -> None:
    decision = decide(plan(APPLY, files=STACK), DEFAULT_PROFILE)
    assert decision.verdict is Verdict.REFUSE
    assert any("drafted architecture" in r for r in decision.reasons)
    assert any("bill of materials" in r for r in decision.reasons)


def test_scale_with_unknown_direction_is_treated_as_a_scale_down() -> None:
    step = decide_step(PlanStep(argv=SCALE), DEFAULT_PROFILE)
    assert step.verdict is Verdict.APPROVAL
    assert step.direction == "unknown"
    assert "scale-down" in step.reason


def test_default_profile_asks_for_an_observed_scale_down() -> None:
    step = decide_step(PlanStep(argv=SCALE), DEFAULT_PROFILE, observed=workers_read(8))
    assert step.direction == "down" and step.verdict is Verdict.APPROVAL


def test_default_profile_runs_an_observed_scale_up() -> None:
    step = decide_step(PlanStep(argv=SCALE), DEFAULT_PROFILE, observed=workers_read(3))
    assert step.direction == "up" and step.verdict is Verdict.RUN


def test_a_failed_read_does_not_count_as_an_observed_count() -> None:
    failed = workers_read(3).model_copy(update={"outcome": "failed"})
    step = decide_step(PlanStep(argv=SCALE), DEFAULT_PROFILE, observed=failed)
    assert step.direction == "unknown" and step.verdict is Verdict.APPROVAL


def test_plan_mixing_a_read_and_a_destructive_step_needs_approval() -> None:
    decision = decide(plan(READ, DEPROVISION), DEFAULT_PROFILE)
    assert decision.verdict is Verdict.APPROVAL
    assert [s.verdict for s in decision.steps] == [Verdict.RUN, Verdict.APPROVAL]
    assert len(decision.reasons) == 1 and "deprovision" in decision.reasons[0]


def test_plan_with_one_step_outside_the_catalog_is_refused_whole_naming_it() -> None:
    decision = decide(plan(READ, ["kubectl", "delete", "namespace", "prod"], RECONCILE), DEFAULT_PROFILE)
    assert decision.verdict is Verdict.REFUSE
    assert len(decision.reasons) == 1
    assert "ankra kubectl delete namespace prod" in decision.reasons[0]
    assert "not a command" in decision.reasons[0]


def test_step_with_a_reserved_flag_is_refused() -> None:
    decision = decide(plan(DEPROVISION + ["--yes"]), DEFAULT_PROFILE)
    assert decision.verdict is Verdict.REFUSE
    assert "--yes" in decision.reasons[0]


def test_command_outside_the_enabled_skills_is_refused() -> None:
    decision = decide(plan(READ, RECONCILE), DEFAULT_PROFILE, allowed={"cluster list"})
    assert decision.verdict is Verdict.REFUSE
    assert "cluster reconcile" in decision.reasons[0] and "Available Commands" in decision.reasons[0]


# -- read-only, confirm-all, auto ----------------------------------------------------------------


def test_read_only_profile_runs_reads() -> None:
    assert verdict(READ_ONLY, READ, ["cluster", "info", "production"]) is Verdict.RUN


@pytest.mark.parametrize("argv", [RECONCILE, SCALE, DEPROVISION, STACK_DELETE, CREATE, ["tokens", "create", "ci"]])
def test_read_only_profile_refuses_changes(argv: list[str]) -> None:
    decision = decide(plan(READ, argv), READ_ONLY)
    assert decision.verdict is Verdict.REFUSE
    assert "read-only" in decision.reasons[0]


@pytest.mark.parametrize("argv", [RECONCILE, SCALE, ["cluster", "stacks", "rename", "a", "b"],
                                  ["cluster", "node-group", "add", "production", "--name", "pool-b",
                                       "--instance-type", "cx32"]])
def test_confirm_all_asks_for_every_change(argv: list[str]) -> None:
    decision = decide(plan(argv), CONFIRM_ALL)
    assert decision.verdict is Verdict.APPROVAL
    assert "confirms every change" in decision.reasons[0]


def test_confirm_all_asks_even_for_an_observed_scale_up() -> None:
    step = decide_step(PlanStep(argv=SCALE), CONFIRM_ALL, observed=workers_read(1))
    assert step.direction == "up" and step.verdict is Verdict.APPROVAL


def test_confirm_all_runs_reads() -> None:
    assert verdict(CONFIRM_ALL, READ) is Verdict.RUN


def test_auto_runs_a_scale_without_guardrails() -> None:
    assert verdict(AUTO, SCALE) is Verdict.RUN


def test_auto_with_scale_down_guardrail_asks_when_the_direction_is_unknown() -> None:
    step = decide_step(PlanStep(argv=SCALE), AUTO_SCALE_DOWN)
    assert step.verdict is Verdict.APPROVAL and "scale-down" in step.reason


def test_auto_with_scale_down_guardrail_asks_for_a_scale_down() -> None:
    step = decide_step(PlanStep(argv=SCALE), AUTO_SCALE_DOWN, observed=workers_read(9))
    assert step.verdict is Verdict.APPROVAL


def test_auto_with_scale_down_guardrail_runs_a_scale_up() -> None:
    step = decide_step(PlanStep(argv=SCALE), AUTO_SCALE_DOWN, observed=workers_read(2))
    assert step.verdict is Verdict.RUN


def test_scale_down_guardrail_covers_node_group_scaling() -> None:
    argv = ["cluster", "node-group", "scale", "production", "pool-a", "1"]
    assert decide_step(PlanStep(argv=argv), AUTO_SCALE_DOWN).verdict is Verdict.APPROVAL


def test_guardrail_words_are_case_and_underscore_insensitive() -> None:
    profile = Profile(name="p", autonomy=Autonomy.AUTO, guardrails={"require_confirmation": ["Scale_Down"]})
    assert verdict(profile, SCALE) is Verdict.APPROVAL


def test_guardrails_accept_a_comma_separated_list() -> None:
    profile = Profile(name="p", autonomy=Autonomy.AUTO, guardrails={"require_confirmation": "delete, deprovision"})
    assert profile.guardrails.require_confirmation == ["delete", "deprovision"]
    assert verdict(profile, STACK_DELETE) is Verdict.APPROVAL


# -- the guide's profiles ------------------------------------------------------------------------


def test_production_profile_runs_reads() -> None:
    assert verdict(PRODUCTION, READ, ["chat", "Why are pods crashing?"]) is Verdict.RUN


@pytest.mark.parametrize("argv", [RECONCILE, SCALE, DEPROVISION, STACK_DELETE, CREATE])
def test_production_profile_confirms_every_change(argv: list[str]) -> None:
    assert verdict(PRODUCTION, argv) is Verdict.APPROVAL


def test_production_profile_confirms_a_scale_up_too() -> None:
    assert decide_step(PlanStep(argv=SCALE), PRODUCTION, observed=workers_read(1)).verdict is Verdict.APPROVAL


def test_production_profile_names_the_guardrail_for_a_delete() -> None:
    decision = decide(plan(STACK_DELETE), PRODUCTION)
    assert "requires confirmation for delete" in decision.reasons[0]


def test_production_profile_requires_draft_and_bill_of_materials_before_building() -> None:
    assert verdict(PRODUCTION, APPLY, files=STACK) is Verdict.REFUSE
    assert verdict(PRODUCTION, APPLY, architecture=DRAFT, files=STACK) is Verdict.REFUSE
    assert verdict(PRODUCTION, APPLY, architecture=DRAFT, bill_of_materials=BOM, files=STACK) is Verdict.APPROVAL


def test_production_profile_is_described_as_the_guide_says() -> None:
    assert describe(PRODUCTION) == (
        'Now using the "production" profile. I\'ll confirm every change and draft architecture with a '
        "bill of materials before building anything."
    )


@pytest.mark.parametrize("argv", [READ, RECONCILE, SCALE, ["cluster", "node-group", "scale", "production", "g", "1"]])
def test_sandbox_profile_runs_reads_changes_and_scaling(argv: list[str]) -> None:
    assert verdict(SANDBOX, argv) is Verdict.RUN


@pytest.mark.parametrize("argv", [DEPROVISION, ["cluster", "hetzner", "deprovision", "production"]])
def test_sandbox_profile_confirms_deprovisioning(argv: list[str]) -> None:
    decision = decide(plan(argv), SANDBOX)
    assert decision.verdict is Verdict.APPROVAL
    assert "requires confirmation for deprovision" in decision.reasons[0]


def test_sandbox_profile_description_lists_what_it_asks_for() -> None:
    # destructive and provisioning actions always ask; deprovision is one of them
    assert "except destructive and provisioning actions" in describe(SANDBOX)
    stricter = SANDBOX.model_copy(update={"guardrails": SANDBOX.guardrails.model_copy(
        update={"require_confirmation": ["deprovision", "scale-down"]})})
    assert describe(stricter).endswith("except destructive and provisioning actions and scale-down.")


# -- file arguments: only the plan's own files -----------------------------------------------------


@pytest.mark.parametrize("profile", [DEFAULT_PROFILE, AUTO, SANDBOX, PRODUCTION], ids=lambda p: p.name)
def test_a_read_of_a_file_the_plan_does_not_carry_is_refused(profile: Profile) -> None:
    validate = ["cluster", "validate", "-f", "stack.yaml", "--cluster", "staging-cluster"]
    decision = decide(plan(validate), profile)
    assert decision.verdict is Verdict.REFUSE
    assert any("names a file the plan does not carry" in r and "'stack.yaml'" in r and "none" in r
               for r in decision.reasons), decision.reasons
    other = decide(plan(validate, files={"other.yaml": "x"}), profile)
    assert other.verdict is Verdict.REFUSE
    assert any("names a file the plan does not carry" in r and "other.yaml" in r for r in other.reasons)


def test_a_read_of_a_file_the_plan_carries_runs() -> None:
    decision = decide(plan(["cluster", "validate", "-f", "stack.yaml"], files=STACK), DEFAULT_PROFILE)
    assert decision.verdict is Verdict.RUN and not decision.plan_reasons


def test_a_build_of_a_file_the_plan_does_not_carry_is_refused_even_with_draft_and_bill() -> None:
    decision = decide(plan(APPLY, architecture=DRAFT, bill_of_materials=BOM), AUTO)
    assert decision.verdict is Verdict.REFUSE
    assert any("names a file the plan does not carry" in r for r in decision.reasons)


def test_every_step_of_a_plan_must_name_a_carried_file() -> None:
    validate = ["cluster", "validate", "--file=stack.yaml"]
    stray = ["cluster", "validate", "-f", "extra.yaml"]
    decision = decide(plan(validate, stray, files=STACK), DEFAULT_PROFILE)
    assert decision.verdict is Verdict.REFUSE
    assert len(decision.plan_reasons) == 1
    assert "does not carry ('extra.yaml'; the plan's files: stack.yaml)" in decision.plan_reasons[0]


def test_a_path_as_file_argument_is_refused_by_the_catalog_before_the_plan_check() -> None:
    decision = decide(plan(["cluster", "validate", "-f", "/var/lib/hermes/signing-key"],
                           files={"/var/lib/hermes/signing-key": "x"}), AUTO)
    assert decision.verdict is Verdict.REFUSE
    assert "Hermes only reads files it wrote into the run's own directory" in decision.steps[0].reason


# -- properties over generated plans -------------------------------------------------------------

CONSEQUENTIAL = {Risk.DESTRUCTIVE, Risk.PROVISION, Risk.SCALE}
specs_and_argvs = st.lists(
    st.sampled_from(COMMANDS).flatmap(lambda spec: st.tuples(st.just(spec), valid_argv(spec))),
    min_size=1, max_size=5,
)
plans_from_catalog = specs_and_argvs.map(lambda pairs: plan(*(argv for _, argv in pairs)))


def _file_values(argv: list[str]) -> set[str]:
    parsed = parse(argv)
    return {v for f in parsed.spec.flags if f.kind is ArgKind.PATH
            and isinstance(v := parsed.flags.get(f.name), str)}


@given(specs_and_argvs, st.booleans())
def test_a_plan_is_refused_exactly_when_a_step_names_a_file_it_does_not_carry(pairs, carry_all: bool) -> None:
    named = set().union(*(_file_values(argv) for _, argv in pairs))
    carried = named if carry_all else set(sorted(named)[1:])
    decision = decide(plan(*(argv for _, argv in pairs), files={n: "x" for n in carried}), DEFAULT_PROFILE)
    missing = [r for r in decision.plan_reasons if "names a file the plan does not carry" in r]
    if named - carried:
        assert missing and decision.verdict is Verdict.REFUSE
    else:
        assert not missing


@given(specs_and_argvs)
def test_consequential_command_never_runs_unasked_under_the_default_profile(pairs) -> None:
    decision = decide(plan(*(argv for _, argv in pairs)), DEFAULT_PROFILE)
    if any(spec.risk in CONSEQUENTIAL for spec, _ in pairs):
        assert decision.verdict is not Verdict.RUN
    for (spec, _), step in zip(pairs, decision.steps, strict=True):
        if spec.risk in CONSEQUENTIAL:
            assert step.verdict is not Verdict.RUN


@given(plans_from_catalog)
def test_nothing_that_changes_anything_runs_under_read_only(p: Plan) -> None:
    decision = decide(p, READ_ONLY)
    mutating = [s for s in decision.steps if s.command is not None and s.command.spec.mutates]
    for step in mutating:
        assert step.verdict is Verdict.REFUSE
    if mutating:
        assert decision.verdict is Verdict.REFUSE
    for step in decision.steps:
        if step.verdict is Verdict.RUN:
            assert step.command.risk in {Risk.READ, Risk.SECRET} and not step.command.spec.mutates


@given(plans_from_catalog)
def test_plan_verdict_is_the_strictest_step_verdict(p: Plan) -> None:
    decision = decide(p, DEFAULT_PROFILE)
    order = [Verdict.RUN, Verdict.APPROVAL, Verdict.REFUSE]
    strictest = max((s.verdict for s in decision.steps), key=order.index)
    assert order.index(decision.verdict) >= order.index(strictest)


@pytest.mark.parametrize("spec", [s for s in COMMANDS if s.risk in CONSEQUENTIAL], ids=lambda s: s.key)
def test_every_consequential_catalog_command_waits_under_the_default_profile(spec) -> None:
    step = decide_step(PlanStep(argv=minimal_argv(spec)), DEFAULT_PROFILE)
    assert step.verdict is Verdict.APPROVAL


# -- a step that declares removals is destructive ------------------------------------------------
REMOVES = ["app-data: addon redis (bitnami/redis 19.6.4)", "app-data: Secret keys redis-password"]


def _removing(argv: list[str], **fields) -> Plan:
    return Plan(conversation_id="c", correlation_id="c", message_id="m", requested_by="alice", intent="test",
                steps=[PlanStep(argv=list(argv), removes=REMOVES)], **fields)


@pytest.mark.parametrize("profile", [AUTO, SANDBOX, DEFAULT_PROFILE, CONFIRM_ALL, PRODUCTION])
def test_an_apply_that_removes_things_is_destructive_under_every_profile(profile: Profile) -> None:
    decision = decide(_removing(APPLY, architecture=DRAFT, bill_of_materials=BOM, files=STACK), profile)
    assert decision.verdict is Verdict.APPROVAL
    reason = decision.steps[0].reason
    assert "(destructive)" in reason and "removes" in reason and "redis" in reason, reason


def test_removals_raise_even_a_read_and_a_read_only_profile_refuses_them() -> None:
    assert decide(_removing(READ), AUTO).verdict is Verdict.APPROVAL
    assert decide(_removing(READ), READ_ONLY).verdict is Verdict.REFUSE


def test_a_step_without_removals_keeps_the_catalog_risk() -> None:
    from hermes_guard.policy import effective_risk

    step = PlanStep(argv=APPLY)
    assert effective_risk(step, parse(APPLY)) is Risk.PROVISION
    assert effective_risk(PlanStep(argv=APPLY, removes=["x"]), parse(APPLY)) is Risk.DESTRUCTIVE
    # nothing a plan declares lowers a risk: a destructive command without removals stays destructive
    assert effective_risk(PlanStep(argv=STACK_DELETE), parse(STACK_DELETE)) is Risk.DESTRUCTIVE
    assert decide(plan(STACK_DELETE), AUTO).verdict is Verdict.APPROVAL
