"""Redaction of secrets from everything that leaves a service.

Two nets: the exact secret values a process knows (tokens and keys from settings and config),
and the shapes secrets have (API keys, bot tokens, JWTs, passwords in URLs, PEM keys). A redacted
value becomes a visible marker such as `[REDACTED:anthropic-key]`, never a plausible value, so it
cannot be replayed into a config or a command as if it were real.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MARKER = "[REDACTED:{kind}]"
_MARKER_RE = re.compile(r"\[REDACTED:[a-z0-9-]+\]")

# Order matters: the most specific shapes first.
_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("private-key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
        re.DOTALL)),
    ("anthropic-key", re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}")),
    ("openai-key", re.compile(r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}")),
    ("slack-token", re.compile(r"xox[abposr]-[A-Za-z0-9\-]{10,}")),
    ("slack-app-token", re.compile(r"xapp-\d-[A-Za-z0-9\-]{10,}")),
    ("telegram-token", re.compile(r"\b\d{6,12}:[A-Za-z0-9_\-]{30,}\b")),
    ("discord-token", re.compile(r"\b[MNO][A-Za-z\d_\-]{23,27}\.[A-Za-z\d_\-]{6}\.[A-Za-z\d_\-]{27,40}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b")),
    # No underscore after the prefix: `ankra_cluster_list`-style identifiers are names, not tokens.
    ("ankra-token", re.compile(r"\bankra_[A-Za-z0-9]{20,}\b")),
    ("github-token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("hermes-token", re.compile(r"\bhrm_[A-Za-z0-9_\-]{16,}\b")),
]

# Secrets that follow a recognisable label; the label stays, the value goes.
# The label must be a word of its own ("password:", "api_key=", "redis-password:"), not the tail of
# a longer name: `existingSecret: app-data-credentials` names a Secret, it holds no secret value.
# The value stops at whitespace, quotes and backslashes, so an escaped "\n" inside JSON survives.
_LABELLED = re.compile(
    r"(?P<label>(?<![A-Za-z0-9])(?:password|passwd|secret|api[_-]?key|apikey|token|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?|(?<![A-Za-z0-9])(?:Bearer|Basic)\s+|export\s+[A-Z_]*(?:TOKEN|KEY|SECRET|PASSWORD)=[\"']?)"
    r"(?!(?:Bearer|Basic)\s)(?P<value>[^\s\"',;\\]{6,})",
    re.IGNORECASE,
)
# A password is a password at any length ("password: x"); other labels need 6+ characters so that
# "token: true" or "secret: no" stay readable.
_LABELLED_PASSWORD = re.compile(
    r"(?P<label>(?<![A-Za-z0-9])(?:password|passwd|pwd)[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;\\]{1,5})(?=[\s\"',;\\]|$)",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.\-]*://[^\s:/@]+:)(?P<pw>[^\s@/]+)(?P<at>@)", re.IGNORECASE)


class Redactor:
    """Removes known secret values and secret shapes from text and nested data."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self._known = sorted({s for s in known_secrets if s and len(s) >= 6}, key=len, reverse=True)

    def add_secret(self, value: str) -> None:
        """Also redact `value` from now on (e.g. a token learned from config at run time)."""
        if value and len(value) >= 6 and value not in self._known:
            self._known.append(value)
            self._known.sort(key=len, reverse=True)

    def text(self, value: str) -> str:
        """`value` with every secret replaced by a marker."""
        if not value:
            return value
        for secret in self._known:
            if secret in value:
                value = value.replace(secret, MARKER.format(kind="secret"))
        for kind, pattern in _SHAPES:
            value = pattern.sub(MARKER.format(kind=kind), value)
        value = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MARKER.format(kind='password')}{m['at']}", value)
        value = _LABELLED.sub(_redact_labelled, value)
        value = _LABELLED_PASSWORD.sub(_redact_labelled, value)
        return value

    def data(self, value: Any) -> Any:
        """A copy of nested dicts/lists/strings with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


def _redact_labelled(match: re.Match[str]) -> str:
    if _MARKER_RE.fullmatch(match["value"]) or match["value"].startswith("[REDACTED"):
        return match.group(0)
    return f"{match['label']}{MARKER.format(kind='secret')}"


def is_redacted(value: str) -> bool:
    """True when `value` holds a redaction marker: it must never be used as a real value."""
    return bool(_MARKER_RE.search(value))


_default = Redactor()


def redact(value: str) -> str:
    """Redact secret shapes (no known values) from `value`."""
    return _default.text(value)
