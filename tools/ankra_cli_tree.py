"""Extract the real `ankra` CLI's command tree from its Go source into a checked-in JSON snapshot.

    python tools/ankra_cli_tree.py --repo /work/.mirror/ankraio+ankra-cli/repo \
        --commit 1233747a3b077462096cf9340603de416c3b6d23 --out tools/ankra_cli_tree.json

The CLI is written with cobra. This reads the non-test `cmd/*.go` files at one commit of a (bare)
git mirror and records, for every command it can reach from `rootCmd`: its path, `Use` string,
positional-argument bounds (from `Args:`), aliases, whether it runs anything, whether it is hidden
or deprecated, its own and persistent flags (name, shorthand, type, default, required) and the
file:line where the command is declared. tests/unit/test_cli_contract.py reads the snapshot; nothing
at test time needs the Go source or a Go toolchain.

This is not a Go compiler. It is a small token-level interpreter of the handful of patterns the CLI
uses to build its tree:
  * `var x = &cobra.Command{...}` at package level, `x := &cobra.Command{...}` and
    `return &cobra.Command{...}` inside functions;
  * `parent.AddCommand(a, b, newC(...))`;
  * `x.Flags().StringP("name", "n", ...)`, `x.PersistentFlags().BoolVar(&v, "name", ...)` and the
    other pflag definers, with names given as literals or package constants;
  * `x.MarkFlagRequired("name")`, `x.Flags().MarkHidden("name")`;
  * helpers that take commands (`registerStructuredOutputFlags(a, b)`), factories that return one
    (`newBastionCmd(...)`), `for _, c := range []*cobra.Command{...}` loops and loops over a package
    level slice of structs whose fields name the commands (`for _, cfg := range kindConfigs`).
Branches are not evaluated: a factory that adds a sub-command under `if` is recorded with it. That
over-approximates the tree for a few provider-specific commands (see `conditional` below), which is
the safe direction for a contract that asks "does the CLI have this?" only for what Hermes uses.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r]+) |
    (?P<nl>\n) |
    (?P<lcomment>//[^\n]*) |
    (?P<bcomment>/\*.*?\*/) |
    (?P<raw>`[^`]*`) |
    (?P<str>"(?:\\.|[^"\\\n])*") |
    (?P<rune>'(?:\\.|[^'\\\n])+') |
    (?P<ident>[A-Za-z_][A-Za-z0-9_]*) |
    (?P<num>[0-9][0-9A-Za-z_.]*) |
    (?P<op>:=|\.\.\.|&&|\|\||==|!=|<=|>=|<-|\+\+|--|\+=|-=|\*=|/=|[-+*/%&|^<>=!(){}\[\],;:.~])
    """,
    re.VERBOSE | re.DOTALL,
)

_FLAG_DEFINER = re.compile(
    r"^(String|Bool|Int|Int8|Int16|Int32|Int64|Uint|Uint8|Uint16|Uint32|Uint64|Float32|Float64|Duration|"
    r"StringSlice|StringArray|IntSlice|Int32Slice|Int64Slice|UintSlice|BoolSlice|Float64Slice|"
    r"DurationSlice|StringToString|StringToInt|StringToInt64|Count|IP|IPSlice|IPMask|IPNet|BytesHex|"
    r"BytesBase64)(Var)?(P)?$"
)


@dataclass
class Tok:
    kind: str
    value: str
    file: str
    line: int


def tokenize(text: str, file: str) -> list[Tok]:
    """Go tokens of one file, comments dropped, each with its line number."""
    out: list[Tok] = []
    line = 1
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"{file}:{line}: cannot tokenize {text[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        value = m.group()
        if kind not in ("ws", "nl", "lcomment", "bcomment"):
            out.append(Tok(kind, value, file, line))
        line += value.count("\n")
        pos = m.end()
    return out


