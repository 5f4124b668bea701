"""The guard's policy: a pure function from a plan and a profile to a decision.

No I/O and no LLM. The risk of each command comes from the command catalog; the commands allowed
are the Available Commands of the enabled skills; the profile's autonomy and guardrails decide
whether it runs now, waits for a person, or is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from hermes import catalog
from hermes.catalog import CommandRefused, ParsedCommand, Risk
from hermes.contracts import Plan, PlanStep, StepResult
from hermes.profiles import Autonomy, Profile


class Verdict(StrEnum):
    RUN = "run"
    APPROVAL = "approval"
    REFUSE = "refuse"


Direction = Literal["up", "down", "same", "unknown"]

# Words of `require_confirmation` and the commands they cover.
_CONFIRMATION_WORDS: dict[str, set[str]] = {
    "delete": {"cluster stacks delete", "cluster node-group delete"},
    "deprovision": {"cluster deprovision", "cluster hetzner deprovision", "cluster ovh deprovision",
                    "cluster upcloud deprovision"},
    "revoke": {"tokens revoke"},
    "create": {"cluster hetzner create", "cluster ovh create", "cluster upcloud create",
               "cluster node-group add", "tokens create", "cluster stacks create"},
    "provision": {"cluster hetzner create", "cluster ovh create", "cluster upcloud create",
                  "cluster node-group add", "cluster apply", "cluster stacks create"},
    "apply": {"cluster apply"},
    "build": {"cluster apply", "cluster stacks create"},
}
_BUILD_COMMANDS = {"cluster apply", "cluster stacks create"}
_CREATE_COMMANDS = {"cluster hetzner create", "cluster ovh create", "cluster upcloud create"}


@dataclass(frozen=True)
class StepDecision:
    step: PlanStep
    verdict: Verdict
    reason: str
    command: ParsedCommand | None = None
    direction: Direction | None = None


@dataclass(frozen=True)
class Decision:
    """What happens to a plan: the strictest verdict of its steps (and of the plan's own checks) wins."""

    verdict: Verdict
    steps: list[StepDecision] = field(default_factory=list)
    plan_reasons: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        own = [s.reason for s in self.steps if s.verdict is self.verdict]
        return (self.plan_reasons if self.verdict is Verdict.REFUSE else []) + own


# -- scale direction --------------------------------------------------------------------------
_WORKER_COUNT = re.compile(r"Worker Count:\s*(\d+)", re.IGNORECASE)


def scale_target(command: ParsedCommand) -> int | None:
    """The count a scale command asks for."""
    value = command.args.get("count")
    return int(value) if value is not None and value.isdigit() else None


def observed_count(command: ParsedCommand, observed: StepResult | None) -> int | None:
    """The current count a recorded read shows for what `command` scales, or None if it does not."""
    if observed is None or observed.outcome != "ok":
        return None
    group = command.args.get("group")
    data: Any = observed.data
    if group is None:
        if isinstance(data, dict):
            for key in ("worker_count", "workers", "count"):
                if isinstance(data.get(key), int):
                    return data[key]
        match = _WORKER_COUNT.search(observed.stdout)
        return int(match.group(1)) if match else None
    groups = data.get("node_groups", data.get("result")) if isinstance(data, dict) else data
    if isinstance(groups, list):
        for item in groups:
            if isinstance(item, dict) and item.get("name") == group:
                for key in ("count", "node_count", "size", "nodes"):
                    if isinstance(item.get(key), int):
                        return item[key]
    return None


def scale_direction(command: ParsedCommand, observed: StepResult | None) -> Direction:
    """Up or down from the observed count; unknown when nothing trustworthy was observed."""
    target, current = scale_target(command), observed_count(command, observed)
    if target is None or current is None:
        return "unknown"
    return "up" if target > current else "down" if target < current else "same"


# -- decisions --------------------------------------------------------------------------------
def _confirmation_word(command: ParsedCommand, words: list[str], direction: Direction | None) -> str | None:
    for raw in words:
        word = raw.strip().lower().replace("_", "-")
        if command.risk is Risk.SCALE:
            if word == "scale":
                return word
            # Unknown direction counts as a scale-down: fail safe.
            if word == "scale-down" and direction in {"down", "unknown", None}:
                return word
            if word == "scale-up" and direction == "up":
                return word
        if command.key in _CONFIRMATION_WORDS.get(word, set()):
            return word
    return None


def effective_risk(step: PlanStep, command: ParsedCommand) -> Risk:
    """The catalog's risk, raised to destructive when the step declares that it removes something. A
    plan can raise a step's risk this way, never lower it."""
    return Risk.DESTRUCTIVE if step.removes else command.risk


def decide_step(step: PlanStep, profile: Profile, allowed: set[str] | None = None,
                observed: StepResult | None = None) -> StepDecision:
    """The verdict for one step under `profile`.

    `allowed`: catalog keys of the enabled skills' Available Commands (None: the whole catalog).
    `observed`: the recorded result of the read this step depends on (for the scale direction).
    """
    try:
        command = catalog.parse(step.argv)
    except CommandRefused as err:
        return StepDecision(step, Verdict.REFUSE, f"{catalog.display(step.argv)}: {err}")
    risk = effective_risk(step, command)
    shown = f"`{catalog.display(step.argv)}` ({risk.value})"
    if allowed is not None and command.key not in allowed:
        skills = ", ".join(profile.skills) or "none"
        return StepDecision(step, Verdict.REFUSE,
                            f"{shown} is not among the Available Commands of the enabled skills "
                            f"({skills}) of profile “{profile.name}”", command)
    direction = scale_direction(command, observed) if risk is Risk.SCALE else None
    if direction is not None:
        shown = f"`{catalog.display(step.argv)}` (scale {direction})"
    read_like = risk is Risk.READ or (risk is Risk.SECRET and not command.spec.mutates)
    if read_like:
        return StepDecision(step, Verdict.RUN, f"{shown} is a read", command, direction)
    if profile.autonomy is Autonomy.READ_ONLY:
        return StepDecision(step, Verdict.REFUSE,
                            f"{shown} changes something, and profile “{profile.name}” is read-only", command)
    if step.removes:
        # A step that removes something is destructive whatever its command: it says what goes.
        return StepDecision(step, Verdict.APPROVAL, f"{shown} needs approval: it is destructive, it removes "
                            f"{'; '.join(step.removes)}", command, direction)
    g = profile.guardrails
    word = _confirmation_word(command, g.require_confirmation, direction)
    if word:
        return StepDecision(step, Verdict.APPROVAL, f"{shown} needs approval: profile “{profile.name}” "
                            f"requires confirmation for {word}", command, direction)
    if risk is Risk.SCALE and getattr(g, "show_current_count_before_scale", False):
        return StepDecision(step, Verdict.APPROVAL, f"{shown} needs approval: the skill's guardrails "
                            "confirm every scaling after showing the current count", command, direction)
    if command.key in _CREATE_COMMANDS and getattr(g, "read_back_create_parameters", False):
        return StepDecision(step, Verdict.APPROVAL, f"{shown} needs approval: cluster creation parameters "
                            "are read back and confirmed first", command, direction)
    if profile.autonomy is Autonomy.CONFIRM_ALL:
        return StepDecision(step, Verdict.APPROVAL,
                            f"{shown} needs approval: profile “{profile.name}” confirms every change",
                            command, direction)
    if risk in {Risk.DESTRUCTIVE, Risk.PROVISION}:
        # No profile loosens this: destructive and provisioning actions always wait for a person.
        return StepDecision(step, Verdict.APPROVAL, f"{shown} needs approval: destructive and provisioning "
                            "actions always wait for explicit approval", command, direction)
    if profile.autonomy is Autonomy.CONFIRM_DESTRUCTIVE:
        careful = risk is Risk.SECRET or (risk is Risk.SCALE and direction != "up")
        if careful:
            return StepDecision(step, Verdict.APPROVAL, f"{shown} needs approval before it runs",
                                command, direction)
    return StepDecision(step, Verdict.RUN, f"{shown} runs under profile “{profile.name}”", command, direction)


_SEVERITY = {Verdict.RUN: 0, Verdict.APPROVAL: 1, Verdict.REFUSE: 2}


def plan_problems(plan: Plan, profile: Profile, steps: list[StepDecision]) -> list[str]:
    """Refusals that concern the plan as a whole: a build without its draft or bill of materials, a
    step that reads a file the plan does not carry.

    Every build needs both, under every profile: Hermes never provisions anything before a person has
    seen the drafted architecture and its bill of materials (a profile's flags can only restate it).
    A file argument (`cluster apply -f stack.yaml`) must name one of `plan.files`: those, and only
    those, are what the executor writes into the run's directory and what this decision covers.
    """
    problems: list[str] = []
    for s in steps:
        for name in _file_arguments(s.command):
            if name not in plan.files:
                carried = ", ".join(sorted(plan.files)) or "none"
                problems.append(f"`{catalog.display(s.step.argv)}` names a file the plan does not carry "
                                f"({name!r}; the plan's files: {carried}); Hermes only reads files it wrote "
                                "into the run's own directory, from the plan")
    builds = any(s.command is not None and s.command.key in _BUILD_COMMANDS for s in steps)
    if builds:
        if plan.architecture is None:
            problems.append(f"a build needs a drafted architecture first (profile “{profile.name}”); "
                            "this plan has none")
        if plan.bill_of_materials is None:
            problems.append(f"a build needs a bill of materials first (profile “{profile.name}”); "
                            "this plan has none")
    return problems


def _file_arguments(command: ParsedCommand | None) -> list[str]:
    """The values of a parsed command's file arguments and flags (the catalog's PATH kind)."""
    if command is None:
        return []
    names = [command.args[a.name] for a in command.spec.args
             if a.kind is catalog.ArgKind.PATH and a.name in command.args]
    names += [value for f in command.spec.flags
              if f.kind is catalog.ArgKind.PATH and isinstance(value := command.flags.get(f.name), str)]
    return names


def decide(plan: Plan, profile: Profile, allowed: set[str] | None = None,
           observed: dict[str, StepResult] | None = None) -> Decision:
    """The verdict for a whole plan: refused if any step is (or the plan lacks what the profile
    requires), else approval if any step needs it, else run."""
    observed = observed or {}
    steps = [decide_step(step, profile, allowed, observed.get(step.step_id)) for step in plan.steps]
    problems = plan_problems(plan, profile, steps)
    verdict = max((s.verdict for s in steps), key=_SEVERITY.__getitem__, default=Verdict.REFUSE)
    if problems:
        verdict = Verdict.REFUSE
    return Decision(verdict, steps, problems)


def describe(profile: Profile) -> str:
    """How Hermes says what a profile means, as the guide does on a switch."""
    g = profile.guardrails
    if profile.autonomy is Autonomy.READ_ONLY:
        rule = "I'll only run reads and refuse every change"
    elif profile.autonomy is Autonomy.CONFIRM_ALL:
        rule = "I'll confirm every change"
    elif profile.autonomy is Autonomy.CONFIRM_DESTRUCTIVE:
        rule = "I'll ask before anything destructive, any scale-down and any provisioning"
    else:
        extra = [w for w in g.require_confirmation if w not in {"delete", "deprovision", "revoke", "create",
                                                                 "provision", "apply", "build"}]
        rule = "I'll run changes without asking, except destructive and provisioning actions"
        if extra:
            rule += f" and {', '.join(extra)}"
    if g.require_architecture_draft and g.require_bill_of_materials:
        rule += " and draft architecture with a bill of materials before building anything"
    elif g.require_architecture_draft:
        rule += " and draft the architecture before building anything"
    elif g.require_bill_of_materials:
        rule += " and show a bill of materials before building anything"
    return f"Now using the \"{profile.name}\" profile. {rule}."
