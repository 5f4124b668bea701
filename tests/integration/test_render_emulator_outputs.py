"""Results render for a person: the emulator's real `-o json` outputs become tables and sentences."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from hermes import catalog
from hermes.contracts import ExecutionResult, StepResult
from hermes_planner.render import render_result


def _run(emulator_state, argv: list[str]) -> StepResult:
    _state, token, wrapper = emulator_state
    parsed = catalog.parse(argv)
    full = [str(wrapper), *argv] + (["-o", "json"] if parsed.spec.json_output else [])
    proc = subprocess.run(full, env={"PATH": os.environ["PATH"], "HOME": str(_state), "ANKRA_API_TOKEN": token},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout) if parsed.spec.json_output else None
    return StepResult(step_id="s", argv=argv, command=parsed.key, outcome="ok", exit_code=0,
                      stdout=proc.stdout, data=data)


def _render(step: StepResult):
    return render_result(ExecutionResult(conversation_id="c", correlation_id="c", order_id="o", plan_id="p",
                                         outcome="ok", steps=[step]))


@pytest.mark.parametrize("argv, columns, expected_cell", [
    (["cluster", "stacks", "list", "--cluster", "production"],
     ["NAME", "DESCRIPTION", "STATE", "WAVE", "MANIFESTS", "ADDONS"], "monitoring"),
    (["charts", "search", "redis"], ["NAME", "VERSION", "REPOSITORY", "DESCRIPTION"], "redis"),
    (["credentials", "list"], ["ID", "NAME", "PROVIDER", "STATE"], "hetzner"),
    (["tokens", "list"], ["ID", "NAME", "STATUS", "CREATED", "EXPIRES", "LAST USED"], "hermes-agent"),
    (["cluster", "node-group", "list", "staging-cluster"], ["NAME", "COUNT", "SERVER TYPE"], "workers"),
])
def test_lists_render_as_tables(emulator_state, argv, columns, expected_cell) -> None:
    text, blocks, failed = _render(_run(emulator_state, argv))
    assert not failed and text.startswith(f"Ran `{catalog.display(argv)}`")
    table = blocks[0]
    assert table.columns == columns
    assert any(expected_cell in cell for row in table.rows for cell in row)
    assert all(len(row) == len(columns) for row in table.rows)


def test_ankra_ai_answers_render_as_text_with_the_findings(emulator_state) -> None:
    text, blocks, _ = _render(_run(emulator_state, ["chat", "Why are pods crashing?", "--cluster", "production"]))
    assert "OOMKilled" in text and "DATABASE_URL" in text and not blocks


def test_health_renders_status_and_an_issue_table(emulator_state) -> None:
    text, blocks, _ = _render(_run(emulator_state, ["chat", "health", "--cluster", "production", "--ai"]))
    assert "status" in text and "score" in text
    assert blocks[0].columns == ["SEVERITY", "NAMESPACE", "ISSUE", "SUGGESTED"]
    assert any("OOMKilled" in row[2] for row in blocks[0].rows)
