"""Profiles: a model, skills, an autonomy level and guardrails, as the guide writes them.

```json
"production": {"model": "anthropic/claude-sonnet-4-6", "skills": ["ankra"], "autonomy": "confirm-all",
               "guardrails": {"require_confirmation": ["delete", "deprovision", "scale-down"],
                              "require_architecture_draft": true, "require_bill_of_materials": true}}
```

A profile's model is written as OpenClaw writes it, `provider/model` (`anthropic/claude-sonnet-4-6`,
`openai/gpt-6.1-terra`); a bare model id means an Anthropic model.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

# -- the default models: the one place that names them -----------------------------------------------
#
# Anthropic: Claude Sonnet 4.6, the newest Sonnet. Its Claude API ID and alias are both `claude-sonnet-4-6`
# in the "Latest models comparison" table of Anthropic's models overview
# (https://platform.claude.com/docs/en/about-claude/models/overview, read 2026-12-01). It is also
# Anthropic's recommended replacement for Claude Sonnet 4 (`claude-sonnet-4-20250514`), which was
# retired on 2026-06-15 (https://platform.claude.com/docs/en/about-claude/model-deprecations).
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6"
# OpenAI: GPT-6.1 Terra, OpenAI's balanced everyday model, served by Chat Completions with function
# calling (https://developers.openai.com/api/docs/models/gpt-6.1-terra, available since 2026-10-26;
# `gpt-6.1-terra` is in the pinned `openai` SDK's ChatModel list, with no shutdown date announced).
DEFAULT_OPENAI_MODEL = "gpt-6.1-terra"
# The model of every profile that names none.
DEFAULT_MODEL = f"anthropic/{DEFAULT_ANTHROPIC_MODEL}"
# Providers Hermes has an engine for, and each one's default model.
DEFAULT_MODELS: dict[str, str] = {"anthropic": DEFAULT_ANTHROPIC_MODEL, "openai": DEFAULT_OPENAI_MODEL}

_OPENAI_SHAPED = ("gpt-", "chatgpt-", "o1", "o3", "o4", "codex-")


def split_model(model: str) -> tuple[str, str]:
    """`(provider, model id)` of a profile's model: `anthropic/claude-sonnet-4-6` → ("anthropic",
    "claude-sonnet-4-6"); a bare id is Anthropic's. Only the first `/` splits, so a router's ids
    (`openrouter/anthropic/claude-…`) keep theirs."""
    text = model.strip()
    provider, slash, model_id = text.partition("/")
    if not slash:
        return "anthropic", text
    return provider.strip().lower(), model_id.strip()


def qualified_model(model: str) -> str:
    """The model as `provider/model` (a bare id becomes `anthropic/<id>`)."""
    provider, model_id = split_model(model)
    return f"{provider}/{model_id}"


def model_hint(model: str) -> str:
    """A hint for a model id written without its provider that looks like another provider's."""
    provider, model_id = split_model(model)
    if "/" not in model.strip() and provider == "anthropic" and model_id.lower().startswith(_OPENAI_SHAPED):
        return f" A model id without a provider means Anthropic; for OpenAI write `openai/{model_id}`."
    return ""


class Autonomy(StrEnum):
    READ_ONLY = "read-only"  # only reads run; everything else is refused
    CONFIRM_ALL = "confirm-all"  # every change waits for approval
    CONFIRM_DESTRUCTIVE = "confirm-destructive"  # destructive, scale and provision wait (default)
    AUTO = "auto"  # only the guardrails' require_confirmation items wait


