"""Which kinds of agency may publish which event types, with the paragraph that gives them the duty."""

from __future__ import annotations

from ..contracts.base import Event
from ..contracts.events import ReferralMade
from .agencies import Agency, AgencyKind, Directory
from .rejections import Code, Rejection

_ANY = frozenset(AgencyKind)

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
