"""The SLA processor as a process: a late 4.8 report escalates exactly once, a timely one does not."""

from __future__ import annotations

import time
from datetime import UTC

import pytest

from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWarning,
    EscalationRaised,
)
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, outcome_report, removal
from tests.conftest import Bus, wait_for

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def police(bus: Bus):  # type: ignore[no-untyped-def]
    with AgencyClient("police-juvenile-almaty", actor_id="inspector-2", runtime=bus.runtime) as client:
        yield client


def sla_of(bus: Bus, case: str) -> list:  # type: ignore[type-arg]
    return [r for r in of_case(read_topic(bus.runtime, "sla"), case) if r.rule_id.startswith("4.8")]


def escalations_of(bus: Bus, case: str) -> list[EscalationRaised]:
    """The case's 4.8 escalations (a removal also opens the 4.9 prosecutor-notice deadline)."""
    return [e for e in of_case(read_topic(bus.runtime, "escalations"), case) if e.rule_id.startswith("4.8")]


def test_late_report_escalates_exactly_once(bus: Bus, police: AgencyClient) -> None:
    case = case_id()
    police.publish(removal(police, case, hours_ago=4), wait_for_receipt=True)
    wait_for(lambda: escalations_of(bus, case), what="the 4.8 escalation")
    police.publish(outcome_report(police, case), wait_for_receipt=True)
    wait_for(lambda: any(isinstance(r, DeadlineCompletedLate) for r in sla_of(bus, case)), what="late completion")
    time.sleep(3 * bus.runtime.settings.sla_tick_seconds + 1)  # several more ticks: still one
    [escalation] = escalations_of(bus, case)
    assert (escalation.rule_id, escalation.paragraph, escalation.level) == ("4.8-removal-outcome-3h", "4.8", 1)
    assert escalation.escalated_to_agency_id == "police-department-almaty"
    kinds = [type(r).__name__ for r in sla_of(bus, case)]
    assert kinds == ["DeadlineOpened", "DeadlineWarning", "DeadlineBreached", "DeadlineCompletedLate"]
    late = [r for r in sla_of(bus, case) if isinstance(r, DeadlineCompletedLate)][0]
    assert 3600 - 120 < late.lateness_seconds < 3600 + 120
    delivered = [r for r in read_topic(bus.runtime, "inbox", agency="police-department-almaty")
                 if r.key == case.encode() and r.record.rule_id.startswith("4.8")]  # type: ignore[attr-defined]
    assert [r.headers["rb-purpose"] for r in delivered] == ["escalation"]
    warned = [r for r in read_topic(bus.runtime, "inbox", agency="police-juvenile-almaty")
              if r.key == case.encode() and r.headers.get("rb-purpose") == "warning"
              and r.record.rule_id.startswith("4.8")]  # type: ignore[attr-defined]
    assert len(warned) == 1


def test_timely_report_meets_the_deadline(bus: Bus, police: AgencyClient) -> None:
    case = case_id()
    police.publish(removal(police, case, hours_ago=1), wait_for_receipt=True)
    police.publish(outcome_report(police, case), wait_for_receipt=True)
    wait_for(lambda: any(isinstance(r, DeadlineMet) for r in sla_of(bus, case)), what="DeadlineMet")
    time.sleep(3 * bus.runtime.settings.sla_tick_seconds + 1)
    assert [type(r) for r in sla_of(bus, case)] == [DeadlineOpened, DeadlineMet]
    assert escalations_of(bus, case) == []


def test_overdue_without_any_report_breaches_on_the_clock(bus: Bus, police: AgencyClient) -> None:
    """No completing event ever comes: the timer alone must raise the breach."""
    case = case_id()
    police.publish(removal(police, case, hours_ago=3.5), wait_for_receipt=True)
    wait_for(lambda: escalations_of(bus, case), what="breach by the clock")
    assert [type(r) for r in sla_of(bus, case)] == [DeadlineOpened, DeadlineWarning, DeadlineBreached]


