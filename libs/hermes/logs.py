"""Structured logging: one JSON line per event, with the correlation id of the message at hand.

Every line passes through redaction, so a secret that slips into a log call is still removed.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from hermes.redaction import Redactor

_redactor = Redactor()


def use_secrets(secrets: list[str]) -> None:
    """Known secret values that must never reach a log line."""
    for value in secrets:
        _redactor.add_secret(value)


def _redact_event(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return _redactor.data(event)


def configure(service: str, level: str = "INFO", fmt: str = "json") -> structlog.stdlib.BoundLogger:
    """Configure logging for a service process; returns its logger."""
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # FastStream and libraries log through the standard library: keep them terse, on stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format='{"level": "%(levelname)s", "logger": "%(name)s", "event": "%(message)s"}')
    structlog.contextvars.bind_contextvars(service=service)
    return structlog.get_logger(service)


def get_logger(name: str = "hermes") -> structlog.stdlib.BoundLogger:
    """A logger bound to `name`."""
    return structlog.get_logger(name)
