"""The router restarts from its snapshot (infra/snapshots.py, issue 13 item 1): after kill -9 it
folds only what the case log gained since the snapshot, carries every case's sequence and chain on,
still recognises a resubmitted event, still knows who may acknowledge an escalation raised before
the snapshot — and falls back to a full rebuild when the snapshot may not be trusted."""

from __future__ import annotations

import pytest

from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.events import EscalationAcknowledged
from referral_bus.domain.deadlines.engine import deadline_id_for, escalation_id_for
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, outcome_report, referral, removal
from tests.conftest import Bus, wait_for

pytestmark = pytest.mark.broker
RULE_4_8 = "4.8-removal-outcome-3h"


@pytest.fixture
def bus(own_bus: Bus) -> Bus:
    return own_bus   # snapshots every 2 s (tests/conftest.py Bus.env)


def lines(bus: Bus, event: str, log: str = "router") -> list[dict[str, object]]:
    return bus.log_events(log, event)


def restart_router(bus: Bus) -> None:
    bus.kill9("router")
    bus.start("router")
    bus.wait_ready()


def test_a_restart_folds_only_what_came_after_the_snapshot(bus: Bus) -> None:
    with AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime) as school, \
            AgencyClient("police-juvenile-almaty", actor_id="i-1", runtime=bus.runtime) as police, \
            AgencyClient("police-department-almaty", actor_id="chief-1", runtime=bus.runtime) as chief:
        cases = [case_id("SNAP") for _ in range(20)]
        late = case_id("SNAPLATE")
        removed = removal(police, late, hours_ago=4)     # 4.8 fell due an hour ago: escalated to the chief
        for client, event in [(police, removed), *[(school, referral(school, c)) for c in cases]]:
            receipt = client.publish(event, wait_for_receipt=True)
            assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED, receipt
        escalation = escalation_id_for(deadline_id_for(RULE_4_8, late, removed.envelope.event_id), 1)
        wait_for(lambda: any(r.record.escalation_id == escalation  # type: ignore[attr-defined]
                             for r in read_topic(bus.runtime, "escalations")), what="4.8's escalation")
        [raised] = [line for line in lines(bus, "sla.escalation", log="sla")
                    if line.get("escalation_id") == str(escalation)]
        wait_for(lambda: any(str(line["timestamp"]) > str(raised["timestamp"])
                             for line in lines(bus, "router.snapshot_saved")), timeout=60,
                 what="a snapshot taken after the escalation was raised")
        events_before = sum(1 for _ in read_topic(bus.runtime, "case_log"))

        restart_router(bus)
        [rebuilt] = lines(bus, "router.state_rebuilt")[-1:]
        assert rebuilt["from_snapshot"] in (True, "True", "true"), rebuilt
        assert int(str(rebuilt["events"])) < events_before     # not the whole log again
        assert lines(bus, "router.snapshot_loaded")

        # every case carries on where it was, on the chain the snapshot held
        for case in cases[:5]:
            receipt = police.publish(removal(police, case, hours_ago=1), wait_for_receipt=True)
            assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED and receipt.sequence == 2
            receipt = police.publish(outcome_report(police, case), wait_for_receipt=True)
            assert receipt is not None and receipt.sequence == 3
        # an event appended before the snapshot is recognised when sent again
        first = of_case(read_topic(bus.runtime, "case_log"), cases[0])[0]
        resent = school.publish(first.model_copy(update={"envelope": first.envelope.model_copy(update={
            "sequence": None, "previous_hash": None, "hash": None, "recorded_at": None})}), wait_for_receipt=True)
        assert resent is not None and resent.status is ReceiptStatus.DUPLICATE and resent.sequence == 1
        # the escalation raised before the snapshot: the chief may acknowledge it, the inspector not
        refused = police.publish(police.event(EscalationAcknowledged, case_id=late, level=1,
                                              deadline_id=deadline_id_for(RULE_4_8, late, removed.envelope.event_id),
                                              escalation_id=escalation), wait_for_receipt=True)
        assert refused is not None and refused.status is ReceiptStatus.REJECTED, refused
        acknowledged = chief.publish(chief.event(EscalationAcknowledged, case_id=late, level=1,
                                                 deadline_id=deadline_id_for(RULE_4_8, late, removed.envelope.event_id),
                                                 escalation_id=escalation), wait_for_receipt=True)
        assert acknowledged is not None and acknowledged.status is ReceiptStatus.ACCEPTED, acknowledged
    assert_chains_whole(bus)


def test_a_snapshot_that_does_not_match_the_log_is_not_used(bus: Bus) -> None:
    with AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime) as school, \
            AgencyClient("police-juvenile-almaty", actor_id="i-1", runtime=bus.runtime) as police:
        case = case_id("SNAPBAD")
        assert school.publish(referral(school, case), wait_for_receipt=True) is not None
        wait_for(lambda: lines(bus, "router.snapshot_saved"), timeout=60, what="a snapshot")
        bus.kill9("router")
        [snapshot] = (bus.runtime.settings.data_dir / "state").glob("router-*.snapshot")
        data = bytearray(snapshot.read_bytes())
        data[-10] ^= 0xFF                                   # a flipped byte: the HMAC no longer matches
        snapshot.write_bytes(bytes(data))
        bus.start("router")
        bus.wait_ready()
        rebuilt = lines(bus, "router.state_rebuilt")[-1]
        assert rebuilt["from_snapshot"] in (False, "False", "false"), rebuilt
        assert [line for line in lines(bus, "snapshot.not_used") if "HMAC" in str(line.get("reason"))]
        receipt = police.publish(removal(police, case, hours_ago=1), wait_for_receipt=True)
        assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED and receipt.sequence == 2
    assert_chains_whole(bus)


def assert_chains_whole(bus: Bus) -> None:
    """Every case's sequence runs 1..n without gaps or repeats, each event once."""
    seen: dict[str, list[int]] = {}
    ids: list[str] = []
    for r in read_topic(bus.runtime, "case_log"):
        env = r.record.envelope  # type: ignore[attr-defined]
        seen.setdefault(env.case_id, []).append(env.sequence)
        ids.append(str(env.event_id))
    assert len(ids) == len(set(ids))
    for case, sequences in seen.items():
        assert sequences == list(range(1, len(sequences) + 1)), (case, sequences)
