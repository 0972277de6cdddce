"""Hostile input at volume (issue 11): over 10,000 forged, unsigned, falsely signed, unauthorised,
replayed, malformed and oversized submissions mixed with valid ones, sent straight to the ingress topics as a hostile or
broken client would (no SDK to stop them). Every bad one gets a receipt with its specific reason
and appends nothing; every valid one is appended exactly once; the router stays up throughout;
``verify`` is clean. (On a secured broker the ACLs already stop impersonation across topics —
tests/infra/kafka/test_security_on_broker.py; this is what the router does with whatever gets
through.)"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from kafka import KafkaProducer

from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.contracts.events import RemovalOutcomeReported
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import read_all
from tests.builders import case_id, referral
from tests.conftest import Bus, start_bus, wait_for
from tests.system.steady_load import check_nothing_lost

pytestmark = [pytest.mark.broker, pytest.mark.slow]

PER_KIND = 1275        # eight kinds of bad input: 10,200 hostile submissions
VALID = 600
LIMIT = 8192           # the router's REFERRAL_BUS_MAX_EVENT_BYTES here, so that oversized input stays cheap


@pytest.fixture(scope="module")
def bus(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    bus = start_bus(kafka_bootstrap, tmp_path_factory.mktemp("hostile"), services=())
    bus.start("router", REFERRAL_BUS_MAX_EVENT_BYTES=str(LIMIT))
    bus.start("sla")
    try:
        bus.wait_ready(timeout=180)
        yield bus
    finally:
        bus.stop()


def test_ten_thousand_hostile_submissions_cost_no_valid_event(bus: Bus) -> None:
    rng = random.Random(11)
    runtime = bus.runtime
    cat = runtime.catalogue
    school = AgencyClient("school-almaty", actor_id="t-hostile", runtime=runtime)
    neighbour = AgencyClient("school-shymkent", actor_id="t-hostile", runtime=runtime)
    valid = [referral(school, case_id("HV")) for _ in range(VALID)]
    original = valid[0]
    # (topic, key, value, expected status, expected reason) per submission
    plan: list[tuple[str, bytes, bytes, str, str | None]] = []
    for event in valid:
        plan.append((cat.ingress("school-almaty"), event.envelope.case_id.encode(), school.validate(event),
                     "ACCEPTED", None))
    for _ in range(PER_KIND):
        # forged: Shymkent's school writes as Almaty's, on its own ingress topic
        forged = referral(school, case_id("HV-F"))
        plan.append((cat.ingress("school-shymkent"), forged.envelope.case_id.encode(), school.validate(forged),
                     "REJECTED", "WRONG_INGRESS_TOPIC"))
        # unauthorised: a school files the juvenile inspector's 4.8 report
        unauthorised = neighbour.event(RemovalOutcomeReported, case_id=case_id("HV-U"), child_removed=False,
                                       placed_in_temporary_care=False, referred_to_cam=False)
        plan.append((cat.ingress("school-shymkent"), unauthorised.envelope.case_id.encode(),
                     runtime.codec.encode(unauthorised), "REJECTED", "AGENCY_NOT_ALLOWED"))
        # replayed with other content under the same event id (signed anew: the school's own mistake)
        tampered = original.model_copy(update={"child_age_years": rng.randint(3, 17)})
        if tampered.child_age_years == original.child_age_years:
            tampered = original.model_copy(update={"child_age_years": 2})
        plan.append((cat.ingress("school-almaty"), original.envelope.case_id.encode(), school.validate(tampered),
                     "REJECTED", "EVENT_ID_CONFLICT"))
        # unsigned: someone with the school's broker credentials but without its signing key
        unsigned = referral(school, case_id("HV-S"))
        plan.append((cat.ingress("school-almaty"), unsigned.envelope.case_id.encode(), runtime.codec.encode(unsigned),
                     "REJECTED", "SIGNATURE_MISSING"))
        # altered after signing: a signed event with one field changed on the way
        signed = school.sign(referral(school, case_id("HV-A")))
        altered = signed.model_copy(update={"child_age_years": (signed.child_age_years or 0) + 1})
        plan.append((cat.ingress("school-almaty"), altered.envelope.case_id.encode(), runtime.codec.encode(altered),
                     "REJECTED", "SIGNATURE_INVALID"))
        # malformed: random bytes, a truncated frame, an unknown schema id
        plan.append((cat.ingress("school-almaty"), b"HV-M", rng.randbytes(rng.randint(0, 300)), "REJECTED", None))
        good = school.validate(referral(school, case_id("HV-T")))
        plan.append((cat.ingress("school-almaty"), b"HV-T", good[:rng.randint(6, len(good) - 1)], "REJECTED",
                     "UNDECODABLE"))
        # oversized
        plan.append((cat.ingress("school-almaty"), b"HV-O", b"\0" + b"x" * (LIMIT + rng.randint(1, 4000)),
                     "REJECTED", "OVERSIZED"))
    rng.shuffle(plan)
    # the valid original must come before its tampered replays for them to be conflicts
    first = next(i for i, p in enumerate(plan) if p[2] == school.validate(original))
    plan.insert(0, plan.pop(first))
    school.close()
    neighbour.close()

    producer = KafkaProducer(bootstrap_servers=runtime.settings.bootstrap_servers, acks="all", linger_ms=20)
    started = time.monotonic()
    sent = [(producer.send(topic, key=key, value=value), status, reason) for topic, key, value, status, reason in plan]
    producer.flush()
    where = {}
    for future, status, reason in sent:
        meta = future.get(timeout=60)
        where[(meta.topic, meta.partition, meta.offset)] = (status, reason)
    producer.close()

    def receipts() -> dict[tuple[str, int, int], Receipt]:
        return {(r.source_topic, r.source_partition, r.source_offset): r
                for r in (x.record for x in read_all(runtime, "receipts")) if isinstance(r, Receipt)}
    got = wait_for(lambda: (lambda r: r if set(where) <= set(r) else None)(receipts()), timeout=600, interval=3,
                   what="a receipt for every hostile and valid submission")
    elapsed = time.monotonic() - started
    assert bus.processes["router"].poll() is None, bus.log_text("router")[-3000:]

    wrong = [(where[k], got[k].status.value, got[k].reason_code) for k in where
             if got[k].status.value != where[k][0] or (where[k][1] and got[k].reason_code != where[k][1])]
    assert wrong == [], wrong[:5]
    hostile = [got[k] for k in where if where[k][0] == "REJECTED"]
    assert len(hostile) >= 10_000 and all(r.reason_code and r.reason for r in hostile)
    assert all(got[k].status is ReceiptStatus.ACCEPTED for k in where if where[k][0] == "ACCEPTED")
    logged = check_nothing_lost(runtime, {str(e.envelope.event_id): e for e in valid}, allow_refused=True)
    reasons = Counter(r.reason_code for r in hostile)
    print(f"\nhostile volume: {len(hostile):,} hostile + {VALID} valid submissions answered in {elapsed:.0f} s "
          f"({(len(hostile) + VALID) / elapsed:,.0f}/s); refused by reason {dict(reasons)}; "
          f"{logged.events_on_log} events on the log, router alive")
