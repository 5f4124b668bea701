"""`hermes config check`, `hermes skills list` and `hermes audit`: what Hermes loaded, and what it decided.

`config check` and `skills list` read files only (no service needs to run). `audit` reads the
JetStream audit stream of a running Hermes: the NATS URL comes from `--nats-url`, else
HERMES_NATS_URL, else the `nats_url` the running `hermes up` wrote to `<state>/up.json`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from hermes.audit import verified
from hermes.signing import TrustedKeys
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from hermes_cli import paths

EXIT_OK = 0
EXIT_PROBLEMS = 1  # the config has errors; the audit cannot be read
EXIT_UNUSABLE = 2  # the config file cannot be parsed at all

AUDIT_TIMEOUT_SECONDS = 20.0
_REACH_TIMEOUT_SECONDS = 3.0


def _error(err_console: Console, message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def _plain(console: Console, text: str) -> None:
    """Print a report as it is: no markup, highlighting or wrapping (paths and `ankra …` stay intact)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True, end="")


# -- hermes config check -----------------------------------------------------------------------


def config_check(file: Path | None, console: Console, err_console: Console) -> int:
    """Load the config (the file given, else the usual search path) and print what loaded, what was
    ignored and why, and every error with its file and line.

    Exit 0: no errors; 1: errors (the rest still applies); 2: the file cannot be read or parsed.
    """
    from hermes.config import ConfigError, load_config

    try:
        loaded = load_config(file)
    except ConfigError as err:
        _error(err_console, str(err))
        return EXIT_UNUSABLE
    _plain(console, loaded.report())
    return EXIT_PROBLEMS if loaded.errors else EXIT_OK


# -- hermes skills list ------------------------------------------------------------------------


def skills_list(workspace: Path | None, config_file: Path | None, console: Console, err_console: Console) -> int:
    """Discover the skills under the default roots (with the loaded config's entries and extraDirs)
    and print what loaded, what was skipped and why, and the commands they allow."""
    from hermes.config import ConfigError, load_config
    from hermes.skills import default_roots, discover_skills

    try:
        config = load_config(config_file)
    except ConfigError as err:
        _error(err_console, f"{err}\nThe skills below are listed without the config "
                            "(no skills.entries, no extraDirs).")
        config = None
    if workspace is None and os.environ.get("HERMES_WORKSPACE"):
        workspace = Path(os.environ["HERMES_WORKSPACE"])
    home = Path(os.environ.get("HOME") or Path.home())
    roots = default_roots(workspace.expanduser().absolute() if workspace else None, home, config)
    _plain(console, discover_skills(roots, config).report())
    return EXIT_OK


# -- hermes audit ------------------------------------------------------------------------------


class AuditUnavailable(Exception):
    """The audit cannot be read; the message says why and what to do."""


def resolve_nats_url(explicit: str | None, state_dir: Path | None) -> str:
    """The NATS URL: the flag, else HERMES_NATS_URL, else `nats_url` of `<state>/up.json`."""
    return resolve_nats(explicit, state_dir)[0]


def resolve_nats(explicit: str | None, state_dir: Path | None) -> tuple[str, str | None, str | None]:
    """(URL, user, password): the flag or HERMES_NATS_URL (credentials in the URL, if any), else what
    the running `hermes up` wrote to up.json, with its operators' NATS user."""
    if explicit:
        return explicit, None, None
    if os.environ.get("HERMES_NATS_URL"):
        return os.environ["HERMES_NATS_URL"], None, None
    state = paths.resolve_state_dir(state_dir)
    info = paths.read_up_info(state) or {}
    url = info.get("nats_url")
    if isinstance(url, str) and url:
        admin = info.get("nats_admin") or {}
        password = paths.read_secret(Path(admin["password_file"])) if admin.get("password_file") else None
        return url, admin.get("user"), password
    raise AuditUnavailable(
        f"no NATS URL: pass --nats-url, set HERMES_NATS_URL, or start Hermes with `hermes up` "
        f"(no running `hermes up` found in {state})")


def _check_reachable(nats_url: str) -> None:
    """Fail fast when no server of the URL accepts a connection (the NATS client would retry for minutes)."""
    problems = []
    for server in nats_url.split(","):
        server = server.strip()
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        try:
            with socket.create_connection((host, port), timeout=_REACH_TIMEOUT_SECONDS):
                return
        except OSError as exc:
            problems.append(f"{host}:{port} ({exc.strerror or exc.__class__.__name__})")
    raise AuditUnavailable(f"cannot reach NATS at {nats_url}: {', '.join(problems)}. Is Hermes running "
                           "(`hermes up`)? Pass --nats-url or set HERMES_NATS_URL to read another one.")


