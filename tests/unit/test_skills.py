"""The skills loader reads OpenClaw skill folders as they are, and turns the guide's `ankra` skill into
the command catalog and guardrails Hermes enforces."""

from __future__ import annotations

import hashlib
import os
import stat
import textwrap
from pathlib import Path

import pytest
from hermes import catalog
from hermes.catalog import COMMANDS
from hermes.config import LoadedConfig, load_config
from hermes.profiles import Autonomy, Profile
from hermes.skills import (
    BUNDLED_SKILLS_DIR,
    IMPLIED_COMMANDS,
    SkillRoot,
    SkillStatus,
    SkillWatcher,
    commands_allowed_by,
    default_roots,
    discover_skills,
    parse_commands,
    parse_guardrails,
)

# The sha256 of the SKILL.md block of the guide ("Step 2: Create the Ankra Skill"), taken from the guide's
# text when it was bundled: the shipped file must stay the guide's text byte for byte.
GUIDE_SKILL_SHA256 = "fc82310a43b25b1f52dc56630959484997cbb7b16605a6a6c730f3d8d0bebb49"


def make_skill(root: Path, rel: str, frontmatter: str, body: str = "# Skill\n", filename: str = "SKILL.md") -> Path:
    folder = root / rel
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(f"---\n{textwrap.dedent(frontmatter).strip()}\n---\n{body}", encoding="utf-8")
    return folder


