"""Mutations persist, parallel runs stay consistent, auth precedence, init and the wrapper."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ankra_emulator

from .conftest import Emu

STAGING_ID = "3f6c2a9e-5b1d-4c7a-9e2f-8d4b6a1c0e57"  # tools/ankra_emulator/seed.py
PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"


def worker_count(emu: Emu, cluster_id: str, provider: str) -> int:
    return emu.json("cluster", provider, "workers", cluster_id)["worker_count"]


def test_scale_persists_and_bounds_are_enforced(emu: Emu) -> None:
    result = emu.run("cluster", "scale", STAGING_ID, "5")
    assert (
        result.returncode == 0 and result.stdout == "  Provider: hetzner\nScaling up from 3 to 5 workers.\n"
    )
    assert emu.run("cluster", "hetzner", "workers", STAGING_ID).stdout.startswith("Worker Count: 5\n")
    assert emu.json("cluster", "info", "staging-cluster")["nodes"] == 6
    too_many = emu.run("cluster", "scale", STAGING_ID, "50")
    assert too_many.returncode == 1 and "max 10" in too_many.stderr
    not_a_number = emu.run("cluster", "scale", STAGING_ID, "five")
    # cmd/cluster_scale.go:51-55: a plain error, so exit 1 (not a usage error)
    assert not_a_number.returncode == 1
    assert not_a_number.stderr == 'Error: invalid worker count: strconv.Atoi: parsing "five": invalid syntax\n'
    assert emu.json("cluster", "scale", STAGING_ID, "4") == {"previous_count": 5, "new_count": 4}


def test_node_group_add_scale_delete(emu: Emu) -> None:
    added = emu.run(
        "cluster", "node-group", "add", STAGING_ID, "--name", "gpu", "--count", "2", "--instance-type", "ccx33"
    )
    assert added.returncode == 0, added.stderr
    assert worker_count(emu, STAGING_ID, "hetzner") == 5
    assert emu.run("cluster", "node-group", "delete", STAGING_ID, "gpu").returncode == 4  # prompt, EOF
    deleted = emu.run("cluster", "node-group", "delete", STAGING_ID, "gpu", "--yes")
    assert deleted.returncode == 0
    groups = [g["name"] for g in emu.json("cluster", "node-group", "list", STAGING_ID)["node_groups"]]
    assert groups == ["workers"]
    assert emu.run("cluster", "node-group", "scale", STAGING_ID, "gpu", "1").returncode == 3


def test_deprovision_prompt_then_state_then_gone(emu: Emu) -> None:
    emu.write_faults(deprovision_seconds=600)
    cancelled = emu.run("cluster", "deprovision", "staging-cluster")
    assert cancelled.returncode == 4
    assert 'Deprovision cluster "staging-cluster"?' in cancelled.stdout and "[y/N]: " in cancelled.stdout
    assert emu.json("cluster", "info", "staging-cluster")["state"] == "online"
    done = emu.run("cluster", "deprovision", "staging-cluster", "--yes")
    assert done.returncode == 0 and "being deprovisioned" in done.stdout
    assert emu.json("cluster", "info", "staging-cluster")["state"] == "deprovisioning"
    assert emu.run("cluster", "scale", STAGING_ID, "4").returncode == 1
    emu.write_faults(deprovision_seconds=0)  # the platform finished tearing it down
    assert emu.run("cluster", "info", "staging-cluster").returncode == 3
    old_form = emu.run("cluster", "ovh", "deprovision", PRODUCTION_ID, "--yes", "--force")
    assert old_form.returncode == 0 and old_form.stderr == ""  # not deprecated in the CLI
    assert emu.run("cluster", "list").stdout == "No clusters found.\n"


def test_created_cluster_comes_online(emu: Emu) -> None:
    emu.write_faults(provision_seconds=0)
    emu.run(
        "cluster",
        "upcloud",
        "create",
        "--name",
        "u1",
        "--credential-id",
        "upcloud-dev",
        "--ssh-key-credential-id",
        "deploy-ssh-key",
        "--zone",
        "fi-hel1",
        "--worker-count",
        "3",
        "--worker-plan",
        "4xCPU-8GB",
    )
    info = emu.json("cluster", "info", "u1")
    assert (info["state"], info["nodes"], info["kind"]) == ("online", 4, "upcloud")
    assert emu.run("cluster", "upcloud", "workers", info["id"]).stdout.startswith("Worker Count: 3\n")
    groups = emu.json("cluster", "node-group", "list", info["id"])["node_groups"]
    assert groups[0]["instance_type"] == "4xCPU-8GB"


def test_rename_and_clone(emu: Emu) -> None:
    renamed = emu.run("cluster", "stacks", "rename", "ingress", "edge", "--cluster", "staging-cluster")
    assert renamed.returncode == 0, renamed.stderr
    names = [s["name"] for s in emu.json("cluster", "stacks", "list", "--cluster", "staging-cluster")]
    assert "edge" in names and "ingress" not in names
    taken = emu.run("cluster", "stacks", "rename", "edge", "monitoring", "--cluster", "staging-cluster")
    assert taken.returncode == 1
    cloned = emu.run(
        "cluster",
        "stacks",
        "clone",
        "edge",
        "--to",
        "production",
        "--name",
        "edge-copy",
        "--cluster",
        "staging-cluster",
    )
    assert cloned.returncode == 0, cloned.stderr
    prod = {s["name"]: s for s in emu.json("cluster", "stacks", "list", "--cluster", "production")}
    assert len(prod["edge-copy"]["addons"]) == 2
    history = emu.json("cluster", "stacks", "history", "edge-copy", "--cluster", "production")["history"]
    newest = history[0]["version_history"][0]  # per member, newest version first
    assert newest["change_type"] == "created" and "cloned from" in newest["delta"][0]["summary"]


def test_reconcile_records_operations(emu: Emu) -> None:
    emu.run("cluster", "reconcile", "production")
    clusters = json.loads((emu.state / "clusters.json").read_text())["clusters"]
    prod = next(c for c in clusters if c["name"] == "production")
    assert len(prod["operations"]) == 3 and prod["last_reconciled_at"]


def test_parallel_scale_and_apply_leave_consistent_state(emu: Emu, tmp_path: Path) -> None:
    files = []
    for i in range(10):
        doc = {
            "apiVersion": "v1",
            "kind": "ImportCluster",
            "metadata": {"name": "production"},
            "spec": {
                "stacks": [
                    {
                        "name": f"par-{i}",
                        "manifests": [
                            {
                                "name": f"par-{i}-ns",
                                "manifest": f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: par-{i}}}\n",
                            }
                        ],
                        "addons": [
                            {
                                "name": f"par-{i}-redis",
                                "chart_name": "redis",
                                "chart_version": "19.6.4",
                                "namespace": f"par-{i}",
                                "parents": [{"name": f"par-{i}-ns", "kind": "manifest"}],
                            }
                        ],
                    }
                ]
            },
        }
        path = tmp_path / f"par-{i}.yaml"
        path.write_text(json.dumps(doc))  # JSON is YAML
        files.append(str(path))
    jobs = [("cluster", "apply", "-f", f) for f in files]
    # Targets 6..15 are distinct and differ from the initial 5, so the reported moves form a chain.
    jobs += [("cluster", "scale", PRODUCTION_ID, str(n)) for n in range(6, 16)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda args: emu.run(*args, timeout=60), jobs))
    assert [r.returncode for r in results] == [0] * 20, [r.stderr for r in results if r.returncode]
    stacks = {s["name"] for s in emu.json("cluster", "stacks", "list", "--cluster", "production")}
    # each file declares one stack and apply prunes the rest: the last apply to run wins, whole
    assert len(stacks) == 1 and stacks <= {f"par-{i}" for i in range(10)}
    # Every scale reported a transition, and together they form one chain from 3 to the final count.
    moves = [
        tuple(int(x) for x in r.stdout.split(" from ")[1].removesuffix(" workers.\n").split(" to "))
        for r in results[10:]
    ]
    final = worker_count(emu, PRODUCTION_ID, "ovh")
    chain = {a: b for a, b in moves}
    assert len(chain) == 10
    current, seen = 5, 0
    while current in chain and seen < 10:
        current, seen = chain[current], seen + 1
    assert seen == 10 and current == final
    for name in ("clusters.json", "tokens.json", "credentials.json"):
        json.loads((emu.state / name).read_text())  # every file is whole
    logged = [c for c in emu.calls() if c["command"] in ("cluster apply", "cluster scale")]
    assert len(logged) == 20


def test_token_precedence_flag_config_env(emu: Emu) -> None:
    bad = "ankra_" + "f" * 48
    # --token beats the environment.
    assert emu.run("cluster", "list", "--token", bad).returncode == 6
    assert emu.run("cluster", "list", "--token", emu.token, ANKRA_API_TOKEN=bad).returncode == 0
    # The config file's token beats the environment.
    config = emu.home / "ankra.yaml"
    config.write_text(f"token: {bad}\n")
    assert emu.run("cluster", "list", "--config", str(config)).returncode == 6
    config.write_text(f"token: {emu.token}\n")
    assert emu.run("cluster", "list", "--config", str(config), ANKRA_API_TOKEN=bad).returncode == 0
    # The default config is $HOME/.ankra.yaml.
    (emu.home / ".ankra.yaml").write_text(f"token: {bad}\n")
    assert emu.run("cluster", "list").returncode == 6


def test_base_url_plain_http_refused_unless_loopback_or_allowed(emu: Emu) -> None:
    refused = emu.run("cluster", "list", "--base-url", "http://ankra.example.com")
    assert refused.returncode == 1 and refused.stderr.startswith("Error: refusing to send")
    assert emu.run("cluster", "list", ANKRA_BASE_URL="http://127.0.0.1:8080").returncode == 0
    assert emu.run("cluster", "list", "--base-url", "http://localhost:9").returncode == 0
    allowed = emu.run(
        "cluster", "list", "--base-url", "http://ankra.example.com", ANKRA_ALLOW_INSECURE_HTTP="1"
    )
    assert allowed.returncode == 0
    assert emu.run("cluster", "list", "--base-url", "https://platform.ankra.app").returncode == 0


def test_viewer_token_and_forbidden_commands_exit_7(emu: Emu) -> None:
    viewer = "ankra_" + "a" * 48
    ankra_emulator.add_token(emu.state, viewer, name="read-only", role="viewer")
    assert emu.run("cluster", "list", ANKRA_API_TOKEN=viewer).returncode == 0
    denied = emu.run("cluster", "scale", PRODUCTION_ID, "6", ANKRA_API_TOKEN=viewer)
    assert denied.returncode == 7
    assert denied.stderr.splitlines()[0] == (
        'Error: permission denied: this action requires the "clusters:scale" permission. '
        "Ask an organisation admin to change your role"
    )
    emu.write_faults(forbidden_commands=["tokens create"])
    assert emu.run("tokens", "create", "x").returncode == 7
    assert worker_count(emu, PRODUCTION_ID, "ovh") == 5


def test_init_cli_and_wrapper_with_scrubbed_env(tmp_path: Path) -> None:
    state, token = tmp_path / "s", "ankra_" + "1" * 48
    init = subprocess.run(
        check=False,
        args=[sys.executable, "-m", "ankra_emulator", "init", "--state", str(state), "--token", token],
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stderr
    wrapper = ankra_emulator.write_wrapper(tmp_path / "bin", state)
    assert wrapper == tmp_path / "bin" / "ankra" and wrapper.stat().st_mode & 0o111
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ANKRA_API_TOKEN": token}
    result = subprocess.run(
        check=False,
        args=[str(wrapper), "cluster", "list", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert {c["name"] for c in json.loads(result.stdout)} == {"staging-cluster", "production"}
    # init on an existing directory adds the token and keeps the state.
    ankra_emulator.init_state(state, "ankra_" + "2" * 48)
    env["ANKRA_API_TOKEN"] = "ankra_" + "2" * 48
    assert (
        subprocess.run(
            check=False, args=[str(wrapper), "tokens", "list"], env=env, capture_output=True
        ).returncode
        == 0
    )
    # Through the wrapper, `init` is not a command (the real CLI has none).
    assert (
        subprocess.run(check=False, args=[str(wrapper), "init"], env=env, capture_output=True).returncode == 2
    )


def test_auto_seed_with_default_token(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ANKRA_EMULATOR_STATE": str(tmp_path / "auto"),
        "ANKRA_API_TOKEN": ankra_emulator.DEFAULT_TOKEN,
    }
    result = subprocess.run(
        check=False,
        args=[sys.executable, "-m", "ankra_emulator", "cluster", "list"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "staging-cluster" in result.stdout
    assert (tmp_path / "auto" / "meta.json").exists()
