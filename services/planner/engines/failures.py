"""How the model engines fail: the retry policy, and what a person reads when a model API fails.

Shared by the Anthropic and the OpenAI engine, so both retry the same way (the engine retries, not
the SDK) and say the same things: what went wrong, with which model or key (never the key itself), and
what to do. No text here repeats what an API said about a key: some APIs echo part of it.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from hermes.profiles import DEFAULT_MODELS, model_hint
from pydantic import BaseModel, ConfigDict, Field

FailReason = Literal["auth", "permission", "rate_limit", "quota", "overloaded", "server", "timeout",
                     "connection", "bad_request", "model_not_found", "step_limit", "truncated", "refusal",
                     "error"]


class Failed(BaseModel):
    """The run ended without an answer from the model; `text` tells the person why and what to do."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["failed"] = "failed"
    usage: list[dict[str, int]] = Field(default_factory=list, description="the model calls of this action")
    text: str
    reason: FailReason = "error"


# -- retries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Up to `max_retries` retries, waiting `base · 2^n` seconds (with jitter), capped at `cap`; a
    `retry-after` the API sends is honoured up to the cap."""

    max_retries: int = 3
    base: float = 0.5
    cap: float = 20.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = min(self.cap, self.base * (2 ** attempt) * (1 - 0.25 * random.random()))
        if retry_after is not None:
            wait = min(self.cap, max(wait, retry_after))
        return wait


def retryable(status: int) -> bool:
    """Statuses worth another try: timeouts, conflicts, rate limits, server errors and overload."""
    return status in (408, 409, 429) or status >= 500


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after`, when the API sent one."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = (headers or {}).get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None


def error_fields(body: Any) -> tuple[str, str, str]:
    """`(type, code, message)` of an API error body: Anthropic's `{"type": "error", "error": {…}}`,
    OpenAI's `{"error": {…}}` or its inner object (what the `openai` SDK keeps as `body`)."""
    inner = body.get("error") if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping) else body
    if not isinstance(inner, Mapping):
        return "", "", ""
    return (str(inner.get("type") or ""), str(inner.get("code") or ""), str(inner.get("message") or ""))


# -- who failed --------------------------------------------------------------------------------------


