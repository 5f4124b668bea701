"""Redaction: known secret values and secret shapes become `[REDACTED:<kind>]` markers; nothing else
changes. Every fake secret here is assembled at test time, never written as a literal."""

from __future__ import annotations

import pytest
from hermes.redaction import Redactor, is_redacted, redact
from hypothesis import given
from hypothesis import strategies as st


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# Fake secrets, assembled so that no credential-shaped literal appears in the file.
ANTHROPIC = "sk-" + "ant-" + "api03-" + "a" * 40
OPENAI = "sk-" + "proj-" + "B" * 40
OPENAI_PLAIN = "sk-" + "c1" * 20
SLACK_BOT = "xo" + "xb-" + "1" * 12 + "-" + "2" * 12 + "-" + "d" * 24
SLACK_APP = "xa" + "pp-1-" + "A0" * 6 + "-" + "9" * 13 + "-" + "e" * 30
TELEGRAM = "123456789" + ":" + "AA" + "f" * 33
DISCORD = "M" + "T" * 25 + "." + "G" * 6 + "." + "h" * 38
JWT = "ey" + "J" + "hbGciOiJIUzI1NiJ9" + "." + "ey" + "J" + "zdWIiOiIxMjM0NTY3ODkwIn0" + "." + "s" * 43
ANKRA = "ankra" + "_" + "K" * 32
PEM = ("-----BEGIN " + "RSA PRIVATE KEY-----\n" + "M" * 64 + "\n" + "q" * 64 + "\n"
       + "-----END " + "RSA PRIVATE KEY-----")


@pytest.mark.parametrize("secret, kind", [
    (ANTHROPIC, "anthropic-key"),
    (OPENAI, "openai-key"),
    (OPENAI_PLAIN, "openai-key"),
    (SLACK_BOT, "slack-token"),
    (SLACK_APP, "slack-app-token"),
    (TELEGRAM, "telegram-token"),
    (DISCORD, "discord-token"),
    (JWT, "jwt"),
    (ANKRA, "ankra-token"),
    (PEM, "private-key"),
])
def test_secret_shape_is_replaced_by_its_marker(secret: str, kind: str) -> None:
    text = f"config value: {secret} (from the environment)"
    out = redact(text)
    assert secret not in out
    assert marker(kind) in out
    assert out.startswith("config value: ") and out.endswith(" (from the environment)")
    assert is_redacted(out)


def test_anthropic_key_is_labelled_as_anthropic_not_openai() -> None:
    assert redact(ANTHROPIC) == marker("anthropic-key")


def test_pem_block_is_removed_whole_including_its_body() -> None:
    out = redact(f"before\n{PEM}\nafter")
    assert out == f"before\n{marker('private-key')}\nafter"


def test_truncated_pem_block_is_removed_to_the_end() -> None:
    cut = PEM[: PEM.index("-----END")]
    out = redact("key:\n" + cut)
    assert "M" * 64 not in out and marker("private-key") in out


def test_password_in_a_url_is_removed_keeping_user_and_host() -> None:
    out = redact("DATABASE_URL=postgres://app:pw@db.internal:5432/app")
    assert out == f"DATABASE_URL=postgres://app:{marker('password')}@db.internal:5432/app"


def test_password_in_a_redis_url_is_removed() -> None:
    secret = "Zq" * 10
    out = redact(f"redis://default:{secret}@cache:6379/0")
    assert secret not in out and "redis://default:" in out and "@cache:6379/0" in out


def test_export_of_an_ankra_token_keeps_the_variable_name() -> None:
    value = "t0k" * 8
    out = redact(f"export ANKRA_API_TOKEN='{value}'")
    assert value not in out
    assert out.startswith("export ANKRA_API_TOKEN=")
    assert is_redacted(out)


@pytest.mark.parametrize("line, value", [
    ("password: " + "hunter2-and-more", "hunter2-and-more"),
    ("token=" + "abcdef123456", "abcdef123456"),
    ("api_key = " + "Q" * 24, "Q" * 24),
    ('"secret": "' + "s3cr3t-value" + '"', "s3cr3t-value"),
    ("Authorization: Bearer " + "b" * 24, "b" * 24),
])
def test_labelled_secret_loses_its_value_and_keeps_its_label(line: str, value: str) -> None:
    out = redact(line)
    assert value not in out
    label = line.split(value)[0].rstrip("\"' ")
    assert out.startswith(label)
    assert is_redacted(out)


def test_short_labelled_password_is_redacted() -> None:
    assert redact("password: x") == f"password: {marker('secret')}"


# -- known values ------------------------------------------------------------------------------


def test_known_secret_value_is_replaced_wherever_it_appears() -> None:
    secret = "plain" + "words" + "42"
    out = Redactor([secret]).text(f"a {secret} b {secret}")
    assert out == f"a {marker('secret')} b {marker('secret')}"


def test_known_secret_containing_another_is_removed_whole() -> None:
    inner = "inner" + "value"
    outer = "xx-" + inner + "-yy"
    out = Redactor([inner, outer]).text(f"1 {outer} 2 {inner}")
    assert out == f"1 {marker('secret')} 2 {marker('secret')}"
    assert "xx-" not in out and "-yy" not in out


