"""The Anthropic engine: plain language to catalog commands through Claude's tool use (Messages API).

Everything that is not Anthropic's wire format — the transcript, the tools, the rails, the retries,
the failure texts, the start-up check — is shared with the OpenAI engine (`model.ModelEngine`). Here:
the request (system blocks and tools with prompt-cache points, the transcript's blocks as they are),
the answer's content blocks and stop reason, the usage with its cache counts, and the models API.
"""

from __future__ import annotations

from typing import Any

import anthropic
from hermes.redaction import Redactor
from hermes_planner.engines import tools as llm_tools
from hermes_planner.engines.failures import Api
from hermes_planner.engines.model import CHECK_TIMEOUT, ModelEngine, ModelTurn
from hermes_planner.engines.transcript import Transcript

_CACHE = {"type": "ephemeral"}
KEY_HINT = ("the Anthropic API key (ANTHROPIC_API_KEY, HERMES_ANTHROPIC_API_KEY_FILE, or config.anthropicApiKey "
            "in hermes.json)")
_STOPS = {"tool_use": "tool_use", "max_tokens": "max_tokens", "refusal": "refusal"}


class AnthropicEngine(ModelEngine):
    """Claude with tool use over the command catalog."""

    provider = "anthropic"
    sdk = anthropic
    sdk_error = anthropic.AnthropicError

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None, skill_body: str = "",
                 allowed_commands: set[str] | None = None, redactor: Redactor | None = None,
                 max_steps: int = 8, max_retries: int = 3, timeout: float = 60.0, max_tokens: int = 2048,
                 backoff_base: float = 0.5, backoff_max: float = 20.0, profiles: Any = None, log: Any = None) -> None:
        if not api_key:
            raise ValueError(f"an Anthropic API key is needed for model {model!r}: set {KEY_HINT}")
        api = Api("anthropic", "the Anthropic API", KEY_HINT)
        super().__init__(api, model, skill_body=skill_body, allowed_commands=allowed_commands, redactor=redactor,
                         max_steps=max_steps, max_retries=max_retries, timeout=timeout, max_tokens=max_tokens,
                         backoff_base=backoff_base, backoff_max=backoff_max, profiles=profiles, log=log,
                         secrets=[api_key])
        self._tool_definitions = self._definitions()
        self._system = self._system_blocks()
        # Retries are ours (backoff we control and record); the SDK does none of its own.
        self._client = anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)

    async def close(self) -> None:
        await self._client.close()

    # -- the request's fixed parts (the cached prefix) ---------------------------------------------
    def _definitions(self) -> list[dict[str, Any]]:
        defs = [t.definition() for t in self.tools.values()] + llm_tools.control_definitions(self.profiles)
        defs[-1] = {**defs[-1], "cache_control": dict(_CACHE)}
        return defs

    def _system_blocks(self) -> list[dict[str, Any]]:
        blocks = [{"type": "text", "text": self.system_text}]
        if self.skill_text:
            blocks.append({"type": "text", "text": self.skill_text})
        blocks[-1]["cache_control"] = dict(_CACHE)
        return blocks

    def request_payload(self, transcript: Transcript) -> dict[str, Any]:
        """The keyword arguments of `messages.create` for the transcript, redacted."""
        messages = [{"role": m["role"], "content": [self.redact_block(b) for b in m["content"]]}
                    for m in transcript.messages()]
        if transcript.exchanges:
            # A third cache point at the end of the conversation so far: the next call of this run reads it.
            messages[-1]["content"][-1]["cache_control"] = dict(_CACHE)
        return {"model": self.model, "max_tokens": self.max_tokens, "system": self._system,
                "tools": self._tool_definitions, "messages": messages}

    # -- the API ----------------------------------------------------------------------------------
    async def _send(self, payload: dict[str, Any]) -> Any:
        return await self._client.messages.create(**payload)

    def _turn(self, response: Any) -> ModelTurn:
        content: list[dict[str, Any]] = []
        for block in response.content:
            kind = getattr(block, "type", None)
            if kind == "text":
                content.append({"type": "text", "text": block.text})
            elif kind == "tool_use":
                content.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
        stop = _STOPS.get(str(getattr(response, "stop_reason", None)), "end")
        return ModelTurn(content=content, stop=stop)  # type: ignore[arg-type]

    def _usage_of(self, response: Any) -> dict[str, int]:
        u = response.usage
        return {"input": int(u.input_tokens or 0), "output": int(u.output_tokens or 0),
                "cache_creation": int(getattr(u, "cache_creation_input_tokens", None) or 0),
                "cache_read": int(getattr(u, "cache_read_input_tokens", None) or 0)}

    async def _find_model(self) -> list[str] | None:
        await self._client.models.retrieve(self.model, timeout=CHECK_TIMEOUT)
        return None
