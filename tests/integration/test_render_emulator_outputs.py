"""Results render for a person: the emulator's real `-o json` outputs become tables and sentences."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from hermes import catalog
from hermes.contracts import ExecutionResult, StepResult
from hermes_planner.render import render_result

# Seeded cluster IDs (tools/ankra_emulator/seed.py): commands the CLI runs by cluster ID take these.
STAGING_ID = "3f6c2a9e-5b1d-4c7a-9e2f-8d4b6a1c0e57"
PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"


def _run(emulator_state, argv: list[str]) -> StepResult:
    _state, token, wrapper = emulator_state
    parsed = catalog.parse(argv)
    full = [str(wrapper), *argv] + (["-o", "json"] if parsed.spec.json_output else [])
    proc = subprocess.run(full, env={"PATH": os.environ["PATH"], "HOME": str(_state), "ANKRA_API_TOKEN": token},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
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
    (["cluster", "node-group", "list", STAGING_ID], ["NAME", "COUNT", "INSTANCE TYPE", "MIN", "MAX"], "cx33"),
    (["cluster", "list"], ["NAME", "KIND", "STATE", "NODES", "ID"], "online"),
    (["cluster", "get", "pods", "-n", "api", "--cluster", "production"],
     ["NAMESPACE", "NAME", "KIND", "STATUS", "RESTARTS"], "CrashLoopBackOff"),
    (["cluster", "events", "--cluster", "production"],
     ["TYPE", "REASON", "OBJECT", "NAMESPACE", "COUNT", "MESSAGE"], "OOMKilling"),
    (["cluster", "top", "pods", "-A", "--cluster", "production"], ["NAMESPACE", "NAME", "CPU", "MEMORY"], "312Mi"),
    (["cluster", "metrics", "query", "kube_pod_container_status_restarts_total", "--cluster", "production"],
     ["SERIES", "VALUE"], "14"),
    (["alerts", "destinations", "list"], ["ID", "NAME", "TYPE", "ENABLED"], "ops-slack"),
    (["alerts", "routes", "list"], ["ID", "DESTINATION", "SEVERITY", "KINDS", "ENABLED"], "critical"),
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


def test_health_renders_the_nested_report_issues_and_root_causes(emulator_state) -> None:
    step = _run(emulator_state, ["chat", "health", "--cluster", "production"])
    report = step.data["health_report"]  # the real nested shape (internal/client/chat.go:52-87)
    text, blocks, _ = _render(step)
    assert f"status {report['status']}, score {report['score']}/100" in text
    assert f"pods {report['pod_stats']['running']}/{report['pod_stats']['total']} running" in text
    assert blocks[0].columns == ["SEVERITY", "NAMESPACE", "ISSUE", "SUGGESTED"]
    assert any("OOMKilled" in row[2] for row in blocks[0].rows)
    assert blocks[1].columns == ["SEVERITY", "FINDING", "ROOT CAUSE"]
    assert any("DATABASE_URL" in row[2] for row in blocks[1].rows)
    assert step.data["summary"] and step.data["summary"] in text


def test_workers_scale_and_operations_render_as_sentences_and_tables(emulator_state) -> None:
    text, _, _ = _render(_run(emulator_state, ["cluster", "ovh", "workers", PRODUCTION_ID]))
    assert "5 workers (min 3, max 20)." in text
    text, _, _ = _render(_run(emulator_state, ["cluster", "scale", PRODUCTION_ID, "7"]))
    assert "workers: scaled from 5 to 7." in text
    text, _, _ = _render(_run(emulator_state, ["cluster", "node-group", "scale", PRODUCTION_ID, "workers", "6"]))
    assert "submitted and runs in the background" in text and "cluster operations list" in text
    text, blocks, _ = _render(_run(emulator_state, ["cluster", "operations", "list", "--cluster", "production"]))
    assert blocks[0].columns[:3] == ["ID", "NAME", "STATUS"]
    assert any("scale node group workers" in row[1] for row in blocks[0].rows)


def test_describe_and_logs_show_the_root_cause(emulator_state) -> None:
    text, blocks, _ = _render(_run(emulator_state, ["cluster", "describe", "pod", "api-worker-3k9d2", "-n", "api",
                                                    "--cluster", "production"]))
    assert text.endswith("Pod api/api-worker-3k9d2: CrashLoopBackOff")
    assert any(row[1] == "BackOff" for row in blocks[0].rows)
    text, blocks, _ = _render(_run(emulator_state, ["cluster", "logs", "api-worker-3k9d2", "-n", "api",
                                                    "--previous", "--follow=false", "--cluster", "production"]))
    assert "DATABASE_URL is not set" in blocks[0].text
