"""The planner eval: how well an engine reads what real people type.

    .venv/bin/python bench/planner_eval.py [--engine rules|anthropic|openai …] [--cases bench/planner_eval/cases.yaml]
                                           [--out bench/results/planner_eval.md]

Every phrasing of bench/planner_eval/cases.yaml is given to the rules engine (`interpret`) with its context;
its decision is judged against the case's expectation (decision type, argv lists, continuation, cluster,
answer substrings, profile, approval). The score and every failing case go to --out as Markdown; the exit
code is 1 when the score is under --min (default 0.95) or a "must" case fails.

The judging is engine-neutral (`judge(decision, case)`), so the same cases drive the model engines too:
`--engine anthropic` / `--engine openai` runs the real engine (real SDK) against the local fake API of
tests/fakes, which answers each case's request with the response recorded for it in
bench/planner_eval/recordings/<provider>.jsonl (written by bench/planner_eval/record.py from the case's
expectation and the command catalog of the time). A change to a tool's name, a parameter's name or type,
or to how a tool call becomes an argv list makes those replayed responses fail. Only cases whose
expectation a model can express have a recording (`unrecordable` says why the others have none). Several
`--engine` options write one report with a section per engine; `--engine rules` alone (the default)
writes the rules report exactly as before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Self

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for extra in (ROOT / "libs", ROOT / "services"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import yaml
from hermes.approval_answers import ApprovalAnswer
from hermes_planner.decisions import (
    Answer,
    ClusterFact,
    Context,
    Decision,
    DesignGoal,
    PendingRequest,
    Propose,
    ResumeModel,
    ReviseDesign,
    SwitchProfile,
)

CASES = HERE / "planner_eval" / "cases.yaml"
OUT = HERE / "results" / "planner_eval.md"
RECORDINGS = HERE / "planner_eval" / "recordings"
ENGINES = ("rules", "anthropic", "openai")
MODEL_ENGINES = ("anthropic", "openai")
TYPES: dict[str, type] = {"Propose": Propose, "Answer": Answer, "DesignGoal": DesignGoal,
                          "ReviseDesign": ReviseDesign, "SwitchProfile": SwitchProfile,
                          "ApprovalAnswer": ApprovalAnswer}
_EXPECT_KEYS = {"decision", "argv", "then", "cluster", "contains", "profile", "approve", "full_goal", "pending",
                "intent"}


@dataclass(frozen=True)
class Case:
    text: str
    ctx: str
    context: Context
    expect: dict[str, Any]
    must: bool = False
    group: int = 0


@dataclass
class Outcome:
    case: Case
    ok: bool
    why: str = ""
    got: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(o.ok for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def must_failures(self) -> list[Outcome]:
        return [o for o in self.failures if o.case.must]


def _context(spec: dict[str, Any], contexts: dict[str, dict[str, Any]]) -> Context:
    base = _context(contexts[spec["like"]], contexts) if spec.get("like") else Context()
    changes: dict[str, Any] = {}
    if "clusters" in spec:
        changes["clusters"] = tuple(ClusterFact(c["name"], c.get("provider"), c.get("id")) for c in spec["clusters"])
    if "profiles" in spec:
        changes["profiles"] = tuple(spec["profiles"])
    for key in ("active_profile", "last_cluster", "last_request", "has_design"):
        if key in spec:
            changes[key] = spec[key]
    if "pending_approval_ids" in spec:
        changes["pending_approval_ids"] = tuple(spec["pending_approval_ids"])
    if "pending_request" in spec:
        changes["pending_request"] = PendingRequest.model_validate(spec["pending_request"])
    return replace(base, **changes)


def load(path: Path = CASES) -> list[Case]:
    """The cases of a case file, one per phrasing."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    contexts = {name: _context(spec, data["contexts"]) for name, spec in data["contexts"].items()}
    cases: list[Case] = []
    for n, group in enumerate(data["groups"]):
        unknown = set(group) - _EXPECT_KEYS - {"texts", "ctx", "must"}
        if unknown:
            raise ValueError(f"group {n}: unknown keys {sorted(unknown)}")
        if group["decision"] not in TYPES:
            raise ValueError(f"group {n}: unknown decision {group['decision']!r}")
        expect = {k: v for k, v in group.items() if k in _EXPECT_KEYS}
        texts = group["texts"]
        if isinstance(texts, str):  # one phrasing a line
            texts = [line.strip() for line in texts.splitlines() if line.strip()]
        for text in texts:
            cases.append(Case(str(text), group["ctx"], contexts[group["ctx"]], expect, bool(group.get("must")), n))
    return cases


