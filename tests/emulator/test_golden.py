"""Golden tests: the emulator's texts, exit codes, table headers and JSON shapes, held to the real
CLI's source (ankraio/ankra-cli at 1233747a, see tools/ankra_emulator/README.md "Provenance"). Each
test names the file:line it follows, and tests ported from the CLI's own Go tests name that test."""

from __future__ import annotations

import json
import re

import yaml

from .conftest import Emu

STAGING_ID = "3f6c2a9e-5b1d-4c7a-9e2f-8d4b6a1c0e57"  # tools/ankra_emulator/seed.py
PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"


def header_cells(table_text: str) -> list[str]:
    """The header cells of the first box-drawn table in `table_text`."""
    lines = table_text.splitlines()
    top = next(i for i, line in enumerate(lines) if line.lstrip().startswith("╭"))
    return [c.strip() for c in lines[top + 1].strip().strip("│").split("│")]


def body_rows(table_text: str) -> list[list[str]]:
    lines = table_text.splitlines()
    sep = next(i for i, line in enumerate(lines) if line.lstrip().startswith("├"))
    rows = []
    for line in lines[sep + 1 :]:
        if line.lstrip().startswith("╰"):
            break
        rows.append([c.strip() for c in line.strip().strip("│").split("│")])
    return rows


def test_version_names_the_emulator(emu: Emu) -> None:
    result = emu.run("--version")
    assert result.returncode == 0
    assert "emulator" in result.stdout and "0.13" in result.stdout


def test_cluster_list_table_is_plain_rounded_box_with_spec_headers(emu: Emu) -> None:
    result = emu.run("cluster", "list")
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout  # no ANSI when stdout is not a terminal
    assert result.stdout.lstrip().startswith("╭") and "╰" in result.stdout
    assert header_cells(result.stdout) == [
        "Name",
        "Environment",
        "Kube Version",
        "Nodes",
        "Control Planes",
        "State",
        "Kind",
        "Created",
    ]
    rows = {r[0]: r for r in body_rows(result.stdout)}
    assert rows["staging-cluster"][1:8] == [
        "staging",
        "v1.31.4",
        "4",
        "1",
        "online",
        "hetzner",
        rows["staging-cluster"][7],
    ]
    assert rows["production"][3] == "6"
    assert re.fullmatch(r"\d+ (days?|months?) ago", rows["production"][7])


def test_cluster_list_json_shape(emu: Emu) -> None:
    """ClusterListItem (internal/client/clusters.go:16-32): no provider, workers or location."""
    result = emu.run("cluster", "list", "-o", "json")
    assert result.stdout.startswith('[\n  {\n    "id"')  # 2-space JSON
    clusters = {c["name"]: c for c in json.loads(result.stdout)}
    for cluster in clusters.values():
        assert set(cluster) == {
            "id", "name", "state", "description", "environment", "organisation_id", "kube_version",
            "control_planes", "nodes", "created_at", "operational_at", "slated_for_deletion_at", "deleted_at",
            "kind",
        }
    staging, production = clusters["staging-cluster"], clusters["production"]
    assert (staging["id"], staging["kind"], staging["state"], staging["nodes"], staging["environment"]) == (
        STAGING_ID, "hetzner", "online", 4, "staging")
    assert (production["id"], production["kind"], production["nodes"]) == (PRODUCTION_ID, "ovh", 6)
    assert re.fullmatch(r"v1\.31\.\d+", staging["kube_version"])


def test_cluster_list_yaml_and_sort(emu: Emu) -> None:
    data = yaml.safe_load(emu.run("cluster", "list", "-o", "yaml").stdout)
    assert {c["name"] for c in data} == {"staging-cluster", "production"}
    ordered = json.loads(
        emu.run("cluster", "list", "--sort", "nodes", "--order", "desc", "-o", "json").stdout
    )
    assert [c["name"] for c in ordered] == ["production", "staging-cluster"]
    ordered = json.loads(emu.run("cluster", "list", "--sort", "name", "-o", "json").stdout)
    assert [c["name"] for c in ordered] == ["production", "staging-cluster"]


