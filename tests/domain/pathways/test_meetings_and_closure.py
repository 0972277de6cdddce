"""The child protection meeting's paperwork and what closure owes (issue 15): the information pack
(a)–(f) for the invited members only (6.33), the draft minutes circulated after the meeting and
approved by its members (6.43), the referral on to the NGO (6.23) or to support services (6.39(b))
before the case closes, and the referral to support services on closure delivered to the provider
(6.39(b), 6.51)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import ValidationError

from referral_bus.contracts.base import City, RuleViolation
from referral_bus.contracts.care_events import PlanApproved, PlanKind
from referral_bus.contracts.events import (
    AssessmentOutcome,
    CaseClosed,
    ChildProtectionMeetingHeld,
    ChildProtectionMeetingScheduled,
    ClosureGround,
    EmergencyRemoval,
    InitialAssessmentCompleted,
    MeetingDecision,
    MeetingInformationItem,
    MeetingInformationShared,
    MeetingMinutesCirculated,
    MeetingPurpose,
    NGODecision,
    NGODecisionKind,
    ReferralKind,
    ReferralMade,
    ReferralWithdrawn,
    SocialAssessmentCompleted,
    SocialAssessmentConclusion,
    SupportService,
    WithdrawalReason,
)
from referral_bus.contracts.ngo_events import NGOCaseClosed, NGOCaseClosureReason
from referral_bus.domain.agencies import Directory
from referral_bus.domain.authorization import authorize
from referral_bus.domain.rejections import Code, Rejection
from tests.builders import T0, CaseFold, make

CAM, NGO, GUARDIANSHIP, SCHOOL = "cam-almaty", "ngo-rodnik", "guardianship-almaty", "school-almaty"
MEMBERS = ["police-juvenile-almaty", SCHOOL, "health-almaty"]
ALL_ITEMS = list(MeetingInformationItem)


def scheduled(directory: Directory, meeting_id: str = "M-1") -> CaseFold:
    """A removed child, assessed, socially assessed (6.31(a)) and a child protection meeting scheduled."""
    case = CaseFold(directory)
    case.add(make(EmergencyRemoval, "police-juvenile-almaty", city=City.ALMATY, child_age_years=9, child_removed=True,
                  cam_social_worker_present=True))
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN))
    case.add(make(SocialAssessmentCompleted, CAM, conclusion=SocialAssessmentConclusion.SIGNIFICANT_HARM))
    case.add(make(ChildProtectionMeetingScheduled, CAM, meeting_id=meeting_id, scheduled_for=T0 + timedelta(days=5),
                  invited_agency_ids=MEMBERS))
    return case


def held(directory: Directory, decision: MeetingDecision) -> CaseFold:
    case = scheduled(directory)
    case.add(make(ChildProtectionMeetingHeld, CAM, meeting_id="M-1", decision=decision))
    return case


def info(meeting_id: str = "M-1", covers: list[MeetingInformationItem] | None = None) -> MeetingInformationShared:
    return make(MeetingInformationShared, CAM, meeting_id=meeting_id,  # type: ignore[return-value]
                covers=ALL_ITEMS if covers is None else covers)


def violation(build: Callable[[], object]) -> RuleViolation:
    """The contract rule a payload breaks (pydantic keeps it in the error's context)."""
    with pytest.raises(ValidationError) as caught:
        build()
    error = caught.value.errors()[0]["ctx"]["error"]
    assert isinstance(error, RuleViolation)
    return error


def closure(**fields: object) -> CaseClosed:
    fields.setdefault("ground", ClosureGround.NO_CONCERN_FOUND)
    return make(CaseClosed, CAM, **fields)  # type: ignore[return-value]


def ngo_request(agency: str = CAM) -> ReferralMade:
    return make(ReferralMade, agency, referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY,  # type: ignore[return-value]
                child_age_years=9, services_requested=[SupportService.SOCIAL])


# -- 6.33: the information pack -------------------------------------------------------------------------
def test_information_pack_goes_to_the_invited_members_only(directory: Directory) -> None:
    case = scheduled(directory)
    got = case.add(info(covers=[MeetingInformationItem.CHRONOLOGY, MeetingInformationItem.RISK_ANALYSIS]))
    # confidential: to the invited members, not the Guardianship, not the referrer
    assert {a: (d.paragraph, d.purpose, d.redacted) for a, d in got.items()} == {
        m: ("6.33", "meeting material", False) for m in MEMBERS}
    # a second instalment (the rest of (a)–(f)) is accepted too
    assert set(case.add(info(covers=[MeetingInformationItem.CHILD_VIEWS]))) == set(MEMBERS)


def test_information_pack_needs_a_scheduled_meeting_not_yet_held(directory: Directory) -> None:
    case = scheduled(directory)
    unknown = case.rejects(info("M-9"))
    assert (unknown.code, unknown.paragraph, unknown.field) == (Code.ILLEGAL_TRANSITION, "6.33", "meeting_id")
    case.add(make(ChildProtectionMeetingHeld, CAM, meeting_id="M-1", decision=MeetingDecision.NO_FURTHER_ACTION))
    late = case.rejects(info())
    assert (late.paragraph, late.field, "already been held" in late.message) == ("6.33", "meeting_id", True)


def test_information_pack_is_the_cams_and_names_its_items(directory: Directory) -> None:
    with pytest.raises(Rejection) as refused:
        authorize(make(MeetingInformationShared, SCHOOL, meeting_id="M-1", covers=ALL_ITEMS), directory, SCHOOL)
    assert (refused.value.code, refused.value.paragraph) == (Code.AGENCY_NOT_ALLOWED, "6.33")
    empty = violation(lambda: info(covers=[]))
    assert (empty.paragraph, empty.field) == ("6.33", "covers")
    twice = violation(lambda: info(covers=[MeetingInformationItem.CHRONOLOGY, MeetingInformationItem.CHRONOLOGY]))
    assert twice.field == "covers"


def test_care_plan_reviews_have_their_own_report_not_the_pack(directory: Directory) -> None:
    case = scheduled(directory)
    case.state.care.care_plan_id = "CP-1"   # a care plan in force (as CarePlanAgreed would leave it)
    case.add(make(ChildProtectionMeetingScheduled, CAM, meeting_id="CR-1", purpose=MeetingPurpose.CARE_PLAN_REVIEW,
                  scheduled_for=T0 + timedelta(days=20), invited_agency_ids=MEMBERS))
    refused = case.rejects(info("CR-1"))
    assert (refused.paragraph, refused.field) == ("6.66", "meeting_id")


# -- 6.43: the draft minutes -----------------------------------------------------------------------------
def test_minutes_circulate_to_the_members_after_the_meeting(directory: Directory) -> None:
    case = scheduled(directory)
    early = case.rejects(make(MeetingMinutesCirculated, CAM, meeting_id="M-1"))
    assert (early.code, early.paragraph, early.field) == (Code.ILLEGAL_TRANSITION, "6.43", "meeting_id")
    case.add(make(ChildProtectionMeetingHeld, CAM, meeting_id="M-1", decision=MeetingDecision.CHILD_PROTECTION_PLAN))
    no_outline = case.rejects(make(MeetingMinutesCirculated, CAM, meeting_id="M-1"))
    assert (no_outline.paragraph, no_outline.field) == ("6.40, 6.43", "includes_outline_plan")
    got = case.add(make(MeetingMinutesCirculated, CAM, meeting_id="M-1", includes_outline_plan=True))
    assert {a: (d.paragraph, d.purpose) for a, d in got.items()} == {m: ("6.43", "minutes") for m in MEMBERS}
    assert "M-1" in case.state.minutes_circulated


def test_no_outline_plan_without_a_plan_decision(directory: Directory) -> None:
    case = held(directory, MeetingDecision.NO_FURTHER_ACTION)
    refused = case.rejects(make(MeetingMinutesCirculated, CAM, meeting_id="M-1", includes_outline_plan=True))
    assert (refused.paragraph, refused.field) == ("6.40, 6.43", "includes_outline_plan")
    assert set(case.add(make(MeetingMinutesCirculated, CAM, meeting_id="M-1"))) == set(MEMBERS)


def test_members_approve_minutes_only_once_circulated(directory: Directory) -> None:
    case = held(directory, MeetingDecision.NO_FURTHER_ACTION)
    approval = make(PlanApproved, SCHOOL, plan_kind=PlanKind.MEETING_MINUTES, reference="M-1", comments_submitted=True)
    refused = case.rejects(approval)
    assert (refused.code, refused.paragraph, refused.field) == (Code.ILLEGAL_TRANSITION, "6.43", "reference")
    assert "circulated" in refused.message
    case.add(make(MeetingMinutesCirculated, CAM, meeting_id="M-1"))
    assert case.add(approval)[CAM].paragraph == "6.43, 6.44, 6.60"


# -- 6.23: the referral to the NGO before closure ----------------------------------------------------------
def difficult_life_situation(directory: Directory) -> CaseFold:
    case = CaseFold(directory)
    case.add(make(ReferralMade, "police-juvenile-almaty", referral_kind=ReferralKind.CHILD_PROTECTION,
                  city=City.ALMATY, child_age_years=9))
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.DIFFICULT_LIFE_SITUATION))
    return case


