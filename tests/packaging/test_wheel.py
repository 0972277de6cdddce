"""The built wheel, installed into a fresh venv, is a working SDK and CLI outside a checkout.

Guards the package data (services/referral_bus/defaults/ → the root's topics.yaml, agencies.yaml,
calendar.yaml, policy.yaml, schemas/avro/) and ``infra.settings.project_root``'s fall-back to it:
without them an installed SDK or CLI cannot find its own configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from referral_bus.infra.settings import ProjectFilesNotFound, project_root
from tests.conftest import Bus

ROOT = Path(__file__).resolve().parents[2]

#: Left out of the copy the wheel is built from: not part of the project, or build output.
_NOT_SOURCE_AT_ROOT = {".git", ".venv", "build", "dist", "var", "steering-report", ".referral-bus", ".pytest_cache"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n == "__pycache__" or n.endswith((".egg-info", ".pyc"))}
    if Path(folder) == ROOT:
        ignored |= _NOT_SOURCE_AT_ROOT & set(names)
    return ignored


@dataclass(frozen=True)
class Installed:
    """A fresh venv with only the wheel (and its dependencies) installed, and a folder outside the checkout."""

    venv: Path
    workdir: Path

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=self.workdir, env=env or clean_env(), capture_output=True, text=True,
                              timeout=300)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "referral-bus"), *args, env=env)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would lead back to the checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("REFERRAL_BUS_HOME", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "REFERRAL_BUS_TOPIC_PREFIX")}
    return {**env, **extra}


def _checked(command: list[str], what: str, **kwargs: object) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, (f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                                    f"{result.stderr[-3000:]}")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """Builds the wheel and installs it into a new venv (dependencies from pip's cache or PyPI).

    The wheel is built from a copy of the checkout (symbolic links kept, so the copy builds exactly
    as the checkout does) because an in-tree build leaves build/ and egg-info behind in the work tree.
    """
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_ignore)
    _checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "--progress-bar", "off", "-w", str(tmp / "dist"),
              str(source)], "building the wheel")
    wheels = sorted((tmp / "dist").glob("referral_bus-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    # No pip inside the new venv: this pip installs into it (--python), which is quicker than ensurepip.
    _checked([sys.executable, "-m", "venv", "--without-pip", str(venv)], "creating the venv")
    _checked([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-compile",
              "--progress-bar", "off", str(wheels[0])], "installing the wheel")
    workdir = tmp / "elsewhere"
    workdir.mkdir()
    assert ROOT not in workdir.resolve().parents
    yield Installed(venv, workdir)


@pytest.mark.slow
@pytest.mark.broker
@pytest.mark.timeout(1200)
def test_installed_cli_lists_the_checkouts_topics(installed: Installed) -> None:
    result = installed.cli("topics", "list")
    assert result.returncode == 0, result.stderr
    expected = subprocess.run([sys.executable, "-m", "referral_bus.cli", "topics", "list"], cwd=ROOT,
                              env=clean_env(), capture_output=True, text=True, timeout=120)
    assert expected.returncode == 0, expected.stderr
    assert "rb.case-log" in result.stdout
    assert result.stdout == expected.stdout


@pytest.mark.slow
@pytest.mark.broker
@pytest.mark.timeout(1200)
def test_installed_cli_checks_the_shipped_schemas(installed: Installed) -> None:
    result = installed.cli("schemas", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 problem(s)" in result.stdout


@pytest.mark.slow
@pytest.mark.broker
@pytest.mark.timeout(1200)
def test_installed_cli_names_a_referral_bus_home_without_topics(installed: Installed) -> None:
    empty = installed.workdir / "empty-home"
    empty.mkdir(exist_ok=True)
    result = installed.cli("topics", "list", env=clean_env(REFERRAL_BUS_HOME=str(empty)))
    assert result.returncode != 0
    assert f"REFERRAL_BUS_HOME='{empty}' has no topics.yaml" in result.stderr


PUBLISH = """
import json, secrets, referral_bus
from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.infra.settings import Settings
from referral_bus.sdk import AgencyClient

with AgencyClient("school-almaty", actor_id="teacher-wheel-test") as school:
    event = school.event(ReferralMade, case_id=f"WHEEL-{secrets.token_hex(4)}",
                         referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=7)
    receipt = school.publish(event, wait_for_receipt=True, timeout=60)
print(json.dumps({"module": referral_bus.__file__, "root": str(Settings().root), "status": receipt.status.value,
                  "reason": receipt.reason}))
"""


@pytest.mark.slow
@pytest.mark.broker
@pytest.mark.timeout(1200)
def test_installed_sdk_publishes_to_a_running_bus(installed: Installed, bus: Bus) -> None:
    settings = bus.runtime.settings
    env = clean_env(KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap_servers, REFERRAL_BUS_TOPIC_PREFIX=settings.topic_prefix,
                    REFERRAL_BUS_SIGNING_KEY_DIR=str(settings.signing_keys))   # the school's key, as enrolled
    result = installed.run(str(installed.venv / "bin" / "python"), "-c", PUBLISH, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == "ACCEPTED", answer
    # The installed package, and the configuration shipped in it, not the checkout's.
    assert installed.venv in Path(answer["module"]).resolve().parents, answer
    assert installed.venv in Path(answer["root"]).resolve().parents, answer
    assert ROOT not in Path(answer["module"]).resolve().parents


def test_referral_bus_home_without_topics_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRAL_BUS_HOME", str(tmp_path))
    with pytest.raises(ProjectFilesNotFound, match=r"REFERRAL_BUS_HOME=.* has no topics\.yaml"):
        project_root()


def test_checkout_is_the_root_without_referral_bus_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REFERRAL_BUS_HOME", raising=False)
    assert project_root() == ROOT


def test_shipped_defaults_are_the_root_files() -> None:
    """The package's defaults are links to the root (one source), so they never drift from it."""
    defaults = ROOT / "services" / "referral_bus" / "defaults"
    for name in ("topics.yaml", "agencies.yaml", "calendar.yaml", "policy.yaml", "schemas"):
        assert (defaults / name).is_symlink(), f"{defaults / name} should link to the repository root's {name}"
        assert (defaults / name).resolve() == (ROOT / name).resolve()
