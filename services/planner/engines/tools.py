"""The tools the model engines (Anthropic and OpenAI) offer the model, generated from the command catalog.

One tool per catalog command (`ankra-cluster-list`, `ankra-cluster-node-group-scale`, …) whose input
schema comes from the command's positional arguments and flags, plus four planner tools that run
nothing: `design_infrastructure`, `revise_design`, `switch_profile` and `ask_user`.

The model proposes structured calls, never shell text. A call becomes an argv list here, by the
catalog spec, and that argv must pass `hermes.catalog.parse` and parse back to exactly the values the
model gave (so no value can smuggle in a flag or an extra argument). Anything else is a `ToolCallError`
that goes back to the model as a tool error; it never becomes a step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hermes.catalog import COMMANDS, ArgKind, CommandRefused, CommandSpec, ParsedCommand, parse
from hermes.redaction import is_redacted

# Hyphens, not underscores: `ankra_cluster_deprovision` has the shape of an Ankra API token
# (`ankra_[A-Za-z0-9_]{16,}`), so redaction would hide it wherever it appears in text.
TOOL_PREFIX = "ankra-"
DESIGN_TOOL = "design_infrastructure"
REVISE_TOOL = "revise_design"
SWITCH_TOOL = "switch_profile"
ASK_TOOL = "ask_user"
CONTROL_TOOLS = (DESIGN_TOOL, REVISE_TOOL, SWITCH_TOOL, ASK_TOOL)

ENVIRONMENTS = ("production", "staging", "sandbox")
_PROFILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CLUSTER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_MAX_INT = 999_999
_MAX_TEXT = 4000
_MAX_GOAL = 2000

# JSON-schema patterns mirroring the catalog's (ECMA-compatible subsets of hermes.catalog._PATTERNS).
_SCHEMA_PATTERNS = {
    ArgKind.NAME: r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,252}$",
    # hermes.catalog.PLAIN_FILE_NAME, and never `..`: a plain name in the run's directory, no `/`.
    ArgKind.PATH: r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
    ArgKind.URL: r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
    ArgKind.ISO_TIME: r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9:]+)?)?$",
    ArgKind.DURATION: r"^([0-9]{1,6}(\.[0-9]{1,3})?(ms|s|m|h)){1,3}$",
}
_SCHEMA_PATTERNS[ArgKind.CLUSTER_ID] = _SCHEMA_PATTERNS[ArgKind.NAME]
_KIND_HINT = {
    ArgKind.NAME: "a name or id",
    ArgKind.INT: "a whole number",
    ArgKind.TEXT: "plain text, no shell metacharacters (` $ ; | & < > \\)",
    ArgKind.PATH: "the plain name of one of the plan's files, e.g. stack.yaml (no directory, no `/`)",
    ArgKind.URL: "an http(s) URL",
    ArgKind.ISO_TIME: "an ISO date or time, e.g. 2026-12-31",
    ArgKind.CLUSTER_ID: "the cluster, by the name or id `cluster list` shows",
    ArgKind.DURATION: "a duration such as 90s, 10m or 1h",
    ArgKind.BOOL: "true or false",
}


class ToolCallError(ValueError):
    """A tool call the engine refuses; the text goes back to the model as a tool error."""


@dataclass(frozen=True)
class _Field:
    """One property of a command tool's input: a positional argument or a flag."""

    prop: str
    kind: ArgKind | None  # None: a boolean switch
    required: bool
    flag: str | None  # the long flag, or None for a positional argument
    choices: tuple[str, ...] | None = None  # the only values the catalog accepts


