"""A case log of any size written straight to the broker, as the router would have appended it:
chained, stamped events, built without going through the router (which would take an hour per
million). Each case is an emergency removal without the CAM/CSC present (the SLA processor opens the
4.8 deadline) followed by outcome reports (the first meets it; no child removed, so nothing else is
opened and nothing falls due while a benchmark runs): ``events_per_case`` events in all, ~30 by
default as in a national year (~50k referrals, ~30 events each). No personal data: the bytes per
event are those of small events; the storage figures come from the live pipeline instead
(``pipeline_bench``)."""

from __future__ import annotations

from datetime import datetime

from kafka import KafkaProducer

from referral_bus.contracts.base import Event, Producer
from referral_bus.infra.runtime import Runtime
from tests.builders import T0, chained_removal_case

POLICE = Producer(agency_id="police-juvenile-almaty", actor_id="bench")


def case_events(runtime: Runtime, case: str, count: int, start: datetime = T0) -> list[Event]:
    """One case's chain of ``count`` events, stamped (sequence, recording time, hashes), each
    with its type's current schema version (the one the codec writes), all occurred at ``start``
    and recorded a minute apart (``tests/builders.py``)."""
    return chained_removal_case(case, count, start=start, child_removed=False)


def fill(runtime: Runtime, events: int, events_per_case: int = 30, prefix: str = "LOG") -> int:
    """Write ``events`` events (whole cases of ``events_per_case``, the last one shorter) to the
    case log; returns the number of cases."""
    producer = KafkaProducer(bootstrap_servers=runtime.settings.bootstrap_servers, linger_ms=20,
                             batch_size=512 * 1024, acks="all")
    topic = runtime.catalogue.name("case_log")
    written, cases = 0, 0
    while written < events:
        case = f"{prefix}-{cases}"
        for event in case_events(runtime, case, min(events_per_case, events - written)):
            producer.send(topic, key=case.encode(), value=runtime.codec.encode(event))
            written += 1
        cases += 1
    producer.flush()
    producer.close()
    return cases
