"""Plans: the decisions the rules build once a request is understood, shared by the recognisers
(engine.py) and the continuations (resume.py).

Commands that look a cluster up by its UUID (`cluster scale`, `cluster node-group …`, `cluster <provider>
workers`) get `ClusterFact.id`; when the clusters are unknown, `cluster list` runs first with a
`cluster.lookup` continuation. People are always shown the cluster's name, never only its id.
"""

from __future__ import annotations

from typing import Any

from hermes.catalog import COMMANDS, display, parse, spec_for
from hermes.contracts import PlanStep
from hermes_planner.decisions import (
    Answer,
    ClusterFact,
    Context,
    Decision,
    PendingRequest,
    Propose,
    ResumeRules,
)
from hermes_planner.engines.rules.intents import INTENTS, build, has_command
from hermes_planner.engines.rules.words import _K8S_NAME_RE

MAX_COUNT = 1000  # a larger worker or node count is a typo, not a request

# Providers, from the catalog: those Hermes can create clusters on (one location flag besides name and
# credentials), and those whose worker count it can read.
_CREATE_COMMON = {"--name", "--credential-id", "--ssh-key-credential-id"}


def _create_providers() -> dict[str, str]:
    found: dict[str, str] = {}
    for spec in COMMANDS:
        if len(spec.path) == 3 and spec.path[0] == "cluster" and spec.path[2] == "create" and not spec.replaced_by:
            other = [f.name for f in spec.flags if f.required and f.name not in _CREATE_COMMON]
            if len(other) == 1:
                found[spec.path[1]] = other[0]
    return found


LOCATION_FLAG = _create_providers()  # provider → its location flag (--location, --region, --zone)
PROVIDERS = tuple(LOCATION_FLAG)
WORKER_PROVIDERS = tuple(s.path[1] for s in COMMANDS if len(s.path) == 3 and s.path[0] == "cluster"
                         and s.path[2] == "workers")
TITLES = {"hetzner": "Hetzner", "ovh": "OVH", "upcloud": "UpCloud", "digitalocean": "DigitalOcean",
          "proxmox": "Proxmox", "morpheus": "Morpheus"}
# Locations offered when one is missing (the provider's usual ones; any other is passed as given).
LOCATIONS = {
    "hetzner": ["fsn1", "nbg1", "hel1", "ash", "hil", "sin"],
    "ovh": ["GRA7", "GRA9", "SBG5", "BHS5", "DE1", "UK1", "WAW1"],
    "upcloud": ["de-fra1", "fi-hel1", "nl-ams1", "uk-lon1", "us-nyc1", "sg-sin1"],
    "digitalocean": ["fra1", "ams3", "lon1", "nyc3", "sfo3", "sgp1"],
}


def title(provider: str) -> str:
    return TITLES.get(provider, provider.capitalize())


def article(provider: str) -> str:
    return "an" if title(provider)[0] in "AEIOU" else "a"


def location_word(provider: str) -> str:
    return LOCATION_FLAG.get(provider, "--location").lstrip("-")


def ssh_key_required(provider: str) -> bool:
    spec = spec_for(f"cluster {provider} create")
    return any(f.name == "--ssh-key-credential-id" and f.required for f in spec.flags)


def listing(names: list[str] | tuple[str, ...], last: str = "and") -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" {last} " + names[-1]


def run(intent: str, argv: list[str], title_: str, cluster: str | None = None,
        summary: str | None = None, then: ResumeRules | None = None) -> Propose:
    step = PlanStep(argv=argv, title=title_[:500])
    text = summary if summary is not None else describe([step])
    return Propose(intent, [step], text[:4000], cluster=cluster, then=then)


def describe(steps: list[PlanStep]) -> str:
    """What a plan will do, in words. Reads run at once ("Running …"); a change may wait for an
    approval, so it is said as what it does, never as something already running."""
    if any(parse(s.argv).spec.mutates for s in steps):
        return "\n".join(f"{s.title}: `{display(s.argv)}`." for s in steps)
    return "Running " + ", then ".join(f"`{display(s.argv)}`" for s in steps) + "..."


def too_many(n: int, what: str) -> Answer:
    return Answer(f"{n} {what} is more than I will ask for in one step (the limit is {MAX_COUNT}). "
                  "Please check the number.", kind="error")


