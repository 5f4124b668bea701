"""Rendering of execution results: tables for lists, sentences for actions, and failures that say
what failed and why."""

from __future__ import annotations

import pytest
from hermes.catalog import parse
from hermes.contracts import CodeBlock, ExecutionResult, StepResult, TableBlock
from hermes_planner.render import render_result

# The shape of `cluster list -o json` (ClusterListItem: `kind` is the provider, `nodes` the node count).
CLUSTERS = {"result": [
    {"id": "3f6c2a9e-5b1d-4c7a-9e2f-8d4b6a1c0e57", "name": "staging-cluster", "kind": "hetzner",
     "state": "online", "nodes": 3},
    {"id": "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22", "name": "production", "kind": "ovh", "state": "online",
     "nodes": 5},
]}


def step(argv: list[str], outcome: str = "ok", **fields) -> StepResult:
    return StepResult(step_id="s", argv=argv, command=parse(argv).key, outcome=outcome, **fields)


def result(*steps: StepResult, outcome: str | None = None, error: str | None = None) -> ExecutionResult:
    if outcome is None:
        outcome = "ok" if all(s.outcome == "ok" for s in steps) else steps[-1].outcome if steps else "error"
    return ExecutionResult(conversation_id="c", correlation_id="c", order_id="o", plan_id="p",
                           outcome=outcome, steps=list(steps), error=error)


def test_cluster_list_renders_a_table_of_both_clusters() -> None:
    text, blocks, failed = render_result(result(step(["cluster", "list"], exit_code=0, data=CLUSTERS)))
    assert not failed
    assert "ankra cluster list" in text
    [table] = blocks
    assert isinstance(table, TableBlock)
    assert table.columns == ["NAME", "KIND", "STATE", "NODES", "ID"]
    assert table.rows == [["staging-cluster", "hetzner", "online", "3", "3f6c2a9e-5b1d-4c7a-9e2f-8d4b6a1c0e57"],
                          ["production", "ovh", "online", "5", "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"]]


def test_cluster_list_accepts_a_bare_list() -> None:
    _, [table], _ = render_result(result(step(["cluster", "list"], data=CLUSTERS["result"])))
    assert [r[0] for r in table.rows] == ["staging-cluster", "production"]


def test_missing_cluster_fields_render_as_a_dash() -> None:
    _, [table], _ = render_result(result(step(["cluster", "list"], data=[{"name": "bare"}])))
    assert table.rows == [["bare", "-", "-", "-", "-"]]


def test_empty_cluster_list_says_so() -> None:
    text, blocks, failed = render_result(result(step(["cluster", "list"], data={"result": []})))
    assert "No clusters found" in text and blocks == [] and not failed


def test_cluster_list_without_json_shows_the_output_as_is() -> None:
    out = "NAME  STATE\nprod  online"
    _, [block], _ = render_result(result(step(["cluster", "list"], stdout=out)))
    assert isinstance(block, CodeBlock) and block.text == out


def test_failed_step_names_the_command_and_exit_code() -> None:
    failed_step = step(["cluster", "reconcile", "production"], outcome="failed", exit_code=1,
                       stderr="Error: cluster not found\n")
    text, blocks, failed = render_result(result(failed_step))
    assert failed
    assert "`ankra cluster reconcile production` failed (exit code 1): Error: cluster not found" in text
    assert blocks == []


def test_failed_step_prefers_the_executor_error_over_raw_output() -> None:
    failed_step = step(["cluster", "info", "prod"], outcome="failed", exit_code=2, stderr="raw",
                       error="the cluster does not exist")
    text, _, _ = render_result(result(failed_step))
    assert "exit code 2" in text and "the cluster does not exist" in text


def test_failed_step_without_output_says_so() -> None:
    text, _, _ = render_result(result(step(["cluster", "info", "prod"], outcome="failed", exit_code=3)))
    assert "exit code 3" in text and "no output" in text


def test_timeout_renders_its_reason() -> None:
    timed_out = step(["cluster", "apply", "-f", "stack.yaml"], outcome="timeout", error="stopped after 120 s")
    text, _, failed = render_result(result(timed_out))
    assert failed
    assert "`ankra cluster apply -f stack.yaml` did not finish in time" in text
    assert "stopped after 120 s" in text


