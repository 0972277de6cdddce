"""A user's mistake or an unreachable service ends in one clear line and a documented exit status,
never a traceback (README, "Command line"; cli/common.py): 2 for the command line, 3 for a
service that cannot be reached. Run as processes, with no broker listening where they look."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from referral_bus.infra.kafka.local_process import free_port


def run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",   # nothing listens there
           "REFERRAL_BUS_DATA_DIR": str(tmp_path / "data"), "REFERRAL_BUS_TOPIC_PREFIX": "cli-err."}
    return subprocess.run([sys.executable, "-m", "referral_bus.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("args", "status", "says"), [
    (("history", "C-1", "--as-of", "yesterday", "--purpose", "complaint 2026-114"), 2,
     "'yesterday' is not an ISO-8601 time"),
    (("history", "C-1", "--as-of", "2026-01-01", "--purpose", "complaint 2026-114"), 2,
     "e.g. 2026-01-01T00:00:00+05:00"),
    (("told", "cam-almaty", "C-1", "--as-of", "garbage"), 2, "argument --as-of"),
    (("told", "no-such-agency", "C-1"), 2, "'no-such-agency' is not an agency"),
    (("sla", "report", "--from", "garbage", "--to", "2026-01-01T00:00:00+05:00"), 2, "argument --from"),
    (("sla", "report"), 2, "needs --from and --to"),
    # audited reads (docs/security.md): no purpose, no read; a read that cannot be recorded is not shown
    (("history", "C-1"), 2, "a read of a case must state its purpose: --purpose TEXT"),
    (("history", "C-1", "--purpose", "x"), 2, "says too little"),
    (("told", "cam-almaty", "C-1"), 2, "a read of a case must state its purpose"),
    (("sla", "explain", "C-1"), 2, "a read of a case must state its purpose"),
    (("history", "C-1", "--purpose", "complaint 2026-114", "--as", "Aigerim Nurlanovna"), 2,
     "a staff id, never a full name"),
    (("history", "C-1", "--purpose", "complaint 2026-114"), 3,
     "refused: case C-1 is not shown, because this read could not be recorded"),
    (("told", "cam-almaty", "C-1", "--purpose", "complaint 2026-114"), 3, "refused: case C-1 is not shown"),
    (("audit", "reads", "C-1"), 3, "cannot reach the Kafka brokers"),
    (("verify",), 3, "cannot reach the Kafka brokers"),
    (("verify", "--topic", "rb.no-such-topic"), 3, "cannot reach the Kafka brokers"),
    (("keys", "list"), 3, "cannot reach the Kafka brokers"),
    (("tail", "escalations"), 3, "cannot reach the Kafka brokers"),
])
def test_mistakes_and_unreachable_brokers_get_one_clear_line(args: tuple[str, ...], status: int, says: str,
                                                             tmp_path: Path) -> None:
    result = run(*args, tmp_path=tmp_path)
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert says in result.stderr.strip().splitlines()[-1], result.stderr


def test_a_binary_file_is_no_scenario_and_a_broken_manifest_no_archive(tmp_path: Path) -> None:
    binary = tmp_path / "scenario.yaml"
    binary.write_bytes(bytes(range(256)))
    result = run("simulate", str(binary), tmp_path=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "not a text file" in result.stderr
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "manifest.json").write_text("{not json")
    result = run("restore", str(archive), tmp_path=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "manifest.json: not valid JSON" in result.stderr