def test_invalid_output_format_is_usage_error(emu: Emu) -> None:
    result = emu.run("cluster", "list", "-o", "table")  # cmd/cluster_partial.go:217-228
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == 'Error: invalid -o format "table" (expected json or yaml)'
    assert result.stdout == ""


def test_reconcile_texts(emu: Emu) -> None:
    result = emu.run("cluster", "reconcile", "production")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Triggering reconciliation for cluster: production",
        "Reconciliation triggered: 3 operation(s) created",
    ]
    assert emu.json("cluster", "reconcile", "staging-cluster")["created_operations"] == 2


def test_reconcile_without_stacks_is_in_sync(emu: Emu) -> None:
    # Delete both of staging's stacks, then nothing is left to reconcile.
    for stack in ("monitoring", "ingress"):
        assert (
            emu.run("cluster", "stacks", "delete", stack, "--cluster", "staging-cluster", "--yes").returncode
            == 0
        )
    result = emu.run("cluster", "reconcile", "--cluster", "staging-cluster")
    assert result.stdout.splitlines() == [
        "Triggering reconciliation for cluster: staging-cluster",
        "Reconciliation triggered: no operations created - stored state is already in sync",
    ]


def test_stacks_delete_prompt_cancels_on_closed_stdin(emu: Emu) -> None:
    result = emu.run("cluster", "stacks", "delete", "monitoring", "--cluster", "production")
    assert result.returncode == 4
    assert result.stdout.startswith(
        'Delete stack "monitoring" from cluster "production"? This removes every '
        "addon and manifest in the stack! [y/N]: "
    )
    assert result.stderr.startswith("Error: cancelled")
    names = [s["name"] for s in emu.json("cluster", "stacks", "list", "--cluster", "production")]
    assert "monitoring" in names


def test_stacks_delete_prompt_answers(emu: Emu) -> None:
    declined = emu.run("cluster", "stacks", "delete", "api", "--cluster", "production", stdin="n\n")
    assert declined.returncode == 4
    accepted = emu.run("cluster", "stacks", "delete", "api", "--cluster", "production", stdin="yes\n")
    assert accepted.returncode == 0, accepted.stderr
    names = [s["name"] for s in emu.json("cluster", "stacks", "list", "--cluster", "production")]
    assert "api" not in names


def test_stacks_create_does_not_exist_and_only_prints_help(emu: Emu) -> None:
    """cmd/cluster_stacks.go:17 has no `create`: cobra prints the `stacks` help and exits 0."""
    before = (emu.state / "clusters.json").read_bytes()
    result = emu.run("cluster", "stacks", "create", "monitoring", "--cluster", "staging-cluster")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("Manage stacks\n") and "Available Commands:" in result.stdout
    assert " create " not in result.stdout
    assert (emu.state / "clusters.json").read_bytes() == before


def test_stacks_list_table_and_json(emu: Emu) -> None:
    result = emu.run("cluster", "stacks", "list", "--cluster", "production")
    assert header_cells(result.stdout) == ["Name", "Description", "State", "Wave", "Manifests", "Addons"]
    rows = {r[0]: r for r in body_rows(result.stdout)}
    assert rows["monitoring"][2:] == ["✓ up", "1", "1", "2"]
    stacks = emu.json("cluster", "stacks", "list", "--cluster", "production")
    assert {"name", "description", "manifests", "addons", "deploy_wave", "state"} <= set(stacks[0])
    one = emu.json("cluster", "stacks", "list", "monitoring", "--cluster", "production")
    assert [a["chart_name"] for a in one["addons"]] == ["kube-prometheus-stack", "loki"]


def test_auth_errors(emu: Emu) -> None:
    missing = emu.run("cluster", "list", ANKRA_API_TOKEN=None)
    assert missing.returncode == 6
    assert missing.stderr.splitlines()[0] == (
        "Error: not logged in: run `ankra login`, or provide a token via --token or ANKRA_API_TOKEN"
    )
    rejected = emu.run("cluster", "list", ANKRA_API_TOKEN="ankra_" + "0" * 48)
    assert rejected.returncode == 6
    assert rejected.stderr.splitlines()[0] == (
        "Error: listing clusters: unauthorized. Run `ankra login` to re-authenticate"
    )


