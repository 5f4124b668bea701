"""`python -m ankra_emulator`: the emulated `ankra` CLI, plus two admin commands.

  python -m ankra_emulator init --state DIR --token TOKEN   seed DIR and register TOKEN
  python -m ankra_emulator wrapper --state DIR --bin BIN    write BIN/ankra bound to DIR
Anything else is an `ankra` command line.
"""

from __future__ import annotations

import os
import sys

from .cli import main

if __name__ == "__main__":
    # Through a wrapper, argv is always an `ankra` command line (the real CLI has no `init`).
    handled = None
    if not os.environ.get("ANKRA_EMULATOR_WRAPPED") and sys.argv[1:2] in (["init"], ["wrapper"]):
        from .admin import admin

        handled = admin(sys.argv[1:])
    sys.exit(handled if handled is not None else main())
