"""Issue 14, item 5: ``history`` shows an escalation's levels in causal order — after the breach
they belong to, level 1, 2, 3 in turn — and an acknowledgement after the levels it acknowledges,
even when the log times (two topics, a ladder written at once after a restart) say otherwise; its
text shows Almaty time with the offset."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from referral_bus.auditor.history import CaseHistory
from referral_bus.contracts.base import City
from referral_bus.contracts.events import EmergencyRemoval, EscalationAcknowledged, RemovalOutcomeReported
from referral_bus.contracts.sla_records import DeadlineBreached, DeadlineOpened, EscalationRaised
from referral_bus.infra.local_time import shown
from tests.builders import FICTIONAL, envelope, on_log

T = datetime(2026, 3, 4, 6, 0, tzinfo=UTC)    # 11:00 in Almaty
RULE, PARA, CASE = "4.8-removal-outcome-3h", "4.8", "C-7"


def escalation(deadline: uuid.UUID, level: int) -> EscalationRaised:
    return EscalationRaised(escalation_id=uuid.uuid5(deadline, str(level)), deadline_id=deadline, rule_id=RULE,
                            paragraph=PARA, case_id=CASE, level=level, responsible_agency_id="police-juvenile-almaty",
                            escalated_to_agency_id="commission-almaty", due_at=T,
                            raised_for=T + timedelta(hours=2 * (level - 1)), summary="4.8 report not made")


def test_levels_follow_their_breach_in_order_and_the_acknowledgement_follows_them() -> None:
    deadline = uuid.uuid4()
    removal = on_log(EmergencyRemoval(envelope=envelope(EmergencyRemoval, CASE, "police-juvenile-almaty",
                                                        at=T - timedelta(hours=3)),
                                      city=City.ALMATY, child_age_years=9, child_removed=True,
                                      cam_social_worker_present=False, personal_data=FICTIONAL), 1)
    opened = DeadlineOpened(sla_event_id=uuid.uuid4(), deadline_id=deadline, rule_id=RULE, paragraph=PARA,
                            case_id=CASE, trigger_event_id=removal.envelope.event_id,
                            responsible_agency_id="police-juvenile-almaty", opened_at=T - timedelta(hours=3), due_at=T)
    breached = DeadlineBreached(sla_event_id=uuid.uuid4(), deadline_id=deadline, rule_id=RULE, paragraph=PARA,
                                case_id=CASE, responsible_agency_id="police-juvenile-almaty", due_at=T, breached_at=T)
    # the SLA processor came back at 11:30 and wrote the whole ladder at once: on the log, level 3
    # and level 2 (rb.escalations) carry earlier times than level 1 and than the breach (rb.sla)
    back = T + timedelta(minutes=30)
    ms = timedelta(milliseconds=1)
    sla = [(back + 3 * ms, breached), (back + 2 * ms, escalation(deadline, 3)), (back + ms, escalation(deadline, 2)),
           (back + 4 * ms, escalation(deadline, 1)), (T - timedelta(hours=3), opened)]
    # the Commission acknowledges level 3 with a clock that recorded it a moment "before" the level
    ack = on_log(EscalationAcknowledged(envelope=envelope(EscalationAcknowledged, CASE, "commission-almaty",
                                                          at=back), escalation_id=uuid.uuid5(deadline, "3"),
                                        deadline_id=deadline, level=3), 2, recorded_at=back + 2 * ms)
    late = on_log(RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, CASE, "police-juvenile-almaty",
                                                           at=back + timedelta(minutes=5)), child_removed=True,
                                         placed_in_temporary_care=True, referred_to_cam=True), 3)
    rows = CaseHistory(CASE, None, events=[removal, ack, late], sla=sla).timeline()
    order = [(r["type"], r["fields"].get("level")) for r in rows]
    assert order == [("EmergencyRemoval", None), ("DeadlineOpened", None), ("DeadlineBreached", None),
                     ("EscalationRaised", 1), ("EscalationRaised", 2), ("EscalationRaised", 3),
                     ("EscalationAcknowledged", 3), ("RemovalOutcomeReported", None)]
    assert rows[4]["at"] == (back + ms).isoformat()    # each row keeps its own log time; only its place moves
    assert shown(rows[0]["at"]) == "2026-03-04 08:00:00 +05:00"


def test_events_and_records_without_a_ladder_keep_log_order() -> None:
    first = on_log(RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, CASE, "police-juvenile-almaty",
                                                            at=T), child_removed=True, placed_in_temporary_care=True,
                                          referred_to_cam=True), 2)
    second = on_log(first.model_copy(update={"envelope": first.envelope.model_copy(
        update={"event_id": uuid.uuid4()})}), 1, recorded_at=T - timedelta(minutes=1))
    rows = CaseHistory(CASE, None, events=[first, second]).timeline()
    assert [r["sequence"] for r in rows] == [1, 2]
