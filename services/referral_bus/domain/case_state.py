"""A case's state: what the events on its case log have established. Pure data, read by the
steps' checks and routes (``pathways/``) and changed only by their folds (``decisions.fold``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from referral_bus.contracts.base import City
from referral_bus.contracts.care_events import (
    CarePlacement,
    PlacementKind,
    TracingStatus,
)
from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.contracts.events import (
    AssessmentOutcome,
    MeetingDecision,
    MeetingPurpose,
    ReferralKind,
    SocialAssessmentConclusion,
)
from referral_bus.contracts.violence_events import FollowUpOf
from referral_bus.domain.chain import GENESIS


@dataclass
class CareState:
    """What the CAM/CSC's later work has established on a case."""

    age_assessed: bool = False
    tracing: TracingStatus | None = None
    medical_consent_problems: list[str] | None = None   # None: no consent recorded yet
    medical_consent: Consent | None = None               # the latest consent recorded (6.14–6.15)
    #: 6.15: the Guardianship's or court's decision on the CAM/CSC Manager's application (None: none yet)
    medical_authorised: bool | None = None
    #: 6.15 (issue 15): the body the pending application went to ("guardianship" or "court"; None: none)
    medical_application_to: str | None = None
    temporary_care_recommended: bool = False
    placements: set[PlacementKind] = field(default_factory=set)   # residential placements under review
    #: plan id → the invited members of the meeting that decided it (6.44: they receive the plan)
    protection_plans: dict[str, list[str]] = field(default_factory=dict)
    plan_ended: bool = False                       # a review recommended 6.47(e)
    reassessment_due: bool = False                 # 6.47(c)–(d), 6.50
    amendments_due: set[str] = field(default_factory=set)          # plan ids: 6.49, 6.77
    reasons_due: set[str] = field(default_factory=set)             # meeting ids: 6.48, 6.76
    care_plan_id: str | None = None
    care_plan_members: list[str] = field(default_factory=list)
    care_plan_placement: CarePlacement | None = None
    care_plan_ends_on: date | None = None
    return_plans: set[str] = field(default_factory=set)   # plan ids providing for a return abroad (6.41(e))
    #: 6.58 (issue 15): return plans that record the check of the bars (a)–(d), none found
    return_plans_checked: set[str] = field(default_factory=set)
    return_permitted: bool | None = None       # 6.57–6.58: None until the return assessment
    integration_assessed: bool = False         # 6.59 (issue 15): after a negative return assessment
    transferred_abroad: bool = False
    safe_arrival_confirmed: bool = False
    left_care: bool = False
    #: 6.75(c): the child left care to be subject to a child protection plan, not yet finalised
    protection_plan_after_care_due: bool = False
    turned_18: bool = False
    leaving_care_review_clear: bool = False
    independent_supporter: bool = False

    @property
    def active_plan(self) -> bool:
        return bool(self.protection_plans) and not self.plan_ended


@dataclass
class NGOProgrammeState:
    """Per NGO (by agency id): consents, service providers, legal advice."""

    consent_problems: dict[tuple[str, ConsentSubject], list[str]] = field(default_factory=dict)
    service_providers: dict[str, list[str]] = field(default_factory=dict)   # NGO id → providers (7.8)
    #: 7.8–7.9: NGO id → the event id of its service plan in force (what a ServicePlanSigned names)
    plan_in_force: dict[str, UUID] = field(default_factory=dict)
    #: 7.9: NGOs whose plan in force amends an earlier one (its providers' written consent is owed)
    amended: set[str] = field(default_factory=set)
    #: 7.8–7.9: NGO id → the providers that signed its plan in force themselves (ServicePlanSigned)
    signed: dict[str, set[str]] = field(default_factory=dict)
    closed: set[str] = field(default_factory=set)

    def consent_ok(self, ngo_id: str, subject: ConsentSubject) -> bool:
        return self.consent_problems.get((ngo_id, subject)) == []


@dataclass
class ViolenceState:
    suspected: bool = False
    written_notice_sent: bool = False
    violence_confirmed: bool | None = None
    #: seed 002 SOP: the agency of the social worker responsible for the confirmed case (the case team's)
    responsible_agency_id: str | None = None
    #: helpline or school that raised a flag → what it raised (owed feedback on the follow-up)
    flags_raised: dict[str, FollowUpOf] = field(default_factory=dict)
    #: applications for special social services not yet reviewed, oldest first: who recorded each
    special_services_applications: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RaisedEscalation:
    """An escalation the SLA processor raised on this case: who missed what, and whom it reached."""

    deadline_id: UUID
    level: int
    paragraph: str
    responsible_agency_id: str | None
    escalated_to_agency_id: str | None


