"""What every command handler gets: the parsed invocation, the store, and shared helpers."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import faults as faults_mod
from .errors import CANCELLED, NO_CLUSTER, CliError, not_found, usage
from .parser import Invocation
from .state import State, Store, iso, now, parse_time


@dataclass
class Context:
    """One run of the CLI."""

    inv: Invocation
    store: Store
    faults: dict[str, Any]
    fmt: str | None = None  # None: human output; "json" | "yaml"
    token: dict[str, Any] | None = None  # the stored record of the token in use
    extra: dict[str, Any] = field(default_factory=dict)

    # -- flags ---------------------------------------------------------------------------------
    def flag(self, key: str) -> Any:
        """A flag's value by key ("credential_id")."""
        return self.inv.flags.get(key)

    def given(self, key: str) -> bool:
        """Whether the flag was on the command line."""
        return key in self.inv.given

    @property
    def args(self) -> list[str]:
        return self.inv.args

    # -- state ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[State]:
        """A locked state session in which time-driven transitions have been applied."""
        with self.store.session() as state:
            settle(state, self.faults)
            yield state

    # -- clusters ------------------------------------------------------------------------------
    def cluster_ref(self, positional: str | None = None) -> str:
        """The cluster a command is about: its argument, else --cluster, else the selection."""
        ref = positional or self.flag("cluster")
        if ref:
            return ref
        selected = read_selection(self.selection_path())
        if selected:
            return selected.get("cluster_id") or selected.get("cluster_name")
        raise usage(NO_CLUSTER)

    def selection_path(self) -> Path:
        """`<config>.selected.json` when --config is given, else `~/.ankra/selected.json`."""
        if self.given("config") and self.flag("config"):
            return Path(str(self.flag("config")) + ".selected.json").expanduser()
        return Path.home() / ".ankra" / "selected.json"

    # -- prompts -------------------------------------------------------------------------------
    def confirm(self, question: str, what: str) -> None:
        """Ask `question [y/N]: ` on stdout unless --yes; anything but y/yes cancels (exit 4)."""
        if self.flag("yes"):
            return
        sys.stdout.write(question + " [y/N]: ")
        sys.stdout.flush()
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if not line.endswith("\n"):
            sys.stdout.write("\n")  # EOF: keep the terminal tidy
        if line.strip().lower() not in {"y", "yes"}:
            raise CliError(f"cancelled: {what}", CANCELLED)


def find_cluster(state: State, ref: str, action: str | None = None) -> dict[str, Any]:
    """A cluster by ID or name, as `--cluster` and the name-taking commands resolve it
    (cmd/cluster_select.go:197-208, `lookupClusterByNameOrID`); exit 3 when there is none."""
    for cluster in state.clusters:
        if ref in (cluster["id"], cluster["name"]):
            return cluster
    prefix = f"{action}: " if action else ""
    raise not_found(f'{prefix}cluster "{ref}" not found')


def read_selection(path: Path) -> dict[str, Any] | None:
    """The saved cluster selection, if any."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def settle(state: State, faults: dict[str, Any]) -> None:
    """Apply time-driven transitions: provisioning -> online, deprovisioning -> gone, and finish the
    operations (executions) whose time has come, with the stacks they deploy."""
    moment = now()
    provision = float(faults.get("provision_seconds", faults_mod.DEFAULT_PROVISION_SECONDS))
    deprovision = float(faults.get("deprovision_seconds", faults_mod.DEFAULT_DEPROVISION_SECONDS))
    keep = []
    for cluster in state.clusters:
        since = cluster.get("state_since")
        elapsed = (moment - parse_time(since)).total_seconds() if since else 0.0
        if cluster.get("state") == "provisioning" and elapsed >= provision:
            cluster["state"] = "online"
            cluster["operational_at"] = iso(moment)
            cluster["state_since"] = iso(moment)
            cluster["updated_at"] = iso(moment)
        if cluster.get("state") == "deprovisioning" and elapsed >= deprovision:
            continue
        _finish_operations(cluster, moment, bool(faults.get("apply_stuck")))
        keep.append(cluster)
    state.clusters[:] = keep


def env_flag(name: str) -> bool:
    """Whether an environment switch is on (1/true/yes)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def _finish_operations(cluster: dict[str, Any], moment: Any, stuck: bool) -> None:
    """Running operations whose `ready_at` has passed complete; an apply's stacks come up with it."""
    for op in cluster.get("operations", []):
        if op.get("status") != "running" or stuck:
            continue
        if parse_time(op["ready_at"]) > moment:
            continue
        op["status"] = "completed"
        op["updated_at"] = iso(moment)
        op["steps"] = {"succeeded": op["steps"]["running"] + op["steps"]["succeeded"], "failed": 0, "running": 0}
        for stack in cluster.get("stacks", []):
            if stack.get("operation_id") == op["id"] and stack.get("state") == "deploying":
                stack["state"] = "up"
                stack["updated_at"] = iso(moment)
