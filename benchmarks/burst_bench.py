"""Escalation lateness when many deadlines fall due at the same instant, on the live bus.

Working-day deadlines all fall due together at the end of a working day; this puts ``n`` of them
on one instant. The router and the SLA processor run as processes on a local Apache Kafka; ``n``
emergency removals (each a new case, the CAM/CSC not present, no child removed: only the 4.8
3-hour deadline opens) are written straight to the case log (``benchmarks/case_log.py``), all
with the same ``occurred_at``, so that their 4.8 deadlines fall due at one instant a margin after
the benchmark starts. The SLA processor follows the case log live: it opens the deadlines and,
their warning time (1 h before due) being already past, warns at once — all before the instant
(checked: the figure says when the last ``DeadlineOpened`` was seen). Only this burst's
escalations fall due meanwhile, so the follower stops at ``n`` records of ``rb.escalations``.

Measured: for each ``EscalationRaised`` of the breach (level 1) on ``rb.escalations``, the time a
follower saw it minus the time it was due to be raised (``raised_for`` = due time); the grace
(``REFERRAL_BUS_SLA_GRACE``, 10 s by default: by design a breach waits that long for a completion
in flight) is subtracted to give the processor's own lateness. Also the SLA processor's resident
memory per open deadline (growth of its RSS while the ``n`` deadlines were opened). No baseline:
the target is absolute (p99 ≤ 1 s beyond the grace).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as SyncTopicPartition

from benchmarks.brokers import local_broker_at
from benchmarks.case_log import case_events
from benchmarks.restart_bench import _memory
from referral_bus.contracts.sla_records import DeadlineOpened, EscalationRaised
from tests.conftest import Bus, start_bus

RULE = "4.8-removal-outcome-3h"


def _follower(bus: Bus, topic_id: str) -> KafkaConsumer:
    topic = bus.runtime.catalogue.name(topic_id)
    consumer = KafkaConsumer(bootstrap_servers=bus.runtime.settings.bootstrap_servers, enable_auto_commit=False,
                             fetch_max_wait_ms=50)
    tps = [SyncTopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(tps)
    consumer.seek_to_end(*tps)
    for tp in tps:
        consumer.position(tp)
    return consumer


@contextmanager
def live_bus() -> Iterator[Bus]:
    """A local Apache Kafka node with the router and the SLA processor running, ready."""
    with local_broker_at("kafka") as (servers, _), tempfile.TemporaryDirectory() as tmp:
        bus = start_bus(servers, Path(tmp))
        try:
            bus.wait_ready()
            yield bus
        finally:
            bus.stop()


def run(sizes: tuple[int, ...] = (10_000,)) -> list[dict[str, float]]:
    results = []
    for n in sizes:
        with live_bus() as bus:
            results.append(_burst(bus, n))
    return results


def _burst(bus: Bus, n: int) -> dict[str, float]:
    runtime = bus.runtime
    grace = runtime.settings.sla_grace_seconds
    opened, escalations = _follower(bus, "sla"), _follower(bus, "escalations")
    rss_before = _memory(bus.processes["sla"].pid)[0]
    margin = 30 + n / 200            # seconds from now to the instant: writing and opening must fit
    due = datetime.now(UTC) + timedelta(seconds=margin)
    occurred = due - timedelta(hours=3)
    producer = KafkaProducer(bootstrap_servers=runtime.settings.bootstrap_servers, linger_ms=20,
                             batch_size=512 * 1024, acks="all")
    topic = runtime.catalogue.name("case_log")
    for i in range(n):
        case = f"BURST-{i}"
        (event,) = case_events(runtime, case, 1, start=occurred)
        producer.send(topic, key=case.encode(), value=runtime.codec.encode(event))
    producer.flush()
    producer.close()
    written = time.time()
    seen_opened, last_opened = 0, 0.0
    while seen_opened < n and time.time() < due.timestamp():
        for records in opened.poll(timeout_ms=200).values():
            for r in records:
                record = runtime.codec.decode(r.value)
                if isinstance(record, DeadlineOpened) and record.rule_id == RULE:
                    seen_opened += 1
                    last_opened = time.time()
    rss_open = _memory(bus.processes["sla"].pid)[0]
    opened.close()
    # the follower only notes when each record arrived and decodes them afterwards: on 2 cores it
    # shares the CPU with the SLA processor and the broker, and must not slow what it measures
    arrivals: list[tuple[float, bytes]] = []
    give_up = due.timestamp() + grace + 120 + n / 100
    while len(arrivals) < n and time.time() < give_up:
        for records in escalations.poll(timeout_ms=100).values():
            arrived = time.time()
            arrivals += [(arrived, r.value) for r in records]
    escalations.close()
    late: list[float] = []
    for arrived, value in arrivals:
        record = runtime.codec.decode(value)
        if isinstance(record, EscalationRaised) and record.rule_id == RULE and record.level == 1:
            late.append(arrived - record.raised_for.timestamp() - grace)
    q = statistics.quantiles(late, n=100, method="inclusive") if len(late) > 1 else [late[0]] * 99
    return {"deadlines": float(n), "escalations seen": float(len(late)),
            "opened before the instant": float(seen_opened),
            "last opened, s before the instant": due.timestamp() - last_opened if last_opened else float("nan"),
            "written to case log, s before the instant": due.timestamp() - written,
            "grace s": grace,
            "lateness beyond grace p50 s": q[49], "p99 s": q[98], "max s": max(late), "min s": min(late),
            "SLA RSS growth per open deadline B": (rss_open - rss_before) / max(1, seen_opened)}
