"""Profiles: a model, skills, an autonomy level and guardrails, as the guide writes them.

```json
"production": {"model": "claude-sonnet-4-20250514", "skills": ["ankra"], "autonomy": "confirm-all",
               "guardrails": {"require_confirmation": ["delete", "deprovision", "scale-down"],
                              "require_architecture_draft": true, "require_bill_of_materials": true}}
```
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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


class Profile(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = "default"
    model: str = "claude-sonnet-4-20250514"
    skills: list[str] = Field(default_factory=lambda: ["ankra"])
    autonomy: Autonomy = Autonomy.CONFIRM_DESTRUCTIVE
    guardrails: Guardrails = Field(default_factory=Guardrails)


DEFAULT_PROFILE = Profile(
    name="default",
    autonomy=Autonomy.CONFIRM_DESTRUCTIVE,
    guardrails=Guardrails(require_confirmation=["delete", "deprovision", "scale-down", "revoke"],
                          require_architecture_draft=True, require_bill_of_materials=True),
)
