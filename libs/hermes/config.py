"""The configuration loader: `hermes.json`, or an OpenClaw `openclaw.json` exactly as it is.

The file is JSON5 (comments, trailing commas, unquoted keys). Hermes reads what OpenClaw users already
have — `skills.entries`, `skills.load`, `channels`, `agents` (and the older `agents.list`), `gateway` —
plus the guide's `profiles` block and Hermes's own `hermes` block. Nothing is dropped silently: every
key Hermes does not use is listed in `ignored` with its line and why, and every problem in `errors`.

Secrets: a string may be `"${VAR}"` (from the environment) or a SecretRef `{"source": "env"|"file",
"id": …}`. Secret fields are `SecretStr`, and `secret_values()` lists every secret value so redaction
can remove them everywhere. `{"source": "exec"}` is refused: Hermes never runs commands from its config.

Where the file is: an explicit path, else `$HERMES_CONFIG`, else `~/.hermes/hermes.json`, else
`~/.openclaw/openclaw.json`. No file at all means the defaults.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import json5
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from hermes.openclaw import config_keys
from hermes.profiles import DEFAULT_PROFILE, Autonomy, Profile, stricter

__all__ = [
    "AgentConfig",
    "AgentDefaults",
    "AgentsConfig",
    "ChannelsConfig",
    "ConfigError",
    "ConfigProblem",
    "DiscordConfig",
    "DockerSandbox",
    "ExecApprovals",
    "GatewayConfig",
    "Ignored",
    "LoadedConfig",
    "SandboxConfig",
    "SkillEntry",
    "SkillsConfig",
    "SkillsLoad",
    "SlackChannel",
    "SlackConfig",
    "TelegramConfig",
    "config_search_path",
    "load_config",
]


class ConfigError(Exception):
    """The config file cannot be read or parsed at all (the message says where and what to fix)."""


@dataclass(frozen=True)
class Ignored:
    """A key the file sets that Hermes does not use."""

    path: str  # dotted path of the object that holds the key ("" at the top level)
    key: str
    reason: str
    line: int | None = None

    @property
    def dotted(self) -> str:
        return f"{self.path}.{self.key}" if self.path else self.key


@dataclass(frozen=True)
class ConfigProblem:
    """Something in the config that is wrong and was not applied."""

    file: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "<config>")
        return f"{where}: {self.message}"


# ---------------------------------------------------------------------------------------------------
# The model. Keys are camelCase in the file (as OpenClaw writes them); fields are snake_case here.


def _str_list(value: object) -> object:
    """A list of strings, also from a comma-separated string or a list holding numbers (Telegram ids)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value]
    return value


StrList = Annotated[list[str], BeforeValidator(_str_list)]


class _Section(BaseModel):
    """A part of the file: camelCase keys, unknown keys kept (and reported as ignored)."""

    model_config = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)


class SkillEntry(_Section):
    """`skills.entries.<skillKey>`: switch a skill on or off and give it secrets and settings."""

    enabled: bool = True
    api_key: SecretStr | None = None  # becomes the skill's primaryEnv variable
    env: dict[str, SecretStr] = Field(default_factory=dict)  # applied only when not already set
    config: dict[str, Any] = Field(default_factory=dict)


class SkillsLoad(_Section):
    extra_dirs: StrList = Field(default_factory=list)
    watch: bool = True
    watch_debounce_ms: int = Field(default=250, ge=0)


class SkillsConfig(_Section):
    entries: dict[str, SkillEntry] = Field(default_factory=dict)
    load: SkillsLoad = Field(default_factory=SkillsLoad)


class ExecApprovals(_Section):
    """`channels.<platform>.execApprovals`: who may approve a waiting command, and where it is asked."""

    enabled: bool = False
    approvers: StrList = Field(default_factory=list)
    target: Literal["dm", "channel", "both"] = "dm"
    # `enabled: "auto"` (OpenClaw's documented default): on when approvers are named, off otherwise.
    auto: bool = False

    @model_validator(mode="before")
    @classmethod
    def _auto(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("enabled"), str) \
                and data["enabled"].strip().lower() == "auto":
            approvers = _str_list(data.get("approvers"))
            data = {**data, "enabled": bool(approvers), "auto": True}
        return data


class SlackChannel(_Section):
    allow: bool | None = None
    enabled: bool | None = None  # OpenClaw's switch: `enabled: false` is `allow: false`
    require_mention: bool | None = None
    users: StrList = Field(default_factory=list)

    @model_validator(mode="after")
    def _enabled_false_denies(self) -> SlackChannel:
        if self.enabled is False:
            self.allow = False
        return self


class SlackConfig(_Section):
    enabled: bool = True
    # Roles of a platform user not mapped to a Hermes user in `hermes.people` (never more than this).
    role: StrList = Field(default_factory=lambda: ["viewer"])
    mode: Literal["socket", "http"] | None = None
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    allow_from: StrList = Field(default_factory=list)
    channels: dict[str, SlackChannel] = Field(default_factory=dict)
    exec_approvals: ExecApprovals | None = None

    @property
    def configured(self) -> bool:
        return self.enabled and self.bot_token is not None


