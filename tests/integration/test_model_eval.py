"""The planner eval drives the model engines against recorded model responses.

Every case of bench/planner_eval/cases.yaml whose expectation a model can express has one recorded response
per provider (bench/planner_eval/recordings/, written by bench/planner_eval/record.py from the expectation and
the command catalog). Each engine — the real `anthropic` / `openai` SDK against the local fake API — gets
every such case; the fake answers the case's request with its recording, and the decision is judged with the
eval's own `judge`. The score must be ≥ 0.95 and every recorded "must" case must pass. Each request must carry
the person's text and no secret of the conversation.

The recordings pin the tools: a renamed tool, a renamed parameter, a parameter of another type, or a change in
how a tool call becomes argv makes the replayed cases fail — the mutation tests below make each such change
and check that exactly the cases it touches fail.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hermes.catalog import ArgKind
from hermes_planner.decisions import HistoryLine, Propose, ResumeModel
from hermes_planner.engines import tools as llm_tools

_PATH = Path(__file__).resolve().parents[2] / "bench" / "planner_eval.py"
if "planner_eval" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("planner_eval", _PATH)
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["planner_eval"] = _module
    _spec.loader.exec_module(_module)
planner_eval: Any = sys.modules["planner_eval"]

pytestmark = pytest.mark.timeout(120)

PROVIDERS = ("anthropic", "openai")
CASES = planner_eval.load()
RECORDED = {p: planner_eval.load_recorded(p) for p in PROVIDERS}
# A secret said earlier in the conversation: it must never reach a model API.
TOKEN = "ankra_" + "Zq7" * 10
HISTORY = (HistoryLine("user", f"our CI token is {TOKEN}, keep it safe"),
           HistoryLine("hermes", "I will not repeat secrets. What can I do for you?"))


def recorded_cases(provider: str) -> list[Any]:
    return [c for c in CASES if (c.ctx, c.text) in RECORDED[provider]]


def profiles() -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for c in CASES for p in c.context.profiles))


def calls_of(provider: str, case: Any) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls a case's recording makes, (name, input), whichever the wire format."""
    body = RECORDED[provider][(case.ctx, case.text)]["response"]
    if provider == "anthropic":
        return [(b["name"], b["input"]) for b in body["content"] if b["type"] == "tool_use"]
    return [(c["function"]["name"], json.loads(c["function"]["arguments"]))
            for c in body["choices"][0]["message"].get("tool_calls") or []]


async def run(replay: Any, cases: list[Any]) -> tuple[list[tuple[Any, bool, str]], list[str]]:
    """Each case through the engine: (case, passed, why) and the problems of its requests."""
    outcomes: list[tuple[Any, bool, str]] = []
    problems: list[str] = []
    for case in cases:
        seen = len(replay.fake.requests)
        decision = await replay.decide(case, replace(case.context, history=HISTORY))
        ok, why = planner_eval.judge(decision, planner_eval.model_case(case))
        if ok and isinstance(decision, Propose) and not isinstance(decision.then, ResumeModel):
            ok, why = False, "the plan does not resume the model"
        outcomes.append((case, ok, why))
        first = replay.fake.requests[seen]["body"]
        texts = planner_eval.strings_of(first.get("messages"))
        if not any(case.text.strip() in t for t in texts):
            problems.append(f"{case.text!r}: the person's text is not in the request")
        raw = json.dumps(first, ensure_ascii=False)
        if TOKEN in raw or "[REDACTED:ankra-token]" not in raw:
            problems.append(f"{case.text!r}: the earlier turn's token was not redacted")
    return outcomes, problems