def _matches(tokens: list[Tok]) -> dict[int, int]:
    """Index of each opening bracket -> index of its closing bracket."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[int] = []
    out: dict[int, int] = {}
    for i, t in enumerate(tokens):
        if t.kind != "op":
            continue
        if t.value in pairs:
            stack.append(i)
        elif t.value in (")", "]", "}") and stack:
            out[stack.pop()] = i
    return out


def _go_string(tok: Tok) -> str:
    if tok.kind == "raw":
        return tok.value[1:-1]
    return json.loads(tok.value) if "\\" in tok.value else tok.value[1:-1]


@dataclass
class Source:
    file: str
    tokens: list[Tok]
    match: dict[int, int]


@dataclass
class Func:
    name: str
    src: Source
    params: list[tuple[str, str, bool]]  # (name, type text, variadic)
    returns_command: bool
    body: tuple[int, int]  # token range inside the braces


@dataclass
class Node:
    """One cobra command."""

    uid: int
    file: str
    line: int
    use: str | None = None
    use_expr: str = ""
    aliases: list[str] = field(default_factory=list)
    args: str = ""
    runnable: bool = False
    hidden: bool = False
    deprecated: str | None = None
    flags: dict[str, dict[str, Any]] = field(default_factory=dict)
    persistent: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: list[int] = field(default_factory=list)
    conditional: bool = False

    @property
    def name(self) -> str | None:
        return self.use.split()[0] if self.use else None


class Extractor:
    """The token-level interpreter described in the module docstring."""

    def __init__(self, files: dict[str, str]) -> None:
        self.sources = {}
        for name, text in sorted(files.items()):
            toks = tokenize(text, name)
            self.sources[name] = Source(name, toks, _matches(toks))
        self.funcs: dict[str, Func] = {}
        self.consts: dict[str, str] = {}
        self.global_cmds: dict[str, list[int]] = {}
        self.global_structs: dict[str, list[dict[str, str]]] = {}
        self.global_calls: dict[str, tuple[Source, int, int]] = {}  # `var x = newX()`, evaluated on use
        self.nodes: dict[int, Node] = {}
        self.inits: list[Func] = []
        self.depth = 0
        for src in self.sources.values():
            self._declarations(src)

    # -- package-level declarations --------------------------------------------------------------
    def _declarations(self, src: Source) -> None:
        toks, i, depth = src.tokens, 0, 0
        while i < len(toks):
            t = toks[i]
            if t.kind == "op" and t.value in "([{":
                i = src.match.get(i, i) + 1
                continue
            if t.kind == "ident" and t.value == "func" and depth == 0:
                i = self._func_decl(src, i)
                continue
            if t.kind == "ident" and t.value in ("var", "const"):
                i = self._var_decl(src, i, t.value == "const")
                continue
            i += 1

    def _func_decl(self, src: Source, i: int) -> int:
        toks = src.tokens
        j = i + 1
        receiver = False
        if toks[j].value == "(":  # method: skip the receiver
            receiver = True
            j = src.match[j] + 1
        if toks[j].kind != "ident" or toks[j + 1].value not in ("(", "["):
            return i + 1  # a func type (`type f func(...)`), not a declaration
        name = toks[j].value
        j += 1
        if toks[j].value == "[":  # type parameters
            j = src.match[j] + 1
        params_end = src.match[j]
        params = self._params(src, j + 1, params_end)
        k = params_end + 1
        result_start = k
        while k < len(toks) and toks[k].value != "{":
            if toks[k].value == "(":
                k = src.match[k]
            k += 1
        result = " ".join(t.value for t in toks[result_start:k])
        body_end = src.match[k]
        fn = Func(name, src, params, result.strip() == "* cobra . Command", (k + 1, body_end))
        if not receiver:
            if name == "init":
                self.inits.append(fn)
            else:
                self.funcs[name] = fn
        return body_end + 1

    def _params(self, src: Source, start: int, end: int) -> list[tuple[str, str, bool]]:
        groups: list[list[Tok]] = [[]]
        i = start
        while i < end:
            t = src.tokens[i]
            if t.value in ("(", "[", "{") and i in src.match:
                groups[-1].extend(src.tokens[i : src.match[i] + 1])
                i = src.match[i] + 1
                continue
            if t.value == ",":
                groups.append([])
            else:
                groups[-1].append(t)
            i += 1
        out: list[tuple[str, str, bool]] = []
        pending: list[str] = []
        for g in groups:
            if not g:
                continue
            if len(g) == 1:  # a name whose type follows in a later group (a, b string)
                pending.append(g[0].value)
                continue
            variadic = len(g) > 1 and g[1].value == "..."
            type_text = " ".join(t.value for t in g[1:]).replace("... ", "")
            for name in pending:
                out.append((name, type_text, False))
            pending = []
            out.append((g[0].value, type_text, variadic))
        return out

    def _var_decl(self, src: Source, i: int, const: bool) -> int:
        toks = src.tokens
        j = i + 1
        if toks[j].value == "(":
            end = src.match[j]
            k = j + 1
            while k < end:
                k = self._one_var(src, k, end, const)
            return end + 1
        return self._one_var(src, j, len(toks), const)

    def _one_var(self, src: Source, k: int, limit: int, const: bool) -> int:
        """One `name [type] = value` spec starting at k; returns the index after it."""
        toks = src.tokens
        start_line = toks[k].line
        names = [toks[k].value]
        j = k + 1
        while j < limit and toks[j].value == ",":
            names.append(toks[j + 1].value)
            j += 2
        # skip a type up to `=` (or to the end of the line: a declaration without value)
        while j < limit and toks[j].value != "=" and toks[j].line == start_line:
            if toks[j].value in ("(", "[", "{") and j in src.match:
                j = src.match[j]
            j += 1
        if j >= limit or toks[j].value != "=":
            return j if j > k else k + 1
        value_start = j + 1
        end = self._expr_end(src, value_start, limit)
        name = names[0]
        if const or len(names) == 1:
            expr = toks[value_start:end]
            if len(expr) == 1 and expr[0].kind in ("str", "raw"):
                self.consts[name] = _go_string(expr[0])
            elif self._is_command_literal(src, value_start):
                self.global_cmds[name] = [self._command_literal(src, value_start, {})]
            elif len(expr) >= 3 and expr[0].kind == "ident" and expr[1].value == "(" and src.match.get(value_start + 1) == end - 1:
                self.global_calls[name] = (src, value_start, end)
            elif len(expr) >= 3 and expr[0].value == "[" and expr[1].value == "]":
                structs = self._struct_list(src, value_start, end)
                if structs:
                    self.global_structs[name] = structs
        return end

    def _expr_end(self, src: Source, i: int, limit: int) -> int:
        """The index after an expression that starts at i (ends at a newline or `;` at depth 0)."""
        toks = src.tokens
        line = toks[i].line
        j = i
        while j < limit:
            t = toks[j]
            if t.value in ("(", "[", "{") and j in src.match:
                j = src.match[j]
                line = toks[j].line
                j += 1
                continue
            if t.value in (";", ")") or (t.line != line and toks[j - 1].value not in (".", "+", ",", "(", "||", "&&")):
                return j
            line = t.line
            j += 1
        return j

    def _struct_list(self, src: Source, start: int, end: int) -> list[dict[str, str]]:
        toks = src.tokens
        brace = next((k for k in range(start, end) if toks[k].value == "{"), None)
        if brace is None:
            return []
        out = []
        k = brace + 1
        close = src.match[brace]
        while k < close:
            if toks[k].value == "{":
                out.append(self._string_fields(src, k, {}))
                k = src.match[k] + 1
            else:
                k += 1
        return out

    def _string_fields(self, src: Source, brace: int, env: dict[str, Any]) -> dict[str, Any]:
        """`{key: value, ...}` -> key -> token range of the value (strings resolved where possible)."""
        toks = src.tokens
        close = src.match[brace]
        out: dict[str, Any] = {}
        k = brace + 1
        while k < close:
            if toks[k].kind == "ident" and toks[k + 1].value == ":":
                key = toks[k].value
                v = k + 2
                e = v
                while e < close and toks[e].value != ",":
                    if toks[e].value in ("(", "[", "{") and e in src.match:
                        e = src.match[e]
                    e += 1
                out[key] = (v, e)
                k = e + 1
            else:
                k += 1
        resolved: dict[str, Any] = {}
        for key, (v, e) in out.items():
            value = self._string_value(src, v, e, env)
            resolved[key] = value if value is not None else (v, e)
        return resolved

    # -- expressions --------------------------------------------------------------------------------
    def _string_value(self, src: Source, start: int, end: int, env: dict[str, Any]) -> str | None:
        """A string expression made of literals, constants, string params and struct fields, joined by +."""
        toks = src.tokens
        parts: list[str] = []
        k = start
        while k < end:
            t = toks[k]
            if t.kind in ("str", "raw"):
                parts.append(_go_string(t))
                k += 1
            elif t.kind == "ident" and k + 2 < end + 1 and k + 1 < end and toks[k + 1].value == ".":
                bound = env.get(t.value)
                if isinstance(bound, dict) and isinstance(bound.get(toks[k + 2].value), str):
                    parts.append(bound[toks[k + 2].value])
                    k += 3
                else:
                    return None
            elif t.kind == "ident":
                bound = env.get(t.value)
                if isinstance(bound, str):
                    parts.append(bound)
                elif t.value in self.consts:
                    parts.append(self.consts[t.value])
                else:
                    return None
                k += 1
            else:
                return None
            if k < end:
                if toks[k].value != "+":
                    return None
                k += 1
        return "".join(parts) if parts else None

    def _is_command_literal(self, src: Source, i: int) -> bool:
        v = [t.value for t in src.tokens[i : i + 5]]
        return v == ["&", "cobra", ".", "Command", "{"]

    def _command_literal(self, src: Source, i: int, env: dict[str, Any]) -> int:
        toks = src.tokens
        brace = i + 4
        node = Node(uid=len(self.nodes) + 1, file=src.file, line=toks[i].line)
        self.nodes[node.uid] = node
        fields = self._string_fields(src, brace, env)
        for key, value in fields.items():
            text = value if isinstance(value, str) else " ".join(t.value for t in toks[value[0] : value[1]])
            if key == "Use":
                node.use = value if isinstance(value, str) else None
                node.use_expr = text
            elif key == "Args":
                node.args = text
            elif key in ("Run", "RunE"):
                node.runnable = True
            elif key == "Hidden":
                node.hidden = text == "true"
            elif key == "Deprecated":
                node.deprecated = text
            elif key == "Aliases" and not isinstance(value, str):
                node.aliases = [_go_string(t) for t in toks[value[0] : value[1]] if t.kind in ("str", "raw")]
        return node.uid

    def _resolve(self, src: Source, start: int, end: int, env: dict[str, Any]) -> list[int]:
        """The commands an expression denotes."""
        toks = src.tokens
        if start >= end:
            return []
        if self._is_command_literal(src, start):
            return [self._command_literal(src, start, env)]
        first = toks[start]
        if first.kind == "ident" and end - start == 1:
            bound = env.get(first.value)
            if isinstance(bound, list):
                return list(bound)
            if first.value not in self.global_cmds and first.value in self.global_calls:
                csrc, cs, ce = self.global_calls.pop(first.value)
                self.global_cmds[first.value] = self._resolve(csrc, cs, ce, {})
            return list(self.global_cmds.get(first.value, []))
        if first.kind == "ident" and start + 1 < end and toks[start + 1].value == "(":
            close = src.match[start + 1]
            if close == end - 1 and first.value in self.funcs and self.funcs[first.value].returns_command:
                return self._call(self.funcs[first.value], src, start + 2, close, env)
        return []

    def _split_args(self, src: Source, start: int, end: int) -> list[tuple[int, int]]:
        out = []
        k = start
        s = start
        while k < end:
            t = src.tokens[k]
            if t.value in ("(", "[", "{") and k in src.match:
                k = src.match[k] + 1
                continue
            if t.value == ",":
                out.append((s, k))
                s = k + 1
            k += 1
        if s < end:
            out.append((s, end))
        return out

    def _call(self, fn: Func, src: Source, start: int, end: int, env: dict[str, Any]) -> list[int]:
        """Evaluate a call of `fn` with the argument expressions in [start, end) of src."""
        if self.depth > 12:
            return []
        args = self._split_args(src, start, end)
        bound: dict[str, Any] = {}
        expand: tuple[str, list[dict[str, Any]]] | None = None
        for idx, (name, type_text, variadic) in enumerate(fn.params):
            if variadic:
                cmds: list[int] = []
                for s, e in args[idx:]:
                    cmds += self._resolve(src, s, e, env)
                bound[name] = cmds
                break
            if idx >= len(args):
                break
            s, e = args[idx]
            if type_text == "* cobra . Command":
                bound[name] = self._resolve(src, s, e, env)
                continue
            if e - s == 1 and src.tokens[s].kind == "ident":
                value = env.get(src.tokens[s].value)
                if isinstance(value, dict):
                    bound[name] = value
                    continue
                if isinstance(value, tuple) and value[0] == "structs":
                    expand = (name, value[1])
                    continue
            text = self._string_value(src, s, e, env)
            if text is not None:
                bound[name] = text
        self.depth += 1
        try:
            if expand:
                out: list[int] = []
                for item in expand[1]:
                    out += self._run(fn.src, fn.body[0], fn.body[1], {**bound, expand[0]: item})
                return out
            return self._run(fn.src, fn.body[0], fn.body[1], bound)
        finally:
            self.depth -= 1

    # -- statements ---------------------------------------------------------------------------------
    def _flag_target(self, toks: list[Tok], k: int) -> tuple[str, str] | None:
        """At `x . Flags ( ) . Def (`: ("flags"|"persistent", Def)."""
        v = [t.value for t in toks[k : k + 7]]
        if len(v) == 7 and v[1] == "." and v[2] in ("Flags", "PersistentFlags", "LocalFlags") and v[3:5] == ["(", ")"] and v[5] == ".":
            return ("persistent" if v[2] == "PersistentFlags" else "flags", v[6])
        return None

    def _run(self, src: Source, start: int, end: int, env: dict[str, Any]) -> list[int]:
        """Walk a function body; returns the commands it returns."""
        toks = src.tokens
        env = dict(env)
        returned: list[int] = []
        k = start
        conditional = 0
        while k < end:
            t = toks[k]
            if self._is_command_literal(src, k):
                uid = self._command_literal(src, k, env)
                prev = toks[k - 1].value
                if prev in ("=", ":=") and toks[k - 2].kind == "ident":
                    env[toks[k - 2].value] = [uid]
                elif prev == "return":
                    returned.append(uid)
                k = src.match[k + 4] + 1
                continue
            if t.kind == "ident" and t.value == "func" and k + 1 < end and toks[k + 1].value == "(":
                # a function literal (a RunE closure): its body is not part of the tree's construction
                j = src.match[k + 1] + 1
                while j < end and toks[j].value != "{":
                    if toks[j].value == "(" and j in src.match:
                        j = src.match[j]
                    j += 1
                k = src.match.get(j, j) + 1
                continue
            if t.value == "if" and t.kind == "ident":
                conditional += 1
            if t.kind == "ident" and t.value == "for":
                k = self._for(src, k, end, env)
                continue
            if t.kind == "ident" and t.value == "return":
                e = self._expr_end(src, k + 1, end)
                returned += self._resolve(src, k + 1, e, env)
                k = e
                continue
            if t.kind == "ident" and k + 3 < end and toks[k + 1].value == "." and toks[k + 2].value == "AddCommand" and toks[k + 3].value == "(":
                close = src.match[k + 3]
                parents = self._resolve(src, k, k + 1, env)
                children: list[int] = []
                for s, e in self._split_args(src, k + 4, close):
                    children += self._resolve(src, s, e, env)
                for p in parents:
                    for c in children:
                        if c not in self.nodes[p].children:
                            self.nodes[p].children.append(c)
                        if conditional:
                            self.nodes[c].conditional = True
                k = close + 1
                continue
            target = self._flag_target(toks, k) if t.kind == "ident" else None
            if target and toks[k + 7].value == "(":
                close = src.match[k + 7]
                self._flag_call(src, k, target, k + 8, close, env)
                k = close + 1
                continue
            if t.kind == "ident" and k + 3 < end and toks[k + 1].value == "." and toks[k + 2].value in (
                "MarkFlagRequired", "MarkPersistentFlagRequired"
            ) and toks[k + 3].value == "(":
                close = src.match[k + 3]
                name = self._string_value(src, k + 4, close, env)
                for uid in self._resolve(src, k, k + 1, env):
                    node = self.nodes[uid]
                    spec = node.flags.get(name) or node.persistent.get(name)
                    if spec is not None:
                        spec["required"] = True
                k = close + 1
                continue
            if t.kind == "ident" and toks[k + 1].value in (":=", "=") and k + 2 < end and toks[k + 2].kind == "ident" and toks[k + 3].value == "(":
                fn = self.funcs.get(toks[k + 2].value)
                if fn is not None and fn.returns_command:
                    close = src.match[k + 3]
                    env[t.value] = self._call(fn, src, k + 4, close, env)
                    k = close + 1
                    continue
            if (
                t.kind == "ident"
                and t.value in self.funcs
                and toks[k - 1].value not in (".", "func")
                and k + 1 < end
                and toks[k + 1].value == "("
            ):
                fn = self.funcs[t.value]
                close = src.match[k + 1]
                if any(p[1] == "* cobra . Command" for p in fn.params):
                    self._call(fn, src, k + 2, close, env)
                    k = close + 1
                    continue
            k += 1
        return returned

    def _for(self, src: Source, k: int, end: int, env: dict[str, Any]) -> int:
        """`for _, v := range X {` binds v to X's commands (or to each struct of a package slice)."""
        toks = src.tokens
        j = k + 1
        while j < end and toks[j].value != "range" and toks[j].value != "{":
            j += 1
        if j >= end or toks[j].value != "range":
            return k + 1
        var = toks[j - 2].value
        s = j + 1
        if self._is_command_list(src, s):
            brace = s + 6
            close = src.match[brace]
            cmds: list[int] = []
            for a, b in self._split_args(src, brace + 1, close):
                cmds += self._resolve(src, a, b, env)
            env[var] = cmds
            return close + 1
        name = toks[s].value
        if isinstance(env.get(name), list):
            env[var] = env[name]
        elif name in self.global_structs:
            env[var] = ("structs", self.global_structs[name])
        return s + 1

    def _is_command_list(self, src: Source, i: int) -> bool:
        v = [t.value for t in src.tokens[i : i + 6]]
        return v == ["[", "]", "*", "cobra", ".", "Command"]

    def _flag_call(self, src: Source, k: int, target: tuple[str, str], start: int, end: int, env: dict[str, Any]) -> None:
        where, method = target
        nodes = self._resolve(src, k, k + 1, env)
        args = self._split_args(src, start, end)
        if method in ("MarkHidden", "MarkDeprecated"):
            name = self._string_value(src, args[0][0], args[0][1], env) if args else None
            for uid in nodes:
                node = self.nodes[uid]
                spec = node.flags.get(name) or node.persistent.get(name)
                if spec is not None:
                    spec["hidden" if method == "MarkHidden" else "deprecated"] = True
            return
        m = _FLAG_DEFINER.match(method)
        if not m or not args:
            return
        base, var, short = m.groups()
        offset = 1 if var else 0
        if len(args) <= offset:
            return
        name = self._string_value(src, args[offset][0], args[offset][1], env)
        if name is None:
            name = "<dynamic:" + " ".join(t.value for t in src.tokens[args[offset][0] : args[offset][1]]) + ">"
        shorthand = None
        if short and len(args) > offset + 1:
            shorthand = self._string_value(src, args[offset + 1][0], args[offset + 1][1], env)
        default_index = offset + (2 if short else 1)
        default = None
        if len(args) > default_index:
            a, b = args[default_index]
            default = " ".join(t.value for t in src.tokens[a:b])
            text = self._string_value(src, a, b, env)
            if text is not None and src.tokens[a].kind in ("str", "raw"):
                default = json.dumps(text)
        kind = {"Bool": "bool", "Count": "count"}.get(base, base[0].lower() + base[1:])
        spec = {
            "name": name,
            "short": shorthand or None,
            "type": kind,
            "default": default,
            "required": False,
            "source": f"{src.file}:{src.tokens[k].line}",
        }
        for uid in nodes:
            bucket = self.nodes[uid].persistent if where == "persistent" else self.nodes[uid].flags
            bucket.setdefault(name, dict(spec))

    # -- the tree -----------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        for fn in self.inits:
            self._run(fn.src, fn.body[0], fn.body[1], {})
        roots = self.global_cmds.get("rootCmd")
        if not roots:
            raise SystemExit("error: no `var rootCmd = &cobra.Command{...}` found in cmd/*.go; is this the ankra CLI?")
        commands: list[dict[str, Any]] = []
        self._walk(roots[0], [], commands, set())
        commands.sort(key=lambda c: c["path"])
        return {"commands": commands}

    def _walk(self, uid: int, parent: list[str], out: list[dict[str, Any]], seen: set[int]) -> None:
        node = self.nodes[uid]
        name = node.name or f"<dynamic:{node.use_expr}>"
        path = [*parent, name] if parent or name != "ankra" else []
        lo, hi = _arg_bounds(node.args)
        use = node.use if node.use is not None else node.use_expr
        out.append(
            {
                "path": " ".join(path),
                "use": use,
                "positionals": _positionals(use),
                "args": node.args or None,
                "min_args": lo,
                "max_args": hi,
                "aliases": node.aliases,
                "runnable": node.runnable,
                "hidden": node.hidden,
                "deprecated": node.deprecated,
                "conditional": node.conditional,
                "source": f"{node.file}:{node.line}",
                "flags": sorted(node.flags.values(), key=lambda f: f["name"]),
                "persistent_flags": sorted(node.persistent.values(), key=lambda f: f["name"]),
                "subcommands": sorted({self.nodes[c].name or "<dynamic>" for c in node.children}),
            }
        )
        if uid in seen:
            return
        for child in node.children:
            self._walk(child, path, out, seen | {uid})


