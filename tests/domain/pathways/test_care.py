"""The CAM/CSC's later work (6.8–6.79) as sequences of steps: legal transitions with their
paragraph, and who receives what (confidential material only to invited members, 6.33, 6.69)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from referral_bus.contracts.base import City
from referral_bus.contracts.care_events import (
    AgeAssessmentCompleted,
    CarePlacement,
    CarePlanAgreed,
    CarePlanAmended,
    CarePlanDecision,
    CarePlanReviewed,
    CarePlanReviewReportIssued,
    CaseTransferredAbroad,
    ChildLeftCare,
    ChildProtectionPlanAmended,
    ChildProtectionPlanFinalised,
    ChildProtectionPlanReviewed,
    IndependentSupporterAssigned,
    LeavingCareReviewCompleted,
    MedicalExaminationAuthorised,
    MedicalExaminationCompleted,
    MedicalExaminationConsentRecorded,
    PlacementEnded,
    PlacementKind,
    PlacementReviewed,
    PlanApproved,
    PlanKind,
    PlanReviewRecommendation,
    ReturnAssessmentCompleted,
    ReturnBar,
    ReviewRecommendationsRejected,
    SafeArrivalConfirmed,
    TemporaryCareDecided,
    TemporaryCareForm,
    TemporaryCareRecommended,
    TransitionFromCarePlanned,
)
from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.contracts.events import (
    AgeRecordReason,
    AssessmentOutcome,
    CaseClosed,
    ChildAgeRecorded,
    ChildProtectionMeetingHeld,
    ChildProtectionMeetingScheduled,
    ClosureGround,
    EmergencyRemoval,
    InitialAssessmentCompleted,
    MeetingAttendanceDeclined,
    MeetingDecision,
    MeetingMinutesCirculated,
    MeetingPurpose,
    ReferralKind,
    ReferralMade,
    SocialAssessmentCompleted,
    SocialAssessmentConclusion,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.authorization import authorize
from referral_bus.domain.rejections import Code, Rejection
from tests.builders import T0, CaseFold, make

CAM = "cam-almaty"
MEMBERS = ["police-juvenile-almaty", "school-almaty", "health-almaty"]
START = date(2026, 3, 10)


def assessed(directory: Directory, decision: MeetingDecision) -> CaseFold:
    """A removed child, assessed, socially assessed, and a child protection meeting that decided ``decision``."""
    case = CaseFold(directory)
    case.add(make(EmergencyRemoval, "police-juvenile-almaty", city=City.ALMATY, child_age_years=9, child_removed=True,
                  cam_social_worker_present=True))
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN))
    case.add(make(SocialAssessmentCompleted, CAM, conclusion=SocialAssessmentConclusion.SIGNIFICANT_HARM))
    case.add(meeting("M-1", MeetingPurpose.CHILD_PROTECTION_MEETING))
    case.add(make(ChildProtectionMeetingHeld, CAM, meeting_id="M-1", decision=decision))
    return case


def meeting(meeting_id: str, purpose: MeetingPurpose) -> ChildProtectionMeetingScheduled:
    return make(ChildProtectionMeetingScheduled, CAM, meeting_id=meeting_id, purpose=purpose,
                scheduled_for=T0 + timedelta(days=5), invited_agency_ids=MEMBERS)


def plan(meeting_id: str = "M-1", return_abroad: bool = False) -> ChildProtectionPlanFinalised:
    """A plan; one providing for a return abroad records the check of the bars of 6.58 (issue 15)."""
    return make(ChildProtectionPlanFinalised, CAM, plan_id="P-1", meeting_id=meeting_id, commences_on=START,
                first_review_by=START + timedelta(days=30), return_abroad=return_abroad,
                return_bars_checked=return_abroad)


def care_plan(placement: CarePlacement = CarePlacement.FOSTER_FAMILY) -> CarePlanAgreed:
    return make(CarePlanAgreed, CAM, care_plan_id="CP-1", placement=placement, commences_on=START,
                ends_on=START + timedelta(days=365), first_review_by=START + timedelta(days=28))


def test_child_protection_plan_from_meeting_to_closure(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    got = case.add(plan())
    assert set(got) == {*MEMBERS, "guardianship-almaty"} and got["school-almaty"].paragraph == "6.44"
    closing = make(CaseClosed, CAM, ground=ClosureGround.PLAN_NO_LONGER_NECESSARY, referred_to_support_services=True)
    assert case.rejects(closing).paragraph == "6.47(e), 6.51"
    case.add(meeting("R-1", MeetingPurpose.PLAN_REVIEW))
    got = case.add(make(ChildProtectionPlanReviewed, CAM, plan_id="P-1", meeting_id="R-1",
                        recommendation=PlanReviewRecommendation.NO_LONGER_NECESSARY))
    assert set(got) == set(MEMBERS) and got["health-almaty"].paragraph == "6.46"
    case.add(closing)
    assert case.state.closed


def test_plan_needs_the_meeting_that_decided_it(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    r = case.rejects(plan())
    assert (r.code, r.paragraph, r.field) == (Code.ILLEGAL_TRANSITION, "6.40, 6.44", "meeting_id")


def test_review_meetings_need_a_plan_in_force(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    assert case.rejects(meeting("R-1", MeetingPurpose.PLAN_REVIEW)).paragraph == "6.45"
    assert case.rejects(meeting("R-1", MeetingPurpose.CARE_PLAN_REVIEW)).paragraph == "6.61"


def test_manager_rejecting_recommendations_owes_reasons_and_vary_owes_amendment(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    case.add(plan())
    case.add(meeting("R-1", MeetingPurpose.PLAN_REVIEW))
    stray = make(ReviewRecommendationsRejected, CAM, plan_kind=PlanKind.CHILD_PROTECTION_PLAN, meeting_id="R-1",
                 reasons="not in the child's best interests")
    assert case.rejects(stray).paragraph == "6.48"
    case.add(make(ChildProtectionPlanReviewed, CAM, plan_id="P-1", meeting_id="R-1",
                  recommendation=PlanReviewRecommendation.VARY, manager_accepts=False))
    assert set(case.add(stray)) == set(MEMBERS)
    # a review on an already-held meeting is refused
    again = make(ChildProtectionPlanReviewed, CAM, plan_id="P-1", meeting_id="R-1",
                 recommendation=PlanReviewRecommendation.VARY)
    assert case.rejects(again).field == "meeting_id"


def test_review_outcome_is_not_a_child_protection_meeting_held(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    case.add(plan())
    case.add(meeting("R-1", MeetingPurpose.PLAN_REVIEW))
    held = make(ChildProtectionMeetingHeld, CAM, meeting_id="R-1", decision=MeetingDecision.NO_FURTHER_ACTION)
    assert case.rejects(held).paragraph == "6.46, 6.73"
    declined = make(MeetingAttendanceDeclined, "school-almaty", meeting_id="R-1")   # purpose defaults to 6.34's
    assert (case.rejects(declined).field, case.rejects(declined).paragraph) == ("purpose", "6.34, 6.67")
    case.add(make(MeetingAttendanceDeclined, "school-almaty", meeting_id="R-1", purpose=MeetingPurpose.PLAN_REVIEW))


def test_reassessment_after_a_review_finds_the_plan_inadequate(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    social = make(SocialAssessmentCompleted, CAM, conclusion=SocialAssessmentConclusion.SIGNIFICANT_HARM)
    assert case.rejects(social).paragraph == "6.28, 6.50"
    case.add(plan())
    case.add(meeting("R-1", MeetingPurpose.PLAN_REVIEW))
    case.add(make(ChildProtectionPlanReviewed, CAM, plan_id="P-1", meeting_id="R-1",
                  recommendation=PlanReviewRecommendation.TWELVE_MONTHS_STILL_AT_RISK))
    case.add(social)   # 6.50: another assessment


def test_care_plan_through_review_leaving_care_and_closure(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    got = case.add(care_plan(CarePlacement.RESIDENTIAL_CARE))
    assert set(got) == {*MEMBERS, "guardianship-almaty"} and got["guardianship-almaty"].paragraph == "6.60"
    assert PlacementKind.RESIDENTIAL_CARE in case.state.care.placements
    closing = make(CaseClosed, CAM, ground=ClosureGround.ONE_YEAR_REVIEW_AFTER_CARE)
    assert case.rejects(closing).paragraph == "6.78(b)"
    case.add(meeting("CR-1", MeetingPurpose.CARE_PLAN_REVIEW))
    got = case.add(make(CarePlanReviewReportIssued, CAM, meeting_id="CR-1"))
    assert set(got) == set(MEMBERS) and got["school-almaty"].paragraph == "6.66, 6.69"
    case.add(make(CarePlanReviewed, CAM, care_plan_id="CP-1", meeting_id="CR-1", decision=CarePlanDecision.VARY,
                  child_attended=True))
    case.add(make(CarePlanAmended, CAM, care_plan_id="CP-1", next_review_by=START + timedelta(days=90)))
    assert case.rejects(make(CarePlanAmended, CAM, care_plan_id="CP-1",
                             next_review_by=START + timedelta(days=90))).paragraph == "6.77"
    case.add(make(PlacementReviewed, "guardianship-almaty", placement=PlacementKind.RESIDENTIAL_CARE, continues=True))
    case.add(make(TransitionFromCarePlanned, CAM, care_plan_id="CP-1"))
    got = case.add(make(ChildLeftCare, CAM, care_plan_id="CP-1", after_care_agency_id="social-protection-almaty"))
    assert got["police-juvenile-almaty"].redacted   # the referrer (the removing inspector) learns the outcome only
    assert got["social-protection-almaty"].paragraph == "6.75(b)"   # the after-care agency receives the case
    assert case.rejects(make(PlacementReviewed, CAM, placement=PlacementKind.RESIDENTIAL_CARE,
                             continues=True)).paragraph == "6.56"
    case.add(make(LeavingCareReviewCompleted, CAM, no_reasonable_cause_for_concern=True))
    case.add(closing)


def test_a_child_leaving_care_for_a_child_protection_plan_keeps_the_case_open_until_it_is_finalised(
        directory: Directory) -> None:
    """6.75(c): a child to be subject to a child protection plan after the discharge — the plan is developed
    by the protocol's steps (a meeting deciding it, 6.39(c); the plan, 6.44) before the case may close."""
    with pytest.raises(ValueError, match=r"6\.75\(c\)"):
        make(ChildLeftCare, CAM, care_plan_id="CP-1", after_care_agency_id="social-protection-almaty",
             turned_18=True, child_protection_plan_to_follow=True)
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    case.add(make(ChildLeftCare, CAM, care_plan_id="CP-1", after_care_agency_id="social-protection-almaty",
                  child_protection_plan_to_follow=True))
    case.add(make(LeavingCareReviewCompleted, CAM, no_reasonable_cause_for_concern=True))
    closing = make(CaseClosed, CAM, ground=ClosureGround.ONE_YEAR_REVIEW_AFTER_CARE)
    assert (case.rejects(closing).paragraph, case.rejects(closing).field) == ("6.75(c)", "ground")
    case.add(meeting("M-2", MeetingPurpose.CHILD_PROTECTION_MEETING))
    case.add(make(ChildProtectionMeetingHeld, CAM, meeting_id="M-2", decision=MeetingDecision.CHILD_PROTECTION_PLAN))
    case.add(plan("M-2"))
    assert not case.state.care.protection_plan_after_care_due


