"""``referral-bus vault``: ingress keys listed, rotated and retired as processes, on a real vault file."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from referral_bus.cli.vault import keep_superseded_for
from referral_bus.infra.settings import Settings
from referral_bus.infra.vault import Vault


def run(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REFERRAL_BUS_DATA_DIR": str(data)}
    return subprocess.run([sys.executable, "-m", "referral_bus.cli", "vault", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_status_rotate_and_retire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    missing = run("status", data=data)
    assert missing.returncode == 2 and "no key vault" in missing.stderr
    monkeypatch.setenv("REFERRAL_BUS_DATA_DIR", str(data))
    vault = Vault.open(Settings())
    [first] = vault.ingress_keys()
    status = run("status", data=data)
    assert status.returncode == 0 and f"{first}" in status.stdout and "current" in status.stdout
    rotated = run("rotate-ingress", data=data)
    assert rotated.returncode == 0 and "30 days" in rotated.stdout, rotated.stderr
    assert len(vault.ingress_keys()) == 2
    assert "retirable from" in rotated.stdout                      # the old one: only after the retention
    retired = run("retire-ingress", data=data)
    assert retired.returncode == 0 and "retired 0 ingress key(s): none due" in retired.stdout
    assert first in vault.ingress_keys()


def test_the_superseded_key_is_kept_for_the_longest_retention_of_what_carries_submissions() -> None:
    assert keep_superseded_for({"ingress": 7 * 86_400_000, "dead_letter": 30 * 86_400_000}) == timedelta(days=30)
    with pytest.raises(ValueError, match="kept forever"):
        keep_superseded_for({"ingress": 7 * 86_400_000, "dead_letter": -1})
