"""Issue 15: seed 002's ten-day review of a family's application for special social services and seed
003's re-offending follow-up two years after a community-based programme — the deadlines, and the
events' checks and routes."""

from __future__ import annotations

import pytest

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.contracts.justice_events import (
    ProgrammeCompleted,
    ProgrammeEnrolled,
    ReoffendingFollowUpRecorded,
)
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWarning,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.contracts.violence_events import SpecialSocialServicesApplied, SpecialSocialServicesReviewed
from referral_bus.domain.agencies import Directory
from referral_bus.domain.authorization import authorize
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.rejections import Code, Rejection
from tests.builders import CaseFold, make
from tests.domain.deadlines.test_recurring import GRACE, Case, end_of, engine, local, of

__all__ = ["engine"]   # the fixture

_REVIEW = "seed002-special-social-services-review-10d"
_FOLLOW_UP = "seed003-reoffending-follow-up-2y"


# -- seed 002: special social services, application reviewed within ten days ------------------------

def test_an_application_reviewed_within_ten_days_is_met(engine: DeadlineEngine) -> None:
    case = Case(engine)
    out = case.add("SpecialSocialServicesApplied", "cam-almaty", local(2026, 3, 3, 10), city="ALMATY",
                   child_age_years=9)
    [opened] = of(out, _REVIEW, DeadlineOpened)
    # calendar days: Women's Day (Monday 9 March) and the weekend count
    assert (opened.due_at, opened.responsible_agency_id) == (end_of(2026, 3, 13), "social-protection-almaty")
    assert of(case.advance(local(2026, 3, 12, 0) + GRACE), _REVIEW, DeadlineWarning)
    [met] = of(case.add("SpecialSocialServicesReviewed", "social-protection-almaty", local(2026, 3, 12, 15),
                        need_established=True), _REVIEW, DeadlineMet)
    assert met.deadline_id == opened.deadline_id


def test_an_application_not_reviewed_in_time_goes_to_the_departments_supervisor(engine: DeadlineEngine) -> None:
    case = Case(engine)
    case.add("SpecialSocialServicesApplied", "social-protection-almaty", local(2026, 3, 3, 10), city="ALMATY",
             child_age_years=9)
    out = case.advance(end_of(2026, 3, 13) + GRACE)
    [breach] = of(out, _REVIEW, DeadlineBreached)
    [escalation] = of(out, _REVIEW, EscalationRaised)
    assert breach.responsible_agency_id == "social-protection-almaty"
    assert (escalation.level, escalation.escalated_to_agency_id) == (1, "commission-almaty")
    assert of(case.add("SpecialSocialServicesReviewed", "social-protection-almaty", local(2026, 3, 14, 9),
                       need_established=False, reason="no social maladjustment found"), _REVIEW,
              DeadlineCompletedLate)


def test_the_application_reaches_social_protection_and_the_review_the_professional_who_forwarded_it(
        directory: Directory) -> None:
    case = CaseFold(directory)
    assert case.rejects(make(SpecialSocialServicesReviewed, "social-protection-almaty",
                             need_established=True)).code is Code.UNKNOWN_CASE
    got = case.add(make(SpecialSocialServicesApplied, "school-almaty", city=City.ALMATY, child_age_years=9))
    assert list(got) == ["social-protection-almaty"] and got["social-protection-almaty"].purpose == "application"
    with pytest.raises(Rejection) as not_the_department:
        authorize(make(SpecialSocialServicesReviewed, "cam-almaty", need_established=True), directory, "cam-almaty")
    assert not_the_department.value.code is Code.AGENCY_NOT_ALLOWED
    got = case.add(make(SpecialSocialServicesReviewed, "social-protection-almaty", need_established=True))
    assert got["school-almaty"].purpose == "outcome" and got["school-almaty"].redacted
    refused = case.rejects(make(SpecialSocialServicesReviewed, "social-protection-almaty", need_established=True))
    assert refused.code is Code.ILLEGAL_TRANSITION and "seed 002" in (refused.paragraph or "")
    # the family applied at the department itself: recorded there, delivered to no one else
    assert case.add(make(SpecialSocialServicesApplied, "social-protection-almaty", city=City.ALMATY,
                         child_age_years=9)) == {}