@dataclass(frozen=True)
class CommandTool:
    """A catalog command as a tool."""

    name: str
    spec: CommandSpec
    fields: tuple[_Field, ...]

    def schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for f in self.fields:
            properties[f.prop] = _property_schema(f)
            if f.required:
                required.append(f.prop)
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        return schema

    def definition(self) -> dict[str, Any]:
        desc = f"{self.spec.summary}. Runs `ankra {self.spec.key}` (risk class: {self.spec.risk.value}"
        if self.spec.mutates:
            desc += ", changes state"
        desc += "). Proposing it runs nothing by itself: Hermes's guard decides whether it runs now, " \
                "waits for approval or is refused."
        return {"name": self.name, "description": desc, "input_schema": self.schema()}

    def argv(self, tool_input: object) -> list[str]:
        """The argv for a call, or ToolCallError. The argv parses against the catalog."""
        if not isinstance(tool_input, dict):
            raise ToolCallError("the input must be a JSON object")
        known = {f.prop: f for f in self.fields}
        unknown = sorted(set(tool_input) - set(known))
        if unknown:
            raise ToolCallError(f"`{self.name}` has no parameter {', '.join(unknown)}; "
                                f"its parameters: {', '.join(known) or 'none'}")
        argv = list(self.spec.path)
        want_args: dict[str, str] = {}
        want_flags: dict[str, str | bool] = {}
        missing_optional: str | None = None
        for f in self.fields:
            if f.flag is not None:
                continue
            value = tool_input.get(f.prop)
            if value is None:
                if f.required:
                    raise ToolCallError(f"`{self.name}` needs `{f.prop}`")
                missing_optional = f.prop
                continue
            if missing_optional is not None:
                raise ToolCallError(f"give `{missing_optional}` before `{f.prop}`")
            text = _value(value, f)
            argv.append(text)
            want_args[f.prop] = text
        for f in self.fields:
            if f.flag is None:
                continue
            value = tool_input.get(f.prop)
            if value is None:
                if f.required:
                    raise ToolCallError(f"`{self.name}` needs `{f.prop}`")
                continue
            if f.kind is None:
                if not isinstance(value, bool):
                    raise ToolCallError(f"`{f.prop}` is true or false")
                if value:
                    argv.append(f.flag)
                    want_flags[f.flag] = True
                continue
            if f.kind is ArgKind.BOOL:  # an explicit value, always inline: --follow=false
                if not isinstance(value, bool):
                    raise ToolCallError(f"`{f.prop}` is true or false")
                text = "true" if value else "false"
                if f.choices and text not in f.choices:
                    raise ToolCallError(f"`{f.prop}` can only be {' or '.join(f.choices)}")
                argv.append(f"{f.flag}={text}")
                want_flags[f.flag] = text
                continue
            text = _value(value, f)
            argv += [f.flag, text]
            want_flags[f.flag] = text
        try:
            parsed = parse(argv)
        except CommandRefused as refused:
            raise ToolCallError(f"not a valid command: {refused}") from None
        # The argv must mean exactly what the call said: the same command, arguments and flags.
        if parsed.spec is not self.spec or parsed.args != want_args or parsed.flags != want_flags:
            raise ToolCallError("the values change the meaning of the command; pass plain values")
        return argv


def _property_schema(f: _Field) -> dict[str, Any]:
    if f.kind is None:
        return {"type": "boolean", "description": f"the switch {f.flag}"}
    where = f"flag {f.flag}" if f.flag else "positional argument"
    desc = f"{_KIND_HINT.get(f.kind, 'a value')} ({where})"
    if f.kind is ArgKind.BOOL:
        schema: dict[str, Any] = {"type": "boolean", "description": desc}
        if f.choices:
            schema["enum"] = [choice == "true" for choice in f.choices]
        return schema
    if f.choices:
        return {"type": "string", "enum": list(f.choices), "description": desc}
    if f.kind is ArgKind.INT:
        return {"type": "integer", "minimum": 0, "maximum": _MAX_INT, "description": desc}
    if f.kind is ArgKind.TEXT:
        return {"type": "string", "minLength": 1, "maxLength": _MAX_TEXT, "description": desc}
    pattern = _SCHEMA_PATTERNS.get(f.kind)
    if pattern is None:  # a kind the schema has no pattern for: the catalog's parse is the rail
        return {"type": "string", "minLength": 1, "maxLength": 253, "description": desc}
    return {"type": "string", "pattern": pattern, "description": desc}


def _value(value: object, f: _Field) -> str:
    """A call's value as one argv token, refused when it could be read as anything but a value."""
    if f.kind is ArgKind.INT:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ToolCallError(f"`{f.prop}` is a whole number")
        text = str(value)
        if not text.isdigit() or int(text) > _MAX_INT:
            raise ToolCallError(f"`{f.prop}` is a whole number from 0 to {_MAX_INT}")
        return str(int(text))
    if not isinstance(value, str):
        raise ToolCallError(f"`{f.prop}` is a string")
    if is_redacted(value):
        raise ToolCallError(f"`{f.prop}` holds a redaction marker such as [REDACTED:…]: that is a hidden "
                            "secret, not a value; never pass it to a command")
    if not value.strip():
        raise ToolCallError(f"`{f.prop}` is empty")
    if value.startswith("-"):
        raise ToolCallError(f"`{f.prop}` must not start with '-' (it would be read as a flag)")
    if f.choices and value not in f.choices:
        raise ToolCallError(f"`{f.prop}` is one of: {', '.join(f.choices)}")
    return value


def _fields(spec: CommandSpec) -> tuple[_Field, ...]:
    fields: list[_Field] = []
    for arg in spec.args:
        required = arg.required or spec.interactive_without == arg.name
        fields.append(_Field(arg.name, arg.kind, required, None))
    arg_names = {f.prop for f in fields}
    for flag in spec.flags:
        prop = flag.name.lstrip("-").replace("-", "_")
        if prop in arg_names:
            continue  # `cluster info <cluster>` and `--cluster`: the positional says it
        fields.append(_Field(prop, flag.kind, flag.required, flag.name, getattr(flag, "choices", None)))
    return tuple(fields)


def tool_name(spec: CommandSpec) -> str:
    return TOOL_PREFIX + "-".join(spec.path)


