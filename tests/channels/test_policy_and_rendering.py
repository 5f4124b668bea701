"""The shared rules: who may talk (from the config as OpenClaw nests it and as the chart's flat values
give it), button payloads, and rendering that never cuts content beside a button."""

from __future__ import annotations

import json

import pytest
from hermes.config import DiscordConfig, SlackConfig, TelegramConfig, load_config
from hermes_gateway.channels import (
    ChannelAdapter,
    ChannelPolicy,
    DeliveryTarget,
    MemorySeen,
    ShortRefs,
    attachment_for,
    decode_action,
    encode_action,
    format_table,
    render_event,
    short_notice,
)

from .helpers import APPROVAL_ID, approval_event, long_tree


def slack_policy(**extra) -> ChannelPolicy:
    data = {"botToken": "xoxb-1", "allowFrom": ["U1"],
            "channels": {"C1": {"allow": True, "requireMention": True},
                         "C2": {"allow": True, "requireMention": False, "users": ["U2"]},
                         "C3": {"allow": False}}}
    data.update(extra)
    return ChannelPolicy.from_config("slack", SlackConfig.model_validate(data))


def test_dm_allow_list() -> None:
    policy = slack_policy()
    assert policy.check("U1", "D1", is_dm=True, mentioned=False).allowed
    refused = policy.check("U9", "D1", is_dm=True, mentioned=False)
    assert not refused.allowed and not refused.silent
    assert "U9" in refused.reason and "channels.slack.allowFrom" in refused.reason


def test_dm_policy_open_and_disabled() -> None:
    assert slack_policy(dmPolicy="open").check("U9", "D1", is_dm=True, mentioned=False).allowed
    closed = slack_policy(dmPolicy="disabled").check("U1", "D1", is_dm=True, mentioned=False)
    assert not closed.allowed and "disabled" in closed.reason
    assert slack_policy(allowFrom=["*"]).check("U9", "D1", is_dm=True, mentioned=False).allowed


def test_no_allow_from_refuses_dms_by_default() -> None:
    policy = ChannelPolicy.from_config("telegram", TelegramConfig.model_validate({"botToken": "1:a"}))
    verdict = policy.check("42", "42", is_dm=True, mentioned=False)
    assert not verdict.allowed and "42" in verdict.reason


def test_channel_rules() -> None:
    policy = slack_policy()
    quiet = policy.check("U1", "C1", is_dm=False, mentioned=False)
    assert not quiet.allowed and quiet.silent  # unmentioned: ignored without a word
    assert policy.check("U1", "C1", is_dm=False, mentioned=True).allowed
    assert not policy.check("U9", "C1", is_dm=False, mentioned=True).allowed  # allowFrom applies
    assert policy.check("U2", "C2", is_dm=False, mentioned=False).allowed  # channel users, no mention needed
    assert not policy.check("U1", "C2", is_dm=False, mentioned=False).allowed  # not in the channel's users
    off = policy.check("U1", "C3", is_dm=False, mentioned=True)
    assert not off.allowed and "not enabled" in off.reason
    unknown = policy.check("U1", "C404", is_dm=False, mentioned=True)
    assert not unknown.allowed and "channels.slack.channels" in unknown.reason


def test_group_policy_open_without_rules() -> None:
    policy = ChannelPolicy.from_config("slack", SlackConfig.model_validate({"botToken": "x", "allowFrom": ["U1"]}))
    assert policy.check("U1", "C9", is_dm=False, mentioned=True).allowed
    assert not policy.check("U1", "C9", is_dm=False, mentioned=False).allowed


def test_discord_guild_rules() -> None:
    cfg = DiscordConfig.model_validate({"token": "t", "allowFrom": ["1"], "guilds": {
        "100": {"requireMention": False, "users": ["2"], "channels": {"200": {"allow": True}}}}})
    policy = ChannelPolicy.from_config("discord", cfg)
    assert policy.check("2", "200", is_dm=False, mentioned=False, team="100").allowed
    assert policy.check("2", "201", is_dm=False, mentioned=False, team="100").allowed  # guild-wide rule
    assert not policy.check("1", "200", is_dm=False, mentioned=False, team="100").allowed