class Guardrails(BaseModel):
    model_config = ConfigDict(extra="allow")

    require_confirmation: list[str] = Field(default_factory=list)
    require_architecture_draft: bool = False
    require_bill_of_materials: bool = False
    # Rules a skill's `## Guardrails` section can add (see hermes.skills); a profile may set them too.
    # Before a scale step: show the current count and wait for confirmation (in either direction).
    show_current_count_before_scale: bool = False
    withhold_secrets: bool = False  # never echo tokens or credentials back in chat
    read_back_create_parameters: bool = False  # list a create's parameters back before it runs
    prefer_ankra_chat: bool = False  # troubleshooting questions go to `ankra chat` first

    @field_validator("require_confirmation", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class Profile(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = "default"
    model: str = DEFAULT_MODEL  # `provider/model`; a bare id is Anthropic's
    skills: list[str] = Field(default_factory=lambda: ["ankra"])
    autonomy: Autonomy = Autonomy.CONFIRM_DESTRUCTIVE
    guardrails: Guardrails = Field(default_factory=Guardrails)
    # Who may approve under this profile; None: the config's `hermes.approvers` (or anyone allowed in).
    approvers: list[str] | None = None
    two_person: bool = False  # an approval needs two distinct approvers
    # Roles that may switch a conversation to this profile when it is looser than the current one.
    switchable_by: list[str] = Field(default_factory=lambda: ["admin"])

    @field_validator("guardrails", mode="before")
    @classmethod
    def _no_guardrails(cls, value: object) -> object:
        return {} if value is None else value


DEFAULT_PROFILE = Profile(
    name="default",
    autonomy=Autonomy.CONFIRM_DESTRUCTIVE,
    guardrails=Guardrails(require_confirmation=["delete", "deprovision", "scale-down", "revoke"],
                          require_architecture_draft=True, require_bill_of_materials=True),
)


# Strictness of each autonomy level, loosest first.
_STRICTNESS: dict[Autonomy, int] = {
    Autonomy.AUTO: 0,
    Autonomy.CONFIRM_DESTRUCTIVE: 1,
    Autonomy.CONFIRM_ALL: 2,
    Autonomy.READ_ONLY: 3,
}


def profile_strictness(profile: Profile | Autonomy | str) -> int:
    """How strict a profile (or an autonomy level) is: read-only 3 > confirm-all 2 >
    confirm-destructive 1 > auto 0."""
    autonomy = profile.autonomy if isinstance(profile, Profile) else Autonomy(profile)
    return _STRICTNESS[autonomy]


def merge_guardrails(a: Guardrails, b: Guardrails) -> Guardrails:
    """Guardrails at least as strict as both: confirmation lists united, every switch on if either has it."""
    words = list(dict.fromkeys([*a.require_confirmation, *b.require_confirmation]))
    merged = {"require_confirmation": words}
    for name, field in Guardrails.model_fields.items():
        if field.annotation is bool:
            merged[name] = bool(getattr(a, name) or getattr(b, name))
    return Guardrails(**merged)


def stricter(a: Profile, b: Profile) -> Profile:
    """The profile to apply when both `a` and `b` bind a request (e.g. the conversation's profile and
    the minimum profile a cluster is pinned to).

    The result takes the stricter autonomy (and that profile's name, model and skills; `a` when equally
    strict), the union of both guardrails, two-person approval if either asks for it, and the stricter
    profile's approvers (the other's when it names none). It is never looser than either input.
    """
    first, second = (b, a) if profile_strictness(b) > profile_strictness(a) else (a, b)
    approvers = first.approvers if first.approvers is not None else second.approvers
    return first.model_copy(update={
        "guardrails": merge_guardrails(first.guardrails, second.guardrails),
        "two_person": first.two_person or second.two_person,
        "approvers": list(approvers) if approvers is not None else None,
    })


def is_looser(target: Profile, current: Profile) -> bool:
    """Whether moving from `current` to `target` loosens anything: a looser autonomy, a confirmation
    word or a guardrail switch dropped, or two-person approval given up."""
    if profile_strictness(target) != profile_strictness(current):
        return profile_strictness(target) < profile_strictness(current)
    dropped_words = set(current.guardrails.require_confirmation) - set(target.guardrails.require_confirmation)
    dropped_switches = [name for name, field in Guardrails.model_fields.items() if field.annotation is bool
                        and getattr(current.guardrails, name) and not getattr(target.guardrails, name)]
    return bool(dropped_words or dropped_switches or (current.two_person and not target.two_person))
