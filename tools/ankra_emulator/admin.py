"""Admin commands of the emulator (not part of the real CLI): `init` and `wrapper`.

ankra-emulator init --state DIR --token TOKEN [--role admin|viewer]
ankra-emulator wrapper --state DIR --bin BIN
"""

from __future__ import annotations

import argparse

from .state import init_state
from .wrapper import write_wrapper


def admin(argv: list[str]) -> int | None:
    """Handle `init` / `wrapper`; None when argv is an ordinary `ankra` command line."""
    if not argv or argv[0] not in {"init", "wrapper"}:
        return None
    parser = argparse.ArgumentParser(prog=f"ankra-emulator {argv[0]}")
    parser.add_argument("--state", required=True, help="state directory")
    if argv[0] == "init":
        parser.add_argument("--token", required=True, help="API token to register")
        parser.add_argument("--role", default="admin", choices=["admin", "viewer"])
        ns = parser.parse_args(argv[1:])
        path = init_state(ns.state, ns.token, role=ns.role)
        print(f"Ankra emulator state ready in {path}")
        return 0
    parser.add_argument("--bin", required=True, help="directory for the `ankra` script")
    ns = parser.parse_args(argv[1:])
    print(write_wrapper(ns.bin, ns.state))
    return 0
