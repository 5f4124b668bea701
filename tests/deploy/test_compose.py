"""docker-compose.yml: valid against the Compose specification's JSON schema (the copy check-jsonschema
vendors, so no network is needed), and shaped as the deploy design says."""

from __future__ import annotations

import json
import re
from importlib import resources

import jsonschema
import pytest
import yaml
from hermes import subjects

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
    users = re.findall(r"^\s*user:\s*(\w+)", conf, re.MULTILINE)
    assert sorted(users) == sorted([*SERVICES, "admin"])
    nats_env = compose["services"]["nats"]["environment"]
    for svc in SERVICES:
        url = compose["services"][svc]["environment"]["HERMES_NATS_URL"]
        password_var = f"HERMES_NATS_{svc.upper()}_PASSWORD"
        assert url.startswith(f"nats://{svc}:${{{password_var}") and url.endswith("@nats:4222"), url
        assert password_var in nats_env
        assert f"password: ${password_var}" in conf
    # every service's own durable consumers, nobody else's
    for svc in SERVICES:
        block = conf.split(f"user: {svc}\n", 1)[1].split("user:", 1)[0]
        for spec in subjects.STREAMS:
            for durable in spec.durables:
                mine = durable.startswith(svc)
                assert (f"MSG.NEXT.{spec.name}.{durable}" in block) == mine, (svc, durable)


def test_redis_persists_with_aof(compose: dict) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "--requirepass" in command
    assert any(v.startswith("redis-data:/data") for v in redis["volumes"])
    assert redis["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]


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
                                         "redis": {"condition": "service_healthy"}}
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
    assert required >= {"HERMES_API_TOKEN", "HERMES_SIGNING_KEY", "HERMES_REDIS_PASSWORD"}


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