def _text_of(decision: Decision) -> str:
    if isinstance(decision, Answer):
        return decision.text
    if isinstance(decision, Propose):
        return decision.summary
    if isinstance(decision, (DesignGoal,)):
        return decision.goal
    if isinstance(decision, ReviseDesign):
        return decision.instruction
    return ""


def describe(decision: Decision) -> str:
    if isinstance(decision, Propose):
        then = f" then {decision.then.intent}" if decision.then is not None and hasattr(decision.then, "intent") else ""
        return f"Propose {decision.intent} {[s.argv for s in decision.steps]}{then}"
    if isinstance(decision, Answer):
        return f"Answer: {decision.text.splitlines()[0][:140] if decision.text else ''}"
    return repr(decision)[:160]


def judge(decision: Decision, case: Case) -> tuple[bool, str]:
    """Whether a decision is what the case expects, and if not, why."""
    e = case.expect
    want = TYPES[e["decision"]]
    if not isinstance(decision, want):
        return False, f"expected {e['decision']}, got {type(decision).__name__}"
    if "argv" in e:
        got = [s.argv for s in decision.steps]  # type: ignore[union-attr]
        if got != [[str(a) for a in argv] for argv in e["argv"]]:
            return False, f"argv {got} != {e['argv']}"
    if "intent" in e and getattr(decision, "intent", None) != e["intent"]:
        return False, f"intent {getattr(decision, 'intent', None)} != {e['intent']}"
    if "then" in e:
        then = getattr(decision, "then", None)
        if getattr(then, "intent", None) != e["then"]:
            return False, f"continuation {getattr(then, 'intent', None)} != {e['then']}"
    if "cluster" in e and getattr(decision, "cluster", None) != e["cluster"]:
        return False, f"cluster {getattr(decision, 'cluster', None)} != {e['cluster']}"
    for fragment in e.get("contains", []):
        if fragment not in _text_of(decision):
            return False, f"missing “{fragment}”"
    if "profile" in e and getattr(decision, "name", None) != e["profile"]:
        return False, f"profile {getattr(decision, 'name', None)} != {e['profile']}"
    if "approve" in e and getattr(decision, "decision", None) != e["approve"]:
        return False, f"approval {getattr(decision, 'decision', None)} != {e['approve']}"
    if e.get("full_goal") and getattr(decision, "goal", None) != case.text.strip():
        return False, "the goal is not the whole message"
    if "pending" in e:
        pending = getattr(decision, "pending", None)
        if pending is None or pending.missing != e["pending"]:
            return False, f"pending {getattr(pending, 'missing', None)} != {e['pending']}"
    return True, ""


def evaluate(cases: list[Case], engine: Callable[[str, Context], Decision] | None = None) -> Report:
    if engine is None:
        from hermes_planner.engines.rules import interpret as engine
    report = Report()
    for case in cases:
        try:
            decision = engine(case.text, case.context)
        except Exception as exc:
            report.outcomes.append(Outcome(case, False, f"raised {type(exc).__name__}: {exc}", ""))
            continue
        ok, why = judge(decision, case)
        report.outcomes.append(Outcome(case, ok, why, describe(decision)))
    return report


