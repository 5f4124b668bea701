"""The whole of Hermes, for real: four service processes over a NATS server and a Redis server of
their own, with the Ankra emulator as `ankra`. Tests talk to it only through the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hermes import embedded
from hermes.signing import generate_keys

SERVICES = ("gateway", "planner", "guard", "executor")


@dataclass
class HermesStack:
    """A running Hermes: its URL and token, its processes, and where everything lives."""

    url: str
    token: str
    nats_url: str
    redis_url: str
    redis_prefix: str
    keys: dict[str, str]  # each service's private key (base64)
    public_keys: dict[str, str]
    emulator_state: Path
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None
    env: dict[str, str] = field(default_factory=dict)  # what the gateway was started with
    tokens: dict[str, str] = field(default_factory=dict)  # personal tokens of the users made so far

    @property
    def headers(self) -> dict[str, str]:
        """The bootstrap admin's (HERMES_API_TOKEN)."""
        return {"Authorization": f"Bearer {self.token}"}

    async def add_user(self, name: str, roles: tuple[str, ...] = ("operator", "approver")) -> str:
        """A Hermes user with `roles`, made as `hermes users add` does; returns their token."""
        import redis.asyncio as aioredis
        from hermes.keys import Keys
        from hermes.stores.users import UserStore

        client = aioredis.Redis.from_url(self.redis_url, decode_responses=True)
        try:
            _user, token = await UserStore(client, Keys(self.redis_prefix)).add(name, list(roles))
        finally:
            await client.aclose()
        self.tokens[name] = token
        return token

    async def headers_for(self, user: str) -> dict[str, str]:
        """`user`'s own bearer token (an operator and approver, made on first use)."""
        token = self.tokens.get(user) or await self.add_user(user)
        return {"Authorization": f"Bearer {token}"}

    async def send(self, text: str, conversation_id: str | None = None, user: str = "alice") -> dict[str, Any]:
        body: dict[str, Any] = {"text": text}
        if conversation_id:
            body["conversation_id"] = conversation_id
        assert self.session is not None
        headers = await self.headers_for(user)
        async with self.session.post(f"{self.url}/v1/messages", json=body, headers=headers) as resp:
            assert resp.status == 202, await resp.text()
            return await resp.json()

    async def events_until_final(self, conversation_id: str, correlation_id: str, cursor: str = "0",
                                 timeout: float = 45.0, started_on_bus: bool = False,
                                 user: str | None = None) -> list[dict[str, Any]]:
        """Events of one turn, up to and including its final reply.

        A conversation started on the bus by another system exists for the gateway once its first
        reply arrives: with `started_on_bus`, 404 means "not yet".
        """
        assert self.session is not None
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            headers = await self.headers_for(user) if user else self.headers
            async with self.session.get(f"{self.url}/v1/conversations/{conversation_id}/events",
                                        params={"cursor": cursor, "wait": "5"}, headers=headers) as resp:
                if started_on_bus and resp.status == 404:
                    await asyncio.sleep(0.1)
                    continue
                assert resp.status == 200, await resp.text()
                page = await resp.json()
            cursor = page["cursor"]
            for event in page["events"]:
                if event["correlation_id"] == correlation_id:
                    seen.append(event)
                    if event.get("final"):
                        return seen
        raise AssertionError(f"no final reply within {timeout}s; got {seen}\n{self.tail_logs()}")

    async def turn(self, text: str, conversation_id: str | None = None, user: str = "alice"
                   ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Send a message and return (the POST answer, the turn's events up to its final reply)."""
        sent = await self.send(text, conversation_id, user)
        events = await self.events_until_final(sent["conversation_id"], sent["correlation_id"], sent["cursor"])
        return sent, events

    async def settled(self, *durables: str, timeout: float = 30.0) -> None:
        """Wait until each durable consumer named (in the order given) has been handed everything on
        its stream and has acked all of it: JetStream's own record that the service finished handling.

        The proof that something did *not* happen: settle the services that would have done it
        (e.g. the guard's decisions, then the executor's orders), then assert the absence."""
        import nats
        from hermes import subjects

        streams = {c.durable: c.stream for c in subjects.CONSUMERS}
        nc = await nats.connect(self.nats_url)
        try:
            js = nc.jetstream()
            for durable in durables:
                deadline = time.monotonic() + timeout
                while True:
                    info = await js.consumer_info(streams[durable], durable)
                    if info.num_pending == 0 and info.num_ack_pending == 0:
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{durable} still has {info.num_pending} pending and "
                                             f"{info.num_ack_pending} unacked after {timeout}s\n"
                                             f"{self.tail_logs()}")
                    await asyncio.sleep(0.05)
        finally:
            await nc.close()

    def emulator_calls(self) -> list[dict[str, Any]]:
        path = self.emulator_state / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def tail_logs(self, lines: int = 15) -> str:
        out = []
        for name in dict.fromkeys([*SERVICES, *self.processes]):
            path = self.logs / f"{name}.log"
            if path.exists():
                out.append(f"--- {name} ---\n" + "\n".join(path.read_text().splitlines()[-lines:]))
        return "\n".join(out)


def start_services(stack: HermesStack, ankra_bin: str, ankra_token: str | None,
                   extra_env: dict[str, str] | None = None,
                   nats_url_for: Callable[[str], str] | None = None) -> None:
    """Start the four services as processes. `nats_url_for(service)` gives each its own NATS URL
    (e.g. its own user); by default they all use `stack.nats_url`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "ANKRA_"))}
    key_dir = stack.logs.parent / "keys"
    key_dir.mkdir(parents=True, exist_ok=True)
    for owner, text in stack.keys.items():
        (key_dir / f"{owner}.key").write_text(text)
    env.update({
        "HERMES_NATS_URL": stack.nats_url,
        "HERMES_REDIS_URL": stack.redis_url,
        "HERMES_REDIS_PREFIX": stack.redis_prefix,
        "HERMES_API_TOKEN": stack.token,
        "HERMES_TRUSTED_KEYS": json.dumps(stack.public_keys),
        "HERMES_HTTP_HOST": "127.0.0.1",
        "HERMES_HTTP_PORT": stack.url.rsplit(":", 1)[1],
        "HERMES_ANKRA_BIN": ankra_bin,
        "HERMES_EXEC_TIMEOUT_SECONDS": "20",
        # The emulator keeps its state outside the run dir: the sandbox's one writable place beyond it.
        "HERMES_EXEC_BWRAP_WRITABLE": json.dumps([str(stack.emulator_state)]),
        "HERMES_LOG_FORMAT": "json",
    })
    if ankra_token:
        env["ANKRA_API_TOKEN"] = ankra_token
    env.update(extra_env or {})
    stack.logs.mkdir(parents=True, exist_ok=True)
    stack.env = {**env, "HERMES_SERVICE_KEY_FILE": str(key_dir / "gateway.key")}
    if nats_url_for:
        stack.env["HERMES_NATS_URL"] = nats_url_for("gateway")
    for name in SERVICES:
        log = open(stack.logs / f"{name}.log", "wb")
        service_env = {**env, "HERMES_NATS_URL": nats_url_for(name)} if nats_url_for else dict(env)
        service_env["HERMES_SERVICE_KEY_FILE"] = str(key_dir / f"{name}.key")
        stack.processes[name] = subprocess.Popen([sys.executable, "-m", f"hermes_{name}"], env=service_env,
                                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log)


def start_gateway_replica(stack: HermesStack, name: str, port: str) -> subprocess.Popen[bytes]:
    """Another gateway process (a replica, or a restart) on `port`, logging to <name>.log."""
    log = open(stack.logs / f"{name}.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "hermes_gateway"], env={**stack.env, "HERMES_HTTP_PORT": port},
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    stack.processes[name] = proc
    return proc


def stop_services(stack: HermesStack) -> None:
    for proc in stack.processes.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in stack.processes.values():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_ready(stack: HermesStack, timeout: float = 60.0) -> None:
    assert stack.session is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in stack.processes.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}\n{stack.tail_logs()}")
        try:
            async with stack.session.get(f"{stack.url}/readyz") as resp:
                if resp.status == 200:
                    # every service logs "service started" once its subscribers run
                    started = [n for n in SERVICES
                               if '"service started"' in (stack.logs / f"{n}.log").read_text()]
                    if len(started) == len(SERVICES):
                        return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"Hermes did not become ready in {timeout}s\n{stack.tail_logs()}")


@pytest.fixture
def stack_servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """NATS and Redis of this stack's own."""
    nats = embedded.start_nats(tmp_path / "nats")
    redis = embedded.start_redis(tmp_path / "redis")
    try:
        yield nats.url, redis.url
    finally:
        nats.stop()
        redis.stop()


@contextlib.asynccontextmanager
async def running_hermes(logs: Path, nats_url: str, redis_url: str, emulator_state, *, prefix: str = "e2e",
                         ankra_bin: str | None = None, extra_env: dict[str, str] | None = None,
                         nats_url_for: Callable[[str], str] | None = None) -> AsyncIterator[HermesStack]:
    """A running Hermes against the emulator (or `ankra_bin`), stopped when the block ends."""
    state, ankra_token, wrapper = emulator_state
    private, public = generate_keys(SERVICES)
    stack = HermesStack(url=f"http://127.0.0.1:{embedded.free_port()}", token=secrets.token_urlsafe(24),
                        nats_url=nats_url, redis_url=redis_url, redis_prefix=prefix,
                        keys=private, public_keys=public, emulator_state=state, logs=logs)
    start_services(stack, ankra_bin or str(wrapper), ankra_token, extra_env, nats_url_for)
    stack.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    try:
        await wait_ready(stack)
        yield stack
    finally:
        await stack.session.close()
        stop_services(stack)


@pytest.fixture
async def hermes(tmp_path: Path, stack_servers: tuple[str, str], emulator_state) -> AsyncIterator[HermesStack]:
    """Hermes running against the Ankra emulator."""
    async with running_hermes(tmp_path / "logs", *stack_servers, emulator_state) as stack:
        yield stack
