"""The tests' own rules, checked on the syntax tree of every module under tests/.

A test that cannot fail proves nothing. Three ways a test passes when it should fail are refused here,
each offender reported as file:line:

(a) A skip that depends on the code under test: `pytest.skip` (under an `if`, or in an `except` of a
    `try`), `pytest.mark.skipif`, `pytest.importorskip` (and the xfail forms) whose condition refers to a
    name imported from the project's packages (`hermes`, `hermes_*`, `ankra_emulator`), to a value
    computed from one, to a function that uses one, or to a fixture built from one. A broken module, a
    missing function or a wrong answer of the project's would turn the test into a skip. Conditions on
    the environment (shutil.which, os.geteuid, sys.platform, environment variables, Docker, a browser
    at /usr/bin/chromium, a third-party package) stay allowed.
(b) A machine path in a string literal: `/work/…`, `/root/…`, `/home/…`, `/tmp/…`, `/mnt/…`,
    `/media/…`, `/Users/…`, or the project's `../shared` folder. A test reads the repository's own files
    and its tmp dir (tmp_path); system paths it may probe (/usr/bin/…, /proc/…, /dev/…, /etc/…, /var/…)
    and URL paths are allowed.
(c) A test function that checks nothing: no `assert`, no `pytest.raises` / `pytest.warns` /
    `pytest.fail`, no `raise AssertionError`, and no call of a helper named `assert_…` / `expect…` or of
    a helper of its own (its module's, an imported test helper's, or a fixture method of a conftest.py
    on its path) that itself does one of those: helpers are followed one level.

Exceptions are listed below, each with its reason.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

# (b): literals that name such a path on purpose, by (module, literal): the reason is the value.
PATH_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("tests/integration/test_sandbox_isolation.py", "/tmp/"):
        "the sandbox mounts a private tmpfs at /tmp: the test tells writes there from writes to the disk",
    ("tests/integration/test_sandbox_isolation.py", "/tmp/planted-"):
        "the sandbox mounts a private tmpfs at /tmp: the test proves a write there never reaches the host's",
    ("tests/unit/secret_corpus.py", "pwd is /home/ankra"):
        "redaction corpus text, never opened: a home directory in shell output is a non-secret to keep",
    ("tests/unit/test_redaction_regressions.py", "PWD=/home/ankra/work"):
        "redaction corpus text, never opened: a home directory in an environment line is a non-secret to keep",
}
# (b): modules (or folders, ending in /) where paths under some top folders are allowed, and why.
PATH_EXCEPTION_SCOPES: dict[str, tuple[frozenset[str], str]] = {
    "tests/test_the_tests.py": (frozenset({"work", "root", "home", "tmp", "mnt", "media", "Users", "../shared"}),
                                "these rules' own module: it names the paths it refuses, and samples it must catch"),
    "tests/deploy/": (frozenset({"tmp"}),
                      "/tmp/… there is inside an image or a container (Dockerfile, compose, chart), not this machine's"),
}
# (a) and (c) have no exceptions.

MACHINE_PATH = re.compile(r"(?<![\w.:/@~$%-])/(?:work|root|home|tmp|mnt|media|Users)/")
SHARED_FOLDER = re.compile(r"(?<![\w.-])\.\./shared(?:/|\b)")
SKIP_CALLS = {"skip", "xfail"}  # pytest.skip(…) / pytest.xfail(…): conditional on their enclosing code
SKIP_MARKS = {"skipif", "xfail"}  # pytest.mark.skipif(cond) / pytest.mark.xfail(cond)
CHECK_CALLS = {"raises", "warns", "fail", "deprecated_call"}  # pytest.<these>


@dataclass(frozen=True)
class Offence:
    path: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.detail}"


def is_project(module: str | None) -> bool:
    top = (module or "").split(".")[0]
    return top in {"hermes", "ankra_emulator"} or top.startswith("hermes_")


def suite_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def rel(path: Path) -> str:
    resolved = path.resolve()
    return resolved.relative_to(REPO).as_posix() if resolved.is_relative_to(REPO) else path.name


@cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _names(node: ast.AST | None) -> set[str]:
    """Every name an expression or statement refers to (an attribute chain counts as its root)."""
    if node is None:
        return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _is_pytest(func: ast.expr, names: set[str]) -> bool:
    """`pytest.<name>` (or `<name>` imported from pytest)."""
    if isinstance(func, ast.Attribute):
        return func.attr in names and isinstance(func.value, ast.Name) and func.value.id == "pytest"
    return False


def _is_pytest_mark(func: ast.expr, names: set[str]) -> bool:
    """`pytest.mark.<name>` or `mark.<name>`."""
    if not (isinstance(func, ast.Attribute) and func.attr in names):
        return False
    owner = func.value
    return (isinstance(owner, ast.Attribute) and owner.attr == "mark" and isinstance(owner.value, ast.Name)
            and owner.value.id == "pytest") or (isinstance(owner, ast.Name) and owner.id == "mark")


# -- (a) skips that depend on the code under test --------------------------------------------------------


def _assigned(stmt: ast.AST) -> Iterator[tuple[set[str], ast.AST | None]]:
    """(names bound, the value they are bound from) for each binding in `stmt` (not nested scopes)."""
    if isinstance(stmt, ast.Assign):
        yield set().union(*(_names(t) for t in stmt.targets)), stmt.value
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign | ast.NamedExpr) and stmt.value is not None:
        yield _names(stmt.target), stmt.value
    elif isinstance(stmt, ast.For | ast.AsyncFor):
        yield _names(stmt.target), stmt.iter
    elif isinstance(stmt, ast.With | ast.AsyncWith):
        for item in stmt.items:
            if item.optional_vars is not None:
                yield _names(item.optional_vars), item.context_expr


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a module or function, not descending into nested functions and classes."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(node))


def _loads_project(value: ast.AST | None) -> bool:
    """Whether an expression imports a project module by name (importorskip, import_module, __import__)."""
    for node in ast.walk(value) if value is not None else ():
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in {"importorskip", "import_module", "__import__"} and is_project(str(node.args[0].value)):
                return True
    return False


def _spread(scope: ast.AST, tainted: set[str]) -> set[str]:
    """`tainted` grown by every name of `scope` bound from a tainted value, and every function of
    `scope` whose body uses a tainted name (calling it gives a result of the code under test)."""
    tainted = set(tainted)
    while True:
        before = len(tainted)
        for node in _own_nodes(scope):
            for targets, value in _assigned(node):
                if _names(value) & tainted or _loads_project(value):
                    tainted |= targets
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _names(node) & tainted:
                tainted.add(node.name)
        if len(tainted) == before:
            return tainted


def project_names(tree: ast.Module) -> set[str]:
    """The names a module binds by importing from the project's packages (anywhere in it)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {(a.asname or a.name.split(".")[0]) for a in node.names if is_project(a.name)}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and is_project(node.module):
            out |= {a.asname or a.name for a in node.names}
    return out


