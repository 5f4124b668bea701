"""The redaction corpus: more than a thousand generated secrets of more than 25 kinds, each embedded in
realistic `ankra` output and in JSON data, must not survive redaction; output that holds no secret must
come through unchanged. The corpus is built at test time (tests/unit/secret_corpus.py)."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import random
import re
import time
from collections import defaultdict
from typing import Any

import detect_secrets.plugins as ds_plugins
import pytest
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from hermes import redaction
from hermes.redaction import Redactor, is_redacted

from tests.unit.secret_corpus import (
    Case,
    Secret,
    false_positive_data,
    false_positive_texts,
    secret_cases,
)

CASES = secret_cases()
BY_KIND: dict[str, list[Case]] = defaultdict(list)
for _case in CASES:
    BY_KIND[_case.kind].append(_case)
KINDS = sorted(BY_KIND)


def strings_of(value: Any) -> list[str]:
    """Every string in a JSON-shaped value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings_of(k), *strings_of(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings_of(v)]
    return []


def leaked(out: str, secret: Secret, pieces: set[str] | None = None) -> str | None:
    """The part of `secret` still in `out`: the whole value, or any 8-character piece of a core.
    `pieces`, every 8-character piece of `out`, makes this fast on a long `out`."""
    if secret.value in out:
        return secret.value
    for core in secret.cores:
        for i in range(len(core) - 7):
            if (core[i : i + 8] in pieces) if pieces is not None else (core[i : i + 8] in out):
                return core[i : i + 8]
    return None


def _report(kind: str, failures: list[str]) -> str:
    return f"{len(failures)} of {len(BY_KIND[kind])} {kind!r} cases leak:\n\n" + "\n\n".join(failures[:3])


# -- the corpus itself ---------------------------------------------------------------------------


def test_corpus_is_large_varied_and_reproducible() -> None:
    assert len(CASES) >= 1000
    assert len(KINDS) >= 25
    assert len({c.context for c in CASES}) >= 25
    # Built from a seeded random source: the same corpus every run, different values in every case.
    assert [c.text for c in secret_cases()[:60]] == [c.text for c in CASES[:60]]
    assert len({c.secret.value for c in CASES}) == len(CASES)


def test_corpus_covers_the_shapes_the_issue_lists() -> None:
    wanted = {
        "aws-access-key-id",
        "aws-secret-access-key",
        "kubeconfig-client-key-data",
        "kubeconfig-token",
        "redis-url-password",
        "basic-auth-url",
        "labelled-api-secret",
        "gitlab-token",
        "google-api-key",
        "password-with-spaces",
        "stripe-key",
        "npm-token",
        "sendgrid-key",
        "docker-config-auth",
        "azure-storage-account-key",
        "discord-bot-token",
        "telegram-bot-token",
        "jwt",
        "github-token",
        "github-fine-grained-pat",
        "slack-token",
        "slack-app-token",
        "openai-key",
        "anthropic-key",
        "ankra-token",
        "dockerconfigjson",
        "k8s-secret-data",
        "pem-rsa",
        "pem-ec",
        "pem-openssh",
        "pem-pkcs8",
        "pem-encrypted-pkcs8",
    }
    assert wanted <= set(KINDS), wanted - set(KINDS)
    labels = {c.secret.label for c in BY_KIND["labelled-api-secret"]}
    assert {"secretKey", "privateKey"} & labels


def test_every_case_holds_its_secret_before_redaction() -> None:
    """So a redactor that did nothing would fail every case below."""
    assert all(leaked(c.text, c.secret) for c in CASES)
    assert all(leaked("\n".join(strings_of(c.data)), c.secret) for c in CASES)


# -- no secret survives --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_no_secret_survives_in_cli_output(kind: str) -> None:
    redactor = Redactor()
    failures = []
    for case in BY_KIND[kind]:
        out = redactor.text(case.text)
        if (piece := leaked(out, case.secret)) is not None:
            failures.append(f"{kind} in {case.context!r}: {piece!r} survives in:\n{out}")
        elif not is_redacted(out):
            failures.append(f"{kind} in {case.context!r}: no redaction marker in:\n{out}")
    assert not failures, _report(kind, failures)


