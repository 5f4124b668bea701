"""The OpenAI engine: plain language to catalog commands through Chat Completions with tools.

It speaks to OpenAI's API, or with `base_url` to any OpenAI-compatible Chat Completions server (vLLM,
Ollama, LiteLLM, …), through the official `openai` SDK. Everything that is not the wire format — the
transcript, the tools, the rails, the retries, the failure texts, the start-up check — is shared with
the Anthropic engine (`model.ModelEngine`). Here: the transcript's blocks as chat messages (a system
message, assistant `tool_calls`, one `tool` message per result), the answer's message and finish
reason, the usage (`prompt_tokens` include the cached ones), and the models API.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

import openai
from hermes.redaction import Redactor
from hermes_planner.engines import tools as llm_tools
from hermes_planner.engines.failures import Api, display_url
from hermes_planner.engines.model import CHECK_TIMEOUT, ModelEngine, ModelTurn
from hermes_planner.engines.transcript import Transcript, result_text

KEY_HINT = "the OpenAI API key (OPENAI_API_KEY, or HERMES_OPENAI_API_KEY_FILE naming a file that holds it)"
_OPENAI_HOST = "api.openai.com"
# A compatible server that checks no key still needs the SDK to send one.
_NO_KEY = "no-key-needed"
_STOPS = {"tool_calls": "tool_use", "function_call": "tool_use", "length": "max_tokens",
          "content_filter": "refusal"}


def is_openai_host(base_url: str | None) -> bool:
    """Whether `base_url` is OpenAI's own API (None: the SDK's default, which is)."""
    if not base_url:
        return True
    try:
        return (urlsplit(base_url).hostname or "").lower() == _OPENAI_HOST
    except ValueError:
        return False


class OpenAIEngine(ModelEngine):
    """An OpenAI (or OpenAI-compatible) chat model with tool use over the command catalog.

    `token_param` names the request's output limit: `max_completion_tokens` (OpenAI's, the default on
    its API) or `max_tokens` (what compatible servers read, the default with another `base_url`)."""

    provider = "openai"
    sdk = openai
    sdk_error = openai.OpenAIError

    def __init__(self, api_key: str, model: str, *, base_url: str | None = None, skill_body: str = "",
                 allowed_commands: set[str] | None = None, redactor: Redactor | None = None,
                 max_steps: int = 8, max_retries: int = 3, timeout: float = 60.0, max_tokens: int = 2048,
                 backoff_base: float = 0.5, backoff_max: float = 20.0, profiles: Any = None, log: Any = None,
                 token_param: str | None = None) -> None:
        official = is_openai_host(base_url)
        if not api_key and official:
            raise ValueError(f"an OpenAI API key is needed for model {model!r}: set {KEY_HINT}, or set "
                             "openai_base_url (HERMES_OPENAI_BASE_URL) to an OpenAI-compatible server")
        api = (Api("openai", "the OpenAI API", KEY_HINT) if official else
               Api("openai", f"the OpenAI-compatible server at {display_url(base_url or '')}",
                   KEY_HINT + " and the server's base URL (HERMES_OPENAI_BASE_URL)", custom_server=True))
        super().__init__(api, model, skill_body=skill_body, allowed_commands=allowed_commands, redactor=redactor,
                         max_steps=max_steps, max_retries=max_retries, timeout=timeout, max_tokens=max_tokens,
                         backoff_base=backoff_base, backoff_max=backoff_max, profiles=profiles, log=log,
                         secrets=[api_key])
        if token_param not in (None, "max_completion_tokens", "max_tokens"):
            raise ValueError(f"token_param {token_param!r} is not one of max_completion_tokens, max_tokens")
        self.official = official
        self.token_param = token_param or ("max_completion_tokens" if official else "max_tokens")
        self._tool_definitions = [
            {"type": "function", "function": {"name": d["name"], "description": d["description"],
                                              "parameters": d["input_schema"]}}
            for d in [t.definition() for t in self.tools.values()] + llm_tools.control_definitions(self.profiles)]
        self._system = self.system_text + ("\n\n" + self.skill_text if self.skill_text else "")
        # The stable prefix (system prompt and tools) is the same for every call: one cache key for it.
        prefix = json.dumps([self._system, self._tool_definitions], sort_keys=True)
        self._cache_key = "hermes-planner-" + hashlib.sha256(prefix.encode()).hexdigest()[:16]
        # Retries are ours (backoff we control and record); the SDK does none of its own.
        self._client = openai.AsyncOpenAI(api_key=api_key or _NO_KEY, base_url=base_url, max_retries=0,
                                          timeout=timeout)

    async def close(self) -> None:
        await self._client.close()

    # -- the request -------------------------------------------------------------------------------
    def request_payload(self, transcript: Transcript) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` for the transcript, redacted."""
        messages: list[dict[str, Any]] = [{"role": "system", "content": self._system}]
        for message in transcript.messages():
            blocks = [self.redact_block(b) for b in message["content"]]
            if message["role"] == "assistant":
                messages.append(_assistant_message(blocks))
                continue
            texts: list[str] = []
            for block in blocks:
                if block.get("type") == "tool_result":
                    text = result_text(block)
                    messages.append({"role": "tool", "tool_call_id": block["tool_use_id"],
                                     "content": ("Tool error: " + text) if block.get("is_error") else text})
                elif block.get("type") == "text" and block.get("text", "").strip():
                    texts.append(block["text"])
            if texts:
                messages.append({"role": "user", "content": "\n\n".join(texts)})
        payload: dict[str, Any] = {"model": self.model, "messages": messages, "tools": self._tool_definitions,
                                   self.token_param: self.max_tokens}
        if self.official:
            payload["prompt_cache_key"] = self._cache_key
        return payload

    # -- the API ----------------------------------------------------------------------------------
    async def _send(self, payload: dict[str, Any]) -> Any:
        return await self._client.chat.completions.create(**payload)

    def _turn(self, response: Any) -> ModelTurn:
        choices = getattr(response, "choices", None) or []
        if not choices:
            return ModelTurn()
        choice = choices[0]
        message = choice.message
        content: list[dict[str, Any]] = []
        if message.content:
            content.append({"type": "text", "text": message.content})
        for call in message.tool_calls or []:
            function = getattr(call, "function", None)
            name = function.name if function is not None else f"({getattr(call, 'type', 'unknown')} tool)"
            content.append({"type": "tool_use", "id": call.id, "name": name,
                            "input": _arguments(function.arguments if function is not None else None)})
        refusal = getattr(message, "refusal", None) or ""
        stop = "refusal" if refusal else _STOPS.get(str(choice.finish_reason), "end")
        if stop == "end" and any(b["type"] == "tool_use" for b in content):
            stop = "tool_use"  # some compatible servers finish tool calls with "stop"
        return ModelTurn(content=content, stop=stop, refusal=refusal)  # type: ignore[arg-type]

    def _usage_of(self, response: Any) -> dict[str, int]:
        u = getattr(response, "usage", None)
        if u is None:  # some compatible servers report none
            return {"input": 0, "output": 0, "cache_creation": 0, "cache_read": 0}
        details = getattr(u, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", None) or 0)
        return {"input": max(0, int(u.prompt_tokens or 0) - cached), "output": int(u.completion_tokens or 0),
                "cache_creation": 0, "cache_read": cached}

    def _model_missing(self, status: int, error_type: str, code: str, message: str) -> bool:
        return status == 404 and (code == "model_not_found" or "model" in message.lower())

    async def _find_model(self) -> list[str] | None:
        try:
            await self._client.models.retrieve(self.model, timeout=CHECK_TIMEOUT)
            return None
        except openai.APIStatusError as error:
            # Compatible servers may only list (and served names may hold a `/`): ask the list.
            if self.official or error.status_code in (401, 403) or error.status_code >= 500:
                raise
        offered = [m.id async for m in self._client.models.list(timeout=CHECK_TIMEOUT)]
        return None if self.model in offered else offered


def _arguments(raw: str | None) -> Any:
    """A tool call's arguments as the object they encode; text that is not JSON stays text, which the
    tool refuses ("the input must be a JSON object") and the model hears about."""
    if raw is None or not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _assistant_message(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    text = "\n\n".join(b["text"] for b in blocks if b.get("type") == "text" and b.get("text", "").strip())
    calls = [{"id": b["id"], "type": "function",
              "function": {"name": b["name"], "arguments": b["input"] if isinstance(b.get("input"), str)
                           else json.dumps(b.get("input"), ensure_ascii=False)}}
             for b in blocks if b.get("type") == "tool_use"]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    elif not text:
        message["content"] = "(no answer)"
    return message
