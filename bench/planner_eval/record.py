"""Write the recorded model responses the planner eval replays against the model engines.

    .venv/bin/python bench/planner_eval/record.py [--cases bench/planner_eval/cases.yaml] [--out bench/planner_eval/recordings]

For every case of the eval whose expectation a model can express (`planner_eval.unrecordable` is None), one
response per provider, in that API's wire format, is written from the expectation:

- commands to run: one tool call per argv list (Anthropic `tool_use` blocks, OpenAI `tool_calls`), the tool
  name (`tool_name(spec)`) and its input (one property per positional argument and flag, typed as the
  tool's schema says) taken from the command catalog as it is now; each call is checked to turn back into
  exactly the expected argv before it is written;
- a design: a `design_infrastructure` call with the whole message as the goal and the expected cluster;
- a profile switch: a `switch_profile` call;
- a question back: an `ask_user` call; any other answer: a text answer holding the expected phrases.

The files are data (bench/planner_eval/recordings/anthropic.jsonl and openai.jsonl, one JSON object a line:
`ctx`, `text`, `group`, `response`). They are synthesised, not captured from a live model: replayed later
through the real SDK and engine, they catch a change to a tool's name, a parameter's name or type, or to how
a tool call becomes argv. Re-record after changing cases.yaml, or on purpose after such a change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import planner_eval  # bench/planner_eval.py: it puts libs/ and services/ on the path
from hermes.catalog import ArgKind, parse
from hermes.profiles import DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL
from hermes_planner.engines import tools as llm_tools

PROVIDERS = ("anthropic", "openai")
_QUESTION_OPENINGS = ("which ", "did you mean", "to how many", "what ", "who ")


def tool_call_for(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """The tool call (name, input) that stands for an argv list, from the catalog."""
    parsed = parse([str(a) for a in argv])
    tools = llm_tools.command_tools({parsed.spec.key})
    tool = tools[llm_tools.tool_name(parsed.spec)]
    tool_input: dict[str, Any] = {}
    for f in tool.fields:
        if f.flag is None:
            if f.prop in parsed.args:
                tool_input[f.prop] = _typed(parsed.args[f.prop], f.kind)
            continue
        if f.flag not in parsed.flags:
            continue
        value = parsed.flags[f.flag]
        if f.kind is None:
            tool_input[f.prop] = bool(value)
        elif f.kind is ArgKind.BOOL:
            tool_input[f.prop] = str(value).lower() == "true"
        else:
            tool_input[f.prop] = _typed(str(value), f.kind)
    back = tool.argv(tool_input)
    if back != [str(a) for a in argv]:
        raise ValueError(f"the call {tool.name} {tool_input} gives {back}, not {argv}")
    return tool.name, tool_input


def _typed(value: str, kind: ArgKind | None) -> Any:
    return int(value) if kind is ArgKind.INT else value


def neutral_turn(case: planner_eval.Case) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """The model's turn for a case, provider-neutral: (text, tool calls)."""
    e = case.expect
    kind = e["decision"]
    phrases = [str(p) for p in e.get("contains", [])]
    if kind == "Propose":
        return "\n".join(phrases), [tool_call_for(argv) for argv in e["argv"]]
    if kind == "DesignGoal":
        return "", [(llm_tools.DESIGN_TOOL, {"goal": case.text.strip(), "cluster": e["cluster"]})]
    if kind == "ReviseDesign":
        return "", [(llm_tools.REVISE_TOOL, {"instruction": case.text.strip()})]
    if kind == "SwitchProfile":
        return "", [(llm_tools.SWITCH_TOOL, {"name": e["profile"]})]
    if kind == "Answer":
        if not phrases:
            return "", [(llm_tools.ASK_TOOL, {"question": f"What exactly should I do for “{case.text.strip()}”? "
                                                          "Please name the one you mean."})]
        if phrases[0].lower().startswith(_QUESTION_OPENINGS) or phrases[0].rstrip().endswith("?"):
            return "", [(llm_tools.ASK_TOOL, {"question": "\n".join(phrases)})]
        return "\n".join(phrases), []
    raise ValueError(f"a model cannot express a {kind}")


def anthropic_response(n: int, text: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A Messages API response body."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": f"toolu_eval_{n:04d}_{i}", "name": name, "input": tool_input}
                for i, (name, tool_input) in enumerate(calls)]
    return {"id": f"msg_eval_{n:04d}", "type": "message", "role": "assistant", "model": DEFAULT_ANTHROPIC_MODEL,
            "content": content, "stop_reason": "tool_use" if calls else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0}}


def openai_response(n: int, text: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """A Chat Completions response body."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = [{"id": f"call_eval_{n:04d}_{i}", "type": "function",
                                  "function": {"name": name, "arguments": json.dumps(tool_input, ensure_ascii=False)}}
                                 for i, (name, tool_input) in enumerate(calls)]
    return {"id": f"chatcmpl-eval{n:04d}", "object": "chat.completion", "created": 1_780_000_000,
            "model": DEFAULT_OPENAI_MODEL,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
                      "prompt_tokens_details": {"cached_tokens": 0}}}


RESPONSE = {"anthropic": anthropic_response, "openai": openai_response}


def recordings(cases: list[planner_eval.Case], provider: str) -> list[dict[str, Any]]:
    """One line per recordable case (the first of a phrasing repeated in the same context)."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for case in cases:
        if planner_eval.unrecordable(case) is not None or (case.ctx, case.text) in seen:
            continue
        seen.add((case.ctx, case.text))
        text, calls = neutral_turn(case)
        out.append({"ctx": case.ctx, "text": case.text, "group": case.group,
                    "response": RESPONSE[provider](len(out) + 1, text, calls)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=planner_eval.CASES)
    parser.add_argument("--out", type=Path, default=planner_eval.RECORDINGS)
    args = parser.parse_args(argv)
    cases = planner_eval.load(args.cases)
    args.out.mkdir(parents=True, exist_ok=True)
    for provider in PROVIDERS:
        lines = recordings(cases, provider)
        path = planner_eval.recording_path(provider, args.out)
        path.write_text("".join(json.dumps(item) + "\n" for item in lines), encoding="utf-8")
        print(f"{provider}: {len(lines)} recorded responses of {len(cases)} cases written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