@pytest.fixture(scope="module", params=PROVIDERS)
async def replay(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    async with planner_eval.Replay(request.param, RECORDED[request.param], profiles()) as r:
        yield r


# -- the recordings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_case_a_model_can_express_has_a_recording(provider: str) -> None:
    expressible = {(c.ctx, c.text) for c in CASES if planner_eval.unrecordable(c) is None}
    assert set(RECORDED[provider]) == expressible, "re-record with bench/planner_eval/record.py"
    assert len(expressible) >= 150 and sum(c.must for c in recorded_cases(provider)) >= 50
    kinds = {c.expect["decision"] for c in recorded_cases(provider)}
    assert kinds >= {"Propose", "Answer", "DesignGoal", "SwitchProfile"}
    # Every kind of model output is exercised: several commands at once, plain text, the design, switch and ask tools.
    names = {name for c in recorded_cases(provider) for name, _ in calls_of(provider, c)}
    assert {llm_tools.DESIGN_TOOL, llm_tools.SWITCH_TOOL, llm_tools.ASK_TOOL} <= names
    assert any(len(calls_of(provider, c)) > 1 for c in recorded_cases(provider))
    assert any(not calls_of(provider, c) for c in recorded_cases(provider))


def test_the_recordings_are_in_each_providers_wire_format() -> None:
    for (ctx, text), item in RECORDED["anthropic"].items():
        body = item["response"]
        assert body["type"] == "message" and body["role"] == "assistant", (ctx, text)
        assert body["stop_reason"] == ("tool_use" if any(b["type"] == "tool_use" for b in body["content"])
                                       else "end_turn")
    for (ctx, text), item in RECORDED["openai"].items():
        body = item["response"]
        assert body["object"] == "chat.completion" and len(body["choices"]) == 1, (ctx, text)
        choice = body["choices"][0]
        assert choice["finish_reason"] == ("tool_calls" if choice["message"].get("tool_calls") else "stop")
        assert all(isinstance(c["function"]["arguments"], str) for c in choice["message"].get("tool_calls") or [])
    # The two providers say the same thing.
    assert RECORDED["anthropic"].keys() == RECORDED["openai"].keys()
    for case in recorded_cases("anthropic"):
        assert calls_of("anthropic", case) == calls_of("openai", case), case.text


# -- the engines against them -------------------------------------------------------------------------------


async def test_the_engine_meets_the_eval_on_recorded_responses(replay: Any) -> None:
    cases = recorded_cases(replay.provider)
    outcomes, problems = await run(replay, cases)
    failing = [f"{c.text!r} ({c.ctx}): {why}" for c, ok, why in outcomes if not ok]
    score = sum(ok for _, ok, _ in outcomes) / len(outcomes)
    assert score >= 0.95, "\n".join(failing)
    assert [f"{c.text!r} ({c.ctx}): {why}" for c, ok, why in outcomes if c.must and not ok] == []
    # The recordings say what each expectation asks for, so below the bar is not the only regression: a case
    # that fails means the tools or the engine changed (re-record with record.py only when that was meant).
    assert failing == []
    assert problems == []
    assert replay.fake.problems == [], "the engine sent a request the real API would refuse"
    assert len(replay.fake.requests) >= len(cases)
    key = planner_eval.Replay.API_KEY[replay.provider]
    assert key not in replay.fake.raw_requests()  # the key travels in the auth header only


# -- changes the recordings catch ------------------------------------------------------------------------


def _rename_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llm_tools, "tool_name", lambda spec: llm_tools.TOOL_PREFIX + "_".join(spec.path))


def _patched_fields(monkeypatch: pytest.MonkeyPatch, change: Callable[[Any], Any]) -> None:
    original = llm_tools._fields
    monkeypatch.setattr(llm_tools, "_fields", lambda spec: tuple(change(f) for f in original(spec)))


def _rename_cluster_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    _patched_fields(monkeypatch, lambda f: replace(f, prop="cluster_name") if f.prop == "cluster" else f)


def _switches_become_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    _patched_fields(monkeypatch, lambda f: replace(f, kind=ArgKind.NAME) if f.kind is None else f)


def _flags_joined_to_values(monkeypatch: pytest.MonkeyPatch) -> None:
    original = llm_tools.CommandTool.argv

    def argv(self: Any, tool_input: object) -> list[str]:
        out: list[str] = []
        for token in original(self, tool_input):
            if out and out[-1].startswith("--") and "=" not in out[-1] and not token.startswith("--"):
                out[-1] += "=" + token
            else:
                out.append(token)
        return out

    monkeypatch.setattr(llm_tools.CommandTool, "argv", argv)


def _command_calls(calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [i for n, i in calls if n not in llm_tools.CONTROL_TOOLS]


MUTATIONS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], Callable[[list[tuple[str, dict[str, Any]]]], bool]]] = {
    # what changes, and which recordings it must break (from their tool calls)
    "a tool renamed": (_rename_tools, lambda calls: any("-" in n[len(llm_tools.TOOL_PREFIX):]
                                                        for n, _ in calls if n.startswith(llm_tools.TOOL_PREFIX))),
    "a parameter renamed": (_rename_cluster_parameter, lambda calls: any("cluster" in i for i in _command_calls(calls))),
    "a parameter's type changed": (_switches_become_strings,
                                   lambda calls: any(v is True for i in _command_calls(calls) for v in i.values())),
    "tool calls become argv differently": (_flags_joined_to_values, lambda calls: any(
        f.flag is not None and f.prop in i for n, i in calls if n in llm_tools.command_tools()
        for f in llm_tools.command_tools()[n].fields)),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_change_to_the_tools_breaks_exactly_the_cases_it_touches(provider: str, mutation: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    change, touches = MUTATIONS[mutation]
    cases = list({(c.ctx, c.text): c for c in recorded_cases(provider)}.values())
    predicted = {(c.ctx, c.text) for c in cases if touches(calls_of(provider, c))}
    # One case per (group, touched) pair keeps this quick and still covers every group.
    sample = list({(c.group, (c.ctx, c.text) in predicted): c for c in cases}.values())
    change(monkeypatch)
    async with planner_eval.Replay(provider, RECORDED[provider], profiles()) as mutated:
        outcomes, _ = await run(mutated, sample)
    failed = {(c.ctx, c.text) for c, ok, _ in outcomes if not ok}
    touched = {(c.ctx, c.text) for c in sample} & predicted
    assert touched, f"{mutation}: no recorded case uses what it changes"
    assert failed == touched, (f"{mutation}: failed but untouched {sorted(failed - touched)}; "
                               f"touched but passing {sorted(touched - failed)}")