# -- the model engines, against recorded responses ------------------------------------------------------

# Conversation state a model engine is not sent: `next` gives the model the text, the known clusters (names
# and providers) and the history; the profiles are its switch tool's choices. Nothing else.
_UNSENT_STATE = ("active_profile", "last_cluster", "last_request", "has_design", "pending_approval_ids",
                 "pending_request")


def sent_context(context: Context) -> Context:
    """What of a context reaches a model engine's request (clusters, profiles, history)."""
    return Context(clusters=context.clusters, profiles=context.profiles, history=context.history,
                   channel=context.channel)


def model_case(case: Case) -> Case:
    """The case as a model engine can meet it. `then` names the rules engine's continuation; a model engine's
    plan always resumes the model with the output (`ResumeModel`), so what is judged is the read itself."""
    if "then" not in case.expect:
        return case
    return replace(case, expect={k: v for k, v in case.expect.items() if k != "then"})


def unrecordable(case: Case) -> str | None:
    """Why a model cannot express the case's expectation through its tools, or None when it can."""
    e = case.expect
    kind = e["decision"]
    if kind == "ApprovalAnswer":
        return "an approval answer: the planner reads it before any engine; no model tool"
    if "intent" in e:
        return "names a rules-engine intent"
    if "pending" in e:
        return "a question that keeps a pending request: a model answer carries none"
    if kind == "Propose" and "argv" not in e:
        return "names no command"
    if kind == "DesignGoal" and "cluster" not in e:
        return "a design without a cluster: the design tool needs one"
    if any(getattr(case.context, key) not in (None, False, ()) for key in _UNSENT_STATE):
        from hermes_planner.engines.rules import interpret

        ok, _ = judge(interpret(case.text, sent_context(case.context)), model_case(case))
        if not ok:
            return "depends on conversation state the engine is not sent (last cluster, pending question, design, profile)"
    return None


def recording_path(provider: str, directory: Path = RECORDINGS) -> Path:
    return directory / f"{provider}.jsonl"