# -- seed 003: re-offending followed up over two years after the programme --------------------------

def test_a_completed_programme_owes_a_re_offending_follow_up_within_two_years(engine: DeadlineEngine) -> None:
    case = Case(engine)
    case.add("ProgrammeEnrolled", "ngo-rodnik", local(2026, 1, 15), programme_id="PR-1",
             referring_agency_id="court-almaty")
    out = case.add("ProgrammeCompleted", "ngo-rodnik", local(2026, 11, 30), programme_id="PR-1", goals_met=True)
    [opened] = of(out, _FOLLOW_UP, DeadlineOpened)
    assert (opened.due_at, opened.responsible_agency_id) == (end_of(2028, 11, 30), "ngo-rodnik")
    other = case.add("ReoffendingFollowUpRecorded", "ngo-rodnik", local(2027, 5, 1), programme_id="PR-2",
                     reoffended=False)
    assert of(other, _FOLLOW_UP) == []    # another programme's follow-up
    [met] = of(case.add("ReoffendingFollowUpRecorded", "ngo-rodnik", local(2028, 11, 1), programme_id="PR-1",
                        reoffended=False), _FOLLOW_UP, DeadlineMet)
    assert met.deadline_id == opened.deadline_id


def test_a_missing_follow_up_is_breached_and_escalated(engine: DeadlineEngine) -> None:
    case = Case(engine)
    case.add("ProgrammeEnrolled", "probation-almaty", local(2026, 1, 15), programme_id="PR-1",
             referring_agency_id="court-almaty")
    case.add("ProgrammeCompleted", "probation-almaty", local(2026, 11, 30), programme_id="PR-1", goals_met=False)
    out = case.advance(end_of(2028, 11, 30) + GRACE)
    [breach] = of(out, _FOLLOW_UP, DeadlineBreached)
    [escalation] = of(out, _FOLLOW_UP, EscalationRaised)
    assert breach.responsible_agency_id == "probation-almaty"
    assert (escalation.level, escalation.escalated_to_agency_id) == (1, "commission-almaty")


def test_closing_the_case_withdraws_the_follow_up(engine: DeadlineEngine) -> None:
    case = Case(engine)
    case.add("ProgrammeEnrolled", "ngo-rodnik", local(2026, 1, 15), programme_id="PR-1",
             referring_agency_id="court-almaty")
    case.add("ProgrammeCompleted", "ngo-rodnik", local(2026, 11, 30), programme_id="PR-1", goals_met=True)
    out = case.add("CaseClosed", "cam-almaty", local(2027, 2, 1), ground="NO_CONCERN_FOUND")
    assert of(out, _FOLLOW_UP, DeadlineWithdrawn)


def test_the_follow_up_comes_after_completion_and_reaches_the_referring_body(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(make(ReferralMade, "police-juvenile-almaty", referral_kind=ReferralKind.CHILD_PROTECTION,
                  city=City.ALMATY, child_age_years=15))
    case.add(make(ProgrammeEnrolled, "ngo-rodnik", programme_id="PR-1", referring_agency_id="court-almaty"))
    early = case.rejects(make(ReoffendingFollowUpRecorded, "ngo-rodnik", programme_id="PR-1", reoffended=False))
    assert (early.code, early.field) == (Code.ILLEGAL_TRANSITION, "programme_id") and "seed 003" in early.paragraph
    case.add(make(ProgrammeCompleted, "ngo-rodnik", programme_id="PR-1", goals_met=True))
    got = case.add(make(ReoffendingFollowUpRecorded, "ngo-rodnik", programme_id="PR-1", reoffended=True,
                        convicted=False))
    assert got["court-almaty"].purpose == "outcome" and got["court-almaty"].redacted
    with pytest.raises(Rejection) as not_a_programme:
        authorize(make(ReoffendingFollowUpRecorded, "police-juvenile-almaty", programme_id="PR-1", reoffended=False),
                  directory, "police-juvenile-almaty")
    assert not_a_programme.value.code is Code.AGENCY_NOT_ALLOWED