def trusted_keys(state_dir: Path | None) -> TrustedKeys:
    """The services' public keys: HERMES_TRUSTED_KEYS, else those `hermes up` wrote to the state dir."""
    from hermes.signing import trusted_from_json

    text = os.environ.get("HERMES_TRUSTED_KEYS")
    if not text:
        path = paths.resolve_state_dir(state_dir) / paths.SECRETS / paths.PUBLIC_KEYS
        text = path.read_text() if path.exists() else None
    return TrustedKeys(trusted_from_json(text))


async def fetch_audit(nats_url: str, conversation_id: str | None, cluster: str | None, limit: int,
                      timeout: float = AUDIT_TIMEOUT_SECONDS, user: str | None = None,
                      password: str | None = None) -> list:
    """The audit records (oldest first), or AuditUnavailable with a reason a person can act on."""
    import nats.errors
    import nats.js.errors
    from hermes import subjects
    from hermes.audit import read_audit

    _check_reachable(nats_url)
    try:
        return await asyncio.wait_for(read_audit(nats_url, conversation_id, cluster, limit, user, password),
                                      timeout)
    except nats.js.errors.NotFoundError:
        raise AuditUnavailable(
            f"NATS at {nats_url} has no {subjects.AUDIT_STREAM.name} stream: no Hermes service has "
            "started against it yet, or this is another NATS server") from None
    except nats.js.errors.ServiceUnavailableError:
        raise AuditUnavailable(f"NATS at {nats_url} has no JetStream enabled (start it with -js)") from None
    except (TimeoutError, nats.errors.TimeoutError):
        raise AuditUnavailable(f"NATS at {nats_url} did not answer within {timeout:g}s") from None
    except (nats.errors.NoServersError, nats.errors.Error, OSError) as exc:
        raise AuditUnavailable(f"cannot read the audit from NATS at {nats_url}: "
                               f"{exc.__class__.__name__}: {exc}") from None


def _who(records_field: object) -> str:
    if isinstance(records_field, list):
        return ", ".join(str(v) for v in records_field) or "-"
    return str(records_field) if records_field else "-"


def _signed(value: bool | None) -> str:
    return {True: "✓", False: "✗ NOT the service's", None: "?"}[value]


AUDIT_FIELDS = ("who asked", "who approved", "profile", "cluster", "commands", "outcome / reason", "plan", "signed")


def _audit_fields(record, keys: TrustedKeys | None) -> dict[str, str]:
    """Every field a person reads in an audit record, as shown (commands one per line)."""
    from hermes.catalog import display

    return {
        "who asked": _who(record.requested_by),
        "who approved": _who(record.approved_by),
        "profile": record.profile or "-",
        "cluster": record.cluster or "-",
        "commands": "\n".join(display(argv) for argv in record.commands) or "-",
        "outcome / reason": " — ".join(part for part in (record.outcome, record.reason) if part) or "-",
        "plan": (record.plan_hash or "-")[:12],
        "signed": _signed(verified(record, keys or TrustedKeys())),
    }


def _audit_title(records: list) -> str:
    return f"Audit ({len(records)} record{'s' if len(records) != 1 else ''})"


def audit_table(records: list, keys: TrustedKeys | None = None) -> Table:
    """One row per record, a column per field: for a terminal wide enough to show every column."""
    table = Table(box=box.SIMPLE_HEAVY, title=_audit_title(records), title_justify="left")
    for name, kwargs in (("time", {"no_wrap": True}), ("event", {"no_wrap": True}), ("who asked", {}),
                         ("who approved", {}), ("profile", {}), ("cluster", {}), ("commands", {"overflow": "fold"}),
                         ("outcome / reason", {"overflow": "fold"}), ("plan", {"no_wrap": True}),
                         ("signed", {"no_wrap": True})):
        table.add_column(name, **kwargs)
    for record in records:
        fields = _audit_fields(record, keys)
        table.add_row(record.created_at.strftime("%Y-%m-%d %H:%M:%S"), record.event,
                      *(escape(fields[name]) for name in AUDIT_FIELDS))
    return table