def _fixtures(path: Path) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Fixture functions a module sees by name: its own and those of every conftest.py on its path."""
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    folders = [TESTS, *reversed([p for p in path.parents if p.is_relative_to(TESTS) and p != TESTS])]
    for source in [*(f / "conftest.py" for f in folders), path]:
        if not source.exists():
            continue
        for node in parse(source).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                    "fixture" in ast.unparse(d) for d in node.decorator_list):
                found[node.name] = node
    return found


def _module_taint(path: Path) -> set[str]:
    tree = parse(path)
    return _spread(tree, project_names(tree))


def _scope_taint(path: Path, chain: list[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda]) -> set[str]:
    """What is tainted where a skip sits: the module's taint, grown through each enclosing function,
    whose parameters are tainted when they name a fixture built from the code under test."""
    tainted = _module_taint(path)
    fixtures = _fixtures(path)
    for func in chain:
        for arg in func.args.args + func.args.kwonlyargs:
            fixture = fixtures.get(arg.arg)
            if fixture is not None and fixture is not func:
                origin = next(p for p in [*_conftests(path), path] if fixture in ast.walk(parse(p)))
                if _names(fixture) & _module_taint(origin):
                    tainted.add(arg.arg)
        tainted = _spread(func, tainted)
    return tainted


def _conftests(path: Path) -> list[Path]:
    return [c for c in (p / "conftest.py" for p in path.parents if p.is_relative_to(TESTS)) if c.exists()]


def _conditions(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> Iterator[ast.AST]:
    """What decides whether a `pytest.skip(…)` runs: the tests of the `if`s (and loops) around it, and
    the body of a `try` whose `except` holds it."""
    child, parent = node, parents.get(node)
    while parent is not None and not isinstance(parent, ast.Module):
        if isinstance(parent, ast.If | ast.While | ast.IfExp) and child is not parent.test:
            yield parent.test
        elif isinstance(parent, ast.ExceptHandler):
            try_node = parents[parent]
            yield ast.Module(body=list(try_node.body), type_ignores=[])
        elif isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            break
        child, parent = parent, parents.get(parent)


def _chain(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list:
    chain = []
    parent = parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            chain.append(parent)
        parent = parents.get(parent)
    return list(reversed(chain))


def _imports_project(node: ast.AST) -> bool:
    return any((isinstance(n, ast.Import) and any(is_project(a.name) for a in n.names))
               or (isinstance(n, ast.ImportFrom) and n.level == 0 and is_project(n.module))
               for n in ast.walk(node))


def skip_offences(path: Path) -> list[Offence]:
    tree = parse(path)
    parents = _parents(tree)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if _is_pytest(node.func, {"importorskip"}):
            module = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "modname"), None)
            if isinstance(module, ast.Constant) and is_project(str(module.value)):
                out.append(Offence(rel(path), node.lineno, "skip on the code under test",
                                   f"importorskip({module.value!r}) turns a broken project module into a skip"))
            continue
        if _is_pytest_mark(node.func, SKIP_MARKS):
            conditions: list[ast.AST] = list(node.args[:1]) + [k.value for k in node.keywords if k.arg == "condition"]
            conditions = [ast.parse(c.value, mode="eval") if isinstance(c, ast.Constant) and isinstance(c.value, str)
                          else c for c in conditions]
        elif _is_pytest(node.func, SKIP_CALLS):
            conditions = list(_conditions(node, parents))
        else:
            continue
        tainted = _scope_taint(path, _chain(node, parents))
        for condition in conditions:
            used = sorted(_names(condition) & tainted)
            if used or _imports_project(condition):
                what = ast.unparse(node.func)
                out.append(Offence(rel(path), node.lineno, "skip on the code under test",
                                   f"{what}(…) depends on {', '.join(used) or 'importing the project'}"))
                break
    return out


# -- (b) machine paths ---------------------------------------------------------------------------------


def _strings(tree: ast.Module) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node


def _allowed_here(module: str) -> frozenset[str]:
    """The top folders whose paths `module` may name (see PATH_EXCEPTION_SCOPES)."""
    allowed: frozenset[str] = frozenset()
    for key, (tops, _reason) in PATH_EXCEPTION_SCOPES.items():
        if module == key or (key.endswith("/") and module.startswith(key)):
            allowed |= tops
    return allowed


def path_offences(path: Path) -> list[Offence]:
    allowed = _allowed_here(rel(path))
    out = []
    for node in _strings(parse(path)):
        if (rel(path), node.value) in PATH_EXCEPTIONS:
            continue
        found = [m for m in MACHINE_PATH.finditer(node.value) if m.group(0).strip("/") not in allowed]
        found += [m for m in SHARED_FOLDER.finditer(node.value) if "../shared" not in allowed]
        if not found:
            continue
        start = max(0, found[0].start() - 20)
        out.append(Offence(rel(path), node.lineno, "machine path",
                           f"…{node.value[start:found[0].end() + 40]!r}…: read the repository's files or tmp_path"))
    return out


# -- (c) tests that check nothing -------------------------------------------------------------------------


def checks(func: ast.AST) -> bool:
    """Whether a function's own code can fail a test."""
    for node in ast.walk(func):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call) and _is_pytest(node.func, CHECK_CALLS):
            return True
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "AssertionError":
                return True
    return False


