"""`hermes config check`, `hermes skills list` and `hermes audit` as a person runs them.

Config and skills are read from files of the test's own (HOME points at an empty tmp dir, so
nothing of the machine's ~/.hermes or ~/.openclaw leaks in). The audit is read from a real NATS
server with JetStream (`fresh_nats`), holding records published the way the services publish them.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import nats
import pytest
from hermes import embedded, subjects
from hermes.audit import read_audit
from hermes.contracts import AuditRecord, utcnow
from hermes.signing import ServiceKey, sign_model
from hermes_cli.main import app
from nats.js.api import StreamConfig
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clean_env: Path) -> Path:
    """An empty home of the test's own and no HERMES_/ANKRA_ variables."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_BOT_TOKEN", "TELEGRAM_BOT_TOKEN",
                 "OPENCLAW_GATEWAY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


# -- hermes config check -----------------------------------------------------------------------

HERMES_JSON = """
// Hermes's own file: JSON5, comments and trailing commas allowed
{
  profiles: {
    production: {
      model: "claude-sonnet-4-20250514",
      skills: ["ankra"],
      autonomy: "confirm-all",
      guardrails: {
        require_confirmation: ["delete", "deprovision", "scale-down"],
        require_architecture_draft: true,
        require_bill_of_materials: true,
      },
    },
    sandbox: {autonomy: "auto", guardrails: {require_confirmation: ["deprovision"]}},
  },
  hermes: {
    defaultProfile: "production",
    clusterProfiles: {production: "production"},
    approvers: ["alice", "bob"],
  },
  gateway: {port: 8789, auth: {mode: "token", token: "${GW_TOKEN}"}},
}
"""