@pytest.mark.parametrize("kind", KINDS)
def test_no_secret_survives_in_json_data(kind: str) -> None:
    redactor = Redactor()
    failures = []
    for case in BY_KIND[kind]:
        out = redactor.data(case.data)
        flat = "\n".join(strings_of(out))
        if (piece := leaked(flat, case.secret)) is not None:
            failures.append(
                f"{kind} in data for {case.context!r}: {piece!r} survives in:\n{json.dumps(out, indent=1)}"
            )
    assert not failures, _report(kind, failures)


@pytest.mark.parametrize("kind", KINDS)
def test_redacted_output_is_stable_and_json_output_still_parses(kind: str) -> None:
    redactor = Redactor()
    for case in BY_KIND[kind]:
        out = redactor.text(case.text)
        assert redactor.text(out) == out, f"{kind} in {case.context!r}: a second pass changed:\n{out}"
        data = redactor.data(case.data)
        assert redactor.data(data) == data
        try:
            json.loads(case.text)
        except ValueError:
            continue
        json.loads(out)  # redaction keeps quotes and escapes: JSON output still parses


def test_known_values_are_redacted_even_without_a_shape() -> None:
    """The corpus secrets handed over as known values (as config tokens are) go wherever they appear."""
    sample = random.Random(5).sample(CASES, 60)
    redactor = Redactor([c.secret.value for c in sample])
    for case in sample:
        assert case.secret.value not in redactor.text(case.text)


# -- against the maintained detector -------------------------------------------------------------

# detect-secrets regexes Hermes does not run, and why.
LEFT_OUT = {
    ("IPPublicDetector", 0): "an IP address is not a secret",
    ("ArtifactoryDetector", 1): "`AP[0-9A-F]` + 8 letters: matches capitalised words",
    **{
        ("PrivateKeyDetector", i): "finds only the BEGIN line; Hermes redacts the whole block"
        for i in range(len(PrivateKeyDetector.denylist))
    },
}


def _regex_plugins() -> list[type[RegexBasedDetector]]:
    found = []
    for info in pkgutil.iter_modules(ds_plugins.__path__):
        module = importlib.import_module(f"{ds_plugins.__name__}.{info.name}")
        for _name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, RegexBasedDetector)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
            ):
                found.append(cls)
    return found


def test_every_detect_secrets_regex_is_used_or_deliberately_left_out() -> None:
    """A detect-secrets upgrade that adds a detector fails here until someone decides about it."""
    used = {shape.pattern for shape in redaction._SHAPES}
    plugins = _regex_plugins()
    assert len(plugins) >= 20
    for cls in plugins:
        for i, pattern in enumerate(cls.denylist):
            assert pattern in used or (cls.__name__, i) in LEFT_OUT, f"{cls.__name__}.denylist[{i}]"


def test_every_private_key_header_detect_secrets_knows_is_in_the_corpus_and_removed() -> None:
    redactor = Redactor()
    for pattern in PrivateKeyDetector.denylist:
        holding = [c for c in CASES if pattern.search(c.text)]
        assert holding, f"no corpus case has {pattern.pattern!r}"
        for case in holding:
            assert not pattern.search(redactor.text(case.text)), (pattern.pattern, case.context)


def test_detect_secrets_finds_nothing_in_redacted_output() -> None:
    """An independent check: detect-secrets' own regex plugins see no secret in what Hermes lets out."""
    detectors = [
        cls() for cls in _regex_plugins() if cls.__name__ not in ("IPPublicDetector", "ArtifactoryDetector")
    ]
    redactor = Redactor()
    found = []
    for case in CASES[::3]:
        for line in redactor.text(case.text).splitlines():
            # Some of its keyword patterns backtrack cubically on long blank runs (aligned tables).
            line = re.sub(r" {4,}", "   ", line)
            for detector in detectors:
                found += [
                    (case.kind, case.context, detector.secret_type, hit)
                    for hit in detector.analyze_string(line)
                    if hit
                ]
    assert not found, found[:5]


# -- what must stay ------------------------------------------------------------------------------

FALSE_POSITIVE_TEXTS = false_positive_texts()


@pytest.mark.parametrize(
    "text", FALSE_POSITIVE_TEXTS, ids=[f"fp{i}" for i in range(len(FALSE_POSITIVE_TEXTS))]
)
def test_output_without_secrets_is_unchanged(text: str) -> None:
    assert Redactor().text(text) == text
    assert not is_redacted(text)


@pytest.mark.parametrize("value", false_positive_data())
def test_data_without_secrets_is_unchanged(value: Any) -> None:
    assert Redactor().data(value) == value


def test_false_positive_corpus_is_substantial() -> None:
    assert len(FALSE_POSITIVE_TEXTS) >= 80