def test_refused_step_renders_its_reason() -> None:
    refused = step(["cluster", "deprovision", "prod"], outcome="refused",
                   error="the order's signature does not match its content")
    text, _, failed = render_result(result(refused))
    assert failed
    assert "`ankra cluster deprovision prod` was refused before it ran" in text
    assert "signature does not match" in text


def test_unknown_outcome_asks_to_check_before_retrying() -> None:
    text, _, failed = render_result(result(step(["cluster", "scale", "prod", "3"], outcome="unknown")))
    assert failed and "outcome unknown" in text and "check before retrying" in text


@pytest.mark.parametrize("created, expected", [
    (3, "3 operation(s) created"),
    ([{"id": "op-1"}, {"id": "op-2"}], "2 operation(s) created"),
    (0, "no operations created"),
])
def test_reconcile_renders_the_number_of_created_operations(created, expected: str) -> None:
    done = step(["cluster", "reconcile", "production"], exit_code=0, data={"created_operations": created})
    text, blocks, failed = render_result(result(done))
    assert not failed and blocks == []
    assert "Ran `ankra cluster reconcile production`" in text
    assert expected in text


def test_reconcile_without_json_reports_the_cli_sentence() -> None:
    done = step(["cluster", "reconcile", "production"], exit_code=0,
                stdout="Reconciliation triggered for production\n")
    text, _, _ = render_result(result(done))
    assert "reconciliation triggered" in text and "Reconciliation triggered for production" in text


def test_a_failure_after_a_success_renders_both_and_is_an_error() -> None:
    ok = step(["cluster", "list"], data=CLUSTERS)
    bad = step(["cluster", "reconcile", "production"], outcome="failed", exit_code=1, stderr="boom")
    text, blocks, failed = render_result(result(ok, bad))
    assert failed
    assert "Ran `ankra cluster list`" in text and "exit code 1" in text
    assert len(blocks) == 1


def test_result_without_steps_is_an_error_with_its_reason() -> None:
    text, blocks, failed = render_result(result(outcome="refused", error="the order expired"))
    assert failed and text == "the order expired" and blocks == []


def test_order_level_error_is_appended_when_the_order_did_not_succeed() -> None:
    bad = step(["cluster", "list"], outcome="failed", exit_code=1, stderr="x")
    text, _, _ = render_result(result(bad, outcome="failed", error="stopped after the first failure"))
    assert text.endswith("stopped after the first failure")


def test_truncated_output_is_flagged() -> None:
    text, _, _ = render_result(result(step(["chat", "Why?"], stdout="long answer", truncated=True)))
    assert "cut" in text


def test_command_without_a_renderer_shows_its_json() -> None:
    done = step(["cluster", "stacks", "clone", "app", "--to", "production"], data={"changes": [1, 2]})
    _, [block], _ = render_result(result(done))
    assert isinstance(block, CodeBlock) and block.language == "json" and '"changes"' in block.text


def test_stack_history_is_a_table_of_each_members_versions() -> None:
    """The real shape (GetStackHistoryResponse): per member, newest version first — never raw JSON."""
    data = {"history": [
        {"resource_name": "postgres", "resource_type": "addon", "resource_id": "r1", "version_history": [
            {"version_id": "v2", "created_at": "2026-11-30T10:00:00Z", "delta": [], "user_id": "u1",
             "user_name": "alice", "external_user": None, "change_type": "updated"},
            {"version_id": "v1", "created_at": "2026-11-01T10:00:00Z", "delta": [], "user_id": "u1",
             "user_name": None, "external_user": "gitops", "change_type": "created"}]},
        {"resource_name": "app-data-credentials", "resource_type": "manifest", "resource_id": "r2",
         "version_history": [{"version_id": "v1", "created_at": "2026-11-01T10:00:00Z", "delta": [],
                              "user_id": "u9", "user_name": None, "external_user": None, "change_type": None}]},
    ]}
    text, [table], failed = render_result(result(step(["cluster", "stacks", "history", "app-data"], data=data)))
    assert not failed and isinstance(table, TableBlock)
    assert table.columns == ["RESOURCE", "TYPE", "CHANGE", "WHEN", "BY"]
    assert table.rows == [["postgres", "addon", "updated", "2026-11-30T10:00:00Z", "alice"],
                          ["postgres", "addon", "created", "2026-11-01T10:00:00Z", "gitops"],
                          ["app-data-credentials", "manifest", "-", "2026-11-01T10:00:00Z", "u9"]]
