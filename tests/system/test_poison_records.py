"""Poison records on the running bus (issue 12): a record that does not decode and one that is not a
case event, written straight to the case log (as a broker administrator's mistake or a disk fault
could), decodable events there that break a case's hash chain, and garbage in an agency's inbox.
Every service sets them aside and goes on — the SLA processor and the projector as they read them,
the router when it rebuilds its state after a kill -9, the SDK's inbox — each quarantine is on
``rb.quarantine`` with its coordinates and reason, and ``verify`` names the records."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer
from sqlalchemy import create_engine, text

from referral_bus.contracts.base import Event
from referral_bus.contracts.bus_records import Quarantined, Receipt, ReceiptStatus
from referral_bus.contracts.sla_records import DeadlineOpened
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.domain.deadlines.engine import deadline_id_for
from referral_bus.infra.kafka.log_reader import read_to_end_sync
from referral_bus.infra.runtime import Runtime
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import read_topic, timeline_rows
from tests.builders import case_id, outcome_report, referral, removal
from tests.conftest import Bus, start_bus, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture(scope="module")
def bus(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    bus = start_bus(kafka_bootstrap, tmp_path_factory.mktemp("poison"), services=("router", "sla", "projector"))
    try:
        bus.wait_ready(timeout=180)
        yield bus
    finally:
        bus.stop()


def test_poison_on_the_case_log_and_in_an_inbox_is_set_aside_and_the_bus_goes_on(bus: Bus, tmp_path: Path) -> None:
    runtime = bus.runtime
    case_log = runtime.catalogue.name("case_log")
    poison_case, not_an_event_case, case = case_id("POISON"), case_id("ALIEN"), case_id("AFTER")
    stray = Receipt(receipt_id=uuid.uuid4(), status=ReceiptStatus.ACCEPTED, source_topic="x", source_partition=0,
                    source_offset=0, recorded_at=datetime.now(UTC))
    producer = KafkaProducer(bootstrap_servers=runtime.settings.bootstrap_servers, acks="all")
    poisoned = [producer.send(case_log, key=poison_case.encode(), value=b"\xde\xad\xbe\xef not avro").get(30),
                producer.send(case_log, key=not_an_event_case.encode(), value=runtime.codec.encode(stray)).get(30)]
    cam_inbox = runtime.catalogue.inbox("cam-almaty")
    garbage_in_inbox = producer.send(cam_inbox, key=case.encode(), value=b"\x00\x00\x00\x00").get(30)
    producer.close()

    with AgencyClient("police-juvenile-almaty", actor_id="i-poison", runtime=runtime) as police:
        receipt = police.publish(removal(police, case, hours_ago=1), wait_for_receipt=True)
        assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED, receipt
        # the SLA processor read past the poison: the removal's 4.8 deadline is open
        wait_for(lambda: any(isinstance(r.record, DeadlineOpened) and r.record.case_id == case
                             for r in read_topic(runtime, "sla")), timeout=60, what="the 4.8 deadline")
        wait_for(lambda: timeline_rows(bus.runtime, case) == 1, timeout=60,
                 what="the projector to read past the poison")

        bus.kill9("router")                      # the restarted router rebuilds its state past the poison
        bus.start("router")
        report = police.publish(outcome_report(police, case), wait_for_receipt=True, timeout=120)
        assert report is not None and report.status is ReceiptStatus.ACCEPTED and report.sequence == 2, report

    def quarantined() -> set[tuple[str, int, int]]:
        return {(q.record.consumer, q.record.source_partition, q.record.source_offset)
                for q in read_topic(runtime, "quarantine") if isinstance(q.record, Quarantined)
                and q.record.source_topic == case_log}
    expected = {(consumer, m.partition, m.offset) for consumer in ("router", "sla", "projections") for m in poisoned}
    wait_for(lambda: expected <= quarantined(), timeout=60, what="every service's quarantine of both records")
    reasons = {q.record.reason_code for q in read_topic(runtime, "quarantine") if isinstance(q.record, Quarantined)}
    assert {"BAD_MAGIC_BYTE", "UNEXPECTED_RECORD"} <= reasons, reasons

    with AgencyClient("cam-almaty", actor_id="m-poison", runtime=runtime) as cam:
        items = [i for i in cam.inbox(group_id=f"cam-almaty-poison-{uuid.uuid4().hex[:6]}", idle_timeout=5)
                 if getattr(i.record, "envelope", None) is not None and i.record.envelope.case_id == case]
        assert items, "the delivery after the garbage was not handed over"
        assert any(u[:3] == (cam_inbox, garbage_in_inbox.partition, garbage_in_inbox.offset) for u in cam.unreadable)

    for service, proc in bus.processes.items():
        assert proc.poll() is None, f"{service} exited:\n{bus.log_text(service)[-3000:]}"
    verified = subprocess.run([sys.executable, "-m", "referral_bus.cli", "verify"], env=bus.env, capture_output=True,
                              text=True, timeout=120)
    assert verified.returncode == 1 and verified.stdout.count("UNDECODABLE") == 2, verified.stdout

    # the auditors' tools read past them too: named, never a traceback
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        if args[0] in ("history", "told"):   # audited reads (docs/security.md)
            args = (*args, "--purpose", "poison record test")
        done = subprocess.run([sys.executable, "-m", "referral_bus.cli", *args], env=bus.env, capture_output=True,
                              text=True, timeout=120)
        assert "Traceback" not in done.stderr, done.stderr
        return done
    assert "unreadable (BAD_MAGIC_BYTE), set aside" in cli("history", poison_case).stderr
    assert cli("history", case).returncode == 0
    told = cli("told", "cam-almaty", case)
    assert told.returncode == 0 and '"delivery_id"' in told.stdout, told   # the garbage beside them skipped
    assert cli("sla", "report", "--from", "2020-01-01T00:00:00+05:00", "--to", "2040-01-01T00:00:00+05:00"
               ).returncode == 0
    archived = cli("archive", str(tmp_path / "archive"))
    assert archived.returncode == 0, archived.stderr


def forge(runtime: Runtime, event: Event, sequence: int, previous_hash: str) -> bytes:
    """``event`` stamped as the router would (a sequence, a link, its own hash) — by someone else."""
    env = event.envelope.model_copy(update={"sequence": sequence, "previous_hash": previous_hash,
                                            "recorded_at": datetime.now(UTC)})
    stamped = event.model_copy(update={"envelope": env})
    return runtime.codec.encode(stamped.model_copy(update={"envelope": env.model_copy(
        update={"hash": chain_hash(previous_hash, stamped)})}))


def test_events_that_break_a_case_chain_are_set_aside_not_folded(bus: Bus) -> None:
    """Decodable case events written past the router — a copy of sequence 1 with other content and a
    removal claiming sequence 2 linked to nothing — are quarantined as CHAIN_BROKEN by the router's
    rebuild, the SLA processor and the projector: none of them folds the forged removal (no 4.8
    deadline for it, no timeline row), and the router continues the case at sequence 3 after a kill -9."""
    runtime = bus.runtime
    case_log = runtime.catalogue.name("case_log")
    case = case_id("CHAIN")
    with AgencyClient("school-almaty", actor_id="t-chain", runtime=runtime) as school, \
            AgencyClient("police-juvenile-almaty", actor_id="i-chain", runtime=runtime) as police:
        first = school.publish(referral(school, case), wait_for_receipt=True, timeout=120)
        assert first is not None and first.status is ReceiptStatus.ACCEPTED and first.sequence == 1, first
        logged = runtime.codec.decode(next(r.value for r in read_to_end_sync(runtime.settings, [case_log])
                                           if r.key == case.encode()))   # past the poison of the test above
        assert isinstance(logged, Event)
        copy = logged.model_copy(update={"child_age_years": 12})        # same sequence, other content
        forged_removal = removal(police, case, hours_ago=5)
        producer = KafkaProducer(bootstrap_servers=runtime.settings.bootstrap_servers, acks="all")
        forged = [producer.send(case_log, key=case.encode(), value=forge(runtime, copy, 1, GENESIS)).get(30),
                  producer.send(case_log, key=case.encode(),
                                value=forge(runtime, forged_removal, 2, "f" * 64)).get(30)]
        producer.close()

        second = police.publish(removal(police, case, hours_ago=1), wait_for_receipt=True, timeout=120)
        assert second is not None and second.status is ReceiptStatus.ACCEPTED and second.sequence == 2, second
        wait_for(lambda: timeline_rows(bus.runtime, case) == 2, timeout=90, what="the projector to fold the true chain")
        bus.kill9("router")                      # rebuilds past the forgeries
        bus.start("router")
        third = police.publish(outcome_report(police, case), wait_for_receipt=True, timeout=120)
        assert third is not None and third.status is ReceiptStatus.ACCEPTED and third.sequence == 3, third

    def quarantined() -> set[tuple[str, int, str]]:
        return {(q.record.consumer, q.record.source_offset, q.record.reason_code)
                for q in read_topic(runtime, "quarantine") if isinstance(q.record, Quarantined)
                and q.record.source_topic == case_log}
    expected = {(consumer, m.offset, "CHAIN_BROKEN") for consumer in ("router", "sla", "projections") for m in forged}
    wait_for(lambda: expected <= quarantined(), timeout=90, what="every service's quarantine of both forgeries")
    wait_for(lambda: timeline_rows(bus.runtime, case) == 3, timeout=90, what="the projector to fold sequence 3")
    forged_deadline = deadline_id_for("4.8-removal-outcome-3h", case, forged_removal.envelope.event_id)
    assert not [r for r in read_topic(runtime, "sla") if getattr(r.record, "deadline_id", None) == forged_deadline]
    engine = create_engine(runtime.settings.read_model_url)
    with engine.connect() as conn:
        ids = set(conn.execute(text("SELECT event_id FROM case_events WHERE case_id = :c"), {"c": case}).scalars())
    engine.dispose()
    assert str(forged_removal.envelope.event_id) not in ids and str(logged.envelope.event_id) in ids
    for service, proc in bus.processes.items():
        assert proc.poll() is None, f"{service} exited:\n{bus.log_text(service)[-3000:]}"
