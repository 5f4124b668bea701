"""The rules engine: plain language to decisions without a model."""

from hermes_planner.engines.rules.engine import RulesEngine, help_answer, interpret, resume

__all__ = ["RulesEngine", "help_answer", "interpret", "resume"]
