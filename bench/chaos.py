"""Chaos: the whole fault set against a running Hermes, with valid traffic throughout.

Run: `python bench/chaos.py` (about 25 minutes on 2 cores: give `--budget 2400`; `--quick` for a short version).

A *run* is one valid request ("Reconcile the staging-cluster" or "List my Ankra clusters") sent to the
HTTP API with an Idempotency-Key and retried by the client as docs/http-api.md's retry contract says
(503/409/429: again after Retry-After with the same key; a refused connection: again with the same key;
a broken long poll: again from its cursor). For every experiment:

- lost: a run with no final event within its deadline;
- duplicated: the emulator ran one order's step more than once (its call log names each run
  directory, `hermes-run-<order>.<step>-…`), plus reconcile orders beyond one per reconcile request;
- stuck: messages still pending or unacked on a durable consumer once everything settled;
- recovery: from the fault to the moment every run in flight at the fault and a probe sent just after
  it have their final answer.

Experiments:

1. kill -9 of each service (gateway, planner, guard, executor) × `--kills`, mid-flow, against a real
   `hermes up` (its supervisor restarts them). The kills rotate over the services, and a service is killed
   again only after it has run `hermes_cli.up.STABLE_SECONDS` since its restart: sooner, the supervisor
   counts a crash loop and, the fifth time, stops everything — which is what it is for. An executor is
   killed while an `ankra` command of its runs.
2. `--fuzz-bus` garbage messages (deep nesting, huge, wrong types, not objects, not JSON, not UTF-8)
   published on every work subject, while valid traffic runs; the integration user on
   hermes.v1.chat.received, on the others the credentials of the one service allowed to publish there (a
   producer gone wrong: the admin and integration users may not publish those subjects, which the bench
   also checks), then valid latencies right after the fuzz (target: none over 2 s).
3. `--fuzz-http` random requests (bodies, methods, headers, routes) to every route, with valid traffic.
4. NATS node kill (`--node-kills`) on a 3-node JetStream cluster and Redis failover (`--failovers`) of a
   Sentinel-watched primary, with the four services started as `hermes up` starts them but pointed at
   the cluster and the Sentinels (hermes up itself runs one node of each). Uses
   `hermes.embedded.start_nats_cluster` / `start_redis_sentinel`; without them, recorded as skipped.

`hermes up` runs as it is, except for one thing: its NATS configuration fixes the monitoring port at 8222
(`hermes.permissions.nats_config`), so on a machine where anything else holds 8222 (another Hermes) it
cannot start; the bench runs it through a launcher that moves that port to a free one.

Everything is bounded: each run has a deadline, the whole benchmark `--budget`; every process it starts
is stopped (and dies with it: parent-death signal). Writes bench/results/chaos.json and chaos.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import secrets
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import nats
from hermes import embedded, subjects

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
SERVICES = ("gateway", "planner", "guard", "executor")
TEXTS = ("Reconcile the staging-cluster", "List my Ankra clusters")
LATENCY_TARGET_S = 2.0
EXECUTOR_RECOVERY_TARGET_S = 15.0
RUN_DIR = re.compile(r"hermes-run-(.+)-[0-9a-f]{12}/work/")

# `hermes up` through a launcher that only moves the NATS monitoring port off the fixed 8222.
LAUNCHER = """
import sys
from hermes import embedded, permissions
_config = permissions.nats_config
_monitor = embedded.free_port()
permissions.nats_config = lambda passwords=None: _config(passwords).replace(
    "http_port: 8222", f"http_port: {_monitor}")
