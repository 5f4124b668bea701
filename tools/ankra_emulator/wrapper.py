"""`write_wrapper`: an `ankra` executable bound to one state directory.

Hermes's executor runs `ankra` with a scrubbed environment (PATH, HOME, ANKRA_API_TOKEN,
ANKRA_BASE_URL only), so the state directory cannot come from the environment: it is baked into
the wrapper script instead.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path


def write_wrapper(bin_dir: Path | str, state_dir: Path | str, python: str = sys.executable) -> Path:
    """Write `bin_dir/ankra`, a script that runs the emulator on `state_dir`; return its path."""
    bin_path = Path(bin_dir)
    bin_path.mkdir(parents=True, exist_ok=True)
    target = bin_path / "ankra"
    state = str(Path(state_dir).resolve())
    # The package's parent directory goes on PYTHONPATH too, so the wrapper works even with an
    # interpreter that does not have the package installed.
    package_parent = str(Path(__file__).resolve().parent.parent)
    script = (
        "#!/bin/sh\n"
        "# Ankra CLI emulator, bound to one state directory (written by ankra_emulator.write_wrapper).\n"
        f"ANKRA_EMULATOR_STATE={shlex.quote(state)}\n"
        "export ANKRA_EMULATOR_STATE\n"
        "ANKRA_EMULATOR_WRAPPED=1\n"
        "export ANKRA_EMULATOR_WRAPPED\n"
        f"PYTHONPATH={shlex.quote(package_parent)}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "export PYTHONPATH\n"
        f'exec {shlex.quote(python)} -m ankra_emulator "$@"\n'
    )
    tmp = target.with_suffix(".tmp")
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, target)
    return target