@dataclass
class ReferralRecord:
    """One ``ReferralMade`` on the case log, as a withdrawal (issue 15) needs it: who made it (and for
    an oral request the NGO recorded, whom it names, 5.16–5.17), where it went, and what became of it."""

    producer: str
    kind: ReferralKind
    city: City
    child_age_years: int
    on_behalf_of: str | None = None
    #: how many events the case had once the referral was folded: later events are ``event_types[position:]``
    position: int = 0
    withdrawn: bool = False
    #: an EmergencyRemovalRequested (4.7), withdrawable by its requester until the police act on it (issue 15)
    removal_request: bool = False

    @property
    def referrers(self) -> frozenset[str]:
        """Who may withdraw it: the agency that made it, and the referrer an oral request names."""
        return frozenset({self.producer} | ({self.on_behalf_of} if self.on_behalf_of else set()))


@dataclass
class JusticeState:
    in_custody: bool = False
    proceedings: set[str] = field(default_factory=set)            # criminal case refs against/about the child
    programmes: dict[str, str] = field(default_factory=dict)      # programme id → referring agency id
    completed_programmes: dict[str, str] = field(default_factory=dict)  # the same, once completed (follow-up)
    #: 6.7: interviews planned (``ChildInterviewPlanned``) and not yet held, by interview ref
    planned_interviews: set[str] = field(default_factory=set)
    #: seed 003: probation orders under supervision: criminal case ref → the court that ordered it
    probation_orders: dict[str, str] = field(default_factory=dict)


@dataclass
class CaseState:
    """One case as its events so far have left it: the chain position, who referred and was told,
    assessments, meetings, criminal cases, and a sub-state per later pathway."""

    case_id: str
    city: City | None = None
    #: issue 15, out-of-area child: the City/Oblast of the child's family and home case, as last stated
    #: by a ReferralMade, EmergencyRemovalRequested or EmergencyRemoval (the latest statement wins; one
    #: that omits it leaves it). Its CAM/CSC (Guardianship under 3) is told (pathways/base.py to_home_city)
    home_city: City | None = None
    #: the home city an out-of-area notification with the child's details went to (issue 15): a later
    #: removal tells it redacted, as an outcome (6.24)
    home_city_notified: City | None = None
    child_age_years: int | None = None
    last_sequence: int = 0
    last_hash: str = GENESIS
    last_recorded_at: datetime | None = None
    #: event id → its sequence and content fingerprint (``logged``): idempotency by event id. One
    #: entry per event on the log, so both sides are bytes (``note_logged``): the id's 16 bytes, and
    #: the sequence and the digest packed in one object — ~120 bytes against ~240 for a UUID and a
    #: tuple of an int and a digest (issue 13 item 1).
    events: dict[bytes, bytes] = field(default_factory=dict)
    event_types: list[str] = field(default_factory=list)
    #: escalation id → the escalation (from the SLA processor's records, not the case log): who may
    #: acknowledge it
    escalations: dict[UUID, RaisedEscalation] = field(default_factory=dict)
    child_protection_referrers: list[str] = field(default_factory=list)
    referred_to_cam: bool = False
    ngo_referrals_pending: dict[UUID, str] = field(default_factory=dict)  # referral event id → NGO id
    #: referral event id → the referral (ReferralWithdrawn names one)
    referrals: dict[UUID, ReferralRecord] = field(default_factory=dict)
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
    #: 6.43: meetings whose draft minutes were circulated to the members (what a PlanApproved of them approves)
    minutes_circulated: set[str] = field(default_factory=set)
    #: 6.23, 6.39(b): a referral on to support services is owed before the case closes — (paragraph, position
    #: in ``event_types`` of the finding): an NGO_SUPPORT referral at a later position meets it
    support_referral_owed: tuple[str, int] | None = None
    age_disputed: bool = False                                                   # 6.8–6.9
    open_criminal_cases: set[str] = field(default_factory=set)
    parent_found_guilty: bool = False
    closed: bool = False
    #: the later pathways (domain/pathways/)
    care: CareState = field(default_factory=CareState)
    ngo: NGOProgrammeState = field(default_factory=NGOProgrammeState)
    violence: ViolenceState = field(default_factory=ViolenceState)
    justice: JusticeState = field(default_factory=JusticeState)

    def note_logged(self, event_id: UUID, sequence: int, fingerprint: bytes) -> None:
        self.events[event_id.bytes] = sequence.to_bytes(8, "big") + fingerprint

    def logged(self, event_id: UUID) -> tuple[int, bytes] | None:
        """(sequence, content fingerprint) of an event on this case's log; ``None``: not on it."""
        packed = self.events.get(event_id.bytes)
        return None if packed is None else (int.from_bytes(packed[:8], "big"), packed[8:])

    @property
    def exists(self) -> bool:
        return self.last_sequence > 0

    def referrers(self) -> list[str]:
        """Who made the child protection referral (owed the outcome under 6.21–6.23)."""
        return list(dict.fromkeys(self.child_protection_referrers or self.removal_producers))