def test_config_check_of_a_good_hermes_json_exits_0_and_says_what_loaded(home: Path, monkeypatch) -> None:
    monkeypatch.setenv("GW_TOKEN", "gw-secret-value-123")
    config = write(home / "cfg" / "hermes.json", HERMES_JSON)
    result = runner.invoke(app, ["config", "check", "--file", str(config)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Config file: {config}" in out
    assert "production: confirm-all" in out and "sandbox: auto" in out
    assert "Profiles (default: production)" in out
    assert "production -> production" in out  # the cluster's minimum profile
    assert "auth token (token set)" in out
    assert "No errors." in out
    assert "gw-secret-value-123" not in result.output, "a secret is never printed"


def test_config_check_finds_the_file_through_hermes_config(home: Path, monkeypatch) -> None:
    monkeypatch.setenv("GW_TOKEN", "x")
    config = write(home / "elsewhere.json5", HERMES_JSON)
    monkeypatch.setenv("HERMES_CONFIG", str(config))
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert f"Config file: {config}" in result.stdout


def test_config_check_without_a_file_says_the_defaults_apply(home: Path) -> None:
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert "none found (defaults)" in result.stdout
    assert "production: confirm-all" in result.stdout and "sandbox: auto" in result.stdout


def test_config_check_reports_each_error_with_file_and_line_and_exits_1(home: Path) -> None:
    config = write(home / ".hermes" / "hermes.json", """
        {
          profiles: {
            careful: {autonomy: "confirm-all"},
            sloppy: {autonomy: "yolo"},
          },
          hermes: {defaultProfile: "careful", clusterProfiles: {production: "nope"}},
          gateway: {port: 8789, auth: {token: "${HERMES_TEST_UNSET_VARIABLE}"}},
          colour: "blue",
        }
    """)
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "Errors:" in out
    assert f"{config}:4: profiles.sloppy.autonomy" in out and "yolo" in out
    assert f"{config}:6: hermes.clusterProfiles.production: no profile 'nope'" in out
    assert f"{config}:7: gateway.auth.token: environment variable HERMES_TEST_UNSET_VARIABLE is not set" in out
    # an unknown key is not an error but is listed, with its line and why
    assert "Ignored:" in out and "colour (line 8): not a setting Hermes knows" in out
    # the rest still applied
    assert "careful: confirm-all" in out and "Profiles (default: careful)" in out


def test_config_check_of_a_syntax_error_names_file_line_and_column_and_exits_2(home: Path) -> None:
    config = write(home / "broken.json", """
        {
          profiles: {
            production: {autonomy: "confirm-all"}
            sandbox: {autonomy: "auto"},
          },
        }
    """)
    result = runner.invoke(app, ["config", "check", "-f", str(config)])
    assert result.exit_code == 2, result.output
    assert f"{config}:4:" in result.stderr  # the line of the entry after the missing comma
    assert "JSON5 syntax error" in result.stderr and "missing comma" in result.stderr
    assert "sandbox" in result.stderr  # the offending line is quoted
    assert result.stdout == ""


def test_config_check_of_a_missing_explicit_file_warns_and_uses_the_defaults(home: Path) -> None:
    missing = home / "nope.json"
    result = runner.invoke(app, ["config", "check", "--file", str(missing)])
    assert result.exit_code == 0, result.output
    assert "Warnings:" in result.stdout and f"{missing}: no such file" in result.stdout


OPENCLAW_JSON = """
// ~/.openclaw/openclaw.json as OpenClaw writes it
{
  "$schema": "https://openclaw.ai/schema.json",
  models: {providers: {anthropic: {apiKey: "${ANTHROPIC_API_KEY}"}}},
  skills: {
    entries: {
      ankra: {enabled: true, env: {ANKRA_API_TOKEN: {source: "env", id: "MY_ANKRA_TOKEN"}}},
      weather: {enabled: false},
    },
    load: {extraDirs: ["./more-skills"], watch: true},
  },
  agents: {
    defaults: {
      model: {primary: "anthropic/claude-sonnet-4", fallbacks: []},
      sandbox: {mode: "non-main", docker: {network: "none", env: {ANKRA_API_TOKEN: "${MY_ANKRA_TOKEN}"}}},
    },
    list: [{id: "main", default: true}, {id: "ops", workspace: "~/ops"}],
  },
  channels: {
    slack: {botToken: "${SLACK_TEST_BOT}", appToken: "xapp-literal-app-token", allowFrom: ["U123"],
            execApprovals: {enabled: true, approvers: ["U123"], target: "dm"}},
    whatsapp: {enabled: true},
  },
  gateway: {port: 18789, bind: "loopback", auth: {mode: "token"}},
  session: {scope: "per-sender"},
}
"""


def test_config_check_accepts_an_openclaw_json_unchanged(home: Path, monkeypatch) -> None:
    monkeypatch.setenv("MY_ANKRA_TOKEN", "ankra_supersecret_token")
    monkeypatch.setenv("SLACK_TEST_BOT", "xoxb-secret-bot-token")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-whatever")
    config = write(home / ".openclaw" / "openclaw.json", OPENCLAW_JSON)
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Config file: {config}" in out
    assert "skills.entries.ankra: enabled" in out and "skills.entries.weather: disabled" in out
    assert "ankra: enabled; apiKey unset; env ANKRA_API_TOKEN=set" in out
    assert "extra skill dirs: ./more-skills" in out
    assert "agents.list (older form): 2 agent(s)" in out and "Agents: main, ops" in out
    assert "slack: botToken set, appToken set" in out and "execApprovals to dm" in out
    assert "Sandbox: mode non-main" in out and "env ANKRA_API_TOKEN=set" in out
    assert "Gateway: port 18789, bind loopback" in out
    # OpenClaw-only keys and an unsupported channel: ignored, each with its line and why
    assert "models (line 4): an OpenClaw setting with no meaning in Hermes" in out
    assert "session (line 25): an OpenClaw setting with no meaning in Hermes" in out
    assert "channels.whatsapp (line 22): a channel Hermes does not support" in out
    assert "No errors." in out
    for secret in ("ankra_supersecret_token", "xoxb-secret-bot-token", "xapp-literal-app-token", "sk-ant-whatever"):
        assert secret not in result.output


def test_config_check_refuses_an_exec_secret_ref_with_its_line(home: Path) -> None:
    config = write(home / ".openclaw" / "openclaw.json", """
        {
          channels: {
            discord: {token: {source: "exec", id: "pass show discord"}},
          },
        }
    """)
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 1, result.output
    assert f"{config}:3: channels.discord.token: SecretRef source \"exec\" is refused" in result.stdout


# -- hermes skills list ------------------------------------------------------------------------

GOOD_SKILL = """
---
name: kube-reader
description: Read-only look at clusters.
---
## Available Commands
- `ankra cluster list` -- List clusters
- `ankra cluster frobnicate` -- Not a real command
## Guardrails
- Never echo tokens back in chat.
"""


def test_skills_list_shows_loaded_and_skipped_skills_with_reasons(home: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write(workspace / "skills" / "kube-reader" / "SKILL.md", GOOD_SKILL)
    write(workspace / "skills" / "no-description" / "SKILL.md", "---\nname: no-description\n---\nbody\n")
    write(workspace / "skills" / "Bad_Name" / "SKILL.md", "---\ndescription: x\n---\n")
    write(workspace / "skills" / "needs-env" / "SKILL.md", """
        ---
        name: needs-env
        description: Needs a variable.
        metadata: {"openclaw": {"requires": {"env": ["HERMES_TEST_NEVER_SET"]}}}
        ---
    """)
    # a workspace skill named like the bundled one wins over it
    write(workspace / ".agents" / "skills" / "ankra" / "SKILL.md",
          "---\nname: ankra\ndescription: my own ankra skill\n---\n## Available Commands\n- `ankra cluster list`\n")
    result = runner.invoke(app, ["skills", "list", "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"workspace         {workspace / 'skills'}" in out
    assert "bundled" in out
    assert "- kube-reader [workspace]" in out
    assert "unresolved: `ankra cluster frobnicate`" in out
    assert "skipped (broken): `description` is missing" in out
    # OpenClaw does not check names: a folder name outside the Agent Skills form loads, with a note.
    assert "- Bad_Name [workspace]" in out
    assert "note: folder name (no `name` in the frontmatter) 'Bad_Name' is not the Agent Skills form" in out
    assert "skipped (ineligible): needs environment variable HERMES_TEST_NEVER_SET" in out
    assert "- ankra [workspace-agents]" in out
    assert f"shadowed by {workspace / '.agents' / 'skills' / 'ankra' / 'SKILL.md'}" in out
    assert "Skills: 3 loaded" in out
    assert "  ankra cluster list" in out


def test_skills_list_applies_the_config_entries_and_extra_dirs(home: Path, tmp_path: Path) -> None:
    write(home / ".openclaw" / "skills" / "kube-reader" / "SKILL.md", GOOD_SKILL)
    write(home / ".openclaw" / "more" / "extra-one" / "SKILL.md", "---\nname: extra-one\ndescription: extra\n---\n")
    write(home / ".openclaw" / "openclaw.json", """
        {skills: {entries: {"kube-reader": {enabled: false}}, load: {extraDirs: ["more"]}}}
    """)
    result = runner.invoke(app, ["skills", "list"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "skipped (disabled): disabled by skills.entries.kube-reader.enabled = false" in out
    assert f"extra             {home / '.openclaw' / 'more'}" in out
    assert "- extra-one [extra]" in out


def test_skills_list_with_a_broken_config_still_lists_the_skills(home: Path) -> None:
    write(home / ".hermes" / "hermes.json", "{skills: {")
    result = runner.invoke(app, ["skills", "list"])
    assert result.exit_code == 0, result.output
    assert "JSON5 syntax error" in result.stderr and "without the config" in result.stderr
    assert "- ankra [bundled]" in result.stdout


# -- hermes audit ------------------------------------------------------------------------------


def _record(event: str, conversation: str, **fields) -> AuditRecord:
    return AuditRecord(conversation_id=conversation, correlation_id=f"corr-{conversation}", event=event,
                       service="guard", **fields)


RECORDS = [
    _record("plan.approval_requested", "conv-a", requested_by="alice", profile="production", cluster="production",
            plan_id="p1", plan_hash="a" * 64, commands=[["cluster", "reconcile", "production"]],
            reason="confirm-all: every change waits for approval"),
    _record("approval.refused", "conv-a", requested_by="mallory",
            reason="mallory may not decide approval apr-1; allowed: alice"),
    _record("approval.approved", "conv-a", requested_by="alice", approved_by=["alice"], profile="production",
            cluster="production", plan_id="p1", plan_hash="a" * 64, commands=[["cluster", "reconcile", "production"]]),
    _record("plan.run", "conv-b", requested_by="bob", profile="sandbox", cluster="staging-cluster",
            plan_id="p2", plan_hash="b" * 64, commands=[["cluster", "reconcile", "staging-cluster"]]),
    _record("order.finished", "conv-b", requested_by="bob", cluster="staging-cluster", outcome="succeeded",
            plan_id="p2", commands=[["cluster", "reconcile", "staging-cluster"]]),
]


async def _publish(url: str, records: list[AuditRecord]) -> None:
    """Create the audit stream as the services declare it, and append records as they do."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        spec = subjects.AUDIT_STREAM
        await js.add_stream(StreamConfig(name=spec.name, subjects=list(spec.subjects), retention=spec.retention,
                                         max_age=spec.max_age_seconds, storage=spec.storage,
                                         duplicate_window=spec.duplicate_window_seconds))
        for record in records:
            await js.publish(subjects.audit_subject(record.service), record.model_dump_json().encode(), stream=spec.name,
                             headers={"Nats-Msg-Id": record.id})
    finally:
        await nc.close()


@pytest.fixture
def audit_nats(fresh_nats, home: Path) -> str:
    asyncio.run(_publish(fresh_nats.url, RECORDS))
    return fresh_nats.url


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_audit_shows_every_record_in_a_table(audit_nats: str) -> None:
    result = runner.invoke(app, ["audit", "--nats-url", audit_nats], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    for column in ("time", "event", "who asked", "who approved", "profile", "cluster", "commands",
                   "outcome / reason", "plan", "signed"):
        assert column in out
    assert "Audit (5 records)" in out
    assert "plan.approval_requested" in out and "approval.approved" in out and "order.finished" in out
    assert "mallory may not decide approval apr-1" in out
    assert "ankra cluster reconcile production" in out
    assert "aaaaaaaaaaaa" in out and "a" * 13 not in out, "the plan hash is shown short"
    assert "succeeded" in out


def _flat(text: str) -> str:
    """The text with its line wrapping undone (a wrapped value is still the value)."""
    return " ".join(text.split())


@pytest.mark.parametrize("columns", ["80", "100"])
def test_audit_at_a_narrow_terminal_shows_every_field_of_every_record(audit_nats: str, columns: str) -> None:
    result = runner.invoke(app, ["audit", "--nats-url", audit_nats], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= int(columns)
    out = _flat(result.stdout)
    assert "Audit (5 records)" in out
    for label in ("who asked", "who approved", "profile", "cluster", "commands", "outcome / reason", "plan",
                  "signed"):
        assert out.count(label) >= len(RECORDS), f"{label!r} is not shown for every record"
    for record in RECORDS:
        values = [record.created_at.strftime("%Y-%m-%d %H:%M:%S"), record.event, *(record.approved_by),
                  *(f"ankra {' '.join(argv)}" for argv in record.commands)]
        values += [v for v in (record.requested_by, record.profile, record.cluster, record.outcome, record.reason,
                               (record.plan_hash or "")[:12]) if v]
        for value in values:
            assert _flat(value) in out, f"{value!r} of {record.event} is not shown at {columns} columns"
    assert out.count("?") >= len(RECORDS), "the signed column (no keys given: ?) shows for every record"


def test_audit_filters_by_conversation_and_cluster(audit_nats: str) -> None:
    result = runner.invoke(app, ["audit", "--nats-url", audit_nats, "--conversation", "conv-a", "--json"])
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert [r["event"] for r in rows] == ["plan.approval_requested", "approval.refused", "approval.approved"]
    assert rows[2]["approved_by"] == ["alice"] and rows[2]["profile"] == "production"
    assert rows[1]["requested_by"] == "mallory"

    result = runner.invoke(app, ["audit", "--nats-url", audit_nats, "--cluster", "staging-cluster", "--json"])
    assert result.exit_code == 0, result.output
    rows = _json_lines(result.stdout)
    assert [r["event"] for r in rows] == ["plan.run", "order.finished"]
    assert {r["conversation_id"] for r in rows} == {"conv-b"}

    result = runner.invoke(app, ["audit", "--nats-url", audit_nats, "-c", "conv-a", "--cluster", "staging-cluster"])
    assert result.exit_code == 0, result.output
    assert "No audit records for conversation conv-a and cluster staging-cluster." in result.stdout


def test_audit_limit_keeps_the_most_recent(audit_nats: str) -> None:
    result = runner.invoke(app, ["audit", "--nats-url", audit_nats, "--limit", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert [r["event"] for r in _json_lines(result.stdout)] == ["plan.run", "order.finished"]


def test_audit_finds_nats_through_the_environment_then_up_json(audit_nats: str, clean_env: Path) -> None:
    result = runner.invoke(app, ["audit", "--json"], env={"HERMES_NATS_URL": audit_nats})
    assert result.exit_code == 0, result.output
    assert len(_json_lines(result.stdout)) == 5

    clean_env.mkdir(parents=True, exist_ok=True)
    (clean_env / "up.json").write_text(json.dumps({"pid": 1, "url": "http://127.0.0.1:8789", "nats_url": audit_nats,
                                                   "redis_url": "redis://127.0.0.1:1/0"}))
    result = runner.invoke(app, ["audit", "--json", "-c", "conv-b"])
    assert result.exit_code == 0, result.output
    assert len(_json_lines(result.stdout)) == 2


def test_audit_without_any_nats_url_says_how_to_give_one(clean_env: Path) -> None:
    result = runner.invoke(app, ["audit"])
    assert result.exit_code == 1
    assert "no NATS URL" in result.stderr and "--nats-url" in result.stderr and "hermes up" in result.stderr


def test_audit_against_unreachable_nats_fails_fast_and_clearly(clean_env: Path) -> None:
    url = f"nats://127.0.0.1:{embedded.free_port()}"
    started = time.monotonic()
    result = runner.invoke(app, ["audit", "--nats-url", url])
    assert result.exit_code == 1
    assert time.monotonic() - started < 10
    assert f"cannot reach NATS at {url}" in result.stderr and "Connection refused" in result.stderr
    assert "Traceback" not in result.output


def test_audit_of_a_nats_without_the_audit_stream_says_so(fresh_nats, clean_env: Path) -> None:
    result = runner.invoke(app, ["audit", "--nats-url", fresh_nats.url])
    assert result.exit_code == 1
    assert "has no HERMES_AUDIT stream" in result.stderr


async def test_read_audit_of_an_unreachable_nats_fails_within_seconds() -> None:
    url = f"nats://127.0.0.1:{embedded.free_port()}"
    with pytest.raises(Exception) as caught:
        await asyncio.wait_for(read_audit(url), timeout=10)
    assert not isinstance(caught.value, TimeoutError), "read_audit did not give up within 10 s"


def test_audit_record_times_are_shown_in_order(fresh_nats, home: Path) -> None:
    early = _record("plan.run", "conv-t", requested_by="carol", profile="default",
                    created_at=utcnow() - timedelta(hours=1))
    late = _record("plan.refused", "conv-t", requested_by="carol", profile="default", reason="not in any skill")
    asyncio.run(_publish(fresh_nats.url, [early, late]))
    result = runner.invoke(app, ["audit", "--nats-url", fresh_nats.url], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert early.created_at.strftime("%Y-%m-%d %H:%M:%S") in result.stdout
    assert result.stdout.index("plan.run") < result.stdout.index("plan.refused")
    assert "not in any skill" in result.stdout


def test_audit_says_which_records_carry_the_signature_of_the_service_they_name(fresh_nats, home: Path) -> None:
    """Anyone who could publish on the audit subject could write a record that claims to be the guard's:
    `hermes audit` checks each against that service's public key and says so."""
    guard = ServiceKey.generate("guard")
    genuine = sign_model(_record("plan.run", "conv-s", requested_by="alice", profile="default"), guard)
    forged = _record("approval.approved", "conv-s", requested_by="mallory", approved_by=["alice"])
    unknown = _record("order.finished", "conv-s", requested_by="alice", outcome="ok").model_copy(
        update={"service": "executor"})
    asyncio.run(_publish(fresh_nats.url, [genuine, forged, unknown]))
    env = {"HERMES_TRUSTED_KEYS": json.dumps({"guard": guard.public_text}), "COLUMNS": "250"}
    result = runner.invoke(app, ["audit", "--nats-url", fresh_nats.url, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert [(r["event"], r["verified"]) for r in _json_lines(result.stdout)] == [
        ("plan.run", True), ("approval.approved", False), ("order.finished", None)]
    result = runner.invoke(app, ["audit", "--nats-url", fresh_nats.url], env=env)
    assert result.exit_code == 0, result.output
    assert "1 record(s) do not carry the signature of the service they name" in result.stderr