# -- commands that take a cluster's id -----------------------------------------------------------


def fact_of(ctx: Context, name: str) -> ClusterFact | None:
    for c in ctx.clusters or ():
        if c.name == name:
            return c
    return None


def by_id(intent: str, cluster: str, ctx: Context, params: dict[str, Any], provider: str | None = None) -> Decision:
    """`intent` on `cluster`, whose id (and provider) come from the last cluster list — looked up first
    when the clusters are unknown."""
    if ctx.clusters is None:
        argv = build("cluster list")
        return run("cluster.lookup", argv, "List all clusters (to find the cluster's id and provider)", cluster,
                   summary=f"Looking up {cluster} (its id and provider): running `{display(argv)}`...",
                   then=ResumeRules(intent="cluster.lookup", params={"cluster": cluster, **params, "next": intent}))
    fact = fact_of(ctx, cluster) or ClusterFact(cluster)
    if provider and not fact.provider:
        fact = ClusterFact(fact.name, provider, fact.id)
    return with_fact(intent, fact, params)


def with_fact(intent: str, fact: ClusterFact, params: dict[str, Any]) -> Decision:
    name = fact.name
    target, delta = params.get("target"), params.get("delta")
    provider = (fact.provider or "").lower() or None
    if intent in ("cluster.workers", "cluster.scale") and (provider is None or provider not in WORKER_PROVIDERS):
        if provider is None:
            return Answer(f"Which provider runs {name}: {listing([title(p) for p in WORKER_PROVIDERS], 'or')}? "
                          "The last cluster list doesn't say. Say for example “How many workers does the hetzner "
                          f"cluster {name} have?”.")
        return Answer(f"{name} is {'an' if provider[0] in 'aeiou' else 'a'} {provider} cluster: Ankra reads and scales workers only for "
                      f"{listing([title(p) for p in WORKER_PROVIDERS])} clusters. Try “Show the details of "
                      f"{name}”.", suggestions=[f"Show the details of {name}"])
    if not fact.id:
        return Answer(f"I don't know the id of {name} (the last cluster list did not show one), and Ankra looks "
                      "this command's cluster up by id. Say “List my Ankra clusters” to refresh, then ask again.",
                      kind="error", suggestions=["List my Ankra clusters"])
    cid = fact.id
    if intent in ("cluster.workers", "cluster.scale"):
        assert provider is not None
        argv = build(f"cluster {provider} workers", {"cluster": cid})
        if intent == "cluster.workers":
            return run("cluster.workers", argv, f"Get the worker count of {name}", name,
                       summary=f"Reading the worker count of {name}: running `{display(argv)}`...")
        goal = f"scaling it to {target}" if target is not None else f"changing it by {int(delta or 0):+d}"
        keep = {k: v for k, v in (("target", target), ("delta", delta)) if v is not None}
        return run("cluster.scale", argv, f"Read the worker count of {name}", name,
                   summary=f"Reading the current worker count of {name} before {goal}: running "
                           f"`{display(argv)}`...",
                   then=ResumeRules(intent="cluster.scale", params={"cluster": name, "cluster_id": cid, **keep}))
    if intent == "cluster.node_group.list":
        argv = build("cluster node-group list", {"cluster": cid})
        return run(intent, argv, f"List node groups of {name}", name,
                   summary=f"Listing the node groups of {name}: running `{display(argv)}`...")
    if intent in ("cluster.node_group.scale", "cluster.node_group.delete"):
        group = str(params.get("group") or "")
        argv = build("cluster node-group list", {"cluster": cid})
        keep = {k: v for k, v in (("target", target), ("delta", delta)) if v is not None}
        doing = "scaling it" if intent.endswith("scale") else "deleting it"
        return run(intent, argv, f"Read the node groups of {name}", name,
                   summary=f"Checking node group {group} on {name} before {doing}: running `{display(argv)}`...",
                   then=ResumeRules(intent=intent, params={"cluster": name, "cluster_id": cid, "group": group,
                                                           **keep}))
    if intent == "cluster.node_group.add":
        return node_group_add({**params, "cluster": name, "cluster_id": cid})
    return Answer(f"I don't know how to do “{intent}” on {name}.", kind="error")


