"""Following an applied build to its end: the deploy's state read from `cluster operations list`."""

from __future__ import annotations

from hermes.contracts import ExecutionResult, StepResult
from hermes_planner.building import deploy_state


def _operations(*items: dict) -> ExecutionResult:
    step = StepResult(step_id="s", argv=["cluster", "operations", "list", "--cluster", "staging-cluster"],
                      command="cluster operations list", outcome="ok", exit_code=0, data=list(items))
    return ExecutionResult(conversation_id="c", correlation_id="c", order_id="o", plan_id="p", outcome="ok",
                           steps=[step])


def test_a_running_apply_is_followed_further() -> None:
    assert deploy_state(_operations({"type": "cluster_apply", "status": "running"},
                                    {"type": "cluster_apply", "status": "completed"})) == "running"


def test_the_newest_apply_completed_means_built() -> None:
    assert deploy_state(_operations({"type": "cluster_apply", "status": "completed"},
                                    {"type": "cluster_apply", "status": "failed"})) == "completed"


def test_a_failed_apply_says_why() -> None:
    state = deploy_state(_operations({"name": "cluster apply stack.yaml", "status": "failed",
                                      "error_excerpt": "addon postgres: chart not found"}))
    assert state == "failed: addon postgres: chart not found"


def test_other_operations_do_not_count_and_a_result_without_the_read_is_still_running() -> None:
    assert deploy_state(_operations({"type": "node_group_scale", "status": "running"})) == "completed"
    empty = ExecutionResult(conversation_id="c", correlation_id="c", order_id="o", plan_id="p", outcome="ok")
    assert deploy_state(empty) == "running"
