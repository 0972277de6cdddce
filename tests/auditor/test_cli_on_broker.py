"""The auditor's and operator's commands, run as the real CLI against the broker."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from referral_bus.contracts.events import ReferralKind
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, outcome_report, referral, removal
from tests.conftest import (
    Bus,
    apply_test_topics,
    make_runtime,
    replication_for,
    wait_for,
)

pytestmark = pytest.mark.broker


def cli(bus: Bus, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    if args[0] in ("history", "told") or args[:2] == ("sla", "explain"):   # audited reads (docs/security.md)
        args = (*args, "--purpose", "auditor test run")
    return subprocess.run([sys.executable, "-m", "referral_bus.cli", *args], env=bus.env, capture_output=True,
                          text=True, timeout=timeout)


def test_history_rebuilds_the_case_and_as_of_cuts_it(bus: Bus) -> None:
    case = case_id()
    with AgencyClient("police-juvenile-almaty", actor_id="i-3", runtime=bus.runtime) as police:
        police.publish(removal(police, case, hours_ago=5), wait_for_receipt=True)
        between = datetime.now(UTC)
        police.publish(outcome_report(police, case), wait_for_receipt=True)
    wait_for(lambda: of_case(read_topic(bus.runtime, "escalations"), case), what="escalation")
    full = cli(bus, "history", case, "--json")
    assert full.returncode == 0, full.stderr
    data = json.loads(full.stdout)
    assert data["summary"]["chain"] == "ok" and data["summary"]["events"] == 2
    assert (data["summary"]["city"], data["summary"]["home_city"]) == ("ALMATY", None)   # issue 15: no home stated
    types = [row["type"] for row in data["timeline"]]
    assert types[:1] == ["EmergencyRemoval"] and "RemovalOutcomeReported" in types and "EscalationRaised" in types
    assert "Test Child" not in full.stdout  # personal data withheld
    cut = json.loads(cli(bus, "history", case, "--json", "--as-of", between.isoformat()).stdout)
    assert [r["type"] for r in cut["timeline"] if r["kind"] == "event"] == ["EmergencyRemoval"]
    assert cli(bus, "history", "NO-SUCH-CASE").returncode == 1
    naive = cli(bus, "history", case, "--as-of", "2026-01-01T00:00:00")
    assert naive.returncode == 2 and "has no time zone; e.g. 2026-01-01T00:00:00+05:00" in naive.stderr


def test_tail_escalations_prints_json_lines(bus: Bus) -> None:
    case = case_id()
    with AgencyClient("police-juvenile-almaty", actor_id="i-4", runtime=bus.runtime) as police:
        police.publish(removal(police, case, hours_ago=6), wait_for_receipt=True)
    wait_for(lambda: of_case(read_topic(bus.runtime, "escalations"), case), what="escalation")
    proc = subprocess.Popen([sys.executable, "-m", "referral_bus.cli", "tail", "escalations", "--from-beginning"],
                            env=bus.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            row = json.loads(line)
            if row["case_id"] == case and row["paragraph"] == "4.8":  # the removal also owes 4.9
                assert row["type"] == "EscalationRaised" and row["level"] == 1
                break
    finally:
        proc.terminate()
        proc.wait(10)


def test_topics_apply_is_idempotent_through_the_cli(bus: Bus) -> None:
    replicas = replication_for(bus.runtime.settings.bootstrap_servers)
    result = cli(bus, "topics", "apply", "--replication-factor", str(replicas))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 created" in result.stdout and "0 differ" in result.stdout


def test_sla_explain_gives_rule_paragraph_reasoning_and_status(bus: Bus) -> None:
    case = case_id()
    with AgencyClient("police-juvenile-almaty", actor_id="i-5", runtime=bus.runtime) as police:
        police.publish(removal(police, case, hours_ago=4.5), wait_for_receipt=True)
        police.publish(outcome_report(police, case), wait_for_receipt=True)
    result = cli(bus, "sla", "explain", case, "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["rule_id"]: row for row in json.loads(result.stdout)}
    report = rows["4.8-removal-outcome-3h"]
    assert report["paragraph"] == "4.8" and report["status"] == "completed late"
    assert report["escalated_to"] == ["level 1: police-department-almaty"]
    assert 1.5 * 3600 - 120 < report["lateness_seconds"] < 1.5 * 3600 + 120
    assert rows["6.3a-initial-assessment-48h-removal"]["status"] == "open"
    text = cli(bus, "sla", "explain", case).stdout
    assert "4.8-removal-outcome-3h (Annex B 4.8)" in text and "completed late" in text


def test_sla_explain_shows_the_working_day_reasoning(bus: Bus) -> None:
    case = case_id()
    with AgencyClient("school-almaty", actor_id="t-9", runtime=bus.runtime) as school:
        school.publish(referral(school, case, age=12, kind=ReferralKind.NGO_SUPPORT), wait_for_receipt=True)
    [row] = json.loads(cli(bus, "sla", "explain", case, "--json").stdout)
    assert row["rule_id"] == "5.18-ngo-decision-2wd" and row["clock"] == "2 working days"
    assert row["reasoning"][0].startswith("starts ") and row["reasoning"][-1].startswith("ends at the end of working "
                                                                                         "day 2")


def test_verify_passes_on_the_live_log_and_finds_tampering_in_a_copy(bus: Bus) -> None:
    """Copy the case log into another topic with one event altered, one removed, two swapped and
    one injected; verify must name each by case and position."""
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import NewTopic

    from referral_bus.infra.kafka.log_reader import read_to_end_sync
    cases = [case_id() for _ in range(3)]
    with AgencyClient("police-juvenile-almaty", actor_id="i-6", runtime=bus.runtime) as police:
        for case in cases:
            police.publish(removal(police, case, hours_ago=1), wait_for_receipt=True)
            police.publish(outcome_report(police, case), wait_for_receipt=True)
    live = cli(bus, "verify")
    assert live.returncode == 0 and live.stdout.strip().splitlines()[-1].startswith("OK: "), live.stdout
    missing = cli(bus, "verify", "--topic", "rb.no-such-topic")   # never "OK: 0 events" for a mistyped name
    assert missing.returncode == 2 and "there is no topic 'rb.no-such-topic'" in missing.stderr, missing.stderr

    servers = bus.runtime.settings.bootstrap_servers
    records = [r for r in read_to_end_sync(servers, [bus.runtime.catalogue.name("case_log")])
               if r.key in {c.encode() for c in cases}]
    by_case = {c: [r for r in records if r.key == c.encode()] for c in cases}
    codec = bus.runtime.codec
    altered = codec.decode(by_case[cases[0]][1].value).model_copy(update={"placed_in_temporary_care": False})
    copy: list[tuple[bytes, bytes]] = [(by_case[cases[0]][0].key, by_case[cases[0]][0].value),
                                       (by_case[cases[0]][1].key, codec.encode(altered))]     # altered
    copy.append((by_case[cases[1]][1].key, by_case[cases[1]][1].value))                       # seq 1 removed
    copy += [(by_case[cases[2]][1].key, by_case[cases[2]][1].value),                          # swapped
             (by_case[cases[2]][0].key, by_case[cases[2]][0].value)]
    copy.append((by_case[cases[0]][0].key, by_case[cases[0]][0].value))                       # injected copy
    topic = f"tampered-{uuid.uuid4().hex[:6]}"
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=servers)
    for key, value in copy:
        producer.send(topic, key=key, value=value, partition=0)
    producer.close()
    result = cli(bus, "verify", "--topic", topic)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("TAMPERING OR DAMAGE FOUND: 6 events in 3 cases, 5 problem(s)"), result.stdout
    found = {(line.split()[0], line.split()[2], line.split()[6]) for line in lines[:-1]}
    assert found == {("ALTERED", cases[0], "1"), ("BAD_SIGNATURE", cases[0], "1"),  # the police never said that
                     ("REMOVED", cases[1], "2"), ("REORDERED", cases[2], "4"), ("INJECTED", cases[0], "5")}


def test_sla_report_counts_met_and_breached_per_rule_agency_and_city(bus: Bus) -> None:
    start = datetime.now(UTC) - timedelta(hours=12)
    late_case, timely_case = case_id(), case_id()
    with AgencyClient("police-juvenile-almaty", actor_id="i-7", runtime=bus.runtime) as police:
        police.publish(removal(police, late_case, hours_ago=5), wait_for_receipt=True)
        police.publish(outcome_report(police, late_case), wait_for_receipt=True)
        police.publish(removal(police, timely_case, hours_ago=1), wait_for_receipt=True)
        police.publish(outcome_report(police, timely_case), wait_for_receipt=True)

    def closed() -> bool:
        records = [r for r in read_topic(bus.runtime, "sla") if r.key in (late_case.encode(), timely_case.encode())]
        return sum(type(r.record).__name__ in ("DeadlineMet", "DeadlineCompletedLate") for r in records) == 2

    wait_for(closed, what="both 4.8 deadlines closed")
    result = cli(bus, "sla", "report", "--from", start.isoformat(),
                 "--to", (datetime.now(UTC) + timedelta(days=5)).isoformat(), "--json")
    assert result.returncode == 0, result.stderr
    [row] = [r for r in json.loads(result.stdout) if r["rule_id"] == "4.8-removal-outcome-3h"]
    assert (row["city"], row["agency"], row["paragraph"]) == ("ALMATY", "police-juvenile-almaty", "4.8")
    assert row["met"] >= 1 and row["breached"] >= 1 and row["median_lateness_seconds"] > 0
    naive = cli(bus, "sla", "report", "--from", "2026-01-01T00:00", "--to", "x")
    assert naive.returncode == 2 and "argument --from: '2026-01-01T00:00' has no time zone" in naive.stderr


def test_archive_and_restore_round_trip_into_an_empty_cluster(bus: Bus, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from referral_bus.infra.kafka.local_broker import start_local_broker
    from referral_bus.infra.kafka.log_reader import read_to_end_sync
    case = case_id()
    with AgencyClient("police-juvenile-almaty", actor_id="i-9", runtime=bus.runtime) as police:
        police.publish(removal(police, case, hours_ago=1), wait_for_receipt=True)
        police.publish(outcome_report(police, case), wait_for_receipt=True)
    archive_dir = tmp_path / "archive"
    made = cli(bus, "archive", str(archive_dir))
    assert made.returncode == 0 and made.stdout.startswith("archived "), made.stdout + made.stderr
    manifest = json.loads((archive_dir / "manifest.json").read_text())
    original = read_to_end_sync(bus.runtime.settings.bootstrap_servers, [bus.runtime.catalogue.name("case_log")])
    assert manifest["records"] == len(original) and manifest["writer_schemas"]
    companions = manifest["companions"]   # what verifying the log needs travels with it
    assert companions["signing_keys"]["records"] >= len(bus.runtime.directory.agencies) + 1   # and rb-router
    assert companions["checkpoints"]["records"] >= 1

    other = start_local_broker(tmp_path / "other-cluster")
    try:
        env = {**bus.env, "KAFKA_BOOTSTRAP_SERVERS": other.bootstrap_servers}
        run = lambda *a: subprocess.run([sys.executable, "-m", "referral_bus.cli", *a], env=env,  # noqa: E731
                                        capture_output=True, text=True, timeout=120)
        apply_test_topics(make_runtime(other.bootstrap_servers, bus.runtime.settings.topic_prefix, tmp_path))
        restored = run("restore", str(archive_dir))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        copy = read_to_end_sync(other.bootstrap_servers, [bus.runtime.catalogue.name("case_log")])
        assert sorted((r.partition, r.offset, r.key, r.value) for r in copy) == \
            sorted((r.partition, r.offset, r.key, r.value) for r in original)  # same offsets, same bytes
        verified = run("verify")   # the hash chains and, against the archived keys, every signature
        assert verified.returncode == 0 and verified.stdout.strip().splitlines()[-1].startswith("OK"), verified.stdout
        assert "not empty" in run("restore", str(archive_dir)).stderr       # never on top of a log
    finally:
        other.stop()
    # someone with the archive (or the brokers' disks) deletes the case's newest event and fixes
    # the manifest to match: the chain alone still verifies; the router's signed checkpoint does not
    doctored = without_newest_event(archive_dir, tmp_path / "doctored", case)
    third = start_local_broker(tmp_path / "third-cluster")
    try:
        env = {**bus.env, "KAFKA_BOOTSTRAP_SERVERS": third.bootstrap_servers}
        run = lambda *a: subprocess.run([sys.executable, "-m", "referral_bus.cli", *a], env=env,  # noqa: E731
                                        capture_output=True, text=True, timeout=120)
        apply_test_topics(make_runtime(third.bootstrap_servers, bus.runtime.settings.topic_prefix, tmp_path))
        assert run("restore", str(doctored)).returncode == 0
        verified = run("verify")
        assert verified.returncode == 1, verified.stdout
        findings = [line.split()[:3] for line in verified.stdout.strip().splitlines()[:-1]]
        assert findings and all(f == ["CHECKPOINT_MISMATCH", "case", case] for f in findings), verified.stdout
        assert "ends at sequence 1" in verified.stdout

        first = archive_dir / manifest["partitions"]["0"]["file"]
        first.write_bytes(first.read_bytes()[:-1] + b"\x00")
        damaged = run("restore", str(archive_dir))
        assert damaged.returncode == 1 and "checksum differs" in damaged.stderr
    finally:
        third.stop()


def without_newest_event(archive_dir: Path, out: Path, case: str) -> Path:
    """A copy of the archive without ``case``'s last event, its manifest rewritten to match."""
    import shutil

    import fastavro

    from referral_bus.auditor.archive import ARCHIVED_RECORD, read_archive
    shutil.copytree(archive_dir, out)
    manifest, partitions = read_archive(out)
    for partition, rows in partitions.items():
        mine = [i for i, row in enumerate(rows) if row["key"] == case.encode()]
        if not mine:
            continue
        del rows[mine[-1]]
        entry = manifest["partitions"][str(partition)]
        path = out / entry["file"]
        with path.open("wb") as f:
            fastavro.writer(f, fastavro.parse_schema(ARCHIVED_RECORD), rows, codec="deflate")
        entry.update(records=len(rows), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
        manifest["records"] -= 1
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return out
