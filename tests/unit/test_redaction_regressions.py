"""Redaction must remove secrets without corrupting data (names that merely mention a secret, JSON
escapes), and must not leave the secret of an Authorization header behind."""

from __future__ import annotations

import json

import pytest
from hermes.redaction import Redactor


@pytest.mark.parametrize("text", [
    "existingSecret: app-data-credentials",
    "existingSecretPasswordKey: redis-password",
    "secretName: hermes-tls",
    "tokenUrl: https://example.invalid/oauth",
])
def test_names_that_mention_a_secret_are_not_redacted(text: str) -> None:
    assert Redactor().text(text) == text


def test_json_escapes_survive_redaction_so_the_output_still_parses() -> None:
    values = "auth:\n  existingSecret: app-data-credentials\n  password: s3cr3t-value-here\n"
    raw = json.dumps({"values": values})
    redacted = Redactor().text(raw)
    parsed = json.loads(redacted)["values"]
    assert "existingSecret: app-data-credentials\n" in parsed
    assert "s3cr3t-value-here" not in parsed and "[REDACTED:" in parsed


@pytest.mark.parametrize("header, secret", [
    ("Authorization: Bearer " + "b" * 20, "b" * 20),
    ("authorization: Basic " + "QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
])
def test_authorization_headers_lose_their_credentials(header: str, secret: str) -> None:
    redacted = Redactor().text(header)
    assert secret not in redacted and "[REDACTED:" in redacted


# -- the shapes that used to leak (issue: "redaction that catches real secrets") -----------------
# Every fake value is assembled at test time from repeated characters, never written as a literal.

_B64_KEY = "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQo" + "TUlJRW9nSUJBQUtDQVFFQTNx" * 4


@pytest.mark.parametrize("text, secret", [
    ("aws_secret_access_key = " + "wJalr" + "Xy7/" * 8 + "Ab3", "wJalr" + "Xy7/" * 8 + "Ab3"),
    ("    client-key-data: " + _B64_KEY, _B64_KEY),
    ("REDIS_URL=redis://:" + "Zk29" * 4 + "@cache.internal:6379/0", "Zk29" * 4),
    ("secretKey: " + "Zx81kdLq" * 3, "Zx81kdLq" * 3),
    ("privateKey=" + "Ab12Cd34" * 3, "Ab12Cd34" * 3),
    ("token " + "gl" + "pat-" + "a1B2c3D4e5" * 2, "a1B2c3D4e5" * 2),
    ("key " + "AI" + "za" + "Sy" + "A1b2C3d4E5" * 3 + "f6G", "A1b2C3d4E5" * 3),
    ("password: correct horse battery staple", "correct horse battery staple"),
    ("charge with " + "sk" + "_live_" + "4eC39HqLy" * 3, "4eC39HqLy" * 3),
    ("npm token " + "np" + "m_" + "aB1cD2eF3g" * 3 + "H4i5J6", "aB1cD2eF3g" * 3),
    ("SENDGRID=" + "SG" + "." + "x1" * 11 + "." + "y2" * 21 + "z", "y2" * 21),
    ('{"auths": {"ghcr.io": {"auth": "' + "ZGVwbG95OnMzY3IzdC1wYXNz" + '"}}}', "ZGVwbG95OnMzY3IzdC1wYXNz"),
    ("DefaultEndpointsProtocol=https;AccountName=ankra;AccountKey=" + "Qk" * 43 + "==;EndpointSuffix=x",
     "Qk" * 43),
    ("bot " + "MTIzNDU2Nzg5MDEyMzQ1Njc4" + "." + "GhIjKl" + "." + "ab" * 19, "ab" * 19),
    ("bot token " + "123456789" + ":" + "AA" + "Hd" * 16 + "x", "Hd" * 16),
])
def test_shapes_that_used_to_leak_are_redacted(text: str, secret: str) -> None:
    out = Redactor().text(text)
    assert secret not in out and "[REDACTED:" in out, out


def test_password_with_spaces_is_redacted_whole_in_yaml_json_and_ini() -> None:
    phrase = "correct horse battery staple"
    for text in (f"password: {phrase}", f"adminPassword: '{phrase}'", json.dumps({"password": phrase}),
                 f"[db]\npassword = {phrase}\nport = 5432", f"Password:      {phrase}"):
        out = Redactor().text(text)
        assert "horse" not in out and "staple" not in out, out


def test_a_yaml_value_folded_onto_the_next_line_is_redacted_whole() -> None:
    text = "auth:\n  password: 'correct horse battery staple correct\n    horse battery staple'\n  user: app\n"
    out = Redactor().text(text)
    assert "horse" not in out and "  user: app\n" in out


def test_block_scalar_under_a_secret_label_is_redacted() -> None:
    out = Redactor().text("values:\n  password: |\n    line-one-" + "q" * 9 + "\n    line-two\n  user: app\n")
    assert "q" * 9 not in out and "line-two" not in out and "  user: app\n" in out


# -- context: data, env vars, argv, Kubernetes Secrets ---------------------------------------------


def test_data_redacts_a_value_by_its_key() -> None:
    phrase = "correct horse battery staple"
    out = Redactor().data({"auth": {"password": phrase, "existingSecret": "app-data-credentials",
                                    "client-key-data": "c2VjcmV0" * 4, "secretName": "hermes-tls"},
                           "tokens": 2, "name": "staging-cluster"})
    assert out == {"auth": {"password": "[REDACTED:secret]", "existingSecret": "app-data-credentials",
                            "client-key-data": "[REDACTED:secret]", "secretName": "hermes-tls"},
                   "tokens": 2, "name": "staging-cluster"}


def test_data_redacts_every_value_of_a_kubernetes_secret_but_not_of_a_configmap() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "app"}, "data": {"username": "YWRtaW4=", "url": "cG9zdGdy"}}
    config = {"kind": "ConfigMap", "metadata": {"name": "app"}, "data": {"LOG_LEVEL": "info"}}
    out = Redactor().data([secret, config])
    assert out[0]["data"] == {"username": "[REDACTED:secret]", "url": "[REDACTED:secret]"}
    assert out[0]["metadata"] == {"name": "app"} and out[1] == config