def command_tools(allowed_commands: set[str] | frozenset[str] | None = None) -> dict[str, CommandTool]:
    """The command tools by name, in catalog order. Deprecated forms (`replaced_by`) are left out unless
    `allowed_commands` names them; with `allowed_commands`, only those catalog keys become tools."""
    tools: dict[str, CommandTool] = {}
    for spec in COMMANDS:
        if allowed_commands is not None:
            if spec.key not in allowed_commands:
                continue
        elif spec.replaced_by is not None:
            continue
        tools[tool_name(spec)] = CommandTool(tool_name(spec), spec, _fields(spec))
    return tools


def control_definitions(profiles: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The planner tools: they run nothing, they hand the request to the planner."""
    profile_schema: dict[str, Any] = {"type": "string", "pattern": _PROFILE_RE.pattern,
                                      "description": "the profile's name"}
    if profiles:
        profile_schema["enum"] = list(profiles)
    return [
        {"name": DESIGN_TOOL,
         "description": "Draft the infrastructure an application needs (databases, caches, queues, …) on a "
                        "cluster. Hermes's designer drafts an architecture and a bill of materials and shows "
                        "them to the person before anything is built. Use it for 'my app needs …, set it up'.",
         "input_schema": {"type": "object", "additionalProperties": False, "required": ["goal", "cluster"],
                          "properties": {
                              "goal": {"type": "string", "minLength": 1, "maxLength": _MAX_GOAL,
                                       "description": "what the application needs, in the person's words"},
                              "cluster": {"type": "string", "pattern": _CLUSTER_RE.pattern,
                                          "description": "the cluster to build on, as the person named it"},
                              "environment": {"type": "string", "enum": list(ENVIRONMENTS),
                                              "description": "only when the person said it"}}}},
        {"name": REVISE_TOOL,
         "description": "Change the architecture drafted earlier in this conversation (more storage, more "
                        "replicas, another database, remove a component, …).",
         "input_schema": {"type": "object", "additionalProperties": False, "required": ["instruction"],
                          "properties": {"instruction": {
                              "type": "string", "minLength": 1, "maxLength": _MAX_GOAL,
                              "description": "the change, in the person's words"}}}},
        {"name": SWITCH_TOOL,
         "description": "Switch this conversation to another Hermes profile (model, skills, autonomy). "
                        "The guard checks the person may do so.",
         "input_schema": {"type": "object", "additionalProperties": False, "required": ["name"],
                          "properties": {"name": profile_schema}}},
        {"name": ASK_TOOL,
         "description": "Ask the person a question when a name, number or choice you need was not given. "
                        "Never guess a cluster name, a count or a credential id.",
         "input_schema": {"type": "object", "additionalProperties": False, "required": ["question"],
                          "properties": {"question": {"type": "string", "minLength": 1, "maxLength": 1000}}}},
    ]


def control_call(name: str, tool_input: object, profiles: tuple[str, ...] | None = None) -> dict[str, str | None]:
    """The validated input of a planner tool call, or ToolCallError."""
    if not isinstance(tool_input, dict):
        raise ToolCallError("the input must be a JSON object")
    spec = {DESIGN_TOOL: ({"goal", "cluster"}, {"environment"}), REVISE_TOOL: ({"instruction"}, set()),
            SWITCH_TOOL: ({"name"}, set()), ASK_TOOL: ({"question"}, set())}[name]
    required, optional = spec
    unknown = sorted(set(tool_input) - required - optional)
    if unknown:
        raise ToolCallError(f"`{name}` has no parameter {', '.join(unknown)}")
    out: dict[str, str | None] = {}
    for key in sorted(required | optional):
        value = tool_input.get(key)
        if value is None:
            if key in required:
                raise ToolCallError(f"`{name}` needs `{key}`")
            out[key] = None
            continue
        if not isinstance(value, str) or not value.strip():
            raise ToolCallError(f"`{key}` is a non-empty string")
        if is_redacted(value):
            raise ToolCallError(f"`{key}` holds a redaction marker such as [REDACTED:…]: that is a hidden "
                                "secret, not a value")
        limit = 1000 if key == "question" else _MAX_GOAL
        if len(value) > limit:
            raise ToolCallError(f"`{key}` is at most {limit} characters")
        out[key] = value.strip()
    if name == DESIGN_TOOL:
        if not _CLUSTER_RE.match(out["cluster"] or ""):
            raise ToolCallError(f"`cluster` {out['cluster']!r} is not a cluster name")
        if out["environment"] is not None and out["environment"] not in ENVIRONMENTS:
            raise ToolCallError(f"`environment` is one of {', '.join(ENVIRONMENTS)}")
    if name == SWITCH_TOOL:
        if not _PROFILE_RE.match(out["name"] or ""):
            raise ToolCallError(f"{out['name']!r} is not a profile name")
        if profiles and out["name"] not in profiles:
            raise ToolCallError(f"there is no profile {out['name']!r}; the profiles: {', '.join(profiles)}")
    return out


def describe(parsed: ParsedCommand) -> str:
    """A step's title, from the catalog (never from the model's words)."""
    title = parsed.spec.summary
    if parsed.cluster:
        title += f" ({parsed.cluster})"
    return title[:500]