def test_6_23_closure_waits_for_the_ngo_referral_and_its_decision(directory: Directory) -> None:
    case = difficult_life_situation(directory)
    refused = case.rejects(closure())
    assert (refused.code, refused.paragraph, refused.field) == (Code.ILLEGAL_TRANSITION, "6.23", "ground")
    # the closure's flag is not the referral 6.23 names: the NGO decides on a referral request (5.18)
    assert case.rejects(closure(referred_to_support_services=True)).paragraph == "6.23"
    case.add(ngo_request())
    pending = case.rejects(closure())
    assert (pending.paragraph, pending.field) == ("5.18, 6.23", "ground")
    got = case.add(make(NGODecision, NGO, decision=NGODecisionKind.DECLINED_NO_SPACE, reasons="programme full"))
    assert got[CAM].paragraph == "5.18–5.20"
    assert set(case.add(closure())) == {"police-juvenile-almaty", GUARDIANSHIP}


def test_6_23_closure_waits_for_an_accepted_programme_to_close(directory: Directory) -> None:
    case = difficult_life_situation(directory)
    case.add(ngo_request())
    got = case.add(make(NGODecision, NGO, decision=NGODecisionKind.ACCEPTED))
    assert got["police-juvenile-almaty"].paragraph == "6.23"
    running = case.rejects(closure())
    assert (running.paragraph, running.field, NGO in running.message) == ("5.20, 7.1, 6.23", "ground", True)
    case.add(make(NGOCaseClosed, NGO, reason=NGOCaseClosureReason.GOALS_MET))
    case.add(closure())
    assert case.state.closed and case.state.support_referral_owed is None