def test_secret_data_in_yaml_is_redacted_and_configmap_data_is_kept() -> None:
    doc = ("apiVersion: v1\ndata:\n  username: YWRtaW4=\n  DATABASE_URL: cG9zdGdyZXM6Ly9h\nkind: Secret\n"
           "metadata:\n  name: app\n---\napiVersion: v1\ndata:\n  LOG_LEVEL: info\nkind: ConfigMap\n")
    out = Redactor().text(doc)
    assert "YWRtaW4=" not in out and "cG9zdGdyZXM6Ly9h" not in out
    assert "  LOG_LEVEL: info\n" in out and "name: app" in out


def test_env_var_value_is_redacted_when_its_name_is_a_secret() -> None:
    text = ("env:\n- name: DB_PASSWORD\n  value: " + "p4ss" * 4 + "\n- name: LOG_LEVEL\n  value: info\n"
            "- name: API_TOKEN\n  valueFrom:\n    secretKeyRef:\n      name: app\n      key: token\n")
    out = Redactor().text(text)
    assert "p4ss" not in out and "value: info" in out and "key: token" in out
    data = Redactor().data({"env": [{"name": "DB_PASSWORD", "value": "p4ss" * 4}, {"name": "X", "value": "y"}]})
    assert data == {"env": [{"name": "DB_PASSWORD", "value": "[REDACTED:secret]"}, {"name": "X", "value": "y"}]}


def test_value_after_a_secret_flag_is_redacted_in_text_and_argv() -> None:
    value = "Zx81kdLq" * 2
    assert value not in Redactor().text(f"$ ankra cluster import --name edge-1 --token {value}")
    argv = ["ankra", "cluster", "import", "--name", "edge-1", "--token", value]
    assert Redactor().data(argv) == argv[:-1] + ["[REDACTED:secret]"]


# -- what must not change -------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "PWD=/home/ankra/work",
    "task-controller-manager-abcdefghijklmnop",
    "a basic configuration; Bearer tokens are rotated daily",
    "secret: app-data-credentials",
    "password: ${DB_PASSWORD}",
    "image: ghcr.io/ankra/agent@sha256:" + "ab12" * 16,
    "kind: Secret\nmetadata:\n  name: app-data-credentials\ntype: Opaque",
])
def test_ordinary_text_is_kept_including_what_used_to_be_redacted(text: str) -> None:
    assert Redactor().text(text) == text


@pytest.mark.parametrize("text, secret", [
    ("Your new password: " + "Xy7!ab" + "c9", "Xy7!abc9"),
    ("Error: invalid password: " + "hunter" + "2", "hunter2"),
    ("The bot token: " + "7Kq" * 4 + " was rejected", "7Kq" * 4),
])
def test_a_credential_after_a_label_in_a_sentence_is_still_redacted(text: str, secret: str) -> None:
    out = Redactor().text(text)
    assert secret not in out and "[REDACTED:secret]" in out, out
