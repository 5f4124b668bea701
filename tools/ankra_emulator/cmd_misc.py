"""Ankra AI (chat, chat health), charts, credentials, tokens and login."""

from __future__ import annotations

import sys
from typing import Any

from . import charts, health, render
from .context import Context, find_cluster, read_selection
from .errors import CliError, not_found, usage
from .state import iso, new_token_value, now, parse_time, token_record

MODES = ("ask", "agent")


# -- Ankra AI ------------------------------------------------------------------------------------


def _chat_clusters(ctx: Context, state: Any, question: str) -> list[dict[str, Any]]:
    """The cluster a question is about: --cluster, the selection, a cluster named in it, or all."""
    ref = ctx.flag("cluster")
    if not ref:
        selected = read_selection(ctx.selection_path())
        ref = selected.get("cluster_id") if selected else None
    if ref:
        return [find_cluster(state, ref)]
    words = question.lower()
    named = [c for c in state.clusters if c["name"].lower() in words]
    return named[:1] if named else list(state.clusters)


def cmd_chat(ctx: Context) -> int:
    """`chat "<question>" [--cluster C] [--mode ask|agent]` (a REPL without a message)."""
    mode = ctx.flag("mode") or "ask"
    if mode not in MODES:
        raise usage(f'invalid --mode "{mode}" (expected ask or agent)')
    question = " ".join(ctx.args).strip()
    if not question:
        if not sys.stdin.isatty():
            raise usage(
                "chat without a message starts an interactive session and needs a terminal; "
                'pass the question: ankra chat "<question>"'
            )
        sys.stdout.write("Ankra AI (Ctrl-D to quit)\n> ")
        sys.stdout.flush()
        question = sys.stdin.readline().strip()
        if not question:
            return 0
    with ctx.session() as state:
        clusters = _chat_clusters(ctx, state, question)
        text = health.answer(question, clusters, mode=mode)
    if ctx.fmt:
        render.dump(
            {
                "question": question,
                "mode": mode,
                "cluster": clusters[0]["name"] if len(clusters) == 1 else None,
                "answer": text,
            },
            ctx.fmt,
        )
    else:
        render.out(text)
    return 0


def cmd_health(ctx: Context) -> int:
    """`chat health [--cluster C] [--ai=true|false] [-o json]` (cmd/chat.go:424-488): `--ai` is on by
    default; the JSON is nested (health_report, ai_insights, summary)."""
    with ctx.session() as state:
        cluster = find_cluster(state, ctx.cluster_ref())
        data = health.wire(cluster, ai=bool(ctx.flag("ai")), at=iso(now()))
    if ctx.fmt:
        render.dump(data, ctx.fmt)
        return 0
    report = data["health_report"]
    render.out(f"Cluster Health for '{cluster['name']}'")
    render.out("─────────────────────────────────────────")
    render.out(f"  Status: {report['status']}")
    render.out(f"  Score:  {report['score']}/100")
    render.out(f"  Last Updated: {render.humanize(report['evaluated_at'])}")
    if data["summary"]:
        render.out(f"  Summary: {data['summary']}")
    if report["issues"]:
        render.out("")
        render.out("  Issues:")
        for issue in report["issues"]:
            render.out(f"    - [{issue['severity']}] {issue['title']}")
            for action in issue["suggested_actions"]:
                render.out(f"        · {action}")
    if data["ai_insights"]:
        render.out("")
        render.out("  AI Insights:")
        for insight in data["ai_insights"]:
            render.out(f"    - [{insight['severity']}] {insight['title']}")
            if insight["root_cause_analysis"]:
                render.out(f"        Root cause: {insight['root_cause_analysis']}")
    return 0


# -- charts --------------------------------------------------------------------------------------


def _chart_rows(views: list[dict[str, Any]]) -> list[list[Any]]:
    return [[v["name"], v["version"], v["repository_name"], render.truncate(v["description"])] for v in views]


CHART_HEADERS = ["Name", "Version", "Repository", "Description"]