def load_recorded(provider: str, directory: Path = RECORDINGS) -> dict[tuple[str, str], dict[str, Any]]:
    """The recorded responses of a provider by (context name, phrasing)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    path = recording_path(provider, directory)
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        key = (item["ctx"], item["text"])
        if key in out:
            raise ValueError(f"{path}:{n}: a second recording for {key}")
        out[key] = item
    return out


class _Quiet:
    """A logger that keeps nothing: one line per replayed model call is noise here; failures are in the report."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def strings_of(value: Any) -> list[str]:
    """Every string inside a JSON value (e.g. the texts of a request's messages)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_of(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_of(v)]
    return []


class Replay:
    """One provider's engine (real SDK) against one local fake API that answers each case's request with the
    response recorded for that case: `async with Replay("anthropic", recorded) as replay: await replay.decide(case)`.

    A request that is not the case's (the person's text is missing), or a second request of the same case
    (the engine sent a tool error back), gets no recording: the fake answers 500 and the engine fails."""

    API_KEY: ClassVar[dict[str, str]] = {"anthropic": "sk-ant-api03-eval-key-" + "E" * 28, "openai": "sk-proj-eval-key-" + "E" * 32}

    def __init__(self, provider: str, recorded: dict[tuple[str, str], dict[str, Any]],
                 profiles: tuple[str, ...] = ("default",)) -> None:
        if provider not in MODEL_ENGINES:
            raise ValueError(f"no model engine {provider!r}")
        self.provider = provider
        self.recorded = recorded
        self.profiles = profiles
        self.fake: Any = None
        self.engine: Any = None
        self._answer: dict[str, Any] | None = None
        self._text = ""

    async def __aenter__(self) -> Self:
        if str(ROOT) not in sys.path:
            sys.path.append(str(ROOT))  # tests.fakes
        from hermes.profiles import DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL

        key = self.API_KEY[self.provider]
        options: dict[str, Any] = {"max_retries": 0, "timeout": 10.0, "profiles": self.profiles, "log": _Quiet()}
        if self.provider == "anthropic":
            from hermes_planner.engines.anthropic import AnthropicEngine

            from tests.fakes.anthropic_server import FakeAnthropic

            self.fake = await FakeAnthropic(key).__aenter__()
            self.engine = AnthropicEngine(key, DEFAULT_ANTHROPIC_MODEL, base_url=self.fake.base_url, **options)
        else:
            from hermes_planner.engines.openai import OpenAIEngine

            from tests.fakes.openai_server import FakeOpenAI

            self.fake = await FakeOpenAI(key).__aenter__()
            self.engine = OpenAIEngine(key, DEFAULT_OPENAI_MODEL, base_url=self.fake.base_url, **options)
        self.fake.responder = self._respond
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.engine is not None:
            await self.engine.close()
        if self.fake is not None:
            await self.fake.__aexit__(*exc)

    def _respond(self, body: dict[str, Any]) -> Any:
        from tests.fakes.llm_server import recorded

        answer, self._answer = self._answer, None  # one answer per case
        if answer is None or not any(self._text in s for s in strings_of(body.get("messages"))):
            return None
        return recorded(answer)

    async def decide(self, case: Case, context: Context | None = None) -> Decision:
        """The engine's decision for a case, its request answered with the case's recording."""
        item = self.recorded.get((case.ctx, case.text))
        if item is None:
            raise LookupError(f"no {self.provider} recording for {case.text!r} ({case.ctx})")
        self._answer, self._text = item["response"], case.text.strip()
        try:
            return await self.engine.next(case.text, context if context is not None else case.context)
        finally:
            self._answer = None


async def evaluate_replay(provider: str, cases: list[Case], directory: Path = RECORDINGS) -> tuple[Report, list[Case]]:
    """The model engine's report on the cases that have a recording, and the cases without one."""
    recorded = load_recorded(provider, directory)
    chosen = [c for c in cases if (c.ctx, c.text) in recorded]
    profiles = tuple(dict.fromkeys(p for c in chosen for p in c.context.profiles)) or ("default",)
    report = Report()
    async with Replay(provider, recorded, profiles) as replay:
        for case in chosen:
            try:
                decision = await replay.decide(case)
            except Exception as exc:
                report.outcomes.append(Outcome(case, False, f"raised {type(exc).__name__}: {exc}", ""))
                continue
            ok, why = judge(decision, model_case(case))
            if ok and isinstance(decision, Propose) and not isinstance(decision.then, ResumeModel):
                ok, why = False, "the plan does not resume the model"
            report.outcomes.append(Outcome(case, ok, why, describe(decision)))
    return report, [c for c in cases if (c.ctx, c.text) not in recorded]


def markdown(report: Report, engine_name: str = "rules") -> str:
    total = len(report.outcomes)
    passed = total - len(report.failures)
    musts = [o for o in report.outcomes if o.case.must]
    lines = [
        "# Planner eval",
        "",
        f"Engine: {engine_name}. Cases: bench/planner_eval/cases.yaml. Run: `.venv/bin/python bench/planner_eval.py`.",
        "",
        "| cases | passed | score | must cases | must passed |",
        "|---|---|---|---|---|",
        f"| {total} | {passed} | {report.score:.3f} | {len(musts)} | {len(musts) - len(report.must_failures)} |",
        "",
    ]
    if report.failures:
        lines += ["## Failing cases", "", "| must | context | phrasing | why | got |", "|---|---|---|---|---|"]
        for o in report.failures:
            text = o.case.text.replace("|", "\\|").encode("unicode_escape").decode("ascii") if not o.case.text.isprintable() \
                else o.case.text.replace("|", "\\|")
            lines.append(f"| {'yes' if o.case.must else ''} | {o.case.ctx} | {text} | {o.why.replace('|', '/')} | "
                         f"{o.got.replace('|', '/')} |")
    else:
        lines.append("Every case passes.")
    return "\n".join(lines) + "\n"


