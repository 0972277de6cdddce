"""A professional's request for an emergency removal (4.7), the court claim (Family Code art. 82),
joint handling (6.5–6.6, 6.13), criminal-case progress (6.25), and the police's place in the
assessments (6.6, 6.29) and consents (6.15)."""

from __future__ import annotations

from referral_bus.contracts.base import City
from referral_bus.contracts.care_events import (
    FamilyTracingUpdated,
    MedicalExaminationConsentRecorded,
    TemporaryCareForm,
    TemporaryCareRecommended,
    TracingStatus,
)
from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.contracts.events import (
    AssessmentOutcome,
    ChildProtectionMeetingScheduled,
    CourtClaimRequested,
    CriminalCaseOpened,
    CriminalCaseUpdated,
    EmergencyRemoval,
    EmergencyRemovalRequested,
    InitialAssessmentCompleted,
    JointHandlingAgreed,
    SocialAssessmentCompleted,
    SocialAssessmentConclusion,
)
from referral_bus.domain.agencies import Directory
from tests.builders import T0, CaseFold, make

CAM, POLICE = "cam-almaty", "police-juvenile-almaty"


def requested(directory: Directory) -> CaseFold:
    case = CaseFold(directory)
    got = case.add(make(EmergencyRemovalRequested, "school-almaty", city=City.ALMATY, child_age_years=8))
    assert {d: got[d].paragraph for d in got} == {"guardianship-almaty": "4.7(a)", POLICE: "4.7(b)", CAM: "4.7(c)"}
    return case


def test_removal_request_then_removal_and_court_claim(directory: Directory) -> None:
    case = requested(directory)
    claim = make(CourtClaimRequested, "guardianship-almaty")
    assert case.rejects(claim).paragraph == "4.7 (Family Code art. 82)"
    case.add(make(EmergencyRemoval, POLICE, city=City.ALMATY, child_age_years=8, child_removed=True,
                  cam_social_worker_present=True))
    assert set(case.add(claim)) == {"commission-almaty"}
    got = case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.NO_CONCERN))
    assert got["school-almaty"].redacted   # the professional who asked for the removal learns the outcome (6.22)


def test_joint_handling_progress_and_police_in_the_assessments(directory: Directory) -> None:
    case = requested(directory)
    joint = make(JointHandlingAgreed, CAM, criminal_case_ref="CR-1", joint_medical_examination=True)
    assert case.rejects(joint).field == "criminal_case_ref"
    case.add(make(CriminalCaseOpened, POLICE, criminal_case_ref="CR-1"))
    assert set(case.add(joint)) == {POLICE}
    assert set(case.add(make(CriminalCaseUpdated, POLICE, criminal_case_ref="CR-1", stage="charged"))) == {CAM}
    got = case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN,
                        crime_suspected=True))
    assert got[POLICE].paragraph == "6.5–6.6"
    unconsulted = make(SocialAssessmentCompleted, CAM, conclusion=SocialAssessmentConclusion.SIGNIFICANT_HARM)
    assert (case.rejects(unconsulted).paragraph, case.rejects(unconsulted).field) == ("6.29", "police_consulted")
    got = case.add(make(SocialAssessmentCompleted, CAM, conclusion=SocialAssessmentConclusion.SIGNIFICANT_HARM,
                        police_consulted=True))
    assert got[POLICE].paragraph == "6.29"
    assert set(case.add(make(FamilyTracingUpdated, CAM, status=TracingStatus.STARTED))) == \
        {"guardianship-almaty", POLICE}


def test_reunification_conclusion_leads_to_a_meeting(directory: Directory) -> None:
    case = requested(directory)
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN))
    case.add(make(SocialAssessmentCompleted, CAM,
                  conclusion=SocialAssessmentConclusion.REUNIFICATION_WITH_TRACED_PARENTS))
    case.add(make(ChildProtectionMeetingScheduled, CAM, meeting_id="M-1", scheduled_for=T0,
                  invited_agency_ids=["school-almaty"]))   # 6.31(b), 6.32


def test_consent_application_and_court_recommendation_are_routed(directory: Directory) -> None:
    case = requested(directory)
    refused = Consent(subject=ConsentSubject.MEDICAL_EXAMINATION, child_age_years=6, parent_consented=False,
                      child_has_sufficient_maturity=False, in_writing=True)
    got = case.add(make(MedicalExaminationConsentRecorded, CAM, consent=refused))
    assert got["guardianship-almaty"].purpose == "application" and got["guardianship-almaty"].paragraph == "6.15"
    got = case.add(make(TemporaryCareRecommended, CAM, recommended_form=TemporaryCareForm.FAMILY_BASED,
                        decision_body="court"))
    assert got["court-almaty"].paragraph == "6.16"
