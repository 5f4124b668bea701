"""A small client of the gateway's HTTP API (aiohttp): send a message, follow a turn, decide, whoami.

Who is asking comes from the bearer token alone (a personal token from `hermes users add`, or the
local admin's `<state dir>/api-token`); no request body names a user.

Every failure becomes a `ClientFailure` whose message a person can act on and whose
`exit_code` the CLI returns: 2 when the gateway cannot be reached, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any, Self

import aiohttp

Event = dict[str, Any]

LONG_POLL_SECONDS = 25.0  # the gateway caps a long poll at 30 s; stay under it
EXIT_FAILED = 1
EXIT_UNREACHABLE = 2


class ClientFailure(Exception):
    """Something went wrong talking to the gateway; `str()` says what and what to do."""

    exit_code = EXIT_FAILED


class GatewayUnreachable(ClientFailure):
    exit_code = EXIT_UNREACHABLE

    def __init__(self, url: str, detail: str = "") -> None:
        self.url = url
        why = f" ({detail})" if detail else ""
        super().__init__(f"cannot reach the Hermes gateway at {url}{why}. "
                         "Is Hermes running? Start it with `hermes up`, or point to it with --url / HERMES_URL.")


class Unauthorized(ClientFailure):
    def __init__(self, url: str, server_message: str, token_given: bool) -> None:
        if token_given:
            hint = ("the API token was refused (wrong, revoked or rotated?). Use your own token for this "
                    "gateway: --token or HERMES_API_TOKEN (an admin makes one with `hermes users add` or "
                    "`hermes users rotate`), or the local admin's `api-token` file in the state dir of `hermes up`.")
        else:
            hint = ("no API token was sent. Pass your own token with --token or HERMES_API_TOKEN (an admin "
                    "makes one with `hermes users add`), or run `hermes up`, which writes the local admin's "
                    "token to <state dir>/api-token.")
        super().__init__(f"401 from {url}: {hint} (gateway said: {server_message})")


class ApiError(ClientFailure):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"the gateway answered {status}: {message}")


class TurnTimeout(ClientFailure):
    def __init__(self, timeout: float, conversation_id: str) -> None:
        super().__init__(f"no final reply within {timeout:g}s (conversation {conversation_id}). "
                         "The request may still finish: continue the conversation with "
                         f"`hermes chat -c {conversation_id}`, or raise --timeout; the service logs "
                         "are in <state dir>/logs.")


async def _error_message(resp: aiohttp.ClientResponse) -> str:
    try:
        body = await resp.json(content_type=None)
        if isinstance(body, dict) and body.get("error"):
            return str(body["error"])
    except (ValueError, aiohttp.ContentTypeError):
        pass
    text = (await resp.text()).strip()
    return text[:500] or resp.reason or "no details"


class GatewayClient:
    """One session with a gateway. Use as `async with GatewayClient(url, token) as client`."""

    def __init__(self, url: str, token: str | None, *, connect_timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._session = aiohttp.ClientSession(headers=headers)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, *, read_timeout: float = 30.0, **kwargs: Any) -> Any:
        assert self._session is not None, "use GatewayClient as an async context manager"
        timeout = aiohttp.ClientTimeout(total=None, connect=self._connect_timeout, sock_read=read_timeout)
        try:
            async with self._session.request(method, f"{self.url}{path}", timeout=timeout, **kwargs) as resp:
                if resp.status == 401:
                    raise Unauthorized(self.url, await _error_message(resp), bool(self.token))
                if resp.status >= 400:
                    raise ApiError(resp.status, await _error_message(resp))
                try:
                    return await resp.json(content_type=None)
                except ValueError:
                    raise ApiError(resp.status, "the answer was not JSON: is this a Hermes gateway?") from None
        except aiohttp.InvalidURL:
            raise ClientFailure(f"invalid gateway URL {self.url!r} (expected e.g. http://127.0.0.1:8789)") from None
        except (aiohttp.ClientConnectionError, TimeoutError) as err:
            # Connection refused, DNS failure, reset, or no answer in time: all mean "not reachable".
            raise GatewayUnreachable(self.url, type(err).__name__ if not str(err) else str(err)) from None
        except aiohttp.ClientError as err:  # e.g. a malformed HTTP answer: something else listens there
            raise ClientFailure(f"{self.url} did not answer like a Hermes gateway ({err}); check --url.") from None

    async def health(self) -> dict[str, Any]:
        return await self._request("GET", "/healthz")

    async def whoami(self) -> dict[str, Any]:
        """GET /v1/whoami → {user, roles, channel, at}: who the token belongs to."""
        return await self._request("GET", "/v1/whoami")

    async def send_message(self, text: str, conversation_id: str | None = None) -> dict[str, Any]:
        """POST /v1/messages → {message_id, conversation_id, correlation_id, cursor}."""
        body: dict[str, Any] = {"text": text}
        if conversation_id:
            body["conversation_id"] = conversation_id
        return await self._post_once("/v1/messages", body)

    async def _post_once(self, path: str, body: dict[str, Any], attempts: int = 3) -> Any:
        """POST with an `Idempotency-Key`, retried with the same key while the gateway says the message
        certainly was not stored (503) or cannot be reached: the request is acted on at most once
        (docs/http-api.md)."""
        key = uuid.uuid4().hex
        for attempt in range(attempts):
            try:
                return await self._request("POST", path, json=body, headers={"Idempotency-Key": key})
            except (ApiError, GatewayUnreachable) as err:
                if attempt == attempts - 1 or (isinstance(err, ApiError) and err.status != 503):
                    raise
                await asyncio.sleep(0.5 * 2 ** attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def events(self, conversation_id: str, cursor: str, wait: float) -> dict[str, Any]:
        """One long poll: {events, cursor}."""
        return await self._request("GET", f"/v1/conversations/{conversation_id}/events",
                                   params={"cursor": cursor, "wait": f"{wait:g}"}, read_timeout=wait + 15)

    async def decide(self, approval_id: str, decision: str) -> dict[str, Any]:
        """POST /v1/approvals/{id} with approve or reject, as the token's user."""
        return await self._post_once(f"/v1/approvals/{approval_id}", {"decision": decision})

    async def approvals(self) -> list[dict[str, Any]]:
        """GET /v1/approvals: the pending approvals the token's user may decide (and their own requests)."""
        return list((await self._request("GET", "/v1/approvals")).get("approvals") or [])

    async def follow_turn(self, conversation_id: str, correlation_id: str, cursor: str,
                          on_event: Callable[[Event], None], timeout: float) -> Event:
        """Follow a conversation from `cursor` until the turn's final event; return it.

        Every event of the turn (same correlation id) is handed to `on_event` in order, the
        final one included. Events of other turns in the conversation are skipped.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TurnTimeout(timeout, conversation_id)
            page = await self.events(conversation_id, cursor, min(LONG_POLL_SECONDS, max(remaining, 0.1)))
            cursor = str(page.get("cursor", cursor))
            for event in page.get("events") or []:
                if event.get("correlation_id") != correlation_id:
                    continue
                on_event(event)
                if event.get("final"):
                    return event
