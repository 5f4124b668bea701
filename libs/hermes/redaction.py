"""Redaction of secrets from everything that leaves a service.

Three nets, applied in this order to every string:

1. The exact secret values a process knows (tokens and keys from settings and config).
2. The shapes secrets have. Provider-specific shapes come from the maintained detector
   `detect-secrets` (its plugins' compiled regexes, run directly: its per-line scan API builds
   objects per line and consults global settings); Hermes adds the shapes it misses or matches only
   in part (whole PEM/OpenSSH/PGP/SSH2/PuTTY key blocks, Anthropic and OpenAI project keys, Google
   API keys, bare npm tokens, Stripe test keys, GitHub fine-grained PATs, Vault, Grafana,
   DigitalOcean and age keys, Ankra and Hermes tokens, base64 of a private key or of a docker config,
   passwords in any URL, Bearer/Basic credentials).
3. Context. A value after a secret-sounding label (`password:`, `aws_secret_access_key =`,
   `"auth": …`, `client-key-data:`, `AccountKey=`, `--token …`); the value of an env var whose name
   is such a label (`- name: DB_PASSWORD` / `value: …`); every value in the `data:`/`stringData:`
   of a Kubernetes Secret. The label vocabulary starts from detect-secrets' keyword list; a label is
   the whole key or its last words, so `secretName`, `secretKeyRef`, `tokenUrl` and
   `existingSecret: app-data-credentials` (which name a secret and hold none) stay. A password after
   `:` runs to the end of the line (pass phrases have blanks), except in mid-sentence, where only a
   credential-looking word goes. `Redactor.data` also reads keys: a string under a secret-sounding
   key, the values of a Secret's `data`, and the argument after `--password` in an argv list go.

A redacted value becomes a visible marker such as `[REDACTED:anthropic-key]`, never a plausible value,
so it cannot be replayed into a config or a command as if it were real. Labels, keys, quotes and JSON
escapes stay, so redacted JSON still parses, and redacting twice changes nothing.

Deliberately kept (identifiers, not secrets): UUIDs, git SHAs, image digests (`sha256:…`), SSH
fingerprints, certificates (`BEGIN CERTIFICATE`, `certificate-authority-data`,
`client-certificate-data`: public by design), resource names, ConfigMap data that does not look like
base64, and expansions that only name a secret (`${DB_PASSWORD}`, `$(cat token)`, `<token>`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.cloudant import CloudantDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.keyword import DENYLIST as _DS_KEYWORDS
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.softlayer import SoftlayerDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

MARKER = "[REDACTED:{kind}]"
_MARKER_RE = re.compile(r"\[REDACTED:[a-z0-9-]+\]")
_SECRET = MARKER.format(kind="secret")


# -- shapes --------------------------------------------------------------------------------------

_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-]*")
_BASE64_TAIL = re.compile(r"[A-Za-z0-9+/=]*")


@dataclass(frozen=True)
class _Shape:
    """One secret pattern. The secret is `group` of a match, stretched over the rest of its token."""

    kind: str
    pattern: re.Pattern[str]
    group: int = 0
    tail: re.Pattern[str] | None = _TOKEN_TAIL  # stretch the match over the rest of the token
    bounded: bool = True  # must not start in the middle of a word
    after: str = ""  # the secret starts after this text in the match (a label such as `AccountKey=`)
    strip: str = ""  # characters trimmed from both ends (delimiters a pattern includes)
    valid: Callable[[str], bool] | None = None
    # Speed: a pattern that does not start with a literal is slow over 256 KiB. Such a shape runs only
    # on the lines where its `gate` (a pattern over the lower-cased text) matches, or only around the
    # matches of `hint` (a pattern that does start with a literal), `back` characters before to
    # `ahead` characters after.
    gate: re.Pattern[str] | None = None
    # detect-secrets' keyword-assignment patterns (IBM, Cloudant, Softlayer) backtrack cubically on a
    # run of blanks after a keyword: their window is cut to 40 characters before the gate, `gate_span`
    # after it, and before any run of 16 blanks (the label rules still see such a line whole).
    gate_span: int = 0
    hint: re.Pattern[str] | None = None
    back: int = 0
    ahead: int = 0


def _is_private_key_b64(value: str) -> bool:
    head = value[: len(value) // 4 * 4][:88]
    try:
        return b"PRIVATE KEY" in base64.b64decode(head)
    except (binascii.Error, ValueError):
        return False


def _ds(plugin: type, kind: str, index: int = 0, **kw: Any) -> _Shape:
    """A shape made of the compiled regex `index` of a detect-secrets plugin."""
    return _Shape(kind, plugin.denylist[index], **kw)  # type: ignore[attr-defined]


_TELEGRAM_HINT = re.compile(r":[A-Za-z0-9_\-]{30}")
_DISCORD_HINT = re.compile(r"\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27}")

# Hermes's own shapes: what detect-secrets misses, or matches only in part. Most specific first.
_OWN_SHAPES: list[_Shape] = [
    _Shape("private-key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.DOTALL), tail=None, bounded=False),
    _Shape("private-key", re.compile(
        r"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----.*?(?:---- END SSH2 ENCRYPTED PRIVATE KEY ----|\Z)",
        re.DOTALL), tail=None, bounded=False),
    _Shape("private-key", re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC:[ \t]*[0-9a-fA-F]+|\Z)",
                                     re.DOTALL), tail=None, bounded=False),
    # base64 of a PEM private key (kubeconfig `client-key-data`, a Secret's `tls.key`).
    _Shape("private-key", re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{16,}={0,2}"), tail=None,
           valid=_is_private_key_b64),
    # base64 of a docker config (`{"auths":`, compact or indented): registry credentials.
    _Shape("docker-config", re.compile(r"e(?:yJhdXRocyI6|wogICJhdXRocyI6|wogICAgImF1dGhzIjo)"
                                       r"[A-Za-z0-9+/]*={0,2}"), tail=None),
    _Shape("anthropic-key", re.compile(r"sk-ant-[A-Za-z0-9_\-]{16,}")),
    _Shape("openai-key", re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}")),
    _Shape("slack-token", re.compile(r"xox[abposr]-[A-Za-z0-9\-]{10,}")),
    _Shape("slack-app-token", re.compile(r"xapp-\d-[A-Za-z0-9\-]{10,}")),
    _Shape("github-token", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}")),
    _Shape("gitlab-token", re.compile(r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-[A-Za-z0-9_\-]{20,}"
                                      r"(?:\.[A-Za-z0-9_\-]+)*")),
    _Shape("google-api-key", re.compile(r"AIza[0-9A-Za-z_\-]{30,}")),
    _Shape("stripe-key", re.compile(r"[rs]k_(?:live|test)_[0-9A-Za-z]{16,}"),
           hint=re.compile(r"k_(?:live|test)_"), back=1, ahead=16),
    _Shape("stripe-key", re.compile(r"whsec_[A-Za-z0-9]{24,}")),
    _Shape("npm-token", re.compile(r"npm_[A-Za-z0-9]{30,}")),
    _Shape("sendgrid-key", re.compile(r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}")),
    _Shape("telegram-token", re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_\-]{30,}"), bounded=False,
           hint=_TELEGRAM_HINT, back=13),
    _Shape("discord-token", re.compile(
        r"[MNO][A-Za-z\d_\-]{22,27}\.[A-Za-z\d_\-]{6}\.[A-Za-z\d_\-]{27,40}"),
           hint=_DISCORD_HINT, back=28, ahead=14),
    _Shape("jwt", re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    # No underscore after the prefix: `ankra_cluster_list`-style identifiers are names, not tokens.
    _Shape("ankra-token", re.compile(r"ankra_[A-Za-z0-9]{20,}(?![A-Za-z0-9_])"), tail=None),
    _Shape("hermes-token", re.compile(r"hrm_[A-Za-z0-9_\-]{16,}")),
    # Infrastructure tokens detect-secrets does not know: Vault, Grafana, DigitalOcean, age (SOPS).
    _Shape("vault-token", re.compile(r"hv[sbr]\.[A-Za-z0-9_\-]{24,}")),
    _Shape("grafana-token", re.compile(r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2}"),
           tail=_BASE64_TAIL),
    _Shape("digitalocean-token", re.compile(r"do[opr]_v1_[a-f0-9]{64}")),
    _Shape("age-secret-key", re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{58}")),
]

# detect-secrets plugins whose regexes are used here, with the marker kind each one produces.
# Deliberately not used: KeywordDetector's regexes (they read `existingSecret: name` as a password;
# its keyword list feeds the label vocabulary below instead), HighEntropyString detectors (every git
# SHA, digest and UUID would go), IPPublicDetector (addresses are not secrets), PrivateKeyDetector
# (it finds only the BEGIN line; the whole-block shape above covers every header it knows, which
# tests/unit/test_redaction_corpus.py checks), and ArtifactoryDetector's password regex
# (`AP[0-9A-F]…`: any capitalised word of 11+ letters starting "APA"-"APF").
# The keyword-anchored plugins (IBM, Cloudant, Softlayer) also accept a bare `key`/`token` label; here
# they run only on lines where their vendor word precedes the label (the label rules below cover the
# rest), so ordinary output does not pay for their long patterns.
_DS_SHAPES: list[_Shape] = [
    _ds(AWSKeyDetector, "aws-access-key", 0, hint=re.compile(r"A(?:KIA|SIA|3T|BIA|CCA)"), ahead=20),
    _ds(AWSKeyDetector, "aws-secret-key", 1, group=1, tail=None, bounded=False, gate=re.compile("aws")),
    _ds(AzureStorageKeyDetector, "azure-storage-key", after="AccountKey=", tail=_BASE64_TAIL,
        bounded=False),
    _ds(BasicAuthDetector, "password", group=1, tail=None, bounded=False,
        valid=lambda v: not _is_placeholder(v)),
    *[_ds(CloudantDetector, "cloudant-key", i, group=1, tail=None, bounded=False, gate_span=200,
          gate=re.compile(r"cl(?:oudant|ou)?[_-]?(?:api)?(?:key|pwd|pw|pass|token)")) for i in (0, 1)],
    *[_ds(CloudantDetector, "cloudant-key", i, group=1, tail=None, bounded=False,
          gate=re.compile(r"cloudant\.com")) for i in (2, 3)],
    _ds(DiscordBotTokenDetector, "discord-token", hint=_DISCORD_HINT, back=26, ahead=0),
    _ds(GitHubTokenDetector, "github-token"),
    *[_ds(GitLabTokenDetector, "gitlab-token", i) for i in range(len(GitLabTokenDetector.denylist))],
    _ds(IbmCloudIamDetector, "ibm-cloud-iam-key", group=1, tail=None, bounded=False,
        gate_span=200, gate=re.compile(r"(?:ibm|iam|cloud)[_-]?(?:api)?(?:key|pwd|pass|token)")),
    _ds(IbmCosHmacDetector, "ibm-cos-hmac-key", group=1, tail=None, bounded=False,
        gate_span=200, gate=re.compile(r"(?:cos|hmac)[_-]?secret")),
    _ds(JwtTokenDetector, "jwt", valid=JwtTokenDetector.is_formally_valid),
    _ds(MailchimpDetector, "mailchimp-key", hint=re.compile(r"-us\d"), back=32, ahead=2),
    _ds(NpmDetector, "npm-token", group=1, tail=None, bounded=False, gate=re.compile(":_authtoken")),
    _ds(OpenAIDetector, "openai-key"),
    *[_ds(PypiTokenDetector, "pypi-token", i) for i in range(len(PypiTokenDetector.denylist))],
    _ds(SendGridDetector, "sendgrid-key"),
    _ds(SlackDetector, "slack-token", 0, gate=re.compile("xox")),
    _ds(SlackDetector, "slack-webhook", 1, gate=re.compile(r"hooks\.slack\.com")),
    _ds(SoftlayerDetector, "softlayer-key", 0, group=1, tail=None, bounded=False, gate_span=200,
        gate=re.compile(r"(?:softlayer|sl)[_-]?(?:api)?(?:key|pwd|pass|token)")),
    _ds(SoftlayerDetector, "softlayer-key", 1, group=1, tail=None, bounded=False,
        gate=re.compile(r"api\.softlayer\.com")),
    _ds(SquareOAuthDetector, "square-oauth-secret"),
    _ds(StripeDetector, "stripe-key", hint=re.compile("k_live_"), back=1, ahead=24),
    _ds(TelegramBotTokenDetector, "telegram-token", bounded=False, hint=_TELEGRAM_HINT, back=11),
    *[_ds(TwilioKeyDetector, "twilio-key", i) for i in range(len(TwilioKeyDetector.denylist))],
    _ds(ArtifactoryDetector, "artifactory-token", 0, strip=" \t\r\n=:\"", bounded=False,
        hint=re.compile("AKC"), back=1, ahead=128),
]

# Gated shapes first: they read the lower-cased text, which stays valid until a shape changes the text.
_SHAPES: list[_Shape] = [*(s for s in _DS_SHAPES if s.gate), *_OWN_SHAPES,
                         *(s for s in _DS_SHAPES if not s.gate)]


class _Lower:
    """The lower-cased text, computed once per version of the text."""

    def __init__(self) -> None:
        self._text: str | None = None
        self._lower = ""

    def of(self, text: str) -> str:
        if text is not self._text:
            self._text, self._lower = text, text.lower()
        return self._lower


def _windows(shape: _Shape, text: str, lower: _Lower) -> list[tuple[int, int]] | None:
    """Where `shape` must be looked for: None for everywhere."""
    spans: list[tuple[int, int]] = []
    if shape.gate is not None:
        low = lower.of(text)
        if len(low) != len(text):  # a character whose lower case is longer: look everywhere
            return None
        for g in shape.gate.finditer(low):
            start = low.rfind("\n", 0, g.start()) + 1
            end = low.find("\n", g.end())
            end = len(text) if end < 0 else end
            if shape.gate_span:
                start = max(start, g.start() - 40)
                end = min(end, g.end() + shape.gate_span)
                if (blanks := low.find(" " * 16, g.end(), end)) >= 0:
                    end = blanks
            spans.append((start, end))
    elif shape.hint is not None:
        for h in shape.hint.finditer(text):
            spans.append((max(0, h.start() - shape.back), min(len(text), h.end() + shape.ahead)))
    else:
        return None
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# One pattern for all shapes, to tell quickly that a short string (a log field, a JSON value) holds none.
_PRESCAN_LIMIT = 4096


def _scoped(pattern: re.Pattern[str]) -> str:
    flags = "".join(f for f, bit in (("i", re.IGNORECASE), ("m", re.MULTILINE), ("s", re.DOTALL),
                                      ("x", re.VERBOSE)) if pattern.flags & bit)
    return f"(?{flags}:{pattern.pattern})" if flags else f"(?:{pattern.pattern})"


_ANY_SHAPE = re.compile("|".join(_scoped(s.pattern) for s in _SHAPES if s.gate is None))
_ANY_GATE = re.compile("|".join(s.gate.pattern for s in _SHAPES if s.gate is not None))


def _apply_shape(shape: _Shape, text: str, lower: _Lower | None = None) -> str:
    windows = _windows(shape, text, lower or _Lower())
    if windows is None:
        matches: Iterable[re.Match[str]] = shape.pattern.finditer(text)
    else:
        matches = (m for start, end in windows for m in shape.pattern.finditer(text, start, end))
    parts: list[str] = []
    last = 0
    for match in matches:
        start, end = match.span(shape.group)
        if start < 0 or start < last or end <= start:
            continue
        if shape.after:
            cut = text.find(shape.after, start, end)
            if cut >= 0:
                start = cut + len(shape.after)
        if shape.strip:
            while start < end and text[start] in shape.strip:
                start += 1
            while end > start and text[end - 1] in shape.strip:
                end -= 1
        if shape.bounded and start > 0 and text[start - 1].isalnum():
            continue
        if shape.tail is not None:
            end = shape.tail.match(text, end).end()
        if end <= start or (shape.valid is not None and not shape.valid(text[start:end])):
            continue
        parts.append(text[last:start])
        parts.append(MARKER.format(kind=shape.kind))
        last = end
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


# Passwords in any URL, user name optional (`redis://:pw@host`); the password ends at the last `@`
# of the authority, so an `@` inside it does not leave a tail behind.
_URL_PASSWORD = re.compile(
    r"(?P<head>://[^\s:/@\"'\\]*:)(?P<pw>[^\s/\"'\\]+?)@(?=[^\s@/\"'\\]*(?:[/\s\"'\\?#]|$))")

# `Bearer <token>` / `Basic <base64(user:pass)>`, wherever they appear.
_AUTH_SCHEME = re.compile(r"(?<![A-Za-z0-9])(?P<scheme>Bearer|Basic)[ \t]+(?P<v>[^\s\"'`,;\\]+)",
                          re.IGNORECASE)


def _is_basic_credential(value: str) -> bool:
    """True for base64 of `user:password`."""
    if len(value) < 4 or len(value) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", value):
        return False
    try:
        raw = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return ":" in raw and raw.isprintable()


def _redact_auth_scheme(match: re.Match[str]) -> str:
    value = match["v"]
    if value.startswith("[REDACTED"):
        return match.group(0)
    if match["scheme"].lower() == "basic":
        secret = _is_basic_credential(value) or (len(value) >= 16 and any(c.isdigit() for c in value))
    else:
        secret = len(value) >= 16 or (len(value) >= 8 and any(c.isdigit() for c in value))
    return match.group(0)[: match.start("v") - match.start()] + _SECRET if secret else match.group(0)


# -- labels --------------------------------------------------------------------------------------

# Label vocabulary: compounds of a key's last words (lower case, separators removed) and what they
# hold. detect-secrets' keyword list first, then what it lacks.
_PASSWORD, _SECRET_CLS, _KEY, _TOKEN, _AUTH, _AUTHORIZATION, _BLOB, _PWD = (
    "password", "secret", "key", "token", "auth", "authorization", "blob", "pwd")


def _vocabulary() -> dict[str, str]:
    vocab: dict[str, str] = {}
    for entry in _DS_KEYWORDS:
        word = entry.replace("_?", "")
        if any(p in word for p in ("pass", "pwd", "contrase")):
            vocab[word] = _PASSWORD
        elif word.endswith("key"):
            vocab[word] = _KEY
        else:
            vocab[word] = _SECRET_CLS
    vocab.update({w: _PASSWORD for w in ("passphrase", "passcode", "userpass", "contrasena")})
    vocab.update({w: _KEY for w in (
        "secretkey", "accesskey", "secretaccesskey", "signingkey", "encryptionkey", "masterkey",
        "sharedaccesskey", "storagekey", "sshkey", "licensekey", "webhookkey", "hmackey", "sessionkey",
        "appkey", "tlskey", "sslkey", "keydata", "clientkeydata", "primarykey", "secondarykey",
        "subscriptionkey", "deploykey", "accountkey", "privkey", "certificatekey")})
    # Signatures in pre-signed URLs (`&sig=`, `X-Amz-Signature=`) grant access like a token.
    vocab.update({w: _TOKEN for w in ("sig", "amzsignature", "googsignature")})
    vocab.update({"pwd": _PWD, "token": _TOKEN, "secret": _SECRET_CLS, "auth": _AUTH,
                  "authorization": _AUTHORIZATION, "dockerconfigjson": _BLOB, "dockercfg": _BLOB})
    return vocab


_VOCAB = _vocabulary()
# A single run of letters that ends in one of these is a label too (`PGPASSWORD`, `GITHUBTOKEN`).
_STRONG_SUFFIXES = ("password", "passwd", "passphrase", "secret", "token", "apikey", "secretkey",
                    "privatekey", "accesskey")
# `<word>Secret: <resource name>` names a Secret when <word> is one of these (`existingSecret`,
# `tlsSecret`, `passwordSecret`).
_NAMING_WORDS = frozenset({"existing", "connection", "tls", "pull", "source", "target", "sealed",
                           "external", "ref", "kube", "password", "credentials", "cert",
                           "certificate", "name"})
_WORD = re.compile(r"[A-Z]+(?![^\W\d_A-Z])|[A-Z]?[^\W\d_A-Z]+|\d+")


@lru_cache(maxsize=4096)
def _classify(key: str) -> tuple[str, tuple[str, ...]] | None:
    """(what the value of `key` holds, the words before the label) or None for an ordinary key."""
    words = [w.lower() for w in _WORD.findall(key)]
    if not words:
        return None
    for n in (3, 2, 1):
        if len(words) >= n and (cls := _VOCAB.get("".join(words[-n:]))):
            return cls, tuple(words[:-n])
    last = words[-1]
    for suffix in _STRONG_SUFFIXES:
        if last.endswith(suffix) and len(last) > len(suffix):
            cls = _VOCAB.get(suffix) or (_KEY if suffix.endswith("key") else _SECRET_CLS)
            return cls, (*words[:-1], last[: -len(suffix)])
    return None


_NOT_SECRET_VALUES = frozenset({
    "true", "false", "yes", "no", "on", "off", "null", "none", "nil", "~", "-", "n/a", "enabled",
    "disabled", "required", "optional", "empty", "unset", "redacted", "hidden", "<none>", "<nil>",
    "<unset>", "<redacted>", "<hidden>", "undefined",
    # type names, as in `--token string` (command help) or `password: string` (a schema)
    "string", "strings", "stringarray", "int", "integer", "bool", "boolean", "duration", "float", "uint"})
# Not a value but a stand-in for one: a shell or template expansion, a mask, an elision, a marker,
# optionally after an auth scheme (`Bearer <token>`, `Bearer $(cat token)`).
_PLACEHOLDER = re.compile(r"(?:(?i:Bearer|Basic|Token)\s+)?(?:\$\{.*|\$\(.*|\$[A-Z_][A-Z0-9_]*|\{\{.*|\*+|•+"
                          r"|…|\.\.\.|<.*|\[REDACTED:[a-z0-9-]+\])")
# One plain word ("polling", "Kubernetes"): in a sentence, what follows "token:" is not a credential.
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]*[.,:;!?)]?")
_NAME_SHAPED = re.compile(r"[a-z]+(?:[-.](?:[a-z]+|[0-9]+))+")
_RESOURCE_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?")  # a Kubernetes object name


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.fullmatch(value))


def _holds_secret(value: str, cls: str, prefix: tuple[str, ...], quoted: bool = True) -> bool:
    """Whether `value`, found under a label of class `cls`, is a secret to redact."""
    v = value.strip()
    if not v or v.lower() in _NOT_SECRET_VALUES or _PLACEHOLDER.fullmatch(v):
        return False
    if not quoted and v[0] in "{[":
        return False  # a mapping or a list follows the label, not a value
    if prefix and prefix[-1] in _NAMING_WORDS and len(v) <= 253 and _RESOURCE_NAME.fullmatch(v):
        return False  # `existingSecret: app-data-credentials` names a Secret, it holds none
    if cls == _PWD and v[0] in "/~":
        return False  # the shell's working directory (`PWD=/home/app`), not a password
    if cls in (_PASSWORD, _AUTHORIZATION, _PWD):
        return True
    if cls == _AUTH:
        return _is_basic_credential(v) or len(v) >= 20
    if cls == _BLOB:
        return len(v) >= 6
    if len(v) < 6 or (v.isdigit() and len(v) < 12) or any(c.isspace() for c in v):
        return False  # too short, a number, or words: tokens and keys hold no blanks
    # `secret: app-data-credentials`: words joined by dashes name a Secret rather than hold one.
    return not (cls in (_SECRET_CLS, _KEY) and len(v) <= 63 and _NAME_SHAPED.fullmatch(v))


# A label's last word followed by an assignment. The rest of the key is read backwards from here.
_LABEL = re.compile(
    r"(?:passphrase|passcode|passwd|password|contrase(?:ñ|n)a|pwd|pass|secret|token|authorization|auth"
    r"|key|data|dockerconfigjson|dockercfg|sig|signature)"
    r"(?P<close>\\?[\"'`]|\])?"
    r"(?P<sep>[ \t]*(?::=|=>|:(?![:/])|=(?![=>]))[ \t]*)",
    re.IGNORECASE)
# `--password value`, `--token=value` on a command line.
_FLAG = re.compile(r"(?<![\w-])--(?P<key>[A-Za-z][\w-]*)(?P<sep>[ \t]+|=)(?=[^\s-])")
_FLAG_ARG = re.compile(r"--([A-Za-z][\w-]*)")
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-ñÑ")
_UNQUOTED = re.compile(r"[^\s\"'`,;&\\]+")
# An unquoted password after `:` runs to the end of the line ("correct horse battery staple"), but
# stops before a closing bracket, a comment, a table border or the next `key:` of a flow mapping.
# Any blank may come before the stop (a NEL or no-break space too, not only spaces and tabs).
_TO_EOL = re.compile(
    r"[^\r\n\"\\`]*?[^\s\"\\`](?=[^\S\r\n]*(?:$|[\r\n\"\\`]|[│┃]|[ \t][|#][ \t]"
    r"|[,;][ \t]*[\w.\-]+[ \t]*[:=]|[,}\]]+[ \t]*(?:$|[\r\n\"\\])))",
    re.MULTILINE)
# Quoted values; YAML folds a long quoted scalar onto more-indented lines, so those lines belong to it.
_DQUOTED = re.compile(r'"((?:[^"\\\r\n]|\\.)*(?:\r?\n[ \t]+(?:[^"\\\r\n]|\\.)*)*)"')
_SQUOTED = re.compile(r"'((?:[^'\r\n]|'')*(?:\r?\n[ \t]+(?:[^'\r\n]|'')*)*)'")
_BQUOTED = re.compile(r"`([^`\r\n]*)`")
_EQUOTED = re.compile(r'\\"([^"\\\r\n]*)\\"')
_YAML_KEY_LINE = re.compile(r"[ \t]*(?:-[ \t]|[^\s:#][^:\r\n]*:(?:[ \t]|$))")
_BLOCK_SCALAR = re.compile(r"[|>][+-]?\d*[ \t]*(?=\r?\n)")


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def _indent_of_line(text: str, pos: int) -> int:
    """Indentation of the line holding `pos` (a list dash counts as indentation)."""
    start = text.rfind("\n", 0, pos) + 1
    line = text[start:pos]
    return len(line) - len(line.lstrip(" -"))


_MARKUP = " \t-*>#|│`_"
_PROSE_WORD = re.compile(r"(?:[A-Z]+|[A-Za-z][a-z'’]*)[.,:;!?)]?")


def _words(text: str) -> int:
    """How many plain words `text` holds (tokens between blanks made of letters only)."""
    return sum(1 for token in text.split() if _PROSE_WORD.fullmatch(token))


def _in_prose(text: str, key_start: int) -> bool:
    """Whether the label at `key_start` ends a phrase of a sentence ("…per bot token: polling") rather
    than starts a `key: value` line: three or more words before it on its line, one in lower case."""
    line = _MARKER_RE.sub(" ", text[text.rfind("\n", 0, key_start) + 1: key_start]).strip(_MARKUP)
    tokens = [t.strip("*_`") for t in line.split()]
    words = [t for t in tokens if _PROSE_WORD.fullmatch(t)]
    return len(words) >= 3 and any(w[:1].islower() for w in words)


def _sentence_goes_on(text: str, end: int) -> bool:
    """Whether two or more plain words follow `end` on its line."""
    line_end = text.find("\n", end)
    return _words(text[end: len(text) if line_end < 0 else line_end]) >= 2


def _value_edit(text: str, pos: int, cls: str, prefix: tuple[str, ...], colon: bool,
                json_key: bool, flag: bool = False, spaced: bool = False,
                prose: bool = False) -> _Edit | None:
    """The edit that redacts the value starting at `pos`, if it is a secret.

    `colon`: the label ended in `:`; `spaced`: the assignment had blanks around it (`key = value`);
    `flag`: a command-line flag. Passwords after `:` or ` = ` run to the end of the line (and onto
    the more-indented lines YAML folds a long value onto); other values end at a blank.
    """
    if pos >= len(text):
        return None
    for quoted in (_EQUOTED, _DQUOTED, _SQUOTED, _BQUOTED):
        if (m := quoted.match(text, pos)) is not None:
            if _holds_secret(m[1], cls, prefix):
                return _Edit(m.start(1), m.end(1), _SECRET)
            return None
    if text[pos] in "\"'`":
        pos += 1  # an unterminated quote: the value runs on
    elif colon and not flag and (block := _BLOCK_SCALAR.match(text, pos)):
        return _block_scalar_edit(text, pos, block.end())
    if prose:
        # In a sentence only the word after the label goes ("Your password: Xy7!abc"), and not even
        # that when it is a plain word the sentence goes on from ("**Rotating a password:** change
        # it in the Secret"). A pass phrase of plain words in mid-sentence is not caught.
        while text.startswith(("**", "__"), pos) or text.startswith(" ", pos):
            pos += 1 if text[pos] == " " else 2
        m = _UNQUOTED.match(text, pos)
        if m is None or not _holds_secret(m.group(0), cls, prefix):
            return None
        if _PLAIN_WORD.fullmatch(m.group(0)) and _sentence_goes_on(text, m.end()):
            return None  # a word of a sentence that goes on
        return _Edit(m.start(), m.end(), _SECRET)
    to_eol = not flag and (colon or spaced) and cls in (_PASSWORD, _AUTHORIZATION, _PWD)
    m = (_TO_EOL if to_eol else _UNQUOTED).match(text, pos)
    if m is None:
        return None
    value, end = m.group(0), m.end()
    for opening, closing in ("[]", "{}"):  # a closer the value opened is part of it
        while value.count(opening) > value.count(closing) and text.startswith(closing, end):
            value, end = value + closing, end + 1
    if not _holds_secret(value, cls, prefix, quoted=False):
        return None
    if not to_eol and colon and text[pos - 1:pos] == " " and len(value) < 20 and \
            _PLAIN_WORD.fullmatch(value) and _sentence_goes_on(text, end):
        return None  # "bot token: polling or a webhook": a sentence, not an assignment
    if to_eol and colon:
        end = _folded_end(text, end, _indent_of_line(text, pos))
    return _Edit(m.start(), end, f'"{_SECRET}"' if json_key else _SECRET)


def _folded_end(text: str, end: int, key_indent: int) -> int:
    """The end of a plain YAML scalar that continues on more-indented lines (not `key:` lines)."""
    while text.startswith("\n", end) or text.startswith("\r\n", end):
        start = text.find("\n", end) + 1
        nl = text.find("\n", start)
        line = text[start: len(text) if nl < 0 else nl].rstrip("\r")
        content = line.lstrip(" \t")
        if not content or len(line) - len(content) <= key_indent or _YAML_KEY_LINE.match(line):
            break
        end = start + len(line.rstrip())
    return end


def _block_scalar_edit(text: str, key_pos: int, pos: int) -> _Edit | None:
    """A YAML block scalar (`password: |`): its indented lines are the value."""
    line_start = text.rfind("\n", 0, key_pos) + 1
    key_indent = len(text[line_start:key_pos]) - len(text[line_start:key_pos].lstrip(" -"))
    start = text.find("\n", pos) + 1
    end = start
    indent = None
    while end < len(text):
        nl = text.find("\n", end)
        line = text[end: len(text) if nl < 0 else nl]
        stripped = line.lstrip(" ")
        if stripped.strip() and len(line) - len(stripped) <= key_indent:
            break
        if indent is None and stripped.strip():
            indent = len(line) - len(stripped)
        end = len(text) if nl < 0 else nl + 1
    body = text[start:end].strip()
    if indent is None or not body or _MARKER_RE.fullmatch(body):
        return None
    tail = "\n" if text[start:end].endswith("\n") else ""
    return _Edit(start, end, " " * indent + _SECRET + tail)


def _key_before(text: str, end: int) -> tuple[int, str]:
    start = end
    while start > 0 and text[start - 1] in _KEY_CHARS:
        start -= 1
    return start, text[start:end]


_LABEL_WORDS = ("password", "passwd", "passphrase", "passcode", "pwd", "pass", "contraseña", "contrasena",
                "secret", "token", "authorization", "auth", "key", "data", "dockerconfigjson", "dockercfg",
                "sig", "signature")
_LABEL_SEP = re.compile(r"(?P<close>\\?[\"'`]|\])?(?P<sep>[ \t]*(?::=|=>|:(?![:/])|=(?![=>]))[ \t]*)")


def _label_matches(text: str, lower: str) -> Iterable[tuple[int, re.Match[str]]]:
    """(end of the label word, the assignment after it) for every label word followed by one."""
    if len(lower) != len(text):  # a character whose lower case is longer: scan with the regex
        for m in _LABEL.finditer(text):
            yield (m.start("close") if m["close"] else m.start("sep")), m
        return
    for word in _LABEL_WORDS:
        i = lower.find(word)
        while i >= 0:
            end = i + len(word)
            if (m := _LABEL_SEP.match(text, end)) is not None:
                yield end, m
            i = lower.find(word, end)


def _label_edits(text: str, lower: str | None = None) -> list[_Edit]:
    edits: list[_Edit] = []
    for key_end, m in _label_matches(text, text.lower() if lower is None else lower):
        start, key = _key_before(text, key_end)
        found = _classify(key)
        if found is None:
            # "API Key:", "Secret Key:" in a key/value view: try the words before, across one space.
            probe = start
            for _ in range(2):
                if probe < 2 or text[probe - 1] not in " \t" or not text[probe - 2].isalpha():
                    break
                probe, _word = _key_before(text, probe - 1)
                if (found := _classify(re.sub(r"[ \t]", "_", text[probe:key_end]))) is not None:
                    break
        if found is None:
            continue
        if text.startswith("${", start - 2) or text.startswith("[REDACTED:", start - 10):
            continue  # `${DB_PASSWORD:-default}` refers to a variable; `[REDACTED:secret]` is a marker
        cls, prefix = found
        sep = m["sep"]
        colon = ":" in sep
        json_key = bool(m["close"]) and m["close"].endswith('"')
        spaced = sep[:1] in " \t" and sep[-1:] in " \t"
        prose = cls in (_PASSWORD, _AUTHORIZATION, _PWD) and (colon or spaced) and _in_prose(text, start)
        edit = _value_edit(text, m.end(), cls, prefix, colon, json_key, spaced=spaced, prose=prose)
        if edit is not None:
            edits.append(edit)
    if "--" in text:
        for m in _FLAG.finditer(text):
            found = _classify(m["key"])
            if found is not None and (edit := _value_edit(text, m.end(), *found, False, False, True)):
                edits.append(edit)
    return edits


# `- name: DB_PASSWORD` then `value: …` (container env, Helm `set` lists), in YAML or JSON.
_ENV_YAML = re.compile(r"name:[ \t]*[\"']?(?P<name>[A-Za-z_][\w.\-]*)[\"']?[ \t]*\r?\n"
                       r"[ \t]*(?:-[ \t]+)?value:[ \t]*")
_ENV_JSON = re.compile(r"\"name\"[ \t]*:[ \t]*\"(?P<name>[A-Za-z_][\w.\-]*)\"[ \t]*,\s*"
                       r"\"value\"[ \t]*:[ \t]*")
_LINE_LEAD = re.compile(r"[ \t]*(?:-[ \t]+)?")


def _env_edits(text: str) -> list[_Edit]:
    edits: list[_Edit] = []
    if "value" not in text:
        return edits
    for pattern, json_key in ((_ENV_YAML, False), (_ENV_JSON, True)):
        for m in pattern.finditer(text):
            if not json_key:
                line_start = text.rfind("\n", 0, m.start()) + 1
                if not _LINE_LEAD.fullmatch(text, line_start, m.start()):
                    continue
            found = _classify(m["name"])
            if found is not None and found[0] != _BLOB:
                edit = _value_edit(text, m.end(), found[0], found[1], colon=True, json_key=json_key)
                if edit is not None:
                    edits.append(edit)
    return edits


# The `data:` / `stringData:` of a Kubernetes Secret: every value is secret, whatever its key.
_YAML_DATA = re.compile(r"ata:[ \t]*\r?\n")
_DATA_LEAD = re.compile(r"(?P<indent>[ \t]*)(?:-[ \t]+)?(?:d|stringD|binaryD)")
_YAML_ENTRY = re.compile(r"(?P<indent>[ \t]*)(?P<key>[^\s:#][^:\r\n]*?):[ \t]+(?P<value>\S(?:.*\S)?)[ \t]*$")
_YAML_KIND_SECRET = re.compile(r"^[ \t]*(?:-[ \t]+)?kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", re.MULTILINE)
_JSON_DATA = re.compile(r"\"(?:data|stringData)\"[ \t]*:[ \t]*\{(?P<body>[^{}]*)\}")
_JSON_ENTRY = re.compile(r"\"(?:[^\"\\]|\\.)*\"[ \t]*:[ \t]*\"(?P<value>(?:[^\"\\]|\\.)*)\"")
_JSON_KIND_SECRET = re.compile(r"\"kind\"[ \t]*:[ \t]*\"Secret\"")
_BASE64_VALUE = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def _looks_base64(value: str) -> bool:
    """Base64 a ConfigMap would not normally hold: padded length, mixed case and a digit or symbol."""
    return bool(_BASE64_VALUE.fullmatch(value)) and len(value) % 4 == 0 and \
        any(c.isupper() for c in value) and any(c.islower() for c in value) and \
        any(c.isdigit() or c in "+/=" for c in value)


def _secret_data_value(value: str, in_secret: bool) -> bool:
    v = value.strip().strip("\"'")
    if not v or _MARKER_RE.fullmatch(v):
        return False
    return in_secret or _looks_base64(v)


def _document_of(text: str, pos: int) -> str:
    start = text.rfind("\n---", 0, pos)
    end = text.find("\n---", pos)
    return text[max(start, 0): len(text) if end < 0 else end]


def _secret_data_edits(text: str) -> list[_Edit]:
    edits: list[_Edit] = []
    if "data" in text or "Data" in text:
        for m in _YAML_DATA.finditer(text):
            line_start = text.rfind("\n", 0, m.start()) + 1
            if (lead := _DATA_LEAD.fullmatch(text, line_start, m.start())) is None:
                continue
            in_secret = bool(_YAML_KIND_SECRET.search(_document_of(text, m.start())))
            edits.extend(_yaml_data_block(text, m.end(), len(lead["indent"]), in_secret))
        if "\"data\"" in text or "\"stringData\"" in text:
            in_secret = bool(_JSON_KIND_SECRET.search(text))
            for m in _JSON_DATA.finditer(text):
                for e in _JSON_ENTRY.finditer(m["body"]):
                    if _secret_data_value(e["value"], in_secret):
                        base = m.start("body")
                        edits.append(_Edit(base + e.start("value"), base + e.end("value"), _SECRET))
    return edits


def _yaml_data_block(text: str, pos: int, parent_indent: int, in_secret: bool) -> list[_Edit]:
    """Edits for the entries of a `data:` block that starts at `pos`.

    In a Secret every value goes, including the lines of a block scalar or of a folded value (lines
    indented deeper than the entries); elsewhere (a ConfigMap) only values that look like base64.
    """
    edits: list[_Edit] = []
    entry_indent: int | None = None
    while pos < len(text):
        nl = text.find("\n", pos)
        end = len(text) if nl < 0 else nl
        line = text[pos:end].rstrip("\r")
        content = line.lstrip(" \t")
        indent = len(line) - len(content)
        if content and indent <= parent_indent:
            break
        if content:
            if entry_indent is None:
                entry_indent = indent
            if indent > entry_indent:
                if in_secret and not _MARKER_RE.fullmatch(content):
                    edits.append(_Edit(pos + indent, pos + len(line), _SECRET))
            elif (e := _YAML_ENTRY.match(line)) is not None:
                value = e["value"]
                if not re.fullmatch(r"[|>][+-]?\d*", value) and _secret_data_value(value, in_secret):
                    vs, ve = pos + e.start("value"), pos + e.end("value")
                    if value[0] in "\"'" and len(value) > 1 and value[-1] == value[0]:
                        vs, ve = vs + 1, ve - 1
                    edits.append(_Edit(vs, ve, _SECRET))
        pos = end + 1
    return edits


def _apply_edits(text: str, edits: list[_Edit]) -> str:
    if not edits:
        return text
    parts: list[str] = []
    last = 0
    for edit in sorted(edits, key=lambda e: (e.start, -e.end)):
        if edit.start < last:
            continue  # overlaps an edit already made
        parts.append(text[last:edit.start])
        parts.append(edit.text)
        last = edit.end
    parts.append(text[last:])
    return "".join(parts)


# -- the redactor --------------------------------------------------------------------------------


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
                value = value.replace(secret, _SECRET)
        if len(value) < 6 and ":" not in value and "=" not in value:
            return value  # too short for any shape, and no label
        lower = _Lower()
        long = len(value) > _PRESCAN_LIMIT
        ungated = long or _ANY_SHAPE.search(value) is not None
        gated = long or _ANY_GATE.search(lower.of(value)) is not None
        for shape in _SHAPES:
            if gated if shape.gate is not None else ungated:
                value = _apply_shape(shape, value, lower)
        if "://" in value:
            value = _URL_PASSWORD.sub(_redact_url_password, value)
        low = lower.of(value)
        if "bearer" in low or "basic" in low:
            value = _AUTH_SCHEME.sub(_redact_auth_scheme, value)
        value = _apply_edits(value, _secret_data_edits(value))
        value = _apply_edits(value, _env_edits(value))
        if ":" in value or "=" in value or "--" in value:
            value = _apply_edits(value, _label_edits(value, lower.of(value)))
        return value

    def data(self, value: Any) -> Any:
        """A copy of nested dicts/lists/strings with every string redacted.

        Keys stay. A string under a secret-sounding key (`password`, `client-key-data`, `auth`) is
        redacted whole, and so are the `data`/`stringData` values of a Kubernetes Secret and the
        `value` of an env var whose `name` is secret-sounding.
        """
        return self._data(value, None)

    def _data(self, value: Any, key: str | None) -> Any:
        if isinstance(value, str):
            out = self.text(value)
            if key is not None and (found := _classify(key)) is not None and \
                    _holds_secret(out, found[0], found[1]):
                return _SECRET
            return out
        if isinstance(value, dict):
            secret = value.get("kind") == "Secret"
            result: dict[Any, Any] = {}
            for k, v in value.items():
                if secret and k in ("data", "stringData") and isinstance(v, dict):
                    result[k] = {dk: self._secret_value(dv) for dk, dv in v.items()}
                else:
                    result[k] = self._data(v, k if isinstance(k, str) else None)
            name, env_value = value.get("name"), result.get("value")
            if isinstance(name, str) and isinstance(env_value, str) and \
                    (found := _classify(name)) is not None and _holds_secret(env_value, *found):
                result["value"] = _SECRET
            return result
        if isinstance(value, list | tuple):
            # An argv list: the item after `--password`/`--token` is the secret.
            items: list[Any] = []
            flag: tuple[str, tuple[str, ...]] | None = None
            for item in value:
                out = self._data(item, None)
                if flag is not None and isinstance(out, str) and _holds_secret(out, *flag):
                    out = _SECRET
                flag = _classify(m[1]) if isinstance(item, str) and (m := _FLAG_ARG.fullmatch(item)) else None
                items.append(out)
            return items
        return value

    def _secret_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return _SECRET if value and not _MARKER_RE.fullmatch(value) else value
        return self._data(value, None)


def _redact_url_password(match: re.Match[str]) -> str:
    if _is_placeholder(match["pw"]):  # a marker already, or `$(REDIS_PASSWORD)`, `<password>`
        return match.group(0)
    return f"{match['head']}{MARKER.format(kind='password')}@"


def is_redacted(value: str) -> bool:
    """True when `value` holds a redaction marker: it must never be used as a real value."""
    return bool(_MARKER_RE.search(value))


_default = Redactor()


def redact(value: str) -> str:
    """Redact secret shapes (no known values) from `value`."""
    return _default.text(value)