def test_no_cluster_selected(emu: Emu) -> None:
    result = emu.run("cluster", "stacks", "list")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        "Error: no cluster specified and none selected; pass --cluster <name|id>, or run "
        "`ankra cluster select <name>` first"
    )


def test_select_then_commands_use_selection(emu: Emu) -> None:
    config = str(emu.home / "cfg.yaml")
    result = emu.run("cluster", "select", "production", "--config", config)
    assert result.stdout == "Selected cluster: production is now active.\n"
    assert (emu.home / "cfg.yaml.selected.json").exists()
    info = emu.json("cluster", "info", "--config", config)
    assert info["name"] == "production"
    # Without --config the selection lives in ~/.ankra/selected.json, which is still empty.
    assert emu.run("cluster", "info").returncode == 2
    assert emu.run("cluster", "select", "staging-cluster").returncode == 0
    assert (emu.home / ".ankra" / "selected.json").exists()
    assert emu.json("cluster", "info")["name"] == "staging-cluster"
    assert emu.json("cluster", "info", "--cluster", "production")["name"] == "production"


def test_interactive_commands_refuse_without_a_terminal(emu: Emu) -> None:
    select = emu.run("cluster", "select")
    assert select.returncode == 2 and select.stderr.startswith("Error: ") and "interactive" in select.stderr
    chat = emu.run("chat")
    assert chat.returncode == 2 and "interactive" in chat.stderr
    login = emu.run("login")
    assert login.returncode == 1 and "browser" in login.stderr


def test_not_found_is_exit_3(emu: Emu) -> None:
    for args in (
        ("cluster", "info", "nope"),
        ("cluster", "stacks", "history", "nope", "--cluster", "production"),
        ("charts", "info", "no-such-chart"),
        ("credentials", "get", "nope"),
        ("tokens", "revoke", "tok_x"),
    ):
        result = emu.run(*args)
        assert result.returncode == 3, args
        assert result.stderr.startswith("Error: ") and "not found" in result.stderr


def test_usage_errors_are_exit_2(emu: Emu) -> None:
    cases = {
        # cobra's legacyArgs: only the root rejects an unknown word; a group below it prints its help
        ("frobnicate",): 'Error: unknown command "frobnicate" for "ankra"',
        ("cluster", "list", "--bogus"): "Error: unknown flag: --bogus",
        ("cluster", "scale", PRODUCTION_ID): "Error: accepts 2 arg(s), received 1",
        ("cluster", "select", "--name", "production"): "Error: unknown flag: --name",
        ("cluster", "node-group", "add", PRODUCTION_ID, "pool-b", "--name", "g", "--instance-type", "t"):
            "Error: accepts 1 arg(s), received 2",
        ("cluster", "node-group", "add", PRODUCTION_ID, "--name", "g"):
            'Error: required flag(s) "instance-type" not set',
        ("cluster", "stacks", "delete", "api", "-o", "json"): "Error: unknown shorthand flag: 'o' in -o",
        ("cluster", "info", "a", "b"): "Error: accepts at most 1 arg(s), received 2",
        ("charts", "list", "--page", "x"): 'Error: invalid argument "x" for "--page" flag',
        (
            "cluster",
            "hetzner",
            "create",
            "--name",
            "x",
        ): 'Error: required flag(s) "credential-id", "location" not set',
    }
    for args, first_line in cases.items():
        result = emu.run(*args)
        assert result.returncode == 2, args
        assert result.stderr.startswith(first_line), (args, result.stderr)


def test_workers_and_scale_take_the_cluster_id(emu: Emu) -> None:
    """cmd/hetzner_cluster.go:150-173 (workers), cmd/cluster_scale.go:37-93 (scale by ID, provider line)."""
    result = emu.run("cluster", "hetzner", "workers", STAGING_ID)
    assert result.stdout == "Worker Count: 3\n  Min: 1\n  Max: 10\n"
    scaled = emu.run("cluster", "scale", PRODUCTION_ID, "7")
    assert scaled.returncode == 0, scaled.stderr
    assert scaled.stdout == "  Provider: ovh\nScaling up from 5 to 7 workers.\n"
    assert emu.json("cluster", "ovh", "workers", PRODUCTION_ID) == {"worker_count": 7, "min": 3, "max": 20}
    same = emu.run("cluster", "scale", PRODUCTION_ID, "7")
    assert same.stdout.endswith("Worker count is already 7, no changes needed.\n")
    assert emu.json("cluster", "ovh", "scale", PRODUCTION_ID, "6") == {"previous_count": 7, "new_count": 6}
    wrong = emu.run("cluster", "ovh", "workers", STAGING_ID)
    assert wrong.returncode == 3


