"""Planner service wiring: subscribers only; the work is in `service.Planner`."""

from __future__ import annotations

import os
from pathlib import Path

from faststream import FastStream

from hermes import bus, subjects
from hermes.config import load_config
from hermes.contracts import ChatMessage, ExecutionResult
from hermes.runtime import ServiceRuntime
from hermes.settings import Settings
from hermes.skills import default_roots, discover_skills
from hermes_planner.service import Models, Planner


def create_app(settings: Settings | None = None, *, configure_logging: bool = True) -> FastStream:
    """The planner: consumes chat messages and execution results."""
    rt = ServiceRuntime("planner", settings, configure_logging=configure_logging)
    config = load_config()
    rt.add_secrets(config.secret_values())
    if rt.settings.anthropic_api_key is None and config.anthropic_api_key is not None:
        rt.settings.anthropic_api_key = config.anthropic_api_key  # the guide's config.anthropicApiKey
    workspace = os.environ.get("HERMES_WORKSPACE")
    skills = discover_skills(default_roots(Path(workspace) if workspace else None, Path.home(), config), config)
    models = Models(rt.settings, skills, sorted(config.profiles), rt)
    planner = Planner(rt, config, models)
    rt.on_shutdown(models.close)

    @rt.broker.subscriber(subjects.CHAT_RECEIVED, stream=bus.jstream(subjects.CHAT_STREAM),
                          durable=subjects.PLANNER_CHAT_DURABLE, pull_sub=bus.pull(),
                          ack_policy=bus.ACK_AFTER_HANDLING, title="planner: chat messages")
    async def on_chat(message: ChatMessage) -> None:
        await planner.handle_chat(message)

    @rt.broker.subscriber(subjects.EXEC_RESULT, stream=bus.jstream(subjects.RESULT_STREAM),
                          durable=subjects.PLANNER_RESULTS_DURABLE, pull_sub=bus.pull(),
                          ack_policy=bus.ACK_AFTER_HANDLING, title="planner: execution results")
    async def on_result(result: ExecutionResult) -> None:
        await planner.handle_result(result)

    return rt.app()