class DiscordConfig(_Section):
    enabled: bool = True
    # Roles of a platform user not mapped to a Hermes user in `hermes.people` (never more than this).
    role: StrList = Field(default_factory=lambda: ["viewer"])
    token: SecretStr | None = None
    application_id: str | None = None
    public_key: str | None = None  # verifies signed interactions
    allow_from: StrList = Field(default_factory=list)
    guilds: dict[str, Any] = Field(default_factory=dict)
    exec_approvals: ExecApprovals | None = None

    @field_validator("application_id", mode="before")
    @classmethod
    def _id_as_str(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @property
    def configured(self) -> bool:
        return self.enabled and self.token is not None


class TelegramConfig(_Section):
    enabled: bool = True
    # Roles of a platform user not mapped to a Hermes user in `hermes.people` (never more than this).
    role: StrList = Field(default_factory=lambda: ["viewer"])
    bot_token: SecretStr | None = None
    token_file: str | None = None  # read at load time into bot_token
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    allow_from: StrList = Field(default_factory=list)
    exec_approvals: ExecApprovals | None = None

    @property
    def configured(self) -> bool:
        return self.enabled and self.bot_token is not None


class ChannelsConfig(_Section):
    slack: SlackConfig | None = None
    discord: DiscordConfig | None = None
    telegram: TelegramConfig | None = None

    def configured(self) -> dict[str, bool]:
        """Each channel the file mentions (or an environment token enables): has it a token?"""
        out: dict[str, bool] = {}
        for name in ("slack", "discord", "telegram"):
            channel = getattr(self, name)
            if channel is not None:
                out[name] = channel.configured
        return out


class DockerSandbox(_Section):
    image: str | None = None
    network: str = "none"
    read_only_root: bool | None = None
    user: str | None = None
    cap_drop: StrList = Field(default_factory=list)
    env: dict[str, SecretStr] = Field(default_factory=dict)  # how ANKRA_API_TOKEN reaches a sandbox
    pids_limit: int | None = None
    memory: str | None = None
    cpus: float | None = None

    @field_validator("memory", "user", mode="before")
    @classmethod
    def _number_as_str(cls, value: object) -> object:
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class SandboxConfig(_Section):
    mode: Literal["off", "non-main", "all"] = "off"
    backend: Literal["docker", "podman", "ssh"] = "docker"
    docker: DockerSandbox = Field(default_factory=DockerSandbox)


def _model_name(value: object) -> object:
    # OpenClaw also writes the model as {"primary": "...", "fallbacks": [...]}.
    if isinstance(value, dict) and isinstance(value.get("primary"), str):
        return value["primary"]
    return value


class AgentDefaults(_Section):
    model: Annotated[str | None, BeforeValidator(_model_name)] = None
    skills: StrList | None = None
    workspace: str | None = None
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)


class AgentConfig(_Section):
    id: str | None = None
    name: str | None = None
    default: bool = False
    model: Annotated[str | None, BeforeValidator(_model_name)] = None
    skills: StrList | None = None
    workspace: str | None = None
    sandbox: SandboxConfig | None = None


class AgentsConfig(_Section):
    defaults: AgentDefaults = Field(default_factory=AgentDefaults)
    entries: dict[str, AgentConfig] = Field(default_factory=dict)


class GatewayAuth(_Section):
    mode: Literal["token", "password", "none"] = "token"
    token: SecretStr | None = None


class GatewayConfig(_Section):
    port: int = Field(default=8789, ge=0, le=65535)  # the guide's chart port (OpenClaw's own: 18789)
    bind: str | None = None
    auth: GatewayAuth = Field(default_factory=GatewayAuth)


class HermesSection(_Section):
    """Hermes's own block: `hermes.{defaultProfile, clusterProfiles, approvers}`."""

    default_profile: str | None = None
    cluster_profiles: dict[str, str] = Field(default_factory=dict)
    approvers: StrList | None = None
    # Chat-platform identities of Hermes users: {"slack:U0ALICE": "alice", "telegram:12345": "bob"}.
    people: dict[str, str] = Field(default_factory=dict)


class FlatChartValues(_Section):
    """The guide's Helm-values names in a top-level `config` block; mapped into the nested keys."""

    model: str | None = None
    port: int | None = None
    log_level: str | None = None
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    discord_token: SecretStr | None = None
    telegram_token: SecretStr | None = None


# ---------------------------------------------------------------------------------------------------
# Why a key is ignored.

# Top-level OpenClaw keys that configure parts of OpenClaw Hermes does not have.
_OPENCLAW_ONLY = {
    "models", "auth", "messages", "session", "tools", "browser", "ui", "logging", "hooks", "cron",
    "plugins", "commands", "wizard", "meta", "env", "diagnostics", "talk", "update", "bindings",
    "broadcast", "audio", "web", "discovery", "canvasHost", "nodeHost", "approvals", "memory", "media",
    "secrets", "$schema",
}
_SUPPORTED_CHANNELS = ("slack", "discord", "telegram")

# Channel tokens, in the order they are looked for: nested key, then flat chart name, then environment.
_CHANNEL_TOKENS: tuple[tuple[str, str, str, str], ...] = (
    ("slack", "botToken", "slackBotToken", "SLACK_BOT_TOKEN"),
    ("slack", "appToken", "slackAppToken", "SLACK_APP_TOKEN"),
    ("discord", "token", "discordToken", "DISCORD_BOT_TOKEN"),
    ("telegram", "botToken", "telegramToken", "TELEGRAM_BOT_TOKEN"),
)

_SECRET_KEY = re.compile(r"(token|secret|password|passwd|api[_-]?key|apikey|credential|private)", re.IGNORECASE)
_VAR_REF = re.compile(r"\$\$\{|\$\{([A-Z_][A-Z0-9_]*)\}")


# ---------------------------------------------------------------------------------------------------
# The result.