def make_bin(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def config_from(tmp_path: Path, text: str) -> LoadedConfig:
    path = tmp_path / "openclaw.json"
    path.write_text(text)
    return load_config(path, env={})


def status_of(skills, name: str) -> tuple[SkillStatus, str | None]:
    skill = next(s for s in skills.skills if s.name == name and s.status is not SkillStatus.SHADOWED)
    return skill.status, skill.reason


# -- the guide's ankra skill, bundled -------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return discover_skills([SkillRoot(BUNDLED_SKILLS_DIR, "bundled")], None, {"PATH": os.defpath}, "linux")


def test_bundled_ankra_skill_is_the_guides_text_verbatim() -> None:
    shipped = (BUNDLED_SKILLS_DIR / "ankra" / "SKILL.md").read_bytes()
    assert shipped.startswith(b"---\nname: ankra\n")
    assert hashlib.sha256(shipped).hexdigest() == GUIDE_SKILL_SHA256, "the bundled SKILL.md is not the guide's text"


def test_bundled_ankra_skill_loads(bundled) -> None:
    skill = bundled.get("ankra")
    assert skill is not None and skill.status is SkillStatus.LOADED, skill and skill.reason
    assert skill.description.startswith("Manage Kubernetes clusters")
    assert skill.frontmatter["version"] == "1.0.0"
    assert skill.permissions == ["shell", "network"]  # kept: policy input
    assert skill.secret_config_keys() == ["api_token"]  # the `config:` schema is kept too


def test_every_available_command_of_the_guide_resolves_to_the_catalog(bundled) -> None:
    skill = bundled.get("ankra")
    assert len(skill.commands) == 30
    unresolved = [(c.template, c.problem) for c in skill.unresolved_commands]
    assert unresolved == []
    keys = {c.template: c.catalog_key for c in skill.commands}
    assert keys['ankra chat "<question>"'] == "chat"
    assert keys["ankra chat health --ai"] == "chat health"
    assert keys["ankra cluster get <name>"] == "cluster get"
    assert keys["ankra cluster stacks create <name>"] == "cluster stacks create"
    assert keys["ankra cluster reconcile [name]"] == "cluster reconcile"
    create = next(c for c in skill.commands if c.catalog_key == "cluster hetzner create")
    assert create.path == ("cluster", "hetzner", "create")
    assert create.description == "Create cluster" and create.group == "Hetzner Cluster Provisioning"


def test_allowed_commands_include_current_forms_of_the_guides_older_commands(bundled) -> None:
    allowed = bundled.allowed_commands()
    assert {"cluster list", "cluster ovh scale", "tokens revoke", "chat", "chat health"} <= allowed
    assert "cluster hetzner scale" not in allowed  # the guide lists hetzner's node-group scale, not this
    # Replacements of deprecated forms the skill lists:
    assert {"cluster scale", "cluster deprovision", "cluster node-group list", "cluster node-group scale"} <= allowed
    # What the guide's subset implies in the current CLI:
    assert {"cluster info", "cluster validate", "cluster apply"} <= allowed
    # Not listed and not implied: refused.
    assert not {"cluster node-group add", "cluster node-group delete", "cluster stacks clone",
                "cluster stacks rename", "cluster ovh deprovision"} & allowed
    assert allowed <= {c.key for c in COMMANDS}


def test_implied_commands_table_names_only_catalog_commands() -> None:
    """A listed command is one of the catalog's, current or removed; what it implies is current."""
    catalog_keys = {c.key for c in COMMANDS}
    removed_keys = {c.key for c in catalog.REMOVED_COMMANDS}
    assert IMPLIED_COMMANDS
    for listed, implied in IMPLIED_COMMANDS.items():
        assert listed in catalog_keys | removed_keys, listed
        assert set(implied) <= catalog_keys, (listed, set(implied) - catalog_keys)


def test_a_skill_naming_a_command_older_clis_had_allows_what_replaced_it() -> None:
    """The guide's skill lists `cluster stacks create`, which the current CLI dropped: its stacks are
    checked then applied and the deploy followed, so the skill allows `cluster validate`, `cluster
    apply` and `cluster operations list` (never the removed command itself)."""
    allowed = commands_allowed_by(["cluster stacks create"])
    assert allowed == {"cluster validate", "cluster apply", "cluster operations list"}


def test_guide_guardrails_become_structured_rules(bundled) -> None:
    skill = bundled.get("ankra")
    assert len(skill.guardrails) == 6
    rules = skill.rules
    assert rules.require_confirmation == ["deprovision", "delete", "scale-down"]
    assert rules.show_current_count_before_scale
    assert rules.withhold_secrets
    assert rules.read_back_create_parameters
    assert rules.require_architecture_draft and rules.require_bill_of_materials
    assert rules.prefer_ankra_chat


def test_skill_guardrails_only_make_a_profile_stricter(bundled) -> None:
    loose = Profile(name="sandbox", autonomy=Autonomy.AUTO)
    applied = bundled.apply(loose)
    assert applied.autonomy is Autonomy.AUTO
    assert set(applied.guardrails.require_confirmation) == {"deprovision", "delete", "scale-down"}
    assert applied.guardrails.withhold_secrets
    other = Profile(name="p", autonomy=Autonomy.AUTO, skills=["something-else"])
    assert bundled.allowed_commands(other) == set()  # a profile only gets its own skills' commands
    assert bundled.guardrail_policy(other).require_confirmation == []


def test_guardrail_keywords_match_other_wordings() -> None:
    body = textwrap.dedent("""\
        ## Guardrails
        * Ask the operator before you delete or revoke anything.
        * Do not print secrets or passwords.
        * Always draft the architecture first; show a BOM.
        ## Other
        - Never expose tokens here (not a guardrail section)
        """)
    bullets, rules = parse_guardrails(body)
    assert len(bullets) == 3
    assert rules.require_confirmation == ["delete", "revoke"]
    assert rules.withhold_secrets and rules.require_architecture_draft and rules.require_bill_of_materials
    assert not rules.prefer_ankra_chat and not rules.show_current_count_before_scale


def test_commands_outside_the_catalog_are_reported_not_dropped() -> None:
    body = textwrap.dedent("""\
        ## Available Commands
        ### Mixed
        - `ankra cluster list` -- ok
        - `ankra cluster reconcile production` -- a concrete name resolves by prefix
        - `ankra cluster teleport <id>` -- not a command
        - `ankra cluster list extra words` -- too many words
        - `kubectl get pods` -- not ankra: not a catalog command, ignored
        ```
        - `ankra tokens list` -- inside a code block
        ```
        ## Next
        - `ankra tokens list` -- another section
        """)
    commands = parse_commands(body)
    keys = [(c.template, c.catalog_key) for c in commands]
    assert keys == [("ankra cluster list", "cluster list"),
                    ("ankra cluster reconcile production", "cluster reconcile"),
                    ("ankra cluster teleport <id>", None),
                    ("ankra cluster list extra words", None)]
    assert "not a command in Hermes's catalog" in commands[2].problem


# -- real-shaped OpenClaw skill folders -------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path):
    """A workspace, a home and a few skill roots with OpenClaw-shaped skills."""
    ws_skills = tmp_path / "ws" / "skills"
    managed = tmp_path / "home" / ".openclaw" / "skills"
    bins = tmp_path / "bin"
    make_bin(bins, "jq")
    make_bin(bins, "python3")
    make_skill(ws_skills, "json5-inline", """
        name: json5-inline
        description: Inline JSON5 metadata
        metadata: '{ openclaw: { emoji: "🔧", requires: { bins: ["jq"], anyBins: "python3, python", }, }, }'
        """, "Run {baseDir}/scripts/run.sh\n")
    make_skill(ws_skills, "comma-bins", """
        name: comma-bins
        description: Comma separated bins, one missing
        metadata:
          openclaw:
            requires:
              bins: "jq, definitely-not-installed-bin"
        """)
    make_skill(ws_skills, "older", """
        name: older
        description: Uses the older clawdbot metadata key
        metadata:
          clawdbot:
            always: true
            requires: {bins: [nothing-here]}
        """)
    make_skill(ws_skills, "mac-only", """
        name: mac-only
        description: macOS only
        metadata: {"openclaw": {"os": ["darwin"], "always": true}}
        """)
    make_skill(ws_skills, "needs-env", """
        name: needs-env
        description: Needs an API key
        metadata:
          openclaw:
            skillKey: needy
            primaryEnv: NEEDY_API_KEY
            requires: {env: [NEEDY_TOKEN]}
        """)
    make_skill(ws_skills, "no-description", "name: no-description\n")
    make_skill(ws_skills, "bad-yaml", "name: bad-yaml\ndescription: [unclosed\n")
    make_skill(ws_skills, "group/sub/deep3", "name: deep3\ndescription: three levels down\n")
    make_skill(ws_skills, "a/b/c/d/e/f/deep7", "name: deep7\ndescription: seven levels down\n")
    make_skill(ws_skills, "a/b/c/d/e/deep6", "name: deep6\ndescription: six levels down\n")
    make_skill(ws_skills, "lower", "name: lower\ndescription: lowercase file name\n", filename="skill.md")
    make_skill(ws_skills, "Bad_Name", "description: folder name is not a valid skill name\n")
    make_skill(ws_skills, "switched-off", "name: switched-off\ndescription: disabled by entries\n")
    make_skill(ws_skills, "wants-config", """
        name: wants-config
        description: needs a config path
        metadata: {openclaw: {requires: {config: ["channels.slack.botToken"]}}}
        """)
    make_skill(ws_skills, "commented", textwrap.dedent("""\
        name: commented
        description: OpenClaw-style JSON5 metadata with comments
        metadata:
          {
            "openclaw": {
              "always": false,   // comments are JSON5, not YAML
              "requires": { "bins": ["jq"], },
            },
          }
        """))
    # Shadowing: `ankra` in the managed root shadows the bundled one; `dup` in the workspace wins.
    make_skill(managed, "ankra", "name: ankra\ndescription: my own ankra skill\n",
               "## Available Commands\n- `ankra cluster list` -- List\n")
    make_skill(managed, "dup", "name: dup\ndescription: the managed copy\n")
    make_skill(ws_skills, "dup-folder", "name: dup\ndescription: the workspace copy\n")
    return tmp_path, bins


def _discover(tree, env_extra=None, config=None, platform="linux"):
    tmp_path, bins = tree
    environ = {"PATH": str(bins), **(env_extra or {})}
    roots = default_roots(tmp_path / "ws", tmp_path / "home", config)
    return discover_skills(roots, config, environ, platform)


def test_inline_json5_metadata_and_base_dir(tree) -> None:
    skills = _discover(tree)
    skill = skills.get("json5-inline")
    assert skill.status is SkillStatus.LOADED, skill.reason
    assert skill.metadata.requires.bins == ("jq",)
    assert skill.metadata.requires.any_bins == ("python3", "python")
    assert skill.metadata.emoji == "🔧"
    assert f"Run {skill.folder}/scripts/run.sh" in skill.body


def test_comma_separated_bins_are_each_required(tree) -> None:
    status, reason = status_of(_discover(tree), "comma-bins")
    assert status is SkillStatus.INELIGIBLE and "definitely-not-installed-bin" in reason


def test_older_clawdbot_metadata_key_is_read(tree) -> None:
    skill = _discover(tree).get("older")
    assert skill.metadata.source_key == "clawdbot" and skill.metadata.always
    assert skill.status is SkillStatus.LOADED  # always: a missing bin does not gate it


def test_os_restriction_makes_a_skill_ineligible_elsewhere(tree) -> None:
    assert status_of(_discover(tree), "mac-only")[0] is SkillStatus.INELIGIBLE
    assert "darwin" in status_of(_discover(tree), "mac-only")[1]
    assert status_of(_discover(tree, platform="darwin"), "mac-only")[0] is SkillStatus.LOADED


def test_required_env_satisfied_by_process_or_by_skill_entries(tree) -> None:
    tmp_path, _ = tree
    status, reason = status_of(_discover(tree), "needs-env")
    assert status is SkillStatus.INELIGIBLE and "NEEDY_TOKEN" in reason and "skills.entries.needy.env" in reason
    assert status_of(_discover(tree, {"NEEDY_TOKEN": "t"}), "needs-env")[0] is SkillStatus.LOADED
    config = config_from(tmp_path, '{skills: {entries: {needy: {env: {NEEDY_TOKEN: "from-config"}}}}}')
    skills = _discover(tree, config=config)
    assert status_of(skills, "needs-env")[0] is SkillStatus.LOADED
    assert skills.env_for(skills.get("needs-env"), {}) == {"NEEDY_TOKEN": "from-config"}


def test_api_key_supplies_the_primary_env_variable(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    make_skill(root, "keyed", """
        name: keyed
        description: needs its primary env
        metadata:
          openclaw:
            primaryEnv: KEYED_API_KEY
            requires: {env: [KEYED_API_KEY]}
        """)
    config = config_from(tmp_path, '{skills: {entries: {keyed: {apiKey: "k-123"}}}}')
    skills = discover_skills([SkillRoot(root, "extra")], config, {}, "linux")
    assert skills.get("keyed").status is SkillStatus.LOADED
    assert skills.env_for(skills.get("keyed"), {}) == {"KEYED_API_KEY": "k-123"}


def test_broken_skills_are_skipped_with_a_reason_and_siblings_load(tree) -> None:
    skills = _discover(tree)
    by_folder = {s.folder.name: s for s in skills.skills}
    assert by_folder["no-description"].status is SkillStatus.BROKEN
    assert "description" in by_folder["no-description"].reason
    # OpenClaw reads invalid YAML line by line and never checks the name: both load, with a note.
    assert by_folder["bad-yaml"].status is SkillStatus.LOADED
    assert by_folder["bad-yaml"].description == "[unclosed"
    assert any("YAML" in w and "line" in w for w in by_folder["bad-yaml"].warnings)
    assert by_folder["Bad_Name"].status is SkillStatus.LOADED
    assert any("Bad_Name" in w for w in by_folder["Bad_Name"].warnings)
    assert skills.get("lower").status is SkillStatus.LOADED
    assert skills.get("json5-inline").status is SkillStatus.LOADED


def test_json5_metadata_with_comments_is_accepted(tree) -> None:
    skill = _discover(tree).get("commented")
    assert skill.status is SkillStatus.LOADED, skill.reason
    assert skill.metadata.requires.bins == ("jq",)


def test_discovery_depth_is_six_levels(tree) -> None:
    names = {s.name for s in _discover(tree).skills}
    assert {"deep3", "deep6"} <= names
    assert "deep7" not in names


def test_lowercase_skill_md_is_accepted(tree) -> None:
    skill = _discover(tree).get("lower")
    assert skill.file.name == "skill.md"


def test_higher_precedence_root_shadows_the_lower(tree) -> None:
    skills = _discover(tree)
    dups = [s for s in skills.skills if s.name == "dup"]
    winner = skills.get("dup")
    assert winner.root.source == "workspace" and winner.description == "the workspace copy"
    (loser,) = [s for s in dups if s is not winner]
    assert loser.status is SkillStatus.SHADOWED and loser.shadowed_by == winner.file
    ankra = [s for s in skills.skills if s.name == "ankra"]
    assert [s.root.source for s in ankra] == ["openclaw", "bundled"]
    assert ankra[1].status is SkillStatus.SHADOWED
    # The user's own ankra skill lists only `cluster list`: that is all that is allowed.
    assert {k for k in skills.allowed_commands()} == {"cluster list"}
    report = skills.report()
    assert "shadowed by" in report and str(winner.file) in report


def test_disabled_by_entries(tree) -> None:
    tmp_path, _ = tree
    config = config_from(tmp_path, '{skills: {entries: {"switched-off": {enabled: false}}}}')
    status, reason = status_of(_discover(tree, config=config), "switched-off")
    assert status is SkillStatus.DISABLED and "enabled = false" in reason
    assert status_of(_discover(tree), "switched-off")[0] is SkillStatus.LOADED


def test_requires_config_paths_must_be_truthy(tree) -> None:
    tmp_path, _ = tree
    assert status_of(_discover(tree), "wants-config")[0] is SkillStatus.INELIGIBLE
    config = config_from(tmp_path, '{channels: {slack: {botToken: "xoxb-1"}}}')
    assert status_of(_discover(tree, config=config), "wants-config")[0] is SkillStatus.LOADED


def test_extra_dirs_have_the_lowest_precedence(tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    make_skill(extra, "ankra", "name: ankra\ndescription: extra copy\n")
    make_skill(extra, "only-extra", "name: only-extra\ndescription: from extraDirs\n")
    config = config_from(tmp_path, f'{{skills: {{load: {{extraDirs: ["{extra}"]}}}}}}')
    roots = default_roots(None, tmp_path / "home", config)
    assert [r.source for r in roots] == ["agents", "openclaw", "bundled", "extra"]
    skills = discover_skills(roots, config, {}, "linux")
    assert skills.get("ankra").root.source == "bundled"
    assert skills.get("only-extra").status is SkillStatus.LOADED


def test_report_lists_every_skill_with_its_status(tree) -> None:
    report = _discover(tree).report()
    assert "- json5-inline [workspace]" in report
    assert "skipped (broken): `description` is missing" in report
    assert "skipped (ineligible): runs on darwin only" in report
    assert "Allowed commands (1):" in report


def test_secret_config_values_of_a_skill_are_listed(tmp_path: Path) -> None:
    config = config_from(tmp_path, '{skills: {entries: {ankra: {config: {api_token: "ankra-cfg-secret"}}}}}')
    skills = discover_skills([SkillRoot(BUNDLED_SKILLS_DIR, "bundled")], config, {}, "linux")
    assert skills.secret_values() == ["ankra-cfg-secret"]


# -- reload on change ---------------------------------------------------------------------------------------


def test_watcher_notices_changed_added_and_removed_skills(tmp_path: Path) -> None:
    root = tmp_path / "skills"
    folder = make_skill(root, "one", "name: one\ndescription: first\n")
    now = [0.0]
    watcher = SkillWatcher([SkillRoot(root, "workspace")], debounce=0.25, environ={}, clock=lambda: now[0])
    assert watcher.changed() is False

    (folder / "SKILL.md").write_text("---\nname: one\ndescription: edited, and longer\n---\n")
    mtime = (folder / "SKILL.md").stat().st_mtime
    now[0] = mtime + 0.1  # still being written
    assert watcher.changed() is False
    now[0] = mtime + 0.3  # settled
    assert watcher.changed() is True
    skills = watcher.reload()
    assert skills.get("one").description == "edited, and longer"
    assert watcher.changed() is False

    make_skill(root, "two", "name: two\ndescription: second\n")
    now[0] = (root / "two" / "SKILL.md").stat().st_mtime + 1
    assert watcher.changed() is True
    assert watcher.reload().get("two") is not None

    (root / "two" / "SKILL.md").unlink()
    assert watcher.changed() is True
    assert watcher.reload().get("two") is None
