"""The planner's engines behind one protocol (`hermes_planner.decisions.Engine`).

The rules engine always answers first; a model engine is asked only for what the rules do not
settle, and only when the profile's model names a provider with a key configured. A profile's model
is `provider/model` as OpenClaw writes it — `anthropic/claude-sonnet-4-6`, `openai/gpt-6.1-terra` —
and a bare model id means Anthropic. `openai/…` also reaches OpenAI-compatible servers (vLLM, Ollama,
LiteLLM) through `openai_base_url`.

At start-up the app calls `Engines.check(config.profiles)`: every configured model is looked up in its
provider's models API, and what fails is logged with the model id and what to use instead. A model
that cannot work (unknown or retired, key refused, provider Hermes has no engine for) then answers
each request with that message instead of calling the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hermes.contracts import ExecutionResult
from hermes.profiles import DEFAULT_MODELS, qualified_model, split_model
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.skills import SkillSet
from hermes_planner import decisions
from hermes_planner.decisions import Engine
from hermes_planner.engines.failures import ModelCheck
from hermes_planner.engines.rules import RulesEngine

_LABEL = {"anthropic": "Anthropic", "openai": "OpenAI"}
_KEY_WHERE = {
    "anthropic": "ANTHROPIC_API_KEY (or HERMES_ANTHROPIC_API_KEY_FILE, or config.anthropicApiKey)",
    "openai": "OPENAI_API_KEY (or HERMES_OPENAI_API_KEY_FILE), or HERMES_OPENAI_BASE_URL for an "
              "OpenAI-compatible server",
}


@dataclass(frozen=True)
class Provider:
    """Where the models of one `provider/…` prefix are served, and with which key."""

    kind: Literal["anthropic", "openai"]
    api_key: str = ""
    base_url: str | None = None


def providers_from(settings: Settings) -> dict[str, Provider]:
    """The providers the settings configure: Anthropic with a key; OpenAI with a key or a compatible
    server's base URL (which may need no key)."""
    out: dict[str, Provider] = {}
    anthropic_key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else ""
    if anthropic_key:
        out["anthropic"] = Provider("anthropic", anthropic_key, settings.anthropic_base_url)
    openai_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    if openai_key or settings.openai_base_url:
        out["openai"] = Provider("openai", openai_key, settings.openai_base_url)
    return out