def node_group_add(slots: dict[str, Any]) -> Decision:
    spec = INTENTS["cluster.node_group.add"]
    cluster, group = str(slots.get("cluster") or ""), slots.get("group")
    if not group:
        return Answer(spec.ask("group", cluster=cluster),
                      pending=PendingRequest(intent=spec.name, slots=slots, missing="group"))
    if not _K8S_NAME_RE.match(str(group)):
        return Answer(f"“{group}” is not a valid node group name: use lowercase letters, digits and “-”.")
    if not slots.get("instance_type"):
        return Answer(spec.ask("instance_type", cluster=cluster, group=group),
                      pending=PendingRequest(intent=spec.name, slots=slots, missing="instance_type"))
    count = slots.get("count")
    if isinstance(count, int) and count > MAX_COUNT:
        return too_many(count, "nodes")
    argv = build("cluster node-group add", {"cluster": str(slots["cluster_id"])},
                 {"--name": str(group), "--instance-type": str(slots["instance_type"]),
                  "--count": str(count) if isinstance(count, int) else None})
    nodes = f" with {count} node{'s' if count != 1 else ''}" if isinstance(count, int) else ""
    return run(spec.name, argv, f"Add node group {group} to {cluster}", cluster,
               summary=f"Add node group {group} ({slots['instance_type']}){nodes} to {cluster}. "
                       f"Command: `{display(argv)}`")


# -- cluster creation ----------------------------------------------------------------------------


def create_example(slots: dict[str, Any]) -> str:
    provider = str(slots.get("provider") or "hetzner")
    ssh = ssh_key_required(provider) if provider in PROVIDERS else False
    loc = LOCATIONS.get(provider, ["fsn1"])[0]
    return (f"Create {article(provider)} {title(provider)} cluster named {slots.get('name', 'demo')} with credential "
            f"{slots.get('credential', '<credential-id>')}"
            + (f" and ssh key {slots.get('ssh_key', '<ssh-key-credential-id>')}" if ssh else "")
            + f" in {slots.get('location', loc)} with {slots.get('workers', '3')} workers")


