"""Where `hermes up` keeps its state, and the small files `hermes chat` reads from it.

Layout of the state directory::

    <state>/api-token              the local `admin` user's personal API token (0600)
    <state>/secrets/               one file per secret, 0600, in a 0700 folder: each service's Ed25519
                                   key (<svc>.key), NATS and Redis passwords, the Ankra and model keys;
                                   services get the paths (HERMES_…_FILE), never the values
    <state>/secrets/public-keys.json  the services' public keys (not secret)
    <state>/ankra-emulator-token   token registered in the emulator (0600)
    <state>/ankra-emulator/        the Ankra emulator's state
    <state>/bin/ankra              wrapper running the emulator on that state
    <state>/nats/  <state>/redis/  server data
    <state>/logs/<svc>.log         one log per service
    <state>/up.json                what the running `hermes up` started (removed when it stops)
    <state>/up.lock                held by the running `hermes up`
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

API_TOKEN = "api-token"
SECRETS = "secrets"
PUBLIC_KEYS = "public-keys.json"
ANKRA_EMULATOR_TOKEN = "ankra-emulator-token"
ANKRA_EMULATOR_STATE = "ankra-emulator"
UP_JSON = "up.json"
UP_LOCK = "up.lock"
LOGS = "logs"


def resolve_state_dir(explicit: Path | str | None = None) -> Path:
    """The state directory: the explicit one, else HERMES_STATE_DIR, else ~/.local/state/hermes.

    Read through `Settings` so that the CLI and the services agree on the default.
    """
    if explicit:
        return Path(explicit).expanduser().absolute()
    from hermes.settings import Settings, default_state_dir

    try:
        return Path(Settings().state_dir).expanduser().absolute()
    except ValueError:  # a malformed unrelated HERMES_ variable must not hide the state dir
        configured = os.environ.get("HERMES_STATE_DIR")
        return (Path(configured).expanduser() if configured else default_state_dir()).absolute()


def read_secret(path: Path) -> str | None:
    """A secret file's content, stripped; None when it does not exist or is empty."""
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        return None
    return value or None


def ensure_secret(path: Path, generate: Callable[[], str] = lambda: secrets.token_urlsafe(32)) -> str:
    """The secret kept in `path`, generated (mode 0600) the first time.

    Created with O_EXCL so two processes racing here end up with the same value, and with
    mode 0600 from the start so the value is never readable by others, even briefly.
    """
    existing = read_secret(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        existing = read_secret(path)
        if existing:
            return existing
        # an empty file left by a crash: replace it
        path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def write_json_private(path: Path, content: dict[str, Any]) -> None:
    """Write JSON atomically with mode 0600 (up.json names ports and pids of a local service)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(content, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


def read_up_info(state_dir: Path) -> dict[str, Any] | None:
    """What the running `hermes up` wrote to up.json, or None (not running, or unreadable)."""
    try:
        data = json.loads((state_dir / UP_JSON).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def remove_up_info(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / UP_JSON).unlink()


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (signal 0 checks without sending anything)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
