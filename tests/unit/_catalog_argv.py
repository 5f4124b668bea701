"""Valid argv lists built from the command catalog's own specs (shared by the catalog and policy tests).

Nothing here is hand-listed per command: values are chosen by argument kind, so a command added to
the catalog is covered without touching the tests.
"""

from __future__ import annotations

from hermes.catalog import ArgKind, CommandSpec, Flag
from hypothesis import strategies as st

# One acceptable value per kind, for the minimal argv of a command.
MINIMAL_VALUE: dict[ArgKind, str] = {
    ArgKind.NAME: "demo-1",
    ArgKind.CLUSTER_ID: "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22",
    ArgKind.INT: "3",
    ArgKind.TEXT: "Why are pods crashing?",
    ArgKind.PATH: "stack.yaml",  # a file argument is the plain name of one of the plan's files
    ArgKind.URL: "https://charts.example.com/stable",
    ArgKind.ISO_TIME: "2030-01-31T12:00:00Z",
    ArgKind.DURATION: "90s",
    ArgKind.BOOL: "false",
}


def flag_words(flag: Flag, value: str | None = None) -> list[str]:
    """How a flag is written: a switch alone, an explicit boolean inline (`--follow=false`, as cobra
    needs), anything else as two words; a flag with choices takes its first choice."""
    if flag.kind is None:
        return [flag.name]
    if value is None:
        value = flag.choices[0] if flag.choices else MINIMAL_VALUE[flag.kind]
    if flag.kind is ArgKind.BOOL:
        return [f"{flag.name}={value}"]
    return [flag.name, value]


def minimal_argv(spec: CommandSpec) -> list[str]:
    """The shortest argv the spec accepts: its path, required arguments and required flags, plus the
    argument without which the command would wait for terminal input."""
    argv = list(spec.path)
    needed = [i for i, a in enumerate(spec.args) if a.required or a.name == spec.interactive_without]
    count = max(needed) + 1 if needed else 0
    argv += [MINIMAL_VALUE[a.kind] for a in spec.args[:count]]
    for flag in spec.flags:
        if flag.required:
            argv += flag_words(flag)
    return argv


def full_argv(spec: CommandSpec) -> list[str]:
    """Every argument and every flag of the spec, each with an acceptable value."""
    argv = list(spec.path) + [MINIMAL_VALUE[a.kind] for a in spec.args]
    for flag in spec.flags:
        argv += flag_words(flag)
    return argv


_TEXT_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ?.,'"

VALUES: dict[ArgKind, st.SearchStrategy[str]] = {
    ArgKind.NAME: st.from_regex(r"\A[a-z0-9][a-z0-9.-]{0,15}\Z"),
    ArgKind.CLUSTER_ID: st.uuids().map(str),
    ArgKind.INT: st.integers(min_value=0, max_value=99_999).map(str),
    ArgKind.TEXT: st.text(alphabet=_TEXT_ALPHABET, min_size=1, max_size=40).filter(lambda s: s.strip()),
    ArgKind.PATH: st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,15}\.ya?ml\Z"),  # plain names only: no `/`, no `..`
    ArgKind.URL: st.sampled_from(["https://charts.example.com", "http://repo.example.org:8080/charts"]),
    ArgKind.ISO_TIME: st.dates().map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),
    ArgKind.DURATION: st.tuples(st.integers(1, 999), st.sampled_from(["s", "m", "h"])).map(lambda t: f"{t[0]}{t[1]}"),
    ArgKind.BOOL: st.sampled_from(["true", "false"]),
}


@st.composite
def valid_argv(draw: st.DrawFn, spec: CommandSpec) -> list[str]:
    """A random argv the spec accepts: required parts always, optional ones sometimes, flags before or
    after the positionals, flag values separate or inline (`--flag=value`)."""
    needed = [i for i, a in enumerate(spec.args) if a.required or a.name == spec.interactive_without]
    low = max(needed) + 1 if needed else 0
    count = draw(st.integers(min_value=low, max_value=len(spec.args)))
    positionals = [draw(VALUES[a.kind]) for a in spec.args[:count]]
    flags: list[str] = []
    for flag in spec.flags:
        if not (flag.required or draw(st.booleans())):
            continue
        if flag.kind is None:
            flags.append(flag.name)
            continue
        value = draw(st.sampled_from(flag.choices)) if flag.choices else draw(VALUES[flag.kind])
        if flag.kind is ArgKind.BOOL or draw(st.booleans()):
            flags.append(f"{flag.name}={value}")
        else:
            flags += [flag.name, value]
    rest = flags + positionals if draw(st.booleans()) else positionals + flags
    return list(spec.path) + rest
