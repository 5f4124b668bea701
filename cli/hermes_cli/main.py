"""The `hermes` command: wiring of the subcommands only; the work lives in up, chat, client and admin."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hermes_cli import chat as chat_mod
from hermes_cli import paths
from hermes_cli.users import users_app

SERVICES = ("gateway", "planner", "guard", "executor")

app = typer.Typer(
    name="hermes",
    help="Hermes: an infrastructure agent for the Ankra Kubernetes platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version() -> str:
    try:
        return metadata.version("ankra-hermes")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"hermes {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.",
                                          callback=_version_callback, is_eager=True)] = False,
) -> None:
    """Hermes: an infrastructure agent for the Ankra Kubernetes platform."""


def _consoles() -> tuple[Console, Console]:
    return Console(), Console(stderr=True)


StateDirOption = Annotated[Path | None, typer.Option(
    "--state-dir", help="State directory (default: HERMES_STATE_DIR or ~/.local/state/hermes).")]
UrlOption = Annotated[str | None, typer.Option(
    "--url", help="Gateway URL (default: HERMES_URL, else the running `hermes up`).")]
TokenOption = Annotated[str | None, typer.Option(
    "--token", help="Your personal API token, which says who you are (default: HERMES_API_TOKEN, else the "
                    "local admin's <state dir>/api-token).")]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds to wait for the final reply.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the raw events, one JSON object per line.")]


@app.command()
def up(
    state_dir: StateDirOption = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port of the gateway's HTTP API.")] = 8789,
    foreground_logs: Annotated[bool, typer.Option(
        "--foreground-logs", help="Also print the services' logs here (they always go to <state>/logs).")] = False,
) -> None:
    """Start NATS, Redis, the Ankra emulator (unless a real ankra is set up) and the four services.

    Everything runs locally as child processes; Ctrl-C stops it all.
    """
    from hermes_cli.up import up as run_up

    raise typer.Exit(run_up(paths.resolve_state_dir(state_dir), port, foreground_logs))


@app.command()
def status(
    state_dir: StateDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the state as JSON.")] = False,
) -> None:
    """Whether `hermes up` runs, and each of its processes: running or restarting, and how often restarted.

    Exit 0: running and every process up; 1: not running, a process restarting, or processes left over.
    """
    from hermes_cli.up import status as up_status

    raise typer.Exit(up_status(paths.resolve_state_dir(state_dir), Console(), as_json))


@app.command()
def chat(
    text: Annotated[list[str] | None, typer.Argument(
        help="What to ask. Without it, an interactive session starts.", show_default=False)] = None,
    conversation: Annotated[str | None, typer.Option(
        "-c", "--conversation", help="Continue this conversation.")] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    timeout: TimeoutOption = 120.0,
    state_dir: StateDirOption = None,
) -> None:
    """Ask Hermes something and print its reply (no text: an interactive session)."""
    conn = chat_mod.resolve_connection(url, token, state_dir)
    console, err_console = _consoles()
    kwargs = {"conversation_id": conversation, "as_json": as_json,
              "timeout": timeout, "console": console, "err_console": err_console}
    message = " ".join(text or []).strip()
    if message:
        code = chat_mod.one_shot(conn, message, **kwargs)
    else:
        code = chat_mod.repl(conn, **kwargs)
    raise typer.Exit(code)


def _decide(decision: str, approval_id: str, url: str | None, token: str | None,
            no_wait: bool, as_json: bool, timeout: float, state_dir: Path | None) -> None:
    conn = chat_mod.resolve_connection(url, token, state_dir)
    console, err_console = _consoles()
    raise typer.Exit(chat_mod.decide(conn, approval_id, decision, follow=not no_wait,
                                     as_json=as_json, timeout=timeout, console=console,
                                     err_console=err_console))


NoWaitOption = Annotated[bool, typer.Option("--no-wait", help="Send the decision without waiting for the outcome.")]


@app.command()
def approve(
    approval_id: Annotated[str, typer.Argument(help="The approval id Hermes showed.")],
    url: UrlOption = None, token: TokenOption = None, no_wait: NoWaitOption = False,
    as_json: JsonOption = False, timeout: TimeoutOption = 120.0, state_dir: StateDirOption = None,
) -> None:
    """Approve a pending plan as yourself (the token's user); then show what it did."""
    _decide("approve", approval_id, url, token, no_wait, as_json, timeout, state_dir)


@app.command()
def reject(
    approval_id: Annotated[str, typer.Argument(help="The approval id Hermes showed.")],
    url: UrlOption = None, token: TokenOption = None, no_wait: NoWaitOption = False,
    as_json: JsonOption = False, timeout: TimeoutOption = 120.0, state_dir: StateDirOption = None,
) -> None:
    """Reject a pending plan (or withdraw your own request): nothing of it runs."""
    _decide("reject", approval_id, url, token, no_wait, as_json, timeout, state_dir)


@app.command()
def whoami(
    url: UrlOption = None, token: TokenOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the gateway's answer as JSON.")] = False,
    state_dir: StateDirOption = None,
) -> None:
    """Who the gateway takes you for: the user and roles of your token."""
    conn = chat_mod.resolve_connection(url, token, state_dir)
    console, err_console = _consoles()
    raise typer.Exit(chat_mod.whoami(conn, as_json=as_json, console=console, err_console=err_console))


config_app = typer.Typer(name="config", help="The configuration: hermes.json or an OpenClaw openclaw.json.",
                          no_args_is_help=True)
skills_app = typer.Typer(name="skills", help="The skills (SKILL.md folders) Hermes loads.", no_args_is_help=True)
channels_app = typer.Typer(name="channels", help="Slack, Telegram and Discord (docs/channels.md).",
                           no_args_is_help=True)
app.add_typer(config_app)
app.add_typer(skills_app)
app.add_typer(channels_app)
app.add_typer(users_app)

ConfigFileOption = Annotated[Path | None, typer.Option(
    "--file", "-f", help="The config file (default: HERMES_CONFIG, ~/.hermes/hermes.json, then "
                         "~/.openclaw/openclaw.json).")]


@config_app.command("check")
def config_check(file: ConfigFileOption = None) -> None:
    """Say what the config loaded, what it ignored and why, and each error with its file and line.

    Exit 0: no errors; 1: errors (the rest of the file still applies); 2: the file cannot be parsed.
    """
    from hermes_cli import admin

    raise typer.Exit(admin.config_check(file, *_consoles()))


@skills_app.command("list")
def skills_list(
    workspace: Annotated[Path | None, typer.Option(
        "--workspace", "-w", help="Workspace whose skills/ and .agents/skills/ come first "
                                  "(default: HERMES_WORKSPACE).")] = None,
    file: ConfigFileOption = None,
) -> None:
    """List the skills found under every root: loaded, or skipped and why; and the commands they allow."""
    from hermes_cli import admin

    raise typer.Exit(admin.skills_list(workspace, file, *_consoles()))


@channels_app.command("register-discord-command")
def register_discord_command(file: ConfigFileOption = None) -> None:
    """Create (or update) Discord's `/hermes` slash command for the configured application (once per app)."""
    import asyncio

    from hermes_cli import admin

    raise typer.Exit(asyncio.run(admin.register_discord_command(file, *_consoles())))


@app.command()
def audit(
    conversation: Annotated[str | None, typer.Option(
        "-c", "--conversation", help="Only this conversation.")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Only decisions about this cluster.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most the last N records.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records, one JSON object per line.")] = False,
    nats_url: Annotated[str | None, typer.Option(
        "--nats-url", help="NATS server (default: HERMES_NATS_URL, else the running `hermes up`).")] = None,
    state_dir: StateDirOption = None,
) -> None:
    """Show the audit: every decision (who asked, who approved, profile, plan hash, outcome)."""
    from hermes_cli import admin

    raise typer.Exit(admin.audit(nats_url, conversation, cluster, limit, as_json, state_dir, *_consoles()))


@app.command()
def bootstrap(
    nats_url: Annotated[str | None, typer.Option(
        "--nats-url", help="NATS server (default: HERMES_NATS_URL).")] = None,
) -> None:
    """Create (or bring up to date) every stream and durable consumer, as the `bootstrap` NATS user.

    Services may not create streams; a deployment runs this once before them (the Helm chart's Job,
    the compose `bootstrap` service). Credentials: HERMES_NATS_USER and HERMES_NATS_PASSWORD_FILE.
    """
    from hermes import bus
    from hermes.settings import Settings

    settings = Settings()
    url = nats_url or settings.nats_url
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    try:
        asyncio.run(bus.bootstrap(url, user=settings.nats_user, password=password))
    except Exception as err:  # the message is for a person running a deployment step
        Console(stderr=True).print(f"[bold red]error:[/] bootstrap of {url} failed: {err}", highlight=False,
                                   soft_wrap=True)
        raise typer.Exit(1) from None
    typer.echo(f"streams and consumers are in place on {url}")


@app.command()
def keys(
    directory: Annotated[Path, typer.Argument(help="Where to write <service>.key (0600) and public-keys.json")],
) -> None:
    """Make each service's own Ed25519 key for a deployment, and the public keys every service is given.

    Mount `<service>.key` into that service only (HERMES_SERVICE_KEY_FILE); give all of them
    public-keys.json's content as HERMES_TRUSTED_KEYS. Existing key files are kept.
    """
    from hermes_cli.up import SERVICES as ALL
    from hermes_cli.up import Vault

    public = Vault(directory).service_keys(ALL)
    typer.echo(f"keys of {', '.join(ALL)} in {directory}; HERMES_TRUSTED_KEYS={json.dumps(public)}")


@app.command()
def asyncapi(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")]
    = None,
) -> None:
    """Print the AsyncAPI document of the bus, generated from the services (docs/asyncapi.yaml)."""
    from hermes_cli.asyncapi import build_document

    document = build_document()
    if output is None:
        typer.echo(document, nl=False)
    else:
        output.write_text(document)
        typer.echo(f"wrote {output}")


@app.command()
def run(
    service: Annotated[str, typer.Argument(help="gateway, planner, guard or executor", show_default=False)],
) -> None:
    """Run one service in the foreground, configured by HERMES_… environment variables.

    This is what each container of a deployment runs; `hermes up` runs the same code as
    `python -m hermes_<service>`.
    """
    name = service.strip().lower()
    if name not in SERVICES:
        Console(stderr=True).print(f"[bold red]error:[/] unknown service {service!r}; "
                                   f"choose one of: {', '.join(SERVICES)}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    module_name = f"hermes_{name}.app"
    if importlib.util.find_spec(f"hermes_{name}") is None:
        Console(stderr=True).print(f"[bold red]error:[/] the {name} service (hermes_{name}) is not installed; "
                                   "reinstall the project with `pip install -e .`", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    service_app = importlib.import_module(module_name)
    try:
        faststream_app = service_app.create_app()
    except RuntimeError as err:  # missing configuration: the service's message says which variable
        Console(stderr=True).print(f"[bold red]error:[/] {name}: {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    try:
        asyncio.run(faststream_app.run())
    except KeyboardInterrupt:
        pass

if __name__ == "__main__":
    app()
