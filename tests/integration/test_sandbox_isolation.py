"""Inside bubblewrap, `ankra` cannot see out: not the state directory next to its own binary (the
signing key), not the executor's environment through /proc, nowhere to write but the run directory and
the paths declared writable, an empty HOME, no capabilities. Laid out as `hermes up` lays it out:
`<state>/bin/ankra`, `<state>/signing-key`, `<state>/ankra-emulator`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import ankra_emulator
import pytest
from hermes.contracts import OrderStep
from hermes.redaction import Redactor
from hermes_executor.runner import SANDBOX_HOME, AnkraInvocation, SandboxLimits, bwrap_prefix, run_step

from .test_runner_sandbox import needs_bwrap

SIGNING_KEY = "canary of the state directory 5f1b"  # plain words: no redaction can hide a leak
EXECUTOR_SECRET = "executor-env-secret-9f8e7d6c5b4a"

STATE_PROBE = """
import glob, json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
state = os.path.dirname(here)
report = {}

def attempt(action):
    try:
        return "ok: " + str(action())
    except OSError as err:
        return f"refused: errno {err.errno}"

report["state_file_read"] = attempt(lambda: open(os.path.join(state, "signing-key")).read())
report["state_entries"] = attempt(lambda: sorted(os.listdir(state)))
report["pid"], report["ppid"] = os.getpid(), os.getppid()
report["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
environs = {}
for pid in report["pids"]:
    try:
        environs[pid] = open(f"/proc/{pid}/environ", "rb").read().decode("utf-8", "replace")
    except OSError as err:
        environs[pid] = f"refused: errno {err.errno}"
report["leaks"] = [pid for pid, text in environs.items() if SECRET in text]
report["parent_environ_has_secret"] = SECRET in environs.get(os.getppid(), "")
report["writes"] = {target: attempt(lambda: open(target, "w").write("x")) for target in (
    os.path.join(state, "planted"), os.path.join(here, "planted"), "/usr/planted", "/etc/planted", "/planted",
    os.path.join(OUTSIDE, "planted"))}
report["run_dir_write"] = attempt(lambda: open("written-in-the-run-dir", "w").write("x"))
report["writable_write"] = attempt(lambda: open(os.path.join(WRITABLE, "probe-was-here"), "w").write("x"))
home = os.environ["HOME"]
report["home"], report["cwd"], report["home_entries"] = home, os.getcwd(), os.listdir(home)
report["home_fs"] = None
for line in open("/proc/self/mountinfo"):
    left, right = line.split(" - ", 1)
    if left.split()[4] == home:
        report["home_fs"] = right.split()[0]
report["cap_eff"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff:")][0]
report["etc"] = sorted(os.listdir("/etc"))
report["root"] = sorted(os.listdir("/"))
print(json.dumps(report))
"""


def _layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(state dir, its bin dir, the emulator's state dir) as `hermes up` makes them."""
    state = tmp_path / "state"
    (state / "bin").mkdir(parents=True)
    (state / "ankra-emulator").mkdir()
    (state / "signing-key").write_text(SIGNING_KEY)
    return state, state / "bin", state / "ankra-emulator"


def _step(argv: list[str], command: str) -> OrderStep:
    return OrderStep(step_id="s1", argv=argv, command=command, risk="read")


@pytest.fixture(params=["under-tmp", "under-var-tmp"])
def base(request, tmp_path: Path) -> Iterator[Path]:
    """Where the state lives: under /tmp (the sandbox's /tmp is a private tmpfs) or elsewhere on disk
    (the sandbox's root is read-only), as ~/.local/state/hermes or /var/lib/hermes would be."""
    if request.param == "under-tmp":
        yield tmp_path
        return
    if not os.access("/var/tmp", os.W_OK):
        pytest.skip("/var/tmp is not writable here")
    path = Path(tempfile.mkdtemp(prefix="hermes-sandbox-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@needs_bwrap
async def test_inside_bubblewrap_ankra_cannot_see_out(base: Path, monkeypatch) -> None:
    monkeypatch.setenv("HERMES_SIGNING_KEY", EXECUTOR_SECRET)  # what /proc/<executor>/environ would show
    tmp_path = base
    state, bin_dir, writable = _layout(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    probe = bin_dir / "ankra"
    probe.write_text(f"#!{sys.executable}\n"
                     f"SECRET = {EXECUTOR_SECRET!r}\n"
                     f"OUTSIDE, WRITABLE = {str(outside)!r}, {str(writable)!r}\n" + STATE_PROBE)
    probe.chmod(probe.stat().st_mode | stat.S_IXUSR)
    limits = SandboxLimits(timeout_seconds=30, bwrap=True, bwrap_writable=(str(writable),))
    result = await run_step(_step(["cluster", "get", "x"], "cluster get"), AnkraInvocation(str(probe), None, None),
                            limits, Redactor())
    assert result.outcome == "ok", result
    seen = json.loads(result.stdout)

    # the state directory is not there: only the mount points of what was bound inside it
    assert seen["state_file_read"].startswith("refused"), seen["state_file_read"]
    assert seen["state_entries"] in ("ok: ['ankra-emulator', 'bin']", "ok: ['bin', 'ankra-emulator']")
    assert SIGNING_KEY not in result.stdout
    # its own PID namespace: a handful of small pids, none of them the executor, no secret in any environ
    assert seen["pid"] <= 3 and len(seen["pids"]) <= 4 and max(seen["pids"]) <= 10, seen["pids"]
    assert os.getpid() not in seen["pids"] or os.getpid() <= 10  # the executor (this test) is not there
    assert seen["leaks"] == [] and not seen["parent_environ_has_secret"]
    assert EXECUTOR_SECRET not in result.stdout
    # nowhere to write but the run directory and what was declared writable
    for target, outcome in seen["writes"].items():
        # Under /tmp (where this test's directories are) a path outside may land on the sandbox's own
        # private /tmp, which never reaches the disk; everything else outside is read-only.
        private = target.startswith("/tmp/") and not target.startswith(str(bin_dir))
        assert outcome.startswith("refused") or private, (target, outcome)
    assert seen["writes"][str(bin_dir / "planted")].startswith("refused")  # the binary's dir: read-only
    assert not list(state.glob("**/planted")) and not (outside / "planted").exists()
    assert seen["run_dir_write"].startswith("ok") and seen["writable_write"].startswith("ok")
    assert (writable / "probe-was-here").exists()
    # an empty HOME of its own, a tmpfs; the run directory is its working directory
    assert seen["home"] == SANDBOX_HOME != seen["cwd"] and "hermes-run-" in seen["cwd"]
    assert seen["home_entries"] == [] and seen["home_fs"] == "tmpfs"
    # no capabilities, even when the executor is root
    assert int(seen["cap_eff"], 16) == 0
    # of /etc only what a CLI needs, never shadow
    assert "shadow" not in seen["etc"] and "gshadow" not in seen["etc"]
    assert set(seen["etc"]) <= {"ssl", "pki", "ca-certificates", "ca-certificates.conf", "resolv.conf", "hosts",
                                "host.conf", "nsswitch.conf", "gai.conf", "services", "protocols", "localtime",
                                "passwd", "group", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives"}
    assert "sys" not in seen["root"] and "run" not in seen["root"]


@needs_bwrap
async def test_bubblewrap_writes_outside_the_run_dir_never_reach_the_disk(tmp_path: Path) -> None:
    """Even the places that are writable inside (a private /tmp, HOME) are tmpfs of the sandbox's own."""
    marker = tmp_path / "planted-through-tmp"
    host_tmp = Path(f"/tmp/planted-{uuid.uuid4().hex}")
    probe = tmp_path / "bin" / "ankra"
    probe.parent.mkdir()
    probe.write_text(f"#!{sys.executable}\nimport os\n" + textwrap.dedent(f"""
        for target in ({str(marker)!r}, {str(host_tmp)!r}, os.path.join(os.environ["HOME"], "planted")):
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                open(target, "w").write("x")
                print("wrote", target)
            except OSError as err:
                print("refused", target, err.errno)
    """))
    probe.chmod(probe.stat().st_mode | stat.S_IXUSR)
    result = await run_step(_step(["cluster", "get", "x"], "cluster get"), AnkraInvocation(str(probe), None, None),
                            SandboxLimits(timeout_seconds=30, bwrap=True), Redactor())
    assert result.outcome == "ok", result
    assert result.stdout.count("wrote ") == 3, result.stdout  # private tmpfs: writable inside ...
    assert not marker.exists() and not host_tmp.exists()  # ... and gone with the sandbox


@needs_bwrap
async def test_the_emulator_wrapper_runs_inside_bubblewrap_laid_out_as_hermes_up(tmp_path: Path) -> None:
    _state, bin_dir, emulator_state = _layout(tmp_path)
    token = "ankra_" + "0123456789abcdef" * 3
    ankra_emulator.init_state(emulator_state, token)
    wrapper = ankra_emulator.write_wrapper(bin_dir, emulator_state)
    limits = SandboxLimits(timeout_seconds=60, bwrap=True, bwrap_writable=(str(emulator_state),))
    listed = await run_step(_step(["cluster", "list"], "cluster list"), AnkraInvocation(str(wrapper), token, None),
                            limits, Redactor([token]))
    assert listed.outcome == "ok", listed
    assert {c["name"] for c in listed.data} >= {"staging-cluster", "production"}
    stack = textwrap.dedent("""\
        apiVersion: v1
        kind: ImportCluster
        metadata: {name: staging-cluster}
        spec:
          stacks:
            - name: sandbox-check
              manifests:
                - name: sandbox-check-namespace
                  manifest: |
                    apiVersion: v1
                    kind: Namespace
                    metadata: {name: sandbox-check}
    """)
    validated = await run_step(_step(["cluster", "validate", "-f", "stack.yaml"], "cluster validate"),
                               AnkraInvocation(str(wrapper), token, None), limits, Redactor([token]),
                               files={"stack.yaml": stack})
    assert validated.outcome == "ok", validated  # it read the plan's file from the run directory
    calls = (emulator_state / "calls.jsonl").read_text().splitlines()
    assert [json.loads(c)["command"] for c in calls][-2:] == ["cluster list", "cluster validate"]


def test_the_bubblewrap_command_binds_only_what_the_binary_needs(tmp_path: Path) -> None:
    state, bin_dir, writable = _layout(tmp_path)
    run_dir = tmp_path / "hermes-run-x"
    run_dir.mkdir()
    argv = bwrap_prefix("/usr/bin/bwrap", str(run_dir), str(bin_dir / "ankra"), (str(writable),))
    pairs = {(argv[i], argv[i + 1]) for i in range(len(argv) - 1)}
    binds = [(argv[i], argv[i + 1]) for i in range(len(argv) - 2) if argv[i] in ("--bind", "--ro-bind")]
    assert ("--ro-bind", "/") not in pairs and ("--bind", "/") not in pairs  # never the whole disk
    assert not [src for _, src in binds if src in (str(state), str(tmp_path), "/etc", "/etc/ssl", "/var", "/home")]
    assert ("--ro-bind", str(bin_dir)) in pairs  # the binary's own directory, read-only
    assert [src for flag, src in binds if flag == "--bind"] == [str(run_dir), str(writable)]
    for flag in ("--unshare-all", "--share-net", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert ("--proc", "/proc") in pairs and ("--tmpfs", SANDBOX_HOME) in pairs and ("--tmpfs", "/tmp") in pairs
    assert ("--remount-ro", "/") in pairs and argv[-3:] == ["--chdir", str(run_dir), "--"]
    if os.geteuid() == 0:
        assert ("--cap-drop", "ALL") in pairs
    # outermost first: the private /tmp is mounted before the run directory inside it
    assert argv.index("/tmp") < argv.index(str(run_dir))


def test_the_binary_alone_is_bound_when_its_directory_is_too_wide(tmp_path: Path) -> None:
    wide = os.path.realpath(tempfile.gettempdir())  # like HOME or /: far more than one binary
    binary = Path(wide) / f"ankra-{uuid.uuid4().hex}"
    binary.write_text("#!/bin/sh\n")
    try:
        argv = bwrap_prefix("/usr/bin/bwrap", str(tmp_path), str(binary))
    finally:
        binary.unlink()
    pairs = {(argv[i], argv[i + 1]) for i in range(len(argv) - 1)}
    assert ("--ro-bind", wide) not in pairs
    assert ("--ro-bind", str(binary)) in pairs


def test_a_python_prefix_as_wide_as_home_or_root_is_never_mounted(tmp_path: Path, monkeypatch) -> None:
    """HOME holds the default state directory (~/.local/state/hermes): it is never mounted whole, not
    even when the executor's Python claims it as its prefix."""
    home = os.path.realpath(os.path.expanduser("~"))
    monkeypatch.setattr(sys, "prefix", home)
    monkeypatch.setattr(sys, "exec_prefix", "/")
    argv = bwrap_prefix("/usr/bin/bwrap", str(tmp_path), "/usr/bin/true")
    pairs = {(argv[i], argv[i + 1]) for i in range(len(argv) - 1)}
    assert ("--ro-bind", home) not in pairs and ("--ro-bind", "/") not in pairs
