"""docker-compose.yml: valid against the Compose specification's JSON schema (the copy check-jsonschema
vendors, so no network is needed), and shaped as the deploy design says."""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from hermes import permissions, subjects

from .conftest import COMPOSE, DEPLOY, NATS_CONF, ROOT

SERVICES = ("gateway", "planner", "guard", "executor")


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


def test_nats_runs_jetstream_on_file_storage_with_the_project_config(compose: dict) -> None:
    nats = compose["services"]["nats"]
    command = nats["command"]
    assert "-js" in command and command[command.index("-sd") + 1].startswith("/data")
    assert command[command.index("-c") + 1] == "/etc/nats/nats.conf"
    assert any(v.startswith("./deploy/nats/nats.conf:/etc/nats/nats.conf") for v in nats["volumes"])
    assert any(v.startswith("nats-data:/data") for v in nats["volumes"])
    assert "healthz" in " ".join(nats["healthcheck"]["test"])


def test_one_nats_user_per_service(compose: dict) -> None:
    conf = NATS_CONF.read_text()
    assert conf == permissions.nats_config(), "python -m hermes.permissions nats > deploy/nats/nats.conf"
    users = re.findall(r"^\s*user:\s*(\w+)", conf, re.MULTILINE)
    assert sorted(users) == sorted(permissions.NATS_USERS)
    nats_env = compose["services"]["nats"]["environment"]
    assert set(nats_env) == {permissions.password_env(u) for u in permissions.NATS_USERS}
    for svc in SERVICES:
        url = compose["services"][svc]["environment"]["HERMES_NATS_URL"]
        password_var = f"HERMES_NATS_{svc.upper()}_PASSWORD"
        assert url.startswith(f"nats://{svc}:${{{password_var}") and url.endswith("@nats:4222"), url
        assert f"password: ${password_var}" in conf
    # every service's own durable consumers, nobody else's
    for svc in SERVICES:
        block = conf.split(f"user: {svc}\n", 1)[1].split("user:", 1)[0]
        for spec in subjects.STREAMS:
            for durable in spec.durables:
                mine = durable.startswith(svc)
                assert (f"MSG.NEXT.{spec.name}.{durable}" in block) == mine, (svc, durable)


def test_the_bootstrap_runs_once_before_the_services_as_its_own_user(compose: dict) -> None:
    bootstrap = compose["services"]["bootstrap"]
    assert bootstrap["command"] == ["hermes", "bootstrap"]
    assert bootstrap["restart"] == "no"
    assert bootstrap["environment"]["HERMES_NATS_URL"].startswith("nats://bootstrap:${HERMES_NATS_BOOTSTRAP_PASSWORD")
    assert bootstrap["depends_on"] == {"nats": {"condition": "service_healthy"}}
    assert bootstrap["build"]["target"] == "runtime" and bootstrap["read_only"] is True
    for svc in SERVICES:
        service = compose["services"][svc]
        assert service["depends_on"]["bootstrap"] == {"condition": "service_completed_successfully"}
        assert service["environment"]["HERMES_NATS_DECLARE_STREAMS"] == "false"
    # the executor consumer's ack wait: the bootstrap sets it, the executor expects the same
    assert bootstrap["environment"]["HERMES_EXEC_ACK_WAIT_SECONDS"] == \
        compose["services"]["executor"]["environment"]["HERMES_EXEC_ACK_WAIT_SECONDS"]


def _redis_script(compose: dict) -> str:
    redis = compose["services"]["redis"]
    assert redis["entrypoint"] == ["/bin/sh", "-c"]
    return redis["command"][0].replace("$$", "$")  # what compose hands the shell


