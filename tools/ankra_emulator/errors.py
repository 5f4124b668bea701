"""Exit codes and the error type every command raises.

The exit codes are the real CLI's scripting contract (see the reference): 0 ok, 1 API/runtime
failure, 2 usage, 3 not found, 4 cancelled, 5 `--wait` timed out, 6 auth, 7 forbidden.
"""

from __future__ import annotations

OK = 0
FAILURE = 1
USAGE = 2
NOT_FOUND = 3
CANCELLED = 4
WAIT_TIMEOUT = 5
AUTH = 6
FORBIDDEN = 7


class CliError(Exception):
    """An error the CLI reports as `Error: <message>` on stderr with a given exit code.

    `detail` lines are printed after the `Error:` line (e.g. one validation error per line).
    `usage_hint` names the command path whose `--help` the user is pointed to (usage errors).
    """

    def __init__(
        self,
        message: str,
        code: int = FAILURE,
        *,
        detail: list[str] | None = None,
        usage_hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.detail = detail or []
        self.usage_hint = usage_hint


def usage(message: str, hint: str | None = None) -> CliError:
    """A usage error (exit 2), as cobra reports bad flags and argument counts."""
    return CliError(message, USAGE, usage_hint=hint)


def not_found(message: str) -> CliError:
    """A not-found error (exit 3)."""
    return CliError(message, NOT_FOUND)


NO_CLUSTER = (
    "no cluster specified and none selected; pass --cluster <name|id>, "
    "or run `ankra cluster select <name>` first"
)
MISSING_TOKEN = "not logged in: run `ankra login`, or provide a token via --token or ANKRA_API_TOKEN"


def unauthorized(action: str) -> CliError:
    """A rejected token (exit 6), in the CLI's words."""
    return CliError(f"{action}: unauthorized. Run `ankra login` to re-authenticate", AUTH)


def forbidden(permission: str) -> CliError:
    """An RBAC refusal (exit 7), in the CLI's words."""
    return CliError(
        f'permission denied: this action requires the "{permission}" permission. '
        "Ask an organisation admin to change your role",
        FORBIDDEN,
    )