def test_6_23_a_withdrawn_or_earlier_ngo_request_does_not_count(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(make(ReferralMade, SCHOOL, referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                  child_age_years=9))
    before = ngo_request(SCHOOL)
    case.add(before)   # made before the finding: not the CAM/CSC's referral under 6.23
    case.add(make(NGODecision, NGO, decision=NGODecisionKind.DECLINED_CRITERIA_NOT_MET, reasons="criteria"))
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.DIFFICULT_LIFE_SITUATION))
    assert case.rejects(closure()).paragraph == "6.23"
    after = ngo_request()
    case.add(after)
    case.add(make(ReferralWithdrawn, CAM, referral_event_id=after.envelope.event_id,
                  reason=WithdrawalReason.MADE_IN_ERROR))
    assert case.rejects(closure()).paragraph == "6.23"


def test_no_concern_without_a_difficult_life_situation_closes_as_before(directory: Directory) -> None:
    case = CaseFold(directory)
    case.add(make(ReferralMade, SCHOOL, referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                  child_age_years=9))
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.NO_CONCERN))
    assert set(case.add(closure())) == {SCHOOL, GUARDIANSHIP}   # 6.22: no referral owed, none delivered


# -- 6.39(b), 6.51: the referral to support services, delivered ----------------------------------------------
def test_6_39b_closure_needs_the_referral_and_delivers_it_to_the_citys_ngo(directory: Directory) -> None:
    case = held(directory, MeetingDecision.SUPPORT_SERVICES)
    refused = case.rejects(closure())
    assert (refused.code, refused.paragraph, refused.field) == (
        Code.ILLEGAL_TRANSITION, "6.39(b)", "referred_to_support_services")
    got = case.add(closure(referred_to_support_services=True))
    assert {a: (d.paragraph, d.purpose, d.redacted) for a, d in got.items()} == {
        "police-juvenile-almaty": ("6.51, 6.78", "outcome", True),
        GUARDIANSHIP: ("6.51, 6.78", "outcome", False),
        NGO: ("6.39(b)", "referral", False)}


