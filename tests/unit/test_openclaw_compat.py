"""Hermes reads OpenClaw's files as people actually write them: every pattern found in the ClawHub
archive (openclaw/skills @ 3a5f649), clawdbot's bundled skills (@ c13c39f) and openclaw/docs' config
examples (@ c0a8fa9), as generated cases; and the official Ankra skills as they ship."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from hermes.config import load_config
from hermes.openclaw import frontmatter as ocfm
from hermes.skills import SkillRoot, SkillStatus, default_roots, discover_skills, parse_skill

FIXTURES = Path(__file__).parent / "fixtures" / "ankra_skills"
REPO = Path(__file__).resolve().parents[2]


def skill_file(root: Path, folder: str, text: str) -> Path:
    path = root / folder / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def judge(tmp_path: Path, text: str, folder: str = "s", config=None, platform: str = "linux"):
    root = tmp_path / "skills"
    skill_file(root, folder, text)
    skills = discover_skills([SkillRoot(root, "workspace")], config, {"PATH": ""}, platform)
    (skill,) = skills.skills
    return skill


# -- frontmatter: OpenClaw falls back to line-by-line reading on any YAML error ------------------------


def test_unquoted_colon_in_description_loads_read_line_by_line(tmp_path: Path) -> None:
    skill = judge(tmp_path, """
        ---
        name: food-order
        description: Order food. Triggers: order food, get lunch
        ---
        body
        """)
    assert skill.status is SkillStatus.LOADED, skill.reason
    assert skill.description == "Order food. Triggers: order food, get lunch"
    assert any("not valid YAML" in w and "line by line" in w for w in skill.warnings)


def test_duplicate_keys_are_a_yaml_error_and_the_last_line_wins(tmp_path: Path) -> None:
    skill = judge(tmp_path, "---\nname: dup\ndescription: first\ndescription: second\n---\n")
    assert skill.status is SkillStatus.LOADED and skill.description == "second"
    assert any("duplicate key" in w for w in skill.warnings)


def test_yaml_object_from_an_unquoted_colon_gives_way_to_the_plain_line(tmp_path: Path) -> None:
    # YAML reads `description: a: b` as an error, but `name: x: y`-style values nested under a key
    # become objects; OpenClaw then prefers the plain line text.
    values = ocfm.parse_frontmatter("---\nname: n\ndescription:\n  Use it: when asked\n---\n")[0].values
    assert values["description"] == "Use it: when asked"


@pytest.mark.parametrize("name", ["llm_wallet", "Azure CLI", "MyTool", "x" * 80])
def test_names_are_not_checked_only_noted(tmp_path: Path, name: str) -> None:
    skill = judge(tmp_path, f"---\nname: {name}\ndescription: does things\n---\n")
    assert skill.status is SkillStatus.LOADED and skill.name == name
    assert any("Agent Skills form" in w for w in skill.warnings)


@pytest.mark.parametrize("text, why", [
    ("no frontmatter at all\n", "no frontmatter"),
    ("---\nname: x\ndescription: never closed\n", "no frontmatter"),
    ("\ufeff---\nname: x\ndescription: a BOM first\n---\n", "no frontmatter"),
    ("---\nname: x\n---\n", "`description` is missing"),
    ("---\nname: x\ndescription: \"\"\n---\n", "`description` is missing"),
])
def test_what_openclaw_skips_hermes_reports_broken(tmp_path: Path, text: str, why: str) -> None:
    skill = judge(tmp_path, text)
    assert skill.status is SkillStatus.BROKEN and why in skill.reason


def test_non_text_description_is_kept_as_openclaw_text(tmp_path: Path) -> None:
    flow = judge(tmp_path / "flow", "---\nname: x\ndescription: [a, b]\nversion: 1.0\n---\n")
    assert flow.status is SkillStatus.LOADED and flow.description == "[a, b]"  # the line's text wins
    assert flow.values["version"] == "1"  # numbers as JavaScript prints them
    block = judge(tmp_path / "block", "---\nname: x\ndescription:\n  - a\n  - b\n---\n")
    assert block.status is SkillStatus.LOADED and block.description == '["a","b"]'


def test_oversized_skill_file_is_skipped(tmp_path: Path) -> None:
    big = "---\nname: big\ndescription: big\n---\n" + "x" * (ocfm.MAX_SKILL_FILE_BYTES + 1)
    skill = judge(tmp_path, big)
    assert skill.status is SkillStatus.BROKEN and str(ocfm.MAX_SKILL_FILE_BYTES) in skill.reason


# -- metadata -------------------------------------------------------------------------------------------


def test_moltbot_metadata_gates_the_skill(tmp_path: Path) -> None:
    text = """
        ---
        name: mac-notes
        description: Apple Notes
        metadata: {"moltbot":{"emoji":"📝","os":["darwin"],"requires":{"bins":["memo"]}}}
        ---
        """
    skill = judge(tmp_path, text)
    assert skill.metadata.source_key == "moltbot"
    assert skill.status is SkillStatus.INELIGIBLE and "darwin" in skill.reason
    on_mac = judge(tmp_path / "mac", text, platform="darwin")
    assert on_mac.status is SkillStatus.INELIGIBLE and "`memo`" in on_mac.reason


def test_clawdis_metadata_is_no_longer_read_and_says_so(tmp_path: Path) -> None:
    skill = judge(tmp_path, '---\nname: old\ndescription: d\nmetadata: {"clawdis":{"requires":{"env":["X_TOKEN"]}}}\n---\n')
    assert skill.status is SkillStatus.LOADED and skill.metadata.source_key is None
    assert any("clawdis" in w and "metadata.openclaw" in w for w in skill.warnings)


def test_metadata_that_is_not_json5_leaves_the_skill_ungated_with_a_note(tmp_path: Path) -> None:
    # One indented line of flow YAML: OpenClaw keeps the plain line text, which is not JSON5.
    skill = judge(tmp_path, "---\nname: k\ndescription: d\nmetadata:\n  openclaw: {requires: {env: [K]}}\n---\n")
    assert skill.status is SkillStatus.LOADED and skill.metadata.source_key is None
    assert any("not JSON5" in w for w in skill.warnings)


def test_always_must_be_a_real_boolean(tmp_path: Path) -> None:
    skill = judge(tmp_path, '---\nname: a\ndescription: d\nmetadata: {"openclaw":{"always":"true","requires":{"bins":["no-such-bin-x"]}}}\n---\n')
    assert skill.status is SkillStatus.INELIGIBLE and "no-such-bin-x" in skill.reason


@pytest.mark.parametrize("path", ["browser.enabled", "browser.evaluateEnabled"])
def test_browser_paths_count_as_set_when_the_config_does_not_say(tmp_path: Path, path: str) -> None:
    text = f'---\nname: web\ndescription: d\nmetadata: {{"openclaw":{{"requires":{{"config":["{path}"]}}}}}}\n---\n'
    assert judge(tmp_path / "a", text).status is SkillStatus.LOADED
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "openclaw.json").write_text('{browser: {enabled: false, evaluateEnabled: false}}')
    config = load_config(tmp_path / "b" / "openclaw.json", env={})
    assert judge(tmp_path / "b", text, config=config).status is SkillStatus.INELIGIBLE


def test_binaries_in_the_usual_system_folders_count() -> None:
    assert ocfm.has_binary("sh", "", "linux") is (Path("/bin/sh").exists() or Path("/usr/bin/sh").exists())
    assert ocfm.has_binary("sh", "", "win32") is False


def test_command_dispatch_tool_is_noted(tmp_path: Path) -> None:
    skill = judge(tmp_path, "---\nname: d\ndescription: d\ncommand-dispatch: tool\ncommand-tool: exec\n---\n")
    assert skill.status is SkillStatus.LOADED
    assert skill.command_dispatch == "tool" and skill.command_tool == "exec"
    assert any("command-dispatch: tool" in w and "exec" in w for w in skill.warnings)
    assert "note: `command-dispatch: tool`" in discover_skills([SkillRoot(tmp_path / "skills", "w")], None,
                                                               {"PATH": ""}, "linux").report()


# -- the official Ankra skills, unchanged --------------------------------------------------------------


def test_every_official_ankra_skill_loads_unchanged() -> None:
    skills = discover_skills([SkillRoot(FIXTURES / "embedded", "extra")], None, {"PATH": ""}, "linux")
    folders = sorted(p.name for p in (FIXTURES / "embedded").iterdir())
    assert len(folders) == 14
    assert sorted(s.name for s in skills.skills) == folders
    assert all(s.status is SkillStatus.LOADED and not s.warnings for s in skills.skills), \
        [(s.name, s.reason, s.warnings) for s in skills.skills if s.warnings or not s.loaded]


def test_official_skill_commands_resolve_and_the_rest_is_reported() -> None:
    skills = discover_skills([SkillRoot(FIXTURES / "embedded", "extra")], None, {"PATH": ""}, "linux")
    cli = skills.get("ankra-cli")
    assert cli.command_source == "body"
    resolved = {c.template: c.catalog_key for c in cli.resolved_commands}
    assert resolved["ankra cluster list"] == "cluster list"
    assert resolved["ankra cluster apply -f cluster.yaml"] == "cluster apply"
    unresolved = {c.template: c.problem for c in cli.unresolved_commands}
    assert "ankra login" in unresolved and "not a command in Hermes's catalog" in unresolved["ankra login"]
    assert "ankra org select" in unresolved
    assert not any(t == "ankra" or t.startswith("ankra =") for t in unresolved)  # not commands at all
    assert {"cluster list", "cluster apply", "cluster info"} <= skills.allowed_commands()
    report = skills.report()
    assert "unresolved: `ankra login`" in report and "named in the body's code" in report


def test_terraform_hcl_is_not_taken_for_a_command() -> None:
    skill = parse_skill(FIXTURES / "embedded" / "ankra-terraform" / "SKILL.md", SkillRoot(FIXTURES, "extra"))
    assert all(c.template.split()[1][0].isalpha() or c.template.split()[1].startswith("-") for c in skill.commands)


def test_the_generated_cluster_skill_loads_from_the_openclaw_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = home / ".openclaw" / "skills" / "ankra-prod-eu.md"
    target.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "generated" / "ankra-prod-eu.md", target)
    (target.parent / "README.md").write_text("# not a skill\n")
    skills = discover_skills(default_roots(None, home), None, {"PATH": ""}, "linux")
    skill = skills.get("ankra-prod-eu")
    assert skill is not None and skill.status is SkillStatus.LOADED, skill and skill.reason
    assert skill.root.source == "openclaw" and skill.file == target
    assert "Prod EU" in skill.description
    (handoff,) = skill.unresolved_commands
    assert handoff.template == "ankra openclaw handoff <conversation-id>"
    assert not any(s.file.name == "README.md" for s in skills.skills)


# -- openclaw.json as OpenClaw documents it ------------------------------------------------------------


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "openclaw.json"
    path.write_text(textwrap.dedent(text))
    return load_config(path, env=env or {})


def test_exec_approvals_auto_is_the_documented_default(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        {channels: {slack: {botToken: "xoxb-1", appToken: "xapp-1",
                            execApprovals: {enabled: "auto", approvers: ["U1"]}},
                    discord: {token: "d-1", execApprovals: {enabled: "auto"}}}}
        """)
    assert not cfg.errors, cfg.errors
    assert cfg.channels.slack.exec_approvals.enabled is True and cfg.channels.slack.exec_approvals.auto
    assert cfg.channels.discord.exec_approvals.enabled is False  # auto without approvers: off
    assert cfg.channels.discord.configured


