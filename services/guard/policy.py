"""The guard's policy: a pure function from a plan and a profile to a decision.

No I/O and no LLM. The risk of each command comes from the command catalog; the profile's
autonomy and guardrails decide whether it runs now, waits for a person, or is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hermes import catalog
from hermes.catalog import CommandRefused, ParsedCommand, Risk
from hermes.contracts import Plan, PlanStep
from hermes.profiles import Autonomy, Profile


class Verdict(StrEnum):
    RUN = "run"
    APPROVAL = "approval"
    REFUSE = "refuse"


# Words of `require_confirmation` and the commands they cover.
_CONFIRMATION_WORDS: dict[str, set[str]] = {
    "delete": {"cluster stacks delete", "cluster node-group delete"},
    "deprovision": {"cluster deprovision", "cluster hetzner deprovision", "cluster ovh deprovision",
                    "cluster upcloud deprovision"},
    "revoke": {"tokens revoke"},
    "create": {"cluster hetzner create", "cluster ovh create", "cluster upcloud create",
               "cluster node-group add", "tokens create", "cluster stacks create"},
    "apply": {"cluster apply"},
    "build": {"cluster apply", "cluster stacks create"},
}


@dataclass(frozen=True)
class StepDecision:
    step: PlanStep
    verdict: Verdict
    reason: str
    command: ParsedCommand | None = None


@dataclass(frozen=True)
class Decision:
    """What happens to a plan: the strictest verdict of its steps wins."""

    verdict: Verdict
    steps: list[StepDecision] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [s.reason for s in self.steps if s.verdict is self.verdict]


def _needs_confirmation_word(command: ParsedCommand, words: list[str]) -> str | None:
    for word in words:
        word = word.strip().lower()
        if word in {"scale-down", "scale_down", "scale"} and command.risk is Risk.SCALE:
            # The direction is not known here, so a scale counts as a scale-down: fail safe.
            return word
        if command.key in _CONFIRMATION_WORDS.get(word, set()):
            return word
    return None


def decide_step(step: PlanStep, profile: Profile) -> StepDecision:
    """The verdict for one step under `profile`."""
    try:
        command = catalog.parse(step.argv)
    except CommandRefused as err:
        return StepDecision(step, Verdict.REFUSE, f"{catalog.display(step.argv)}: {err}")
    risk = command.risk
    shown = f"`{catalog.display(step.argv)}` ({risk.value})"
    read_like = risk is Risk.READ or (risk is Risk.SECRET and not command.spec.mutates)
    if profile.autonomy is Autonomy.READ_ONLY:
        if read_like:
            return StepDecision(step, Verdict.RUN, f"{shown} is a read", command)
        return StepDecision(step, Verdict.REFUSE,
                            f"{shown} changes something, and profile “{profile.name}” is read-only", command)
    if read_like:
        return StepDecision(step, Verdict.RUN, f"{shown} is a read", command)
    word = _needs_confirmation_word(command, profile.guardrails.require_confirmation)
    if word:
        return StepDecision(step, Verdict.APPROVAL,
                            f"{shown} needs approval: profile “{profile.name}” requires confirmation "
                            f"for {word}", command)
    if profile.autonomy is Autonomy.CONFIRM_ALL:
        return StepDecision(step, Verdict.APPROVAL,
                            f"{shown} needs approval: profile “{profile.name}” confirms every change", command)
    if profile.autonomy is Autonomy.CONFIRM_DESTRUCTIVE and risk in {
        Risk.SCALE, Risk.DESTRUCTIVE, Risk.PROVISION, Risk.SECRET
    }:
        return StepDecision(step, Verdict.APPROVAL, f"{shown} needs approval before it runs", command)
    return StepDecision(step, Verdict.RUN, f"{shown} runs under profile “{profile.name}”", command)


_SEVERITY = {Verdict.RUN: 0, Verdict.APPROVAL: 1, Verdict.REFUSE: 2}


def decide(plan: Plan, profile: Profile) -> Decision:
    """The verdict for a whole plan: refused if any step is, else approval if any step needs it."""
    steps = [decide_step(step, profile) for step in plan.steps]
    verdict = max((s.verdict for s in steps), key=_SEVERITY.__getitem__, default=Verdict.REFUSE)
    return Decision(verdict, steps)


def describe(profile: Profile) -> str:
    """How Hermes says what a profile means, as the guide does on a switch."""
    g = profile.guardrails
    if profile.autonomy is Autonomy.READ_ONLY:
        rule = "I'll only run reads and refuse every change"
    elif profile.autonomy is Autonomy.CONFIRM_ALL:
        rule = "I'll confirm every change"
    elif profile.autonomy is Autonomy.CONFIRM_DESTRUCTIVE:
        rule = "I'll ask before anything destructive, any scaling and any provisioning"
    else:
        asks = ", ".join(g.require_confirmation) or "nothing"
        rule = f"I'll run changes without asking, except: {asks}"
    if g.require_architecture_draft and g.require_bill_of_materials:
        rule += " and draft architecture with a bill of materials before building anything"
    elif g.require_architecture_draft:
        rule += " and draft the architecture before building anything"
    elif g.require_bill_of_materials:
        rule += " and show a bill of materials before building anything"
    return f"Now using the \"{profile.name}\" profile. {rule}."
