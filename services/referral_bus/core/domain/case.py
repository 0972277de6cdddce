"""A case's state, folded from its events on the case log, and the legal transitions between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from ..contracts.base import City, Event
from ..contracts.events import (
    AssessmentOutcome, EmergencyRemoval, GuardianshipNotified, InitialAssessmentCompleted, NGODecision,
    CaseClosed, ChildProtectionMeetingHeld, ChildProtectionMeetingScheduled, ClosureGround, CriminalCaseConcluded,
    CriminalCaseOpened, CriminalCaseOutcome, MeetingAttendanceDeclined, MeetingDecision, MeetingPurpose,
    NGODecisionKind,
    NGOFirstContactMade, NGOInitialMeetingHeld, ProfessionalReportSubmitted, ServicePlanAgreed,
    ProsecutorNotified, ReferralKind, ReferralMade, RemovalOutcomeReported, SocialAssessmentCompleted,
    SocialAssessmentConclusion,
)
from .agencies import AgencyKind, Directory
from .chain import GENESIS
from .pathways import STEPS
from .pathways.care import CareState
from .pathways.justice import JusticeState
from .pathways.ngo import NGOProgrammeState, apply_service_plan, check_service_plan
from .pathways.violence import ViolenceState
from .rejections import Code, Rejection

#: Event types that may start a case: a referral (4.5, 5.2), a removal (4.7), and the first
#: contacts of seeds 002 (medical staff, helplines, schools) and 003 (police custody).
OPENING_EVENTS = frozenset({"ReferralMade", "EmergencyRemoval", "EmergencyRemovalRequested",
                            "ViolenceSuspectedByMedicalStaff",
                            "HelplineRedirected", "SchoolScreeningFlagRaised", "PoliceCustodyStarted"})


@dataclass
class CaseState:
    case_id: str
    city: City | None = None
    child_age_years: int | None = None
    last_sequence: int = 0
    last_hash: str = GENESIS
    last_recorded_at: datetime | None = None
    #: event id → (sequence, content fingerprint): idempotency by event id.
    events: dict[UUID, tuple[int, str]] = field(default_factory=dict)
    event_types: list[str] = field(default_factory=list)
    child_protection_referrers: list[str] = field(default_factory=list)
    referred_to_cam: bool = False
    ngo_referrals_pending: dict[UUID, str] = field(default_factory=dict)  # referral event id → NGO id
    ngo_referrers: dict[str, str] = field(default_factory=dict)            # NGO id → referrer agency id
    ngo_accepted: set[str] = field(default_factory=set)                    # NGOs that took the case on (5.20)
    ngo_initial_meetings: set[str] = field(default_factory=set)            # 7.2 held, by NGO id
    removals_unreported: list[UUID] = field(default_factory=list)
    removal_producers: list[str] = field(default_factory=list)
    child_removed: bool = False
    initial_assessment: AssessmentOutcome | None = None
    social_assessment: SocialAssessmentConclusion | None = None
    #: meeting id → invited agency ids (6.33: who may see the meeting material)
    meetings: dict[str, list[str]] = field(default_factory=dict)
    meetings_held: set[str] = field(default_factory=set)
    meeting_purposes: dict[str, MeetingPurpose] = field(default_factory=dict)
    meeting_decisions: list[MeetingDecision] = field(default_factory=list)
    meeting_outcomes: dict[str, MeetingDecision] = field(default_factory=dict)   # meeting id → 6.39 decision
    age_disputed: bool = False                                                   # 6.8–6.9
    open_criminal_cases: set[str] = field(default_factory=set)
    parent_found_guilty: bool = False
    closed: bool = False
    #: the pathways after the core (core/domain/pathways/)
    care: CareState = field(default_factory=CareState)
    ngo: NGOProgrammeState = field(default_factory=NGOProgrammeState)
    violence: ViolenceState = field(default_factory=ViolenceState)
    justice: JusticeState = field(default_factory=JusticeState)

    @property
    def exists(self) -> bool:
        return self.last_sequence > 0

    def referrers(self) -> list[str]:
        """Who made the child protection referral (owed the outcome under 6.21–6.23)."""
        return list(dict.fromkeys(self.child_protection_referrers or self.removal_producers))

    def apply(self, event: Event, directory: Directory | None = None) -> None:
        """Fold one event that is already on the case log (sequence and hash set)."""
        env = event.envelope
        from .chain import content_fingerprint  # local: keeps the import graph flat
        self.events[env.event_id] = (env.sequence or self.last_sequence + 1, content_fingerprint(event))
        self.last_sequence = env.sequence or self.last_sequence + 1
        self.last_hash = env.hash or self.last_hash
        self.last_recorded_at = env.recorded_at or self.last_recorded_at
        self.event_types.append(event.event_type())
        if event.event_type() in OPENING_EVENTS:
            self.city = self.city or getattr(event, "city", None)
            self.child_age_years = getattr(event, "child_age_years", self.child_age_years)
        if isinstance(event, ReferralMade):
            self.age_disputed |= event.age_disputed
            if event.referral_kind is ReferralKind.CHILD_PROTECTION:
                self.child_protection_referrers.append(env.producer.agency_id)
                if event.child_age_years >= 3:
                    self.referred_to_cam = True
            else:
                ngo = directory.serving(AgencyKind.NGO, event.city) if directory else None
                ngo_id = ngo.id if ngo else ""
                self.ngo_referrals_pending[env.event_id] = ngo_id
                # 5.14–5.17: an oral request recorded by the NGO names the referrer owed the decision
                self.ngo_referrers[ngo_id] = event.on_behalf_of_agency_id or env.producer.agency_id
        elif isinstance(event, EmergencyRemoval):
            self.removal_producers.append(env.producer.agency_id)
            self.removals_unreported.append(env.event_id)
            if event.child_removed:
                self.child_removed = True
                self.referred_to_cam = True  # 4.7(c), 4.10
        elif isinstance(event, RemovalOutcomeReported):
            if self.removals_unreported:
                self.removals_unreported.pop(0)
            if event.child_removed:
                self.child_removed = True
                self.referred_to_cam = True
        elif isinstance(event, InitialAssessmentCompleted):
            self.initial_assessment = event.outcome
        elif isinstance(event, SocialAssessmentCompleted):
            self.social_assessment = event.conclusion
            self.care.reassessment_due = False   # 6.50: the new assessment was made
            self.parent_found_guilty = False     # 6.25: the assessment was updated
        elif isinstance(event, ChildProtectionMeetingScheduled):
            self.meetings[event.meeting_id] = list(event.invited_agency_ids)
            self.meeting_purposes[event.meeting_id] = event.purpose
        elif isinstance(event, ChildProtectionMeetingHeld):
            self.meetings_held.add(event.meeting_id)
            self.meeting_decisions.append(event.decision)
            self.meeting_outcomes[event.meeting_id] = event.decision
        elif isinstance(event, CriminalCaseOpened):
            self.open_criminal_cases.add(event.criminal_case_ref)
        elif isinstance(event, CriminalCaseConcluded):
            self.open_criminal_cases.discard(event.criminal_case_ref)
            self.parent_found_guilty |= event.outcome is CriminalCaseOutcome.PARENT_FOUND_GUILTY
        elif isinstance(event, CaseClosed):
            self.closed = True
        if isinstance(event, ReferralMade) and self.closed:  # a new referral reopens the case
            self.closed = False
        elif isinstance(event, NGOInitialMeetingHeld):
            self.ngo_initial_meetings.add(env.producer.agency_id)
        elif isinstance(event, ServicePlanAgreed):
            apply_service_plan(event, self)
        elif isinstance(event, NGODecision):
            if event.decision is NGODecisionKind.ACCEPTED:
                self.ngo_accepted.add(env.producer.agency_id)
            for referral_id, ngo_id in list(self.ngo_referrals_pending.items()):
                if ngo_id == env.producer.agency_id:
                    del self.ngo_referrals_pending[referral_id]
                    break
        step = STEPS.get(event.event_type())
        if step is not None and step.apply is not None:
            step.apply(event, self)


def check_transition(event: Event, state: CaseState) -> None:
    """Raise a Rejection naming the paragraph when ``event`` may not follow the case so far."""
    etype = event.event_type()
    producer = event.envelope.producer.agency_id
    if not state.exists and etype not in OPENING_EVENTS:
        raise Rejection(Code.UNKNOWN_CASE, f"case {state.case_id} has no events; a case starts with a referral "
                        "(4.5, 5.2) or an emergency removal (4.7)", paragraph="4.5, 4.7", field="envelope.case_id")
    if state.closed and not isinstance(event, ReferralMade):
        raise Rejection(Code.ILLEGAL_TRANSITION, f"case {state.case_id} is closed; a new referral (4.5, 5.2) "
                        "reopens it", paragraph="6.51, 6.78")
    step = STEPS.get(etype)
    if step is not None and step.check is not None:
        step.check(event, state)
    if isinstance(event, CaseClosed):
        check_closure(event, state)
    if isinstance(event, CriminalCaseConcluded) and event.criminal_case_ref not in state.open_criminal_cases:
        raise Rejection(Code.ILLEGAL_TRANSITION, f"no open criminal case {event.criminal_case_ref} on this case",
                        paragraph="6.25", field="criminal_case_ref")
    if isinstance(event, GuardianshipNotified) and not state.referred_to_cam:
        raise Rejection(Code.ILLEGAL_TRANSITION, "the Guardianship notice of 4.5(b)(ii) follows a referral of a "
                        "child aged 3 or above to the CAM/CSC, and this case has none", paragraph="4.5(b)(ii)")
    if isinstance(event, RemovalOutcomeReported) and not state.removals_unreported:
        raise Rejection(Code.ILLEGAL_TRANSITION, "no emergency removal on this case awaits its outcome report",
                        paragraph="4.8")
    if isinstance(event, ProsecutorNotified) and not state.child_removed:
        raise Rejection(Code.ILLEGAL_TRANSITION, "the prosecutor is notified of a removal, and no child has been "
                        "removed on this case", paragraph="4.9")
    if isinstance(event, InitialAssessmentCompleted):
        if not state.referred_to_cam:
            raise Rejection(Code.ILLEGAL_TRANSITION, "an initial assessment follows a referral to the CAM/CSC "
                            "(4.5(b), 4.7(c)) and this case has none", paragraph="6.3")
        if state.initial_assessment is not None:
            raise Rejection(Code.ILLEGAL_TRANSITION, "the initial assessment of this case is already completed",
                            paragraph="6.3")
    if isinstance(event, SocialAssessmentCompleted):
        if state.initial_assessment is not AssessmentOutcome.SIGNIFICANT_HARM_CONCERN:
            raise Rejection(Code.ILLEGAL_TRANSITION, "a full social assessment follows an initial assessment that "
                            "found reasonable grounds for concern of significant harm (6.21, 6.26)",
                            paragraph="6.26")
        if state.open_criminal_cases and not event.police_consulted:
            raise Rejection(Code.ILLEGAL_TRANSITION, "with a criminal case open, the CAM/CSC Manager consults the "
                            "police officer or juvenile inspector before formulating its conclusions",
                            paragraph="6.29", field="police_consulted")
        if state.social_assessment is not None and not (state.care.reassessment_due or state.parent_found_guilty):
            raise Rejection(Code.ILLEGAL_TRANSITION, "the social assessment of this case is already completed; it "
                            "is repeated when a review calls for it (6.47(c)–(d), 6.50) or a parent is found "
                            "guilty (6.25)", paragraph="6.28, 6.50")
    if isinstance(event, ChildProtectionMeetingScheduled):
        check_meeting_purpose(event, state)
        if event.meeting_id in state.meetings_held:
            raise Rejection(Code.ILLEGAL_TRANSITION, f"meeting {event.meeting_id} has already been held",
                            paragraph="6.33", field="meeting_id")
        if not event.invited_agency_ids:
            raise Rejection(Code.ILLEGAL_TRANSITION, "the professionals involved must be invited", paragraph="6.33",
                            field="invited_agency_ids")
    if isinstance(event, (MeetingAttendanceDeclined, ProfessionalReportSubmitted, ChildProtectionMeetingHeld)):
        invited = state.meetings.get(event.meeting_id)
        if invited is None:
            raise Rejection(Code.ILLEGAL_TRANSITION, f"no child protection meeting {event.meeting_id} is scheduled "
                            "on this case", paragraph="6.33", field="meeting_id")
        if event.meeting_id in state.meetings_held:
            raise Rejection(Code.ILLEGAL_TRANSITION, f"meeting {event.meeting_id} has already been held",
                            paragraph="6.34", field="meeting_id")
        purpose = state.meeting_purposes.get(event.meeting_id, MeetingPurpose.CHILD_PROTECTION_MEETING)
        if isinstance(event, ChildProtectionMeetingHeld) and purpose is not MeetingPurpose.CHILD_PROTECTION_MEETING:
            raise Rejection(Code.ILLEGAL_TRANSITION, f"meeting {event.meeting_id} is a {purpose.value}; its outcome "
                            "is recorded as ChildProtectionPlanReviewed or CarePlanReviewed", paragraph="6.46, 6.73",
                            field="meeting_id")
        if isinstance(event, MeetingAttendanceDeclined) and event.purpose is not purpose:
            raise Rejection(Code.ILLEGAL_TRANSITION, f"meeting {event.meeting_id} is a {purpose.value}, not a "
                            f"{event.purpose.value}", paragraph="6.34, 6.67", field="purpose")
        if not isinstance(event, ChildProtectionMeetingHeld) and producer not in invited:
            raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{producer} is not invited to meeting {event.meeting_id}; "
                            "its material is confidential to the invited members", paragraph="6.33",
                            field="envelope.producer.agency_id")
    if isinstance(event, (NGOFirstContactMade, NGOInitialMeetingHeld, ServicePlanAgreed)) \
            and producer not in state.ngo_accepted:
        raise Rejection(Code.ILLEGAL_TRANSITION, f"{producer} has not accepted this case onto its programme (5.20)",
                        paragraph="7.1")
    if isinstance(event, ServicePlanAgreed):
        if producer not in state.ngo_initial_meetings:
            raise Rejection(Code.ILLEGAL_TRANSITION, "the service plan follows the initial meeting with the child "
                            "and family", paragraph="7.3")
        check_service_plan(event, state)
    if isinstance(event, NGODecision) and producer not in state.ngo_referrals_pending.values():
        raise Rejection(Code.ILLEGAL_TRANSITION, f"no referral request to {producer} awaits a decision on this case",
                        paragraph="5.18")


def check_meeting_purpose(event: ChildProtectionMeetingScheduled, state: CaseState) -> None:
    """What must precede each kind of meeting: the social assessment (6.31–6.32), a plan in force
    for its review (6.45–6.46), a care plan in force for its review (6.61–6.63)."""
    known = state.meeting_purposes.get(event.meeting_id)
    if known is not None and known is not event.purpose:
        raise Rejection(Code.ILLEGAL_TRANSITION, f"meeting {event.meeting_id} was scheduled as a {known.value}",
                        paragraph="6.33", field="purpose")
    if state.care.turned_18:
        raise Rejection(Code.ILLEGAL_TRANSITION, "the child has turned 18; the case is transferred, not planned "
                        "(6.74(a), 6.78(a))", paragraph="6.78(a)")
    if event.purpose is MeetingPurpose.CHILD_PROTECTION_MEETING:
        if state.social_assessment not in (SocialAssessmentConclusion.SIGNIFICANT_HARM,
                                           SocialAssessmentConclusion.REUNIFICATION_WITH_TRACED_PARENTS):
            raise Rejection(Code.ILLEGAL_TRANSITION, "a child protection meeting follows a social assessment that "
                            "concluded the child is suffering or at risk of significant harm, or that the traced "
                            "parents can care for the child (6.31, 6.32)", paragraph="6.32")
    elif event.purpose is MeetingPurpose.PLAN_REVIEW:
        if not state.care.active_plan:
            raise Rejection(Code.ILLEGAL_TRANSITION, "a review meeting reviews a child protection plan in force, "
                            "and this case has none", paragraph="6.45", field="purpose")
    elif state.care.care_plan_id is None:
        raise Rejection(Code.ILLEGAL_TRANSITION, "a care plan review reviews a care plan in force, and this case "
                        "has none", paragraph="6.61", field="purpose")


def check_closure(event: CaseClosed, state: CaseState) -> None:
    """6.25 and the preconditions of each ground of closure, as the case log shows them."""
    if state.open_criminal_cases:
        raise Rejection(Code.ILLEGAL_TRANSITION, "the case file stays open until the criminal or administrative "
                        f"case is complete ({len(state.open_criminal_cases)} open)", paragraph="6.25")
    ground = event.ground
    if ground is ClosureGround.NO_CONCERN_FOUND:
        found = (state.initial_assessment is AssessmentOutcome.NO_CONCERN
                 or state.social_assessment is SocialAssessmentConclusion.NO_REASONABLE_CAUSE
                 or MeetingDecision.NO_FURTHER_ACTION in state.meeting_decisions)
        if not found or state.parent_found_guilty:
            raise Rejection(Code.ILLEGAL_TRANSITION, "closing for no concern needs an assessment or meeting that "
                            "found none (6.22, 6.30, 6.39(a)), and no parent found guilty since (6.25)",
                            paragraph="6.22, 6.30, 6.39(a)", field="ground")
    elif ground is ClosureGround.PLAN_NO_LONGER_NECESSARY:
        if MeetingDecision.CHILD_PROTECTION_PLAN not in state.meeting_decisions:
            raise Rejection(Code.ILLEGAL_TRANSITION, "closing because the child protection plan is no longer "
                            "necessary needs a plan decided under 6.39(c)", paragraph="6.51", field="ground")
        if state.care.protection_plans and not state.care.plan_ended:
            raise Rejection(Code.ILLEGAL_TRANSITION, "a finalised plan ends when a review finds it no longer "
                            "necessary (6.47(e)); no review has", paragraph="6.47(e), 6.51", field="ground")
        if not event.referred_to_support_services:
            raise Rejection(Code.ILLEGAL_TRANSITION, "the child and family are referred to appropriate support "
                            "services before the case is closed", paragraph="6.51",
                            field="referred_to_support_services")
    elif ground is ClosureGround.TURNED_18_CASE_TRANSFERRED:
        if not state.care.turned_18:
            raise Rejection(Code.ILLEGAL_TRANSITION, "closure at 18 needs the child's 18th birthday on the case "
                            "log (ChildAgeRecorded) or a discharge from care at 18 (ChildLeftCare)",
                            paragraph="6.78(a)", field="ground")
    elif ground is ClosureGround.SAFE_ARRIVAL_CONFIRMED:
        if not state.care.safe_arrival_confirmed:
            raise Rejection(Code.ILLEGAL_TRANSITION, "the case closes on the receiving case manager's confirmation "
                            "of the child's safe arrival, and none is recorded", paragraph="6.52, 6.79",
                            field="ground")
    elif ground is ClosureGround.ONE_YEAR_REVIEW_AFTER_CARE:
        if not state.care.leaving_care_review_clear:
            raise Rejection(Code.ILLEGAL_TRANSITION, "closure after leaving care needs the one-year review to find "
                            "no reasonable cause for concern", paragraph="6.78(b)", field="ground")
    if ground is not ClosureGround.TURNED_18_CASE_TRANSFERRED and state.care.care_plan_id is not None \
            and ground is not ClosureGround.SAFE_ARRIVAL_CONFIRMED:
        raise Rejection(Code.ILLEGAL_TRANSITION, f"care plan {state.care.care_plan_id} is in force; the child "
                        "leaves care first (6.75)", paragraph="6.75, 6.78", field="ground")