def test_one_bad_value_does_not_drop_the_channel(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        {channels: {slack: {botToken: "xoxb-1", allowFrom: ["U1"],
                            execApprovals: {enabled: "sometimes", target: "dm"},
                            channels: {C1: {allow: true}, C2: {requireMention: "maybe"}}}}}
        """)
    slack = cfg.channels.slack
    assert slack is not None and slack.configured and slack.allow_from == ["U1"]
    assert slack.channels["C1"].allow is True
    messages = " ".join(str(e) for e in cfg.errors)
    assert "execApprovals.enabled" in messages and "C2.requireMention" in messages
    assert "the rest of channels.slack is" in messages


def test_slack_channel_enabled_false_is_honoured(tmp_path: Path) -> None:
    cfg = load(tmp_path, '{channels: {slack: {botToken: "x", channels: {C1: {enabled: false}, C2: {}}}}}')
    assert cfg.channels.slack.channels["C1"].allow is False
    assert cfg.channels.slack.channels["C2"].allow is None


def test_keys_the_gateway_reads_are_not_reported(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        {channels: {slack: {botToken: "x", dmPolicy: "open", groupPolicy: "allowlist"},
                    telegram: {botToken: "t", groups: {"-100": {requireMention: false}}, dm: {policy: "pairing"}}}}
        """)
    ignored = {i.dotted for i in cfg.ignored}
    assert not ignored & {"channels.slack.dmPolicy", "channels.slack.groupPolicy", "channels.telegram.groups",
                          "channels.telegram.dm"}
    assert cfg.channels.telegram.model_extra["groups"] == {"-100": {"requireMention": False}}