def test_acknowledged_escalation_stops_the_ladder(bus: Bus, police: AgencyClient) -> None:
    """Removal 6 h ago: due 3 h ago, level 2 fell due 1 h ago (before the acknowledgement), level 3
    would fall due in 3 h — the acknowledgement on the case log stops it."""
    from referral_bus.contracts.events import EscalationAcknowledged
    case = case_id()
    police.publish(removal(police, case, hours_ago=6), wait_for_receipt=True)
    escalations = wait_for(lambda: (lambda e: e if len(e) == 2 else None)(escalations_of(bus, case)),
                           what="levels 1 and 2")
    assert [(e.level, e.escalated_to_agency_id) for e in escalations] == [(1, "police-department-almaty"),
                                                                         (2, "commission-almaty")]
    # the defaulting inspection cannot stop its own ladder; a school is no rung of it (router, 4.8)
    for who in ("police-juvenile-almaty", "school-almaty"):
        with AgencyClient(who, actor_id="x-1", runtime=bus.runtime) as client:
            refused = client.publish(client.event(EscalationAcknowledged, case_id=case, level=1,
                                                  escalation_id=escalations[0].escalation_id,
                                                  deadline_id=escalations[0].deadline_id), wait_for_receipt=True)
        assert refused is not None and (refused.status.value, refused.reason_code, refused.paragraph) == (
            "REJECTED", "AGENCY_NOT_ALLOWED", "4.8"), refused
    with AgencyClient("police-department-almaty", actor_id="chief-1", runtime=bus.runtime) as chief:
        receipt = chief.publish(chief.event(EscalationAcknowledged, case_id=case, level=2,
                                            escalation_id=escalations[1].escalation_id,
                                            deadline_id=escalations[1].deadline_id), wait_for_receipt=True)
    assert receipt is not None and receipt.status.value == "ACCEPTED"
    from datetime import datetime, timedelta

    from referral_bus.auditor.sla_explain import explain_case
    # replaying with a clock 4 h ahead (level 3 due) still raises nothing more: acknowledged
    later = datetime.now(UTC) + timedelta(hours=4)
    [row] = [e for e in explain_case(bus.runtime, case, later) if e.rule_id.startswith("4.8")]
    assert row.escalated_to == ["level 1: police-department-almaty", "level 2: commission-almaty"]


def test_social_assessment_pathway_6_21_to_6_30(bus: Bus) -> None:
    from referral_bus.contracts.events import (
        AssessmentOutcome,
        InitialAssessmentCompleted,
        SocialAssessmentCompleted,
    )
    from tests.builders import referral
    case = case_id()
    with AgencyClient("school-almaty", actor_id="t-2", runtime=bus.runtime) as school, \
            AgencyClient("cam-almaty", actor_id="m-2", runtime=bus.runtime) as cam:
        school.publish(referral(school, case, age=9), wait_for_receipt=True)
        cam.publish(cam.event(InitialAssessmentCompleted, case_id=case,
                              outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN), wait_for_receipt=True)
        wait_for(lambda: [r for r in of_case(read_topic(bus.runtime, "sla"), case)
                          if getattr(r, "rule_id", "") == "6.28-social-assessment-8w"], what="6.28 opened")
        receipt = cam.publish(cam.event(SocialAssessmentCompleted, case_id=case, conclusion="NO_REASONABLE_CAUSE"),
                              wait_for_receipt=True)
        assert receipt is not None and receipt.status.value == "ACCEPTED"
    wait_for(lambda: [r for r in of_case(read_topic(bus.runtime, "sla"), case)
                      if isinstance(r, DeadlineMet) and r.rule_id == "6.28-social-assessment-8w"], what="6.28 met")
    told = [r for r in read_topic(bus.runtime, "inbox", agency="school-almaty") if r.key == case.encode()]
    assert [(r.headers["rb-paragraph"], r.headers["rb-redacted"]) for r in told] == \
        [("6.21–6.24", "true"), ("6.30 (6.22–6.25)", "true")]
