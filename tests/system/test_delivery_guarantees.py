"""Why the bus uses at-least-once delivery with deterministic ids rather than Kafka transactions
(docs/decisions.md, "Exactly-once effects"), proved on Apache Kafka:

1. The router killed exactly between its case-log append and its receipts (a failpoint): on
   restart the submissions come round again, nothing is appended twice, every submission gets
   exactly one receipt (ACCEPTED, with its sequence: the router knows the append came from this very
   submission), deliveries are re-sent with the same ``rb-delivery-id`` (and the SDK hands each to
   the agency once), and the case log read by any consumer — with Kafka's default
   ``read_uncommitted`` too — holds exactly one record per case and sequence.
2. Transactions work on this broker, and an aborted transaction's records are served to every
   consumer that keeps Kafka's default isolation level: with transactions, an auditor's or agency's
   ordinary consumer would see appends that never happened, with their own sequence numbers and hashes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter, defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import read_all, read_topic
from tests.builders import case_id, referral
from tests.conftest import start_bus, wait_for
from tests.system.steady_load import all_answered, check_nothing_lost

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_a_crash_between_append_and_receipts_duplicates_nothing_on_the_case_log(kafka_bootstrap: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bus = start_bus(kafka_bootstrap, tmp_path, services=())
    bus.start("router", REFERRAL_BUS_FAILPOINTS="router.after_append=2")
    try:
        with AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime) as school:
            first = referral(school, case_id("EO"))
            assert school.publish(first, wait_for_receipt=True, timeout=120).status is ReceiptStatus.ACCEPTED  # type: ignore[union-attr]
            rest = [referral(school, case_id("EO")) for _ in range(10)]
            for event in rest:
                school.publish(event)
            school.producer.flush()
        wait_for(lambda: bus.processes["router"].poll() is not None, timeout=60,
                 what="the router to die at the failpoint")
        assert bus.processes["router"].returncode == -9
        sent = {str(e.envelope.event_id): e for e in [first, *rest]}
        bus.start("router")
        wait_for(lambda: all_answered(bus.runtime, sent), timeout=120, what="every submission answered")

        log_check = check_nothing_lost(bus.runtime, sent)  # once on the log, one receipt per submission, verify
        assert log_check.events_on_log == len(sent)
        receipts = [r.record for r in read_all(bus.runtime, "receipts") if isinstance(r.record, Receipt)]
        sequences = {str(r.record.envelope.event_id): r.record.envelope.sequence  # type: ignore[attr-defined]
                     for r in read_topic(bus.runtime, "case_log")}
        # appended before the crash, never answered: recognised by its source and answered ACCEPTED
        assert "router.answered_after_restart" in bus.log_text("router"), "the failpoint missed the window"
        assert {(str(r.event_id), r.status, r.sequence) for r in receipts if str(r.event_id) in sent} == {
            (i, ReceiptStatus.ACCEPTED, sequences[i]) for i in sent}

        # deliveries: each at least once, repeats identical, and the SDK hands each over once
        for agency in ("cam-almaty", "guardianship-almaty"):
            reads = [r for r in read_topic(bus.runtime, "inbox", agency=agency)
                     if str(r.record.envelope.event_id) in sent]  # type: ignore[attr-defined]
            by_id = defaultdict(set)
            for r in reads:
                by_id[r.headers["rb-delivery-id"]].add(r.record.model_dump_json())
            assert len(by_id) == len(sent) and all(len(v) == 1 for v in by_id.values()), agency
            with AgencyClient(agency, actor_id="reader", runtime=bus.runtime) as reader:
                handed = [item.delivery_id for item in reader.inbox(group_id=f"g-{secrets.token_hex(3)}",
                                                                    idle_timeout=5)
                          if str(item.record.envelope.event_id) in sent]  # type: ignore[attr-defined]
            assert sorted(handed) == sorted(by_id), agency

        # Kafka's default isolation level sees exactly the committed case log: one record per case and sequence
        plain = KafkaConsumer(bus.runtime.catalogue.name("case_log"), bootstrap_servers=kafka_bootstrap,
                              auto_offset_reset="earliest", consumer_timeout_ms=5000, group_id=None)
        seen = Counter((r.key, bus.runtime.codec.decode(r.value).envelope.sequence) for r in plain)  # type: ignore[attr-defined]
        plain.close()
        assert sum(seen.values()) == len(sent) and set(seen.values()) == {1}
    finally:
        bus.stop()


def test_transactions_work_here_and_default_consumers_see_aborted_records(kafka_bootstrap: str) -> None:
    topic = f"txn-{secrets.token_hex(3)}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"t-{topic}")
        await producer.start()
        try:
            await producer.begin_transaction()
            await producer.send_and_wait(topic, b"aborted append, sequence 7")
            await producer.abort_transaction()
            async with producer.transaction():
                await producer.send_and_wait(topic, b"committed append, sequence 7")
        finally:
            await producer.stop()

        async def read(isolation: str) -> list[bytes]:
            consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                                        isolation_level=isolation, group_id=None)
            await consumer.start()
            try:
                batches = await consumer.getmany(timeout_ms=5000)
                return [r.value for records in batches.values() for r in records]
            finally:
                await consumer.stop()
        return await read("read_committed"), await read("read_uncommitted")

    committed, default = asyncio.run(scenario())
    assert committed == [b"committed append, sequence 7"]
    assert default == [b"aborted append, sequence 7", b"committed append, sequence 7"]
