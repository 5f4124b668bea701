"""How the executor scales: orders per second with 1, 2 and 4 executor processes.

Run: `python bench/executor_scaling.py` (about 6 minutes; `--quick` for a short check).

A NATS and a Redis server of its own (hermes.embedded), the Ankra emulator as `ankra` with 200 ms
of latency on every command, and N executor processes sharing the work queue. For each N it
publishes `per_executor × N` signed read-only orders (`cluster list`) at once and measures the wall
time from the first publish to the last result: orders/s, and efficiency = rate_N / (N × rate_1).
Each configuration runs `repeats` times; the median counts. It also records the CPU the executors
and their `ankra` children used (from /proc, children included once reaped) and the CPU of one
emulator call, because on a small machine that, not the queue, is what limits scaling.

Everything is bounded: every run has a deadline, executors are always stopped, the servers too.
Writes bench/results/executor_scaling.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ankra_emulator
import nats
from hermes import embedded, subjects
from hermes.contracts import ExecutionOrder, ExecutionResult, OrderStep, utcnow
from hermes.signing import ServiceKey, sign_order

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
TARGET = 0.9
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    ankra: str  # "emulator", or "stub": a /bin/sh script that sleeps the same latency
    executors: int
    max_in_flight: int
    orders: int
    seconds: float
    orders_per_second: float
    cpu_seconds: float  # executors + their reaped ankra children
    cpu_ms_per_order: float
    failed: int


def _proc_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


class Interrupted(RuntimeError):
    """The benchmark was told to stop."""


class Bench:
    def __init__(self, work: Path, latency_ms: int) -> None:
        self.work = work
        self.key = ServiceKey.generate("guard")  # the bench signs orders as the guard does
        self.executor_key = ServiceKey.generate("executor").private_text()
        self.token = "ankra_" + secrets.token_hex(20)
        self.state = work / "ankra-state"
        ankra_emulator.init_state(self.state, self.token)
        self.wrapper = ankra_emulator.write_wrapper(work / "bin", self.state)
        (self.state / "faults.json").write_text(json.dumps({"latency_ms": latency_ms}))
        self.latency_ms = latency_ms
        self.nats = embedded.start_nats(work / "nats")
        self.redis = embedded.start_redis(work / "redis", appendonly=False)
        self.runs = 0
        self.stop = asyncio.Event()  # set by SIGINT/SIGTERM or when the overall budget is spent

    def check(self) -> None:
        if self.stop.is_set():
            raise Interrupted("stopped (signal or --budget); executors and servers are being shut down")

    def close(self) -> None:
        self.nats.stop()
        self.redis.stop()

    def stub(self) -> Path:
        """An `ankra` that costs almost no CPU: /bin/sh sleeps the latency and prints a recorded
        `cluster list -o json`. It shows what the queue and the executors do without the emulator's
        Python start-up."""
        path = self.work / "stub-bin" / "ankra"
        if not path.exists():
            path.parent.mkdir(parents=True)
            recorded = self.work / "cluster-list.json"
            with tempfile.TemporaryDirectory() as home:
                out = subprocess.run([str(self.wrapper), "cluster", "list", "-o", "json"], check=True,
                                     capture_output=True, timeout=60,
                                     env={"PATH": os.environ.get("PATH", ""), "ANKRA_API_TOKEN": self.token,
                                          "HOME": home})
            recorded.write_bytes(out.stdout)
            path.write_text(f"#!/bin/sh\nsleep {self.latency_ms / 1000:.3f}\nexec cat {recorded}\n")
            path.chmod(0o755)
        return path

    def _env(self, prefix: str, max_in_flight: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "ANKRA_"))}
        env.update({
            "HERMES_NATS_URL": self.nats.url, "HERMES_REDIS_URL": self.redis.url,
            "HERMES_REDIS_PREFIX": prefix, "HERMES_SERVICE_KEY": self.executor_key,
            "HERMES_TRUSTED_KEYS": json.dumps({"guard": self.key.public_text}),
            "HERMES_ANKRA_BIN": str(self.wrapper), "ANKRA_API_TOKEN": self.token,
            "HERMES_EXEC_MAX_IN_FLIGHT": str(max_in_flight),
            "HERMES_LOG_LEVEL": "INFO",  # readiness shows as "service started"; each step logs one line
        })
        return env

    async def _ready(self, procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            for proc, log in zip(procs, logs, strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(f"executor exited with {proc.returncode}: {log.read_text()[-2000:]}")
            if all('"service started"' in log.read_text(errors="replace") for log in logs):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"executors not ready within {timeout}s")

    async def run(self, ankra: str, executors: int, max_in_flight: int, orders: int,
                  deadline_s: float) -> Run:
        self.runs += 1
        prefix = f"bench{self.runs}"
        env = self._env(prefix, max_in_flight)
        if ankra == "stub":
            env["HERMES_ANKRA_BIN"] = str(self.stub())
        logs = [self.work / f"run{self.runs}-executor{i}.log" for i in range(executors)]
        procs: list[subprocess.Popen[bytes]] = []
        nc = await nats.connect(self.nats.url)
        try:
            for log in logs:
                with open(log, "wb") as out:
                    procs.append(subprocess.Popen([sys.executable, "-m", "hermes_executor"], env=env,
                                                  stdin=subprocess.DEVNULL, stdout=out, stderr=out))
            await self._ready(procs, logs, timeout=90)
            js = nc.jetstream()
            results = await js.pull_subscribe(subjects.EXEC_RESULT, durable="bench-results",
                                              stream=subjects.RESULT_STREAM.name)
            cpu_before = sum(_proc_cpu(p.pid) for p in procs)
            batch = [self._order(i) for i in range(orders)]
            pending = {o.id for o in batch}
            failed = 0
            started = time.monotonic()
            for order in batch:
                await js.publish(subjects.EXEC_ORDER, order.model_dump_json().encode(),
                                 headers={"Nats-Msg-Id": order.id})
            stop_at = started + deadline_s
            while pending:
                self.check()
                left = stop_at - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{len(pending)} of {orders} results missing after {deadline_s}s")
                try:
                    msgs = await results.fetch(50, timeout=min(left, 2.0))
                except (nats.errors.TimeoutError, TimeoutError):
                    continue
                for msg in msgs:
                    result = ExecutionResult.model_validate_json(msg.data)
                    if result.order_id in pending:
                        pending.discard(result.order_id)
                        failed += result.outcome != "ok"
                    await msg.ack()
            seconds = time.monotonic() - started
            cpu = sum(_proc_cpu(p.pid) for p in procs) - cpu_before
            return Run(ankra, executors, max_in_flight, orders, round(seconds, 3), round(orders / seconds, 3),
                       round(cpu, 2), round(cpu / orders * 1000, 1), failed)
        finally:
            await nc.close()
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def _order(self, i: int) -> ExecutionOrder:
        step = OrderStep(step_id="s1", argv=["cluster", "list"], command="cluster list", risk="read")
        order = ExecutionOrder(conversation_id="bench", correlation_id=f"bench-{i}", plan_id=f"bench-{i}",
                               steps=[step], requested_by="bench",
                               expires_at=utcnow() + timedelta(minutes=30))
        return sign_order(order, self.key)

    def emulator_call_cost(self, calls: int = 5) -> dict[str, float]:
        """CPU and wall time of one `ankra cluster list -o json` (latency off): the per-order floor."""
        state = self.work / "cost-state"
        ankra_emulator.init_state(state, self.token)
        wrapper = ankra_emulator.write_wrapper(self.work / "cost-bin", state)
        env = {"PATH": os.environ.get("PATH", ""), "ANKRA_API_TOKEN": self.token, "HOME": str(self.work)}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        for _ in range(calls):
            subprocess.run([str(wrapper), "cluster", "list", "-o", "json"], env=env, check=True,
                           stdout=subprocess.DEVNULL, timeout=60)
        wall = (time.monotonic() - started) / calls
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / calls
        return {"cpu_ms": round(cpu * 1000, 1), "wall_ms": round(wall * 1000, 1)}


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.orders_per_second)[len(runs) // 2]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--per-executor", type=int, default=40,
                        help="orders per executor (per in-flight slot)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--counts", default="1,2,4")
    parser.add_argument("--in-flight-variants", default="2,4",
                        help="also run ONE executor with HERMES_EXEC_MAX_IN_FLIGHT of these values")
    parser.add_argument("--no-stub", action="store_true", help="skip the runs with the low-CPU stub ankra")
    parser.add_argument("--quick", action="store_true", help="10 orders per executor, 1 repeat")
    parser.add_argument("--deadline", type=float, default=240.0, help="seconds one run may take")
    parser.add_argument("--budget", type=float, default=1500.0, help="seconds the whole benchmark may take")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the .md from the existing .json, measuring nothing")
    args = parser.parse_args()
    if args.render_only:
        report = json.loads((args.out / "executor_scaling.json").read_text())
        (args.out / "executor_scaling.md").write_text(_markdown(report))
        print((args.out / "executor_scaling.md").read_text())
        return 0
    if args.quick:
        args.per_executor, args.repeats = 10, 1
    counts = [int(x) for x in args.counts.split(",") if x]
    variants = [int(x) for x in args.in_flight_variants.split(",") if x]

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hermes-bench-") as tmp:
        bench = Bench(Path(tmp), args.latency_ms)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, bench.stop.set)
        loop.call_later(args.budget, bench.stop.set)
        try:
            cost = bench.emulator_call_cost()
            print(f"one emulator call, latency off: {cost}", flush=True)
            configs = [("emulator", n, 1) for n in counts] + [("emulator", 1, m) for m in variants]
            if not args.no_stub:
                configs += [("stub", n, 1) for n in counts]
            runs: dict[str, list[Run]] = {}
            for rep in range(args.repeats):
                for kind, n, m in configs:
                    bench.check()
                    run = await bench.run(kind, n, m, args.per_executor * n * m, args.deadline)
                    runs.setdefault(f"{kind}-{n}x{m}", []).append(run)
                    print(f"[{rep + 1}/{args.repeats}] {kind}: {n} executor(s) × {m} in flight: "
                          f"{run.orders} orders "
                          f"in {run.seconds:.2f}s = {run.orders_per_second:.2f}/s, "
                          f"{run.cpu_ms_per_order:.0f} ms CPU/order, {run.failed} failed", flush=True)
        finally:
            bench.close()
    load_after = os.getloadavg()

    base = {kind: _median_run(runs[f"{kind}-{counts[0]}x1"]).orders_per_second / counts[0]
            for kind in ("emulator", "stub") if f"{kind}-{counts[0]}x1" in runs}
    rows = []
    for group in runs.values():
        med = _median_run(group)
        slots = med.executors * med.max_in_flight
        one = base[med.ankra]
        rows.append({
            "ankra": med.ankra, "executors": med.executors, "max_in_flight": med.max_in_flight,
            "orders": med.orders,
            "median_orders_per_second": med.orders_per_second,
            "all_orders_per_second": [r.orders_per_second for r in group],
            "efficiency": round(med.orders_per_second / (slots * one), 3),
            "meets_target": med.orders_per_second >= TARGET * slots * one,
            "cpu_ms_per_order": med.cpu_ms_per_order,
            "cpu_cores_busy": round(med.cpu_seconds / med.seconds, 2),
            "failed": sum(r.failed for r in group),
        })
    report = {
        "benchmark": "executor_scaling",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after]},
        "setup": {"latency_ms": args.latency_ms, "orders_per_slot": args.per_executor,
                  "repeats": args.repeats,
                  "command": "ankra cluster list (read-only): the emulator through its wrapper, or the stub",
                  "measured": "wall time from the first publish to the last result"},
        "target": f"N executors >= {TARGET} x N x one executor",
        "emulator_call_without_latency": cost,
        "one_executor_orders_per_second": {k: round(v, 3) for k, v in base.items()},
        "results": rows,
        "runs": {k: [asdict(r) for r in v] for k, v in runs.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "executor_scaling.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "executor_scaling.md").write_text(_markdown(report))
    print((args.out / "executor_scaling.md").read_text())
    return 0


def _markdown(report: dict) -> str:
    m, s = report["machine"], report["setup"]
    base = report["one_executor_orders_per_second"]
    cost = report["emulator_call_without_latency"]
    lines = [
        "# Executor scaling",
        "",
        f"Measured {report['date']} by `python bench/executor_scaling.py` on {m['cpu_count']} cores, "
        f"Python {m['python']} ({m['platform']}); load average (1 min) before/after: "
        f"{m['loadavg_before'][0]} / {m['loadavg_after'][0]}.",
        "",
        f"Every `ankra` call takes {s['latency_ms']} ms of emulated latency; "
        f"{s['orders_per_slot']} read-only orders (`cluster list`) per executor slot are published at "
        "once, and the wall time runs from the first publish to the last result. "
        f"Median of {s['repeats']} run(s). Target: {report['target']}.",
        "",
        "| ankra | executors | in flight each | orders | orders/s (median) | all runs | efficiency "
        "| target met | CPU ms/order | cores busy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        runs = ", ".join(f"{x:.2f}" for x in r["all_orders_per_second"])
        lines.append(
            f"| {r['ankra']} | {r['executors']} | {r['max_in_flight']} | {r['orders']} "
            f"| {r['median_orders_per_second']:.2f} | {runs} | {r['efficiency']:.2f} "
            f"| {'yes' if r['meets_target'] else 'no'} | {r['cpu_ms_per_order']:.0f} "
            f"| {r['cpu_cores_busy']:.2f} |")
    lines += [
        "",
        "Efficiency = orders/s ÷ (slots × one executor's orders/s with the same `ankra`: "
        + ", ".join(f"{k} {v:.2f}/s" for k, v in base.items())
        + "); slots = executors × orders in flight each. CPU ms/order counts the executors and their "
        "`ankra` children (from /proc); cores busy = that CPU ÷ wall time.",
        "",
        "- **emulator**: the Ankra emulator through its wrapper. One call with no latency costs "
        f"{cost['cpu_ms']:.0f} ms CPU ({cost['wall_ms']:.0f} ms wall): it starts a Python interpreter. "
        f"On {m['cpu_count']} cores that caps the whole machine at about "
        f"{m['cpu_count'] * 1000 / max(cost['cpu_ms'], 1):.0f} calls/s however many executors run, "
        "so the emulator rows measure this machine's CPU as much as the executor.",
        "- **stub**: a `/bin/sh` `ankra` that sleeps the same latency and prints a recorded answer, "
        "a few ms of CPU: what the work queue and the executors themselves scale to.",
        "",
    ]
    short = [r for r in report["results"] if not r["meets_target"]]
    if short:
        lines += ["Where the target is missed, the CPU it would take:", ""]
        for r in short:
            slots = r["executors"] * r["max_in_flight"]
            need_rate = TARGET * slots * base[r["ankra"]]
            need_cores = need_rate * r["cpu_ms_per_order"] / 1000
            lines.append(
                f"- {r['ankra']}, {r['executors']} executor(s) × {r['max_in_flight']}: {TARGET} × {slots} × "
                f"{base[r['ankra']]:.2f}/s = {need_rate:.2f} orders/s at {r['cpu_ms_per_order']:.0f} ms CPU "
                f"each needs {need_cores:.2f} cores for Hermes's processes alone; they got "
                f"{r['cpu_cores_busy']:.2f} of the {m['cpu_count']}, with the machine's load average at "
                f"{max(m['loadavg_before'][0], m['loadavg_after'][0])} from other work.")
        lines.append("")
    if "stub" in base and all(r["meets_target"] for r in report["results"] if r["ankra"] == "stub"):
        lines += ["With a command that does not burn CPU, every executor count meets the target: the queue "
                  "and the executors scale; what falls short is CPU: the emulator's per-call Python start-up "
                  f"on a {m['cpu_count']}-core machine shared with other work.", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except Interrupted as err:
        print(f"executor_scaling: {err}", file=sys.stderr)
        sys.exit(130)
