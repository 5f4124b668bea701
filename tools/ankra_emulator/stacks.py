"""The ImportCluster YAML that `cluster apply -f` and `cluster validate -f` take, and its rules.

Rules (the platform's server-side pre-flight):
- unknown fields are refused, at every level;
- stack names are unique, and resource names (manifests and addons) are unique in the file;
- every parent is defined in the same file, as `{name: x, kind: manifest|addon}`; any other entry
  (the shorthand `{manifest: x}` included) is dropped silently, as the CLI's parseParentList does;
- no dependency cycles;
- an addon's namespace is an RFC 1123 label; the manifest that creates a namespace is an ancestor
  of every resource that deploys into it (and a namespace nobody creates must already exist);
- chart and exact version exist in the catalog (and in the named registry, when one is named);
- a `kind: Secret` manifest's data/stringData must be covered by `encrypted_paths`.

Every error names its resource; all errors are reported, not only the first.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import charts

TOP_KEYS = {"apiVersion", "kind", "metadata", "spec"}
METADATA_KEYS = {"name", "description", "labels"}
SPEC_KEYS = {"stacks"}
STACK_KEYS = {"name", "description", "deploy_wave", "manifests", "addons"}
MANIFEST_KEYS = {"name", "parents", "encrypted_paths", "manifest", "manifest_base64", "from_file"}
ADDON_KEYS = {
    "name",
    "chart_name",
    "chart_version",
    "registry_name",
    "registry_url",
    "namespace",
    "parents",
    "configuration",
    "encrypted_paths",
}
CONFIGURATION_KEYS = {"values", "values_base64"}
PARENT_KINDS = ("manifest", "addon")
RFC1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Namespaces every cluster has.
BUILTIN_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
ENCRYPTED = re.compile(r"^ENC\[[A-Z0-9_]+,data:")


@dataclass
class Resource:
    """A manifest or addon of the file, with where it came from."""

    kind: str  # "manifest" | "addon"
    name: str
    stack: str
    spec: dict[str, Any]
    parents: list[tuple[str, str]] = field(default_factory=list)  # (kind, name)
    objects: list[dict[str, Any]] = field(default_factory=list)  # parsed Kubernetes objects

    @property
    def label(self) -> str:
        return f'{self.kind} "{self.name}"'


@dataclass
class ImportResult:
    """What validation found: the cluster named in the file, the stacks, and the errors."""

    cluster_name: str | None = None
    description: str | None = None
    stacks: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def counts(self) -> tuple[int, int, int]:
        """(stacks, manifests, addons)."""
        return (
            len(self.stacks),
            sum(len(s["manifests"]) for s in self.stacks),
            sum(len(s["addons"]) for s in self.stacks),
        )


def _unknown(where: str, data: dict[str, Any], allowed: set[str], errors: list[str]) -> None:
    for key in data:
        if key not in allowed:
            errors.append(f'{where}: unknown field "{key}" (allowed: {", ".join(sorted(allowed))})')


def _yaml():
    import yaml

    return yaml


def load_file(path: Path) -> str:
    """The text of the file given with -f (errors as the CLI words them)."""
    from .errors import CliError

    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"reading {path}: open {path}: no such file or directory") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CliError(f"reading {path}: {err}") from None


def validate(text: str, base_dir: Path, existing_namespaces: set[str] | None = None) -> ImportResult:
    """Parse and check an ImportCluster document. Never raises for bad input: see `.errors`."""
    yaml = _yaml()
    result = ImportResult()
    errors = result.errors
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        errors.append(f"file: not valid YAML: {' '.join(str(err).split())}")
        return result
    if not isinstance(doc, dict):
        errors.append("file: expected an ImportCluster document (a YAML mapping)")
        return result
    _unknown("file", doc, TOP_KEYS, errors)
    if doc.get("kind") != "ImportCluster":
        errors.append(f'file: kind must be "ImportCluster", got {doc.get("kind")!r}')
    # apiVersion is not checked: buildImportRequest reads only kind, metadata and spec (cmd/apply.go:158-262)
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        errors.append("metadata: expected a mapping")
        metadata = {}
    _unknown("metadata", metadata, METADATA_KEYS, errors)
    if metadata.get("name") is not None:
        result.cluster_name = str(metadata["name"])
    result.description = metadata.get("description")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        errors.append("spec: required, with a list of stacks")
        return result
    _unknown("spec", spec, SPEC_KEYS, errors)
    raw_stacks = spec.get("stacks")
    # An empty or missing list is valid (cmd/apply.go:222-223; apply_repoint_test.go:13 applies `stacks: []`)
    if raw_stacks is None:
        raw_stacks = []
    if not isinstance(raw_stacks, list):
        errors.append("spec.stacks: expected a list of stacks")
        return result

    resources: dict[str, Resource] = {}
    stack_names: set[str] = set()
    for index, raw in enumerate(raw_stacks):
        stack = _check_stack(raw, index, base_dir, stack_names, resources, errors)
        if stack is not None:
            result.stacks.append(stack)
    _check_parents(resources, errors)
    _check_cycles(resources, errors)
    _check_namespaces(resources, (existing_namespaces or set()) | BUILTIN_NAMESPACES, errors)
    return result


def _check_stack(
    raw: Any,
    index: int,
    base_dir: Path,
    stack_names: set[str],
    resources: dict[str, Resource],
    errors: list[str],
) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        errors.append(f"spec.stacks[{index}]: expected a mapping")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"spec.stacks[{index}]: name is required")
        name = f"#{index}"
    where = f'stack "{name}"'
    _unknown(where, raw, STACK_KEYS, errors)
    if name in stack_names:
        errors.append(f"{where}: duplicate stack name")
    stack_names.add(name)
    wave = raw.get("deploy_wave", 0)
    if not isinstance(wave, int) or isinstance(wave, bool) or wave < 0:
        errors.append(f"{where}: deploy_wave must be a whole number >= 0, got {wave!r}")
        wave = 0
    stack = {
        "name": name,
        "description": str(raw.get("description") or ""),
        "deploy_wave": wave,
        "manifests": [],
        "addons": [],
    }
    for kind, key in (("manifest", "manifests"), ("addon", "addons")):
        items = raw.get(key) or []
        if not isinstance(items, list):
            errors.append(f"{where}: {key} must be a list")
            continue
        for pos, item in enumerate(items):
            checked = (_check_manifest if kind == "manifest" else _check_addon)(
                item, f"{where} {key}[{pos}]", name, base_dir, resources, errors
            )
            if checked is not None:
                stack[key].append(checked)
    return stack


def _register(
    kind: str, item: dict[str, Any], where: str, stack: str, resources: dict[str, Resource], errors: list[str]
) -> Resource | None:
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{where}: name is required")
        return None
    resource = Resource(kind, name, stack, item)
    if name in resources:
        other = resources[name]
        errors.append(f'{resource.label}: duplicate name (also {other.label} in stack "{other.stack}")')
        return None
    resources[name] = resource
    resource.parents = _parse_parents(resource, item.get("parents"), errors)
    return resource


def _parse_parents(resource: Resource, raw: Any, errors: list[str]) -> list[tuple[str, str]]:
    """The parents as the CLI reads them (parseParentList, cmd/apply.go:967-985): a non-list is no
    parents, and an entry is kept only when it is a map with a string `name` and a string `kind`; anything
    else (a plain string, `{manifest: x}`, a map without `name` or `kind`) is dropped silently. The kind is
    then checked trimmed and lower-cased (validateResourceGraph, cmd/apply.go:401-407)."""
    if not isinstance(raw, list):
        return []
    parents = []
    for index, entry in enumerate(raw, 1):
        if not isinstance(entry, dict):
            continue
        name, kind = entry.get("name"), entry.get("kind")
        if not isinstance(name, str) or not isinstance(kind, str):
            continue
        normal = kind.strip().lower()
        if normal not in PARENT_KINDS:
            errors.append(
                f'{resource.label}: parent #{index} has invalid kind "{kind}" (must be "manifest" or "addon")'
            )
            continue
        parents.append((normal, name))
    return parents


def _string_list(value: Any, label: str, key: str, errors: list[str]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(f"{label}: {key} must be a list of strings")
        return []
    return list(value)


def _check_manifest(
    item: Any, where: str, stack: str, base_dir: Path, resources: dict[str, Resource], errors: list[str]
) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errors.append(f"{where}: expected a mapping")
        return None
    _unknown(f'manifest "{item.get("name", "?")}"', item, MANIFEST_KEYS, errors)
    resource = _register("manifest", item, where, stack, resources, errors)
    if resource is None:
        return None
    label = resource.label
    sources = [k for k in ("manifest", "manifest_base64", "from_file") if item.get(k) is not None]
    if len(sources) != 1:
        errors.append(f"{label}: exactly one of manifest, manifest_base64, from_file is required")
        return None
    text = _manifest_text(item, sources[0], label, base_dir, errors)
    if text is None:
        return None
    yaml = _yaml()
    try:
        objects = [o for o in yaml.safe_load_all(text) if o is not None]
    except yaml.YAMLError as err:
        errors.append(f"{label}: manifest is not valid YAML: {' '.join(str(err).split())}")
        return None
    for obj in objects:
        if (
            not isinstance(obj, dict)
            or not obj.get("kind")
            or not isinstance(obj.get("metadata"), dict)
            or not obj["metadata"].get("name")
        ):
            errors.append(f"{label}: every object needs apiVersion, kind and metadata.name")
            return None
    resource.objects = objects
    encrypted = _string_list(item.get("encrypted_paths"), label, "encrypted_paths", errors)
    _check_secrets(resource, encrypted, errors)
    return {
        "name": resource.name,
        "parents": [{"name": n, "kind": k} for k, n in resource.parents],
        "encrypted_paths": encrypted,
        "manifest": _encrypt(objects, encrypted) if encrypted else text,
    }


def _manifest_text(
    item: dict[str, Any], source: str, label: str, base_dir: Path, errors: list[str]
) -> str | None:
    value = item[source]
    if source == "manifest":
        if not isinstance(value, str):
            errors.append(f"{label}: manifest must be a YAML string (use `manifest: |`)")
            return None
        return value
    if source == "manifest_base64":
        try:
            return base64.b64decode(str(value), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            errors.append(f"{label}: manifest_base64 is not valid base64 of UTF-8 text")
            return None
    path = (base_dir / str(value)).resolve()
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        errors.append(f'{label}: from_file "{value}": no such file next to the cluster YAML')
        return None


def _covered(path: str, encrypted: list[str]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in encrypted)


def _check_secrets(resource: Resource, encrypted: list[str], errors: list[str]) -> None:
    for obj in resource.objects:
        if obj.get("kind") != "Secret":
            continue
        for section in ("data", "stringData"):
            values = obj.get(section)
            if not isinstance(values, dict):
                continue
            plain = [
                k
                for k, v in values.items()
                if not _covered(f"{section}.{k}", encrypted) and not ENCRYPTED.match(str(v))
            ]
            if plain:
                keys = ", ".join(f"{section}.{k}" for k in plain)
                errors.append(
                    f"{resource.label}: plaintext secret values in Secret "
                    f'"{obj["metadata"]["name"]}" ({keys}); list them under encrypted_paths '
                    "so they are SOPS-encrypted"
                )


def _encrypt(objects: list[dict[str, Any]], encrypted: list[str]) -> str:
    """Replace the values under `encrypted_paths` by SOPS-style ENC[...] strings.

    The emulator never stores a plaintext secret: what the platform keeps in the GitOps repo is
    the encrypted form, and so does the emulator's state.
    """
    yaml = _yaml()

    def seal(value: Any) -> str:
        digest = hashlib.sha256(str(value).encode()).digest()
        return f"ENC[AES256_GCM,data:{base64.b64encode(digest[:12]).decode()},type:str]"

    def walk(node: Any, prefix: str) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, f"{prefix}.{k}" if prefix else str(k)) for k, v in node.items()}
        if _covered(prefix, encrypted) and not ENCRYPTED.match(str(node)):
            return seal(node)
        return node

    sealed = [walk(obj, "") for obj in objects]
    body = yaml.safe_dump_all(sealed, sort_keys=False)
    return body + "sops:\n  encrypted_paths: [" + ", ".join(encrypted) + "]\n"


def _check_addon(
    item: Any, where: str, stack: str, base_dir: Path, resources: dict[str, Resource], errors: list[str]
) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        errors.append(f"{where}: expected a mapping")
        return None
    _unknown(f'addon "{item.get("name", "?")}"', item, ADDON_KEYS, errors)
    resource = _register("addon", item, where, stack, resources, errors)
    if resource is None:
        return None
    label = resource.label
    chart_name = item.get("chart_name")
    version = item.get("chart_version")
    if not isinstance(chart_name, str) or not chart_name:
        errors.append(f"{label}: chart_name is required")
    if version is None or isinstance(version, bool):
        errors.append(f"{label}: chart_version is required (an exact version, e.g. 14.3.10)")
    elif not isinstance(version, str):
        errors.append(f"{label}: chart_version must be a quoted string, got {version!r}")
        version = None
    if isinstance(chart_name, str) and chart_name and isinstance(version, str):
        _check_chart(label, chart_name, version, item.get("registry_name"), item.get("registry_url"), errors)
    namespace = item.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        errors.append(f"{label}: namespace is required")
    elif len(namespace) > 63 or not RFC1123_LABEL.match(namespace):
        errors.append(
            f'{label}: namespace "{namespace}" is not a valid RFC 1123 label (lowercase '
            "letters, digits and '-', starting and ending with a letter or digit, at most 63)"
        )
    configuration = item.get("configuration") or {}
    values = ""
    if not isinstance(configuration, dict):
        errors.append(f"{label}: configuration must be a mapping")
    else:
        _unknown(f"{label} configuration", configuration, CONFIGURATION_KEYS, errors)
        values = configuration.get("values") or ""
        if isinstance(values, dict):
            values = _yaml().safe_dump(values, sort_keys=False)
        elif configuration.get("values_base64"):
            try:
                values = base64.b64decode(str(configuration["values_base64"]), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                errors.append(f"{label}: configuration.values_base64 is not valid base64")
    encrypted = _string_list(item.get("encrypted_paths"), label, "encrypted_paths", errors)
    return {
        "name": resource.name,
        "chart_name": chart_name,
        "chart_version": version,
        "registry_name": item.get("registry_name"),
        "registry_url": item.get("registry_url"),
        "namespace": namespace,
        "parents": [{"name": n, "kind": k} for k, n in resource.parents],
        "configuration": {"values": values if isinstance(values, str) else ""},
        "encrypted_paths": encrypted,
    }


def _check_chart(
    label: str, name: str, version: str, registry_name: Any, registry_url: Any, errors: list[str]
) -> None:
    found = charts.find(name)
    if not found:
        errors.append(f'{label}: chart "{name}" not found in any connected registry')
        return
    for repo in (registry_name, registry_url):
        if repo:
            found = [
                c
                for c in found
                if str(repo).rstrip("/").lower()
                in {c["repository_name"].lower(), c["repository_url"].rstrip("/").lower()}
            ]
            if not found:
                errors.append(f'{label}: chart "{name}" not found in registry "{repo}"')
                return
    if not any(charts.has_version(c, version) for c in found):
        available = ", ".join(v["version"] for v in found[0]["versions"])
        errors.append(f'{label}: chart "{name}" has no version "{version}" (available: {available})')


def _check_parents(resources: dict[str, Resource], errors: list[str]) -> None:
    for resource in resources.values():
        for kind, name in resource.parents:
            target = resources.get(name)
            if target is None:
                errors.append(f'{resource.label}: parent {kind} "{name}" is not defined in this file')
            elif target.kind != kind:
                errors.append(f'{resource.label}: parent "{name}" is a {target.kind}, not a {kind}')
            elif target is resource:
                errors.append(f"{resource.label}: lists itself as a parent")


def _check_cycles(resources: dict[str, Resource], errors: list[str]) -> None:
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(resources, white)
    reported: set[frozenset[str]] = set()

    def visit(name: str, trail: list[str]) -> None:
        colour[name] = grey
        trail.append(name)
        for kind, parent in resources[name].parents:
            if parent not in resources or resources[parent].kind != kind or parent == name:
                continue
            if colour[parent] == grey:
                cycle = trail[trail.index(parent) :] + [parent]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    path = " -> ".join(resources[n].label for n in cycle)
                    errors.append(f"{resources[cycle[0]].label}: dependency cycle: {path}")
            elif colour[parent] == white:
                visit(parent, trail)
        trail.pop()
        colour[name] = black

    for name in resources:
        if colour[name] == white:
            visit(name, [])


def ancestors(resources: dict[str, Resource], name: str) -> set[str]:
    """Every resource `name` transitively depends on."""
    seen: set[str] = set()
    todo = [p for _, p in resources[name].parents]
    while todo:
        current = todo.pop()
        if current in seen or current not in resources:
            continue
        seen.add(current)
        todo.extend(p for _, p in resources[current].parents)
    return seen


def _check_namespaces(resources: dict[str, Resource], existing: set[str], errors: list[str]) -> None:
    creators: dict[str, str] = {}
    for resource in resources.values():
        for obj in resource.objects:
            if obj.get("kind") == "Namespace":
                creators[obj["metadata"]["name"]] = resource.name
    for resource in resources.values():
        targets = set()
        ns_value = resource.spec.get("namespace")
        # An invalid namespace was already reported by the addon check; don't report it twice.
        if resource.kind == "addon" and isinstance(ns_value, str) and RFC1123_LABEL.match(ns_value):
            targets.add(ns_value)
        for obj in resource.objects:
            ns = obj.get("metadata", {}).get("namespace")
            if obj.get("kind") != "Namespace" and isinstance(ns, str):
                targets.add(ns)
        for ns in sorted(targets):
            creator = creators.get(ns)
            if creator is None:
                if ns not in existing:
                    errors.append(
                        f'{resource.label}: namespace "{ns}" is not created by any manifest in '
                        "this file and does not exist on the cluster; add a Namespace manifest "
                        "and list it as a parent"
                    )
            elif creator != resource.name and creator not in ancestors(resources, resource.name):
                errors.append(
                    f'{resource.label}: deploys into namespace "{ns}" but manifest "{creator}" '
                    "that creates it is not among its parents (add it to parents)"
                )


def namespaces_of(stacks: list[dict[str, Any]]) -> set[str]:
    """The namespaces a cluster's stored stacks create or deploy into."""
    yaml = _yaml()
    found: set[str] = set()
    for stack in stacks:
        for addon in stack.get("addons", []):
            if addon.get("namespace"):
                found.add(addon["namespace"])
        for manifest in stack.get("manifests", []):
            try:
                for obj in yaml.safe_load_all(manifest.get("manifest") or ""):
                    if isinstance(obj, dict) and obj.get("kind") == "Namespace":
                        found.add(obj.get("metadata", {}).get("name"))
            except yaml.YAMLError:
                continue
    found.discard(None)
    return found
