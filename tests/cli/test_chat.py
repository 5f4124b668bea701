"""`hermes chat`, `approve`, `reject` and `whoami` against a stand-in gateway (see conftest.py).

Who is speaking comes from the token alone: no command has --user, and no request body names a user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hermes import embedded
from hermes_cli.chat import decision_outcome
from hermes_cli.main import app
from typer.testing import CliRunner

from .conftest import TOKEN, WHOAMI, FakeGateway

runner = CliRunner()


def chat(gw: FakeGateway, *args: str, input: str | None = None):
    return runner.invoke(app, ["chat", "--url", gw.url, "--token", TOKEN, *args], input=input)


def test_one_shot_prints_progress_and_the_table_and_exits_0(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = chat(fake_gateway, "List my Ankra clusters")
    assert result.exit_code == 0, result.output
    assert "Running `ankra cluster list`" in result.output
    assert "staging-cluster" in result.output and "production" in result.output
    assert "hetzner" in result.output and "WORKERS" in result.output
    assert "NOT YOURS" not in result.output, "events of other turns are not shown"
    [conversation] = fake_gateway.conversations
    assert f"conversation: {conversation}" in result.output and f"-c {conversation}" in result.output
    [(_, path, body)] = fake_gateway.requests
    assert path == "/v1/messages" and body["text"] == "List my Ankra clusters"


def test_words_without_quotes_make_one_message_that_names_no_user(fake_gateway: FakeGateway,
                                                                 clean_env: Path) -> None:
    result = chat(fake_gateway, "List", "my", "Ankra", "clusters")
    assert result.exit_code == 0, result.output
    [(_, _, body)] = fake_gateway.requests
    assert body == {"text": "List my Ankra clusters"}


@pytest.mark.parametrize("command", [["chat", "hi"], ["approve", "apr-123"], ["reject", "apr-123"]])
def test_there_is_no_user_option_any_more(fake_gateway: FakeGateway, clean_env: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--url", fake_gateway.url, "--token", TOKEN, "--user", "mallory"])
    assert result.exit_code == 2, result.output
    assert "--user" in result.output
    assert fake_gateway.requests == [], "nothing is sent"


def test_json_prints_the_turns_raw_events_one_per_line(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = chat(fake_gateway, "--json", "List my Ankra clusters")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [e["type"] for e in events] == ["message", "reply", "reply"]
    assert len({e["correlation_id"] for e in events}) == 1
    assert events[-1]["final"] is True and events[-1]["blocks"][0]["type"] == "table"
    assert events[-1]["blocks"][0]["rows"][1][0] == "production"


def test_continuing_a_conversation_sends_its_id(fake_gateway: FakeGateway, clean_env: Path) -> None:
    first = chat(fake_gateway, "List my Ankra clusters")
    [conversation] = fake_gateway.conversations
    second = chat(fake_gateway, "-c", conversation, "hello again")
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert "You said: hello again" in second.output
    assert "continue with" not in second.output, "the id is only announced for a new conversation"
    assert fake_gateway.requests[-1][2]["conversation_id"] == conversation
    unknown = chat(fake_gateway, "-c", "nope", "hello")
    assert unknown.exit_code == 1 and "unknown conversation 'nope'" in unknown.output


def test_a_wrong_token_is_reported_as_such(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = runner.invoke(app, ["chat", "--url", fake_gateway.url, "--token", "wrong", "hi"])
    assert result.exit_code == 1, result.output
    assert "401" in result.output and "token was refused" in result.output
    missing = runner.invoke(app, ["chat", "--url", fake_gateway.url, "hi"])
    assert missing.exit_code == 1, missing.output
    assert "no API token was sent" in missing.output and "HERMES_API_TOKEN" in missing.output


def test_an_unreachable_gateway_exits_2_naming_the_url_and_hermes_up(clean_env: Path) -> None:
    url = f"http://127.0.0.1:{embedded.free_port()}"
    result = runner.invoke(app, ["chat", "--url", url, "--token", TOKEN, "hi"])
    assert result.exit_code == 2, result.output
    assert url in result.output and "hermes up" in result.output


def test_a_final_error_event_exits_1(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = chat(fake_gateway, "break something")
    assert result.exit_code == 1, result.output
    assert "Error" in result.output and "boom" in result.output


def test_waiting_longer_than_the_timeout_says_so(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = chat(fake_gateway, "--timeout", "1", "silence please")
    assert result.exit_code == 1, result.output
    assert "no final reply within 1s" in result.output


def test_url_and_token_come_from_the_state_dir_of_hermes_up(fake_gateway: FakeGateway, clean_env: Path) -> None:
    clean_env.mkdir(parents=True)
    (clean_env / "up.json").write_text(json.dumps({"pid": 1, "url": fake_gateway.url}))
    (clean_env / "api-token").write_text(TOKEN + "\n")
    result = runner.invoke(app, ["chat", "List my Ankra clusters"])
    assert result.exit_code == 0, result.output
    assert "staging-cluster" in result.output


def test_environment_variables_override_the_state_dir(fake_gateway: FakeGateway, clean_env: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env.mkdir(parents=True)
    (clean_env / "up.json").write_text(json.dumps({"pid": 1, "url": "http://127.0.0.1:1"}))
    (clean_env / "api-token").write_text("stale-token\n")
    monkeypatch.setenv("HERMES_URL", fake_gateway.url)
    monkeypatch.setenv("HERMES_API_TOKEN", TOKEN)
    result = runner.invoke(app, ["chat", "hi"])
    assert result.exit_code == 0, result.output
    assert "You said: hi" in result.output


def test_an_approval_shows_commands_and_how_to_answer(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = chat(fake_gateway, "delete the monitoring stack")
    assert result.exit_code == 0, result.output
    assert "ankra cluster stacks delete monitoring --cluster staging-cluster" in result.output
    assert "hermes approve apr-123" in result.output and "hermes reject apr-123" in result.output


def decide(gw: FakeGateway, *args: str):
    return runner.invoke(app, [*args, "--url", gw.url, "--token", TOKEN], env={"COLUMNS": "200"})


def test_approve_and_reject_post_the_decision_and_show_the_outcome(fake_gateway: FakeGateway,
                                                                  clean_env: Path) -> None:
    approved = decide(fake_gateway, "approve", "apr-123")
    assert approved.exit_code == 0, approved.output
    assert "Approved by alice. Running 1 step(s)" in approved.output and "deleted" in approved.output
    assert "✓ apr-123: approved, and the plan ran." in approved.output
    assert fake_gateway.requests[-1] == ("POST", "/v1/approvals/apr-123", {"decision": "approve"})
    rejected = decide(fake_gateway, "reject", "apr-123")
    assert rejected.exit_code == 0, rejected.output
    assert "Rejected by alice. Nothing was run." in rejected.output
    assert "✓ apr-123: rejected; nothing of it ran." in rejected.output
    assert fake_gateway.requests[-1] == ("POST", "/v1/approvals/apr-123", {"decision": "reject"})
    unknown = decide(fake_gateway, "approve", "apr-nope")
    assert unknown.exit_code == 1 and "no pending approval 'apr-nope'" in unknown.output


def test_an_approval_the_guard_refuses_says_why_and_exits_1(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = decide(fake_gateway, "approve", "apr-mine")
    assert result.exit_code == 1, result.output
    assert ("✗ apr-mine: the guard refused your approval; nothing ran: alice asked for this, so cannot be one of "
            "the two approvers") in result.output
    assert "approved, and" not in result.output and "Approved" not in result.output, "no claim before the answer"


def test_the_first_of_two_approvals_says_it_is_recorded_and_nothing_ran(fake_gateway: FakeGateway,
                                                                         clean_env: Path) -> None:
    result = decide(fake_gateway, "approve", "apr-two")
    assert result.exit_code == 0, result.output
    assert "… apr-two: your approval is recorded; nothing runs yet: approved by alice (1 of 2)" in result.output
    assert "the plan ran" not in result.output


def test_an_approved_plan_whose_run_fails_exits_1(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = decide(fake_gateway, "approve", "apr-fails")
    assert result.exit_code == 1, result.output
    assert "Approved by alice. Running 1 step(s)" in result.output
    assert "✗ apr-fails: approved, but the run failed: `ankra cluster reconcile production` failed" in result.output


def test_an_approver_who_may_not_read_the_conversation_sees_the_outcome_in_the_pending_list(
        fake_gateway: FakeGateway, clean_env: Path) -> None:
    """Only an approval's owner and admins read its conversation: another approver's `hermes approve`
    reads what became of the decision from GET /v1/approvals instead of failing on the 404."""
    first = decide(fake_gateway, "approve", "apr-bobs")
    assert first.exit_code == 0, first.output
    assert "… apr-bobs: your approval is recorded; nothing runs yet: approved by alice (1 of 2)" in first.output
    assert "unknown conversation" not in first.output
    last = decide(fake_gateway, "approve", "apr-bobs-last")
    assert last.exit_code == 0, last.output
    assert "✓ apr-bobs-last: the guard took your approval: apr-bobs-last is no longer pending" in last.output
    assert "which only its owner and admins can read" in last.output
    assert ("GET", "/v1/approvals", {}) in fake_gateway.requests


def test_approve_json_prints_the_events_then_the_outcome(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = decide(fake_gateway, "approve", "apr-mine", "--json")
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.strip()]
    assert [e["type"] for e in lines] == ["message", "reply", "decision"]
    assert lines[1]["kind"] == "error" and lines[1]["final"] is True
    assert lines[-1] == {"type": "decision", "approval_id": "apr-mine", "decision": "approve",
                         "outcome": "refused", "text": lines[1]["text"]}


@pytest.mark.parametrize("outcome, events", [
    ("ran", [{"kind": "progress", "final": False}, {"kind": "answer", "final": True}]),
    ("failed", [{"kind": "progress", "final": False}, {"kind": "error", "final": True}]),
    ("refused", [{"kind": "error", "final": True}]),
    ("recorded", [{"kind": "answer", "final": True}]),
])
def test_decision_outcome_reads_the_guards_events(outcome: str, events: list[dict]) -> None:
    turn = [{"type": "message", "text": "approve apr-1"}, *({"type": "reply", **e} for e in events)]
    assert decision_outcome("approve", turn).outcome == outcome
    assert decision_outcome("reject", turn[:1] + turn[-1:]).outcome == (
        "refused" if events[-1]["kind"] == "error" else "rejected")


@pytest.mark.parametrize("command", [["chat", "List my Ankra clusters"], ["approve", "apr-123"],
                                     ["reject", "apr-123"], ["whoami"]])
@pytest.mark.parametrize("how", ["--state-dir", "HERMES_STATE_DIR"])
def test_gateway_commands_find_the_instance_by_its_state_dir(fake_gateway: FakeGateway, clean_env: Path,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             command: list[str], how: str) -> None:
    """`hermes up --state-dir X` (any --port): the commands reach it given X, by flag or environment."""
    state = tmp_path / "instance"
    state.mkdir()
    (state / "up.json").write_text(json.dumps({"pid": 1, "url": fake_gateway.url}))
    (state / "api-token").write_text(TOKEN + "\n")
    args = list(command)
    if how == "--state-dir":  # HERMES_STATE_DIR names another, empty, state dir: the flag wins
        args += ["--state-dir", str(state)]
    else:
        monkeypatch.setenv("HERMES_STATE_DIR", str(state))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert fake_gateway.requests, "the instance of that state dir was reached"


@pytest.mark.parametrize("command", [["chat"], ["approve"], ["reject"], ["whoami"], ["audit"], ["users", "add"],
                                     ["users", "list"], ["users", "revoke"], ["users", "rotate"]])
def test_every_command_that_talks_to_an_instance_takes_state_dir(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--state-dir" in result.output


def test_the_repl_keeps_one_conversation_and_sends_y_as_a_message(fake_gateway: FakeGateway,
                                                                 clean_env: Path) -> None:
    result = chat(fake_gateway, input="List my Ankra clusters\ndelete the monitoring stack\ny\n/quit\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("you> ") == 4
    assert "staging-cluster" in result.output and "hermes approve apr-123" in result.output
    assert "You said: y" in result.output
    bodies = [body for _, path, body in fake_gateway.requests if path == "/v1/messages"]
    assert [b["text"] for b in bodies] == ["List my Ankra clusters", "delete the monitoring stack", "y"]
    assert not [b for b in bodies if "user" in b]
    [conversation] = fake_gateway.conversations
    assert "conversation_id" not in bodies[0]
    assert bodies[1]["conversation_id"] == conversation and bodies[2]["conversation_id"] == conversation


def test_the_repl_ends_on_end_of_input(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = chat(fake_gateway, input="hello\n")
    assert result.exit_code == 0, result.output
    assert "You said: hello" in result.output


def test_whoami_prints_the_tokens_user_and_roles(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = runner.invoke(app, ["whoami", "--url", fake_gateway.url, "--token", TOKEN])
    assert result.exit_code == 0, result.output
    assert "alice (operator, approver)" in result.output and fake_gateway.url in result.output
    assert fake_gateway.requests == [("GET", "/v1/whoami", {})]
    as_json = runner.invoke(app, ["whoami", "--json", "--url", fake_gateway.url, "--token", TOKEN])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == WHOAMI


def test_whoami_with_a_wrong_token_says_so(fake_gateway: FakeGateway, clean_env: Path) -> None:
    result = runner.invoke(app, ["whoami", "--url", fake_gateway.url, "--token", "wrong"])
    assert result.exit_code == 1, result.output
    assert "token was refused" in result.output and "hermes users" in result.output


def test_whoami_uses_the_local_admin_token_when_no_other_is_given(fake_gateway: FakeGateway,
                                                                  clean_env: Path) -> None:
    clean_env.mkdir(parents=True)
    (clean_env / "up.json").write_text(json.dumps({"pid": 1, "url": fake_gateway.url}))
    (clean_env / "api-token").write_text(TOKEN + "\n")
    result = runner.invoke(app, ["whoami"])
    assert result.exit_code == 0, result.output
    assert "alice" in result.output


def test_the_token_flag_beats_the_environment(fake_gateway: FakeGateway, clean_env: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERMES_API_TOKEN", "someone-elses-token")
    result = runner.invoke(app, ["whoami", "--url", fake_gateway.url, "--token", TOKEN])
    assert result.exit_code == 0, result.output
    refused = runner.invoke(app, ["whoami", "--url", fake_gateway.url])
    assert refused.exit_code == 1 and "token was refused" in refused.output
