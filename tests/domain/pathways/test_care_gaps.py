"""Issue 15: the CAM/CSC's care work where coverage had gaps — the integration assessment (6.59),
the professionals a care plan names (6.60), the supporter of a child absent from the review (6.65),
the reports after the review (6.68), the after-care agency (6.75(b)), the Manager's application to
a court (6.15), and the bars of 6.58 on a return under a child protection plan (6.41(e))."""

from __future__ import annotations

from datetime import timedelta

import pytest

from referral_bus.contracts.base import City
from referral_bus.contracts.care_events import (
    CarePlacement,
    CarePlanAgreed,
    CarePlanDecision,
    CarePlanReviewed,
    CarePlanReviewReportsDistributed,
    CaseTransferredAbroad,
    ChildLeftCare,
    ChildProtectionPlanFinalised,
    IndependentSupporterAssigned,
    IntegrationAssessmentCompleted,
    MedicalExaminationAuthorised,
    MedicalExaminationCompleted,
    MedicalExaminationConsentRecorded,
    PlanApproved,
    PlanKind,
    ReturnAssessmentCompleted,
    ReturnBar,
)
from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.contracts.events import (
    AssessmentOutcome,
    InitialAssessmentCompleted,
    MeetingDecision,
    MeetingPurpose,
    ReferralKind,
    ReferralMade,
    SocialAssessmentCompleted,
    SocialAssessmentConclusion,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.decisions import fold
from referral_bus.domain.rejections import Code
from tests.builders import CaseFold, make, on_log
from tests.domain.pathways.test_care import CAM, MEMBERS, START, assessed, care_plan, meeting

GUARDIANSHIP = "guardianship-almaty"


def separated_child(directory: Directory, conclusion: SocialAssessmentConclusion) -> CaseFold:
    """A separated child referred by the border guard, assessed and socially assessed; no meeting."""
    case = CaseFold(directory)
    case.add(make(ReferralMade, "border-guard-almaty", referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                  child_age_years=14))
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN,
                  separated_or_unaccompanied=True))
    case.add(make(SocialAssessmentCompleted, CAM, conclusion=conclusion))
    return case


def agreed(**fields: object) -> CarePlanAgreed:
    return make(CarePlanAgreed, CAM, care_plan_id="CP-1", placement=CarePlacement.FOSTER_FAMILY, commences_on=START,
                first_review_by=START + timedelta(days=28), **fields)


# -- 6.59 ------------------------------------------------------------------------------------------------
def test_the_integration_assessment_follows_a_barred_return_and_precedes_the_care_plan(directory: Directory) -> None:
    case = separated_child(directory, SocialAssessmentConclusion.NO_REASONABLE_CAUSE)
    integration = make(IntegrationAssessmentCompleted, CAM)
    r = case.rejects(integration)                                   # no return assessment yet
    assert (r.code, r.paragraph) == (Code.ILLEGAL_TRANSITION, "6.59")
    assert case.rejects(agreed()).paragraph == "6.53"               # nothing calls for a care plan yet
    case.add(make(ReturnAssessmentCompleted, CAM, return_in_best_interests=True,
                  bars=[ReturnBar.ASYLUM_SEEKER_OR_REFUGEE]))
    assert case.rejects(agreed()).paragraph == "6.59"               # the integration assessment comes first
    got = case.add(integration)
    assert set(got) == {GUARDIANSHIP} and (got[GUARDIANSHIP].paragraph, got[GUARDIANSHIP].purpose) == ("6.59",
                                                                                                     "outcome")
    case.add(agreed(member_agency_ids=["ngo-rodnik"]))              # 6.53(b), 6.59: now the care plan follows
    transfer = make(CaseTransferredAbroad, CAM, country_code="AF", receiving_authority="child protection authority")
    assert case.rejects(transfer).paragraph == "6.58"


def test_a_permitted_return_needs_no_integration_assessment(directory: Directory) -> None:
    case = separated_child(directory, SocialAssessmentConclusion.SIGNIFICANT_HARM)
    case.add(make(ReturnAssessmentCompleted, CAM, return_in_best_interests=True))
    assert case.rejects(make(IntegrationAssessmentCompleted, CAM)).paragraph == "6.59"