def audit_blocks(records: list, keys: TrustedKeys | None = None) -> Group:
    """One stacked block per record (time and event, then a line per field): every field shows at any width."""
    parts: list = [Text(_audit_title(records), style="italic")]
    for record in records:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for name, value in _audit_fields(record, keys).items():
            grid.add_row(name, Text(value))
        parts += [Text(""), Text.assemble((record.created_at.strftime("%Y-%m-%d %H:%M:%S"), "bold"), "  ",
                                          (record.event, "bold cyan")), Padding(grid, (0, 0, 0, 2))]
    return Group(*parts)


def audit_view(console: Console, records: list, keys: TrustedKeys | None = None) -> Table | Group:
    """The table when every column fits the terminal (rich would otherwise drop columns), else blocks."""
    table = audit_table(records, keys)
    unbounded = console.options.update_width(1_000_000)  # what the table needs, not what it is given
    if Measurement.get(console, unbounded, table).minimum <= console.width:
        return table
    return audit_blocks(records, keys)


def audit(nats_url: str | None, conversation_id: str | None, cluster: str | None, limit: int, as_json: bool,
          state_dir: Path | None, console: Console, err_console: Console) -> int:
    """Print the audit records (a table, or one JSON object per line)."""
    try:
        url, user, password = resolve_nats(nats_url, state_dir)
        records = asyncio.run(fetch_audit(url, conversation_id, cluster, limit, user=user, password=password))
        keys = trusted_keys(state_dir)
    except AuditUnavailable as err:
        _error(err_console, str(err))
        return EXIT_PROBLEMS
    if as_json:
        out = console.file if console.file is not None else sys.stdout
        for record in records:
            out.write(json.dumps({**record.model_dump(mode="json"), "verified": verified(record, keys)},
                                 ensure_ascii=False) + "\n")
        out.flush()
        return EXIT_OK
    if not records:
        filters = [f"conversation {conversation_id}" if conversation_id else "",
                   f"cluster {cluster}" if cluster else ""]
        shown = " and ".join(f for f in filters if f)
        console.print(f"No audit records{' for ' + shown if shown else ''}.", highlight=False)
        return EXIT_OK
    console.print(audit_view(console, records, keys))
    forged = sum(1 for r in records if verified(r, keys) is False)
    if forged:
        err_console.print(f"[bold red]{forged} record(s) do not carry the signature of the service they name[/]: "
                          "someone other than that service wrote them.", highlight=False)
    return EXIT_OK


# -- hermes channels register-discord-command ----------------------------------------------------


async def register_discord_command(file: Path | None, console: Console, err_console: Console) -> int:
    """Create (or update) the global `/hermes` command of the configured Discord application."""
    import discord
    from hermes.config import ConfigError, load_config
    from hermes.settings import Settings
    from hermes_gateway.channels import MemorySeen
    from hermes_gateway.discord_adapter import HERMES_COMMAND, DiscordAdapter

    try:
        loaded = load_config(file)
    except ConfigError as err:
        _error(err_console, str(err))
        return EXIT_UNUSABLE
    cfg = loaded.channels.discord
    if cfg is None or not cfg.configured:
        _error(err_console, "Discord is not configured: set channels.discord.token (or config.discordToken, "
                            "or DISCORD_BOT_TOKEN) and channels.discord.applicationId; see docs/channels.md")
        return EXIT_PROBLEMS
    api_url = Settings().discord_api_url
    if api_url:
        discord.http.Route.BASE = api_url.rstrip("/")

    class _NoInbound:  # registering a command receives nothing
        async def message(self, **_kwargs: object) -> None: ...

        async def decision(self, **_kwargs: object) -> None: ...

    adapter = DiscordAdapter.from_config(cfg, inbound=_NoInbound(), seen=MemorySeen(), gateway=False)
    try:
        await adapter.register_command()
    except discord.HTTPException as err:
        _error(err_console, f"Discord refused the command ({err.status}: {err.text or err}); check the bot token "
                            "and that the application has the applications.commands scope")
        return EXIT_PROBLEMS
    except (discord.DiscordException, OSError) as err:
        _error(err_console, f"could not reach Discord: {err}")
        return EXIT_PROBLEMS
    finally:
        await adapter.close()
    console.print(f"Registered /{HERMES_COMMAND['name']} for application "
                  f"{adapter.application_id or adapter.client.application_id}.", highlight=False)
    return EXIT_OK
