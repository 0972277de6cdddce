"""Who must receive an accepted event, and under which paragraph (Annex B 4.5–4.10, 5.15, 5.18–5.20,
6.21–6.39; the later pathways route through ``pathways/``). Pure: (event, case so far, directory)
→ deliveries."""

from __future__ import annotations

from ..contracts.base import Event
from ..contracts.events import (
    AssessmentOutcome, CaseClosed, ChildProtectionMeetingHeld, ChildProtectionMeetingScheduled, CriminalCaseConcluded,
    CriminalCaseOpened, EmergencyRemoval, GuardianshipNotified, InitialAssessmentCompleted, MeetingAttendanceDeclined,
    NGODecision, NGODecisionKind, ProfessionalReportSubmitted, ProsecutorNotified, ReferralKind, ReferralMade,
    RemovalOutcomeReported, ServicePlanAgreed, SocialAssessmentCompleted,
)
from .agencies import AgencyKind, Directory
from .case import CaseState
from .deliveries import Delivery, agency_of as _agency
from .pathways import STEPS
from .pathways.base import to_referrers
from .pathways.ngo import admission_advice, check_on_behalf_of
from .rejections import Code, Rejection

__all__ = ["Delivery", "route"]


def route(event: Event, state: CaseState, directory: Directory) -> list[Delivery]:
    """Deliveries owed for ``event`` given the case before it. The producer never receives its own event."""
    city = getattr(event, "city", None) or state.city
    out: list[Delivery] = []
    if isinstance(event, ReferralMade):
        if event.referral_kind is ReferralKind.NGO_SUPPORT:
            producer = directory.get(event.envelope.producer.agency_id)
            if event.on_behalf_of_agency_id is not None:
                check_on_behalf_of(event, producer.kind if producer else None, directory)
            advice = admission_advice(event, producer.kind.value if producer else None)
            out.append(Delivery(_agency(directory, AgencyKind.NGO, city, "5.15"), "5.2, 5.15", "referral",
                                advice=advice))
        elif event.child_age_years < 3:
            out.append(Delivery(_agency(directory, AgencyKind.GUARDIANSHIP, city, "4.5(a)"), "4.5(a)", "referral"))
        else:
            out.append(Delivery(_agency(directory, AgencyKind.CAM_CSC, city, "4.6"), "4.5(b)(i), 4.6", "referral"))
            out.append(Delivery(_agency(directory, AgencyKind.GUARDIANSHIP, city, "4.5(b)(ii)"), "4.5(b)(ii)",
                                "notification"))
    elif isinstance(event, EmergencyRemoval):
        out.append(Delivery(_agency(directory, AgencyKind.GUARDIANSHIP, city, "4.7(a)"), "4.7(a)", "notification"))
        out.append(Delivery(_agency(directory, AgencyKind.POLICE, city, "4.7(b)"), "4.7(b)", "notification"))
        out.append(Delivery(_agency(directory, AgencyKind.CAM_CSC, city, "4.7(c)"), "4.7(c)", "referral"))
    elif isinstance(event, RemovalOutcomeReported):
        out.append(Delivery(_agency(directory, AgencyKind.CAM_CSC, city, "4.8"), "4.8", "notification"))
    elif isinstance(event, GuardianshipNotified):
        out.append(Delivery(_agency(directory, AgencyKind.GUARDIANSHIP, city, "4.5(b)(ii)"), "4.5(b)(ii)",
                            "notification"))
    elif isinstance(event, ProsecutorNotified):
        out.append(Delivery(_agency(directory, AgencyKind.PROSECUTOR, city, "4.9"), "4.9", "notification"))
    elif isinstance(event, InitialAssessmentCompleted):
        out += to_referrers(state, "6.21–6.24")
        out.append(Delivery(_agency(directory, AgencyKind.GUARDIANSHIP, city, "4.10"), "4.10", "outcome"))
        out.append(Delivery(_agency(directory, AgencyKind.COMMISSION, city, "4.10"), "4.10", "outcome"))
        if event.crime_suspected or state.open_criminal_cases:   # 6.5–6.6: the police handle it jointly
            out.append(Delivery(_agency(directory, AgencyKind.POLICE, city, "6.6"), "6.5–6.6", "notification"))
    elif isinstance(event, SocialAssessmentCompleted):
        # 6.30: the referrer is informed "in the same way as outlined in paragraphs 6.22 to 6.25"
        out += to_referrers(state, "6.30 (6.22–6.25)")
        out.append(Delivery(_agency(directory, AgencyKind.GUARDIANSHIP, city, "6.30"), "6.30", "outcome"))
        out.append(Delivery(_agency(directory, AgencyKind.COMMISSION, city, "6.30"), "6.30", "outcome"))
        if event.police_consulted:   # 6.29: the police officer consulted learns the conclusion
            out.append(Delivery(_agency(directory, AgencyKind.POLICE, city, "6.29"), "6.29", "outcome"))
    elif isinstance(event, ChildProtectionMeetingScheduled):
        for agency_id in event.invited_agency_ids:   # 6.33: the invitation and material, invited only
            if directory.get(agency_id) is None:
                raise Rejection(Code.NO_RECIPIENT, f"invited agency {agency_id!r} is not in the directory",
                                paragraph="6.33", field="invited_agency_ids")
            out.append(Delivery(agency_id, "6.33", "invitation"))
    elif isinstance(event, (MeetingAttendanceDeclined, ProfessionalReportSubmitted)):
        # 6.34: to the CAM/CSC, which shares the report with the other invited members only
        out += [Delivery(a, "6.34", "meeting material") for a in state.meetings.get(event.meeting_id, [])]
        out.append(Delivery(_agency(directory, AgencyKind.CAM_CSC, city, "6.34"), "6.34", "meeting material"))
    elif isinstance(event, ChildProtectionMeetingHeld):
        out += [Delivery(a, "6.39", "outcome") for a in state.meetings.get(event.meeting_id, [])]
        out.append(Delivery(_agency(directory, AgencyKind.GUARDIANSHIP, city, "6.39"), "6.39", "outcome"))
    elif isinstance(event, (CriminalCaseOpened, CriminalCaseConcluded)):
        # 6.6 joint handling; 6.25 the police keep the CAM/CSC Manager informed
        out.append(Delivery(_agency(directory, AgencyKind.CAM_CSC, city, "6.25"), "6.6, 6.25", "notification"))
    elif isinstance(event, CaseClosed):
        out += to_referrers(state, "6.51, 6.78")
        out.append(Delivery(_agency(directory, AgencyKind.GUARDIANSHIP, city, "6.51"), "6.51, 6.78", "outcome"))
    elif isinstance(event, NGODecision):
        referrer = state.ngo_referrers.get(event.envelope.producer.agency_id)
        if referrer:
            out.append(Delivery(referrer, "5.18–5.20", "outcome", redacted=True))
        if event.decision is NGODecisionKind.ACCEPTED \
                and state.initial_assessment is AssessmentOutcome.DIFFICULT_LIFE_SITUATION:
            # 6.23: the child protection referrer learns the child was referred to and accepted by the NGO
            out += to_referrers(state, "6.23")
    elif isinstance(event, ServicePlanAgreed):   # 7.8: the providers sign the plan
        out += [Delivery(a, "7.8", "plan") for a in event.service_provider_agency_ids if directory.get(a)]
        unknown = [a for a in event.service_provider_agency_ids if directory.get(a) is None]
        if unknown:
            raise Rejection(Code.NO_RECIPIENT, f"service provider {unknown[0]!r} is not in the directory",
                            paragraph="7.8", field="service_provider_agency_ids")
        # 7.9–7.10: a revised plan no longer using a provider tells it, so it stops the service
        earlier = state.ngo.service_providers.get(event.envelope.producer.agency_id, [])
        out += [Delivery(a, "7.9–7.10", "service ended") for a in earlier
                if a not in event.service_provider_agency_ids]
    elif (step := STEPS.get(event.event_type())) is not None and step.route is not None:
        out += step.route(event, state, directory)
    producer = event.envelope.producer.agency_id
    unique: dict[str, Delivery] = {}
    for delivery in out:
        if delivery.recipient_id != producer and delivery.recipient_id not in unique:
            unique[delivery.recipient_id] = delivery
    return list(unique.values())