def test_a_cluster_name_where_the_cli_takes_an_id_fails(emu: Emu) -> None:
    """GetClusterByID (internal/client/clusters.go:95-107): a name is not found, and nothing changes."""
    before = (emu.state / "clusters.json").read_bytes()
    scale = emu.run("cluster", "scale", "production", "7")
    assert scale.returncode == 1
    assert scale.stderr.startswith('Error: looking up cluster "production": no cluster found for id "production"')
    assert PRODUCTION_ID in scale.stderr  # the emulator's hint names the ID to use
    for args in (("cluster", "node-group", "list", "production"),
                 ("cluster", "node-group", "scale", "production", "workers", "4")):
        result = emu.run(*args)
        assert result.returncode == 1 and "no cluster found for id" in result.stderr, args
    workers = emu.run("cluster", "ovh", "workers", "production")
    assert workers.returncode == 3
    assert (emu.state / "clusters.json").read_bytes() == before


def test_cluster_scale_dispatches_by_kind(emu: Emu) -> None:
    """Ported from TestClusterScale_DispatchesByKind (cmd/cluster_scale_test.go:59): the provider comes
    from the cluster's kind and is named in the output."""
    for cluster_id, kind in ((STAGING_ID, "hetzner"), (PRODUCTION_ID, "ovh")):
        out = emu.run("cluster", "scale", cluster_id, "4")
        assert out.returncode == 0, out.stderr
        assert kind in out.stdout


def test_node_group_writes_are_asynchronous_unless_wait(emu: Emu) -> None:
    """cmd/cluster_node_group.go:327-370 and cmd/async_write.go:55-61."""
    submitted = emu.run("cluster", "node-group", "scale", STAGING_ID, "workers", "5")
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout.splitlines()[:3] == [
        "Node group scale submitted.",
        "The platform is applying changes in the background.",
        "Re-run the same command with --wait to block until completion and see the full result.",
    ]
    waited = emu.run("cluster", "node-group", "scale", STAGING_ID, "workers", "2", "--wait")
    assert waited.stdout == "Node group 'workers' scaled from 5 to 2.\n"
    old = emu.run("cluster", "hetzner", "node-group", "scale", STAGING_ID, "workers", "3", "--wait")
    assert old.stdout == "Node group 'workers' scaled from 2 to 3.\n"
    listing = emu.run("cluster", "node-group", "list", STAGING_ID)
    assert listing.stdout.startswith("workers               type=cx33      count=3  labels=0  taints=0")
    data = emu.json("cluster", "node-group", "list", STAGING_ID)
    assert data["node_groups"][0] == {"name": "workers", "instance_type": "cx33", "count": 3, "min": 1, "max": 10,
                                      "autoscaling_enabled": False, "labels": {}, "taints": []}


def test_node_group_add_with_the_real_flags(emu: Emu) -> None:
    """cmd/cluster_node_group.go:270-325, flags :686-692."""
    added = emu.json("cluster", "node-group", "add", PRODUCTION_ID, "--name", "pool-b", "--instance-type", "b3-16",
                     "--count", "2", "--wait")
    assert added == {"group_name": "pool-b", "count": 2}
    groups = {g["name"]: g for g in emu.json("cluster", "node-group", "list", PRODUCTION_ID)["node_groups"]}
    assert groups["pool-b"]["instance_type"] == "b3-16" and groups["pool-b"]["count"] == 2


