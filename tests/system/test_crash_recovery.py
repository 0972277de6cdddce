"""kill -9 of the router and of the SLA processor in the middle of a stream of thousands of events:
nothing lost or duplicated on the case log, per-case sequences without gaps, hash chains intact,
and exactly the escalations a replay of the log says are owed — each once. The load includes
escalation acknowledgements (the ladder's level 2 falls due during the run, so an acknowledgement
recorded before it must stop it, whichever process instance folds it)."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from referral_bus.contracts.base import Event
from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.contracts.events import EscalationAcknowledged
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.domain.deadlines.engine import deadline_id_for, escalation_id_for
from referral_bus.router.submissions import utc_now
from referral_bus.sdk import AgencyClient
from referral_bus.sla.app import record_id
from tests.broker_helpers import read_all, read_topic
from tests.builders import case_id, outcome_report, referral, removal
from tests.conftest import Bus, start_bus, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

CASES = 1000          # 3 events each: 3,000 events
ACK_CASES = 200       # removal never reported; half of them acknowledged: 500 more events
RATE_PER_SECOND = 250
RULE_4_8 = "4.8-removal-outcome-3h"
#: ACK_CASES' removals are dated so that 4.8's level 2 (due + 2 h) falls due this long after the
#: plan is built: the acknowledgements (published within ~20 s) come before it, and the run waits for it.
LEVEL_2_AFTER = timedelta(seconds=100)


def workload(bus: Bus) -> tuple[list[tuple[AgencyClient, Event]], set[str], datetime]:
    school = AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime)
    police = AgencyClient("police-juvenile-almaty", actor_id="i-1", runtime=bus.runtime)
    chief = AgencyClient("police-department-almaty", actor_id="chief-1", runtime=bus.runtime)
    plan: list[tuple[AgencyClient, Event]] = []
    acks: list[tuple[AgencyClient, Event]] = []
    for i in range(CASES):
        case = case_id("KILL")
        hours = 4 if i % 2 else 1   # every other inspector reports late (4.8)
        plan += [(school, referral(school, case)), (police, removal(police, case, hours_ago=hours)),
                 (police, outcome_report(police, case))]
    level_2_at = datetime.now(UTC) + LEVEL_2_AFTER
    hours_ago = (timedelta(hours=5) - LEVEL_2_AFTER).total_seconds() / 3600
    for i in range(ACK_CASES):
        case = case_id("ACK")
        removed = removal(police, case, hours_ago=hours_ago)
        plan += [(school, referral(school, case)), (police, removed)]
        if i % 2 == 0:  # the supervisor acknowledges level 1 once told of it (raised at the due time, 2 h ago)
            deadline = deadline_id_for(RULE_4_8, case, removed.envelope.event_id)
            acks.append((chief, chief.event(EscalationAcknowledged, case_id=case, level=1, deadline_id=deadline,
                                            escalation_id=escalation_id_for(deadline, 1))))
    # interleave cases so that every partition sees traffic throughout
    plan.sort(key=lambda pair: (hash(pair[1].envelope.case_id) % 7, 0))
    by_case: dict[str, list[tuple[AgencyClient, Event]]] = defaultdict(list)
    for pair in plan:
        by_case[pair[1].envelope.case_id].append(pair)
    # all referrals, then removals, then reports
    ordered = [by_case[c][k] for k in range(3) for c in by_case if k < len(by_case[c])]
    return ordered, acks, {str(e.envelope.event_id) for _, e in ordered + acks}, level_2_at


def acknowledge_when_raised(bus: Bus, acks: list[tuple[AgencyClient, Event]], done: threading.Event) -> None:
    """The supervisor acknowledges each escalation once it has been raised (as it would, told of it
    in its inbox): an acknowledgement of an escalation not yet raised is refused (escalation.py)."""
    pending = list(acks)
    deadline = time.monotonic() + 90
    while pending and time.monotonic() < deadline:
        raised = {r.record.escalation_id for r in read_topic(bus.runtime, "escalations")}  # type: ignore[attr-defined]
        for client, event in [p for p in pending if p[1].escalation_id in raised]:  # type: ignore[attr-defined]
            client.producer.send(client.runtime.catalogue.ingress(client.agency.id),
                                 key=event.envelope.case_id.encode(), value=client.validate(event))
        pending = [p for p in pending if p[1].escalation_id not in raised]  # type: ignore[attr-defined]
        time.sleep(0.5)
    for client in {c for c, _ in acks}:
        client.producer.flush()
    done.set()


def publish_steadily(plan: list[tuple[AgencyClient, Event]], done: threading.Event) -> None:
    start = time.monotonic()
    for n, (client, event) in enumerate(plan):
        value = client.validate(event)
        client.producer.send(client.runtime.catalogue.ingress(client.agency.id),
                             key=event.envelope.case_id.encode(), value=value)
        lag = n / RATE_PER_SECOND - (time.monotonic() - start)
        if lag > 0:
            time.sleep(lag)
    for client in {c for c, _ in plan}:
        client.producer.flush()
    done.set()


def logged_event_ids(bus: Bus) -> list[str]:
    return [str(r.record.envelope.event_id) for r in read_topic(bus.runtime, "case_log")]  # type: ignore[attr-defined]


def test_kill_9_loses_and_duplicates_nothing(kafka_bootstrap: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bus = start_bus(kafka_bootstrap, tmp_path)
    try:
        plan, acks, expected_ids, level_2_at = workload(bus)
        warm = AgencyClient("school-almaty", actor_id="w", runtime=bus.runtime)
        assert warm.publish(referral(warm, case_id("WARM")), wait_for_receipt=True,
                            timeout=120).status is ReceiptStatus.ACCEPTED  # type: ignore[union-attr]
        done = threading.Event()
        publisher = threading.Thread(target=publish_steadily, args=(plan, done), daemon=True)
        publisher.start()
        acknowledged = threading.Event()
        threading.Thread(target=acknowledge_when_raised, args=(bus, acks, acknowledged), daemon=True).start()

        time.sleep(4)
        before_kill = len(logged_event_ids(bus))
        bus.kill9("router")
        assert 0 < before_kill < len(plan), before_kill
        bus.start("router")
        time.sleep(4)
        bus.kill9("sla")
        bus.start("sla")
        time.sleep(4)          # again, while the acknowledgements arrive
        bus.kill9("sla")
        bus.start("sla")

        assert done.wait(120) and acknowledged.wait(120)
        wait_for(lambda: expected_ids <= set(logged_event_ids(bus)), timeout=420, interval=2,
                 what="every submitted event on the case log")

        # 1. exactly once on the case log
        counts = Counter(logged_event_ids(bus))
        assert {i: n for i, n in counts.items() if n > 1} == {}
        assert expected_ids <= set(counts)

        # 2. per-case sequences without gaps, hash chain intact
        events = [r.record for r in read_topic(bus.runtime, "case_log")]
        per_case: dict[str, list[Event]] = defaultdict(list)
        for event in events:
            per_case[event.envelope.case_id].append(event)  # type: ignore[attr-defined]
        for case, case_events in per_case.items():
            assert [e.envelope.sequence for e in case_events] == list(range(1, len(case_events) + 1)), case
            previous = GENESIS
            for e in case_events:
                assert e.envelope.previous_hash == previous and e.envelope.hash == chain_hash(previous, e)
                previous = e.envelope.hash

        # 3. every submission answered, none refused
        receipts = [r.record for r in read_all(bus.runtime, "receipts") if isinstance(r.record, Receipt)]
        answered = {str(r.event_id) for r in receipts if r.status in (ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE)}
        assert expected_ids <= answered
        assert [r for r in receipts if r.status is ReceiptStatus.REJECTED] == []

        # 4. SLA records: exactly what a replay of the log owes, each once
        def owed() -> set[str]:
            engine = bus.runtime.deadline_engine()
            out = []
            for event in events:
                out += engine.on_event(event)  # type: ignore[arg-type]
            return {record_id(r) for r in out + engine.advance(utc_now())}

        def emitted() -> Counter[str]:
            return Counter(record_id(r.record) for topic in ("sla", "escalations") for r in read_topic(bus.runtime,
                                                                                                       topic))

        # past level 2 of the unacknowledged cases (+ grace and a few ticks): nothing more falls due for hours
        settle = level_2_at + timedelta(seconds=bus.runtime.settings.sla_grace_seconds + 5)
        time.sleep(max(0.0, (settle - datetime.now(UTC)).total_seconds()))
        wait_for(lambda: owed() <= set(emitted()), timeout=120, interval=2, what="the SLA processor to catch up")
        time.sleep(3)
        final = emitted()
        assert {i: n for i, n in final.items() if n > 1} == {}
        assert set(final) == owed()
        late_cases = CASES // 2
        escalations = [r.record for r in read_topic(bus.runtime, "escalations")
                       if r.record.rule_id == RULE_4_8]  # type: ignore[attr-defined]
        levels: dict[str, list[int]] = defaultdict(list)
        for e in escalations:
            levels[e.case_id].append(e.level)  # type: ignore[attr-defined]
        assert len([c for c, got in levels.items() if c.startswith("KILL")]) == late_cases
        assert all(got == [1] for c, got in levels.items() if c.startswith("KILL"))

        # 5. acknowledgements recorded before level 2 fell due stopped it; the others got level 2
        acks = {e.envelope.case_id: e for e in events if isinstance(e, EscalationAcknowledged)}
        assert len(acks) == ACK_CASES // 2
        in_time = {c for c, ack in acks.items() if ack.envelope.recorded_at and ack.envelope.recorded_at < level_2_at}
        assert in_time, "no acknowledgement reached the log before level 2 fell due"
        assert all(sorted(levels[c]) == [1] for c in in_time)
        ack_cases = {e.envelope.case_id for e in events if e.envelope.case_id.startswith("ACK")}
        assert len(ack_cases) == ACK_CASES
        assert all(sorted(levels[c]) == [1, 2] for c in ack_cases - set(acks))
    finally:
        bus.stop()