@dataclass
class LoadedConfig:
    """The configuration as loaded, with what was used, what was ignored and what was wrong."""

    path: Path | None = None
    profiles: dict[str, Profile] = field(default_factory=lambda: {"default": DEFAULT_PROFILE})
    default_profile: str = "default"
    cluster_profiles: dict[str, str] = field(default_factory=dict)
    approvers: list[str] | None = None
    people: dict[str, str] = field(default_factory=dict)
    skills: SkillsConfig = field(default_factory=SkillsConfig)
    channels: ChannelsConfig = field(default_factory=ChannelsConfig)
    agents: AgentsConfig = field(default_factory=AgentsConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None  # an OpenAI-compatible server (vLLM, Ollama, LiteLLM …)
    loaded: list[str] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    errors: list[ConfigProblem] = field(default_factory=list)
    warnings: list[ConfigProblem] = field(default_factory=list)
    # The effective document (after secrets, flat names and environment fallbacks), secrets as
    # SecretStr: what `requires.config` paths of skills are checked against.
    data: dict[str, Any] = field(default_factory=dict)
    _reference_secrets: list[str] = field(default_factory=list, repr=False)

    # -- profiles ------------------------------------------------------------------------------------

    def profile(self, name: str | None = None) -> Profile:
        """A profile by name (the default profile when `name` is None). KeyError names the known ones."""
        key = name or self.default_profile
        try:
            return self.profiles[key]
        except KeyError:
            known = ", ".join(sorted(self.profiles))
            raise KeyError(f"no profile {key!r} (known: {known})") from None

    def effective_profile(self, name: str | None, cluster: str | None) -> Profile:
        """The profile a request runs under: the requested one, made at least as strict as the
        minimum profile its cluster is pinned to in `hermes.clusterProfiles`."""
        chosen = self.profile(name)
        pinned = self.cluster_profiles.get(cluster) if cluster else None
        if pinned and pinned in self.profiles:
            return stricter(self.profiles[pinned], chosen)
        return chosen

    # -- secrets and environment ----------------------------------------------------------------------

    def secret_values(self) -> list[str]:
        """Every secret value the config holds, so redaction can remove them everywhere."""
        values: list[str] = list(self._reference_secrets)
        for section in (self.skills, self.channels, self.agents, self.gateway):
            values.extend(_secrets_in(section))
        for key in (self.anthropic_api_key, self.openai_api_key):
            if key is not None:
                values.append(key.get_secret_value())
        return sorted({v for v in values if v})

    def agent_sandbox_env(self) -> dict[str, str]:
        """`agents.defaults.sandbox.docker.env`, resolved: the variables a sandboxed run gets."""
        return {k: v.get_secret_value() for k, v in self.agents.defaults.sandbox.docker.env.items()}

    def skill_env(self, key: str, environ: Mapping[str, str] | None = None,
                  primary_env: str | None = None) -> dict[str, str]:
        """The variables `skills.entries.<key>` adds to `environ`: its `env` values and its `apiKey`
        (as `primary_env`), each only when `environ` does not already set it."""
        environ = os.environ if environ is None else environ
        entry = self.skills.entries.get(key)
        if entry is None:
            return {}
        added: dict[str, str] = {}
        for name, value in entry.env.items():
            if not environ.get(name):
                added[name] = value.get_secret_value()
        if primary_env and entry.api_key is not None and not environ.get(primary_env):
            added.setdefault(primary_env, entry.api_key.get_secret_value())
        return added

    def config_value(self, dotted: str) -> Any:
        """The value at a dotted path such as `channels.slack.botToken`, or None."""
        node: Any = self.data
        for part in dotted.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                return None
        return node

    def config_path_truthy(self, dotted: str) -> bool:
        """Is the value at `dotted` set and truthy (a secret counts when it is non-empty)?"""
        value = self.config_value(dotted)
        if isinstance(value, SecretStr):
            return bool(value.get_secret_value())
        return bool(value)

    # -- the report -------------------------------------------------------------------------------------

    def report(self) -> str:
        """What `hermes config check` prints. Never contains a secret value."""
        lines: list[str] = []
        lines.append(f"Config file: {self.path}" if self.path else "Config file: none found (defaults)")
        if self.loaded:
            lines.append("Loaded:")
            lines += [f"  {line}" for line in self.loaded]
        lines.append(f"Profiles (default: {self.default_profile}):")
        for name, prof in sorted(self.profiles.items()):
            g = prof.guardrails
            extra = []
            if g.require_confirmation:
                extra.append("confirm " + ", ".join(g.require_confirmation))
            if g.require_architecture_draft:
                extra.append("architecture draft")
            if g.require_bill_of_materials:
                extra.append("bill of materials")
            if prof.two_person:
                extra.append("two-person approval")
            suffix = f" ({'; '.join(extra)})" if extra else ""
            lines.append(f"  {name}: {prof.autonomy.value}, model {prof.model}, "
                         f"skills {', '.join(prof.skills) or '-'}{suffix}")
        if self.cluster_profiles:
            lines.append("Cluster minimum profiles:")
            lines += [f"  {c} -> {p}" for c, p in sorted(self.cluster_profiles.items())]
        lines.append("Skill entries:")
        if not self.skills.entries:
            lines.append("  (none)")
        for key, entry in sorted(self.skills.entries.items()):
            state = "enabled" if entry.enabled else "disabled"
            parts = [state, f"apiKey {'set' if entry.api_key else 'unset'}"]
            if entry.env:
                parts.append("env " + ", ".join(f"{k}=set" for k in sorted(entry.env)))
            if entry.config:
                parts.append("config " + ", ".join(sorted(entry.config)))
            lines.append(f"  {key}: {'; '.join(parts)}")
        if self.skills.load.extra_dirs:
            lines.append("  extra skill dirs: " + ", ".join(self.skills.load.extra_dirs))
        lines.append("Channels:")
        configured = self.channels.configured()
        if not configured:
            lines.append("  (none)")
        for name in configured:
            lines.append(f"  {name}: " + _channel_summary(getattr(self.channels, name)))
        sandbox = self.agents.defaults.sandbox
        env_names = ", ".join(f"{k}=set" for k in sorted(sandbox.docker.env)) or "-"
        lines.append(f"Sandbox: mode {sandbox.mode}, backend {sandbox.backend}, "
                     f"network {sandbox.docker.network}, env {env_names}")
        if self.agents.entries:
            lines.append("Agents: " + ", ".join(sorted(self.agents.entries)))
        auth = self.gateway.auth
        lines.append(f"Gateway: port {self.gateway.port}, bind {self.gateway.bind or 'default'}, "
                     f"auth {auth.mode} (token {'set' if auth.token else 'unset'})")
        if self.ignored:
            lines.append("Ignored:")
            for item in self.ignored:
                at = f" (line {item.line})" if item.line else ""
                lines.append(f"  {item.dotted}{at}: {item.reason}")
        if self.warnings:
            lines.append("Warnings:")
            lines += [f"  {w}" for w in self.warnings]
        if self.errors:
            lines.append("Errors:")
            lines += [f"  {e}" for e in self.errors]
        else:
            lines.append("No errors.")
        return "\n".join(lines) + "\n"


def _channel_summary(channel: SlackConfig | DiscordConfig | TelegramConfig) -> str:
    parts: list[str] = []
    if not channel.enabled:
        parts.append("disabled")
    for name, value in channel:
        if isinstance(value, SecretStr) or (value is None and name in _secret_field_names(channel)):
            parts.append(f"{to_camel(name)} {'set' if value else 'unset'}")
    if getattr(channel, "allow_from", None):
        parts.append(f"allowFrom {len(channel.allow_from)} entr{'y' if len(channel.allow_from) == 1 else 'ies'}")
    if isinstance(channel, SlackConfig) and channel.channels:
        parts.append(f"{len(channel.channels)} channel rule(s)")
    if channel.exec_approvals is not None and channel.exec_approvals.enabled:
        parts.append(f"execApprovals to {channel.exec_approvals.target}")
    return ", ".join(parts)


def _secret_field_names(model: BaseModel) -> set[str]:
    return {n for n, f in type(model).model_fields.items() if "SecretStr" in str(f.annotation)}


def _secrets_in(node: Any) -> Iterator[str]:
    """Every SecretStr value held anywhere in a model tree."""
    if isinstance(node, SecretStr):
        yield node.get_secret_value()
    elif isinstance(node, BaseModel):
        for _, value in node:
            yield from _secrets_in(value)
        for value in (node.model_extra or {}).values():
            yield from _secrets_in(value)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _secrets_in(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _secrets_in(value)


# ---------------------------------------------------------------------------------------------------
# Loading.


def config_search_path(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[Path]:
    """Where the config is looked for, in order (`$HERMES_CONFIG` first when set)."""
    env = os.environ if env is None else env
    home = home or Path(env.get("HOME") or Path.home())
    paths = []
    if env.get("HERMES_CONFIG"):
        paths.append(Path(env["HERMES_CONFIG"]).expanduser())
    paths += [home / ".hermes" / "hermes.json", home / ".openclaw" / "openclaw.json"]
    return paths


DEFAULT_CONFIG_FILE = Path(__file__).parent / "default_config.json5"


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load the configuration.

    `path` wins; else `$HERMES_CONFIG`; else `~/.hermes/hermes.json`; else `~/.openclaw/openclaw.json`.
    A missing file gives the defaults. Raises ConfigError only when the file exists but cannot be read
    or is not valid JSON5 (with file:line:column and what to fix); everything else is collected in
    `errors` / `ignored` and the rest of the file still applies.
    """
    env = dict(os.environ if env is None else env)
    explicit = path is not None or bool(env.get("HERMES_CONFIG"))
    candidates = [Path(path).expanduser()] if path is not None else config_search_path(env)
    found = next((p for p in candidates if p.is_file()), None)
    if found is None and explicit:
        found = None
        missing = candidates[0]
        result = LoadedConfig()
        result.warnings.append(ConfigProblem(str(missing), None,
                                             "no such file; using the defaults (check the path or "
                                             "HERMES_CONFIG)"))
        _finish(result, {}, env, text="", file=None)
        return result
    if found is None:
        result = LoadedConfig()
        result.loaded.append("no config file found (" + ", ".join(str(p) for p in candidates)
                             + "); using the built-in defaults (the guide's production and sandbox profiles)")
        text = DEFAULT_CONFIG_FILE.read_text(encoding="utf-8")
        _finish(result, parse_json5(text, str(DEFAULT_CONFIG_FILE)), env, text=text, file=None)
        return result
    try:
        text = found.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{found}: cannot read the config file: {exc}") from exc
    document = parse_json5(text, str(found))
    result = LoadedConfig(path=found)
    result.loaded.append(f"read {found}")
    for other in candidates[candidates.index(found) + 1:]:
        if other.is_file():
            result.loaded.append(f"not read: {other} (only the first file found is used)")
    _finish(result, document, env, text=text, file=str(found))
    return result


def parse_json5(text: str, file: str) -> dict[str, Any]:
    """Parse a JSON5 document that must be an object; ConfigError with file:line:column otherwise."""
    if not text.strip():
        return {}
    try:
        document = json5.loads(text)
    except ValueError as exc:
        detail = str(exc)
        line_match = re.search(r":(\d+)\s", detail)
        col_match = re.search(r"column (\d+)", detail)
        line = int(line_match.group(1)) if line_match else None
        col = int(col_match.group(1)) if col_match else None
        detail = re.sub(r"^<string>:\d+\s*", "", detail)
        where = file + (f":{line}" if line else "") + (f":{col}" if col else "")
        snippet = ""
        if line:
            source_lines = text.splitlines()
            if 0 < line <= len(source_lines):
                caret = " " * max((col or 1) - 1, 0) + "^"
                snippet = f"\n    {source_lines[line - 1]}\n    {caret}"
        raise ConfigError(
            f"{where}: JSON5 syntax error: {detail}.{snippet}\n"
            "Fix the file at that position: usually a missing comma between two entries, an unclosed "
            "brace, bracket or quote, or an extra brace. Comments (//, /* */), trailing commas and "
            "unquoted keys are allowed."
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(f"{file}:1:1: the config must be a JSON5 object ({{ ... }}), "
                          f"not {type(document).__name__}; wrap the settings in braces.")
    return document


class _Loader:
    """One load: the text (for line numbers), the environment, and what was found."""

    def __init__(self, result: LoadedConfig, env: Mapping[str, str], text: str, file: str | None) -> None:
        self.result = result
        self.env = env
        self.text = text
        self.file = file
        self.base_dir = Path(file).parent if file else Path.cwd()
        self.providers: dict[str, Any] = {}  # secrets.providers, as written
        self.default_file_provider: Any = None  # secrets.defaults.file

    # -- line numbers -------------------------------------------------------------------------------------

    def line_of(self, path: list[str] | tuple[str, ...]) -> int | None:
        """The line where the key at `path` appears: each key is searched after the previous one."""
        if not self.text or not path:
            return None
        pos = 0
        found_at: int | None = None
        for key in path:
            pattern = re.compile(r"""(?:"|'|\b)""" + re.escape(str(key)) + r"""(?:"|'|\b)\s*:""")
            match = pattern.search(self.text, pos)
            if match is None:
                continue  # e.g. an agents.list id is a value, not a key: look for the next key
            found_at = match.start()
            pos = match.end()
        if found_at is None:
            return None
        return self.text.count("\n", 0, found_at) + 1

    def error(self, path: list[str] | tuple[str, ...], message: str) -> None:
        self.result.errors.append(ConfigProblem(self.file, self.line_of(path), message))

    def ignore(self, path: list[str] | tuple[str, ...], key: str, reason: str) -> None:
        self.result.ignored.append(Ignored(".".join(path), key, reason, self.line_of([*path, key])))

    # -- secrets ------------------------------------------------------------------------------------------

    def resolve(self, node: Any, path: list[str]) -> Any:
        """`node` with `${VAR}` strings and SecretRef objects resolved; unresolvable values removed."""
        if isinstance(node, dict):
            if _is_secret_ref(node):
                return self._secret_ref(node, path)
            out: dict[str, Any] = {}
            for key, value in node.items():
                resolved = self.resolve(value, [*path, str(key)])
                if resolved is not _UNSET:
                    out[str(key)] = resolved
            return out
        if isinstance(node, list):
            items = [self.resolve(v, [*path, str(i)]) for i, v in enumerate(node)]
            return [v for v in items if v is not _UNSET]
        if isinstance(node, str) and "${" in node:
            return self._substitute(node, path)
        return node

    def _substitute(self, value: str, path: list[str]) -> Any:
        missing: list[str] = []

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"  # an escaped literal
            name = match.group(1)
            if name in self.env:
                return self.env[name]
            missing.append(name)
            return ""

        resolved = _VAR_REF.sub(replace, value)
        dotted = ".".join(path)
        if missing:
            for name in missing:
                self.error(path, f"{dotted}: environment variable {name} is not set (the value "
                                 f"\"{value}\" needs it); the key is left unset — export {name} or "
                                 f"change the value")
            return _UNSET
        if _looks_secret(path) and resolved:
            self.result._reference_secrets.append(resolved)
        return resolved

    def _secret_ref(self, ref: dict[str, Any], path: list[str]) -> Any:
        source, ident = ref["source"], str(ref["id"])
        dotted = ".".join(path)
        if source == "env":
            value = self.env.get(ident)
            if not value:
                self.error(path, f"{dotted}: SecretRef env variable {ident} is not set; the key is "
                                 f"left unset — export {ident}")
                return _UNSET
        elif source == "file" and (ref.get("provider") or self.default_file_provider):
            value = self._file_provider_secret(ref, path)
            if value is _UNSET:
                return _UNSET
        elif source == "file":
            target = Path(ident).expanduser()
            if not target.is_absolute():
                target = self.base_dir / target
            try:
                value = target.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                self.error(path, f"{dotted}: SecretRef file {target} cannot be read ({exc.__class__.__name__}:"
                                 f" {exc.strerror if isinstance(exc, OSError) else exc}); the key is left unset")
                return _UNSET
            if not value:
                self.error(path, f"{dotted}: SecretRef file {target} is empty; the key is left unset")
                return _UNSET
        else:  # exec
            self.error(path, f"{dotted}: SecretRef source \"exec\" is refused — Hermes never runs "
                             f"commands from its configuration. Put the secret in an environment "
                             f"variable or a file and use {{\"source\": \"env\"}} or {{\"source\": \"file\"}}")
            return _UNSET
        self.result._reference_secrets.append(value)
        return value


    def _file_provider_secret(self, ref: dict[str, Any], path: list[str]) -> Any:
        """A file SecretRef through `secrets.providers.<provider>`: the provider's `path` is a JSON file
        and `id` a JSON pointer into it (mode "json", the default), or the whole file is the value
        (mode "singleValue")."""
        dotted = ".".join(path)
        name = str(ref.get("provider") or self.default_file_provider)
        provider = self.providers.get(name)
        if not isinstance(provider, dict) or not provider.get("path"):
            known = ", ".join(sorted(self.providers)) or "none"
            self.error(path, f"{dotted}: SecretRef provider {name!r} is not defined with a `path` in "
                             f"secrets.providers (defined: {known}); the key is left unset — add "
                             f"secrets.providers.{name} = {{source: \"file\", path: \"…\"}}")
            return _UNSET
        if provider.get("source", "file") != "file":
            self.error(path, f"{dotted}: SecretRef source \"file\" names provider {name!r}, whose source is "
                             f"{provider.get('source')!r}; the key is left unset — use a file provider")
            return _UNSET
        target = Path(str(provider["path"])).expanduser()
        if not target.is_absolute():
            target = self.base_dir / target
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.error(path, f"{dotted}: secrets.providers.{name}.path {target} cannot be read "
                             f"({exc.__class__.__name__}); the key is left unset")
            return _UNSET
        if provider.get("mode") == "singleValue":
            value = text.strip()
        else:
            try:
                node: Any = json5.loads(text)
            except ValueError:
                self.error(path, f"{dotted}: secrets.providers.{name}.path {target} is not JSON (mode "
                                 f"\"json\"); the key is left unset — fix the file or set mode \"singleValue\"")
                return _UNSET
            pointer = str(ref["id"])
            if pointer and not pointer.startswith("/"):
                self.error(path, f"{dotted}: SecretRef id {pointer!r} is not a JSON pointer (it must start "
                                 f"with /, e.g. \"/slack/botToken\"); the key is left unset")
                return _UNSET
            for part in pointer.split("/")[1:] if pointer else []:
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    self.error(path, f"{dotted}: SecretRef id {pointer!r} is not in {target} (provider "
                                     f"{name!r}); the key is left unset")
                    return _UNSET
            value = node if isinstance(node, str) else None
            if value is None:
                self.error(path, f"{dotted}: SecretRef id {pointer!r} in {target} is not a string; the key "
                                 f"is left unset")
                return _UNSET
        if not value:
            self.error(path, f"{dotted}: SecretRef {name!r} {ref.get('id')!r} is empty; the key is left unset")
            return _UNSET
        return value


_UNSET = object()


def _is_secret_ref(node: dict[str, Any]) -> bool:
    keys = set(node) - {"provider"}
    return keys == {"source", "id"} and node.get("source") in {"env", "file", "exec"}


def _looks_secret(path: list[str]) -> bool:
    """A value at this path is treated as a secret: a secret-sounding key, or any `env` map value."""
    if not path:
        return False
    return bool(_SECRET_KEY.search(path[-1])) or (len(path) >= 2 and path[-2] == "env")


def _finish(result: LoadedConfig, document: dict[str, Any], env: Mapping[str, str], text: str,
            file: str | None) -> None:
    """Resolve, normalise, validate and report `document` into `result`."""
    loader = _Loader(result, env, text, file)
    secrets = document.get("secrets") if isinstance(document.get("secrets"), dict) else {}
    providers = secrets.get("providers")
    loader.providers = providers if isinstance(providers, dict) else {}
    defaults = secrets.get("defaults")
    loader.default_file_provider = defaults.get("file") if isinstance(defaults, dict) else None
    # Secrets are resolved only where Hermes uses them: an ignored section (an OpenClaw-only key, a
    # channel Hermes does not have) keeps its text as written, and an unset ${VAR} there is no error.
    doc: dict[str, Any] = {}
    for key, value in document.items():
        if key == "channels" and isinstance(value, dict):
            doc[key] = {name: (loader.resolve(v, ["channels", name]) if name in _SUPPORTED_CHANNELS else v)
                        for name, v in value.items()}
            doc[key] = {k: v for k, v in doc[key].items() if v is not _UNSET}
        elif key in _USED_TOP_LEVEL:
            resolved = loader.resolve(value, [key])
            if resolved is not _UNSET:
                doc[key] = resolved
        else:
            doc[key] = value
    _apply_flat_and_env(loader, doc)
    _read_token_files(loader, doc)
    result.data = _wrap_secrets(doc, [])

    for key in doc:
        if key in {"skills", "channels", "agents", "gateway", "profiles", "hermes", "config"}:
            continue
        if key in _OPENCLAW_ONLY or config_keys.is_openclaw_key([], key):
            loader.ignore([], key, _MEANINGLESS)
        else:
            loader.ignore([], key, _unknown_reason(key, _TOP_LEVEL))

    result.skills = _section(loader, doc, "skills", SkillsConfig, entries=("entries", SkillEntry))
    result.channels = _channels(loader, doc)
    result.agents = _agents(loader, doc)
    result.gateway = _section(loader, doc, "gateway", GatewayConfig)
    _profiles(loader, doc)
    _hermes_block(loader, doc)
    result.ignored.sort(key=lambda item: (item.line is None, item.line or 0))
    result.errors.sort(key=lambda problem: (problem.line is None, problem.line or 0))

    for key, entry in result.skills.entries.items():
        result.loaded.append(f"skills.entries.{key}: {'enabled' if entry.enabled else 'disabled'}")
    for name, ok in result.channels.configured().items():
        result.loaded.append(f"channels.{name}: {'configured' if ok else 'present but no token'}")


_TOP_LEVEL = ("skills", "channels", "agents", "gateway", "profiles", "hermes", "config")
_USED_TOP_LEVEL = frozenset(_TOP_LEVEL)


_MEANINGLESS = "an OpenClaw setting with no meaning in Hermes"


def _unknown_reason(key: str, known: tuple[str, ...] | list[str], path: list[str] | None = None) -> str:
    """Why a key is ignored: valid OpenClaw with no meaning here, or not a setting of either."""
    if path is not None and config_keys.is_openclaw_key(path, key):
        return _MEANINGLESS
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"not a setting Hermes knows{hint}"


def _apply_flat_and_env(loader: _Loader, doc: dict[str, Any]) -> None:
    """Map the guide's flat chart names (`config.slackBotToken`, …) and the channel token variables
    (`SLACK_BOT_TOKEN`, …) into the nested keys, when the nested key is not set."""
    flat_raw = doc.get("config")
    flat = FlatChartValues()
    if isinstance(flat_raw, dict):
        flat = _validate(loader, ["config"], FlatChartValues, flat_raw) or FlatChartValues()
        _report_extra(loader, flat, ["config"])
    elif flat_raw is not None:
        loader.error(["config"], "config: must be an object of the chart's values")
    flat_values = flat_raw if isinstance(flat_raw, dict) else {}
    channels = doc.get("channels")
    if channels is not None and not isinstance(channels, dict):
        return  # reported when the channels are validated
    for channel, nested_key, flat_key, env_name in _CHANNEL_TOKENS:
        section = (channels or {}).get(channel)
        if section is not None and not isinstance(section, dict):
            continue
        if section is not None and section.get(nested_key):
            if flat_values.get(flat_key):
                loader.ignore(["config"], flat_key,
                              f"channels.{channel}.{nested_key} is also set; the nested key wins")
            continue
        value = flat_values.get(flat_key)
        origin = f"config.{flat_key}"
        if not value and loader.env.get(env_name):
            value, origin = loader.env[env_name], f"environment {env_name}"
        if not value:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        channels = doc.setdefault("channels", {}) if channels is None else channels
        channels.setdefault(channel, {})[nested_key] = value
        loader.result.loaded.append(f"channels.{channel}.{nested_key} from {origin}")
    gateway = doc.get("gateway")
    if loader.env.get("OPENCLAW_GATEWAY_TOKEN") and (gateway is None or isinstance(gateway, dict)):
        auth = doc.setdefault("gateway", {}).setdefault("auth", {})
        if isinstance(auth, dict) and not auth.get("token"):
            auth["token"] = loader.env["OPENCLAW_GATEWAY_TOKEN"]
            loader.result.loaded.append("gateway.auth.token from environment OPENCLAW_GATEWAY_TOKEN")
    if flat.anthropic_api_key is not None and flat.anthropic_api_key.get_secret_value():
        loader.result.anthropic_api_key = flat.anthropic_api_key
        loader.result.loaded.append("config.anthropicApiKey (set)")
    if flat.openai_api_key is not None and flat.openai_api_key.get_secret_value():
        loader.result.openai_api_key = flat.openai_api_key
        loader.result.loaded.append("config.openaiApiKey (set)")
    if flat.openai_base_url:
        loader.result.openai_base_url = flat.openai_base_url
        loader.result.loaded.append(f"config.openaiBaseUrl = {flat.openai_base_url}")
    if flat.model:
        defaults = doc.setdefault("agents", {}).setdefault("defaults", {}) if isinstance(
            doc.get("agents", {}), dict) else None
        if isinstance(defaults, dict) and not defaults.get("model"):
            defaults["model"] = flat.model
            loader.result.loaded.append("agents.defaults.model from config.model")
    if flat.port is not None:
        gateway = doc.get("gateway")
        if gateway is None or (isinstance(gateway, dict) and "port" not in gateway):
            doc.setdefault("gateway", {})["port"] = flat.port
            loader.result.loaded.append("gateway.port from config.port")
    if flat.log_level is not None:
        loader.ignore(["config"], "logLevel", "Hermes's log level is HERMES_LOG_LEVEL")


def _read_token_files(loader: _Loader, doc: dict[str, Any]) -> None:
    """`channels.telegram.tokenFile`: the bot token is the file's content (when botToken is not set)."""
    telegram = (doc.get("channels") or {}).get("telegram") if isinstance(doc.get("channels"), dict) else None
    if not isinstance(telegram, dict) or not telegram.get("tokenFile") or telegram.get("botToken"):
        return
    target = Path(str(telegram["tokenFile"])).expanduser()
    if not target.is_absolute():
        target = loader.base_dir / target
    try:
        token = target.read_text(encoding="utf-8").strip()
    except OSError as exc:
        loader.error(["channels", "telegram", "tokenFile"],
                     f"channels.telegram.tokenFile: cannot read {target} ({exc.strerror}); Telegram has no token")
        return
    telegram["botToken"] = token
    loader.result.loaded.append(f"channels.telegram.botToken from tokenFile {target}")


def _wrap_secrets(node: Any, path: list[str]) -> Any:
    """The document with secret-looking values as SecretStr (what `config_value` returns)."""
    if isinstance(node, dict):
        return {k: _wrap_secrets(v, [*path, k]) for k, v in node.items()}
    if isinstance(node, list):
        return [_wrap_secrets(v, path) for v in node]
    if isinstance(node, str) and _looks_secret(path):
        return SecretStr(node)
    return node


def _validate(loader: _Loader, path: list[str], model: type[BaseModel], data: Any) -> Any:
    """`model` validated from `data`, or None with every problem reported at its key's line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            where = [*path, *loc]
            shown = err.get("input")
            value = "" if _looks_secret(where) or isinstance(shown, dict | list) else f" (got {shown!r})"
            loader.error(where, f"{'.'.join(where)}: {err['msg']}{value}; this part of the config is "
                                f"not applied")
        return None


def _validate_keeping_the_rest(loader: _Loader, path: list[str], model: type[BaseModel], data: Any) -> Any:
    """`model` from `data`; a value that does not fit is reported and left out, and the rest still
    applies (one bad value never takes a whole channel with it)."""
    if not isinstance(data, dict):
        return _validate(loader, path, model, data)
    current: Any = _deep_copy(data)
    for _ in range(50):
        try:
            return model.model_validate(current)
        except ValidationError as exc:
            removed = False
            for err in exc.errors():
                loc = [str(p) for p in err["loc"]]
                where = [*path, *loc]
                shown = err.get("input")
                value = "" if _looks_secret(where) or isinstance(shown, dict | list) else f" (got {shown!r})"
                loader.error(where, f"{'.'.join(where)}: {err['msg']}{value}; this value is not applied "
                                    f"(the rest of {'.'.join(path)} is)")
                removed = _drop(current, list(err["loc"])) or removed
            if not removed:
                return None
    return None


def _deep_copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _deep_copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_deep_copy(v) for v in node]
    return node


def _drop(node: Any, loc: list[Any]) -> bool:
    """Remove the value at `loc` (the deepest key that exists on the way)."""
    parents: list[tuple[Any, Any]] = []
    for part in loc:
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            parents.append((node, part))
            node = node[part]
        else:
            break
    if not parents:
        return False
    holder, key = parents[-1]
    del holder[key]
    return True


def _report_extra(loader: _Loader, node: Any, path: list[str]) -> None:
    """Report every key a model kept as extra (unknown), recursively."""
    if isinstance(node, BaseModel):
        known = [f.alias or n for n, f in type(node).model_fields.items()]
        for key in node.model_extra or {}:
            if config_keys.is_gateway_key(path, key):
                continue  # read by the gateway from the channel's extra settings
            loader.ignore(path, key, _unknown_reason(key, known, path))
        for name, f in type(node).model_fields.items():
            _report_extra(loader, getattr(node, name), [*path, f.alias or name])
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, BaseModel):
                _report_extra(loader, value, [*path, str(key)])


def _section(loader: _Loader, doc: dict[str, Any], key: str, model: type[BaseModel],
             entries: tuple[str, type[BaseModel]] | None = None) -> Any:
    """A top-level section. With `entries` (field name, entry model), each entry is validated on its
    own, and when the rest is invalid each of its fields is, so one bad value takes nothing else with it."""
    raw = doc.get(key)
    if raw is None:
        return model()
    if not isinstance(raw, dict):
        loader.error([key], f"{key}: must be an object, not {type(raw).__name__}; the defaults apply")
        return model()
    good_entries: dict[str, Any] = {}
    rest = dict(raw)
    if entries and isinstance(raw.get(entries[0]), dict):
        entries_key, entry_model = entries
        for name, value in rest.pop(entries_key).items():
            entry = _validate(loader, [key, entries_key, name], entry_model, value)
            if entry is not None:
                good_entries[name] = entry
    section = _validate(loader, [key], model, rest)
    if section is None:
        kept: dict[str, Any] = {}
        for name, value in rest.items():
            try:
                model.model_validate({name: value})
            except ValidationError:
                continue
            kept[name] = value
        section = model.model_validate(kept)
    if entries:
        section = section.model_copy(update={entries[0]: good_entries})
    _report_extra(loader, section, [key])
    return section


def _channels(loader: _Loader, doc: dict[str, Any]) -> ChannelsConfig:
    raw = doc.get("channels")
    if raw is None:
        return ChannelsConfig()
    if not isinstance(raw, dict):
        loader.error(["channels"], "channels: must be an object; no channel is configured")
        return ChannelsConfig()
    models = {"slack": SlackConfig, "discord": DiscordConfig, "telegram": TelegramConfig}
    out = ChannelsConfig()
    for name, value in raw.items():
        if name in config_keys.NON_CHANNEL_KEYS:
            loader.ignore(["channels"], name, f"{_MEANINGLESS} (settings shared by OpenClaw's channels, "
                                              f"not a channel)")
            continue
        if name not in models:
            loader.ignore(["channels"], name, "a channel Hermes does not support (it has Slack, Discord, "
                                              "Telegram, the HTTP API and the CLI)")
            continue
        channel = _validate_keeping_the_rest(loader, ["channels", name], models[name], value)
        if channel is not None:
            _report_extra(loader, channel, ["channels", name])
            out = out.model_copy(update={name: channel})
    return out


def _agents(loader: _Loader, doc: dict[str, Any]) -> AgentsConfig:
    raw = doc.get("agents")
    if raw is None:
        return AgentsConfig()
    if not isinstance(raw, dict):
        loader.error(["agents"], "agents: must be an object; the defaults apply")
        return AgentsConfig()
    raw = dict(raw)
    listed = raw.pop("list", None)
    entries_raw = raw.pop("entries", None) or {}
    if not isinstance(entries_raw, dict):
        loader.error(["agents", "entries"], "agents.entries: must be an object keyed by agent id")
        entries_raw = {}
    entries: dict[str, AgentConfig] = {}
    for agent_id, value in entries_raw.items():
        agent = _validate(loader, ["agents", "entries", agent_id], AgentConfig, value)
        if agent is not None:
            _report_extra(loader, agent, ["agents", "entries", agent_id])
            entries[agent_id] = agent.model_copy(update={"id": agent.id or agent_id})
    if listed is not None:
        if not isinstance(listed, list):
            loader.error(["agents", "list"], "agents.list: must be an array of agents")
        else:
            loader.result.loaded.append(f"agents.list (older form): {len(listed)} agent(s) read as entries")
            for index, value in enumerate(listed):
                if not isinstance(value, dict) or not value.get("id"):
                    loader.error(["agents", "list"], f"agents.list[{index}]: an agent needs an \"id\"; skipped")
                    continue
                agent = _validate(loader, ["agents", "list"], AgentConfig, value)
                if agent is None:
                    continue
                _report_extra(loader, agent, ["agents", "list", str(value["id"])])
                if agent.id in entries:
                    loader.ignore(["agents", "list"], str(agent.id),
                                  "agents.entries has the same id; the entries object wins")
                    continue
                entries[str(agent.id)] = agent
    defaults = _validate(loader, ["agents", "defaults"], AgentDefaults, raw.pop("defaults", None) or {})
    defaults = defaults or AgentDefaults()
    _report_extra(loader, defaults, ["agents", "defaults"])
    for key in raw:
        loader.ignore(["agents"], key, _unknown_reason(key, ["defaults", "entries", "list"], ["agents"]))
    return AgentsConfig(defaults=defaults, entries=entries)


def _profiles(loader: _Loader, doc: dict[str, Any]) -> None:
    result = loader.result
    raw = doc.get("profiles")
    profiles: dict[str, Profile] = {}
    if raw is not None and not isinstance(raw, dict):
        loader.error(["profiles"], "profiles: must be an object keyed by profile name")
        raw = None
    for name, value in (raw or {}).items():
        if not isinstance(value, dict):
            loader.error(["profiles", name], f"profiles.{name}: must be an object; profile skipped")
            continue
        data = {**value, "name": name}
        profile = _validate(loader, ["profiles", name], Profile, data)
        if profile is None:
            continue  # reported; a request asking for it gets "no profile" rather than looser rules
        for key in profile.model_extra or {}:
            loader.ignore(["profiles", name], key,
                          _unknown_reason(key, list(Profile.model_fields)))
        for key in profile.guardrails.model_extra or {}:
            loader.ignore(["profiles", name, "guardrails"], key,
                          _unknown_reason(key, list(profile.guardrails.model_fields)))
        profiles[name] = profile
        result.loaded.append(f"profile {name}: {profile.autonomy.value}")
    if "default" not in profiles:
        profiles = {"default": DEFAULT_PROFILE, **profiles}
    result.profiles = profiles


def _hermes_block(loader: _Loader, doc: dict[str, Any]) -> None:
    result = loader.result
    raw = doc.get("hermes")
    block = HermesSection()
    if raw is not None:
        if not isinstance(raw, dict):
            loader.error(["hermes"], "hermes: must be an object")
        else:
            block = _validate(loader, ["hermes"], HermesSection, raw) or HermesSection()
            _report_extra(loader, block, ["hermes"])
    default = loader.env.get("HERMES_DEFAULT_PROFILE") or block.default_profile or "default"
    origin = "HERMES_DEFAULT_PROFILE" if loader.env.get("HERMES_DEFAULT_PROFILE") else "hermes.defaultProfile"
    if default not in result.profiles:
        loader.error(["hermes", "defaultProfile"],
                     f"{origin}: no profile {default!r} (known: {', '.join(sorted(result.profiles))}); "
                     f"using 'default'")
        default = "default"
    result.default_profile = default
    for cluster, profile_name in block.cluster_profiles.items():
        if profile_name not in result.profiles:
            loader.error(["hermes", "clusterProfiles", cluster],
                         f"hermes.clusterProfiles.{cluster}: no profile {profile_name!r} "
                         f"(known: {', '.join(sorted(result.profiles))}); cluster {cluster!r} is pinned to "
                         f"the strictest built-in rules instead")
            # An unknown minimum must not loosen anything: pin to read-only.
            result.profiles.setdefault("read-only", Profile(name="read-only", autonomy=Autonomy.READ_ONLY,
                                                            guardrails=DEFAULT_PROFILE.guardrails))
            result.cluster_profiles[cluster] = "read-only"
        else:
            result.cluster_profiles[cluster] = profile_name
    result.approvers = block.approvers
    result.people = dict(block.people)