def test_node_group_delete_decline_and_yes(emu: Emu) -> None:
    """Ported from TestHetznerNodeGroupDelete_DeclineDoesNotCallAPI and _YesProceeds
    (cmd/hetzner_cluster_test.go:164,176)."""
    emu.json("cluster", "node-group", "add", STAGING_ID, "--name", "extra", "--instance-type", "cx33", "--wait")
    declined = emu.run("cluster", "node-group", "delete", STAGING_ID, "extra", stdin="n\n")
    assert declined.returncode == 4
    assert f'Delete node group "extra" from cluster "{STAGING_ID}"? This deletes all its nodes! [y/N]: ' \
        in declined.stdout
    assert "extra" in {g["name"] for g in emu.json("cluster", "node-group", "list", STAGING_ID)["node_groups"]}
    done = emu.run("cluster", "hetzner", "node-group", "delete", STAGING_ID, "extra", "--yes", "--wait")
    assert done.returncode == 0 and done.stdout == "Node group 'extra' deleted. 1 node(s) removed.\n"


def test_hetzner_create_text_and_state(emu: Emu) -> None:
    result = emu.run(
        "cluster",
        "hetzner",
        "create",
        "--name",
        "edge-1",
        "--credential-id",
        "hetzner-main",
        "--location",
        "nbg1",
        "--worker-count",
        "2",
        "--worker-server-type",
        "cx33",
        "--control-plane-count",
        "1",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Hetzner cluster 'edge-1' created successfully!"
    match = re.fullmatch(r"Cluster ID: ([0-9a-f-]{36})", lines[1])
    assert match
    info = emu.json("cluster", "info", match.group(1))
    assert (info["name"], info["kind"], info["nodes"], info["state"]) == ("edge-1", "hetzner", 3, "provisioning")
    duplicate = emu.run(
        "cluster",
        "hetzner",
        "create",
        "--name",
        "edge-1",
        "--credential-id",
        "hetzner-main",
        "--location",
        "nbg1",
    )
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr


def test_ovh_and_upcloud_create(emu: Emu) -> None:
    ovh = emu.run(
        "cluster",
        "ovh",
        "create",
        "--name",
        "o1",
        "--credential-id",
        "ovh-prod",
        "--ssh-key-credential-id",
        "deploy-ssh-key",
        "--region",
        "GRA9",
    )
    assert ovh.stdout.splitlines()[0] == "OVH cluster 'o1' created successfully!", ovh.stderr
    up = emu.run(
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
        "de-fra1",
    )
    assert up.stdout.splitlines()[0] == "UpCloud cluster 'u1' created successfully!", up.stderr
    bad_cred = emu.run(
        "cluster",
        "upcloud",
        "create",
        "--name",
        "u2",
        "--credential-id",
        "ovh-prod",
        "--ssh-key-credential-id",
        "deploy-ssh-key",
        "--zone",
        "de-fra1",
    )
    assert bad_cred.returncode == 1 and "not upcloud" in bad_cred.stderr


def test_tokens_create_list_revoke(emu: Emu) -> None:
    created = emu.run("tokens", "create", "ci-bot", "--expires", "2099-01-01T00:00:00Z")
    assert created.returncode == 0, created.stderr
    match = re.search(r"^export ANKRA_API_TOKEN='(ankra_[0-9a-f]{48})'$", created.stdout, re.MULTILINE)
    assert match
    new_token = match.group(1)
    token_id = re.search(r"^Token ID: (tok_[0-9a-f]+)$", created.stdout, re.MULTILINE).group(1)
    # The new token authenticates...
    assert emu.run("cluster", "list", ANKRA_API_TOKEN=new_token).returncode == 0
    listing = emu.run("tokens", "list")
    assert header_cells(listing.stdout) == ["ID", "Name", "Status", "Created", "Expires", "Last Used"]
    rows = {r[1]: r for r in body_rows(listing.stdout)}
    assert rows["ci-bot"][2] == "Active" and rows["old-laptop"][2] == "Revoked"
    assert new_token not in listing.stdout
    revoked = emu.run("tokens", "revoke", token_id)
    assert revoked.stdout == "Token revoked successfully!\n"
    # ...until it is revoked.
    after = emu.run("cluster", "list", ANKRA_API_TOKEN=new_token)
    assert after.returncode == 6 and "unauthorized" in after.stderr
    listed = {t["id"]: t for t in emu.json("tokens", "list")}  # internal/client/tokens.go:10-18
    assert listed[token_id]["revoked"] is True and "revoked_at" in listed[token_id]
    assert "status" not in listed[token_id] and "role" not in listed[token_id]
    # No token value is ever stored in the state directory.
    assert new_token not in "".join(p.read_text() for p in emu.state.glob("*.json"))


def test_tokens_create_json(emu: Emu) -> None:
    data = emu.json("tokens", "create", "json-bot")  # CreateTokenResponse (internal/client/tokens.go:28-33)
    assert set(data) == {"id", "token", "expires_at", "type"}
    assert data["token"].startswith("ankra_")


def test_charts_table_truncates_descriptions(emu: Emu) -> None:
    result = emu.run("charts", "list")
    assert header_cells(result.stdout) == ["Name", "Version", "Repository", "Description"]
    rows = {r[0]: r for r in body_rows(result.stdout)}
    assert rows["postgresql-ha"][1:3] == ["14.3.10", "bitnami"]
    assert rows["postgresql"][3] == "PostgreSQL (Postgres) is an open source object-..."
    assert len(rows["postgresql"][3]) == 50
    assert rows["cert-manager"][3] == "A Helm chart for cert-manager"
    page = emu.json("charts", "list", "--page", "2", "--page-size", "5")
    assert len(page["charts"]) == 5 and page["pagination"]["page"] == 2
    assert {"name", "description", "repository_name", "repository_url", "version"} <= set(page["charts"][0])


def test_charts_search_and_info(emu: Emu) -> None:
    found = emu.json("charts", "search", "postgres")
    assert {c["name"] for c in found} >= {"postgresql", "postgresql-ha"}
    info = emu.json("charts", "info", "redis")
    assert "19.6.4" in [v["version"] for v in info["versions"]]
    assert info["repository_url"] == "https://charts.bitnami.com/bitnami"
    pg = emu.json("charts", "info", "postgresql", "--repository", "https://charts.bitnami.com/bitnami")
    assert "15.5.38" in [v["version"] for v in pg["versions"]]
    assert emu.run("charts", "info", "redis", "--repository", "https://charts.jetstack.io").returncode == 3


def test_credentials_list_and_get_show_metadata_only(emu: Emu) -> None:
    result = emu.run("credentials", "list")
    assert header_cells(result.stdout) == [
        "ID",
        "Name",
        "Provider",
        "State",
        "Available",
        "Repos",
        "Last Synced",
        "Created",
    ]
    hetzner = emu.json("credentials", "list", "--provider", "hetzner")
    assert [c["name"] for c in hetzner] == ["hetzner-main"]
    got = emu.json("credentials", "get", "ovh-prod")
    assert got["provider"] == "ovh"
    assert not {"secret", "token", "password", "api_key"} & set(got)


def test_chat_answers_from_cluster_health(emu: Emu) -> None:
    crash = emu.run("chat", "Why are pods in CrashLoopBackOff?", "--cluster", "production")
    assert crash.returncode == 0
    assert "api-server-7d8f9: OOMKilled (memory limit 256Mi, usage peaked at 312Mi)" in crash.stdout
    assert "api-worker-3k9d2: exit code 1, missing DATABASE_URL env var" in crash.stdout
    assert "api namespace" in crash.stdout
    memory = emu.run("chat", "what about memory?", "--cluster", "production")
    assert "256Mi" in memory.stdout and "api-worker" not in memory.stdout
    staging = emu.run("chat", "why are pods crashing?", "--cluster", "staging-cluster")
    assert "No pods are crashing" in staging.stdout
    generic = emu.run("chat", "tell me a story", "--cluster", "staging-cluster")
    assert generic.returncode == 0 and "staging-cluster" in generic.stdout
    org_wide = emu.run("chat", "Why are pods in CrashLoopBackOff?")
    assert "production" in org_wide.stdout and "api-server-7d8f9" in org_wide.stdout
    bad_mode = emu.run("chat", "hi", "--mode", "yolo")
    assert bad_mode.returncode == 2


def test_chat_health_report_is_nested(emu: Emu) -> None:
    """ProactiveInsightWire (internal/client/chat.go:52-87); `--ai` defaults to true (cmd/chat.go:478)."""
    data = emu.json("chat", "health", "--cluster", "production")
    assert set(data) == {"cluster_id", "health_report", "ai_insights", "summary", "generated_at"}
    report = data["health_report"]
    assert set(report) == {"status", "score", "issues", "pod_stats", "node_stats", "evaluated_at"}
    assert report["status"] == "degraded" and 0 < report["score"] < 100
    assert {i["namespace"] for i in report["issues"]} == {"api"}
    for issue in report["issues"]:
        assert set(issue) == {"title", "severity", "description", "namespace", "suggested_actions"}
        assert issue["suggested_actions"]
    assert report["pod_stats"]["crash_loop_back_off"] == 2
    assert report["node_stats"] == {"total": 6, "ready": 6, "not_ready": 0}
    assert any("312Mi" in i["root_cause_analysis"] for i in data["ai_insights"])
    assert "DATABASE_URL" in data["summary"]
    without_ai = emu.json("chat", "health", "--cluster", "production", "--ai=false")
    assert without_ai["ai_insights"] == [] and without_ai["summary"] == ""
    staging = emu.json("chat", "health", "--cluster", "staging-cluster")["health_report"]
    assert staging["status"] == "healthy" and staging["issues"] == [] and staging["score"] == 100
    text = emu.run("chat", "health", "--cluster", "production").stdout.splitlines()
    assert text[:2] == ["Cluster Health for 'production'", "─────────────────────────────────────────"]
    assert text[2:4] == ["  Status: degraded", f"  Score:  {report['score']}/100"]
    assert "  AI Insights:" in text and "  Issues:" in text


def test_cluster_get_lists_kubernetes_resources_per_kind(emu: Emu) -> None:
    """`cluster get` is a group (cmd/cluster_k8s.go:1002-1046): one sub-command per kind, with -o."""
    group = emu.run("cluster", "get", "--cluster", "production")
    assert group.returncode == 0 and "Available Commands:" in group.stdout and "pods" in group.stdout
    pods = emu.json("cluster", "get", "pods", "-n", "api", "--cluster", "production")["resource_responses"][0]
    assert pods["kind"] == "Pod"
    reasons = {p["metadata"]["name"]: p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
               for p in pods["items"]}
    assert reasons == {"api-server-7d8f9": "CrashLoopBackOff", "api-worker-3k9d2": "CrashLoopBackOff"}
    nodes = emu.json("cluster", "get", "nodes", "--cluster", "staging-cluster")["resource_responses"][0]["items"]
    assert len(nodes) == 4
    table = emu.run("cluster", "get", "pods", "-A", "-o", "table", "--cluster", "production")
    assert table.returncode == 0 and "api-server-7d8f9" in table.stdout


def test_debugging_reads_find_the_root_cause(emu: Emu) -> None:
    """cmd/cluster_events.go:23, cmd/cluster_describe.go:27, cmd/cluster_k8s.go:769, cmd/cluster_top.go:47."""
    events = emu.json("cluster", "events", "--for", "pod/api-server-7d8f9", "--cluster", "production")
    assert {e["reason"] for e in events} == {"OOMKilling", "BackOff"}
    warnings = emu.json("cluster", "events", "--type", "Warning", "--cluster", "production")
    assert all(e["type"] == "Warning" for e in warnings) and len(warnings) == 4
    described = emu.json("cluster", "describe", "pod", "api-worker-3k9d2", "-n", "api", "--cluster", "production")
    assert described["object"]["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1
    logs = emu.run("cluster", "logs", "api-worker-3k9d2", "-n", "api", "--previous", "--follow=false",
                   "--cluster", "production")
    assert "DATABASE_URL is not set" in logs.stdout
    top = {p["metadata"]["name"]: p for p in emu.json("cluster", "top", "pods", "-A", "--cluster", "production")}
    assert top["api-server-7d8f9"]["containers"][0]["usage"]["memory"] == "312Mi"
    missing = emu.run("cluster", "describe", "pod", "nope", "-n", "api", "--cluster", "production")
    assert missing.returncode == 3


def test_help_exits_zero(emu: Emu) -> None:
    result = emu.run("cluster", "--help")
    assert result.returncode == 0 and "Available Commands:" in result.stdout and "stacks" in result.stdout
