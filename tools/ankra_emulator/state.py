"""The emulator's state: JSON files in one directory, every access under a file lock.

Layout of the state directory:
  meta.json         version and seeding time
  clusters.json     clusters with their node groups, stacks, operations and emulated incidents
  credentials.json  provider credentials — metadata only, never a secret value
  tokens.json       API tokens — only a SHA-256 of each token value is kept
  counters.json     fault-injection counters that must count across processes
  faults.json       optional, written by tests: injected faults and timings (see faults.py)
  calls.jsonl       one line per invocation (argv with the token redacted, exit code, pid, time)
  .lock             the filelock every session takes

Each command runs inside one `Store.session()`: lock, load, act, save what changed. Files are
replaced atomically (write to a temporary file, then rename), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .errors import CliError

STATE_ENV = "ANKRA_EMULATOR_STATE"
# The token an auto-seeded state accepts when nobody ran `init` with a token of their own.
DEFAULT_TOKEN = "ankra_emulator_" + hashlib.sha256(b"ankra-emulator-default-token").hexdigest()[:40]
_FILES = ("clusters", "credentials", "tokens", "counters", "alerts")
LOCK_TIMEOUT_SECONDS = 30.0


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """An RFC 3339 timestamp with a Z suffix, as the Ankra API returns them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp (a bare date means midnight UTC)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def hash_token(token: str) -> str:
    """What is stored for a token: its SHA-256, so the state never holds a usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token_value() -> str:
    """A fresh API token: `ankra_` and 48 lowercase hex characters."""
    return "ankra_" + secrets.token_hex(24)


def default_state_dir() -> Path:
    """The state directory: $ANKRA_EMULATOR_STATE, else ~/.ankra-emulator."""
    configured = os.environ.get(STATE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".ankra-emulator"


@dataclass
class State:
    """The loaded state of one session; mutate the lists in place."""

    clusters: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # alerts.json: alert destinations and routes


class Store:
    """The state directory and its lock."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.lock_path = self.root / ".lock"

    def _lock(self) -> FileLock:
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_SECONDS)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state lock (seeding the directory first if it is new)."""
        lock = self._lock()
        try:
            lock.acquire()
        except Timeout:
            raise CliError(f"emulator state {self.root} is locked by another process") from None
        try:
            if not (self.root / "meta.json").exists():
                self._seed(DEFAULT_TOKEN)
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def session(self) -> Iterator[State]:
        """Lock, load, yield the state, then save the files that changed (unless an error escaped).

        A command's error (CliError) still saves: a failed command may have recorded something
        (e.g. a token's last use). Any other exception discards the changes.
        """
        with self.locked():
            raw = {name: self._read(name) for name in _FILES}
            state = State(
                clusters=copy.deepcopy(raw["clusters"].get("clusters", [])),
                credentials=copy.deepcopy(raw["credentials"].get("credentials", [])),
                tokens=copy.deepcopy(raw["tokens"].get("tokens", [])),
                counters=copy.deepcopy(raw["counters"]),
                extra=copy.deepcopy(raw["alerts"]),
            )
            try:
                yield state
            except CliError:
                self._save(raw, state)
                raise
            self._save(raw, state)

    def _save(self, raw: dict[str, dict[str, Any]], state: State) -> None:
        new = {
            "clusters": {"clusters": state.clusters},
            "credentials": {"credentials": state.credentials},
            "tokens": {"tokens": state.tokens},
            "counters": state.counters,
            "alerts": state.extra,
        }
        for name, content in new.items():
            if content != raw[name]:
                self.write_json(name + ".json", content)

    def _read(self, name: str) -> dict[str, Any]:
        path = self.root / f"{name}.json"
        if not path.exists():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CliError(f"emulator state file {path} is unreadable: {err}") from None

    def read_optional_json(self, filename: str) -> dict[str, Any]:
        """A JSON object file in the state dir, or {} when it is absent or not an object."""
        path = self.root / filename
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_json(self, filename: str, content: Any) -> None:
        """Atomically replace a JSON file in the state directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(content, handle, indent=2, ensure_ascii=False)
                handle.write("\n")
            os.replace(tmp, self.root / filename)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _seed(self, token: str, role: str = "admin") -> None:
        from .seed import seed_state

        seeded = seed_state(token, now(), role=role)
        for name in ("clusters", "credentials", "tokens"):
            self.write_json(f"{name}.json", {name: seeded[name]})
        self.write_json("alerts.json", seeded["alerts"])
        self.write_json("counters.json", {})
        self.write_json("meta.json", {"version": 1, "seeded_at": iso(now()), "emulates": "ankra CLI v0.13"})

    def add_token(
        self, token: str, *, name: str, role: str = "admin", expires_at: str | None = None
    ) -> dict[str, Any]:
        """Register a token value (idempotent: an already known value is left as it is)."""
        with self.session() as state:
            digest = hash_token(token)
            for entry in state.tokens:
                if entry["token_hash"] == digest:
                    return entry
            entry = token_record(token, name=name, role=role, created=now(), expires_at=expires_at)
            state.tokens.append(entry)
            return entry


def token_record(
    token: str,
    *,
    name: str,
    role: str,
    created: datetime,
    expires_at: str | None = None,
    token_id: str | None = None,
) -> dict[str, Any]:
    """The stored form of a token (no token value, only its hash and a short display prefix)."""
    return {
        "id": token_id or "tok_" + secrets.token_hex(8),
        "name": name,
        "token_hash": hash_token(token),
        "prefix": token[:10],
        "role": role,
        "status": "Active",
        "created_at": iso(created),
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
    }


def init_state(state_dir: Path | str, token: str, *, role: str = "admin") -> Path:
    """Seed a state directory (if new) and register `token` as a valid API token.

    The seeded "hermes-agent" token of a fresh directory is `token` itself; on an existing
    directory the token is added (as "hermes-init-<n>") unless it is already known.
    Returns the state directory.
    """
    if not token:
        raise ValueError("token must be a non-empty string")
    root = Path(state_dir)
    store = Store(root)
    root.mkdir(parents=True, exist_ok=True)
    with store._lock():
        if not (root / "meta.json").exists():
            store._seed(token, role)
            return root
    store.add_token(token, name=f"hermes-init-{secrets.token_hex(2)}", role=role)
    return root


def token_expired(entry: dict[str, Any], moment: datetime) -> bool:
    """Whether a token's expiry has passed."""
    expires = entry.get("expires_at")
    return bool(expires) and parse_time(expires) <= moment


def relative(moment: datetime, **delta: float) -> str:
    """An ISO timestamp `delta` before `moment` (seed helper)."""
    return iso(moment - timedelta(**delta))
