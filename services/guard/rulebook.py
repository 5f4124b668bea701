"""What the guard decides with: the profiles of the config and the enabled skills' command catalog.

Skills are re-read when a SKILL.md changes (checked at each decision), so an edited skill applies
from the next request on.
"""

from __future__ import annotations

import os
from pathlib import Path

from hermes.config import LoadedConfig, load_config
from hermes.profiles import Profile
from hermes.skills import SkillSet, SkillWatcher, default_roots


class Rulebook:
    def __init__(self, config: LoadedConfig, workspace: Path | None = None, home: Path | None = None) -> None:
        self.config = config
        roots = default_roots(workspace, home or Path(os.path.expanduser("~")), config)
        self._watcher = SkillWatcher(roots, config=config)
        self.skills: SkillSet = self._watcher.reload()

    @classmethod
    def load(cls) -> Rulebook:
        workspace = os.environ.get("HERMES_WORKSPACE")
        return cls(load_config(), Path(workspace) if workspace else None)

    def refresh(self) -> None:
        """Re-read the skills if a SKILL.md changed since the last look."""
        if self._watcher.changed():
            self.skills = self._watcher.reload()

    @property
    def profile_names(self) -> list[str]:
        return sorted(self.config.profiles)

    def has_profile(self, name: str) -> bool:
        return name in self.config.profiles

    def effective(self, active: str | None, cluster: str | None) -> Profile:
        """The profile a request runs under: the active one, at least as strict as the cluster's pinned
        minimum, with the enabled skills' guardrails on top (they only ever make it stricter)."""
        return self.skills.apply(self.config.effective_profile(active, cluster))

    def allowed_commands(self, profile: Profile) -> set[str]:
        return self.skills.allowed_commands(profile)

    def secret_values(self) -> list[str]:
        return self.config.secret_values() + self.skills.secret_values()
