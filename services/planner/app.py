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
from hermes_planner.engines import Engines
from hermes_planner.service import Planner


def create_app(settings: Settings | None = None, *, configure_logging: bool = True) -> FastStream:
    """The planner: consumes chat messages and execution results."""
    rt = ServiceRuntime("planner", settings, configure_logging=configure_logging)
    config = load_config()
    rt.add_secrets(config.secret_values())
    if rt.settings.anthropic_api_key is None and config.anthropic_api_key is not None:
        rt.settings.anthropic_api_key = config.anthropic_api_key  # the guide's config.anthropicApiKey
    if rt.settings.openai_api_key is None and config.openai_api_key is not None:
        rt.settings.openai_api_key = config.openai_api_key
    if rt.settings.openai_base_url is None and config.openai_base_url:
        rt.settings.openai_base_url = config.openai_base_url
    workspace = os.environ.get("HERMES_WORKSPACE")
    skills = discover_skills(default_roots(Path(workspace) if workspace else None, Path.home(), config), config)
    engines = Engines(rt.settings, skills, sorted(config.profiles), rt)
    planner = Planner(rt, config, engines)
    rt.on_shutdown(engines.close)
    # With a key configured, each profile's model is looked up once: a retired or unknown id is said
    # clearly in the log (and in every reply that would have used it), not as a stack trace later.
    rt.on_startup(lambda: engines.check(config.profiles))

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