def test_6_39b_an_ngo_referral_request_meets_it_too(directory: Directory) -> None:
    case = held(directory, MeetingDecision.SUPPORT_SERVICES)
    case.add(ngo_request())
    assert case.rejects(closure()).paragraph == "5.18, 6.39(b)"
    case.add(make(NGODecision, NGO, decision=NGODecisionKind.DECLINED_NO_SPACE, reasons="programme full"))
    assert NGO not in case.add(closure())   # referred by the request: nothing more to deliver


def test_support_services_provider_named_on_closure_is_checked_against_the_directory(directory: Directory) -> None:
    case = held(directory, MeetingDecision.SUPPORT_SERVICES)
    got = case.add(closure(referred_to_support_services=True, support_services_agency_id="health-almaty"))
    assert (got["health-almaty"].paragraph, got["health-almaty"].purpose) == ("6.39(b)", "referral")
    assert NGO not in got
    for named, code, why in (("nobody-almaty", Code.NO_RECIPIENT, "not in the directory"),
                             ("court-almaty", Code.ILLEGAL_TRANSITION, "is a court agency, not a ngo"),
                             ("health-nur-sultan", Code.ILLEGAL_TRANSITION, "does not serve")):
        other = held(directory, MeetingDecision.SUPPORT_SERVICES)
        refused = other.rejects(closure(referred_to_support_services=True, support_services_agency_id=named))
        wanted = (code, "6.39(b)", "support_services_agency_id")
        assert (refused.code, refused.paragraph, refused.field) == wanted, named
        assert why in refused.message
    unflagged = violation(lambda: closure(support_services_agency_id="health-almaty"))
    assert (unflagged.paragraph, unflagged.field) == ("6.51", "support_services_agency_id")


def test_6_51_referral_on_closure_reaches_the_ngo(directory: Directory) -> None:
    from referral_bus.contracts.care_events import (
        ChildProtectionPlanFinalised,
        ChildProtectionPlanReviewed,
        PlanReviewRecommendation,
    )
    case = held(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    case.add(make(ChildProtectionPlanFinalised, CAM, plan_id="P-1", meeting_id="M-1", commences_on=T0.date(),
                  first_review_by=T0.date() + timedelta(days=28)))
    case.add(make(ChildProtectionMeetingScheduled, CAM, meeting_id="R-1", purpose=MeetingPurpose.PLAN_REVIEW,
                  scheduled_for=T0 + timedelta(days=25), invited_agency_ids=MEMBERS))
    case.add(make(ChildProtectionPlanReviewed, CAM, plan_id="P-1", meeting_id="R-1",
                  recommendation=PlanReviewRecommendation.NO_LONGER_NECESSARY))
    got = case.add(closure(ground=ClosureGround.PLAN_NO_LONGER_NECESSARY, referred_to_support_services=True))
    assert (got[NGO].paragraph, got[NGO].purpose, got[NGO].redacted) == ("6.51", "referral", False)
