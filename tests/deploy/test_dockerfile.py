"""The Dockerfile's supply chain: the base image pinned by digest, every Python package installed from a
lock file with hashes, and the real ankra CLI downloaded as the release binary and checked against the
SHA-256 of tools/image/ankra-cli.lock (no install script, no `latest`). The checksum step is run for real,
with stand-ins for apt-get and curl."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
IMAGE = ROOT / "tools" / "image"
REQUIREMENTS_LOCK = IMAGE / "requirements.lock"
ANKRA_LOCK = IMAGE / "ankra-cli.lock"
BASE_LOCK = IMAGE / "base-image.lock"
UNPINNED = "UNPINNED-run-tools/image/pin-ankra-cli.sh"


def lock_values(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def instructions() -> list[tuple[str, str]]:
    """(stage, instruction) of every Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out, stage = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stage = line.split(" AS ")[-1] if " AS " in line else line.split()[1]
        out.append((stage, line))
    return out


# -- the base image --------------------------------------------------------------------------------


def test_the_base_image_is_pinned_by_digest_as_the_lock_says() -> None:
    text = DOCKERFILE.read_text()
    (arg,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    image, _, digest = arg.partition("@")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), f"PYTHON_IMAGE is not pinned by digest: {arg}"
    lock = lock_values(BASE_LOCK)
    assert (image, digest) == (lock["image"], lock["digest"]), "tools/image/pin-base-image.sh writes both"
    assert lock["verified"] in ("yes", "no")
    # every FROM is the pinned image or a stage of this file
    stages: set[str] = set()
    for line in re.findall(r"^FROM (.+)$", text, re.MULTILINE):
        source, _, name = line.partition(" AS ")
        assert source in ("${PYTHON_IMAGE}", "executor-${ANKRA_CLI}") or source in stages, source
        stages.add(name.strip())


