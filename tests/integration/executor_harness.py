"""Executor processes for the executor's tests: real `python -m hermes_executor` processes on a NATS
and a Redis of the test's own, the emulator as `ankra`, and the test as guard (it signs orders) and
as planner (it reads results from HERMES_RESULTS with a pull consumer of its own)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest
from hermes import subjects
from hermes.contracts import ExecutionOrder, ExecutionResult, OrderStep, utcnow
from hermes.signing import ServiceKey, sign_order

T = TypeVar("T")


@dataclass
class ExecutorFleet:
    """Executor processes sharing one work queue; each logs to its own file."""

    nats_url: str
    redis_url: str
    prefix: str
    guard_key: str  # the guard's private key: the test signs orders as the guard does
    ankra_bin: str
    ankra_token: str
    logs: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    executor_key: str = field(default_factory=lambda: ServiceKey.generate("executor").private_text())
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    log_files: dict[int, Path] = field(default_factory=dict)
    _count: int = 0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "ANKRA_"))}
        env.update({
            "HERMES_NATS_URL": self.nats_url,
            "HERMES_REDIS_URL": self.redis_url,
            "HERMES_REDIS_PREFIX": self.prefix,
            "HERMES_SERVICE_KEY": self.executor_key,
            "HERMES_TRUSTED_KEYS": json.dumps({"guard": ServiceKey.from_text("guard", self.guard_key).public_text}),
            "HERMES_ANKRA_BIN": self.ankra_bin,
            "ANKRA_API_TOKEN": self.ankra_token,
            "HERMES_LOG_FORMAT": "json",
        })
        env.update(self.extra_env)
        return env

    def start(self) -> subprocess.Popen[bytes]:
        """Start one more executor (without waiting for it to be ready)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self._count += 1
        path = self.logs / f"executor-{self._count}.log"
        with open(path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "hermes_executor"], env=self.env(),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.procs[proc.pid] = proc
        self.log_files[proc.pid] = path
        return proc

    async def ready(self, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
        """Wait until `proc` logged "service started" (its subscriber pulls from then on)."""
        path = self.log_files[proc.pid]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"executor {proc.pid} exited with {proc.returncode}:\n{self.tail(proc)}")
            if '"service started"' in path.read_text(errors="replace"):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"executor {proc.pid} not ready within {timeout}s:\n{self.tail(proc)}")

    async def start_ready(self, count: int = 1) -> list[subprocess.Popen[bytes]]:
        procs = [self.start() for _ in range(count)]
        for proc in procs:
            await self.ready(proc)
        return procs

    def kill9(self, pid: int) -> None:
        proc = self.procs.pop(pid)
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def alive(self) -> list[int]:
        return [pid for pid, p in self.procs.items() if p.poll() is None]

    def tail(self, proc: subprocess.Popen[bytes] | None = None, lines: int = 20) -> str:
        paths = [self.log_files[proc.pid]] if proc else list(self.log_files.values())
        return "\n".join(f"--- {p.name} ---\n" + _last_lines(p, lines)
                         for p in paths if p.exists())

    def all_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.log_files.values() if p.exists())

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