def display_url(url: str) -> str:
    """A URL to show a person: without user info, query or fragment (where credentials may sit)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class Api:
    """Who a model engine talks to, in the words of its messages."""

    provider: str  # "anthropic", "openai"
    label: str  # "the Anthropic API", "the OpenAI-compatible server at http://127.0.0.1:8000/v1"
    key_hint: str  # where the key is set
    custom_server: bool = False  # a compatible server, not the provider's own API

    @property
    def Label(self) -> str:
        return self.label[:1].upper() + self.label[1:]


def replacement(api: Api) -> str:
    """What to use instead of a model the API does not have."""
    if api.custom_server:
        return "one of the models the server lists (GET /v1/models)"
    default = DEFAULT_MODELS.get(api.provider)
    return f"a current model, e.g. {api.provider}/{default} (Hermes's default)" if default else "a current model"


def model_not_found_text(api: Api, model: str, offered: list[str] | None = None) -> str:
    """The message for a model the API does not know (retired, misspelt, or not on that server)."""
    text = (f"{api.Label} has no model {model!r} (404 not found): it may have been retired or misspelt, or "
            f"this key cannot use it. Set the profile's `model` in the config (hermes.json or openclaw.json) "
            f"to {replacement(api)}, then restart the planner.")
    if offered:
        shown = ", ".join(offered[:12]) + (f" and {len(offered) - 12} more" if len(offered) > 12 else "")
        text += f" The server offers: {shown}."
    return text + (model_hint(model) if api.provider == "anthropic" else "")


def key_refused_text(api: Api, *, nothing_ran: bool = False) -> str:
    ran = "; nothing was run" if nothing_ran else ""
    return (f"{api.Label} refused the API key (401 authentication error){ran}. Check {api.key_hint}, or use "
            "a profile without a model.")


def permission_text(api: Api, model: str, *, nothing_ran: bool = False) -> str:
    ran = "; nothing was run" if nothing_ran else ""
    return (f"The key for {api.label} is not allowed to use this model or feature (403){ran}. Check the "
            f"key's permissions for model {model}.")


# -- failures at request time ---------------------------------------------------------------------------


def step_limit(max_steps: int) -> Failed:
    return Failed(reason="step_limit", text=(
        f"I stopped after {max_steps} model calls without finishing this request. Nothing else will run "
        "for it. Ask again in smaller steps, e.g. one cluster or one command at a time."))


def unexpected(api: Api, error: BaseException) -> Failed:
    return Failed(reason="error", text=(
        f"The {api.provider.capitalize()} engine failed ({type(error).__name__}); nothing was run. Try again, "
        "or use a profile without a model."))


def refused(api: Api, model: str, status: int, error_type: str, code: str, detail: str, *,
            model_missing: bool) -> Failed:
    """A request the API refused for good (not retried). `detail` is the API's message, redacted."""
    detail = detail[:300]
    if status == 401:
        return Failed(reason="auth", text=key_refused_text(api, nothing_ran=True))
    if status == 403:
        return Failed(reason="permission", text=permission_text(api, model, nothing_ran=True))
    if model_missing:
        return Failed(reason="model_not_found", text="Nothing was run. " + model_not_found_text(api, model)
                      + (f" The API said: {detail}" if detail else ""))
    if status == 404:
        return Failed(reason="bad_request", text=(
            f"{api.Label} answered 404 (not found) for the chat request; nothing was run. Check the API base "
            "URL (an OpenAI-compatible server's usually ends in /v1)." + (f" It said: {detail}" if detail else "")))
    if status == 429 and code == "insufficient_quota":
        return Failed(reason="quota", text=(
            f"{api.Label} says the account has no quota left (429 insufficient_quota); nothing was run. "
            "Check the account's plan and billing."))
    kind = error_type or code
    return Failed(reason="bad_request", text=(
        f"{api.Label} refused the request ({status}" + (f" {kind}" if kind else "") + "); nothing was run."
        + (f" It said: {detail}" if detail else "")))


def gave_up(api: Api, *, attempts: int, timeout: float, status: int | None = None,
            timed_out: bool = False) -> Failed:
    """The API still failed after the last retry. `status` None: no HTTP answer (timeout, connection)."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if timed_out:
        return Failed(reason="timeout", text=(
            f"{api.Label} did not answer within {timeout:g} s ({tries}); nothing was run. Try again; if it "
            "keeps happening, raise the engine's timeout."))
    if status is None:
        return Failed(reason="connection", text=(
            f"Hermes could not reach {api.label} ({tries}); nothing was run. Check the network and the API "
            "base URL."))
    if status == 429:
        return Failed(reason="rate_limit", text=(
            f"{api.Label} kept rate-limiting Hermes (429, {tries}); nothing was run. Wait a minute and ask "
            "again, or raise the API key's rate limits."))
    if status == 529:
        return Failed(reason="overloaded", text=(
            f"{api.Label} is overloaded (529) and stayed so over {tries}; nothing was run. Try again in a few "
            "minutes; simple requests such as “List my Ankra clusters” still work without the model."))
    return Failed(reason="server", text=(
        f"{api.Label} failed with a server error ({status}) over {tries}; nothing was run. Try again in a few "
        "minutes."))


# -- the start-up check --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCheck:
    """What the start-up check found for one `provider/model` a profile names.

    `ok`: the API has the model. Otherwise `problem` says what failed and what to do; `fatal` means no
    request to this model can work (unknown model, refused key, unsupported provider, no key), so the
    planner answers with `problem` instead of calling the API; a check that could not be made (network,
    server error) is not fatal."""

    model: str
    ok: bool
    problem: str = ""
    fatal: bool = False
    profiles: tuple[str, ...] = ()
