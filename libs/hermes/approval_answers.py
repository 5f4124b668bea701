"""Recognising a person's answer to a pending approval: "y", "no thanks", "approve apr-1a2b…".

Pure text rules, shared by the gateway (which publishes the decision, since only it knows who is
answering) and the planner (which explains when nothing is waiting).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_YES = {"y", "yes", "yep", "yeah", "yup", "ok", "okay", "sure", "go", "go ahead", "do it", "proceed",
        "confirm", "confirmed", "approve", "approved", "accept", "lgtm", "yes go ahead", "ok go ahead",
        "yes do it", "yes proceed", "build it", "ship it", "go for it", "approve it", "yes approve",
        "okay go ahead", "yes please", "please proceed", "please go ahead", "yeah go ahead"}
_NO = {"n", "no", "nope", "nah", "cancel", "stop", "abort", "reject", "rejected", "deny", "dont",
       "do not", "no thanks", "never mind", "nevermind", "no cancel", "cancel it", "reject it",
       "dont do it", "no dont", "no stop", "please cancel", "cancel that", "forget it"}
_NAMED = re.compile(r"(approve|accept|reject|deny|decline)\s+(?:approval\s+|request\s+|plan\s+)?"
                    r"([A-Za-z0-9][A-Za-z0-9._:-]{0,127})", re.IGNORECASE)
_BARE = re.compile(r"(approve|accept|reject|deny|decline)(?: (?:the|this|that|it|plan|request|approval|"
                   r"design|build|change|one|please))*")


@dataclass(frozen=True)
class ApprovalAnswer:
    """A decision on a pending approval; `approval_id` None = not named (the only one waiting)."""

    decision: str  # "approve" or "reject"
    approval_id: str | None


def _decision(verb: str) -> str:
    return "approve" if verb.lower() in ("approve", "accept") else "reject"


def approval_answer(text: str) -> ApprovalAnswer | None:
    """The answer `text` gives, or None when it is not an answer to an approval.

    A named id must look like one (a digit or a dash in it), so "approve it" is not an id.
    """
    named = _NAMED.fullmatch(text.strip().rstrip(".!"))
    if named and re.search(r"[0-9-]", named.group(2)):
        return ApprovalAnswer(_decision(named.group(1)), named.group(2))
    low = text.lower()
    bare = _BARE.fullmatch(re.sub(r"[^a-z ]+", " ", low).strip())
    if bare:
        return ApprovalAnswer(_decision(bare.group(1)), None)
    phrase = re.sub(r"\s+", " ", re.sub(r"[^a-z ]+", " ", low.replace("'", ""))).strip()
    phrase = re.sub(r"^(please |ok |okay |yes |yeah )?(.*?)( please| thanks| thank you)?$", r"\1\2", phrase)
    if phrase in _YES:
        return ApprovalAnswer("approve", None)
    if phrase in _NO:
        return ApprovalAnswer("reject", None)
    return None
