"""The config loader reads hermes.json / openclaw.json as OpenClaw users write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hermes.config import ConfigError, load_config
from hermes.profiles import (
    DEFAULT_PROFILE,
    Autonomy,
    Guardrails,
    Profile,
    profile_strictness,
    stricter,
)
from hypothesis import given
from hypothesis import strategies as st

FIXTURES = Path(__file__).parent / "fixtures" / "openclaw"


def write(tmp_path: Path, text: str, name: str = "openclaw.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- the guide's snippets, pasted as it prints them ---------------------------------------------------


def test_guide_skill_entry_loads_with_api_key_and_env() -> None:
    cfg = load_config(FIXTURES / "guide_skill_entry.json", env={})
    entry = cfg.skills.entries["ankra"]
    assert entry.enabled is True
    assert entry.api_key is not None and entry.api_key.get_secret_value() == "your-ankra-api-token"
    assert entry.env["ANKRA_API_TOKEN"].get_secret_value() == "your-ankra-api-token"
    assert cfg.errors == [] and cfg.ignored == []
    assert "your-ankra-api-token" in cfg.secret_values()


def test_skill_env_applies_only_variables_not_already_set() -> None:
    cfg = load_config(FIXTURES / "guide_skill_entry.json", env={})
    assert cfg.skill_env("ankra", {}) == {"ANKRA_API_TOKEN": "your-ankra-api-token"}
    assert cfg.skill_env("ankra", {"ANKRA_API_TOKEN": "from-process"}) == {}
    # apiKey becomes the skill's primaryEnv variable, also only when unset.
    assert cfg.skill_env("ankra", {"ANKRA_API_TOKEN": "x"}, primary_env="ANKRA_KEY") == {
        "ANKRA_KEY": "your-ankra-api-token"}
    assert cfg.skill_env("unknown-skill", {}) == {}


def test_guide_sandbox_env_reaches_agent_sandbox_env() -> None:
    cfg = load_config(FIXTURES / "guide_sandbox.json", env={})
    assert cfg.agent_sandbox_env() == {"ANKRA_API_TOKEN": "your-ankra-api-token"}
    assert cfg.agents.defaults.sandbox.docker.network == "none"  # OpenClaw's default
    assert "your-ankra-api-token" in cfg.secret_values()
    assert "your-ankra-api-token" not in cfg.report()


def test_guide_profiles_become_profile_objects() -> None:
    cfg = load_config(FIXTURES / "guide_profiles.json", env={})
    prod, sandbox = cfg.profiles["production"], cfg.profiles["sandbox"]
    assert prod.name == "production" and sandbox.name == "sandbox"
    assert prod.autonomy is Autonomy.CONFIRM_ALL and sandbox.autonomy is Autonomy.AUTO
    assert prod.model == "claude-sonnet-4-20250514" and prod.skills == ["ankra"]
    assert prod.guardrails.require_confirmation == ["delete", "deprovision", "scale-down"]
    assert prod.guardrails.require_architecture_draft and prod.guardrails.require_bill_of_materials
    assert sandbox.guardrails.require_confirmation == ["deprovision"]
    assert not sandbox.guardrails.require_architecture_draft
    assert cfg.profiles["default"] == DEFAULT_PROFILE
    assert cfg.default_profile == "default"
    assert cfg.errors == []


def test_stricter_orders_the_guide_profiles() -> None:
    cfg = load_config(FIXTURES / "guide_profiles.json", env={})
    prod, sandbox = cfg.profiles["production"], cfg.profiles["sandbox"]
    for result in (stricter(prod, sandbox), stricter(sandbox, prod)):
        assert result.name == "production"
        assert result.autonomy is Autonomy.CONFIRM_ALL
        assert result.guardrails.require_architecture_draft
    assert profile_strictness(prod) > profile_strictness(sandbox)


def test_strictness_order_is_read_only_confirm_all_confirm_destructive_auto() -> None:
    order = [Autonomy.READ_ONLY, Autonomy.CONFIRM_ALL, Autonomy.CONFIRM_DESTRUCTIVE, Autonomy.AUTO]
    values = [profile_strictness(Profile(autonomy=a)) for a in order]
    assert values == sorted(values, reverse=True) and len(set(values)) == 4


_autonomies = st.sampled_from(list(Autonomy))
_words = st.lists(st.sampled_from(["delete", "deprovision", "scale-down", "revoke"]), unique=True)


@given(_autonomies, _autonomies, _words, _words, st.booleans(), st.booleans())
def test_stricter_is_never_looser_than_either(a: Autonomy, b: Autonomy, wa: list[str], wb: list[str],
                                              two_a: bool, draft_b: bool) -> None:
    pa = Profile(name="a", autonomy=a, two_person=two_a, guardrails=Guardrails(require_confirmation=wa))
    pb = Profile(name="b", autonomy=b,
                 guardrails=Guardrails(require_confirmation=wb, require_architecture_draft=draft_b))
    result = stricter(pa, pb)
    assert profile_strictness(result) == max(profile_strictness(pa), profile_strictness(pb))
    assert set(result.guardrails.require_confirmation) == set(wa) | set(wb)
    assert result.two_person == two_a
    assert result.guardrails.require_architecture_draft == draft_b


def test_cluster_minimum_profile_applies_to_a_looser_request(tmp_path: Path) -> None:
    profiles = json.loads((FIXTURES / "guide_profiles.json").read_text())
    profiles["hermes"] = {"defaultProfile": "sandbox", "clusterProfiles": {"production": "production"},
                          "approvers": ["U1"]}
    profiles["profiles"]["production"].update({"approvers": ["U2", "U3"], "two_person": True})
    cfg = load_config(write(tmp_path, json.dumps(profiles)), env={})
    assert cfg.default_profile == "sandbox"
    assert cfg.cluster_profiles == {"production": "production"}
    assert cfg.approvers == ["U1"]
    assert cfg.effective_profile(None, "production").autonomy is Autonomy.CONFIRM_ALL
    assert cfg.effective_profile(None, "production").two_person is True
    assert cfg.effective_profile(None, "production").approvers == ["U2", "U3"]
    assert cfg.effective_profile(None, "staging").autonomy is Autonomy.AUTO
    assert cfg.profiles["sandbox"].two_person is False and cfg.profiles["sandbox"].approvers is None


def test_unknown_cluster_profile_pins_the_cluster_to_read_only(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '{hermes: {clusterProfiles: {prod: "nope"}}}'), env={})
    assert any("nope" in e.message and e.line == 1 for e in cfg.errors)
    assert cfg.effective_profile(None, "prod").autonomy is Autonomy.READ_ONLY


def test_hermes_default_profile_env_overrides_the_file(tmp_path: Path) -> None:
    text = (FIXTURES / "guide_profiles.json").read_text()
    path = write(tmp_path, text)
    assert load_config(path, env={"HERMES_DEFAULT_PROFILE": "production"}).default_profile == "production"
    cfg = load_config(path, env={"HERMES_DEFAULT_PROFILE": "missing"})
    assert cfg.default_profile == "default"
    assert any("HERMES_DEFAULT_PROFILE" in e.message and "missing" in e.message for e in cfg.errors)


def test_a_profile_with_an_unknown_autonomy_is_an_error_not_a_looser_profile(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '{profiles: {prod: {autonomy: "yolo"}, ok: {autonomy: "auto"}}}'),
                      env={})
    assert "prod" not in cfg.profiles and "ok" in cfg.profiles
    assert any("profiles.prod.autonomy" in e.message and e.line == 1 for e in cfg.errors)


# -- JSON5, older shapes, unknown keys ---------------------------------------------------------------


def test_json5_comments_trailing_commas_and_unquoted_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """// Hermes config
{
  /* skills */
  skills: {
    entries: {
      ankra: { enabled: false, },   // off for now
    },
    load: { extraDirs: ['~/more-skills',], watch: false, },
  },
  gateway: { port: 9000, bind: "lan", auth: { mode: "token" } },
}
""")
    cfg = load_config(path, env={})
    assert cfg.errors == []
    assert cfg.skills.entries["ankra"].enabled is False
    assert cfg.skills.load.extra_dirs == ["~/more-skills"] and cfg.skills.load.watch is False
    assert (cfg.gateway.port, cfg.gateway.bind) == (9000, "lan")


def test_older_agents_list_array_is_normalised_into_entries(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"agents": {
        "defaults": {"model": {"primary": "claude-x", "fallbacks": ["y"]}, "skills": ["ankra"]},
        "entries": {"ops": {"model": "from-entries"}},
        "list": [{"id": "main", "default": True, "workspace": "/w"}, {"id": "ops", "model": "from-list"}],
    }}))
    cfg = load_config(path, env={})
    assert set(cfg.agents.entries) == {"main", "ops"}
    assert cfg.agents.entries["main"].default is True and cfg.agents.entries["main"].workspace == "/w"
    assert cfg.agents.entries["ops"].model == "from-entries"  # the entries object wins
    assert cfg.agents.defaults.model == "claude-x"
    assert any(i.dotted == "agents.list.ops" for i in cfg.ignored)


def test_unknown_keys_are_reported_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, """{
  "skills": {
    "entries": {
      "ankra": {
        "enabled": true,
        "apikey": "oops"
      }
    }
  },
  "browser": {"enabled": true},
  "skils": {},
  "channels": {"whatsapp": {}}
}
""")
    cfg = load_config(path, env={})
    by_key = {i.dotted: i for i in cfg.ignored}
    assert by_key["skills.entries.ankra.apikey"].line == 6
    assert "apiKey" in by_key["skills.entries.ankra.apikey"].reason
    assert by_key["browser"].line == 10 and "OpenClaw" in by_key["browser"].reason
    assert by_key["skils"].line == 11 and "skills" in by_key["skils"].reason
    assert by_key["channels.whatsapp"].line == 12 and "does not support" in by_key["channels.whatsapp"].reason
    report = cfg.report()
    assert "skills.entries.ankra.apikey (line 6)" in report


def test_a_bad_value_is_an_error_at_its_line_and_the_rest_still_loads(tmp_path: Path) -> None:
    path = write(tmp_path, """{
  skills: { entries: {
    good: { enabled: true },
    bad: { enabled: "maybe" },
  } },
  gateway: { port: "not-a-port", bind: "lan" },
}
""")
    cfg = load_config(path, env={})
    assert "good" in cfg.skills.entries and "bad" not in cfg.skills.entries
    assert cfg.gateway.bind == "lan" and cfg.gateway.port == 8789
    lines = {e.line for e in cfg.errors}
    assert {4, 6} <= lines
    assert all(e.file == str(path) for e in cfg.errors)


def test_syntax_error_reports_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  skills: {\n    entries: { ankra: { enabled: true } }\n  \n  gateway: {}\n}\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert f"{path}:5:3" in message
    assert "missing comma" in message  # says what to fix


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r":1:1: the config must be a JSON5 object"):
        load_config(write(tmp_path, "[1, 2]"), env={})


# -- secrets --------------------------------------------------------------------------------------------


def test_env_var_references_resolve_and_unset_ones_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, """{
  channels: { slack: { botToken: "${SLACK_TOK}", appToken: "${MISSING_APP}" } },
  skills: { entries: { ankra: { env: { ANKRA_API_TOKEN: "${ANKRA_TOK}" } } } },
  gateway: { bind: "$${LITERAL}" },
}""")
    cfg = load_config(path, env={"SLACK_TOK": "xoxb-resolved-value", "ANKRA_TOK": "ankra-resolved-value"})
    slack = cfg.channels.slack
    assert slack is not None and slack.bot_token is not None
    assert slack.bot_token.get_secret_value() == "xoxb-resolved-value"
    assert slack.app_token is None  # left unset
    assert cfg.gateway.bind == "${LITERAL}"  # $${…} escapes a literal
    (problem,) = cfg.errors
    assert "channels.slack.appToken" in problem.message and "MISSING_APP" in problem.message
    assert problem.line == 2
    assert {"xoxb-resolved-value", "ankra-resolved-value"} <= set(cfg.secret_values())


def test_secret_refs_env_and_file_resolve_exec_is_refused(tmp_path: Path) -> None:
    (tmp_path / "discord.token").write_text("discord-secret-from-file\n")
    path = write(tmp_path, json.dumps({"channels": {
        "slack": {"botToken": {"source": "env", "id": "MY_SLACK"}},
        "discord": {"token": {"source": "file", "id": "discord.token"}},  # relative to the config file
        "telegram": {"botToken": {"source": "exec", "id": "pass show telegram"}},
    }}))
    cfg = load_config(path, env={"MY_SLACK": "xoxb-from-env-ref"})
    assert cfg.channels.slack.bot_token.get_secret_value() == "xoxb-from-env-ref"
    assert cfg.channels.discord.token.get_secret_value() == "discord-secret-from-file"
    assert cfg.channels.telegram.bot_token is None
    (problem,) = cfg.errors
    assert "exec" in problem.message and "never runs commands" in problem.message
    assert "channels.telegram.botToken" in problem.message
    assert {"xoxb-from-env-ref", "discord-secret-from-file"} <= set(cfg.secret_values())


def test_secret_ref_to_a_missing_file_or_variable_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"skills": {"entries": {"ankra": {
        "apiKey": {"source": "file", "id": str(tmp_path / "nope")},
        "env": {"ANKRA_API_TOKEN": {"source": "env", "id": "NOT_SET"}}}}}}))
    cfg = load_config(path, env={})
    messages = " | ".join(e.message for e in cfg.errors)
    assert "skills.entries.ankra.apiKey" in messages and "nope" in messages
    assert "NOT_SET" in messages
    assert cfg.skills.entries["ankra"].api_key is None and cfg.skills.entries["ankra"].env == {}


def test_report_never_contains_a_secret_value(tmp_path: Path) -> None:
    (tmp_path / "tg").write_text("123456789:telegram-token-from-token-file")
    path = write(tmp_path, json.dumps({
        "skills": {"entries": {"ankra": {"apiKey": "ankra-api-key-value", "env": {"X_TOKEN": "${XT}"},
                                          "config": {"api_token": "ankra-config-token"}}}},
        "channels": {"slack": {"botToken": "xoxb-slack-bot-token", "appToken": "xapp-1-slack-app-token",
                               "signingSecret": "slack-signing-secret", "allowFrom": ["U1"],
                               "execApprovals": {"enabled": True, "approvers": ["U1"], "target": "both"}},
                     "telegram": {"tokenFile": str(tmp_path / "tg"), "webhookSecret": "tg-webhook-secret"}},
        "agents": {"defaults": {"sandbox": {"mode": "all", "docker": {"env": {"ANKRA_API_TOKEN": "sandbox-tok"}}}}},
        "gateway": {"auth": {"mode": "token", "token": "gateway-token-value"}},
        "config": {"anthropicApiKey": "sk-ant-anthropic-value", "discordToken": "discord-token-value",
                   "openaiApiKey": "sk-openai-config-value"},
    }))
    cfg = load_config(path, env={"XT": "x-token-from-env"})
    report = cfg.report()
    secrets = cfg.secret_values()
    expected = {"ankra-api-key-value", "x-token-from-env", "xoxb-slack-bot-token", "xapp-1-slack-app-token",
                "slack-signing-secret", "123456789:telegram-token-from-token-file", "tg-webhook-secret",
                "sandbox-tok", "gateway-token-value", "sk-ant-anthropic-value", "discord-token-value",
                "sk-openai-config-value"}
    assert expected <= set(secrets)
    assert cfg.openai_api_key is not None and cfg.openai_api_key.get_secret_value() == "sk-openai-config-value"
    for value in expected:
        assert value not in report
    assert "botToken set" in report and "appToken set" in report
    assert "ANKRA_API_TOKEN=set" in report
    assert cfg.channels.telegram.bot_token.get_secret_value().startswith("123456789:")


# -- flat chart names and environment fallbacks --------------------------------------------------------


def test_flat_chart_names_map_into_nested_channel_keys(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"config": {
        "slackBotToken": "xoxb-flat", "slackAppToken": "xapp-flat", "discordToken": "discord-flat",
        "telegramToken": "telegram-flat", "model": "claude-flat", "port": 8790, "logLevel": "info"}}))
    cfg = load_config(path, env={})
    assert cfg.channels.slack.bot_token.get_secret_value() == "xoxb-flat"
    assert cfg.channels.slack.app_token.get_secret_value() == "xapp-flat"
    assert cfg.channels.discord.token.get_secret_value() == "discord-flat"
    assert cfg.channels.telegram.bot_token.get_secret_value() == "telegram-flat"
    assert cfg.agents.defaults.model == "claude-flat" and cfg.gateway.port == 8790
    assert cfg.channels.configured() == {"slack": True, "discord": True, "telegram": True}
    assert any(i.dotted == "config.logLevel" for i in cfg.ignored)
    assert cfg.config_path_truthy("channels.slack.botToken")


def test_nested_channel_key_wins_over_the_flat_name(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"channels": {"slack": {"botToken": "xoxb-nested"}},
                                       "config": {"slackBotToken": "xoxb-flat"}}))
    cfg = load_config(path, env={"SLACK_BOT_TOKEN": "xoxb-env"})
    assert cfg.channels.slack.bot_token.get_secret_value() == "xoxb-nested"
    assert any(i.dotted == "config.slackBotToken" and "nested key wins" in i.reason for i in cfg.ignored)


def test_channel_tokens_fall_back_to_environment_variables(tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-env", "SLACK_APP_TOKEN": "xapp-env", "DISCORD_BOT_TOKEN": "discord-env",
           "TELEGRAM_BOT_TOKEN": "telegram-env"}
    cfg = load_config(write(tmp_path, '{channels: {slack: {allowFrom: ["U1"]}}}'), env=env)
    assert cfg.channels.slack.bot_token.get_secret_value() == "xoxb-env"
    assert cfg.channels.slack.app_token.get_secret_value() == "xapp-env"
    assert cfg.channels.slack.allow_from == ["U1"]
    assert cfg.channels.discord.token.get_secret_value() == "discord-env"
    assert cfg.channels.telegram.bot_token.get_secret_value() == "telegram-env"
    assert set(env.values()) <= set(cfg.secret_values())
    assert any("SLACK_BOT_TOKEN" in line for line in cfg.loaded)


def test_slack_channel_rules_and_telegram_numeric_ids(tmp_path: Path) -> None:
    path = write(tmp_path, """{
  channels: {
    slack: { botToken: "xoxb-x", channels: { C123: { allow: true, requireMention: false, users: ["U1"] } } },
    telegram: { botToken: "t", allowFrom: [123456, "@ops"], webhookUrl: "https://h/tg" },
  },
}""")
    cfg = load_config(path, env={})
    rule = cfg.channels.slack.channels["C123"]
    assert (rule.allow, rule.require_mention, rule.users) == (True, False, ["U1"])
    assert cfg.channels.telegram.allow_from == ["123456", "@ops"]
    assert cfg.errors == []


# -- where the file is ------------------------------------------------------------------------------------


def test_search_order_and_missing_file_gives_defaults(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg = load_config(env={"HOME": str(home)})
    # no file: the built-in defaults, which are the guide's two profiles beside the default one
    assert cfg.path is None and cfg.errors == [] and set(cfg.profiles) == {"default", "production", "sandbox"}
    assert cfg.profiles["default"] == DEFAULT_PROFILE
    assert cfg.profiles["production"].autonomy == "confirm-all" and cfg.profiles["sandbox"].autonomy == "auto"
    (home / ".openclaw").mkdir(parents=True)
    (home / ".openclaw" / "openclaw.json").write_text('{gateway: {port: 1111}}')
    assert load_config(env={"HOME": str(home)}).gateway.port == 1111
    (home / ".hermes").mkdir()
    (home / ".hermes" / "hermes.json").write_text('{gateway: {port: 2222}}')
    cfg = load_config(env={"HOME": str(home)})
    assert cfg.gateway.port == 2222 and cfg.path == home / ".hermes" / "hermes.json"
    explicit = write(tmp_path, '{gateway: {port: 3333}}', "explicit.json")
    assert load_config(env={"HOME": str(home), "HERMES_CONFIG": str(explicit)}).gateway.port == 3333
    other = write(tmp_path, '{gateway: {port: 4444}}', "other.json")
    assert load_config(other, env={"HOME": str(home), "HERMES_CONFIG": str(explicit)}).gateway.port == 4444


def test_a_named_file_that_does_not_exist_is_a_warning(tmp_path: Path) -> None:
    cfg = load_config(tmp_path / "nope.json", env={})
    assert cfg.path is None and cfg.errors == []
    assert "nope.json" in str(cfg.warnings[0]) and "Warnings" in cfg.report()


def test_requires_config_paths_are_checked_against_the_effective_document(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '{browser: {enabled: true}, channels: {discord: {token: ""}}}'), env={})
    assert cfg.config_path_truthy("browser.enabled")
    assert not cfg.config_path_truthy("channels.discord.token")
    assert not cfg.config_path_truthy("nothing.here")


def test_a_referenced_secret_in_a_free_form_field_is_still_listed_as_secret(tmp_path: Path) -> None:
    path = write(tmp_path, '{skills: {entries: {ankra: {config: {api_token: "${TOK}", region: "${REGION}"}}}}}')
    cfg = load_config(path, env={"TOK": "ankra-token-in-skill-config", "REGION": "eu-central"})
    assert cfg.skills.entries["ankra"].config == {"api_token": "ankra-token-in-skill-config",
                                                  "region": "eu-central"}
    assert "ankra-token-in-skill-config" in cfg.secret_values()
    assert "eu-central" not in cfg.secret_values()  # a plain setting is not a secret
    assert "ankra-token-in-skill-config" not in cfg.report()


def test_unknown_key_of_an_agents_list_item_is_found_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """{
  agents: {
    list: [
      {
        id: "main",
        wrkspace: "/w",
      },
    ],
  },
}""")
    cfg = load_config(path, env={})
    (item,) = cfg.ignored
    assert item.dotted == "agents.list.main.wrkspace" and item.line == 6
    assert "workspace" in item.reason
