"""`hermes channels register-discord-command` against a local server playing Discord's REST API."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.channels.fakes import FakeDiscord


async def run_cli(config: Path, api: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERMES_", "DISCORD_"))}
    env.update(HERMES_CONFIG=str(config), HERMES_DISCORD_API_URL=api)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from hermes_cli.main import app; app()", "channels", "register-discord-command",
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_registers_the_hermes_command_for_the_configured_application(tmp_path: Path) -> None:
    config = tmp_path / "hermes.json"
    config.write_text(json.dumps({"channels": {"discord": {"token": "discord-cli-token",
                                                           "applicationId": FakeDiscord.APP_ID}}}))
    async with FakeDiscord() as fake:
        code, out, err = await run_cli(config, fake.api)
        assert code == 0, err
        assert f"Registered /hermes for application {FakeDiscord.APP_ID}" in out
        (call,) = [c for c in fake.calls if "/commands" in c.method]
        assert call.method == f"POST /applications/{FakeDiscord.APP_ID}/commands"
        assert call.fields["name"] == "hermes" and call.fields["options"][0]["name"] == "text"
        assert "discord-cli-token" not in out + err


async def test_says_what_to_set_when_discord_is_not_configured(tmp_path: Path) -> None:
    config = tmp_path / "hermes.json"
    config.write_text("{}")
    async with FakeDiscord() as fake:
        code, _out, err = await run_cli(config, fake.api)
    assert code == 1 and "channels.discord.token" in err and not fake.calls