def _engines(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENGINES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"engines are {', '.join(ENGINES)}, not {value!r}")
    return names


def model_markdown(reports: dict[str, tuple[Report, list[Case]]], rules: Report | None) -> str:
    """One report for several engines: a table of scores, then each engine's failing cases."""
    lines = ["# Planner eval", "",
             ("Cases: bench/planner_eval/cases.yaml. Run: `.venv/bin/python bench/planner_eval.py "
              f"--engine {','.join((['rules'] if rules is not None else []) + list(reports))}`."), ""]
    if reports:
        lines += [
            ("The model engines (real SDK, local fake API) are judged on the cases whose expectation a model can "
            "express through its tools, each request answered with the response recorded for it in "
            "bench/planner_eval/recordings/ (written by bench/planner_eval/record.py from the expectation and the "
            "command catalog; they are not a live model's answers, so they test the engine's tools, rails and "
            "wire format, not a model's judgement). A case whose expectation names a continuation (`then`) is "
            "judged on its read; a model engine's plan always resumes the model."), ""]
    lines += ["| engine | cases | passed | score | must cases | must passed | not recorded |",
              "|---|---|---|---|---|---|---|"]
    rows: list[tuple[str, Report, list[Case] | None]] = []
    if rules is not None:
        rows.append(("rules", rules, None))
    rows += [(name, report, skipped) for name, (report, skipped) in reports.items()]
    for name, report, skipped in rows:
        musts = [o for o in report.outcomes if o.case.must]
        total = len(report.outcomes)
        lines.append(f"| {name} | {total} | {total - len(report.failures)} | {report.score:.3f} | {len(musts)} | "
                     f"{len(musts) - len(report.must_failures)} | {'' if skipped is None else len(skipped)} |")
    lines.append("")
    for name, (report, skipped) in reports.items():
        reasons: dict[str, int] = {}
        for case in skipped:
            why = unrecordable(case) or "no recording (run bench/planner_eval/record.py)"
            reasons[why] = reasons.get(why, 0) + 1
        if reasons and name == next(iter(reports)):
            lines += ["## Cases without a recording", "", "| why | cases |", "|---|---|"]
            lines += [f"| {why} | {n} |" for why, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
            lines.append("")
    for name, report, _ in rows:
        lines += [f"## {name}: failing cases", ""]
        if not report.failures:
            lines += ["Every case passes.", ""]
            continue
        body = markdown(Report(report.failures), name)
        lines += body[body.index("| must | context |"):].splitlines() + [""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", type=_engines, action="append",
                        help="rules, anthropic or openai (recorded responses); repeat or separate by commas")
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--recordings", type=Path, default=RECORDINGS)
    parser.add_argument("--min", type=float, default=0.95)
    args = parser.parse_args(argv)
    engines = list(dict.fromkeys(n for group in (args.engine or [["rules"]]) for n in group))
    cases = load(args.cases)
    rules = evaluate(cases) if "rules" in engines else None
    reports = {name: asyncio.run(evaluate_replay(name, cases, args.recordings))
               for name in engines if name in MODEL_ENGINES}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = markdown(rules) if rules is not None and not reports else model_markdown(reports, rules)
    args.out.write_text(text, encoding="utf-8")
    failed = False
    for name, report in ([("rules", rules)] if rules is not None else []) + [(n, r) for n, (r, _) in reports.items()]:
        assert report is not None
        label = "" if engines == ["rules"] else f" ({name})"
        print(f"planner eval{label}: {len(report.outcomes) - len(report.failures)}/{len(report.outcomes)} "
              f"= {report.score:.3f}; must failures: {len(report.must_failures)}; written to {args.out}")
        failed |= report.score < args.min or bool(report.must_failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
