"""Who may acknowledge an escalation (no I/O): only the rungs the ladder reached, never the agency
that missed the deadline, never a bystander; the refusal cites the breached rule's paragraph."""

from __future__ import annotations

import uuid
from datetime import timedelta

from referral_bus.contracts.base import City
from referral_bus.contracts.events import EmergencyRemoval, EscalationAcknowledged
from referral_bus.contracts.sla_records import EscalationRaised
from referral_bus.domain.agencies import Directory
from referral_bus.domain.decisions import note_escalation
from tests.builders import FICTIONAL, T0, CaseFold, make

POLICE, CHIEF, COMMISSION = "police-juvenile-almaty", "police-department-almaty", "commission-almaty"
DEADLINE = uuid.uuid4()


def escalation(level: int, to: str) -> EscalationRaised:
    return EscalationRaised(escalation_id=uuid.uuid4(), deadline_id=DEADLINE, rule_id="4.8-removal-outcome-3h",
                            paragraph="4.8", case_id="C-1", level=level, responsible_agency_id=POLICE,
                            escalated_to_agency_id=to, due_at=T0, raised_for=T0 + timedelta(hours=level),
                            summary="outcome report owed by the juvenile inspection")


def removed(directory: Directory) -> CaseFold:
    case = CaseFold(directory)
    case.add(make(EmergencyRemoval, POLICE, city=City.ALMATY, child_age_years=9, child_removed=True,
                  cam_social_worker_present=False, personal_data=FICTIONAL))
    return case


def ack(agency: str, raised: EscalationRaised, level: int | None = None) -> EscalationAcknowledged:
    return make(EscalationAcknowledged, agency, escalation_id=raised.escalation_id,  # type: ignore[return-value]
                deadline_id=raised.deadline_id, level=level or raised.level)


def test_the_supervisor_the_escalation_reached_may_acknowledge_it(directory: Directory) -> None:
    case = removed(directory)
    first = escalation(1, CHIEF)
    note_escalation(case.state, first)
    case.add(ack(CHIEF, first))


def test_the_agency_that_missed_the_deadline_cannot_acknowledge_its_own_escalation(directory: Directory) -> None:
    case = removed(directory)
    first = escalation(1, CHIEF)
    note_escalation(case.state, first)
    refusal = case.rejects(ack(POLICE, first))
    assert (refusal.code.value, refusal.paragraph, refusal.field) == (
        "AGENCY_NOT_ALLOWED", "4.8", "envelope.producer.agency_id")
    assert "cannot acknowledge its own escalation" in refusal.message


def test_a_bystander_cannot_acknowledge(directory: Directory) -> None:
    case = removed(directory)
    first = escalation(1, CHIEF)
    note_escalation(case.state, first)
    refusal = case.rejects(ack("school-almaty", first))
    assert (refusal.code.value, refusal.paragraph) == ("AGENCY_NOT_ALLOWED", "4.8")
    assert CHIEF in refusal.message


def test_a_lower_rung_may_acknowledge_a_higher_level_but_not_the_reverse(directory: Directory) -> None:
    case = removed(directory)
    first, second = escalation(1, CHIEF), escalation(2, COMMISSION)
    note_escalation(case.state, first)
    note_escalation(case.state, second)
    assert case.rejects(ack(COMMISSION, first)).code.value == "AGENCY_NOT_ALLOWED"   # level 1 never reached it
    case.add(ack(CHIEF, second))                                                     # both rungs the rule named


def test_an_unknown_or_mismatched_escalation_is_refused_by_field(directory: Directory) -> None:
    case = removed(directory)
    first = escalation(1, CHIEF)
    unknown = case.rejects(ack(CHIEF, first))
    assert (unknown.code.value, unknown.field) == ("ILLEGAL_TRANSITION", "escalation_id")
    note_escalation(case.state, first)
    wrong_level = case.rejects(ack(CHIEF, first, level=2))
    assert (wrong_level.code.value, wrong_level.paragraph, wrong_level.field) == (
        "ILLEGAL_TRANSITION", "4.8", "escalation_id")
