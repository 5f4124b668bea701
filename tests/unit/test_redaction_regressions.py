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