class Bus:
    """The test's side of the bus: publish orders, read results (and replies, audit) with consumers."""

    def __init__(self, nc: Any, js: Any, key: ServiceKey) -> None:
        self.nc, self.js, self.key = nc, js, key
        self.results: Any = None
        self.replies: Any = None
        self.audit: Any = None
        self.received: list[ExecutionResult] = []
        self.result_payloads: list[bytes] = []  # every result message as it travelled
        self.reply_payloads: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, nats_url: str, key: str) -> Bus:
        nc = await nats.connect(nats_url)
        bus = cls(nc, nc.jetstream(), ServiceKey.from_text("guard", key))
        # The streams exist once an executor has started; results and replies have no other consumer.
        bus.results = await bus.js.pull_subscribe(
            subjects.EXEC_RESULT, durable="test-results", stream=subjects.RESULT_STREAM.name)
        bus.replies = await bus.js.pull_subscribe(
            subjects.REPLY_CREATED, durable="test-replies", stream=subjects.REPLY_STREAM.name)
        bus.audit = await bus.js.pull_subscribe(
            f"{subjects.AUDIT}.>", durable="test-audit", stream=subjects.AUDIT_STREAM.name)
        return bus

    async def close(self) -> None:
        await self.nc.close()

    def order(self, argv: list[str], command: str, risk: str, *, expires_in: float = 300.0,
              conversation_id: str = "conv-exec", confirmed: bool = False,
              more: list[tuple[list[str], str, str]] = (), **fields: Any) -> ExecutionOrder:
        """A signed order of one step (`s1`), or more steps (`s2`, … from `more`)."""
        steps = [OrderStep(step_id=f"s{n}", argv=a, command=c, risk=r, confirmed=confirmed)
                 for n, (a, c, r) in enumerate([(argv, command, risk), *more], start=1)]
        order = ExecutionOrder(conversation_id=conversation_id, correlation_id=f"corr-{os.urandom(4).hex()}",
                               plan_id=f"plan-{os.urandom(4).hex()}", steps=steps, requested_by="alice",
                               expires_at=utcnow() + timedelta(seconds=expires_in), **fields)
        return sign_order(order, self.key)

    async def publish(self, order: ExecutionOrder, msg_id: str | None = None) -> None:
        await self.js.publish(subjects.EXEC_ORDER, order.model_dump_json().encode(),
                              headers={"Nats-Msg-Id": msg_id or order.id})

    async def result_for(self, order_id: str, timeout: float) -> ExecutionResult:
        """The next result of `order_id` not returned before (results of other orders are kept)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, result in enumerate(self.received):
                if result.order_id == order_id:
                    return self.received.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no result for order {order_id} within {timeout}s")
            try:
                msgs = await self.results.fetch(10, timeout=min(left, 2.0))
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            for msg in msgs:
                self.result_payloads.append(msg.data)
                self.received.append(ExecutionResult.model_validate_json(msg.data))
                await msg.ack()

    async def no_more_results(self, order_id: str, wait: float) -> list[ExecutionResult]:
        """Results of `order_id` that arrive within `wait` seconds (expected: none)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                msgs = await self.results.fetch(10, timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            for msg in msgs:
                self.result_payloads.append(msg.data)
                self.received.append(ExecutionResult.model_validate_json(msg.data))
                await msg.ack()
        return [r for r in self.received if r.order_id == order_id]

    async def drain(self, sub: Any) -> list[bytes]:
        """Every message currently on a pull consumer."""
        out: list[bytes] = []
        while True:
            try:
                msgs = await sub.fetch(100, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                return out
            for msg in msgs:
                out.append(msg.data)
                await msg.ack()


async def until(probe: Callable[[], Awaitable[T] | T], timeout: float, what: str,
                every: float = 0.02) -> T:
    """Poll `probe` (sync or async) until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def calls(state: Path) -> list[dict[str, Any]]:
    import ankra_emulator

    return ankra_emulator.read_calls(state)


def emulator_pids(state: Path) -> list[int]:
    """Emulator processes running on `state` right now (found by the wrapper's ANKRA_EMULATOR_STATE)."""
    marker = f"ANKRA_EMULATOR_STATE={state.resolve()}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
            with open(f"/proc/{entry}/stat", "rb") as handle:
                zombie = handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
        except OSError:
            continue
        if marker in environ and not zombie:
            found.append(int(entry))
    return found


# The emulator's seeded `production` cluster (OVH). Commands that look a cluster up by UUID take this.
PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"


def workers(state: Path, wrapper: Path, token: str, cluster_id: str = PRODUCTION_ID, provider: str = "ovh") -> int:
    """The cluster's worker count, as `ankra cluster <provider> workers <cluster_id> -o json` reports it."""
    with tempfile.TemporaryDirectory() as home:
        out = subprocess.run([str(wrapper), "cluster", provider, "workers", cluster_id, "-o", "json"],
                             capture_output=True,
                             env={"PATH": os.environ.get("PATH", ""), "ANKRA_API_TOKEN": token, "HOME": home},
                             timeout=60, check=True)
    return int(json.loads(out.stdout)["worker_count"])


def write_faults(state: Path, **faults: Any) -> None:
    (state / "faults.json").write_text(json.dumps(faults))


@pytest.fixture(name="fleet")
def fleet_fixture(tmp_path: Path, fresh_nats: Any, redis_server: Any, redis_prefix: str,
          emulator_state: tuple[Path, str, Path]) -> Iterator[ExecutorFleet]:
    """Executors of the test's own (none started yet): fresh NATS, own Redis prefix, own emulator."""
    _state, token, wrapper = emulator_state
    fleet = ExecutorFleet(nats_url=fresh_nats.url, redis_url=redis_server.url, prefix=redis_prefix,
                          guard_key=ServiceKey.generate("guard").private_text(), ankra_bin=str(wrapper),
                          ankra_token=token,
                          # the emulator keeps its state outside the run dir: writable in the sandbox too
                          extra_env={"HERMES_EXEC_BWRAP_WRITABLE": json.dumps([str(_state)])},
                          logs=tmp_path / "logs")
    try:
        yield fleet
    finally:
        fleet.stop()


@contextlib.asynccontextmanager
async def connected(fleet: ExecutorFleet) -> AsyncIterator[Bus]:
    """The test's bus client (call once an executor is ready: it declares the streams)."""
    bus = await Bus.connect(fleet.nats_url, fleet.guard_key)
    try:
        yield bus
    finally:
        await bus.close()


def _last_lines(path: Path, lines: int) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