def test_a_care_plan_decided_at_a_meeting_still_waits_for_the_integration_assessment(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(make(ReturnAssessmentCompleted, CAM, return_in_best_interests=False))
    assert case.rejects(care_plan()).paragraph == "6.59"
    case.add(make(IntegrationAssessmentCompleted, CAM))
    case.add(care_plan())


# -- 6.60 ------------------------------------------------------------------------------------------------
def test_a_care_plan_without_a_meeting_reaches_the_professionals_it_names(directory: Directory) -> None:
    case = separated_child(directory, SocialAssessmentConclusion.SIGNIFICANT_HARM)   # 6.53(a): no meeting
    unknown = agreed(member_agency_ids=["school-almaty", "school-atlantis"])
    r = case.rejects(unknown)
    assert (r.code, r.paragraph, r.field) == (Code.NO_RECIPIENT, "6.60", "member_agency_ids")
    got = case.add(agreed(member_agency_ids=["school-almaty", "ngo-rodnik"]))
    assert set(got) == {"school-almaty", "ngo-rodnik", GUARDIANSHIP}
    assert {(d.paragraph, d.purpose) for d in got.values()} == {("6.60", "plan")}
    # each named professional gives its written approval; one not named cannot
    assert set(case.add(make(PlanApproved, "ngo-rodnik", plan_kind=PlanKind.CARE_PLAN, reference="CP-1"))) == {CAM}
    r = case.rejects(make(PlanApproved, "health-almaty", plan_kind=PlanKind.CARE_PLAN, reference="CP-1"))
    assert (r.code, r.paragraph) == (Code.AGENCY_NOT_ALLOWED, "6.60")


def test_the_named_professionals_join_the_members_of_the_deciding_meeting(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    got = case.add(care_plan().model_copy(update={"member_agency_ids": ["ngo-rodnik", "school-almaty"]}))
    assert set(got) == {*MEMBERS, "ngo-rodnik", GUARDIANSHIP}
    assert case.state.care.care_plan_members == [*MEMBERS, "ngo-rodnik"]


# -- 6.65 ------------------------------------------------------------------------------------------------
def reviewed(child_attended: bool | None) -> CarePlanReviewed:
    return make(CarePlanReviewed, CAM, care_plan_id="CP-1", meeting_id="CR-1",
                decision=CarePlanDecision.CONTINUE_AS_DRAFTED, child_attended=child_attended)


def test_a_child_absent_from_the_review_needs_an_independent_supporter(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    case.add(meeting("CR-1", MeetingPurpose.CARE_PLAN_REVIEW))
    r = case.rejects(reviewed(None))                                # attendance not recorded
    assert (r.code, r.paragraph, r.field) == (Code.ILLEGAL_TRANSITION, "6.65", "child_attended")
    r = case.rejects(reviewed(False))                               # absent, and no supporter on the case
    assert (r.paragraph, r.field) == ("6.65", "child_attended") and "independent supporter" in r.message
    case.add(make(IndependentSupporterAssigned, "ngo-rodnik", supporter_organisation="independent visitors"))
    assert set(case.add(reviewed(False))) == set(MEMBERS)


def test_a_child_who_attended_needs_no_supporter(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    case.add(meeting("CR-1", MeetingPurpose.CARE_PLAN_REVIEW))
    case.add(reviewed(True))


# -- 6.68 ------------------------------------------------------------------------------------------------
def test_the_carers_and_professionals_reports_reach_the_reviews_members_after_it(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    case.add(meeting("CR-1", MeetingPurpose.CARE_PLAN_REVIEW))
    distributed = make(CarePlanReviewReportsDistributed, CAM, meeting_id="CR-1", carer_report_included=True)
    r = case.rejects(distributed)                                   # the review has not been held
    assert (r.code, r.paragraph, r.field) == (Code.ILLEGAL_TRANSITION, "6.68", "meeting_id")
    case.add(reviewed(True))
    got = case.add(distributed)
    assert set(got) == set(MEMBERS)                                 # the review's members only (6.69)
    assert {(d.paragraph, d.purpose) for d in got.values()} == {("6.68, 6.69", "meeting material")}
    other = make(CarePlanReviewReportsDistributed, CAM, meeting_id="M-1")   # a child protection meeting
    assert case.rejects(other).field == "meeting_id"


# -- 6.75(b), (d) ---------------------------------------------------------------------------------------
def test_the_case_leaving_care_goes_to_the_after_care_agency_of_the_directory(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    r = case.rejects(make(ChildLeftCare, CAM, care_plan_id="CP-1", after_care_authority="after-care service"))
    assert (r.code, r.paragraph, r.field) == (Code.ILLEGAL_TRANSITION, "6.75(b)", "after_care_agency_id")
    r = case.rejects(make(ChildLeftCare, CAM, care_plan_id="CP-1", after_care_agency_id="after-care-atlantis"))
    assert (r.code, r.paragraph, r.field) == (Code.NO_RECIPIENT, "6.75(b)", "after_care_agency_id")
    got = case.add(make(ChildLeftCare, CAM, care_plan_id="CP-1", after_care_agency_id="social-protection-almaty"))
    transfer = got["social-protection-almaty"]
    assert (transfer.paragraph, transfer.purpose, transfer.redacted) == ("6.75(b)", "case transfer", False)


def test_at_18_the_case_goes_to_the_agency_monitoring_the_transition(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    got = case.add(make(ChildLeftCare, CAM, care_plan_id="CP-1", turned_18=True,
                        after_care_agency_id="social-protection-almaty"))
    assert got["social-protection-almaty"].paragraph == "6.75(d)"


def test_a_record_of_leaving_care_from_before_issue_15_still_folds(directory: Directory) -> None:
    """Older records name the authority in free text: they decode and fold (only new ones are checked)."""
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    old = make(ChildLeftCare, CAM, care_plan_id="CP-1", after_care_authority="after-care service")
    fold(case.state, on_log(old, case.state.last_sequence + 1), directory)
    assert case.state.care.left_care and case.state.care.care_plan_id is None


# -- 6.15 ------------------------------------------------------------------------------------------------
REFUSED = Consent(subject=ConsentSubject.MEDICAL_EXAMINATION, child_age_years=6, parent_consented=False,
                  child_has_sufficient_maturity=False, in_writing=True)


def test_the_managers_application_goes_to_the_court_it_names(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.SUPPORT_SERVICES)
    got = case.add(make(MedicalExaminationConsentRecorded, CAM, consent=REFUSED, decision_body="court"))
    assert (got["court-almaty"].paragraph, got["court-almaty"].purpose) == ("6.15", "application")
    assert GUARDIANSHIP not in got
    r = case.rejects(make(MedicalExaminationAuthorised, GUARDIANSHIP, granted=True, decision_reference="GTA-1"))
    assert (r.code, r.paragraph, r.field) == (Code.AGENCY_NOT_ALLOWED, "6.15", "envelope.producer.agency_id")
    got = case.add(make(MedicalExaminationAuthorised, "court-almaty", granted=True, decision_reference="C-2026-4"))
    assert got[CAM].paragraph == "6.15"
    case.add(make(MedicalExaminationCompleted, "health-almaty"))


def test_the_application_goes_to_the_guardianship_by_default_and_to_no_other_body() -> None:
    consent = make(MedicalExaminationConsentRecorded, CAM, consent=REFUSED)
    assert consent.decision_body == "guardianship"    # records from before issue 15 went there
    with pytest.raises(ValueError, match=r"decision_body.*\(6\.15\)"):
        make(MedicalExaminationConsentRecorded, CAM, consent=REFUSED, decision_body="commission")


# -- 6.58 under 6.41(e) --------------------------------------------------------------------------------------
def return_plan(**fields: object) -> ChildProtectionPlanFinalised:
    return make(ChildProtectionPlanFinalised, CAM, plan_id="P-1", meeting_id="M-1", commences_on=START,
                first_review_by=START + timedelta(days=30), **{"return_abroad": True, **fields})


TRANSFER = dict(country_code="UZ", receiving_authority="child protection authority")


def test_a_plan_providing_for_a_return_records_the_check_of_the_bars(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    r = case.rejects(return_plan())
    assert (r.code, r.paragraph, r.field) == (Code.ILLEGAL_TRANSITION, "6.58", "return_bars_checked")
    with pytest.raises(ValueError, match=r"return_bars.*\(6\.58\)"):    # a bar found: no return under the plan
        return_plan(return_bars_checked=True, return_bars=[ReturnBar.RISK_OF_IRREPARABLE_HARM])
    with pytest.raises(ValueError, match=r"return_bars_checked.*\(6\.58\)"):
        return_plan(return_abroad=False, return_bars=[ReturnBar.RISK_OF_IRREPARABLE_HARM])
    case.add(return_plan(return_bars_checked=True))
    case.add(make(CaseTransferredAbroad, CAM, **TRANSFER))


def test_a_plan_that_found_a_bar_provides_for_no_return(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    case.add(return_plan(return_abroad=False, return_bars_checked=True,
                         return_bars=[ReturnBar.ASYLUM_SEEKER_OR_REFUGEE]))
    assert case.rejects(make(CaseTransferredAbroad, CAM, **TRANSFER)).paragraph == "6.52, 6.79"


def test_an_unchecked_return_plan_from_before_issue_15_needs_a_return_assessment(directory: Directory) -> None:
    """A plan recorded before the check existed is on the log without it: the transfer waits for a
    return assessment that permits the return (6.57–6.58)."""
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    fold(case.state, on_log(return_plan(), case.state.last_sequence + 1), directory)
    transfer = make(CaseTransferredAbroad, CAM, **TRANSFER)
    r = case.rejects(transfer)
    assert (r.code, r.paragraph) == (Code.ILLEGAL_TRANSITION, "6.58")
    case.add(make(ReturnAssessmentCompleted, CAM, return_in_best_interests=True))
    case.add(transfer)