def test_ids_digests_versions_and_shas_are_kept() -> None:
    """Decided: these are identifiers, not secrets. A cluster id, an image digest (`sha256:…`), a git
    SHA and an SSH fingerprint are needed to act on a cluster and reveal nothing that grants access."""
    rng = random.Random(9)
    cluster_id = "3f2b9c1e-8d7a-4b6c-9e0f-1a2b3c4d5e6f"
    digest = "sha256:" + "".join(rng.choice("0123456789abcdef") for _ in range(64))
    sha = "".join(rng.choice("0123456789abcdef") for _ in range(40))
    text = (
        f"ID:       {cluster_id}\nImage:    ghcr.io/ankra/agent:v1.4.2@{digest}\nRevision: {sha}\n"
        f"Short:    {sha[:7]}\nVersion:  v1.29.3+k3s1\nUpdated:  2024-05-01T12:00:00Z\n"
    )
    assert Redactor().text(text) == text


# -- speed ---------------------------------------------------------------------------------------


def test_redacting_256_kib_of_output_is_fast_and_complete() -> None:
    """`.text` runs on every reply and command output (up to 256 KiB). Typically ~40 ms here; the bound
    is loose for a shared machine, but catches a pattern that backtracks."""
    rng = random.Random(11)
    chunks: list[str] = []
    included: list[Case] = []
    size = 0
    while size < 256 * 1024:
        case = rng.choice(CASES)
        included.append(case)
        for chunk in (case.text, rng.choice(FALSE_POSITIVE_TEXTS)):
            chunks.append(chunk)
            size += len(chunk) + 1
    text = "\n".join(chunks)
    redactor = Redactor(["a-known-secret-value"])
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        out = redactor.text(text)
        best = min(best, time.perf_counter() - start)
    assert best < 2.0, f"{best:.2f}s for {len(text)} characters"
    pieces = {out[i : i + 8] for i in range(len(out) - 7)}
    survivors = [(c.kind, c.context) for c in included if leaked(out, c.secret, pieces)]
    assert not survivors, survivors[:5]


def test_a_pem_block_without_end_is_removed_in_linear_time() -> None:
    text = "x" * 100 + "\n-----BEGIN RSA PRIVATE KEY-----\n" + ("QUJD" * 16 + "\n") * 4000
    start = time.perf_counter()
    out = Redactor().text(text)
    assert time.perf_counter() - start < 2.0
    assert out == "x" * 100 + "\n[REDACTED:private-key]"


def test_labels_and_shapes_do_not_backtrack_on_long_lines() -> None:
    blanks = " " * 5000
    hostile = [
        "password: " + "a " * 20000,
        "token=" + "A" * 100000,
        "a" * 100000 + ":" + "b" * 100000,
        "M" * 50000 + "." * 3,
        "eyJ" + "a" * 100000,
        "--password " + "-" * 50000,
        "://" + ":" * 50000,
        f"│ Token{blanks}│",
        f"ibm_api_key{blanks}:{blanks}x",
        f"cloudant_password{blanks}=",
        f"sl_api_key{blanks}x",
        f"cos_hmac_secret_access_key{blanks}",
        f"aws_key{blanks}'x'",
        f"data:\n  kind: Secret\n  k: v{blanks}x\nkind: Secret",
        f"password: a{blanks}b",
    ]
    for text in hostile:
        start = time.perf_counter()
        Redactor().text(text)
        assert time.perf_counter() - start < 2.0, text[:20]


def test_corpus_regex_sanity() -> None:
    """The generator's own shapes are what the providers issue (a broken generator would prove nothing)."""
    checks = {
        "github-token": r"gh[pousr]_[A-Za-z0-9]{36}",
        "ankra-token": r"ankra_[0-9a-f]{48}",
        "aws-access-key-id": r"(?:AKIA|ASIA)[A-Z2-7]{16}",
        "google-api-key": r"AIza[\w-]{35}",
        "telegram-bot-token": r"\d{8,10}:AA[\w-]{33}",
        "sendgrid-key": r"SG\.[\w-]{22}\.[\w-]{43}",
        "npm-token": r"npm_[A-Za-z0-9]{36}",
        "anthropic-key": r"sk-ant-api03-[\w-]{93}AA",
    }
    for kind, pattern in checks.items():
        for case in BY_KIND[kind]:
            assert re.fullmatch(pattern, case.secret.value), (kind, case.secret.value)
