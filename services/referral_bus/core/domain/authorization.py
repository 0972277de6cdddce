"""Which kinds of agency may publish which event types, with the paragraph that gives them the duty."""

from __future__ import annotations

from ..contracts.base import Event
from ..contracts.events import ReferralMade
from .agencies import Agency, AgencyKind, Directory
from .rejections import Code, Rejection

_ANY = frozenset(AgencyKind)
_CAM = frozenset({AgencyKind.CAM_CSC})
_NGO = frozenset({AgencyKind.NGO})

#: event type → (agency kinds allowed to publish it, paragraph)
PRODUCERS: dict[str, tuple[frozenset[AgencyKind], str]] = {
    "ReferralMade": (_ANY, "4.5, 5.2"),  # "a professional" — any agency
    "GuardianshipNotified": (_ANY, "4.5(b)(ii)"),
    "EmergencyRemoval": (frozenset({AgencyKind.POLICE, AgencyKind.GUARDIANSHIP, AgencyKind.CAM_CSC}), "4.7–4.8"),
    "RemovalOutcomeReported": (frozenset({AgencyKind.POLICE}), "4.8"),
    "ProsecutorNotified": (frozenset({AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP}), "4.9"),
    "InitialAssessmentCompleted": (frozenset({AgencyKind.CAM_CSC}), "6.3"),
    "SocialAssessmentCompleted": (frozenset({AgencyKind.CAM_CSC}), "6.26–6.28"),
    "ChildProtectionMeetingScheduled": (frozenset({AgencyKind.CAM_CSC}), "6.32–6.33"),
    "MeetingAttendanceDeclined": (_ANY, "6.34"),    # an invited professional (checked as a transition)
    "ProfessionalReportSubmitted": (_ANY, "6.34"),
    "ChildProtectionMeetingHeld": (frozenset({AgencyKind.CAM_CSC}), "6.35–6.39"),
    "CriminalCaseOpened": (frozenset({AgencyKind.POLICE, AgencyKind.PROSECUTOR}), "6.5–6.7, 6.25"),
    "CriminalCaseConcluded": (frozenset({AgencyKind.POLICE, AgencyKind.PROSECUTOR, AgencyKind.COURT}), "6.25"),
    "CaseClosed": (frozenset({AgencyKind.CAM_CSC}), "6.51, 6.52, 6.78, 6.79"),
    "NGODecision": (frozenset({AgencyKind.NGO}), "5.18"),
    "NGOFirstContactMade": (frozenset({AgencyKind.NGO}), "7.1"),
    "NGOInitialMeetingHeld": (frozenset({AgencyKind.NGO}), "7.2"),
    "ServicePlanAgreed": (frozenset({AgencyKind.NGO}), "7.3"),
    # whoever an escalation reached; the paragraph is the breached rule's, checked by the SLA engine
    "EscalationAcknowledged": (_ANY, "escalation ladder (issue 4)"),
    "ChildAgeRecorded": (frozenset({AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP}), "4.5, 6.74(a), 6.78(a)"),
    "EmergencyRemovalRequested": (_ANY, "4.7"),   # "whenever a professional believes …"
    "CourtClaimRequested": (frozenset({AgencyKind.GUARDIANSHIP}), "4.7 (Family Code art. 82)"),
    "CriminalCaseUpdated": (frozenset({AgencyKind.POLICE, AgencyKind.PROSECUTOR}), "6.25"),
    "JointHandlingAgreed": (frozenset({AgencyKind.POLICE, AgencyKind.CAM_CSC}), "6.5–6.6, 6.13"),
    "PlanApproved": (_ANY, "6.43, 6.44, 6.60"),     # a member of the plan or meeting (checked as a transition)
    "ReturnAssessmentCompleted": (_CAM, "6.57–6.59"),
    "ServiceRequested": (_NGO, "7.7"),
    # the CAM/CSC's later work (6.8–6.79)
    "AgeAssessmentCompleted": (_CAM, "6.9–6.11"),
    "FamilyTracingUpdated": (_CAM, "6.12"),
    "MedicalExaminationConsentRecorded": (frozenset({AgencyKind.CAM_CSC, AgencyKind.POLICE, AgencyKind.HEALTH}),
                                          "6.14–6.15"),
    "MedicalExaminationCompleted": (frozenset({AgencyKind.CAM_CSC, AgencyKind.POLICE, AgencyKind.HEALTH}), "6.13"),
    "TemporaryCareRecommended": (_CAM, "6.16"),
    "TemporaryCareDecided": (frozenset({AgencyKind.GUARDIANSHIP, AgencyKind.COMMISSION, AgencyKind.COURT}), "6.17"),
    "PlacementReviewed": (frozenset({AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP}), "6.19(b), 6.56"),
    "PlacementEnded": (frozenset({AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP}), "6.18(e), 6.56"),
    "ChildProtectionPlanFinalised": (_CAM, "6.44"),
    "ChildProtectionPlanReviewed": (_CAM, "6.45, 6.70"),
    "ReviewRecommendationsRejected": (_CAM, "6.48, 6.76"),
    "ChildProtectionPlanAmended": (_CAM, "6.49"),
    "CaseTransferredAbroad": (_CAM, "6.52, 6.79"),
    "SafeArrivalConfirmed": (_CAM, "6.52, 6.79"),  # the CAM/CSC records the receiving case manager's confirmation
    "CarePlanAgreed": (_CAM, "6.53"),
    "CarePlanReviewReportIssued": (_CAM, "6.66"),
    "CarePlanReviewed": (_CAM, "6.61, 6.70"),
    "CarePlanAmended": (_CAM, "6.77"),
    "TransitionFromCarePlanned": (_CAM, "6.75"),
    "ChildLeftCare": (_CAM, "6.75"),
    "LeavingCareReviewCompleted": (_CAM, "6.78(b)"),
    "IndependentSupporterAssigned": (frozenset({AgencyKind.CAM_CSC, AgencyKind.NGO}), "6.36, 6.63(b), 6.65"),
    # the NGO programme (5.9–5.13, 7.8–7.19)
    "NGOConsentRecorded": (_NGO, "5.9(c)–(d), 5.12(d), 7.17"),
    "NGOLegalAdviceProvided": (_NGO, "7.14"),
    "ServiceProgressReported": (_ANY, "7.9"),     # a provider that signed the plan (checked as a transition)
    "NGOCaseClosed": (_NGO, "7.10, 7.15, 7.19"),
    # seed 002: violence against children
    "ViolenceSuspectedByMedicalStaff": (frozenset({AgencyKind.HEALTH}), "seed 002 SOP (2020)"),
    "MedicalWrittenNoticeSent": (frozenset({AgencyKind.HEALTH}), "seed 002 SOP (2020)"),
    "MultidisciplinaryEvaluationCompleted": (frozenset({AgencyKind.HEALTH}), "seed 002 SOP (2020)"),
    "HelplineRedirected": (frozenset({AgencyKind.HELPLINE}), "seed 002 (helplines 111, 150)"),
    "SchoolScreeningFlagRaised": (frozenset({AgencyKind.SCHOOL}), "seed 002 (school screening)"),
    "FollowUpRecorded": (frozenset({AgencyKind.POLICE, AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP, AgencyKind.NGO,
                                    AgencyKind.HEALTH}), "seed 002 (follow-up of helpline calls and school flags)"),
    # seed 003: child-friendly justice
    "PoliceCustodyStarted": (frozenset({AgencyKind.POLICE}), "seed 003 (72-hour custody)"),
    "PoliceCustodyEnded": (frozenset({AgencyKind.POLICE, AgencyKind.COURT}), "seed 003"),
    "ChildInterviewed": (frozenset({AgencyKind.POLICE, AgencyKind.PROSECUTOR, AgencyKind.COURT, AgencyKind.CAM_CSC}),
                         "6.6–6.7, seed 003"),
    "ProceedingsTerminated": (frozenset({AgencyKind.POLICE, AgencyKind.PROSECUTOR, AgencyKind.COURT}), "seed 003"),
    "ProbationOrdered": (frozenset({AgencyKind.COURT}), "seed 003"),
    "ProgrammeEnrolled": (frozenset({AgencyKind.NGO, AgencyKind.PROBATION, AgencyKind.CAM_CSC}), "seed 003"),
    "ProgrammeReviewed": (frozenset({AgencyKind.NGO, AgencyKind.PROBATION, AgencyKind.CAM_CSC}), "seed 003"),
    "ProgrammeCompleted": (frozenset({AgencyKind.NGO, AgencyKind.PROBATION, AgencyKind.CAM_CSC}), "seed 003"),
}


