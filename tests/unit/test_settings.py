"""Settings: read from `HERMES_…` variables (and `ANKRA_API_TOKEN` as the guide names it), secrets kept
out of reprs, secrets read from files (`…_FILE`), and a clear error when a service's key is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hermes.settings import Settings, default_state_dir
from hermes.signing import ServiceKey
from pydantic import ValidationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Settings read the process environment: start every test from none of Hermes's variables."""
    for name in list(os.environ):
        if name.startswith(("HERMES_", "ANKRA_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_without_environment() -> None:
    s = Settings()
    assert s.nats_url == "nats://127.0.0.1:4222"
    assert s.http_port == 8789
    assert s.service_key is None and s.ankra_api_token is None and s.api_token is None
    assert s.known_secrets() == []


def test_hermes_prefixed_variables_are_read(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HERMES_NATS_URL", "nats://bus:4222")
    clean_env.setenv("HERMES_HTTP_PORT", "9000")
    clean_env.setenv("HERMES_EXEC_TIMEOUT_SECONDS", "2.5")
    s = Settings()
    assert s.nats_url == "nats://bus:4222"
    assert s.http_port == 9000
    assert s.exec_timeout_seconds == 2.5


def test_unprefixed_variable_is_not_read(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("NATS_URL", "nats://elsewhere:4222")
    assert Settings().nats_url == "nats://127.0.0.1:4222"


def test_invalid_port_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HERMES_HTTP_PORT", "70000")
    with pytest.raises(ValidationError):
        Settings()


def test_ankra_api_token_is_read_as_the_guide_names_it(clean_env: pytest.MonkeyPatch) -> None:
    value = "guide-" + "t" * 20
    clean_env.setenv("ANKRA_API_TOKEN", value)
    s = Settings()
    assert s.ankra_api_token is not None
    assert s.ankra_api_token.get_secret_value() == value


def test_hermes_prefixed_ankra_token_is_read_too(clean_env: pytest.MonkeyPatch) -> None:
    value = "prefixed-" + "t" * 20
    clean_env.setenv("HERMES_ANKRA_API_TOKEN", value)
    assert Settings().ankra_api_token.get_secret_value() == value


def test_hermes_prefixed_ankra_token_wins_over_the_plain_one(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HERMES_ANKRA_API_TOKEN", "prefixed-" + "1" * 10)
    clean_env.setenv("ANKRA_API_TOKEN", "plain-" + "2" * 10)
    assert Settings().ankra_api_token.get_secret_value() == "prefixed-" + "1" * 10


def test_ankra_base_url_is_read_from_either_name(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ANKRA_BASE_URL", "https://ankra.example.com")
    assert Settings().ankra_base_url == "https://ankra.example.com"


def test_fields_can_be_set_by_name_in_code() -> None:
    s = Settings(ankra_api_token="by-name-" + "x" * 10, nats_url="nats://x:1")
    assert s.ankra_api_token.get_secret_value() == "by-name-" + "x" * 10
    assert s.nats_url == "nats://x:1"


def test_known_secrets_lists_every_secret_value(clean_env: pytest.MonkeyPatch) -> None:
    api, key, ankra = "api-" + "a" * 12, "sign-" + "b" * 12, "ankra-" + "c" * 12
    clean_env.setenv("HERMES_API_TOKEN", api)
    clean_env.setenv("HERMES_SERVICE_KEY", key)
    clean_env.setenv("ANKRA_API_TOKEN", ankra)
    assert sorted(Settings().known_secrets()) == sorted([api, key, ankra])


def test_known_secrets_skips_empty_values(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HERMES_API_TOKEN", "")
    clean_env.setenv("HERMES_SERVICE_KEY", "sign-" + "b" * 12)
    assert Settings().known_secrets() == ["sign-" + "b" * 12]


def test_secrets_do_not_appear_in_repr_or_dump(clean_env: pytest.MonkeyPatch) -> None:
    key, ankra = "sign-" + "q" * 16, "ankra-" + "r" * 16
    clean_env.setenv("HERMES_SERVICE_KEY", key)
    clean_env.setenv("ANKRA_API_TOKEN", ankra)
    s = Settings()
    shown = repr(s) + str(s) + s.model_dump_json()
    assert key not in shown and ankra not in shown


def test_require_service_key_returns_the_services_own_key(clean_env: pytest.MonkeyPatch) -> None:
    key = ServiceKey.generate("guard")
    clean_env.setenv("HERMES_SERVICE_KEY", key.private_text())
    assert Settings().require_service_key("guard").public_text == key.public_text


@pytest.mark.parametrize("value", [None, ""])
def test_require_service_key_names_the_variable_when_missing(clean_env: pytest.MonkeyPatch, value) -> None:
    if value is not None:
        clean_env.setenv("HERMES_SERVICE_KEY", value)
    with pytest.raises(RuntimeError) as err:
        Settings().require_service_key("guard")
    message = str(err.value)
    assert "HERMES_SERVICE_KEY_FILE is not set" in message and "guard" in message and "hermes up" in message


def test_secrets_are_read_from_files(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`HERMES_…_FILE`: the value lives in a file, not in the process's environment."""
    (tmp_path / "ankra").write_text("file-ankra-" + "z" * 12 + "\n")
    (tmp_path / "nats").write_text("nats-pw-" + "y" * 12)
    clean_env.setenv("ANKRA_API_TOKEN_FILE", str(tmp_path / "ankra"))
    clean_env.setenv("HERMES_NATS_PASSWORD_FILE", str(tmp_path / "nats"))
    s = Settings()
    assert s.ankra_api_token.get_secret_value() == "file-ankra-" + "z" * 12
    assert s.nats_password.get_secret_value() == "nats-pw-" + "y" * 12


def test_an_unreadable_secret_file_is_a_clear_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("HERMES_SERVICE_KEY_FILE", str(tmp_path / "missing.key"))
    with pytest.raises(ValueError) as err:
        Settings()
    assert "HERMES_SERVICE_KEY_FILE" in str(err.value) and "missing.key" in str(err.value)


def test_trusted_keys_name_the_missing_owner(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HERMES_TRUSTED_KEYS", '{"gateway": "%s"}' % ServiceKey.generate("gateway").public_text)
    assert "gateway" in Settings().trusted("gateway")
    with pytest.raises(RuntimeError) as err:
        Settings().trusted("gateway", "guard")
    assert "no public key for guard" in str(err.value)


def test_state_dir_follows_xdg_state_home(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "hermes"
    assert Settings().state_dir == tmp_path / "hermes"


def test_state_dir_can_be_set(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("HERMES_STATE_DIR", str(tmp_path / "state"))
    assert Settings().state_dir == tmp_path / "state"