def _called(func: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                out.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                out.add(node.func.attr)
    return out


def _helper_sources(path: Path) -> list[Path]:
    """Where a test's helpers live: its module, the test-support modules it imports, the conftests."""
    sources = [path, *_conftests(path)]
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
                target = base.joinpath(*(node.module or "").split(".")) if node.module else base
            elif (node.module or "").split(".")[0] == "tests":
                target = REPO.joinpath(*node.module.split("."))
            else:
                continue
            sources += [p for p in (target.with_suffix(".py"), *(target / f"{a.name}.py" for a in node.names))
                        if p.exists()]
    return sources


def _helpers(path: Path) -> dict[str, list[ast.AST]]:
    found: dict[str, list[ast.AST]] = {}
    for source in _helper_sources(path):
        for node in ast.walk(parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.setdefault(node.name, []).append(node)
    return found


def collected_tests(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            yield from (n for n in node.body
                        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test"))


def assertless_offences(path: Path) -> list[Offence]:
    if not (path.name.startswith("test_") or path.name.endswith("_test.py")):
        return []
    helpers = _helpers(path)
    out = []
    for test in collected_tests(parse(path)):
        if checks(test):
            continue
        called = _called(test)
        if any(name.startswith(("assert_", "expect")) for name in called):
            continue
        if any(checks(helper) for name in called for helper in helpers.get(name, []) if helper is not test):
            continue
        out.append(Offence(rel(path), test.lineno, "checks nothing",
                           f"{test.name} has no assert, pytest.raises/warns/fail, nor a helper that asserts"))
    return out


# -- the rules, applied --------------------------------------------------------------------------------


def _report(offences: Iterable[Offence]) -> str:
    return "\n".join(map(str, offences))


@pytest.mark.parametrize("rule", [skip_offences, path_offences, assertless_offences],
                         ids=["skips-on-code-under-test", "machine-paths", "tests-that-check-nothing"])
def test_no_test_module_breaks_the_rule(rule) -> None:
    modules = suite_modules()
    assert len(modules) > 50 and TESTS / "unit" / "test_catalog.py" in modules  # the scan sees the suite
    offences = [o for path in modules for o in rule(path)]
    assert offences == [], "\n" + _report(offences)


def test_every_exception_still_names_a_literal_that_exists() -> None:
    stale = [key for key in PATH_EXCEPTIONS
             if not any(node.value == key[1] for node in _strings(parse(REPO / key[0])))]
    assert stale == [], f"exceptions for literals no longer there: {stale}"
    assert all((REPO / scope).exists() for scope in PATH_EXCEPTION_SCOPES)


# -- the rules catch what they are for (each on a small module written here) ---------------------------


def _offences(tmp_path: Path, source: str, name: str = "test_sample.py") -> list[Offence]:
    """The rules applied to `source` as a test module of its own."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return skip_offences(path) + path_offences(path) + assertless_offences(path)


@pytest.mark.parametrize("source, rule", [
    ('import pytest\nstacks = pytest.importorskip("ankra_emulator.stacks")\n', "skip on the code under test"),
    (("import pytest\nfrom hermes import catalog\n\nHAVE = hasattr(catalog, 'validate')\n\n"
      "@pytest.mark.skipif(not HAVE, reason='not yet')\ndef test_x():\n    assert True\n"),
     "skip on the code under test"),
    (("import pytest\nfrom hermes_executor import runner\n\n\ndef works():\n    return runner.probe()\n\n\n"
      "def test_x():\n    if not works():\n        pytest.skip('no')\n    assert True\n"), "skip on the code under test"),
    (("import pytest\n\n\ndef test_x():\n    try:\n        from hermes.stacks import validate\n"
      "    except ImportError:\n        pytest.skip('not importable yet')\n    assert validate\n"),
     "skip on the code under test"),
    (("import importlib\nimport pytest\n\n\ndef test_x():\n    stacks = importlib.import_module('ankra_emulator.stacks')\n"
      "    if not hasattr(stacks, 'validate'):\n        pytest.skip('no validate() yet')\n    assert stacks\n"),
     "skip on the code under test"),
    ("from pathlib import Path\nGUIDE = Path('/work/shared/seeds/guide.txt')\n", "machine path"),
    ("REFERENCE = '../shared/reference/ankra-cli.md'\n", "machine path"),
    ("def test_x(tmp_path):\n    (tmp_path / 'a').write_text('x')\n", "checks nothing"),
    ("def helper():\n    return 1\n\n\ndef test_x():\n    helper()\n", "checks nothing"),
])
def test_each_rule_catches_its_offender(tmp_path: Path, source: str, rule: str) -> None:
    offences = _offences(tmp_path, source)
    assert [o.rule for o in offences] == [rule], offences
    assert offences[0].path.endswith("test_sample.py") and offences[0].line >= 1


@pytest.mark.parametrize("source", [
    ("import os, shutil, sys\nimport pytest\n\n"
     "pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which('bwrap') is None"
     " or sys.platform != 'linux', reason='env')\n\n\ndef test_x():\n    assert True\n"),
    ("import os\nimport pytest\nfrom pathlib import Path\n\nCHROMIUM = Path('/usr/bin/chromium')\n\n\n"
     "def test_x():\n    if not CHROMIUM.exists() or not os.environ.get('DISPLAY'):\n        pytest.skip('no browser')\n"
     "    assert True\n"),
    "import pytest\napi = pytest.importorskip('playwright.async_api')\n",
    "URL = 'http://127.0.0.1:8789/home/x'\nPROC = '/proc/1/environ'\n",
    "def _check(x):\n    assert x\n\n\ndef test_x():\n    _check(1)\n",
    "def test_x():\n    assert_equal(1, 1)\n",
    "import pytest\n\n\ndef test_x():\n    with pytest.raises(ValueError):\n        int('x')\n",
])
def test_the_rules_leave_what_is_allowed_alone(tmp_path: Path, source: str) -> None:
    assert _offences(tmp_path, source) == []
