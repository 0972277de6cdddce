"""Audited reads on a real broker (docs/security.md): every command that shows a case records who,
which case, when, which command and why on rb.read-audit before it shows anything; the trail is one
hash chain that concurrent readers do not fork; `audit reads` lists a case's reads and, like
`verify`, finds a trail that was tampered with; a read that cannot be recorded is not shown."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from referral_bus.domain.read_audit import ChainHead, next_read, verify_reads
from referral_bus.infra.read_audit import read_trail, record_read
from referral_bus.sdk import AgencyClient
from tests.builders import case_id, referral
from tests.conftest import Bus, start_bus, wait_for

pytestmark = pytest.mark.broker


def cli(bus: Bus, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "referral_bus.cli", *args], env={**bus.env, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def bare(kafka_bootstrap: str, tmp_path: Path) -> Bus:
    """Topics of their own and no services: a trail that only this test writes."""
    return start_bus(kafka_bootstrap, tmp_path, services=())


def test_every_read_of_a_case_is_recorded_first_and_audit_reads_lists_them(bus: Bus) -> None:
    case = case_id()
    with AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime) as school:
        school.publish(referral(school, case), wait_for_receipt=True)
    wait_for(lambda: cli(bus, "history", case, "--purpose", "warm-up check").returncode == 0, what="the case")
    history = cli(bus, "history", case, "--json", "--purpose", "complaint 2026-114 review", "--as", "inspector-7")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["summary"]["events"] == 1
    told = cli(bus, "told", "cam-almaty", case, "--purpose", "supervision of CAM Almaty")
    assert told.returncode == 0, told.stderr
    explain = cli(bus, "sla", "explain", case, "--purpose", "deadline query 55", REFERRAL_BUS_OPERATOR="sup-3")
    assert explain.returncode == 0, explain.stderr
    refused = cli(bus, "history", case)   # no purpose: refused, and nothing recorded
    assert refused.returncode == 2 and "must state its purpose" in refused.stderr and not refused.stdout

    listed = cli(bus, "audit", "reads", case, "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    data = json.loads(listed.stdout)
    assert data["chain"] == "intact"
    reads = data["reads"][1:]   # after the warm-up read(s) of wait_for
    assert [(r["tool"], r["reader"], r["purpose"]) for r in reads[-3:]] == [
        ("history", "inspector-7", "complaint 2026-114 review"),
        ("told", reads[-2]["reader"], "supervision of CAM Almaty"),
        ("sla explain", "sup-3", "deadline query 55")]
    assert reads[-2]["query"] == "agency=cam-almaty source=read-models"   # the default (issue 13 item 4)
    assert all(r["principal"] is None for r in reads)   # a plaintext bus: nobody authenticated
    assert [r["sequence"] for r in data["reads"]] == sorted(r["sequence"] for r in data["reads"])
    assert "Test Child" not in listed.stdout   # what was shown is never on the trail

    text = cli(bus, "audit", "reads", case)
    assert text.returncode == 0
    assert "inspector-7" in text.stdout and "purpose: complaint 2026-114 review" in text.stdout
    assert text.stdout.strip().splitlines()[-1].endswith("chain intact")
    verified = cli(bus, "verify")
    assert verified.returncode == 0, verified.stdout
    assert "read-audit trail:" in verified.stdout and "chain intact" in verified.stdout.splitlines()[-1]


def test_concurrent_readers_never_fork_the_chain(bare: Bus) -> None:
    cases = [f"C-CONC-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        written = list(pool.map(lambda c: record_read(bare.runtime, case_id=c, tool="history",
                                                      purpose="concurrency test", reader="tester"), cases))
    trail = read_trail(bare.runtime)
    report = verify_reads(trail)
    assert report.ok, [str(p) for p in report.problems]
    assert sorted(r.sequence for r in written) == list(range(1, 9))
    assert sorted(item.record.case_id for item in trail) == sorted(cases)   # each once: aborted tries unseen


def test_a_tampered_trail_is_reported_by_audit_reads_and_verify(bare: Bus) -> None:
    runtime = bare.runtime
    first = record_read(runtime, case_id="C-TAMPER", tool="history", purpose="before the forgery", reader="a-1")
    # someone with write access appends a read that does not link to the chain (e.g. after deleting one)
    forged = next_read(ChainHead(first.sequence + 1, "e" * 64), read_id=uuid.uuid4(), case_id="C-TAMPER",
                       reader="a-2", principal=None, tool="history", query=None, purpose="covering tracks",
                       read_at=datetime.now(UTC))
    producer = KafkaProducer(**runtime.settings.kafka_python(), acks="all")
    try:
        producer.send(runtime.catalogue.name("read_audit"), key=b"C-TAMPER", value=runtime.codec.encode(forged)
                      ).get(timeout=30)
    finally:
        producer.close()
    listed = cli(bare, "audit", "reads", "C-TAMPER")
    assert listed.returncode == 1, listed.stdout + listed.stderr
    assert "MISSING" in listed.stdout and "CHAIN BROKEN OR ALTERED" in listed.stdout
    verified = cli(bare, "verify")
    assert verified.returncode == 1 and "MISSING  read-audit offset" in verified.stdout, verified.stdout


def test_a_read_that_cannot_be_recorded_shows_nothing(bare: Bus) -> None:
    admin = KafkaAdminClient(**bare.runtime.settings.kafka_python())
    try:
        admin.delete_topics([bare.runtime.catalogue.name("read_audit")])   # brokers up, the trail gone
    finally:
        admin.close()
    result = cli(bare, "history", "C-ANY", "--purpose", "fail closed test")
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert "refused: case C-ANY is not shown, because this read could not be recorded" in result.stderr
