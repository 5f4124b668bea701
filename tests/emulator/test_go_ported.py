"""The real CLI's own Go tests (ankraio/ankra-cli @ 1233747a, `cmd/*_test.go`), ported as golden cases.

Each Go test drives a command against a fake API and asserts its arguments, flags, exit code, texts or
`-o json` shape; each case here runs the same command against the emulator's seeded state (the mock's
cluster `demo`/`c-1` becomes a seeded cluster, its pods the seeded pods) and holds the emulator to the
same expectation. A case names its Go test and file:line, so `pytest -k TestName` finds it. Which Go
tests are ported, and why the others are not applicable, is in tools/ankra_emulator/README.md.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from .conftest import Emu

STAGING_ID = "3f6c2a9e-5b1d-4c7a-9e2f-8d4b6a1c0e57"  # tools/ankra_emulator/seed.py
PRODUCTION_ID = "9a1e7c44-2d8b-4f36-b5a0-6e3c9d8f1b22"


@dataclass
class Case:
    go_test: str  # the Go test this case ports
    where: str  # its cmd/<file>_test.go:line
    argv: tuple[str, ...]
    exit: int = 0
    stdin: str | None = None
    stdout_has: tuple[str, ...] = ()
    stdout_lacks: tuple[str, ...] = ()
    stderr_has: tuple[str, ...] = ()
    output_lacks: tuple[str, ...] = ()  # neither stdout nor stderr (the Go tests capture both together)
    setup: tuple[tuple[str, ...], ...] = ()  # commands run first (each must exit 0)
    faults: dict = field(default_factory=dict)
    check: Callable[[Emu, object], None] | None = None  # state checked afterwards
    xfail: str = ""  # a known disagreement of the emulator (strict: passing it fails the suite)


def _stacks(emu: Emu, cluster: str) -> set[str]:
    return {s["name"] for s in emu.json("cluster", "stacks", "list", "--cluster", cluster)}


def _groups(emu: Emu, cluster_id: str) -> set[str]:
    return {g["name"] for g in emu.json("cluster", "node-group", "list", cluster_id)["node_groups"]}


def _state(emu: Emu, cluster: str) -> str:
    return emu.json("cluster", "info", cluster)["state"]


def _creds(emu: Emu) -> set[str]:
    return {c["name"] for c in emu.json("credentials", "list")}


def _json_names(result, *names: str) -> None:
    data = json.loads(result.stdout)
    assert [c["name"] for c in data] == list(names), data


UC_CREATE = ("cluster", "upcloud", "create", "--name", "uc", "--credential-id", "upcloud-dev",
             "--ssh-key-credential-id", "deploy-ssh-key", "--zone", "fi-hel2")
ADD_EXTRA = ("cluster", "node-group", "add", STAGING_ID, "--name", "extra", "--instance-type", "cx33", "--wait")

CASES: list[Case] = [
    # -- cmd/confirm_core_test.go: the [y/N] prompt, --yes, a piped "y" -------------------------------
    Case("TestClusterStacksDelete_DeclineDoesNotDelete", "cmd/confirm_core_test.go:71",
         ("cluster", "stacks", "delete", "api", "--cluster", "production"), exit=4, stdin="n\n",
         check=lambda emu, _: _stacks(emu, "production") >= {"api"}),
    Case("TestClusterStacksDelete_YesFlagProceeds", "cmd/confirm_core_test.go:87",
         ("cluster", "stacks", "delete", "api", "--cluster", "production", "--yes"),
         check=lambda emu, _: "api" not in _stacks(emu, "production")),
    Case("TestClusterStacksDelete_PipedYesProceeds", "cmd/confirm_core_test.go:100",
         ("cluster", "stacks", "delete", "api", "--cluster", "production"), stdin="y\n",
         check=lambda emu, _: "api" not in _stacks(emu, "production")),
    Case("TestClusterStacksList_NotFoundUsesExitNotFound", "cmd/confirm_core_test.go:132",
         ("cluster", "stacks", "list", "missing", "--cluster", "production"), exit=3),
    Case("TestClusterDeprovision_DeclineDoesNotDeprovision", "cmd/confirm_core_test.go:175",
         ("cluster", "deprovision", "staging-cluster"), exit=4, stdin="n\n",
         stdout_has=(('Deprovision cluster "staging-cluster"? This deletes all its cloud resources '
                     "(servers, networks, SSH keys)! [y/N]: "),),
         check=lambda emu, _: _state(emu, "staging-cluster") == "online"),
    Case("TestClusterDeprovision_YesFlagProceeds", "cmd/confirm_core_test.go:192",
         ("cluster", "deprovision", "staging-cluster", "--yes"), faults={"deprovision_seconds": 600},
         check=lambda emu, _: _state(emu, "staging-cluster") == "deprovisioning"),
    Case("TestClusterDeprovision_ForceWarnsWhenIgnored", "cmd/confirm_core_test.go:205",
         # the mock's cluster has no provider kind: an imported cluster (made by `cluster apply`)
         ("cluster", "deprovision", "brand-new", "--yes", "--force"),
         stderr_has=("warning: --force has no effect for this cluster type",),
         setup=(("cluster", "apply", "-f", "@new-cluster"),)),
    Case("TestClusterDeprovision_NoForceNoWarning", "cmd/confirm_core_test.go:223",
         ("cluster", "deprovision", "brand-new", "--yes"), output_lacks=("--force has no effect",),
         setup=(("cluster", "apply", "-f", "@new-cluster"),)),
    Case("TestClusterDeprovision_DeprecatedAutoDeleteStillParses", "cmd/confirm_core_test.go:236",
         ("cluster", "deprovision", "staging-cluster", "--yes", "--auto-delete"), faults={"deprovision_seconds": 600},
         check=lambda emu, _: _state(emu, "staging-cluster") == "deprovisioning"),
    Case("TestClusterDeprovision_PipedYesProceeds", "cmd/confirm_core_test.go:251",
         ("cluster", "deprovision", "staging-cluster"), stdin="y\n", faults={"deprovision_seconds": 600},
         check=lambda emu, _: _state(emu, "staging-cluster") == "deprovisioning"),
    Case("TestClusterNodeGroupDelete_DeclineDoesNotDelete", "cmd/confirm_core_test.go:284",
         ("cluster", "node-group", "delete", STAGING_ID, "workers"), exit=4, stdin="n\n", setup=(ADD_EXTRA,),
         check=lambda emu, _: _groups(emu, STAGING_ID) == {"workers", "extra"}),
    Case("TestClusterNodeGroupDelete_YesFlagProceeds", "cmd/confirm_core_test.go:300",
         ("cluster", "node-group", "delete", STAGING_ID, "workers", "--yes"), setup=(ADD_EXTRA,),
         check=lambda emu, _: _groups(emu, STAGING_ID) == {"extra"}),
    Case("TestClusterNodeGroupDelete_PipedYesProceeds", "cmd/confirm_core_test.go:313",
         ("cluster", "node-group", "delete", STAGING_ID, "workers"), stdin="y\n", setup=(ADD_EXTRA,),
         check=lambda emu, _: _groups(emu, STAGING_ID) == {"extra"}),
    Case("TestCredentialsDelete_DeclineDoesNotDelete", "cmd/confirm_core_test.go:342",
         ("credentials", "delete", "upcloud-dev"), exit=4, stdin="n\n",
         check=lambda emu, _: "upcloud-dev" in _creds(emu)),
    Case("TestCredentialsDelete_YesFlagProceeds", "cmd/confirm_core_test.go:358",
         ("credentials", "delete", "upcloud-dev", "--yes"), check=lambda emu, _: "upcloud-dev" not in _creds(emu)),
    Case("TestCredentialsDelete_PipedYesProceeds", "cmd/confirm_core_test.go:371",
         ("credentials", "delete", "upcloud-dev"), stdin="y\n",
         check=lambda emu, _: "upcloud-dev" not in _creds(emu)),
    # -- provider deprovision and node-group delete prompts ------------------------------------------
    Case("TestHetznerDeprovision_DeclineDoesNotCallAPI", "cmd/hetzner_cluster_test.go:125",
         ("cluster", "hetzner", "deprovision", STAGING_ID), exit=4, stdin="n\n",
         stdout_has=((f'Deprovision Hetzner cluster "{STAGING_ID}"? This deletes all its servers, networks and '
                     "SSH keys! [y/N]: "),),
         check=lambda emu, _: _state(emu, "staging-cluster") == "online"),
    Case("TestHetznerDeprovision_YesProceeds", "cmd/hetzner_cluster_test.go:137",
         ("cluster", "hetzner", "deprovision", STAGING_ID, "--yes"), faults={"deprovision_seconds": 600},
         check=lambda emu, _: _state(emu, "staging-cluster") == "deprovisioning"),
    Case("TestHetznerDeprovision_YesPreservesForce", "cmd/hetzner_cluster_test.go:152",
         ("cluster", "hetzner", "deprovision", STAGING_ID, "--yes", "--force"),
         output_lacks=("--force has no effect",),
         check=lambda emu, _: "staging-cluster" not in {c["name"] for c in emu.json("cluster", "list")}),
    Case("TestOvhDeprovision_DeclinedPromptCancels", "cmd/ovh_cluster_test.go:400",
         ("cluster", "ovh", "deprovision", PRODUCTION_ID), exit=4, stdin="n\n",
         check=lambda emu, _: _state(emu, "production") == "online"),
    Case("TestOvhDeprovision_YesSkipsPrompt", "cmd/ovh_cluster_test.go:415",
         ("cluster", "ovh", "deprovision", PRODUCTION_ID, "--yes"), faults={"deprovision_seconds": 600},
         stdout_lacks=("[y/N]",), check=lambda emu, _: _state(emu, "production") == "deprovisioning"),
    # -- cmd/sort_test.go ----------------------------------------------------------------------------
    Case("TestClusterListSortByName", "cmd/sort_test.go:157", ("cluster", "list", "--sort", "name"),
         check=lambda emu, r: r.stdout.index("production") < r.stdout.index("staging-cluster")),
    Case("TestClusterListSortByCreatedDesc", "cmd/sort_test.go:167",
         ("cluster", "list", "--sort", "created", "--order", "desc"),
         # production was created 6 months before staging-cluster (seed.py)
         check=lambda emu, r: r.stdout.index("staging-cluster") < r.stdout.index("production")),
    Case("TestClusterListSortAppliesToStructuredOutput", "cmd/sort_test.go:177",
         ("cluster", "list", "--sort", "name", "-o", "json"),
         check=lambda emu, r: _json_names(r, "production", "staging-cluster")),
    Case("TestClusterListInvalidSortIsUsageError", "cmd/sort_test.go:195", ("cluster", "list", "--sort", "bogus"),
         exit=2, stderr_has=("created",)),
    # -- cmd/output_test.go, cmd/exitcodes_test.go ---------------------------------------------------
    Case("TestInvalidOutputOnStructuredCommandExitsUsage", "cmd/output_test.go:72",
         ("cluster", "list", "-o", "xml"), exit=2, stderr_has=('invalid -o format "xml"',)),
    Case("TestWrapArgsValidatorsMarksUsageErrors", "cmd/exitcodes_test.go:64",
         ("cluster", "info", "one", "two"), exit=2, stderr_has=("accepts at most 1 arg(s), received 2",)),
    Case("TestExitCodeForClassification (unknown command)", "cmd/exitcodes_test.go:14",
         ("frobnicate",), exit=2, stderr_has=('unknown command "frobnicate" for "ankra"',)),
    Case("TestExitCodeForClassification (required flag)", "cmd/exitcodes_test.go:14",
         ("cluster", "apply"), exit=2, stderr_has=('required flag(s) "file" not set',)),
    Case("TestExitCodeForClassification (unauthorized)", "cmd/exitcodes_test.go:14",
         ("cluster", "list", "--token", "ankra_" + "0" * 48), exit=6, stderr_has=("unauthorized",)),
    # -- cmd/command_reliability_test.go -------------------------------------------------------------
    Case("TestClusterListReturnsErrorOnAPIFailure", "cmd/command_reliability_test.go:32", ("cluster", "list"),
         exit=1, faults={"fail_next": 1}, stderr_has=("Error: listing clusters: API request failed",)),
    Case("TestClusterOperationsListReturnsErrorWhenNoSelection", "cmd/command_reliability_test.go:43",
         ("cluster", "operations", "list"), exit=2, stderr_has=("no cluster specified",)),
    # -- cmd/e2e_test.go -----------------------------------------------------------------------------
    Case("TestClusterListCommand", "cmd/e2e_test.go:2034", ("cluster", "list"),
         stdout_has=("production", "staging-cluster")),
    Case("TestClusterListEmptyCommand", "cmd/e2e_test.go:2073", ("cluster", "list"), stdout_has=("No clusters found",),
         faults={"deprovision_seconds": 0},
         setup=(("cluster", "deprovision", "staging-cluster", "--yes"),
                ("cluster", "deprovision", "production", "--yes"))),
    Case("TestClusterInfoCommand", "cmd/e2e_test.go:2088", ("cluster", "info", "production"),
         stdout_has=("production", "v1.31")),
    Case("TestClusterInfoWithoutNetworkOmitsSection", "cmd/e2e_test.go:2157", ("cluster", "info", "production"),
         stdout_lacks=("Network",)),
    Case("TestClusterInfoNotFoundCommand", "cmd/e2e_test.go:2176", ("cluster", "info", "nonexistent-cluster"),
         exit=3, stderr_has=("nonexistent-cluster",)),
    Case("TestCredentialsListCommand", "cmd/e2e_test.go:2237", ("credentials", "list"),
         stdout_has=("github-gitops", "hetzner-main")),
    Case("TestCredentialsListEmptyCommand", "cmd/e2e_test.go:2270", ("credentials", "list"),
         stdout_has=("No credentials found",), faults={"deprovision_seconds": 0},
         setup=(("cluster", "deprovision", "staging-cluster", "--yes"),
                ("cluster", "deprovision", "production", "--yes")) + tuple(("credentials", "delete", name, "--yes") for name in
                     ("hetzner-main", "ovh-prod", "upcloud-dev", "deploy-ssh-key", "github-gitops"))),
    Case("TestHelpCommandDoesNotError", "cmd/e2e_test.go:2285", ("--help",), stdout_has=("cluster",)),
    Case("TestClusterHelpCommandDoesNotError", "cmd/e2e_test.go:2292", ("cluster", "--help"),
         stdout_has=("Available Commands:",)),
    Case("TestClusterFlagOverridesSelectedCluster", "cmd/e2e_test.go:2372",
         ("cluster", "stacks", "list", "--cluster", "production"), setup=(("cluster", "select", "staging-cluster"),),
         stdout_has=("api",)),
    Case("TestClusterStacksListCommand", "cmd/e2e_test.go:2434", ("cluster", "stacks", "list"),
         setup=(("cluster", "select", "production"),), stdout_has=("monitoring", "api")),
    Case("TestClusterOperationsListCommand", "cmd/e2e_test.go:2468", ("cluster", "operations", "list"),
         setup=(("cluster", "select", "staging-cluster"), ADD_EXTRA),
         check=lambda emu, r: emu.json("cluster", "operations", "list")[0]["id"] in r.stdout),
    Case("TestChartsListCommand", "cmd/e2e_test.go:2816", ("charts", "list"), stdout_has=("postgresql", "redis")),
    Case("TestChartsSearchCommand", "cmd/e2e_test.go:2837", ("charts", "search", "prom"),
         stdout_has=("kube-prometheus-stack",)),
    Case("TestTokensListCommand", "cmd/e2e_test.go:2854", ("tokens", "list"), stdout_has=("hermes-agent", "old-laptop")),
    Case("TestCredentialsGetCommand", "cmd/e2e_test.go:2934", ("credentials", "get", "@id:ovh-prod"),
         stdout_has=("ovh-prod",)),
    Case("TestCredentialsGetByNameResolvesToID", "cmd/e2e_test.go:2959", ("credentials", "get", "hetzner-main"),
         stdout_has=("hetzner-main",)),
    Case("TestClusterHetznerNodeGroupListCommand", "cmd/e2e_test.go:3177",
         ("cluster", "hetzner", "node-group", "list", STAGING_ID), setup=(ADD_EXTRA,), stdout_has=("workers", "extra")),
    # -- cmd/cluster_scale_test.go -------------------------------------------------------------------
    Case("TestClusterScale_DispatchesByKind (hetzner)", "cmd/cluster_scale_test.go:59",
         ("cluster", "scale", STAGING_ID, "4"), stdout_has=("Provider: hetzner",)),
    Case("TestClusterScale_DispatchesByKind (ovh)", "cmd/cluster_scale_test.go:59",
         ("cluster", "scale", PRODUCTION_ID, "6"), stdout_has=("Provider: ovh",)),
    Case("TestScaleFunctionForKind_SupportedAndUnsupported", "cmd/cluster_scale_test.go:113",
         ("cluster", "scale", "@id:brand-new", "2"), exit=1,
         stderr_has=('(kind "imported") does not support worker scaling',),
         setup=(("cluster", "apply", "-f", "@new-cluster"),)),
    # -- cmd/apply_async_smoke_test.go, cmd/apply_repoint_test.go, cmd/apply_test.go ------------------
    Case("TestApplyClusterAsyncSubmitAgainstMockAPI", "cmd/apply_async_smoke_test.go:13",
         ("cluster", "apply", "-f", "@new-cluster", "-o", "json"),
         check=lambda emu, r: json.loads(r.stdout)["submitted"] is True),
    Case("TestApplyClusterAsyncWaitAgainstMockAPI", "cmd/apply_async_smoke_test.go:49",
         ("cluster", "apply", "-f", "@new-cluster", "--wait", "-o", "json"),
         check=lambda emu, r: json.loads(r.stdout)["cluster_id"] == emu.json("cluster", "info", "brand-new")["id"]),
    Case("TestApplyRepointFlagsDefaultToOff", "cmd/apply_repoint_test.go:29",
         ("cluster", "apply", "-f", "@minimal", "--dry-run"),
         stdout_has=("no changes applied (--dry-run)",)),
    Case("TestApplyDataFlagRequiresRepointFlag", "cmd/apply_repoint_test.go:58",
         ("cluster", "apply", "-f", "@minimal", "--allow-repoint-destroying-data"), exit=1,
         stderr_has=("Error: --allow-repoint-destroying-data requires --allow-repoint",)),
    Case("TestParseParentList (shorthand and malformed entries skipped)", "cmd/apply_test.go:15",
         ("cluster", "validate", "-f", "@parents-dropped", "--cluster", "staging-cluster"),
         stdout_has=("Validation passed",)),
    Case("TestParseParentList (non-slice input)", "cmd/apply_test.go:15",
         ("cluster", "validate", "-f", "@parents-not-a-list", "--cluster", "staging-cluster"),
         stdout_has=("Validation passed",)),
    Case("TestValidateResourceGraph (invalid parent kind)", "cmd/apply_test.go:1632",
         ("cluster", "validate", "-f", "@parent-bad-kind", "--cluster", "staging-cluster"), exit=1,
         stderr_has=('parent #1 has invalid kind "helm" (must be "manifest" or "addon")',)),
    Case("TestValidateResourceGraph (kind is case-insensitive)", "cmd/apply_test.go:1632",
         ("cluster", "validate", "-f", "@parent-upper-kind", "--cluster", "staging-cluster"),
         stdout_has=("Validation passed",)),
    # -- cmd/exitcodes_test.go: --wait and --timeout --------------------------------------------------
    Case("TestAsyncWriteErrorTagsWaitExpiryOnly (--wait expired)", "cmd/exitcodes_test.go:87",
         ("cluster", "node-group", "scale", STAGING_ID, "workers", "4", "--wait", "--timeout", "300ms"), exit=5,
         faults={"write_stuck": True},
         stderr_has=((f'Error: scaling node group: request failed: Put "https://platform.ankra.app/api/v1/clusters/'
                     f'hetzner/{STAGING_ID}/node-groups/workers/scale?wait=true": context deadline exceeded'),)),
    Case("TestAsyncWriteErrorTagsWaitExpiryOnly (no --wait, no deadline)", "cmd/exitcodes_test.go:87",
         ("cluster", "node-group", "scale", STAGING_ID, "workers", "4", "--timeout", "300ms"),
         faults={"write_stuck": True}, stdout_has=("Node group scale submitted.",)),
    Case("TestAsyncWriteErrorTagsWaitExpiryOnly (rejected write with --wait)", "cmd/exitcodes_test.go:87",
         ("cluster", "node-group", "scale", STAGING_ID, "workers", "99", "--wait", "--timeout", "300ms"), exit=1,
         stderr_has=("outside the allowed range",)),
    # -- cmd/upcloud_cluster_test.go, cmd/digitalocean_cluster_test.go (the mock's "uc-123" becomes an UpCloud
    # cluster made by `cluster upcloud create`; the emulator has no DigitalOcean credential to create one with)
    Case("TestUpcloudDeprovision_DeclineDoesNotCallAPI", "cmd/upcloud_cluster_test.go:37",
         ("cluster", "upcloud", "deprovision", "@id:uc"), exit=4, stdin="n\n", setup=(UC_CREATE,),
         check=lambda emu, _: _state(emu, "uc") == "provisioning"),
    Case("TestUpcloudDeprovision_YesProceeds", "cmd/upcloud_cluster_test.go:49",
         ("cluster", "upcloud", "deprovision", "@id:uc", "--yes"), setup=(UC_CREATE,),
         faults={"deprovision_seconds": 600}, check=lambda emu, _: _state(emu, "uc") == "deprovisioning"),
    Case("TestDigitaloceanDeprovision_DeclineDoesNotCallAPI", xfail="the emulator looks the cluster up (a 404, exit 3, "
         "for a non-DigitalOcean ID) before the prompt; cmd/digitalocean_cluster.go:100-115 prompts first",
         where="cmd/digitalocean_cluster_test.go:92", argv=("cluster", "digitalocean", "deprovision", STAGING_ID),
         exit=4, stdin="n\n", check=lambda emu, _: _state(emu, "staging-cluster") == "online"),
    # -- cmd/cluster_validate_test.go: --cluster takes a name (resolved to the ID) or the ID itself ----------
    Case("TestClusterValidateResolvesClusterNameToID", "cmd/cluster_validate_test.go:55",
         ("cluster", "validate", "--file", "@minimal", "--cluster", "staging-cluster"),
         stdout_has=("Validation passed",)),
    Case("TestClusterValidatePassesClusterIDThrough", "cmd/cluster_validate_test.go:71",
         ("cluster", "validate", "--file", "@minimal", "--cluster", STAGING_ID), stdout_has=("Validation passed",)),
    # -- cmd/alerts_test.go, cmd/alerts_routes_test.go: the list commands ------------------------------------
    Case("TestAlertsDestinationsListRendersTableAndFilters", xfail="the emulator's destinations table has no "
         "pagination footer (cmd/alerts.go list: `Page 1 of 1 (total N)`)", where="cmd/alerts_test.go:176",
         argv=("alerts", "destinations", "list", "--search", "ops", "--enabled", "--page", "1", "--page-size", "50"),
         stdout_has=("ops-slack", "slack", "Page 1 of 1 (total 1)")),
    Case("TestAlertsDestinationsListDisabledFilterAndEmpty", "cmd/alerts_test.go:203",
         ("alerts", "destinations", "list", "--disabled"), stdout_has=("No alert destinations found.",),
         stdout_lacks=("ops-slack",)),
    Case("TestAlertsDestinationsListEnabledAndDisabledAreExclusive", "cmd/alerts_test.go:217",
         ("alerts", "destinations", "list", "--enabled", "--disabled"), exit=2),
    Case("TestAlertsDestinationsListJSONOutputIsPure", xfail="the emulator prints a bare array, not the "
         "AlertDestinationList envelope {items, pagination} (internal/client/alerts.go:44-55)",
         where="cmd/alerts_test.go:228", argv=("alerts", "destinations", "list", "-o", "json"),
         check=lambda emu, r: (json.loads(r.stdout)["items"][0]["name"] == "ops-slack"
                               and json.loads(r.stdout)["pagination"]["total_count"] == 1)),
    Case("TestAlertsRoutesListRendersTable", xfail="the emulator's routes table lacks the Priority/Cluster/Mode "
         "columns and `any` for an unset filter (cmd/alerts_routes.go:51-63)",
         where="cmd/alerts_routes_test.go:123", argv=("alerts", "routes", "list"),
         stdout_has=("7e4b2c1d-9f3a-4a68-b5e2-6c1d8f0a3b47", "critical", "include", PRODUCTION_ID,
                     "0c6a1f3e-8b2d-4e57-a9c4-3d7e5f1b2a90")),
    Case("TestAlertsRoutesListEmptyAndJSON", xfail="the emulator prints a bare array, not the NotificationRouteList "
         "envelope {items} (internal/client/alerts.go:167-170)", where="cmd/alerts_routes_test.go:143",
         argv=("alerts", "routes", "list", "-o", "json"),
         check=lambda emu, r: json.loads(r.stdout)["items"][0]["severity"] == "critical"),
    # -- cmd/cluster_k8s_test.go ---------------------------------------------------------------------
    Case("TestValidateK8sOutputFormat", "cmd/cluster_k8s_test.go:39",
         ("cluster", "get", "pods", "-o", "wide", "--cluster", "production"), exit=2),
    Case("TestGetPodsNamedWideExitsUsageNoPanic", "cmd/cluster_k8s_test.go:57",
         ("cluster", "get", "pods", "web", "-o", "wide", "--cluster", "production"), exit=2),
    Case("TestGetDeploymentsNamedWideExitsUsageNoPanic", "cmd/cluster_k8s_test.go:76",
         ("cluster", "get", "deployments", "web", "-o", "wide", "--cluster", "production"), exit=2),
    Case("TestGetDeploymentsEmptyJSONStaysParseable", "cmd/cluster_k8s_test.go:151",
         ("cluster", "get", "deployments", "-n", "nothing-here", "-o", "json", "--cluster", "production"),
         stdout_lacks=("No deployments found.",),
         check=lambda emu, r: len(json.loads(r.stdout)["resource_responses"]) == 1),
    Case("TestGetPodsJSONAlwaysEmitsEnvelope", xfail="`cluster get pods -o json` prints the resource_responses "
         "envelope, not ListPodsResponse {pods, total_count, page, total_pages}; Hermes's renderer reads "
         "resource_responses", where="cmd/cluster_k8s_test.go:195",
         argv=("cluster", "get", "pods", "-o", "json", "--cluster", "production"),
         check=lambda emu, r: (json.loads(r.stdout)["total_count"] == len(json.loads(r.stdout)["pods"])
                               and json.loads(r.stdout)["page"] == 1)),
    Case("TestGetStorageClassesCommand", xfail="`cluster get storageclasses` registers --namespace in the emulator "
         "and no storage class is seeded", where="cmd/cluster_k8s_test.go:254",
         argv=("cluster", "get", "storageclasses", "-n", "default", "--cluster", "production"), exit=2),
    # -- cmd/cluster_debug_verbs_test.go -------------------------------------------------------------
    Case("TestDescribeMissingResourceExitsNotFound", "cmd/cluster_debug_verbs_test.go:241",
         ("cluster", "describe", "pod", "ghost", "-n", "api", "--cluster", "production"), exit=3),
    Case("TestDescribeNamespacedKindRequiresNamespace", "cmd/cluster_debug_verbs_test.go:257",
         ("cluster", "describe", "pod", "api-server-7d8f9", "--cluster", "production"), exit=2),
    Case("TestDescribeClusterScopedKindNeedsNoNamespace", xfail="the emulator's describe text has no `Node/<name>` "
         "header (cmd/cluster_describe.go renderer not ported)", where= "cmd/cluster_debug_verbs_test.go:275", argv=
         ("cluster", "describe", "node", "@node:production", "--cluster", "production"), stdout_has=("Node/",)),
    Case("TestDescribeUnknownKindWithoutGroupExitsUsage", "cmd/cluster_debug_verbs_test.go:301",
         ("cluster", "describe", "widget", "thing", "-n", "default", "--cluster", "production"), exit=2,
         stderr_has=("--group",)),
    Case("TestEventsForScopesByInvolvedObject", "cmd/cluster_debug_verbs_test.go:321",
         ("cluster", "events", "--for", "pod/api-server-7d8f9", "-n", "api", "--cluster", "production"),
         stdout_has=("BackOff",), stdout_lacks=("api-worker-3k9d2",)),
    Case("TestEventsForIsAlsoReachableUnderGet", xfail="`cluster get events` has no --for in the emulator",
         where= "cmd/cluster_debug_verbs_test.go:364", argv=
         ("cluster", "get", "events", "--for", "pod/api-server-7d8f9", "-n", "api", "--cluster", "production"),
         stdout_has=("BackOff",)),
    Case("TestEventsForRejectsBareName", "cmd/cluster_debug_verbs_test.go:382",
         ("cluster", "events", "--for", "web-7d9f", "-n", "default", "--cluster", "production"), exit=2),
    Case("TestEventsRejectsUnknownType", "cmd/cluster_debug_verbs_test.go:400",
         ("cluster", "events", "-n", "default", "--type", "Critical", "--cluster", "production"), exit=2),
    Case("TestEventsEmptyListingSaysSo", "cmd/cluster_debug_verbs_test.go:414",
         ("cluster", "events", "-n", "default", "--cluster", "staging-cluster"), stdout_has=("No events found.",)),
    Case("TestTopRejectsUnknownSortBy", "cmd/cluster_debug_verbs_test.go:716",
         ("cluster", "top", "pods", "-n", "default", "--sort-by", "disk", "--cluster", "production"), exit=2),
    Case("TestTopStructuredOutputIsAnArrayWhenEmpty", "cmd/cluster_debug_verbs_test.go:785",
         ("cluster", "top", "pods", "-n", "nothing-here", "-o", "json", "--cluster", "production"),
         check=lambda emu, r: json.loads(r.stdout) == []),
    Case("TestLogsStructuredOutputRefusesExplicitFollow", "cmd/cluster_debug_verbs_test.go:957",
         ("cluster", "logs", "api-worker-3k9d2", "-n", "api", "-o", "json", "--follow=true", "--cluster", "production"),
         exit=2),
    Case("TestLogsRejectsPodNameAndSelectorTogether", "cmd/cluster_debug_verbs_test.go:972",
         ("cluster", "logs", "api-worker-3k9d2", "-l", "app=api", "-n", "api", "--cluster", "production"), exit=2),
    Case("TestLogsWithoutPodOrSelectorExitsUsage", "cmd/cluster_debug_verbs_test.go:986",
         ("cluster", "logs", "-n", "api", "--cluster", "production"), exit=2),
    Case("TestLogsSelectorWithNoMatchExitsNotFound", "cmd/cluster_debug_verbs_test.go:1000",
         ("cluster", "logs", "-l", "app=nothing", "-n", "api", "--follow=false", "--cluster", "production"), exit=3),
    Case("TestLogsRejectsContainerWithAllContainers", "cmd/cluster_debug_verbs_test.go:1132",
         ("cluster", "logs", "api-worker-3k9d2", "-n", "api", "-c", "worker", "--all-containers",
          "--cluster", "production"), exit=2),
    Case("TestLogsPreviousRejectsAnExplicitFollow", "cmd/cluster_debug_verbs_test.go:1333",
         ("cluster", "logs", "api-worker-3k9d2", "-n", "api", "--previous", "--follow=true",
          "--cluster", "production"), exit=2),
    Case("TestLogsPreviousStillWorksWithTheDefaultFollow", "cmd/cluster_debug_verbs_test.go:1351",
         ("cluster", "logs", "api-worker-3k9d2", "-n", "api", "--previous", "--cluster", "production"),
         stdout_has=("DATABASE_URL is not set",)),
]

NEW_CLUSTER = textwrap.dedent("""\
    kind: ImportCluster
    metadata: {name: brand-new}
    spec:
      stacks:
        - name: base
          manifests:
            - name: base-namespace
              manifest: |
                apiVersion: v1
                kind: Namespace
                metadata: {name: base}
    """)
MINIMAL = "kind: ImportCluster\nmetadata:\n  name: staging-cluster\nspec:\n  stacks: []\n"  # apply_repoint_test.go:13


def _graph(parents: object, kind: str = "manifest") -> str:
    doc = {
        "kind": "ImportCluster", "metadata": {"name": "staging-cluster"},
        "spec": {"stacks": [{"name": "s", "manifests": [
            {"name": "cm-a", "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: monitoring}\n"},
            {"name": "cm-b", "parents": parents,
             "manifest": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: monitoring}\n"},
        ]}]},
    }
    return json.dumps(doc)


FILES = {
    "@new-cluster": NEW_CLUSTER,
    "@minimal": MINIMAL,
    # parseParentList (cmd/apply.go:967-985) keeps only {name, kind} maps: a string, the `{manifest: x}`
    # shorthand (naming an undefined resource, so a kept entry would fail) and a map without `kind` are dropped
    "@parents-dropped": _graph(["not-a-map", {"manifest": "nowhere"}, {"name": "nowhere"}, {"kind": "addon"},
                                {"name": "cm-a", "kind": "manifest"}]),
    "@parents-not-a-list": _graph("not-a-slice"),
    "@parent-bad-kind": _graph([{"name": "cm-a", "kind": "helm"}]),
    "@parent-upper-kind": _graph([{"name": "cm-a", "kind": " Manifest "}]),
}


def _resolve(emu: Emu, args: tuple[str, ...]) -> list[str]:
    out = []
    for arg in args:
        if arg in FILES:
            path = emu.home / (arg[1:] + ".yaml")
            path.write_text(FILES[arg])
            out.append(str(path))
        elif arg.startswith("@id:"):
            name = arg[4:]
            items = emu.json("credentials", "list") if name in _creds(emu) else emu.json("cluster", "list")
            out.append(next(i["id"] for i in items if i["name"] == name))
        elif arg.startswith("@node:"):
            nodes = emu.json("cluster", "get", "nodes", "--cluster", arg[6:])["resource_responses"][0]["items"]
            out.append(nodes[0]["metadata"]["name"])
        else:
            out.append(arg)
    return out


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.go_test, marks=[pytest.mark.xfail(reason=c.xfail, strict=True)] if c.xfail else [])
     for c in CASES],
)
def test_go_ported(emu: Emu, case: Case) -> None:
    if case.faults:
        emu.write_faults(**case.faults)
    for step in case.setup:
        done = emu.run(*_resolve(emu, step))
        assert done.returncode == 0, (step, done.stderr)
    result = emu.run(*_resolve(emu, case.argv), stdin=case.stdin)
    where = f"{case.go_test} ({case.where})"
    assert result.returncode == case.exit, (where, result.stdout, result.stderr)
    for text in case.stdout_has:
        assert text in result.stdout, (where, text, result.stdout)
    for text in case.stdout_lacks:
        assert text not in result.stdout, (where, text, result.stdout)
    for text in case.stderr_has:
        assert text in result.stderr, (where, text, result.stderr)
    for text in case.output_lacks:
        assert text not in result.stdout + result.stderr, (where, text)
    if case.check is not None:
        assert case.check(emu, result) is not False, where


def test_apply_of_an_unknown_name_imports_a_new_cluster(emu: Emu) -> None:
    """cmd/apply.go:141-155 (ImportCommand set: "imported!" and the agent install command), and the
    ImportResponse shape (internal/client/clusters.go:369-374) under -o json."""
    path = _resolve(emu, ("@new-cluster",))[0]
    result = emu.run("cluster", "apply", "-f", path, "--wait")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["Cluster 'brand-new' imported!", "", "To install the Ankra agent, run:"]
    assert lines[3].startswith("helm upgrade --install ankra-agent oci://registry.ankra.cloud/ankra/ankra-agent ")
    assert "--set config.token=ank_cai_" in lines[3]
    info = emu.json("cluster", "info", "brand-new")
    assert (info["kind"], info["state"]) == ("imported", "offline")
    assert lines[4:] == ["", "View it in the UI:",
                         f"  https://platform.ankra.app/organisation/clusters/cluster/imported/{info['id']}/overview"]
    again = emu.json("cluster", "apply", "-f", path, "--wait")  # now it exists: a plain configuration write
    assert again == {"name": "brand-new", "cluster_id": info["id"], "import_command": ""}
    assert {s["name"]: s["state"] for s in emu.json("cluster", "stacks", "list", "--cluster", "brand-new")} == {
        "base": "pending"}  # no agent has connected: nothing deploys


def test_apply_wait_honours_timeout_and_exits_5(emu: Emu) -> None:
    """cmd/async_write.go:28-53: --wait bounds the write by --timeout; expiry is exit 5 (exitWaitTimeout),
    and the write was still submitted."""
    emu.write_faults(write_seconds=30)
    path = _resolve(emu, ("@minimal",))[0]
    result = emu.run("cluster", "apply", "-f", path, "--wait", "--timeout", "500ms")
    assert result.returncode == 5, result.stderr
    assert result.stderr.startswith('Error: applying cluster: request failed: Post "https://platform.ankra.app/'
                                    'api/v1/clusters/import?wait=true": context deadline exceeded')
    assert _stacks(emu, "staging-cluster") == set()  # `stacks: []` was applied: everything pruned
    emu.write_faults(write_seconds=0.2)
    assert emu.run("cluster", "apply", "-f", path, "--wait", "--timeout", "5s").returncode == 0
    bad = emu.run("cluster", "apply", "-f", path, "--wait", "--timeout", "10")
    assert bad.returncode == 2 and 'time: missing unit in duration "10"' in bad.stderr