def test_openclaw_keys_are_valid_but_meaningless_not_unknown(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        {mcp: {servers: {}}, security: {}, skills: {allowBundled: ["x"], limits: {}},
         gateway: {port: 18789, tls: {enabled: true}},
         agents: {defaults: {models: {}, heartbeat: {}, modelz: 1}},
         channels: {defaults: {}, modelByChannel: {}, slack: {botToken: "x", streaming: "off"}}}
        """)
    reasons = {i.dotted: i.reason for i in cfg.ignored}
    for key in ("mcp", "security", "skills.allowBundled", "skills.limits", "gateway.tls",
                "agents.defaults.models", "agents.defaults.heartbeat", "channels.slack.streaming"):
        assert reasons[key] == "an OpenClaw setting with no meaning in Hermes", (key, reasons.get(key))
    for key in ("channels.defaults", "channels.modelByChannel"):
        assert "no meaning in Hermes" in reasons[key] and "not a channel" in reasons[key]
    assert reasons["agents.defaults.modelz"].startswith("not a setting Hermes knows")


def test_file_secret_refs_resolve_through_their_provider(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text(json.dumps({"slack": {"botToken": "xoxb-from-file-123"}}))
    cfg = load(tmp_path, """
        {secrets: {providers: {filemain: {source: "file", path: "secrets.json", mode: "json"}}},
         channels: {slack: {botToken: {source: "file", provider: "filemain", id: "/slack/botToken"}}}}
        """)
    assert not cfg.errors, cfg.errors
    assert cfg.channels.slack.bot_token.get_secret_value() == "xoxb-from-file-123"
    assert "xoxb-from-file-123" in cfg.secret_values()
    assert "xoxb-from-file-123" not in cfg.report()
    missing = load(tmp_path, '{channels: {slack: {botToken: {source: "file", provider: "filemain", id: "/nope"}}}}')
    assert any("filemain" in str(e) and "secrets.providers" in str(e) for e in missing.errors)


def test_secrets_in_ignored_sections_are_never_resolved(tmp_path: Path) -> None:
    cfg = load(tmp_path, """
        {models: {providers: {openai: {apiKey: "${OPENAI_API_KEY}"}}},
         channels: {whatsapp: {token: "${WA_TOKEN}"}}, gateway: {port: 1}}
        """, env={"WA_TOKEN": "wa-secret-value"})
    assert cfg.errors == []
    assert "wa-secret-value" not in cfg.secret_values()


# -- the agreement bench -------------------------------------------------------------------------------


def _bench():
    spec = importlib.util.spec_from_file_location("openclaw_compat", REPO / "bench" / "openclaw_compat.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["openclaw_compat"] = module
    spec.loader.exec_module(module)
    return module


def test_bench_agrees_with_openclaw_on_every_pattern(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "")
    root = tmp_path / "skills"
    cases = {
        "colon": "---\nname: c\ndescription: Triggers: order food\n---\n",
        "llm_wallet": "---\nname: llm_wallet\ndescription: wallet\n---\n",
        "nofm": "# just markdown\n",
        "nodesc": "---\nname: n\n---\n",
        "molt": '---\nname: m\ndescription: d\nmetadata: {"moltbot":{"os":["darwin"]}}\n---\n',
        "browser": '---\nname: b\ndescription: d\nmetadata: {"openclaw":{"requires":{"config":["browser.enabled"]}}}\n---\n',
        "env": '---\nname: e\ndescription: d\nmetadata: {"clawdbot":{"requires":{"env":["NOPE_TOKEN"]}}}\n---\n',
    }
    for folder, text in cases.items():
        skill_file(root, folder, text)
    bench = _bench()
    rows = {r.file.split("/")[0]: r for r in bench.run(root, "linux")}
    assert {k: (r.openclaw, r.hermes) for k, r in rows.items()} == {
        "colon": ("loaded", "loaded"), "llm_wallet": ("loaded", "loaded"), "nofm": ("broken", "broken"),
        "nodesc": ("broken", "broken"), "molt": ("ineligible", "ineligible"),
        "browser": ("loaded", "loaded"), "env": ("ineligible", "ineligible")}
    out = tmp_path / "out.md"
    assert bench.main([str(root), "--out", str(out)]) == 0
    assert "**Agreement: 7/7 (100.00%).**" in out.read_text()
