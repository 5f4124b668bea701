"""The rules engine: plain language to a plan of catalog commands, with no LLM.

Pure functions of text: no I/O. Each rule recognises one intent and builds the argv lists; a
request no rule recognises gets an answer that says what Hermes can do — never silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hermes.catalog import display
from hermes.contracts import PlanStep


@dataclass(frozen=True)
class Understood:
    """A request the rules engine turned into commands."""

    intent: str
    steps: list[PlanStep]
    summary: str
    cluster: str | None = None


@dataclass(frozen=True)
class Answer:
    """A request answered in words: help, a question back, or a refusal to guess."""

    text: str
    kind: str = "answer"  # "answer" or "error"
    suggestions: list[str] = field(default_factory=list)


Interpretation = Understood | Answer

EXAMPLES = [
    "List my Ankra clusters",
    "Reconcile the production cluster",
]

_CLUSTER_NAME = r"([a-z0-9][a-z0-9-]{0,62})"
_FILLER = {"the", "my", "a", "cluster", "clusters", "please", "now", "our", "ankra"}


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".!?")


def _list_clusters(text: str) -> Interpretation | None:
    if re.search(r"\bclusters\b", text) and re.search(
        r"\b(list|show|what|which|see|display|get|give|all|my|our)\b", text
    ):
        step = PlanStep(argv=["cluster", "list"], title="List all clusters")
        return Understood("cluster.list", [step], f"Running `{display(step.argv)}`...")
    return None


def _reconcile(text: str) -> Interpretation | None:
    if not re.search(r"\breconcil", text):
        return None
    # "reconcile the production cluster", "reconciliation of staging-cluster", "reconcile cluster x"
    match = re.search(r"\breconcil\w*(?:\s+(?:of|for|on))?((?:\s+[a-z0-9-]+){0,4})", text)
    words = (match.group(1).split() if match else [])
    names = [w for w in words if w not in _FILLER and re.fullmatch(_CLUSTER_NAME, w)]
    if not names:
        return Answer(
            "Which cluster should I reconcile? Say for example “Reconcile the production cluster”, "
            "or “List my Ankra clusters” to see their names."
        )
    cluster = names[0]
    step = PlanStep(argv=["cluster", "reconcile", cluster], title=f"Reconcile {cluster}")
    return Understood("cluster.reconcile", [step], f"Running `{display(step.argv)}`...", cluster=cluster)


_RULES = (_reconcile, _list_clusters)


def interpret(text: str) -> Interpretation:
    """Turn a person's message into commands, or into an answer in words."""
    normalised = _normalise(text)
    for rule in _RULES:
        result = rule(normalised)
        if result is not None:
            return result
    return help_answer(text)


def help_answer(text: str) -> Answer:
    """What Hermes says when it does not understand: what it can do, with examples."""
    shown = text.strip()
    if len(shown) > 120:
        shown = shown[:117] + "..."
    lines = [
        f"I did not understand “{shown}”. Here is what I can do now:",
        "- list your Ankra clusters, e.g. “List my Ankra clusters”",
        "- trigger a reconciliation, e.g. “Reconcile the production cluster”",
    ]
    return Answer("\n".join(lines), suggestions=list(EXAMPLES))