def cmd_charts_list(ctx: Context) -> int:
    """`charts list [--page N --page-size N --subscribed]`."""
    page = ctx.flag("page") if ctx.flag("page") is not None else 1
    size = ctx.flag("page_size") if ctx.flag("page_size") is not None else 25
    if page < 1 or not 1 <= size <= 100:
        raise usage("--page must be >= 1 and --page-size between 1 and 100")
    every = [charts.api_view(c) for c in charts.catalog() if c["subscribed"] or not ctx.flag("subscribed")]
    chunk = every[(page - 1) * size : page * size]
    total_pages = max(1, -(-len(every) // size))
    if ctx.fmt:
        render.dump(
            {
                "charts": chunk,
                "pagination": {
                    "page": page,
                    "page_size": size,
                    "total": len(every),
                    "total_pages": total_pages,
                },
            },
            ctx.fmt,
        )
        return 0
    if not chunk:
        render.out("No charts found.")
        return 0
    render.table(CHART_HEADERS, _chart_rows(chunk))
    render.out(f"Page {page} of {total_pages} ({len(every)} charts)")
    return 0


def cmd_charts_search(ctx: Context) -> int:
    """`charts search <query>`."""
    views = [charts.api_view(c) for c in charts.search(" ".join(ctx.args))]
    if ctx.fmt:
        render.dump(views, ctx.fmt)
        return 0
    if not views:
        render.out(f'No charts found matching "{" ".join(ctx.args)}".')
        return 0
    render.table(CHART_HEADERS, _chart_rows(views))
    return 0


def cmd_charts_info(ctx: Context) -> int:
    """`charts info <name> [--repository URL]`."""
    name, repo = ctx.args[0], ctx.flag("repository")
    found = charts.find(name, repo)
    if not found:
        where = f' in repository "{repo}"' if repo else ""
        raise not_found(f'chart "{name}" not found{where}')
    view = charts.detail_view(found[0])
    if ctx.fmt:
        render.dump(view, ctx.fmt)
        return 0
    render.key_values(
        [
            ("Name", view["name"]),
            ("Repository", view["repository_name"]),
            ("Repository URL", view["repository_url"]),
            ("Latest Version", view["version"]),
            ("App Version", view["app_version"]),
            ("Subscribed", "yes" if view["subscribed"] else "no"),
            ("Description", view["description"]),
        ]
    )
    render.table(
        ["Version", "App Version"],
        [[v["version"], v["app_version"]] for v in view["versions"]],
        title="Versions",
    )
    return 0


# -- credentials ---------------------------------------------------------------------------------


def _credential_view(cred: dict[str, Any]) -> dict[str, Any]:
    # Metadata only: the state never holds a secret, and nothing that looks like one is shown.
    return {
        k: cred.get(k)
        for k in (
            "id",
            "name",
            "provider",
            "state",
            "available",
            "repos",
            "description",
            "fingerprint",
            "last_synced_at",
            "created_at",
        )
        if k in cred
    }


def cmd_credentials_list(ctx: Context) -> int:
    """`credentials list [--provider P]`."""
    provider = ctx.flag("provider")
    with ctx.session() as state:
        views = [_credential_view(c) for c in state.credentials if not provider or c["provider"] == provider]
    if ctx.fmt:
        render.dump(views, ctx.fmt)
        return 0
    if not views:
        render.out("No credentials found.")
        return 0
    render.table(
        ["ID", "Name", "Provider", "State", "Available", "Repos", "Last Synced", "Created"],
        [
            [
                v["id"],
                v["name"],
                v["provider"],
                v["state"],
                "yes" if v["available"] else "no",
                v.get("repos", 0),
                render.humanize(v.get("last_synced_at")),
                render.humanize(v["created_at"]),
            ]
            for v in views
        ],
    )
    return 0


def _find_credential(state: Any, ref: str) -> dict[str, Any]:
    for cred in state.credentials:
        if ref in (cred["id"], cred["name"]):
            return cred
    raise not_found(f'credential "{ref}" not found')


def cmd_credentials_get(ctx: Context) -> int:
    """`credentials get <id|name>`: metadata only."""
    with ctx.session() as state:
        view = _credential_view(_find_credential(state, ctx.args[0]))
    if ctx.fmt:
        render.dump(view, ctx.fmt)
        return 0
    pairs = [
        ("ID", view["id"]),
        ("Name", view["name"]),
        ("Provider", view["provider"]),
        ("State", view["state"]),
        ("Available", "yes" if view["available"] else "no"),
        ("Description", view.get("description", "")),
    ]
    if view.get("fingerprint"):
        pairs.append(("Fingerprint", view["fingerprint"]))
    pairs += [
        ("Repos", view.get("repos", 0)),
        ("Last Synced", render.humanize(view.get("last_synced_at"))),
        ("Created", render.humanize(view["created_at"])),
    ]
    render.key_values(pairs)
    return 0


def cmd_credentials_delete(ctx: Context) -> int:
    """`credentials delete <id|name> [--yes]` (prompted)."""
    with ctx.session() as state:
        cred = _find_credential(state, ctx.args[0])
        users = [
            c["name"]
            for c in state.clusters
            if cred["id"] in (c.get("credential_id"), c.get("ssh_key_credential_id"))
        ]
        if users:
            raise CliError(f'credential "{cred["name"]}" is used by cluster(s) {", ".join(users)}')
    ctx.confirm(f'Delete credential "{cred["name"]}"?', f'credential "{cred["name"]}" was not deleted')
    with ctx.session() as state:
        state.credentials.remove(_find_credential(state, cred["id"]))
    render.out(f'Credential "{cred["name"]}" deleted.')
    return 0


def cmd_credentials_create(ctx: Context, provider: str) -> int:
    """`credentials <provider> create`: asks for the secret in a masked prompt (needs a terminal)."""
    if not sys.stdin.isatty():
        raise CliError(
            f"credentials {provider} create asks for the API secret in a masked prompt and needs "
            "an interactive terminal; run it yourself in a terminal"
        )
    import getpass
    import uuid

    name = ctx.flag("name") or input("Credential name: ").strip()
    secret = getpass.getpass(f"{provider} API token: ")
    if not secret:
        raise CliError("no secret entered")
    del secret  # the emulator keeps metadata only
    with ctx.session() as state:
        state.credentials.append(
            {
                "id": f"cred-{uuid.uuid4().hex[:8]}-{provider}",
                "name": name,
                "provider": provider,
                "state": "valid",
                "available": True,
                "repos": 0,
                "last_synced_at": None,
                "created_at": iso(now()),
                "description": "",
            }
        )
    render.out(f"Credential '{name}' created successfully!")
    return 0


# -- tokens --------------------------------------------------------------------------------------


def _token_view(entry: dict[str, Any]) -> dict[str, Any]:
    """A token as `tokens list -o json` prints it (internal/client/tokens.go:10-18): `revoked`, no status."""
    view = {"id": entry["id"], "name": entry["name"], "expires_at": entry.get("expires_at") or "",
            "created_at": entry["created_at"]}
    if entry.get("revoked_at"):
        view["revoked_at"] = entry["revoked_at"]
    if entry.get("last_used_at"):
        view["last_used_at"] = entry["last_used_at"]
    view["revoked"] = entry.get("status") == "Revoked"
    return view


def cmd_tokens_list(ctx: Context) -> int:
    """`tokens list`."""
    with ctx.session() as state:
        views = [_token_view(t) for t in state.tokens]
    if ctx.fmt:
        render.dump(views, ctx.fmt)
        return 0
    render.table(
        ["ID", "Name", "Status", "Created", "Expires", "Last Used"],
        [
            [
                v["id"],
                v["name"],
                "Revoked" if v["revoked"] else "Active",
                render.humanize(v["created_at"]),
                render.humanize(v["expires_at"]) if v["expires_at"] else "Never",
                render.humanize(v.get("last_used_at")) if v.get("last_used_at") else "Never",
            ]
            for v in views
        ],
    )
    return 0


def cmd_tokens_create(ctx: Context) -> int:
    """`tokens create <name> [--expires ISO8601]`: prints the token once."""
    name = ctx.args[0]
    expires = ctx.flag("expires")
    expires_at = None
    if expires:
        try:
            moment = parse_time(expires)
        except ValueError:
            raise usage(
                f'invalid --expires "{expires}": expected an ISO 8601 date or time, e.g. 2026-12-31 '
                "or 2026-12-31T23:59:00Z"
            ) from None
        if moment <= now():
            raise CliError(f'--expires "{expires}" is in the past')
        expires_at = iso(moment)
    value = new_token_value()
    with ctx.session() as state:
        entry = token_record(
            value,
            name=name,
            role=(ctx.token or {}).get("role", "admin"),
            created=now(),
            expires_at=expires_at,
        )
        state.tokens.append(entry)
    if ctx.fmt:  # CreateTokenResponse (internal/client/tokens.go:28-33)
        render.dump({"id": entry["id"], "token": value, "expires_at": expires_at or "", "type": "api"}, ctx.fmt)
        return 0
    render.out(f"Token '{name}' created successfully!")
    render.out(f"Token ID: {entry['id']}")
    render.out(f"Expires: {expires_at or 'never'}")
    render.out("")
    render.out("Copy it now, it will not be shown again:")
    render.out("")
    render.out(f"export ANKRA_API_TOKEN='{value}'")
    return 0


def cmd_tokens_revoke(ctx: Context) -> int:
    """`tokens revoke <id>`."""
    ref = ctx.args[0]
    with ctx.session() as state:
        for entry in state.tokens:
            if entry["id"] == ref:
                if entry["status"] == "Revoked":
                    raise CliError(f'token "{ref}" is already revoked')
                entry["status"] = "Revoked"
                entry["revoked_at"] = iso(now())
                break
        else:
            raise not_found(f'token "{ref}" not found')
    render.out("Token revoked successfully!")
    return 0


# -- login ---------------------------------------------------------------------------------------


def cmd_login(ctx: Context) -> int:
    """`login`: browser single sign-on — never possible without a terminal (and not emulated)."""
    if not sys.stdin.isatty():
        raise CliError(
            "ankra login opens a browser for single sign-on and needs an interactive terminal; "
            "in scripts, pass an API token via --token or ANKRA_API_TOKEN "
            "(create one with `ankra tokens create <name>`)"
        )
    render.out("Opening https://platform.ankra.app/cli/login in your browser...")
    raise CliError(
        "browser sign-on is not available in the Ankra CLI emulator; use an API token "
        "(ankra-emulator init --token ...)"
    )