def test_no_closure_while_a_care_plan_is_in_force(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    r = case.rejects(make(CaseClosed, CAM, ground=ClosureGround.NO_CONCERN_FOUND))
    assert r.code is Code.ILLEGAL_TRANSITION
    assert case.rejects(care_plan()).field == "care_plan_id"


def test_return_abroad_needs_a_plan_that_provides_for_it_and_closes_on_arrival(directory: Directory) -> None:
    transfer = make(CaseTransferredAbroad, CAM, country_code="UZ", receiving_authority="child protection authority")
    closing = make(CaseClosed, CAM, ground=ClosureGround.SAFE_ARRIVAL_CONFIRMED)
    staying = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    staying.add(plan(return_abroad=False))
    assert staying.rejects(transfer).paragraph == "6.52, 6.79"
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    assert case.rejects(closing).paragraph == "6.52, 6.79"
    assert case.rejects(make(SafeArrivalConfirmed, CAM, country_code="UZ")).paragraph == "6.52, 6.79"
    case.add(plan(return_abroad=True))
    assert "border-guard-almaty" in case.add(transfer)
    case.add(make(SafeArrivalConfirmed, CAM, country_code="UZ"))
    case.add(closing)


def test_a_barred_return_from_care_is_refused(directory: Directory) -> None:
    transfer = make(CaseTransferredAbroad, CAM, country_code="AF", receiving_authority="child protection authority")
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    assert case.rejects(transfer).paragraph == "6.57–6.58"
    got = case.add(make(ReturnAssessmentCompleted, CAM, return_in_best_interests=True,
                        bars=[ReturnBar.ASYLUM_SEEKER_OR_REFUGEE]))
    assert got["guardianship-almaty"].paragraph == "6.57–6.59"
    assert case.rejects(transfer).paragraph == "6.58"


def test_plan_amendment_reaches_the_plan_members(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    case.add(plan())
    amended = make(ChildProtectionPlanAmended, CAM, plan_id="P-1", next_review_by=START + timedelta(days=40))
    assert case.rejects(amended).paragraph == "6.49"
    case.add(meeting("R-1", MeetingPurpose.PLAN_REVIEW))
    case.add(make(ChildProtectionPlanReviewed, CAM, plan_id="P-1", meeting_id="R-1",
                  recommendation=PlanReviewRecommendation.VARY))
    got = case.add(amended)
    assert set(got) == set(MEMBERS) and got["school-almaty"].paragraph == "6.49"


def test_approvals_of_minutes_and_plans_come_from_members(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CHILD_PROTECTION_PLAN)
    case.add(make(MeetingMinutesCirculated, CAM, meeting_id="M-1", includes_outline_plan=True))   # 6.43 first
    case.add(make(PlanApproved, "school-almaty", plan_kind=PlanKind.MEETING_MINUTES, reference="M-1",
                  comments_submitted=True))
    outsider = make(PlanApproved, "court-almaty", plan_kind=PlanKind.MEETING_MINUTES, reference="M-1")
    assert (case.rejects(outsider).code, case.rejects(outsider).paragraph) == (Code.AGENCY_NOT_ALLOWED, "6.43")
    early = make(PlanApproved, "guardianship-almaty", plan_kind=PlanKind.CHILD_PROTECTION_PLAN, reference="P-1")
    assert case.rejects(early).field == "reference"
    case.add(plan())
    assert case.add(early)[CAM].paragraph == "6.43, 6.44, 6.60"


def test_care_review_rejected_recommendations_and_supporter(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    case.add(meeting("CR-1", MeetingPurpose.CARE_PLAN_REVIEW))
    case.add(make(CarePlanReviewed, CAM, care_plan_id="CP-1", meeting_id="CR-1",
                  decision=CarePlanDecision.CONTINUE_AS_DRAFTED, manager_accepts=False, child_attended=True))
    got = case.add(make(ReviewRecommendationsRejected, CAM, plan_kind=PlanKind.CARE_PLAN, meeting_id="CR-1",
                        reasons="the placement must stay stable this term"))
    assert got["school-almaty"].paragraph == "6.76"
    got = case.add(make(IndependentSupporterAssigned, "ngo-rodnik", supporter_organisation="independent visitors"))
    assert set(got) == {CAM, "guardianship-almaty"} and case.state.care.independent_supporter


def test_temporary_care_recommendation_decision_and_placement_reviews(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.SUPPORT_SERVICES)
    decided = make(TemporaryCareDecided, "guardianship-almaty", placement_necessary=True,
                   form=TemporaryCareForm.CAM_RESIDENTIAL_UNIT)
    assert case.rejects(decided).paragraph == "6.17"
    got = case.add(make(TemporaryCareRecommended, CAM, recommended_form=TemporaryCareForm.CAM_RESIDENTIAL_UNIT))
    assert set(got) == {"guardianship-almaty", "commission-almaty"}
    got = case.add(decided)
    assert set(got) == {CAM, "school-almaty"} and got["school-almaty"].paragraph == "6.19(a)"
    case.add(make(PlacementReviewed, CAM, placement=PlacementKind.TEMPORARY_RESIDENTIAL_UNIT, continues=True))
    case.add(make(PlacementEnded, CAM, placement=PlacementKind.TEMPORARY_RESIDENTIAL_UNIT))
    assert case.rejects(make(PlacementEnded, CAM, placement=PlacementKind.TEMPORARY_RESIDENTIAL_UNIT)
                        ).paragraph == "6.19(b)"


def test_the_childs_own_school_is_told_of_a_unit_placement_when_named(directory: Directory) -> None:
    """6.19(a): schooling continues in the temporary residential unit — the child's own school is told
    when the decision names it; a school of another city or an agency of another kind is refused."""
    case = assessed(directory, MeetingDecision.SUPPORT_SERVICES)
    case.add(make(TemporaryCareRecommended, CAM, recommended_form=TemporaryCareForm.CAM_RESIDENTIAL_UNIT))

    def decided(school: str) -> TemporaryCareDecided:
        return make(TemporaryCareDecided, "guardianship-almaty", placement_necessary=True,
                    form=TemporaryCareForm.CAM_RESIDENTIAL_UNIT, school_agency_id=school)
    for wrong in ("school-nur-sultan-no-14", "health-almaty", "no-such-school"):
        refusal = case.rejects(decided(wrong))
        assert (refusal.paragraph, refusal.field) == ("6.19(a)", "school_agency_id")
    got = case.add(decided("school-almaty-no-38"))
    assert set(got) == {CAM, "school-almaty-no-38"} and got["school-almaty-no-38"].paragraph == "6.19(a)"


def test_separating_siblings_needs_a_reason() -> None:
    with pytest.raises(ValueError, match=r"6\.18\(c\)"):
        make(TemporaryCareDecided, "guardianship-almaty", placement_necessary=True,
             form=TemporaryCareForm.FAMILY_BASED, siblings_separated=True)


def test_age_assessment_only_for_a_disputed_age_and_benefit_of_the_doubt(directory: Directory) -> None:
    assessment = make(AgeAssessmentCompleted, CAM, claimed_age_years=15, assessed_min_age_years=16,
                      assessed_max_age_years=19, conclusive=False)
    case = CaseFold(directory)
    case.add(make(ReferralMade, "police-juvenile-almaty", referral_kind=ReferralKind.CHILD_PROTECTION,
                  city=City.ALMATY, child_age_years=15))
    assert case.rejects(assessment).paragraph == "6.8–6.9"
    disputed = CaseFold(directory, "C-1")
    disputed.add(make(ReferralMade, "border-guard-almaty", referral_kind=ReferralKind.CHILD_PROTECTION,
                      city=City.ALMATY, child_age_years=15, age_disputed=True))
    got = disputed.add(assessment)
    assert disputed.state.child_age_years == 16 and got["border-guard-almaty"].redacted   # 6.11: lower bound
    with pytest.raises(ValueError, match=r"6\.11"):
        make(AgeAssessmentCompleted, CAM, claimed_age_years=15, assessed_min_age_years=16, assessed_max_age_years=18,
             conclusive=True)


def test_turning_3_moves_the_case_to_the_cam_and_turning_18_ends_planning(directory: Directory) -> None:
    case = CaseFold(directory)
    got = case.add(make(ReferralMade, "health-almaty", referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                        child_age_years=2))
    assert set(got) == {"guardianship-almaty"}
    assert case.rejects(make(ChildAgeRecorded, "guardianship-almaty", child_age_years=4,
                             reason=AgeRecordReason.BIRTHDAY)).paragraph == "4.5"
    got = case.add(make(ChildAgeRecorded, "guardianship-almaty", child_age_years=3, reason=AgeRecordReason.BIRTHDAY))
    assert got[CAM].purpose == "referral" and got[CAM].paragraph == "4.5(b)(i), 4.6"
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN))

    older = assessed(directory, MeetingDecision.CARE_PLAN)
    closing = make(CaseClosed, CAM, ground=ClosureGround.TURNED_18_CASE_TRANSFERRED)
    assert older.rejects(closing).paragraph == "6.78(a)"
    older.add(make(ChildAgeRecorded, CAM, child_age_years=18, reason=AgeRecordReason.DOCUMENT))
    assert older.rejects(care_plan()).paragraph == "6.53"
    older.add(closing)


def test_a_permitted_return_from_care_is_transferred(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.CARE_PLAN)
    case.add(care_plan())
    case.add(make(ReturnAssessmentCompleted, CAM, return_in_best_interests=True))
    got = case.add(make(CaseTransferredAbroad, CAM, country_code="TJ",
                        receiving_authority="child protection authority"))
    assert got["guardianship-almaty"].paragraph == "6.52, 6.79"


def test_csc_centre_placement_is_a_residential_unit_under_review(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.SUPPORT_SERVICES)
    case.add(make(TemporaryCareRecommended, CAM, recommended_form=TemporaryCareForm.CSC_RESIDENTIAL_UNIT))
    got = case.add(make(TemporaryCareDecided, "commission-almaty", placement_necessary=True,
                        form=TemporaryCareForm.CSC_RESIDENTIAL_UNIT))
    assert got["school-almaty"].paragraph == "6.19(a)"
    assert case.state.care.placements == {PlacementKind.TEMPORARY_RESIDENTIAL_UNIT}


def test_an_override_of_the_parents_refusal_needs_the_guardianships_decision_on_the_log(directory: Directory) -> None:
    """6.15: the CAM/CSC cannot approve its own application by setting a flag; the Guardianship's (or
    court's) decision on the log is the only legal basis, and only when an application is pending."""
    case = assessed(directory, MeetingDecision.SUPPORT_SERVICES)
    refused = Consent(subject=ConsentSubject.MEDICAL_EXAMINATION, child_age_years=6, parent_consented=False,
                      child_has_sufficient_maturity=False, in_writing=True)
    granted = make(MedicalExaminationAuthorised, "guardianship-almaty", granted=True, decision_reference="GTA-2026-17")
    assert case.rejects(granted).paragraph == "6.15"                      # nothing to decide yet
    self_approved = make(MedicalExaminationConsentRecorded, CAM,
                         consent=refused.model_copy(update={"authority_approved": True}))
    rejection = case.rejects(self_approved)
    assert rejection.paragraph == "6.15" and "cannot approve its own application" in str(rejection)
    assert case.add(make(MedicalExaminationConsentRecorded, CAM, consent=refused))[
        "guardianship-almaty"].purpose == "application"
    exam = make(MedicalExaminationCompleted, "health-almaty")
    assert case.rejects(exam).paragraph == "6.14–6.15"                    # parent refused, not yet decided
    with pytest.raises(Rejection) as by_applicant:                        # the applicant cannot decide
        authorize(make(MedicalExaminationAuthorised, CAM, granted=True, decision_reference="X"), directory, CAM)
    assert (by_applicant.value.code.value, by_applicant.value.paragraph) == ("AGENCY_NOT_ALLOWED", "6.15")
    assert case.add(granted)[CAM].paragraph == "6.15"                     # the decision goes to the applicant
    assert set(case.add(exam)) == {CAM, "police-juvenile-almaty"}         # now the examination may go ahead


def test_a_refused_application_leaves_the_examination_barred(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.SUPPORT_SERVICES)
    case.add(make(MedicalExaminationConsentRecorded, CAM, consent=Consent(
        subject=ConsentSubject.MEDICAL_EXAMINATION, child_age_years=6, parent_consented=False,
        child_has_sufficient_maturity=False, in_writing=True)))
    case.add(make(MedicalExaminationAuthorised, "court-almaty", granted=False, decision_reference="C-88"))
    assert case.rejects(make(MedicalExaminationCompleted, "health-almaty")).paragraph == "6.14–6.15"


def test_medical_examination_follows_sufficient_consent(directory: Directory) -> None:
    case = assessed(directory, MeetingDecision.SUPPORT_SERVICES)
    exam = make(MedicalExaminationCompleted, "health-almaty", joint_with_police=True)
    assert case.rejects(exam).paragraph == "6.14"
    case.add(make(MedicalExaminationConsentRecorded, CAM, consent=Consent(
        subject=ConsentSubject.MEDICAL_EXAMINATION, child_age_years=9, parent_consented=True, in_writing=True)))
    assert set(case.add(exam)) == {CAM, "police-juvenile-almaty"}
