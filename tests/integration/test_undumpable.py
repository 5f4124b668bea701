"""Services make themselves non-dumpable, so another process of the same user — an `ankra` child,
say — can read neither their environment nor their memory. Shown with two processes of one
unprivileged user (uid 0 with every capability dropped, both sides alike, as a same-user attacker
is): the same reader that reads a dumpable process's environment is refused once the target has
called `make_undumpable`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not sys.platform.startswith("linux"),
    reason="needs root and setpriv (util-linux) to run both processes as one user without privileges")

# The same user, with no capability at all (so no CAP_SYS_PTRACE to override non-dumpability).
NOBODY = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
TARGET = ("import sys, time\n"
          "from hermes.runtime import make_undumpable\n"
          "done = make_undumpable() if sys.argv[1] == '1' else True\n"
          "print('ready' if done else 'failed', flush=True)\n"
          "time.sleep(60)\n")


def _environ_as_the_same_user(undumpable: bool) -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PROBE_SECRET": "s3cr3t-probe-value",
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    target = subprocess.Popen([*NOBODY, sys.executable, "-c", TARGET, "1" if undumpable else "0"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert target.stdout is not None
        line = target.stdout.readline().decode().strip()
        assert line == "ready", (line, target.stderr.read().decode() if target.poll() is not None else "")
        return subprocess.run([*NOBODY, "cat", f"/proc/{target.pid}/environ"], capture_output=True, timeout=30)
    finally:
        target.kill()
        target.wait()


def test_a_dumpable_process_environment_is_readable_by_its_own_user() -> None:
    """The control: without the call, the same reader sees the secret (so the next test can fail)."""
    read = _environ_as_the_same_user(undumpable=False)
    assert read.returncode == 0 and b"s3cr3t-probe-value" in read.stdout


def test_an_undumpable_process_environment_is_not() -> None:
    read = _environ_as_the_same_user(undumpable=True)
    assert read.returncode != 0 and b"s3cr3t-probe-value" not in read.stdout
    assert b"Permission denied" in read.stderr