def create(slots: dict[str, Any], credentials: list[dict] | None = None) -> Decision:
    """A cluster creation from its slots: ask for what is missing (offering what exists), read the
    credentials first to resolve and check the ones named, then propose."""
    spec = INTENTS["cluster.create"]
    provider = slots.get("provider")
    if provider not in PROVIDERS:
        return Answer(spec.ask("provider", providers=listing([title(p) for p in PROVIDERS], "or"),
                               example="Create a Hetzner cluster named demo with credential <credential-id> in "
                                       "fsn1 with 3 workers"),
                      suggestions=["List my credentials"],
                      pending=PendingRequest(intent=spec.name, slots=slots, missing="provider",
                                             choices=[title(p) for p in PROVIDERS]))
    name = slots.get("name")
    if name and not _K8S_NAME_RE.match(str(name)):
        return Answer(f"“{name}” is not a valid cluster name: use lowercase letters, digits and “-”.")
    workers = slots.get("workers")
    if workers is not None and int(workers) > MAX_COUNT:
        return too_many(int(workers), "workers")
    ssh = ssh_key_required(provider)
    order = ["name", "credential", "location"] + (["ssh_key"] if ssh else [])
    missing = [k for k in order if not slots.get(k)]
    loc_word = location_word(provider)
    labels = {"name": "a name", "credential": "a credential id", "location": f"a {loc_word}",
              "ssh_key": "an SSH key credential id"}
    example = create_example(slots)
    shown = {k: v for k, v in slots.items() if k != "provider"}
    given = ", ".join(f"{k} {v}" for k, v in shown.items()) or "nothing yet"
    if "name" in missing or "location" in missing:
        ask = next(k for k in order if k in missing and k in ("name", "location"))
        choices = LOCATIONS.get(provider, []) if ask == "location" else []
        offer = f" {loc_word.capitalize()}s: {', '.join(choices)}." if choices else ""
        return Answer(f"To create {article(provider)} {title(provider)} cluster I still need "
                      f"{listing([labels[m] for m in missing])} (I don't guess these). So far I have: {given}."
                      f"{offer} Say for example “{example}”.",
                      suggestions=[example, f"List my {title(provider)} credentials"],
                      pending=PendingRequest(intent=spec.name, slots=slots, missing=ask, choices=choices))
    if credentials is None:  # read the credentials first: resolve the ones named, offer them when missing
        argv = build("credentials list")
        return run("cluster.create", argv, "List credentials (metadata only)", str(name),
                   summary=f"Checking the credentials for the new {title(provider)} cluster {name}: running "
                           f"`{display(argv)}`...",
                   then=ResumeRules(intent="cluster.create", params={"slots": slots}))
    resolved: dict[str, str] = {}
    for key, kind in (("credential", provider), ("ssh_key", "ssh_key")):
        if key == "ssh_key" and not ssh and not slots.get("ssh_key"):
            continue
        usable = [c for c in credentials if str(c.get("provider") or "").lower() in (kind, kind.replace("_", "-"))]
        choices = [str(c.get("id")) for c in usable if c.get("id")]
        offered = ", ".join(f"{c.get('id')} ({c.get('name')})" for c in usable) or "none"
        wanted = slots.get(key)
        what = labels[key]
        if not wanted:
            return Answer(f"To create {article(provider)} {title(provider)} cluster I still need {what}. So far I have: "
                          f"{given}. Your {title(kind) if key == 'credential' else 'SSH key'} credentials: {offered}. "
                          "Answer with one of them.",
                          suggestions=[f"use {c}" for c in choices[:5]] or [f"List my {title(provider)} credentials"],
                          pending=PendingRequest(intent=spec.name, slots=slots, missing=key, choices=choices))
        found = next((c for c in credentials if str(wanted) in (str(c.get("id")), str(c.get("name")))), None)
        if found is None:
            found = next((c for c in credentials if str(wanted).lower() in (str(c.get("id")).lower(),
                                                                            str(c.get("name")).lower())), None)
        if found is None:
            return Answer(f"There is no credential “{wanted}”. Your {title(kind) if key == 'credential' else 'SSH key'} "
                          f"credentials: {offered}. Answer with one of them.",
                          suggestions=[f"use {c}" for c in choices[:5]],
                          pending=PendingRequest(intent=spec.name, slots={k: v for k, v in slots.items() if k != key},
                                                 missing=key, choices=choices))
        fprov = str(found.get("provider") or "").lower()
        if fprov and fprov not in (kind, kind.replace("_", "-")):
            return Answer(f"Credential “{wanted}” is for {fprov}, not {title(kind) if key == 'credential' else 'SSH keys'}. "
                          f"Usable ones: {offered}.",
                          pending=PendingRequest(intent=spec.name, slots={k: v for k, v in slots.items() if k != key},
                                                 missing=key, choices=choices))
        if found.get("available") is False or str(found.get("state") or "").lower() in ("failed", "error", "invalid"):
            return Answer(f"Credential “{wanted}” is not usable right now (state {found.get('state') or 'unknown'}, "
                          f"available: no). Usable ones: {offered}.",
                          pending=PendingRequest(intent=spec.name, slots={k: v for k, v in slots.items() if k != key},
                                                 missing=key, choices=choices))
        resolved[key] = str(found.get("id") or wanted)
    flags: dict[str, str | bool | None] = {"--name": str(name), "--credential-id": resolved["credential"],
                                           LOCATION_FLAG[provider]: str(slots["location"])}
    if "ssh_key" in resolved:
        flags["--ssh-key-credential-id"] = resolved["ssh_key"]
    if workers is not None:
        flags["--worker-count"] = str(workers)
    argv = build(f"cluster {provider} create", flags=flags)
    lines = [f"Create {article(provider)} {title(provider)} cluster with these parameters:",
             f"- name: {name}",
             f"- credential id: {resolved['credential']}",
             f"- {loc_word}: {slots['location']}"]
    if "ssh_key" in resolved:
        lines.append(f"- SSH key credential id: {resolved['ssh_key']}")
    lines.append(f"- workers: {workers if workers is not None else 'the provider default'}")
    lines.append(f"Command: `{display(argv)}` — it runs only after you confirm.")
    return run("cluster.create", argv, f"Create {title(provider)} cluster {name}", str(name), summary="\n".join(lines))


def has(command: str) -> bool:
    return has_command(command)