def test_approvers() -> None:
    policy = slack_policy(allowFrom=["U1", "U2"], execApprovals={"enabled": True, "approvers": ["U2"]})
    assert policy.may_decide("U2", "D1", is_dm=True).allowed
    refused = policy.may_decide("U1", "D1", is_dm=True)
    assert not refused.allowed and "approvers" in refused.reason
    # without approvers: whoever may talk there may decide, mention or not
    assert slack_policy().may_decide("U1", "C1", is_dm=False).allowed
    assert not slack_policy().may_decide("U9", "D1", is_dm=True).allowed


def test_flat_chart_values_and_nested_keys_both_configure(tmp_path) -> None:
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"config": {"slackBotToken": "xoxb-flat", "slackAppToken": "xapp-flat",
                                           "telegramToken": "1:flat", "discordToken": "d-flat"}}))
    loaded = load_config(flat, env={})
    assert loaded.channels.slack.bot_token.get_secret_value() == "xoxb-flat"
    assert loaded.channels.slack.app_token.get_secret_value() == "xapp-flat"
    assert loaded.channels.telegram.bot_token.get_secret_value() == "1:flat"
    assert loaded.channels.discord.token.get_secret_value() == "d-flat"
    nested = tmp_path / "openclaw.json"
    nested.write_text("""{ channels: { slack: { botToken: "xoxb-n", appToken: "xapp-n", allowFrom: ["U1"],
        channels: { C1: { allow: true, requireMention: false, users: ["U1"] } } } } }""")
    loaded = load_config(nested, env={})
    policy = ChannelPolicy.from_config("slack", loaded.channels.slack)
    assert policy.check("U1", "C1", is_dm=False, mentioned=False).allowed


def test_button_payloads() -> None:
    assert encode_action("approve", APPROVAL_ID) == f"hx:a:{APPROVAL_ID}"
    assert decode_action(encode_action("reject", APPROVAL_ID)) == ("reject", APPROVAL_ID)
    assert decode_action("something-else") is None and decode_action("hx:x:1") is None and decode_action(None) is None
    with pytest.raises(ValueError):
        encode_action("approve", "x" * 70, limit=64)
    refs = ShortRefs()
    ref = refs.shorten("y" * 120, 59)
    assert len(ref) <= 59 and refs.resolve(ref) == "y" * 120
    assert refs.shorten("short", 59) == "short" and refs.resolve("~unknown") is None


def test_render_approval_has_exact_commands_risks_and_expiry() -> None:
    rendered = render_event(approval_event())
    plain = rendered.plain()
    assert "ankra cluster apply -f stack.yaml" in plain
    assert "ankra cluster get shop-prod -o json" in plain
    assert "creates 3 servers" in plain and "2030-01-01 00:30 UTC" in plain and APPROVAL_ID in plain


def test_commands_are_quoted_as_they_run() -> None:
    event = approval_event()
    event["approval"]["steps"] = [["cluster", "delete", "name with space; rm -rf /"]]
    assert "ankra cluster delete 'name with space; rm -rf /'" in render_event(event).plain()


def test_attachment_and_notice_keep_everything() -> None:
    tree = long_tree(300)
    rendered = render_event(approval_event(tree=tree))
    attachment = attachment_for(rendered)
    assert tree in attachment.content and attachment.filename == f"approval-{APPROVAL_ID}.md"
    notice = short_notice(rendered, attachment)
    assert attachment.filename in notice and len(notice) < 1000 and "component" not in notice


def test_table() -> None:
    assert format_table(["a", "bb"], [["1", "2"], ["333", None]]) == "a    bb\n---  --\n1    2\n333"


def test_delivery_target_round_trip() -> None:
    target = DeliveryTarget("slack", "C1", thread="1.2", team="T1")
    assert DeliveryTarget.from_dict(json.loads(json.dumps(target.to_dict()))) == target


async def test_memory_seen() -> None:
    seen = MemorySeen(size=2)
    assert not await seen("a") and await seen("a")
    await seen("b")
    await seen("c")
    assert not await seen("a")  # bounded: the oldest went


def test_adapters_satisfy_the_protocol() -> None:
    from hermes_gateway.discord_adapter import DiscordAdapter
    from hermes_gateway.slack_adapter import SlackAdapter
    from hermes_gateway.telegram_adapter import TelegramAdapter

    for cls in (SlackAdapter, TelegramAdapter, DiscordAdapter):
        assert all(hasattr(cls, name) for name in ("deliver", "routes", "start", "stop", "name"))
    assert ChannelAdapter is not None