class UnavailableEngine:
    """A model the start-up check found unusable: every request gets the check's message."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem

    async def next(self, text: str, context: decisions.Context) -> decisions.Decision:
        return decisions.Answer(f"Nothing was run. {self.problem}", kind="error")

    async def resume(self, then: decisions.Continuation, result: ExecutionResult,
                     context: decisions.Context) -> decisions.Decision:
        return decisions.Answer(f"Hermes stops here. {self.problem}", kind="error")

    async def close(self) -> None:
        return None


class Engines:
    """The rules engine, and the model engines made on first use, one per `provider/model` id."""

    def __init__(self, settings: Settings, skills: SkillSet, profiles: list[str], runtime: ServiceRuntime,
                 providers: Mapping[str, Provider] | None = None) -> None:
        self._settings = settings
        self._skills = skills
        self._profiles = profiles
        self._rt = runtime
        self._providers = dict(providers) if providers is not None else providers_from(settings)
        self.rules = RulesEngine()
        self._models: dict[str, Engine] = {}
        self._unusable: dict[str, str] = {}
        self.checks: list[ModelCheck] = []

    @classmethod
    def rules_only(cls, runtime: ServiceRuntime) -> Engines:
        """No model engines: the rules engine answers alone."""
        return cls(runtime.settings, SkillSet([]), [], runtime, providers={})

    @property
    def available(self) -> bool:
        """Whether any model engine can be made (a provider is configured)."""
        return bool(self._providers)

    def model(self, model: str) -> Engine | None:
        """The engine for a profile's model; None when no key for its provider is configured (the rules
        engine then answers alone)."""
        name = qualified_model(model)
        if name in self._models:
            return self._models[name]
        if name in self._unusable:
            return UnavailableEngine(name, self._unusable[name])
        provider_id, model_id = split_model(name)
        provider = self._providers.get(provider_id)
        if provider is None or not model_id:
            return None
        options: dict[str, Any] = {
            "base_url": provider.base_url, "skill_body": "\n\n".join(s.body for s in self._skills.loaded()),
            "allowed_commands": self._skills.allowed_commands(), "redactor": self._rt.redactor,
            "max_steps": self._settings.llm_max_steps, "backoff_base": self._settings.llm_backoff_seconds,
            "profiles": self._profiles, "log": self._rt.log}
        engine: Engine
        if provider.kind == "openai":
            from hermes_planner.engines.openai import OpenAIEngine

            engine = OpenAIEngine(provider.api_key, model_id, **options)
        else:
            from hermes_planner.engines.anthropic import AnthropicEngine

            engine = AnthropicEngine(provider.api_key, model_id, **options)
        engine.name = name  # the provider prefix of the profile, e.g. a second OpenAI-compatible provider
        self._models[name] = engine
        return engine

    def by_name(self, name: str) -> Engine | None:
        """The engine a continuation names (`rules` or `provider/model`)."""
        return self.rules if name == "rules" else self.model(name)

    async def check(self, profiles: Mapping[str, Any] | Iterable[str]) -> list[ModelCheck]:
        """Check every model the profiles name (a mapping of profiles with `.model`, or model ids) against
        its provider's models API. Each problem is logged with the model id, the profiles that use it,
        and what to use instead; a model that cannot work answers requests with the same message.
        Without any model key configured there is nothing to check (the rules engine answers alone)."""
        users: dict[str, list[str]] = {}
        if isinstance(profiles, Mapping):
            for profile_name, profile in profiles.items():
                users.setdefault(qualified_model(getattr(profile, "model", profile)), []).append(profile_name)
        else:
            for model in profiles:
                users.setdefault(qualified_model(model), [])
        if not self._providers:
            self._rt.log.info("no model key configured: the rules engine answers alone", models=sorted(users))
            self.checks = []
            return []
        checks = await asyncio.gather(*(self._check_one(name, tuple(sorted(p))) for name, p in users.items()))
        self.checks = list(checks)
        return self.checks

    async def _check_one(self, name: str, profiles: tuple[str, ...]) -> ModelCheck:
        provider_id, _ = split_model(name)
        used_by = f"profile{'s' if len(profiles) > 1 else ''} {', '.join(profiles)}" if profiles else "a profile"
        subject = used_by[:1].upper() + used_by[1:]
        if provider_id not in self._providers and provider_id not in DEFAULT_MODELS:
            result = ModelCheck(name, False, (
                f"{subject} names model {name!r}, but Hermes has no engine for provider {provider_id!r}. Use "
                f"anthropic/{DEFAULT_MODELS['anthropic']} or openai/{DEFAULT_MODELS['openai']}; an "
                "OpenAI-compatible server is `openai/<model>` with HERMES_OPENAI_BASE_URL."), fatal=True,
                profiles=profiles)
        elif provider_id not in self._providers:
            others = ", ".join(f"{p}/{DEFAULT_MODELS.get(p, '…')}" for p in sorted(self._providers))
            result = ModelCheck(name, False, (
                f"{subject} uses model {name!r}, but no {_LABEL.get(provider_id, provider_id)} key is configured "
                f"({_KEY_WHERE.get(provider_id, 'its key')}): under it the rules engine answers alone. Set "
                f"the key, or set the profile's model to one of the configured providers' ({others})."),
                profiles=profiles)
        else:
            engine = self.model(name)
            if engine is None or not hasattr(engine, "check"):
                return ModelCheck(name, True, profiles=profiles)
            found: ModelCheck = await engine.check()  # type: ignore[attr-defined]
            result = ModelCheck(name, found.ok, f"{found.problem} (Used by {used_by}.)" if found.problem else "",
                                fatal=found.fatal, profiles=profiles)
        if result.ok:
            self._rt.log.info("model checked", model=name, profiles=list(profiles))
        elif result.fatal:
            self._unusable[name] = result.problem
            stale = self._models.pop(name, None)
            if stale is not None:
                await stale.close()
            self._rt.log.error("model unusable", model=name, profiles=list(profiles), problem=result.problem)
        else:
            self._rt.log.warning("model not checked", model=name, profiles=list(profiles), problem=result.problem)
        return result

    async def close(self) -> None:
        for engine in self._models.values():
            await engine.close()