def test_redis_acl_is_the_generated_one(compose: dict) -> None:
    script = _redis_script(compose)
    lines = script.split("<<EOF\n", 1)[1].split("\nEOF\n", 1)[0].splitlines()
    placeholders = {u: "${" + permissions.redis_password_env(u) + "}" for u in permissions.REDIS_USERS}
    assert lines == permissions.redis_acl("hermes", placeholders, redis_major=7, hashed=False), \
        "regenerate the ACL lines: python -m hermes.permissions redis-acl"
    env = compose["services"]["redis"]["environment"]
    assert {permissions.redis_password_env(u) for u in permissions.REDIS_USERS} <= set(env)


def test_redis_start_script_writes_a_private_acl_file_with_the_passwords(compose: dict, tmp_path: Path) -> None:
    """The shell part of the redis command, run for real (up to handing over to redis-server)."""
    script = _redis_script(compose).split("chown", 1)[0].replace("/run/redis-acl", str(tmp_path))
    passwords = {u: f"{u}-{os.urandom(8).hex()}" for u in permissions.REDIS_USERS}
    env = {"PATH": os.environ["PATH"], **{permissions.redis_password_env(u): p for u, p in passwords.items()}}
    subprocess.run(["/bin/sh", "-c", script], env=env, check=True, timeout=30)
    written = tmp_path / "users.acl"
    assert written.stat().st_mode & 0o777 == 0o600
    assert written.read_text().splitlines() == permissions.redis_acl("hermes", passwords, hashed=False)


def test_redis_persists_with_aof_and_every_service_is_its_own_user(compose: dict) -> None:
    redis = compose["services"]["redis"]
    script = _redis_script(compose)
    assert "--appendonly yes" in script and "--aclfile /run/redis-acl/users.acl" in script
    assert "requirepass" not in script
    assert any(t.startswith("/run/redis-acl:mode=0700") for t in redis["tmpfs"])
    assert any(v.startswith("redis-data:/data") for v in redis["volumes"])
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "--user", "admin", "ping"]
    for svc in SERVICES:
        url = compose["services"][svc]["environment"]["HERMES_REDIS_URL"]
        assert url == f"redis://{svc}:${{HERMES_REDIS_{svc.upper()}_PASSWORD:?set in .env}}@redis:6379/0"


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
        assert "HERMES_REDIS_URL" in service["environment"]
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
    assert executor["build"]["args"]["ANKRA_CLI"] == "${HERMES_ANKRA_CLI:-emulator}"
    import ankra_emulator.state

    assert executor["environment"]["ANKRA_API_TOKEN"] == f"${{ANKRA_API_TOKEN:-{ankra_emulator.state.DEFAULT_TOKEN}}}"
    # the signing key only where orders are signed and verified
    for svc in SERVICES:
        assert ("HERMES_SIGNING_KEY" in compose["services"][svc]["environment"]) == (svc in ("guard", "executor"))


def test_env_example_names_every_variable_compose_requires(compose: dict) -> None:
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (DEPLOY / "compose.env.example").read_text()
    names = set(re.findall(r"^(\w+)=", example, re.MULTILINE))
    assert required <= names, required - names
    assert required >= {"HERMES_API_TOKEN", "HERMES_SIGNING_KEY", "HERMES_NATS_BOOTSTRAP_PASSWORD",
                        "HERMES_REDIS_GATEWAY_PASSWORD", "HERMES_REDIS_ADMIN_PASSWORD"}


def test_dockerfile_has_a_target_per_service_and_runs_as_1000() -> None:
    text = (ROOT / "Dockerfile").read_text()
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", text, re.MULTILINE))
    assert {"gateway", "planner", "guard", "executor", "executor-emulator", "executor-release"} <= targets
    assert "USER 1000:1000" in text.rsplit("AS runtime", 1)[1]
    assert text.rstrip().splitlines()[-2].startswith("FROM executor-${ANKRA_CLI} AS executor")
    for svc in ("gateway", "planner", "guard", "executor"):
        assert f'CMD ["python", "-m", "hermes_{svc}"]' in text
    assert "ARG ANKRA_CLI=emulator" in text and "ARG ANKRA_CLI_VERSION" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored and "tests" in ignored
