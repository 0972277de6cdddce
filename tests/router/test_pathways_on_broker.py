"""Each pathway after the core, end to end through the router process on the broker: the events
are accepted in the protocol's order, refused out of it with the paragraph, and land in the inboxes
the protocol names (confidential material only with invited members, outcomes to referrers redacted,
admission criteria as advice)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from referral_bus.contracts.base import City, Event
from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.contracts.care_events import (
    CarePlacement,
    CarePlanAgreed,
    CarePlanDecision,
    CarePlanReviewed,
    CarePlanReviewReportIssued,
    ChildLeftCare,
    ChildProtectionPlanFinalised,
    LeavingCareReviewCompleted,
)
from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.contracts.events import (
    AssessmentOutcome,
    CaseClosed,
    ChildProtectionMeetingHeld,
    ChildProtectionMeetingScheduled,
    ClosureGround,
    EmergencyRemoval,
    InitialAssessmentCompleted,
    LegalMatter,
    MeetingDecision,
    MeetingPurpose,
    NGODecision,
    NGODecisionKind,
    NGOFirstContactMade,
    NGOInitialMeetingHeld,
    NGOStaffRole,
    ReferralKind,
    ReferralMade,
    ServicePlanAgreed,
    SocialAssessmentCompleted,
    SocialAssessmentConclusion,
    SupportService,
)
from referral_bus.contracts.justice_events import (
    ChildInterviewed,
    ChildRole,
    InterviewProfessional,
    PoliceCustodyEnded,
    PoliceCustodyStarted,
    ProceedingsTerminated,
    ProgrammeCompleted,
    ProgrammeEnrolled,
)
from referral_bus.contracts.ngo_events import NGOConsentRecorded
from referral_bus.contracts.violence_events import (
    MedicalWrittenNoticeSent,
    MultidisciplinaryEvaluationCompleted,
    ViolenceSuspectedByMedicalStaff,
)
from referral_bus.sdk import AgencyClient, PublishError
from tests.broker_helpers import read_topic
from tests.builders import case_id
from tests.conftest import Bus

pytestmark = pytest.mark.broker

MEMBERS = ["police-juvenile-almaty", "school-almaty", "health-almaty"]


@pytest.fixture(scope="module")
def agencies(bus: Bus) -> Iterator[dict[str, AgencyClient]]:
    ids = ["police-juvenile-almaty", "cam-almaty", "school-almaty", "ngo-rodnik", "health-almaty",
           "prosecutor-almaty"]
    clients = {agency: AgencyClient(agency, actor_id="staff-1", runtime=bus.runtime) for agency in ids}
    yield clients
    for client in clients.values():
        client.close()


def send(client: AgencyClient, event_type: type[Event], case: str, **fields: Any) -> Receipt:
    receipt = client.publish(client.event(event_type, case_id=case, **fields), wait_for_receipt=True)
    assert receipt is not None
    return receipt


def accepted(client: AgencyClient, event_type: type[Event], case: str, **fields: Any) -> None:
    receipt = send(client, event_type, case, **fields)
    assert receipt.status is ReceiptStatus.ACCEPTED, receipt.reason


def inbox(bus: Bus, agency: str, case: str) -> list[tuple[str, dict[str, str]]]:
    """(event type, delivery headers) delivered to ``agency`` about ``case``, in order."""
    return [(r.record.event_type(), r.headers) for r in read_topic(bus.runtime, "inbox", agency=agency)
            if r.key == case.encode()]


def types_in(bus: Bus, agency: str, case: str) -> list[str]:
    return [event_type for event_type, _ in inbox(bus, agency, case)]


def to_care_plan_meeting(agencies: dict[str, AgencyClient], case: str, decision: MeetingDecision) -> None:
    police, cam = agencies["police-juvenile-almaty"], agencies["cam-almaty"]
    accepted(police, EmergencyRemoval, case, city=City.ALMATY, child_age_years=10, child_removed=True,
             cam_social_worker_present=True)
    accepted(cam, InitialAssessmentCompleted, case, outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN)
    accepted(cam, SocialAssessmentCompleted, case, conclusion=SocialAssessmentConclusion.SIGNIFICANT_HARM)
    accepted(cam, ChildProtectionMeetingScheduled, case, meeting_id="M-1", invited_agency_ids=MEMBERS,
             scheduled_for=datetime.now(UTC) + timedelta(days=6))
    accepted(cam, ChildProtectionMeetingHeld, case, meeting_id="M-1", decision=decision)


def test_care_plan_pathway_to_closure_after_leaving_care(bus: Bus, agencies: dict[str, AgencyClient]) -> None:
    case, cam = case_id("CARE"), agencies["cam-almaty"]
    to_care_plan_meeting(agencies, case, MeetingDecision.CARE_PLAN)
    start = date.today()
    plan = send(cam, ChildProtectionPlanFinalised, case, plan_id="P-1", meeting_id="M-1", commences_on=start,
                first_review_by=start + timedelta(days=30))
    assert (plan.status, plan.reason_code, plan.paragraph) == (ReceiptStatus.REJECTED, "ILLEGAL_TRANSITION",
                                                               "6.40, 6.44")
    accepted(cam, CarePlanAgreed, case, care_plan_id="CP-1", placement=CarePlacement.FOSTER_FAMILY,
             commences_on=start, first_review_by=start + timedelta(days=28), ends_on=start + timedelta(days=400))
    accepted(cam, ChildProtectionMeetingScheduled, case, meeting_id="CR-1", purpose=MeetingPurpose.CARE_PLAN_REVIEW,
             invited_agency_ids=MEMBERS[1:], scheduled_for=datetime.now(UTC) + timedelta(days=20))
    accepted(cam, CarePlanReviewReportIssued, case, meeting_id="CR-1")
    accepted(cam, CarePlanReviewed, case, care_plan_id="CP-1", meeting_id="CR-1",
             decision=CarePlanDecision.CONTINUE_AS_DRAFTED, child_attended=True)   # 6.65 (issue 15)
    closing = send(cam, CaseClosed, case, ground=ClosureGround.ONE_YEAR_REVIEW_AFTER_CARE)
    assert (closing.status, closing.paragraph) == (ReceiptStatus.REJECTED, "6.78(b)")
    accepted(cam, ChildLeftCare, case, care_plan_id="CP-1", after_care_agency_id="social-protection-almaty")
    accepted(cam, LeavingCareReviewCompleted, case, no_reasonable_cause_for_concern=True)
    accepted(cam, CaseClosed, case, ground=ClosureGround.ONE_YEAR_REVIEW_AFTER_CARE)
    # 6.69: the review's material reached its invited members only — the police were not invited to CR-1
    assert "CarePlanReviewReportIssued" in types_in(bus, "school-almaty", case)
    assert "CarePlanReviewReportIssued" not in types_in(bus, "police-juvenile-almaty", case)
    # the referrer (the removing inspector) learns that the child left care, without details (6.24)
    [(_, left)] = [(t, h) for t, h in inbox(bus, "police-juvenile-almaty", case) if t == "ChildLeftCare"]
    assert left["rb-redacted"] == "true"


def test_ngo_legal_pathway_with_advice_and_consent(bus: Bus, agencies: dict[str, AgencyClient]) -> None:
    case, school, ngo = case_id("NGO"), agencies["school-almaty"], agencies["ngo-rodnik"]
    accepted(school, ReferralMade, case, referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=16,
             services_requested=[SupportService.LEGAL], legal_matters=[LegalMatter.SAFE_RETURN],
             already_represented=True)
    [(_, headers)] = inbox(bus, "ngo-rodnik", case)
    advice = json.loads(headers["rb-advice"])
    assert any(a.startswith("5.7") for a in advice) and any(a.startswith("5.9(c)") for a in advice)
    accepted(ngo, NGODecision, case, decision=NGODecisionKind.ACCEPTED)
    accepted(ngo, NGOFirstContactMade, case, by_role=NGOStaffRole.LAWYER)
    accepted(ngo, NGOInitialMeetingHeld, case, by_role=NGOStaffRole.LAWYER)
    plan = send(ngo, ServicePlanAgreed, case, by_role=NGOStaffRole.LAWYER)
    assert (plan.status, plan.paragraph) == (ReceiptStatus.REJECTED, "5.9(c)–(d)")
    accepted(ngo, NGOConsentRecorded, case, consent=Consent(subject=ConsentSubject.LEGAL_SERVICES, child_age_years=16,
                                                            child_consented=True, in_writing=True))
    accepted(ngo, ServicePlanAgreed, case, by_role=NGOStaffRole.LAWYER)
    assert types_in(bus, "school-almaty", case) == ["NGODecision"]   # 5.18–5.20; nothing else reaches the referrer


def test_medical_staff_violence_pathway(bus: Bus, agencies: dict[str, AgencyClient]) -> None:
    case, health = case_id("VAC"), agencies["health-almaty"]
    accepted(health, ViolenceSuspectedByMedicalStaff, case, city=City.ALMATY, child_age_years=5)
    accepted(health, MultidisciplinaryEvaluationCompleted, case, violence_confirmed=True)
    accepted(health, MedicalWrittenNoticeSent, case)
    for agency in ("guardianship-almaty", "commission-almaty", "social-protection-almaty", "school-almaty"):
        assert types_in(bus, agency, case) == ["MedicalWrittenNoticeSent"] or \
            types_in(bus, agency, case) == ["MultidisciplinaryEvaluationCompleted", "MedicalWrittenNoticeSent"]
    assert types_in(bus, "police-juvenile-almaty", case) == [
        "ViolenceSuspectedByMedicalStaff", "MultidisciplinaryEvaluationCompleted", "MedicalWrittenNoticeSent"]


def test_justice_pathway_custody_to_programme_feedback(bus: Bus, agencies: dict[str, AgencyClient]) -> None:
    case, police, prosecutor, ngo = (case_id("JUS"), agencies["police-juvenile-almaty"], agencies["prosecutor-almaty"],
                                     agencies["ngo-rodnik"])
    accepted(police, PoliceCustodyStarted, case, city=City.ALMATY, child_age_years=15, criminal_case_ref="CR-7")
    accepted(police, ChildInterviewed, case, child_role=ChildRole.IN_CONFLICT_WITH_LAW,
             professionals_present=[InterviewProfessional.INVESTIGATOR, InterviewProfessional.LAWYER])
    accepted(police, PoliceCustodyEnded, case)
    with pytest.raises(PublishError, match=r"ProceedingsTerminated\.legal_basis: .*legal basis \(seed 003\)"):
        prosecutor.event(ProceedingsTerminated, case_id=case, criminal_case_ref="CR-7", legal_basis=" ")
    accepted(prosecutor, ProceedingsTerminated, case, criminal_case_ref="CR-7", legal_basis="CPC art. 35(1)",
             alternative_measure=True)
    accepted(ngo, ProgrammeEnrolled, case, programme_id="PG-1", referring_agency_id="prosecutor-almaty")
    accepted(ngo, ProgrammeCompleted, case, programme_id="PG-1", goals_met=True)
    assert types_in(bus, "prosecutor-almaty", case) == ["PoliceCustodyStarted", "PoliceCustodyEnded",
                                                        "ProgrammeEnrolled", "ProgrammeCompleted"]
    feedback = inbox(bus, "prosecutor-almaty", case)[-1][1]
    assert feedback["rb-redacted"] == "true" and feedback["rb-paragraph"].startswith("seed 003")
