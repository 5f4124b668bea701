"""Ankra CLI emulator: an `ankra` executable that behaves like the real CLI (v0.13), backed by
local JSON state. See README.md in this directory.

Public API:
  init_state(state_dir, token)         seed a state directory and register an API token
  write_wrapper(bin_dir, state_dir)    write an `ankra` script bound to a state directory
  add_token(state_dir, token, ...)     register another token (e.g. a "viewer" one for RBAC tests)
  read_calls(state_dir)                the call log (calls.jsonl) as a list of dicts
  DEFAULT_TOKEN                        the token an auto-seeded state directory accepts
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.13.2+emulator"

# Imported lazily (PEP 562) so that `python -m ankra_emulator` loads only what a command needs.
_EXPORTS = {
    "read_calls": "faults",
    "DEFAULT_TOKEN": "state",
    "STATE_ENV": "state",
    "init_state": "state",
    "write_wrapper": "wrapper",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_token(
    state_dir: Path | str,
    token: str,
    *,
    name: str = "extra-token",
    role: str = "admin",
    expires_at: str | None = None,
) -> dict:
    """Register another valid token (role "admin" or "viewer"); returns its stored record."""
    from .state import Store

    return Store(state_dir).add_token(token, name=name, role=role, expires_at=expires_at)


__all__ = ["DEFAULT_TOKEN", "STATE_ENV", "add_token", "init_state", "read_calls", "write_wrapper"]