def authorize(event: Event, directory: Directory, ingress_kind: AgencyKind | None) -> Agency:
    """The producing agency, if it exists, wrote to its own ingress topic and may emit this type."""
    agency_id = event.envelope.producer.agency_id
    agency = directory.get(agency_id)
    if agency is None:
        raise Rejection(Code.UNKNOWN_AGENCY, f"agency {agency_id!r} is not in the agency directory",
                        field="envelope.producer.agency_id")
    if ingress_kind is not None and agency.kind is not ingress_kind:
        raise Rejection(Code.WRONG_INGRESS_TOPIC,
                        f"agency {agency_id} ({agency.kind.value}) published on the {ingress_kind.value} ingress topic",
                        field="envelope.producer.agency_id")
    allowed, paragraph = PRODUCERS.get(event.event_type(), (frozenset(), ""))
    if agency.kind not in allowed:
        kinds = ", ".join(sorted(k.value for k in allowed)) or "nobody"
        raise Rejection(Code.AGENCY_NOT_ALLOWED,
                        f"a {agency.kind.value} agency may not publish {event.event_type()}; allowed: {kinds}",
                        paragraph=paragraph, field="envelope.event_type")
    city = getattr(event, "city", None)
    if isinstance(event, ReferralMade) or city is None:
        return agency
    if agency.cities and city not in agency.cities and agency.kind in (AgencyKind.CAM_CSC, AgencyKind.POLICE):
        raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{agency_id} does not serve {city.value}",
                        paragraph="4.6", field="city")
    return agency