from hermes_cli.main import app
sys.argv = ["hermes", *sys.argv[1:]]
app()
"""


class Interrupted(RuntimeError):
    """The benchmark was told to stop (signal or --budget)."""


# -- one valid request ---------------------------------------------------------------------------
@dataclass
class Run:
    text: str
    key: str
    sent_at: float  # monotonic
    answered_at: float | None = None
    final_kind: str | None = None
    final_text: str = ""
    attempts: int = 0
    statuses: list[int | str] = field(default_factory=list)
    accepted: bool = False
    note: str = ""

    @property
    def seconds(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.sent_at


class Client:
    """A client that keeps the retry contract of docs/http-api.md."""

    def __init__(self, url: str, token: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session
        self.headers = {"Authorization": f"Bearer {token}"}

    @staticmethod
    def _retry_after(resp: aiohttp.ClientResponse) -> float:
        try:
            return min(2.0, max(0.1, float(resp.headers.get("Retry-After", "0.5"))))
        except ValueError:
            return 0.5

    async def request(self, text: str, deadline_s: float, run: Run | None = None) -> Run:
        """One request to its final event; `run` (if given) is filled in as it goes."""
        run = run or Run(text, str(uuid.uuid4()), time.monotonic())
        end = run.sent_at + deadline_s
        sent: dict[str, Any] | None = None
        while sent is None and time.monotonic() < end:
            run.attempts += 1
            try:
                async with self.session.post(f"{self.url}/v1/messages", json={"text": text},
                                             headers={**self.headers, "Idempotency-Key": run.key},
                                             timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    run.statuses.append(resp.status)
                    if resp.status == 202:
                        sent = await resp.json()
                        break
                    if resp.status in (409, 429, 503):
                        await asyncio.sleep(self._retry_after(resp))
                        continue
                    run.note = f"POST answered {resp.status}: {(await resp.text())[:200]}"
                    return run  # not a retryable answer: never answered
            except (aiohttp.ClientError, TimeoutError) as err:
                run.statuses.append(type(err).__name__)
                await asyncio.sleep(0.25)
        if sent is None:
            run.note = run.note or "never accepted"
            return run
        run.accepted = True
        cursor = sent["cursor"]
        while time.monotonic() < end:
            wait = max(1, min(5, int(end - time.monotonic())))
            try:
                async with self.session.get(f"{self.url}/v1/conversations/{sent['conversation_id']}/events",
                                            params={"cursor": cursor, "wait": str(wait)}, headers=self.headers,
                                            timeout=aiohttp.ClientTimeout(total=wait + 10)) as resp:
                    if resp.status != 200:
                        await asyncio.sleep(self._retry_after(resp) if resp.status in (429, 503) else 0.25)
                        continue
                    page = await resp.json()
            except (aiohttp.ClientError, TimeoutError, ValueError):
                await asyncio.sleep(0.25)
                continue
            cursor = page["cursor"]
            for event in page["events"]:
                if event.get("correlation_id") == sent["correlation_id"] and event.get("final"):
                    run.answered_at = time.monotonic()
                    run.final_kind, run.final_text = event.get("kind"), (event.get("text") or "")[:200]
                    return run
        run.note = "no final event within the deadline"
        return run


class Traffic:
    """`workers` clients sending valid requests one after another until stopped; every run is kept."""

    def __init__(self, client: Client, workers: int, deadline_s: float) -> None:
        self.client, self.workers, self.deadline_s = client, workers, deadline_s
        self.runs: list[Run] = []
        self.in_flight: dict[str, Run] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._n = 0

    def start(self) -> None:
        self._stop.clear()
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]

    async def _worker(self) -> None:
        while not self._stop.is_set():
            text = TEXTS[self._n % len(TEXTS)]
            self._n += 1
            run = Run(text, str(uuid.uuid4()), time.monotonic())
            self.in_flight[run.key] = run
            try:
                await self.client.request(text, self.deadline_s, run)
            finally:
                self.in_flight.pop(run.key, None)
                self.runs.append(run)

    async def one(self, text: str) -> Run:
        run = await self.client.request(text, self.deadline_s)
        self.runs.append(run)
        return run

    async def stop(self) -> None:
        """Stop sending; wait for the runs under way to end (each has its deadline)."""
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def take(self) -> list[Run]:
        runs, self.runs = self.runs, []
        return runs


# -- the stacks ---------------------------------------------------------------------------------
class UpStack:
    """A real `hermes up` in a state dir of its own."""

    def __init__(self, work: Path) -> None:
        self.state = work / "up-state"
        self.port = embedded.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out = work / "hermes-up.out"
        handle = self.out.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, "up", "--state-dir", str(self.state),
                                      "--port", str(self.port)], stdin=subprocess.DEVNULL, stdout=handle,
                                     stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"},
                                     preexec_fn=embedded.die_with_parent())  # noqa: PLW1509 - started from the main thread
        handle.close()

    async def ready(self, timeout: float = 150.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hermes up exited with {self.proc.returncode}:\n{self.out.read_text()[-3000:]}")
            if "Ready." in self.out.read_text(errors="replace"):
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"hermes up not ready within {timeout}s:\n{self.out.read_text()[-3000:]}")

    @property
    def token(self) -> str:
        return (self.state / "api-token").read_text().strip()

    def secret(self, name: str) -> str:
        return (self.state / "secrets" / name).read_text().strip()

    @property
    def emulator_state(self) -> Path:
        return self.state / "ankra-emulator"

    def info(self) -> dict[str, Any]:
        return json.loads((self.state / "up.json").read_text())

    def status_json(self) -> dict[str, Any]:
        """`hermes status --json`, as an operator would run it."""
        out = subprocess.run([sys.executable, "-m", "hermes_cli.main", "status", "--state-dir", str(self.state),
                              "--json"], capture_output=True, text=True, timeout=60, check=False,
                             env={**os.environ, "COLUMNS": "400"})
        try:
            return json.loads(out.stdout)
        except ValueError:
            return {"unreadable": out.stdout[-500:] + out.stderr[-500:]}

    async def nats(self, user: str) -> nats.NATS:
        from hermes.permissions import inbox_prefix

        return await nats.connect(self.info()["nats_url"], user=user, password=self.secret(f"nats-{user}"),
                                  inbox_prefix=inbox_prefix(user).encode(), max_reconnect_attempts=-1,
                                  error_cb=_quiet, allow_reconnect=True)

    async def add_user(self, name: str, roles: list[str]) -> str:
        import redis.asyncio as aioredis
        from hermes.keys import Keys
        from hermes.stores.users import UserStore

        info = self.info()
        client = aioredis.Redis.from_url(info["redis_url"], username="admin", password=self.secret("redis-admin"),
                                         decode_responses=True)
        try:
            _user, token = await UserStore(client, Keys(info["redis_prefix"])).add(name, roles)
        finally:
            await client.aclose()
        return token

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def _quiet(_err: Exception) -> None:
    return None


async def settle(nc: nats.NATS, timeout: float) -> dict[str, int]:
    """Wait until every durable has no message pending or unacked; what is left after `timeout`."""
    js = nc.jetstream()
    deadline = time.monotonic() + timeout
    left: dict[str, int] = {}
    while True:
        left = {}
        for spec in subjects.CONSUMERS:
            try:
                info = await js.consumer_info(spec.stream, spec.durable, timeout=5)
                left[spec.durable] = info.num_pending + info.num_ack_pending
            except Exception as err:  # noqa: BLE001 - a node down or a leader moving: ask again
                left[spec.durable] = -1
                left.setdefault("_error", 0)
                print(f"  consumer info {spec.durable}: {err!r}", flush=True)
        if all(v == 0 for v in left.values()) or time.monotonic() > deadline:
            return {k: v for k, v in left.items() if v}
        await asyncio.sleep(0.25)


def calls_since(state: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    path = state / "calls.jsonl"
    if not path.exists():
        return [], offset
    with path.open("rb") as handle:
        handle.seek(offset)
        data = handle.read()
    lines = data.split(b"\n")
    complete, rest = lines[:-1], lines[-1]
    return [json.loads(x) for x in complete if x.strip()], offset + len(data) - len(rest)


def duplicates(calls: list[dict[str, Any]], reconcile_requests: int) -> dict[str, Any]:
    """Steps the emulator ran more than once, and reconcile orders beyond one per reconcile request."""
    runs: Counter[str] = Counter()
    commands: dict[str, str] = {}
    orders_by_command: dict[str, set[str]] = {}
    for call in calls:
        config = next((a for a in call.get("argv", []) if "hermes-run-" in a), "")
        match = RUN_DIR.search(config + "/") or RUN_DIR.search(config)
        if not match:
            continue
        runs[match.group(1)] += 1
        command = " ".join(call["argv"][:2])
        commands[match.group(1)] = command
        orders_by_command.setdefault(command, set()).add(match.group(1).split(".")[0])
    repeated = {key: {"runs": n, "command": commands[key]} for key, n in runs.items() if n > 1}
    reconcile_orders = len(orders_by_command.get("cluster reconcile", set()))
    extra = max(0, reconcile_orders - reconcile_requests)
    twice = sum(r["runs"] - 1 for r in repeated.values())
    return {"steps_run_twice": twice, "repeated": repeated, "extra_reconcile_orders": extra,
            "reconcile_orders": reconcile_orders, "emulator_calls": len(calls), "total": twice + extra}


def summarize(name: str, runs: list[Run], dup: dict[str, Any], stuck: dict[str, int], **extra: Any) -> dict[str, Any]:
    answered = [r for r in runs if r.answered_at is not None]
    lost = [r for r in runs if r.answered_at is None]
    latencies = sorted(r.seconds for r in answered if r.seconds is not None)
    entry = {
        "experiment": name, "status": "ran", "runs": len(runs), "lost": len(lost), "duplicated": dup["total"],
        "stuck": sum(v for v in stuck.values() if v > 0) + sum(1 for v in stuck.values() if v < 0),
        "answers": dict(Counter(r.final_kind for r in answered)),
        "latency_s": _dist(latencies),
        "duplicates_detail": {k: v for k, v in dup.items() if k != "repeated"} | {"repeated": dup["repeated"]},
        "stuck_detail": stuck,
        "lost_detail": [{"text": r.text, "note": r.note, "statuses": r.statuses[-6:]} for r in lost[:10]],
    }
    entry.update(extra)
    return entry


def _dist(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    values = sorted(values)
    return {"n": len(values), "median": round(statistics.median(values), 3),
            "p95": round(values[min(len(values) - 1, int(0.95 * len(values)))], 3), "max": round(values[-1], 3)}


# -- the bench ----------------------------------------------------------------------------------
class Chaos:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.stop = asyncio.Event()
        self.rng = random.Random(args.seed)
        self.left_over: dict[str, int] = {}  # what the experiment before left on the durables

    async def settle(self, nc: nats.NATS) -> dict[str, int]:
        """What is left on the durables once they settled, less what the experiment before left there
        (counted by that one); records the new state for the next experiment."""
        left = await settle(nc, self.args.settle)
        added = {d: (v - self.left_over.get(d, 0) if v >= 0 else v) for d, v in left.items()}
        self.left_over = {d: v for d, v in left.items() if v > 0}
        return {d: v for d, v in added.items() if v != 0}

    def check(self) -> None:
        if self.stop.is_set():
            raise Interrupted("stopped (signal or --budget); everything started is being shut down")

    async def wait_until(self, predicate, timeout: float, what: str, every: float = 0.1) -> float:
        started = time.monotonic()
        while not predicate():
            self.check()
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{what}: not within {timeout}s")
            await asyncio.sleep(every)
        return time.monotonic() - started

    # ---- experiment 1: kill -9 of each service, against hermes up
    async def kills(self, up: UpStack, traffic: Traffic, admin: nats.NATS) -> list[dict[str, Any]]:
        from hermes_cli.up import STABLE_SECONDS

        n = self.args.kills
        per: dict[str, dict[str, Any]] = {s: {"recovery": [], "kills": 0, "mid_command": 0, "in_flight": [],
                                              "runs": []} for s in SERVICES}
        restarted_at = {s: time.monotonic() - STABLE_SECONDS for s in SERVICES}  # up since the start
        offset = calls_since(up.emulator_state, 0)[1]
        current = SERVICES[0]
        traffic.take()
        call_windows: list[tuple[float, str]] = []  # (wall time of a kill, service)
        traffic.start()
        try:
            for round_ in range(n):
                for service in SERVICES:
                    self.check()
                    # the supervisor's crash-loop rule: a kill sooner than STABLE_SECONDS after the restart
                    # counts as a quick death; keep clear of it (plus a margin)
                    wait = restarted_at[service] + STABLE_SECONDS + 1.0 - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    for run in traffic.take():
                        per[current]["runs"].append(run)
                    current = service
                    recovery, mid, in_flight = await self.kill_one(up, traffic, service)
                    restarted_at[service] = time.monotonic() - recovery.get("restart_s", 0.0)
                    call_windows.append((time.time() - recovery["total_s"], service))
                    p = per[service]
                    p["kills"] += 1
                    p["mid_command"] += mid
                    p["in_flight"].append(in_flight)
                    p["recovery"].append(recovery)
                    print(f"  [{round_ + 1}/{n}] kill -9 {service}: in flight {in_flight}"
                          f"{', mid-command' if mid else ''}; recovered in {recovery['total_s']:.2f}s "
                          f"(restarted after {recovery.get('restart_s', 0):.2f}s)", flush=True)
        finally:
            await traffic.stop()
        for run in traffic.take():
            per[current]["runs"].append(run)
        stuck = await self.settle(admin)
        calls, _ = calls_since(up.emulator_state, offset)
        status = await asyncio.to_thread(up.status_json)
        entries = []
        for service in SERVICES:
            p = per[service]
            mine = [c for c in calls if _window(c, call_windows) == service]
            dup = duplicates(mine, 10**9)  # steps run twice, by window; orders per request: the whole phase
            own = {d: v for d, v in stuck.items() if _durable_service(d) == service}
            rec = [r["total_s"] for r in p["recovery"]]
            entry = summarize(f"kill -9 {service}", p["runs"], dup, own, kills=p["kills"],
                              kills_mid_command=p["mid_command"] if service == "executor" else None,
                              in_flight_at_kill=p["in_flight"],
                              recovery_seconds={"max": round(max(rec), 2) if rec else None,
                                                "median": round(statistics.median(rec), 2) if rec else None,
                                                "all": [round(x, 2) for x in rec]},
                              restart_seconds=[round(r.get("restart_s", 0), 2) for r in p["recovery"]],
                              restarts_in_hermes_status=(status.get("processes") or {}).get(service, {}).get("restarts"))
            entries.append(entry)
        # reconcile orders beyond one per reconcile request, over the whole phase (a request sent before a
        # kill may run after it, so windows cannot split this count): carried by the last entry
        reconciles = sum(1 for s in SERVICES for r in per[s]["runs"] if r.text.startswith("Reconcile") and r.accepted)
        phase = duplicates(calls, reconciles)
        entries[-1]["duplicated"] += phase["extra_reconcile_orders"]
        for entry in entries:
            entry["kill_phase_reconcile"] = {"requests": reconciles, "orders": phase["reconcile_orders"],
                                             "extra_orders": phase["extra_reconcile_orders"],
                                             "counted_in": entries[-1]["experiment"]}
        return entries

    async def kill_one(self, up: UpStack, traffic: Traffic, service: str) -> tuple[dict[str, float], bool, int]:
        info = up.info()["processes"][service]
        pid = info["pid"]
        mid = False
        if service == "executor":  # mid-command: while an `ankra` it started runs
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not _children(pid):
                await asyncio.sleep(0.02)
            mid = bool(_children(pid))
        else:  # mid-flow: while requests are in flight
            with contextlib.suppress(RuntimeError):
                await self.wait_until(lambda: len(traffic.in_flight) > 0, 10, "traffic in flight", 0.02)
        in_flight = list(traffic.in_flight.values())
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        probe = asyncio.create_task(traffic.one(TEXTS[len(traffic.runs) % 2]))

        def back() -> bool:
            try:
                entry = up.info()["processes"][service]
            except (OSError, ValueError, KeyError):
                return False
            return entry["pid"] != pid and entry.get("state") == "running"

        restart = await self.wait_until(back, 120, f"{service} restarted by hermes up", 0.05)
        run = await probe
        deadline = time.monotonic() + self.args.deadline
        while any(r.answered_at is None and r.key in traffic.in_flight for r in in_flight) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ends = [r.answered_at for r in [run, *in_flight] if r.answered_at is not None]
        lost = any(r.answered_at is None for r in [run, *in_flight])
        total = (max(ends) - killed) if ends and not lost else float(self.args.deadline)
        return {"restart_s": restart, "total_s": total}, mid, len(in_flight)

    # ---- experiment 2: fuzzed bus messages
    async def fuzz_bus(self, up: UpStack, traffic: Traffic, admin: nats.NATS) -> dict[str, Any]:
        producers = {s.subject: s.producers for s in subjects.ROUTES}
        work = [subjects.CHAT_RECEIVED, subjects.PLAN_PROPOSED, subjects.PROFILE_SWITCH,
                subjects.APPROVAL_DECIDED, subjects.EXEC_ORDER, subjects.EXEC_RESULT, subjects.REPLY_CREATED,
                subjects.DELIVERY_REQUESTED]
        refused = await self.acl_check(up, work)
        traffic.take()
        baseline = [await traffic.one(TEXTS[i % 2]) for i in range(self.args.after_fuzz)]
        conns: dict[str, nats.NATS] = {}
        for subject in work:
            user = "integration" if "integration" in producers[subject] else producers[subject][0]
            if user not in conns:
                conns[user] = await up.nats(user)
        offset = calls_since(up.emulator_state, 0)[1]
        dead_before = await _stream_messages(admin, subjects.DEAD_LETTER_STREAM.name)
        traffic.take()
        traffic.start()
        kinds: Counter[str] = Counter()
        published = 0
        publish_errors: Counter[str] = Counter()
        started = time.monotonic()
        try:
            for i in range(self.args.fuzz_bus):
                if i % 200 == 0:
                    self.check()
                subject = work[i % len(work)]
                user = "integration" if "integration" in producers[subject] else producers[subject][0]
                kind, payload = fuzz_payload(self.rng, subject)
                kinds[kind] += 1
                headers = {"Nats-Msg-Id": f"fuzz-{uuid.uuid4().hex}"} if self.rng.random() < 0.5 else None
                try:
                    await conns[user].jetstream().publish(subject, payload, headers=headers, timeout=10)
                    published += 1
                except Exception as err:  # noqa: BLE001 - counted: a refused publish is an answer too
                    publish_errors[type(err).__name__] += 1
            fuzz_s = time.monotonic() - started
        finally:
            await traffic.stop()
            for nc in conns.values():
                await nc.close()
        # valid latencies right after the fuzz, the garbage possibly still in the services' queues
        after = [await traffic.one(TEXTS[i % 2]) for i in range(self.args.after_fuzz)]
        runs = traffic.take()
        stuck = await self.settle(admin)
        calls, _ = calls_since(up.emulator_state, offset)
        dead_after = await _stream_messages(admin, subjects.DEAD_LETTER_STREAM.name)
        reconciles = sum(1 for r in runs if r.text.startswith("Reconcile") and r.accepted)
        after_lat = [r.seconds for r in after if r.seconds is not None]
        return summarize("fuzz bus", runs, duplicates(calls, reconciles), stuck, fuzz_messages=self.args.fuzz_bus,
                         published=published, publish_errors=dict(publish_errors), fuzz_seconds=round(fuzz_s, 1),
                         payload_kinds=dict(kinds), dead_letters_added=dead_after - dead_before,
                         acl_refusals=refused, after_fuzz_latency_s=_dist(after_lat),
                         before_fuzz_latency_s=_dist([r.seconds for r in baseline if r.seconds is not None]),
                         after_fuzz_over_target=sum(1 for r in after if r.seconds is None or r.seconds > LATENCY_TARGET_S),
                         recovery_seconds=None)

    async def acl_check(self, up: UpStack, work: list[str]) -> dict[str, Any]:
        """The admin and integration users publishing on each work subject: which the server refuses."""
        out: dict[str, Any] = {}
        for user in ("admin", "integration"):
            errors: list[str] = []

            async def on_error(err: Exception, sink: list[str] = errors) -> None:
                sink.append(str(err))

            from hermes.permissions import inbox_prefix

            nc = await nats.connect(up.info()["nats_url"], user=user, password=up.secret(f"nats-{user}"),
                                    inbox_prefix=inbox_prefix(user).encode(), error_cb=on_error)
            try:
                refused = []
                for subject in work:
                    errors.clear()
                    await nc.publish(subject, b'{"fuzz": true}')
                    await nc.flush(timeout=5)
                    await asyncio.sleep(0.05)
                    if any("permissions violation" in e.lower() and subject in e for e in errors):
                        refused.append(subject)
                out[user] = {"refused": len(refused), "of": len(work),
                             "allowed": [s for s in work if s not in refused]}
            finally:
                await nc.close()
        return out

    # ---- experiment 3: fuzzed HTTP requests
    async def fuzz_http(self, up: UpStack, traffic: Traffic, admin: nats.NATS,
                        session: aiohttp.ClientSession) -> dict[str, Any]:
        token = await up.add_user("fuzzer", ["operator", "approver"])
        offset = calls_since(up.emulator_state, 0)[1]
        traffic.take()
        traffic.start()
        statuses: Counter[str] = Counter()
        problems: list[str] = []
        started = time.monotonic()
        queue = asyncio.Queue[int]()
        for i in range(self.args.fuzz_http):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                if i % 100 == 0:
                    self.check()
                method, path, headers, body = fuzz_request(self.rng, token)
                try:
                    async with session.request(method, up.url + path, data=body, headers=headers,
                                               timeout=aiohttp.ClientTimeout(total=15)) as resp:
                        text = await resp.read()
                        statuses[str(resp.status)] += 1
                        if resp.status >= 500 and resp.status != 503:
                            problems.append(f"{method} {path[:60]} -> {resp.status} {text[:120]!r}")
                        elif resp.status >= 400 and not resp.headers.get("Content-Type", "").startswith(
                                "application/json"):
                            problems.append(f"{method} {path[:60]} -> {resp.status} not JSON")
                except (aiohttp.ClientError, TimeoutError, ValueError) as err:
                    statuses[type(err).__name__] += 1

        try:
            await asyncio.gather(*(worker() for _ in range(8)))
            fuzz_s = time.monotonic() - started
        finally:
            await traffic.stop()
        after = [await traffic.one(TEXTS[i % 2]) for i in range(self.args.after_fuzz)]
        runs = traffic.take()
        stuck = await self.settle(admin)
        calls, _ = calls_since(up.emulator_state, offset)
        reconciles = sum(1 for r in runs if r.text.startswith("Reconcile") and r.accepted)
        after_lat = [r.seconds for r in after if r.seconds is not None]
        return summarize("fuzz HTTP", runs, duplicates(calls, reconciles), stuck, fuzz_requests=self.args.fuzz_http,
                         fuzz_seconds=round(fuzz_s, 1), statuses=dict(statuses), problems=problems[:20],
                         server_errors=sum(v for k, v in statuses.items() if k.isdigit() and int(k) >= 500
                                           and k != "503"),
                         after_fuzz_latency_s=_dist(after_lat),
                         after_fuzz_over_target=sum(1 for r in after if r.seconds is None or r.seconds > LATENCY_TARGET_S),
                         recovery_seconds=None)

    # ---- experiment 4: a NATS cluster and Redis Sentinels
    async def cluster(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        missing = [f for f in ("start_nats_cluster", "start_redis_sentinel") if not hasattr(embedded, f)]
        if missing:
            reason = f"skipped: hermes.embedded has no {' / '.join(missing)} yet"
            return [{"experiment": "NATS node kill", "status": reason},
                    {"experiment": "Redis failover", "status": reason}]
        stack = ClusterStack(self.work / "cluster")
        self.left_over = {}  # a stack of its own: nothing left from before
        try:
            await asyncio.to_thread(stack.start_servers)
            await stack.start_services(session)
            client = Client(stack.url, stack.token, session)
            traffic = Traffic(client, self.args.workers, self.args.deadline)
            nc = await nats.connect(stack.nats.urls, max_reconnect_attempts=-1, error_cb=_quiet)
            try:
                node = await self.node_kills(stack, traffic, nc)
                fail = await self.failovers(stack, traffic, nc)
            finally:
                await nc.close()
            return [node, fail]
        finally:
            await stack.stop()

    async def _fault_round(self, stack: ClusterStack, traffic: Traffic, fault, repair, name: str,
                           count: int, nc: nats.NATS) -> dict[str, Any]:
        offset = calls_since(stack.emulator_state, 0)[1]
        traffic.take()
        traffic.start()
        recoveries: list[float] = []
        notes: list[str] = []
        try:
            for i in range(count):
                self.check()
                await self.wait_until(lambda: len(traffic.in_flight) > 0, 10, "traffic in flight", 0.02)
                in_flight = list(traffic.in_flight.values())
                killed = time.monotonic()
                what = await asyncio.to_thread(fault, i)
                probe = await traffic.one(TEXTS[i % 2])
                deadline = time.monotonic() + self.args.deadline
                while any(r.answered_at is None and r.key in traffic.in_flight for r in in_flight) \
                        and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                ends = [r.answered_at for r in [probe, *in_flight]]
                total = (max(ends) - killed) if all(e is not None for e in ends) else float(self.args.deadline)
                recoveries.append(total)
                note = await asyncio.to_thread(repair, i)
                notes.append(f"{what}; {note}")
                print(f"  [{i + 1}/{count}] {name}: {what}; recovered in {total:.2f}s; {note}", flush=True)
        finally:
            await traffic.stop()
        runs = traffic.take()
        stuck = await self.settle(nc)
        calls, _ = calls_since(stack.emulator_state, offset)
        reconciles = sum(1 for r in runs if r.text.startswith("Reconcile") and r.accepted)
        return summarize(name, runs, duplicates(calls, reconciles), stuck, faults=count, notes=notes,
                         recovery_seconds={"max": round(max(recoveries), 2) if recoveries else None,
                                           "median": round(statistics.median(recoveries), 2) if recoveries else None,
                                           "all": [round(x, 2) for x in recoveries]})

    async def node_kills(self, stack: ClusterStack, traffic: Traffic, nc: nats.NATS) -> dict[str, Any]:
        return await self._fault_round(stack, traffic, stack.kill_nats_node, stack.restart_nats_node,
                                       "NATS node kill", self.args.node_kills, nc)

    async def failovers(self, stack: ClusterStack, traffic: Traffic, nc: nats.NATS) -> dict[str, Any]:
        return await self._fault_round(stack, traffic, stack.kill_redis_primary, stack.rejoin_old_primary,
                                       "Redis failover", self.args.failovers, nc)


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _durable_service(durable: str) -> str | None:
    return next((c.service for c in subjects.CONSUMERS if c.durable == durable), None)


def _window(call: dict[str, Any], windows: list[tuple[float, str]]) -> str:
    """The service whose kill came last before this emulator call ended."""
    try:
        ts = datetime.fromisoformat(call["ts"]).timestamp()
    except (KeyError, ValueError):
        return windows[0][1] if windows else SERVICES[0]
    current = windows[0][1] if windows else SERVICES[0]
    for at, service in windows:
        if at - 1.0 <= ts:  # the log's time has whole seconds
            current = service
    return current


async def _stream_messages(nc: nats.NATS, stream: str) -> int:
    try:
        return (await nc.jetstream().stream_info(stream)).state.messages
    except Exception:  # noqa: BLE001
        return -1


# -- fuzz generators ----------------------------------------------------------------------------
def _junk_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 4 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.randint(-2**70, 2**70)
    if pick == 3:
        return rng.choice([1e308, -0.0, 3.14, 1e-320])
    if pick == 4:
        return "".join(rng.choice(string.printable + "é€😀\u202e\x00") for _ in range(rng.randrange(0, 60)))
    if pick == 5:
        return rng.choice(["", "hermes", "List my Ankra clusters", "x" * 300, "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")])
    if pick == 6:
        return [_junk_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]
    return {rng.choice(["id", "text", "steps", "argv", "plan", "order_id", "conversation_id", "signature", "x"]):
            _junk_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


FIELDS = ["id", "schema_version", "conversation_id", "correlation_id", "created_at", "text", "user", "channel",
          "identity", "plan_id", "steps", "argv", "risk", "order_id", "outcome", "signature", "expires_at",
          "approval_id", "decision", "profile", "kind", "final", "approval", "platform", "target"]


def fuzz_payload(rng: random.Random, subject: str) -> tuple[str, bytes]:
    """One garbage message: (its kind, its bytes)."""
    kind = rng.choices(["wrong_types", "not_object", "deep", "huge", "not_json", "not_utf8", "empty",
                        "near_valid", "random_object"], weights=[25, 12, 6, 1, 12, 6, 4, 22, 12])[0]
    if kind == "wrong_types":
        body: Any = {f: _junk_value(rng) for f in rng.sample(FIELDS, rng.randrange(1, len(FIELDS)))}
    elif kind == "not_object":
        body = rng.choice([_junk_value(rng), [], [1, 2, 3], "a string", 42, None, True, 1.5])
    elif kind == "deep":
        depth = rng.choice([100, 1000, 10000, 50000])
        raw = ("[" * depth + "]" * depth) if rng.random() < 0.5 else ('{"a":' * depth + "1" + "}" * depth)
        return kind, raw.encode()
    elif kind == "huge":
        size = rng.choice([100_000, 400_000, 900_000])
        return kind, json.dumps({"id": uuid.uuid4().hex, "text": "A" * size, "conversation_id": "c"}).encode()
    elif kind == "not_json":
        return kind, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    elif kind == "not_utf8":
        return kind, b'{"text": "' + bytes([0xff, 0xfe, 0xc3, 0x28]) + b'", "id": "x"}'
    elif kind == "empty":
        return kind, b""
    elif kind == "near_valid":
        body = {"id": uuid.uuid4().hex, "schema_version": rng.choice([1, 2, 99, "1"]),
                "conversation_id": rng.choice([uuid.uuid4().hex, "", "../../etc", "x" * 500]),
                "correlation_id": uuid.uuid4().hex, "created_at": rng.choice(["2020-01-01T00:00:00Z", "yesterday", 5]),
                "text": rng.choice(["", "hello", "x" * 25_000, 7]), "user": rng.choice(["bob", "", None]),
                "steps": rng.choice([[], [{"argv": ["cluster", "delete", "prod"]}], "all", None]),
                "signature": rng.choice(["", "AAAA", None]), "order_id": uuid.uuid4().hex,
                "outcome": rng.choice(["ok", "error", "bogus"]), "decision": rng.choice(["approve", "maybe"])}
    else:
        body = {rng.choice(string.ascii_letters) * rng.randrange(1, 5): _junk_value(rng) for _ in range(6)}
    return kind, json.dumps(body, allow_nan=True).encode()


ROUTES = [("POST", "/v1/messages"), ("POST", "/v1/approvals/{id}"), ("GET", "/v1/conversations/{id}/events"),
          ("GET", "/v1/approvals"), ("GET", "/v1/whoami"), ("GET", "/healthz"), ("GET", "/readyz"),
          ("GET", "/openapi.yaml"), ("GET", "/"), ("GET", "/web/{id}"), ("POST", "/v1/{id}"),
          ("DELETE", "/v1/messages"), ("PUT", "/v1/approvals/{id}"), ("PATCH", "/v1/conversations/{id}/events")]


def fuzz_request(rng: random.Random, token: str) -> tuple[str, str, dict[str, str], bytes]:
    method, path = rng.choice(ROUTES)
    ident = rng.choice([uuid.uuid4().hex, "..%2F..%2Fetc%2Fpasswd", "%00", "x" * 2000, "'; DROP", "😀", ""])
    path = path.replace("{id}", ident)
    if "events" in path and rng.random() < 0.7:
        path += "?" + rng.choice(["cursor=abc&wait=0", "wait=-5", "wait=1e9", "cursor=" + "9" * 40, "wait=nan",
                                  "wait=0&cursor=0-0", "wait=1"])
    headers = {"Authorization": rng.choice([f"Bearer {token}"] * 8 + ["Bearer nope", "Basic xx", ""])}
    if rng.random() < 0.5:
        headers["Idempotency-Key"] = rng.choice([uuid.uuid4().hex, "", "a b", "x" * 200, "é", "ok-key"])
    if rng.random() < 0.3:
        headers["Content-Type"] = rng.choice(["application/json", "text/plain", "application/x-www-form-urlencoded",
                                              "multipart/form-data; boundary=x"])
    kind = rng.randrange(7)
    if kind == 0:
        body = json.dumps({"text": "".join(rng.choice(string.punctuation + "é ") for _ in range(rng.randrange(1, 40)))}).encode()
    elif kind == 1:
        body = json.dumps({f: _junk_value(rng) for f in rng.sample(["text", "conversation_id", "user", "decision",
                                                                    "channel", "x"], 3)}).encode()
    elif kind == 2:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    elif kind == 3:
        body = ("[" * 20000 + "]" * 20000).encode()
    elif kind == 4:
        body = b"{" + b'"a":1,' * rng.choice([10, 20_000]) + b'"b":2}'  # 20,000: over 64 KiB
    elif kind == 5:
        body = json.dumps(rng.choice([[], 1, "text", None, {"text": None}, {"text": ["a"]}])).encode()
    else:
        body = b""
    return method, path, headers, body


# -- the cluster stack --------------------------------------------------------------------------
class ClusterStack:
    """NATS as a 3-node JetStream cluster, Redis as a primary + replica watched by 3 Sentinels, and the
    four services started as `hermes up` starts them (each its own process and key), pointed at both."""

    def __init__(self, work: Path) -> None:
        import ankra_emulator

        self.work = work
        work.mkdir(parents=True, exist_ok=True)
        self.ankra_token = "ankra_" + secrets.token_hex(20)
        self.emulator_state = work / "ankra-state"
        ankra_emulator.init_state(self.emulator_state, self.ankra_token)
        self.wrapper = ankra_emulator.write_wrapper(work / "bin", self.emulator_state)
        (self.emulator_state / "faults.json").write_text(json.dumps({"latency_ms": LATENCY_MS}))
        self.port = embedded.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.nats: Any = None
        self.redis: Any = None
        self.killed_primary: Any = None

    def start_servers(self) -> None:
        self.nats = embedded.start_nats_cluster(self.work / "nats", size=3, parent_death=True)
        self.redis = embedded.start_redis_sentinel(self.work / "redis", replicas=1, sentinels=3, parent_death=True)

    async def start_services(self, session: aiohttp.ClientSession) -> None:
        from hermes.signing import generate_keys

        await self._sentinels_know_replica(60)
        await asyncio.sleep(2)  # the JetStream meta group elects its leader a moment after the servers listen
        private, public = generate_keys(SERVICES)
        keys = self.work / "keys"
        keys.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "ANKRA_"))}
        env.update({"HERMES_NATS_URL": self.nats.url, "HERMES_REDIS_URL": "redis://127.0.0.1/0",
                    "HERMES_REDIS_SENTINELS": self.redis.addresses, "HERMES_REDIS_SENTINEL_SERVICE": self.redis.service,
                    "HERMES_REDIS_PREFIX": "chaos", "HERMES_API_TOKEN": self.token,
                    "HERMES_TRUSTED_KEYS": json.dumps(public), "HERMES_HTTP_HOST": "127.0.0.1",
                    "HERMES_HTTP_PORT": str(self.port), "HERMES_ANKRA_BIN": str(self.wrapper),
                    "ANKRA_API_TOKEN": self.ankra_token, "HERMES_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1",
                    "HERMES_EXEC_BWRAP_WRITABLE": json.dumps([str(self.emulator_state)])})
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        # the planner first: it declares the streams and consumers (HERMES_NATS_DECLARE_STREAMS, the default)
        for name in SERVICES:
            (keys / f"{name}.key").write_text(private[name])
            with open(logs / f"{name}.log", "wb") as log:  # noqa: ASYNC230
                self.procs[name] = subprocess.Popen(  # noqa: ASYNC220 - starting, not waiting
                    [sys.executable, "-m", f"hermes_{name}"],
                    env={**env, "HERMES_SERVICE_KEY_FILE": str(keys / f"{name}.key")},
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                    preexec_fn=embedded.die_with_parent(signal.SIGKILL))  # noqa: PLW1509
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: "
                                       f"{(logs / f'{name}.log').read_text()[-2000:]}")
            started = all('"service started"' in (logs / f"{n}.log").read_text(errors="replace") for n in SERVICES)
            if started:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"{self.url}/readyz") as resp:
                        if resp.status == 200:
                            return
            await asyncio.sleep(0.2)
        raise RuntimeError("the services on the cluster did not become ready in 120 s")

    async def _sentinels_know_replica(self, timeout: float) -> None:
        import redis.asyncio as aioredis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = True
            for sentinel in self.redis.sentinels:
                client = aioredis.Redis(host=sentinel.host, port=sentinel.port, decode_responses=True)
                try:
                    replicas = await client.sentinel_slaves(self.redis.service)
                    ok &= any("s_down" not in str(r.get("flags", "")) and r.get("master-link-status") == "ok"
                              for r in replicas)
                except Exception:  # noqa: BLE001
                    ok = False
                finally:
                    await client.aclose()
            if ok:
                return
            await asyncio.sleep(0.25)
        raise RuntimeError("the Sentinels do not see a healthy replica")

    # faults (run in a thread) --------------------------------------------------------------
    def kill_nats_node(self, i: int) -> str:
        node = self.nats.nodes[i % len(self.nats.nodes)]
        node.process.kill()
        node.process.wait()
        return f"kill -9 {self.nats.names[i % len(self.nats.nodes)]}"

    def restart_nats_node(self, i: int) -> str:
        index = i % len(self.nats.nodes)
        old = self.nats.nodes[index]
        data = old.log_path.parent
        started = time.monotonic()
        self.nats.nodes[index] = embedded.start_nats(data, old.port, old.host, data / "nats-server.conf",
                                                     parent_death=True)
        time.sleep(3)  # let it rejoin and catch up before the next node goes
        return f"restarted in {time.monotonic() - started:.1f}s"

    def kill_redis_primary(self, i: int) -> str:
        import redis

        sentinel = self.redis.sentinels[0]
        _host, port = redis.Redis(host=sentinel.host, port=sentinel.port).sentinel_get_master_addr_by_name(
            self.redis.service)
        node = next(n for n in self.redis.data_nodes() if n.port == int(port))
        node.process.kill()
        node.process.wait()
        self.killed_primary = node
        return f"kill -9 the primary (port {port})"

    def rejoin_old_primary(self, i: int) -> str:
        import redis

        old = self.killed_primary
        sentinel = self.redis.sentinels[0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _host, port = redis.Redis(host=sentinel.host, port=sentinel.port).sentinel_get_master_addr_by_name(
                self.redis.service)
            if int(port) != old.port:
                break
            time.sleep(0.1)
        new = embedded.start_redis(old.log_path.parent, old.port, old.host, parent_death=True,
                                   extra_args=["--replicaof", "127.0.0.1", str(port)])
        if old is self.redis.primary:
            self.redis.primary = new
        else:
            self.redis.replicas = [new if r is old else r for r in self.redis.replicas]
        asyncio.run(self._sentinels_know_replica(60))
        return f"the Sentinels promoted port {port}; the old primary rejoined as its replica"

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                await asyncio.to_thread(proc.wait, 15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for server in (self.redis, self.nats):
            if server is not None:
                server.stop()


LATENCY_MS = 300


# -- main ---------------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    started = time.monotonic()
    experiments: list[dict[str, Any]] = []
    error: str | None = None
    with tempfile.TemporaryDirectory(prefix="hermes-chaos-") as tmp:
        work = Path(tmp)
        chaos = Chaos(args, work)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, chaos.stop.set)
        loop.call_later(args.budget, chaos.stop.set)
        up = UpStack(work)
        session = aiohttp.ClientSession()
        try:
            await up.ready()
            print(f"hermes up ready at {up.url} ({time.monotonic() - started:.1f}s)", flush=True)
            admin = await up.nats("admin")
            traffic = Traffic(Client(up.url, up.token, session), args.workers, args.deadline)
            try:
                for name, step in (("kills", lambda: chaos.kills(up, traffic, admin)),
                                   ("fuzz bus", lambda: chaos.fuzz_bus(up, traffic, admin)),
                                   ("fuzz HTTP", lambda: chaos.fuzz_http(up, traffic, admin, session))):
                    if name.replace(" ", "-").lower() not in args.only:
                        names = [f"kill -9 {s}" for s in SERVICES] if name == "kills" else [name]
                        experiments += [{"experiment": n, "status": "skipped: not in --only"} for n in names]
                        continue
                    t0 = time.monotonic()
                    # emulated ankra latency in the kill phase (so a kill lands mid-command), none after
                    (up.emulator_state / "faults.json").write_text(
                        json.dumps({"latency_ms": LATENCY_MS if name == "kills" else 0}))
                    print(f"{name}…", flush=True)
                    result = await step()
                    for entry in result if isinstance(result, list) else [result]:
                        entry["seconds"] = round(time.monotonic() - t0, 1)
                        experiments.append(entry)
                        print(f"  {entry['experiment']}: runs {entry['runs']}, lost {entry['lost']}, "
                              f"duplicated {entry['duplicated']}, stuck {entry['stuck']}", flush=True)
            finally:
                await admin.close()
            up.stop()
            if args.cluster and "cluster" in args.only:
                t0 = time.monotonic()
                print("NATS cluster and Redis Sentinels…", flush=True)
                for entry in await chaos.cluster(session):
                    entry["seconds"] = round(time.monotonic() - t0, 1)
                    experiments.append(entry)
                    print(f"  {entry['experiment']}: {entry.get('status')}"
                          + (f", runs {entry['runs']}, lost {entry['lost']}, duplicated {entry['duplicated']}, "
                             f"stuck {entry['stuck']}" if "runs" in entry else ""), flush=True)
            else:
                experiments += [{"experiment": "NATS node kill", "status": "skipped: not selected (--no-cluster or --only)"},
                                {"experiment": "Redis failover", "status": "skipped: not selected (--no-cluster or --only)"}]
        except Interrupted as err:
            error = str(err)
        except Exception as err:  # noqa: BLE001 - recorded in the results, never hidden
            import traceback

            traceback.print_exc()
            error = f"{type(err).__name__}: {err}"
        finally:
            await session.close()
            up.stop()
    names = [*(f"kill -9 {s}" for s in SERVICES), "fuzz bus", "fuzz HTTP", "NATS node kill", "Redis failover"]
    listed = {e["experiment"] for e in experiments}
    experiments += [{"experiment": n, "status": f"not run: {error}"} for n in names if n not in listed]
    experiments.sort(key=lambda e: names.index(e["experiment"]))
    carried: dict[str, Any] | None = None
    if args.keep_from:  # experiments not selected this time: their figures from an earlier run, marked so
        earlier = json.loads(Path(args.keep_from).read_text())
        carried = {"date": earlier["date"], "seconds": earlier["seconds"], "error": earlier.get("error"),
                   "machine": earlier["machine"]}
        old = {e["experiment"]: e for e in earlier["experiments"] if e.get("status") == "ran"}
        for i, entry in enumerate(experiments):
            if entry.get("status", "").startswith("skipped: not") and entry["experiment"] in old:
                experiments[i] = {**old[entry["experiment"]], "from_run": earlier["date"]}
    ran = [e for e in experiments if e.get("status") == "ran"]
    totals = {k: sum(e[k] for e in ran) for k in ("lost", "duplicated", "stuck")}
    executor = next((e for e in ran if e["experiment"] == "kill -9 executor"), None)
    after = [e.get("after_fuzz_latency_s") for e in ran if e.get("after_fuzz_latency_s")]
    over = sum(e.get("after_fuzz_over_target", 0) for e in ran)
    return {
        "benchmark": "chaos",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "setup": {"kills_per_service": args.kills, "fuzz_bus": args.fuzz_bus, "fuzz_http": args.fuzz_http,
                  "node_kills": args.node_kills, "failovers": args.failovers, "workers": args.workers,
                  "run_deadline_s": args.deadline, "emulator_latency_ms": LATENCY_MS, "seed": args.seed,
                  "requests": list(TEXTS)},
        "totals": totals,
        "targets": {
            "totals_all_zero": all(v == 0 for v in totals.values()) and bool(ran),
            "after_fuzz_max_latency_s": max((a["max"] for a in after), default=None),
            "after_fuzz_over_2s": over,
            "executor_recovery_max_s": executor["recovery_seconds"]["max"] if executor else None,
            "executor_recovery_within_15s": bool(executor and executor["recovery_seconds"]["max"] is not None
                                                 and executor["recovery_seconds"]["max"] <= EXECUTOR_RECOVERY_TARGET_S),
        },
        "error": error,
        "earlier_run": carried,
        "experiments": experiments,
    }


def markdown(report: dict[str, Any]) -> str:
    m, s, t = report["machine"], report["setup"], report["targets"]
    lines = [
        "# Chaos",
        "",
        (f"Measured {report['date']} by `python bench/chaos.py{' --quick' if report['quick'] else ''}` in "
        f"{report['seconds']:.0f} s on {m['cpu_count']} cores, Python {m['python']} ({m['platform']}); load average "
        f"(1 min) before/after: {m['loadavg_before'][0]} / {m['loadavg_after'][0]}."),
        "",
        f"Valid traffic throughout: {s['workers']} clients alternating " + " / ".join(f"“{x}”" for x in s["requests"])
        + f", each with an Idempotency-Key and the retry contract, deadline {s['run_deadline_s']:g} s; every `ankra` "
        f"call takes {s['emulator_latency_ms']} ms more (emulated latency) in the kill experiments, none in the "
        "fuzz ones. Latency after a fuzz: requests one at a time with the background traffic stopped, right "
        "after the last fuzz message; the same measure before the bus fuzz is the baseline.",
        "",
        (f"**Totals: lost {report['totals']['lost']}, duplicated {report['totals']['duplicated']}, "
        f"stuck {report['totals']['stuck']}.** Valid requests over 2 s right after the fuzz: "
        f"{t['after_fuzz_over_2s']} (slowest {t['after_fuzz_max_latency_s']} s). Executor recovery, worst: "
        f"{t['executor_recovery_max_s']} s (target ≤ 15 s)."),
        "",
    ]
    if report.get("earlier_run"):
        e = report["earlier_run"]
        lines += [f"Rows marked † are from an earlier run ({e['date']}, {e['seconds']:.0f} s, load average before/after "
                  f"{e['machine']['loadavg_before'][0]} / {e['machine']['loadavg_after'][0]}"
                  + (f"; it stopped with: {e['error']}" if e.get("error") else "") + ").", ""]
    if report.get("error"):
        lines += [f"**The run stopped early: {report['error']}** The figures below are what it measured.", ""]
    lines += ["| experiment | faults | runs | lost | duplicated | stuck | recovery s (median / max) | latency s (median / max) |",
              "|---|---|---|---|---|---|---|---|"]
    for e in report["experiments"]:
        if e.get("status") != "ran":
            lines.append(f"| {e['experiment']} | {e.get('status')} | | | | | | |")
            continue
        faults = e.get("kills") or e.get("faults") or e.get("fuzz_messages") or e.get("fuzz_requests") or ""
        rec = e.get("recovery_seconds")
        rec_s = f"{rec['median']} / {rec['max']}" if rec and rec.get("max") is not None else "-"
        lat = e.get("latency_s")
        lat_s = f"{lat['median']} / {lat['max']}" if lat else "-"
        mark = " †" if e.get("from_run") else ""
        lines.append(f"| {e['experiment']}{mark} | {faults} | {e['runs']} | {e['lost']} | {e['duplicated']} | {e['stuck']} "
                     f"| {rec_s} | {lat_s} |")
    lines.append("")
    for e in report["experiments"]:
        if e.get("status") != "ran":
            continue
        if e["experiment"] == "fuzz bus":
            lines.append(f"- fuzz bus: {e['published']} of {e['fuzz_messages']} garbage messages stored "
                         f"({', '.join(f'{k} {v}' for k, v in sorted(e['payload_kinds'].items()))}); "
                         f"{e['dead_letters_added']} dead letters; valid latency before it "
                         f"{_fmt(e['before_fuzz_latency_s'])}, right after it {_fmt(e['after_fuzz_latency_s'])}. ACL: admin refused on "
                         f"{e['acl_refusals']['admin']['refused']}/{e['acl_refusals']['admin']['of']} work subjects, "
                         f"integration on {e['acl_refusals']['integration']['refused']}/"
                         f"{e['acl_refusals']['integration']['of']} (allowed: "
                         f"{', '.join(e['acl_refusals']['integration']['allowed']) or 'none'}).")
        if e["experiment"] == "fuzz HTTP":
            lines.append(f"- fuzz HTTP: {e['fuzz_requests']} requests, answers "
                         f"{', '.join(f'{k}: {v}' for k, v in sorted(e['statuses'].items()))}; server errors "
                         f"(5xx other than 503) {e['server_errors']}; after it, valid latency "
                         f"{_fmt(e['after_fuzz_latency_s'])}.")
        if e["experiment"].startswith("kill -9"):
            extra = f", {e['kills_mid_command']} of them while an `ankra` ran" if e.get("kills_mid_command") is not None else ""
            lines.append(f"- {e['experiment']}: {e['kills']} kills{extra}; hermes up restarted it after "
                         f"{_fmt_list(e['restart_seconds'])} s; `hermes status` counts {e['restarts_in_hermes_status']} "
                         f"restarts.")
    lines += [
        "",
        ("Definitions: *lost* = no final event within the deadline; *duplicated* = an order's step the emulator "
        "ran more than once (its call log names each order and step) plus reconcile orders beyond one per "
        "reconcile request; *stuck* = messages pending or unacked on a durable consumer once everything settled; "
        "*recovery* = from the fault until every run in flight at it and a probe sent right after it were "
        "answered. Kills rotate over the services; a service is killed again only after "
        "`hermes_cli.up.STABLE_SECONDS` (30 s) of running, below which hermes up counts a crash loop."),
        "",
    ]
    return "\n".join(lines) + "\n"


def _fmt(d: dict[str, float] | None) -> str:
    return "-" if not d else f"median {d['median']} s, max {d['max']} s (n={d['n']})"


def _fmt_list(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f}–{max(values):.1f}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="the short version (test suite): 1 kill per service, 300 bus and 200 HTTP fuzz, "
                             "1 NATS node kill, 1 failover")
    parser.add_argument("--kills", type=int, default=20, help="kill -9 of each service")
    parser.add_argument("--fuzz-bus", type=int, default=10_000)
    parser.add_argument("--fuzz-http", type=int, default=2_000)
    parser.add_argument("--node-kills", type=int, default=6)
    parser.add_argument("--failovers", type=int, default=4)
    parser.add_argument("--no-cluster", dest="cluster", action="store_false",
                        help="skip the NATS node kill and Redis failover experiments")
    parser.add_argument("--only", default="kills,fuzz-bus,fuzz-http,cluster",
                        help="the experiments to run, of kills, fuzz-bus, fuzz-http, cluster")
    parser.add_argument("--keep-from", type=Path, default=None,
                        help="an earlier chaos.json: the experiments it ran that --only leaves out are carried "
                             "over (marked with that run's date)")
    parser.add_argument("--workers", type=int, default=3, help="clients sending valid requests")
    parser.add_argument("--after-fuzz", type=int, default=20, help="valid requests timed right after each fuzz")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds a valid request may take")
    parser.add_argument("--settle", type=float, default=90.0, help="seconds the durables get to drain")
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds the whole benchmark may take")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.only = {x.strip() for x in args.only.split(",") if x.strip()}
    if args.quick:
        given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:])}
        for flag, attr, value in (("--kills", "kills", 1), ("--fuzz-bus", "fuzz_bus", 300),
                                  ("--fuzz-http", "fuzz_http", 200), ("--node-kills", "node_kills", 1),
                                  ("--failovers", "failovers", 1), ("--after-fuzz", "after_fuzz", 6),
                                  ("--settle", "settle", 45.0)):
            if flag not in given:
                setattr(args, attr, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "chaos.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "chaos.md").write_text(markdown(report))
    print((args.out / "chaos.md").read_text())
    return 0 if report["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
