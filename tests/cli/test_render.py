"""Rendering of gateway events: what a person sees in the terminal."""

from __future__ import annotations

from io import StringIO

from hermes_cli.render import command_line, print_events, render_event
from rich.console import Console

from .conftest import CLUSTERS_TABLE, reply


def shown(*events: dict) -> str:
    console = Console(file=StringIO(), width=120, record=True, color_system=None)
    print_events(console, events)
    return console.export_text()


def test_a_table_event_shows_its_title_columns_and_rows() -> None:
    text = shown(reply("c1", "answer", "Ran `ankra cluster list`:", final=True, blocks=[CLUSTERS_TABLE]))
    assert "Ran `ankra cluster list`:" in text
    header = next(line for line in text.splitlines() if "NAME" in line)
    for column in ("NAME", "PROVIDER", "STATE", "WORKERS"):
        assert column in header
    staging = next(line for line in text.splitlines() if "staging-cluster" in line)
    assert "hetzner" in staging and "running" in staging and "3" in staging
    production = next(line for line in text.splitlines() if "production" in line)
    assert "ovh" in production and "5" in production
    assert "╭" in text, "tables use the rounded box"


def test_an_approval_event_shows_the_exact_commands_risks_expiry_and_how_to_answer() -> None:
    argv = ["cluster", "stacks", "delete", "monitoring", "--cluster", "my cluster"]
    approval = {"approval_id": "apr-42", "plan_hash": "abc", "summary": "Delete the monitoring stack",
                "steps": [argv], "risks": ["destructive: deletes a stack"],
                "expires_at": "2030-01-01T12:00:00+00:00", "approvers": ["alice"]}
    text = shown(reply("c1", "approval", "Approval needed", final=True, approval=approval))
    assert "Delete the monitoring stack" in text
    assert "ankra cluster stacks delete monitoring --cluster 'my cluster'" in text
    assert "destructive: deletes a stack" in text
    assert "2030-01-01 12:00:00" in text
    assert "hermes approve apr-42" in text and "hermes reject apr-42" in text
    assert "y" in text and "n" in text and "reply" in text


def test_the_error_kind_is_marked_as_an_error() -> None:
    text = shown(reply("c1", "error", "`ankra cluster list` failed (exit code 1): boom", final=True))
    assert "Error" in text and "boom" in text
    console = Console(file=StringIO(), width=120, record=True, color_system="truecolor", force_terminal=True)
    print_events(console, [reply("c1", "error", "boom", final=True)])
    assert "\x1b[" in console.export_text(styles=True), "errors are styled (red)"
    assert "Error" not in shown(reply("c1", "answer", "all good", final=True))


def test_progress_is_dim_code_is_plain_and_own_messages_are_not_echoed() -> None:
    [progress] = render_event(reply("c1", "progress", "Running `ankra cluster list`..."))
    assert "dim" in str(progress.style)
    code = reply("c1", "answer", "", final=True, blocks=[{"type": "code", "text": "[bold]x[/bold]", "language": ""}])
    assert "[bold]x[/bold]" in shown(code), "code is printed as it is, no markup interpreted"
    assert render_event({"type": "message", "text": "hello", "correlation_id": "c1"}) == []


def test_command_line_quotes_arguments_and_adds_the_program_once() -> None:
    assert command_line(["cluster", "list"]) == "ankra cluster list"
    assert command_line(["ankra", "cluster", "reconcile", "prod one"]) == "ankra cluster reconcile 'prod one'"


def test_a_wide_table_in_a_narrow_terminal_wraps_its_cells_and_never_cuts_them() -> None:
    bom = {"type": "table", "title": "Bill of materials", "columns": ["Component", "Chart", "Version", "Requests"],
           "rows": [["postgres", "bitnami/postgresql-ha", "14.3.10", "1 vCPU / 2048Mi"]]}
    console = Console(file=StringIO(), width=40, record=True, color_system=None)
    print_events(console, [reply("c1", "approval", "Proceed?", final=True, blocks=[bom])])
    text = console.export_text()
    assert "…" not in text
    body = text.split("├", 1)[1]  # the rows, after the header rule
    chart_cells = [line.split("│")[2].strip() for line in body.splitlines() if line.count("│") >= 5]
    assert "".join(chart_cells) == "bitnami/postgresql-ha"


def test_a_bill_of_materials_at_80_columns_never_cuts_a_chart_name_inside_a_word() -> None:
    """The design's table at a standard terminal width: every column is as wide as its longest word, so
    `bitnami/redis` stays whole and `bitnami/postgresql-ha` breaks only after its "/"."""
    bom = {"type": "table", "title": "Bill of materials",
           "columns": ["Component", "Chart", "Version", "Replicas", "Storage", "Requests", "EUR/mo"],
           "rows": [["postgres", "bitnami/postgresql-ha", "14.3.10", "2", "60Gi", "1 vCPU / 2048Mi", "7.14"],
                    ["redis", "bitnami/redis", "19.6.4", "2", "4Gi", "0.5 vCPU / 512Mi", "1.93"]]}
    console = Console(file=StringIO(), width=80, record=True, color_system=None)
    print_events(console, [reply("c1", "approval", "Proceed?", final=True, blocks=[bom])])
    text = console.export_text()
    body = text.split("├", 1)[1]
    charts = [line.split("│")[2].strip() for line in body.splitlines() if line.count("│") >= 8]
    assert [c for c in charts if c] == ["bitnami/", "postgresql-ha", "bitnami/redis"], charts
    assert max(len(line) for line in text.splitlines()) <= 80