def test_secret_added_later_is_redacted_longest_first() -> None:
    inner = "inner" + "value"
    outer = "xx-" + inner + "-yy"
    r = Redactor([inner])
    r.add_secret(outer)
    assert r.text(outer) == marker("secret")


def test_known_secrets_shorter_than_six_characters_are_ignored() -> None:
    # A too-short value would turn ordinary words into markers.
    assert Redactor(["prod", ""]).text("production prod") == "production prod"


# -- what must not change ----------------------------------------------------------------------

CLUSTER_TABLE = (
    "┌─────────────────┬──────────┬────────┬─────────┐\n"
    "│ NAME            │ PROVIDER │ STATE  │ WORKERS │\n"
    "├─────────────────┼──────────┼────────┼─────────┤\n"
    "│ staging-cluster │ hetzner  │ online │ 3       │\n"
    "│ production      │ ovh      │ online │ 5       │\n"
    "└─────────────────┴──────────┴────────┴─────────┘"
)


@pytest.mark.parametrize("text", [
    CLUSTER_TABLE,
    "staging-cluster",
    "cluster id 3f2b9c1e8d7a4b6c9e0f1a2b3c4d5e6f",
    "id: 123e4567-e89b-12d3-a456-426614174000",
    "ankra_cluster_list",
    "Reconciliation triggered for production: 3 operations created.",
    "https://platform.ankra.app/clusters/staging-cluster",
    "tokens: 2 active, 1 revoked",
    "sha256:" + "ab" * 32,
    "",
])
def test_ordinary_output_is_unchanged(text: str) -> None:
    assert redact(text) == text
    assert not is_redacted(text)


# -- markers and idempotence -------------------------------------------------------------------


def test_is_redacted_sees_markers_only() -> None:
    assert is_redacted("value [REDACTED:jwt] here")
    assert not is_redacted("REDACTED")
    assert not is_redacted("[REDACTED]")


SAMPLES = [ANTHROPIC, OPENAI, SLACK_BOT, SLACK_APP, TELEGRAM, DISCORD, JWT, ANKRA, PEM,
           "postgres://u:" + "p" * 8 + "@h/db", "password: " + "z" * 12, "Bearer " + "y" * 20,
           "export ANKRA_API_TOKEN=" + "w" * 20]


@pytest.mark.parametrize("secret", SAMPLES)
def test_redacting_twice_gives_the_same_text(secret: str) -> None:
    once = redact(f"log line: {secret} end")
    assert redact(once) == once


_PIECES = st.sampled_from(SAMPLES + [" ", "\n", ":", "=", "@", "//", "password", "token", "Bearer ",
                                     "staging-cluster", "[REDACTED:secret]", "'", '"', "x" * 7])


@given(st.lists(_PIECES, max_size=10).map("".join))
def test_redaction_is_idempotent_on_mixed_text(text: str) -> None:
    r = Redactor(["known" + "secret" + "1"])
    once = r.text(text)
    assert r.text(once) == once


@given(st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=4), st.text(max_size=20))
def test_no_sample_secret_survives_among_other_text(secrets: list[str], filler: str) -> None:
    out = redact(filler.join(f" {s} " for s in secrets))
    for s in secrets:
        assert s not in out
    assert is_redacted(out)


# -- nested data -------------------------------------------------------------------------------


def test_data_walks_dicts_lists_and_tuples() -> None:
    value = {
        "name": "staging-cluster",
        "workers": 3,
        "ready": True,
        "env": [{"ANTHROPIC_API_KEY": ANTHROPIC}, ("token=" + "v" * 10,)],
        "nested": {"deeper": {"url": "postgres://u:pw@h/db"}},
        "none": None,
    }
    out = Redactor().data(value)
    assert out["name"] == "staging-cluster"
    assert out["workers"] == 3 and out["ready"] is True and out["none"] is None
    assert out["env"][0]["ANTHROPIC_API_KEY"] == marker("anthropic-key")
    assert out["env"][1] == ["token=" + marker("secret")]
    assert out["nested"]["deeper"]["url"] == f"postgres://u:{marker('password')}@h/db"


def test_data_does_not_modify_its_input() -> None:
    value = {"k": [ANKRA]}
    Redactor().data(value)
    assert value == {"k": [ANKRA]}


def test_data_redacts_known_values() -> None:
    secret = "signing" + "key" + "0123"
    assert Redactor([secret]).data({"a": [f"x{secret}y"]}) == {"a": [f"x{marker('secret')}y"]}


def test_a_password_before_a_unicode_line_break_and_a_quote_is_redacted() -> None:
    """Found by hypothesis: a NEL (U+0085) between the value and a backtick hid the value's end."""
    out = redact(" password: zzzzzzzzzzzz \x85` sk-ant-api03-" + "a" * 40 + " ")
    assert "zzzzzzzzzzzz" not in out and "aaaaaaaa" not in out