def _positionals(use: str | None) -> list[str]:
    if not use:
        return []
    return use.split()[1:]


def _arg_bounds(args: str) -> tuple[int | None, int | None]:
    """(min, max) positional arguments from an `Args:` validator; None where it does not say."""
    text = args.replace(" ", "")
    if not text:
        return None, None
    for pattern, fn in (
        (r"cobra\.ExactArgs\((\d+)\)", lambda m: (int(m[1]), int(m[1]))),
        (r"cobra\.MaximumNArgs\((\d+)\)", lambda m: (0, int(m[1]))),
        (r"cobra\.MinimumNArgs\((\d+)\)", lambda m: (int(m[1]), None)),
        (r"cobra\.RangeArgs\((\d+),(\d+)\)", lambda m: (int(m[1]), int(m[2]))),
        (r"cobra\.NoArgs", lambda m: (0, 0)),
        (r"cobra\.ArbitraryArgs", lambda m: (0, None)),
        (r"cobra\.ExactValidArgs\((\d+)\)", lambda m: (int(m[1]), int(m[1]))),
    ):
        m = re.search(pattern, text)
        if m:
            return fn(m)
    return None, None


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"error: git {' '.join(args)} failed in {repo}: {proc.stderr.strip()}")
    return proc.stdout


def extract(repo: Path, commit: str) -> dict[str, Any]:
    """The command tree of the CLI at `commit` of the git repository `repo`."""
    names = [
        n
        for n in _git(repo, "ls-tree", "-r", "--name-only", commit, "cmd/").splitlines()
        if n.endswith(".go") and not n.endswith("_test.go")
    ]
    if not names:
        raise SystemExit(f"error: no cmd/*.go files at {commit} in {repo}; pass the ankra CLI mirror and a commit of it")
    files = {n: _git(repo, "show", f"{commit}:{n}") for n in names}
    tree = Extractor(files).run()
    return {
        "source": "ankraio/ankra-cli",
        "commit": commit,
        "generator": "tools/ankra_cli_tree.py",
        "notes": (
            "Every command reachable from rootCmd. `flags` are the command's own (local) flags and "
            "`persistent_flags` those it passes to its descendants; cobra adds -h/--help to every "
            "command. `conditional` marks a command added under an `if` in a factory (it exists for "
            "some providers only). min_args/max_args are null where `Args:` is absent or custom."
        ),
        **tree,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path("/work/.mirror/ankraio+ankra-cli/repo"))
    parser.add_argument("--commit", default="1233747a3b077462096cf9340603de416c3b6d23")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("ankra_cli_tree.json"))
    ns = parser.parse_args(argv)
    data = extract(ns.repo, ns.commit)
    ns.out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {len(data['commands'])} commands of {data['source']}@{ns.commit[:12]} to {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
