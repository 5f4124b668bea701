"""tools/deploy_secrets.py: the folder of secret files compose mounts (and the Kubernetes Secret the chart
and the Ankra stack read): private, complete, stable across runs, and consistent (the public keys are the
private keys', the Redis ACL hashes the Redis passwords)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from hermes import permissions
from hermes.signing import ServiceKey

from .conftest import STACK, deploy_secrets_module, run_deploy_secrets
from .test_helm_chart import pods, render

SERVICES = ("gateway", "planner", "guard", "executor")


def files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir() if not p.name.startswith(".")}


def test_the_folder_is_private_and_complete(secrets_dir: Path) -> None:
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    written = files(secrets_dir)
    expected = {*(f"{s}.key" for s in SERVICES), "public-keys.json", "redis-users.acl", "api-token",
                "ankra-api-token", "anthropic-api-key", "slack-bot-token", "slack-app-token", "discord-token",
                "telegram-token", *(f"nats-{u}-password" for u in permissions.NATS_USERS),
                *(f"redis-{u}-password" for u in permissions.REDIS_USERS)}
    assert set(written) == expected
    for name in written:
        mode = (secrets_dir / name).stat()
        assert stat.S_IMODE(mode.st_mode) == 0o600, name
        assert (mode.st_uid, mode.st_gid) == (os.getuid(), os.getgid()), name
    # what a person provides is empty until they do; the rest is made
    assert {n for n, v in written.items() if not v} == {"anthropic-api-key", "slack-bot-token", "slack-app-token",
                                                        "discord-token", "telegram-token"}


def test_the_keys_and_the_acl_agree_with_what_they_derive_from(secrets_dir: Path) -> None:
    public = json.loads((secrets_dir / "public-keys.json").read_text())
    for service in SERVICES:
        key = ServiceKey.from_text(service, (secrets_dir / f"{service}.key").read_text())
        assert public[service] == key.public_text
    passwords = {u: (secrets_dir / f"redis-{u}-password").read_text().strip() for u in permissions.REDIS_USERS}
    assert (secrets_dir / "redis-users.acl").read_text().splitlines() == \
        permissions.redis_acl("hermes", passwords, hashed=True)
    nats = {(secrets_dir / f"nats-{u}-password").read_text().strip() for u in permissions.NATS_USERS}
    assert len(nats) == len(permissions.NATS_USERS), "every user its own password"
    import ankra_emulator.state

    assert (secrets_dir / "ankra-api-token").read_text().strip() == ankra_emulator.state.DEFAULT_TOKEN


def test_running_it_again_keeps_every_secret(secrets_dir: Path) -> None:
    before = files(secrets_dir)
    (secrets_dir / "gateway.key").chmod(0o644)  # a file someone loosened is made private again
    proc = run_deploy_secrets(str(secrets_dir), "--redis-prefix", "hermes")
    assert proc.returncode == 0, proc.stderr
    assert files(secrets_dir) == before
    assert stat.S_IMODE((secrets_dir / "gateway.key").stat().st_mode) == 0o600


def test_a_token_is_set_from_standard_input_only(secrets_dir: Path) -> None:
    before = files(secrets_dir)
    proc = run_deploy_secrets(str(secrets_dir), "--set", "ankra-api-token", stdin="ankra_real_token_123\n")
    assert proc.returncode == 0, proc.stderr
    after = files(secrets_dir)
    assert after.pop("ankra-api-token") == "ankra_real_token_123\n"
    before.pop("ankra-api-token")
    assert after == before
    assert "ankra_real_token_123" not in proc.stdout + proc.stderr
    bad = run_deploy_secrets(str(secrets_dir), "--set", "gateway.key", stdin="x")
    assert bad.returncode == 2, "only the secrets a person is given may be set"


def test_an_empty_model_key_file_means_no_model(secrets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hermes.settings import Settings

    monkeypatch.delenv("HERMES_ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("HERMES_ANTHROPIC_API_KEY_FILE", str(secrets_dir / "anthropic-api-key"))
    assert not Settings().anthropic_api_key  # the rule-based planner


def test_the_files_go_to_the_images_user_and_only_root_can_do_that(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    tool = deploy_secrets_module()
    monkeypatch.setattr(os, "geteuid", lambda: 4321)
    monkeypatch.setattr(os, "getuid", lambda: 4321)
    assert tool.main([str(tmp_path / "a")]) == 2
    assert "Run this with sudo" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    monkeypatch.undo()
    if os.geteuid() != 0:
        pytest.skip("giving the files to uid 1000 needs root")
    assert tool.main([str(tmp_path / "b")]) == 0
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in (tmp_path / "b").iterdir() if not p.name.startswith(".")}
    assert owners == {(1000, 1000)}


def test_the_kubernetes_secret_has_every_key_the_chart_and_the_stack_read(tmp_path: Path) -> None:
    proc = run_deploy_secrets(str(tmp_path / "s"), "--kubernetes", "hermes-secrets", "--namespace", "hermes")
    assert proc.returncode == 0, proc.stderr
    secret, config_map = yaml.safe_load_all(proc.stdout)
    assert (secret["kind"], secret["metadata"]) == ("Secret", {"name": "hermes-secrets", "namespace": "hermes"})
    assert config_map["metadata"]["name"] == "hermes-trusted-keys"
    assert json.loads(config_map["data"]["public-keys.json"]) == \
        json.loads((tmp_path / "s" / "public-keys.json").read_text())
    data = secret["stringData"]
    assert data["redis-users.acl"] == (tmp_path / "s" / "redis-users.acl").read_text().rstrip("\n")
    # the stack's hermes-secrets has the same keys (its values are this output)
    stack = yaml.safe_load(STACK.read_text())
    manifests = {m["name"]: m for s in stack["spec"]["stacks"] for m in s["manifests"]}
    assert set(yaml.safe_load(manifests["hermes-secrets"]["manifest"])["stringData"]) == set(data)
    # and every key the chart mounts from an existing Secret, with its defaults
    docs = render({"existingSecret": {"name": "hermes-secrets"},
                   "trustedKeys": {"existingConfigMap": "hermes-trusted-keys"}})
    for component, pod in pods(docs).items():
        (volume,) = [v for v in pod["volumes"] if v["name"] == "secrets"]
        sources = [s["secret"] for s in volume["projected"]["sources"]] if "projected" in volume else [volume["secret"]]
        for source in sources:
            assert {i["key"] for i in source["items"]} <= set(data), component
