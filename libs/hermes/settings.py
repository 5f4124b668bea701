"""Settings of every service, read from `HERMES_…` environment variables.

One settings object for all services keeps the names in one place; each service reads the
fields it needs. Secrets are `SecretStr` so they never print by accident.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hermes import subjects
from hermes.signing import ServiceKey, TrustedKeys, trusted_from_json


def default_state_dir() -> Path:
    """Where `hermes up` keeps its state when HERMES_STATE_DIR is not set."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "hermes"


class SecretFiles(PydanticBaseSettingsSource):
    """`HERMES_<FIELD>_FILE=/path`: the value is read from that file (the Kubernetes and Docker secrets
    convention), so no secret needs to sit in a process's environment. Read once, at start-up."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        names = [f"HERMES_{field_name.upper()}"]
        if isinstance(field.validation_alias, AliasChoices):
            names += [c for c in field.validation_alias.choices if isinstance(c, str)]
        for name in names:
            path = os.environ.get(f"{name}_FILE")
            if path:
                try:
                    return Path(path).read_text(encoding="utf-8").strip(), field_name, False
                except OSError as err:
                    raise ValueError(f"{name}_FILE={path} cannot be read ({err.strerror}); point it at the "
                                     f"file holding {name}, or unset it") from None
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                # Under the key the other sources use for the field (its first alias), so the sources'
                # order decides: an explicit value wins over the file, the file over the environment.
                alias = field.validation_alias
                if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
                    key = alias.choices[0]
                values[key] = value
        return values


def _sentinel_addresses(value: str | None) -> list[tuple[str, int]]:
    found = []
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"HERMES_REDIS_SENTINELS: {item!r} is not host:port (give host:port,host:port)")
        found.append((host.strip("[]"), int(port)))
    return found


class Settings(BaseSettings):
    """All of Hermes's settings. Environment: `HERMES_<FIELD>` (e.g. HERMES_NATS_URL)."""

    model_config = SettingsConfigDict(env_prefix="HERMES_", extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: Any, env_settings: Any,
                                   dotenv_settings: Any, file_secret_settings: Any) -> tuple[Any, ...]:
        # Explicit values, then `…_FILE` files, then plain environment variables.
        return init_settings, SecretFiles(settings_cls), env_settings, dotenv_settings, file_secret_settings

    # Infrastructure
    nats_url: str = Field(
        default="nats://127.0.0.1:4222",
        description="the NATS server, or a cluster's servers separated by commas (nats://a:4222,nats://b:4222)")
    nats_replicas: int | None = Field(
        default=None, ge=1, le=5, description="copies of each JetStream stream; unset: min(3, the servers of "
                                              "the cluster), 1 on a single server")
    nats_user: str | None = Field(default=None, description="this service's own NATS user")
    nats_password: SecretStr | None = Field(default=None, description="its password (HERMES_NATS_PASSWORD_FILE)")
    nats_declare_streams: bool = Field(
        default=True, description="create the streams and consumers at start-up; false where a bootstrap "
                                  "step made them and the service's NATS user may not (hermes up, Helm)")
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_user: str | None = Field(default=None, description="this service's own Redis ACL user")
    redis_password: SecretStr | None = Field(default=None, description="its password (HERMES_REDIS_PASSWORD_FILE)")
    redis_prefix: str = Field(default="hermes", description="namespace of every Redis key")
    redis_sentinels: str | None = Field(
        default=None, description="Redis Sentinels, host:port,host:port: ask them for the primary (then "
                                  "redis_url gives only the database number, and TLS with rediss://)")
    redis_sentinel_service: str = Field(default="hermes", description="the name the Sentinels monitor the "
                                                                      "primary under")
    redis_sentinel_user: str | None = Field(default=None, description="a user for the Sentinels themselves, "
                                                                      "if they require one")
    redis_sentinel_password: SecretStr | None = Field(
        default=None, description="the Sentinels' own password (HERMES_REDIS_SENTINEL_PASSWORD_FILE), if any")
    state_dir: Path = Field(default_factory=default_state_dir)

    # Gateway
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8789, ge=0, le=65535)
    api_token: SecretStr | None = Field(
        default=None, description="a token the gateway accepts for the user `admin` when Redis has no users "
                                  "yet (a bootstrap; `hermes up` and `hermes users` manage real users)")
    long_poll_max_seconds: float = Field(default=30.0, gt=0)
    delivery_ttl_seconds: int = Field(
        default=900, ge=10, description="a reply not sent to its chat platform within this is dropped, not sent late")
    delivery_max_attempts: int = Field(default=12, ge=1, le=100, description="tries per reply before giving up")
    delivery_backoff_seconds: float = Field(default=1.0, gt=0, description="first retry delay (doubles, max 60 s)")
    lease_ttl_seconds: float = Field(
        default=15.0, ge=1.0, description="a dead replica's Socket Mode / polling connection moves after this")
    slack_api_url: str | None = Field(default=None, description="another Slack Web API base (a proxy or a test server)")
    telegram_api_url: str | None = Field(default=None, description="another Telegram Bot API server")
    discord_api_url: str | None = Field(default=None, description="another Discord REST base (…/api/v10)")
    discord_gateway: bool = Field(
        default=True, description="connect to Discord's gateway for messages; false = interactions only")

    # Keys: each service its own Ed25519 private key; the others' public keys
    service_key: SecretStr | None = Field(
        default=None, description="this service's own Ed25519 private key (base64 seed; HERMES_SERVICE_KEY_FILE)")
    trusted_keys: str | None = Field(
        default=None, description='the services\' public keys, JSON {"gateway": …, "guard": …, "executor": …}')
    bus_roles: list[str] = Field(
        default_factory=lambda: ["viewer"],
        description="roles of a message published straight on the bus by another system (no gateway stamp)")

    # Guard and executor
    order_ttl_seconds: int = Field(default=300, ge=1)
    approval_ttl_seconds: int = Field(default=1800, ge=1)
    default_profile: str = "default"

    # Executor
    ankra_bin: str = Field(default="ankra", description="path or name of the ankra executable")
    ankra_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("HERMES_ANKRA_API_TOKEN", "ANKRA_API_TOKEN")
    )
    ankra_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("HERMES_ANKRA_BASE_URL", "ANKRA_BASE_URL")
    )
    exec_timeout_seconds: float = Field(default=120.0, gt=0)
    exec_output_cap_bytes: int = Field(default=256 * 1024, ge=1024)
    exec_max_in_flight: int = Field(default=1, ge=1, le=64)
    exec_bwrap: bool | None = Field(
        default=None, description="run ankra inside bubblewrap: true = required, false = off, "
                                  "unset = whenever `bwrap` is installed and works")
    exec_bwrap_writable: list[str] = Field(
        default_factory=list,
        description="extra paths ankra may write inside bubblewrap (the per-run HOME always is)",
    )
    exec_ack_wait_seconds: float = Field(
        default=subjects.EXEC_ACK_WAIT_SECONDS, ge=0.5, le=3600,
        description="how long JetStream waits for an executor's ack or heartbeat before redelivering an order",
    )

    # Planner's language models (optional: without a key the rules engine answers alone). A profile's
    # model names its provider (`anthropic/…`, `openai/…`); each provider needs its own key.
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("HERMES_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(default=None, description="another Messages API endpoint")
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("HERMES_OPENAI_API_KEY", "OPENAI_API_KEY"),
        description="for `openai/…` models (HERMES_OPENAI_API_KEY_FILE or OPENAI_API_KEY_FILE: from a file)")
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("HERMES_OPENAI_BASE_URL", "OPENAI_BASE_URL"),
        description="an OpenAI-compatible Chat Completions server (vLLM, Ollama, LiteLLM, …), e.g. "
                    "http://127.0.0.1:8000/v1; a server that needs no key works without openai_api_key")
    llm_max_steps: int = Field(default=8, ge=1, le=32, description="model calls per request")
    llm_backoff_seconds: float = Field(default=0.5, gt=0, description="first retry delay after 429/529")

    # Logging
    log_level: str = "INFO"
    log_format: str = Field(default="json", description="json or console")

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels_are_addresses(cls, value: str | None) -> str | None:
        _sentinel_addresses(value)  # fails at start-up, naming the entry that is not host:port
        return value

    def nats_servers(self) -> list[str]:
        """The NATS servers of `nats_url` (one, or a cluster's, comma-separated)."""
        return [u.strip() for u in self.nats_url.split(",") if u.strip()]

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of each Sentinel of `redis_sentinels`; empty without Sentinels."""
        return _sentinel_addresses(self.redis_sentinels)

    def known_secrets(self) -> list[str]:
        """Secret values held in settings: redaction removes them from everything outbound."""
        values = [self.api_token, self.service_key, self.ankra_api_token, self.anthropic_api_key,
                  self.openai_api_key, self.nats_password, self.redis_password, self.redis_sentinel_password]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    def require_service_key(self, service: str) -> ServiceKey:
        """This service's own private key, or a clear error naming the variable to set."""
        if self.service_key is None or not self.service_key.get_secret_value():
            raise RuntimeError(
                f"HERMES_SERVICE_KEY_FILE is not set: the {service} signs with its own Ed25519 key "
                "(hermes up generates one per service; `hermes keys` makes them for a deployment).")
        return ServiceKey.from_text(service, self.service_key.get_secret_value())

    def trusted(self, *required: str) -> TrustedKeys:
        """The services' public keys; a clear error when one this service checks is missing."""
        keys = TrustedKeys(trusted_from_json(self.trusted_keys))
        missing = [owner for owner in required if owner not in keys]
        if missing:
            raise RuntimeError(f"HERMES_TRUSTED_KEYS has no public key for {', '.join(missing)}: this service "
                               "checks their signatures (hermes up writes them; see docs/security.md).")
        return keys


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