# -- Python packages -------------------------------------------------------------------------------


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of tools/image/requirements.lock."""
    text = re.sub(r"\\\n", " ", REQUIREMENTS_LOCK.read_text())
    out = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, *options = line.split(" --hash=")
        name, _, version = spec.strip().partition("==")
        assert version and not re.search(r"[<>~!*;\[]", version), f"not pinned to one version: {line[:80]}"
        out[canonicalize_name(name)] = (version, [o.strip() for o in options])
    return out


def test_the_lock_pins_every_package_with_its_hashes() -> None:
    packages = locked()
    assert len(packages) > 30
    for name, (_version, hashes) in packages.items():
        assert hashes, f"{name} has no --hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name
    assert "pip-compile" in REQUIREMENTS_LOCK.read_text() and "--generate-hashes" in REQUIREMENTS_LOCK.read_text()


def test_the_lock_covers_the_runtime_dependencies_and_the_build_backend() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = locked()
    for text in (*project["project"]["dependencies"], *project["build-system"]["requires"]):
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in packages, f"{text} is not in {REQUIREMENTS_LOCK.name}: regenerate it (tools/image/README.md)"
        assert requirement.specifier.contains(packages[name][0], prereleases=True), \
            f"{name}=={packages[name][0]} does not satisfy {text}: regenerate the lock"


def test_the_images_install_exactly_the_lock() -> None:
    pip_lines = [(stage, line) for stage, line in instructions() if "pip install" in line]
    assert pip_lines, "no pip install?"
    lock_copy = [line for _, line in instructions() if line.startswith("COPY tools/image/requirements.lock")]
    assert lock_copy == ["COPY tools/image/requirements.lock /tmp/requirements.lock"]
    for stage, line in pip_lines:
        assert stage == "build", line
        for command in line.split("&&"):
            if "pip install" not in command:
                continue
            with_lock = "--require-hashes" in command and "-r /tmp/requirements.lock" in command \
                and "--only-binary :all:" in command and "--no-deps" in command
            project_only = "--no-index" in command and "--no-deps" in command and "--no-build-isolation" in command
            assert with_lock or project_only, f"an unpinned pip install: {command.strip()}"
    assert "pip check" in DOCKERFILE.read_text()


# -- the ankra CLI ---------------------------------------------------------------------------------


def release_script() -> str:
    """The RUN of the executor-release stage, as the shell gets it."""
    (run,) = [line for stage, line in instructions() if stage == "executor-release" and line.startswith("RUN ")]
    return run.removeprefix("RUN ")


def test_the_release_stage_downloads_the_locked_binary_and_checks_it() -> None:
    stage = "\n".join(line for name, line in instructions() if name == "executor-release")
    assert "install.sh" not in stage and "latest" not in stage, "no installer script, no moving target"
    assert not re.search(r"\|\s*(ba)?sh\b", stage), "nothing downloaded is piped to a shell"
    assert "COPY tools/image/ankra-cli.lock /tmp/ankra-cli.lock" in stage and "ARG TARGETARCH" in stage
    script = release_script()
    assert script.index("grep -Eqx '[0-9a-f]{64}'") < script.index("curl ") < script.index("sha256sum -c -") \
        < script.index("install -m 0755")


def test_the_lock_names_one_release_per_architecture() -> None:
    lock = lock_values(ANKRA_LOCK)
    version = lock["version"]
    assert re.fullmatch(r"v0\.13\.\d+(-rc\d+)?", version), "the project follows the CLI's v0.13 reference"
    for arch in ("amd64", "arm64"):
        assert lock[f"url_{arch}"] == \
            f"https://github.com/ankraio/ankra-cli/releases/download/{version}/ankra-cli-linux-{arch}"
        assert re.fullmatch(r"[0-9a-f]{64}", lock[f"sha256_{arch}"]) or lock[f"sha256_{arch}"] == UNPINNED


def run_release_step(tmp_path: Path, lock: dict[str, str], payload: bytes) -> subprocess.CompletedProcess[str]:
    """The executor-release RUN, for real, in `tmp_path`: apt-get and curl are stand-ins (curl "downloads"
    `payload`), every path of the image is moved under tmp_path."""
    bin_dir, root = tmp_path / "shims", tmp_path / "root"
    bin_dir.mkdir()
    (root / "usr" / "local" / "bin").mkdir(parents=True)
    (tmp_path / "payload").write_bytes(payload)
    (tmp_path / "ankra-cli.lock").write_text("# test\n" + "".join(f"{k}={v}\n" for k, v in lock.items()))
    shims = {
        "apt-get": "#!/bin/sh\nexit 0\n",
        "dpkg": "#!/bin/sh\necho amd64\n",
        "curl": f'#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out="$2"; shift; done\n'
                f'echo fetched >> "{tmp_path}/fetches"; cp "{tmp_path}/payload" "$out"\n',
    }
    for name, text in shims.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    script = (release_script().replace("/tmp/ankra-cli.lock", str(tmp_path / "ankra-cli.lock"))
              .replace("/tmp/ankra", str(tmp_path / "download"))
              .replace("/usr/local/bin/ankra", str(root / "usr/local/bin/ankra"))
              .replace("/var/lib/apt/lists", str(tmp_path / "apt-lists")))
    stray = [p for p in re.findall(r"(?<![\w.])/(?:usr|var|tmp|etc|opt)/[\w/.*-]*", script)
             if not p.startswith(str(tmp_path))]
    assert not stray, f"the test would touch {stray}"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TARGETARCH": "amd64"}
    return subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False)


FAKE_ANKRA = b"#!/bin/sh\necho 'ankra version v0.13.0-rc0'\n"


def test_an_unpinned_lock_stops_the_build_before_any_download(tmp_path: Path) -> None:
    lock = {**lock_values(ANKRA_LOCK), "sha256_amd64": UNPINNED}
    proc = run_release_step(tmp_path, lock, FAKE_ANKRA)
    assert proc.returncode != 0 and "has no SHA-256" in proc.stderr and "pin-ankra-cli.sh" in proc.stderr
    assert not (tmp_path / "fetches").exists()


def test_a_binary_that_differs_from_the_lock_stops_the_build(tmp_path: Path) -> None:
    lock = {**lock_values(ANKRA_LOCK), "sha256_amd64": hashlib.sha256(FAKE_ANKRA).hexdigest()}
    proc = run_release_step(tmp_path, lock, FAKE_ANKRA + b"# tampered\n")
    assert proc.returncode != 0 and "FAILED" in (proc.stdout + proc.stderr)
    assert not (tmp_path / "root/usr/local/bin/ankra").exists()


def test_the_locked_binary_is_installed(tmp_path: Path) -> None:
    lock = {**lock_values(ANKRA_LOCK), "sha256_amd64": hashlib.sha256(FAKE_ANKRA).hexdigest()}
    proc = run_release_step(tmp_path, lock, FAKE_ANKRA)
    assert proc.returncode == 0, proc.stderr
    installed = tmp_path / "root/usr/local/bin/ankra"
    assert installed.read_bytes() == FAKE_ANKRA and installed.stat().st_mode & 0o777 == 0o755
    assert "ankra version v0.13.0-rc0" in proc.stdout


@pytest.mark.parametrize("script", ["pin-ankra-cli.sh", "pin-base-image.sh"])
def test_the_pin_scripts_are_valid_shell(script: str) -> None:
    path = IMAGE / script
    assert os.access(path, os.X_OK)
    subprocess.run(["/bin/sh", "-n", str(path)], check=True, timeout=10)
