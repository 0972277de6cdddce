"""Case events agencies publish. Each class is one Avro record in ``schemas/avro/``; the paragraph
of Annex B (seed 001) that the event implements is in its docstring."""

from __future__ import annotations

from enum import Enum
from uuid import UUID

from pydantic import Field, model_validator

from referral_bus.contracts.base import (
    HOME_CITY,
    AgencyId,
    AgeOnRecord,
    AwareDatetime,
    ChildAge,
    City,
    Event,
    Identifier,
    Label,
    PersonalText,
    Reference,
    RuleViolation,
)


class ReferralKind(str, Enum):
    """Which Annex B pathway a referral starts."""

    CHILD_PROTECTION = "CHILD_PROTECTION"  # 4.5: to Guardianship (<3) or CAM/CSC (3+)
    NGO_SUPPORT = "NGO_SUPPORT"            # 5.2, 5.8, 5.11: referral request to the city's NGO


class SupportService(str, Enum):
    """Part 8 form, section E (Д1): services requested from the NGO."""

    SOCIAL = "SOCIAL"
    LEGAL = "LEGAL"
    PSYCHOLOGICAL = "PSYCHOLOGICAL"
    INDEPENDENT_SUPPORTER = "INDEPENDENT_SUPPORTER"


class LegalMatter(str, Enum):
    """5.6, 5.9(a): the legal matters the NGOs take on."""

    MIGRATION_STATUS_OR_DOCUMENTATION = "MIGRATION_STATUS_OR_DOCUMENTATION"
    ACCESS_TO_STATE_SERVICES = "ACCESS_TO_STATE_SERVICES"
    CHARGE_BASED_ON_MIGRATION_STATUS = "CHARGE_BASED_ON_MIGRATION_STATUS"
    SAFE_RETURN = "SAFE_RETURN"      # only at the CAM/CSC's request after a best interests determination
    OTHER = "OTHER"                  # outside 5.9(a)


#: Issue 15, out-of-area children: a bus rule modelled on the UK's CP-IS, where Annex B is silent.
class ReferralMade(Event):
    """A professional refers a child: child protection under 4.5 (routing of 4.6), or an NGO
    referral request under 5.2/5.8/5.11 with the fields of the Part 8 form (5.14–5.17)."""

    referral_kind: ReferralKind = Field(
        description="Which pathway the referral starts: CHILD_PROTECTION to the Guardianship (under 3) or the "
                    "CAM/CSC (3 and over) under 4.5, or NGO_SUPPORT, a referral request to the city's NGO under 5.2, "
                    "5.8, 5.11")
    city: City = Field(description="City/Oblast where the child is located (4.5, 5.9(b), 5.12(b))")
    child_age_years: ChildAge = Field(description="Age in whole years; routing under 4.5 depends on it")
    home_city: City | None = Field(default=None, description=HOME_CITY)   # issue 15: out-of-area child
    age_disputed: bool = Field(default=False, description="6.8–6.11: age not documented and disputed")
    immediate_risk: bool = Field(default=False, description="6.3(a): evidence of immediate risk of significant harm")
    referring_body: PersonalText | None = Field(default=None, description="Part 8 A2: the body the referrer represents")
    services_requested: list[SupportService] = Field(
        default_factory=list, description="Part 8 form, section E (Д1): the services requested from the NGO; at "
                                          "least one for an NGO_SUPPORT referral")
    receiving_other_services: bool | None = Field(
        default=None, description="Part 8 form, section E (Д3), 5.17(e): whether the State or other NGOs already "
                                  "provide services to the child or family; null if not known")
    family_informed: bool | None = Field(default=None, description="5.17(f): child and family told of the referral")
    family_willing: bool | None = Field(default=None,
                                        description="5.17(f): child and family willing to receive services")
    affected_by_migration: bool = Field(default=True, description="4.1, 5.12(a): the child is a CABM")
    child_located_in_city: bool = Field(default=True, description="5.9(b), 5.12(b): located in the City/Oblast")
    legal_matters: list[LegalMatter] = Field(default_factory=list, description="5.9(a): for LEGAL services")
    already_represented: bool = Field(default=False, description="5.7: a lawyer already acts for the child")
    complex_mental_health_needs: bool = Field(default=False, description="5.13: e.g. attempted suicide, "
                                                                         "clinical depression")
    on_behalf_of_agency_id: AgencyId | None = Field(
        default=None, description="5.14–5.17, Part 8: the NGO coordinator records an oral request; this names the "
                                  "referring agency, which is owed the decision (5.18)")
    need_identified_at: AwareDatetime | None = Field(
        default=None, description="5.2, 5.8, 5.11: when the professional identified that the child may be in "
                                  "difficult circumstances or need legal or counselling services; an NGO referral "
                                  "request is due within 1 working day of it. For a child protection referral "
                                  "(4.5), when the professional formed the reasonable cause to believe the child "
                                  "needs care and protection: the referral is due 'immediately' (the operator's "
                                  "policy threshold). Not after the referral (occurred_at)")

    @model_validator(mode="after")
    def _rules(self) -> ReferralMade:
        if self.referral_kind is ReferralKind.NGO_SUPPORT and not self.services_requested:
            raise RuleViolation("an NGO referral request names at least one service", "Part 8, section E",
                                field="services_requested")
        return self


class WithdrawalReason(str, Enum):
    """Why a referrer withdraws its referral (no free text: the reason is a category)."""

    DUPLICATE = "DUPLICATE"                              # the child was already referred (by this or another agency)
    MADE_IN_ERROR = "MADE_IN_ERROR"                      # wrong child, wrong case, wrong pathway
    CHILD_FOUND_ELSEWHERE = "CHILD_FOUND_ELSEWHERE"      # the child is in another city's or agency's care
    NO_LONGER_NEEDED = "NO_LONGER_NEEDED"                # the circumstances changed before anyone acted


class ReferralWithdrawn(Event):
    """The referrer withdraws a referral it made (a ``ReferralMade`` on this case's log) before the
    receiving agency acted on it — the CAM/CSC's initial assessment (6.3) or the NGO's decision
    (5.18). Annex B has no paragraph for it (a bus rule, issue 15): the agencies that received the
    referral are told, and the deadlines it opened (6.3, 6.9, 5.18) are withdrawn, not breached.
    A request for an emergency removal (4.7) is withdrawn the same way by the professional who made
    it, before the police acted on it (``EmergencyRemoval``): 4.7's and 6.3(a)'s deadlines go."""

    referral_event_id: UUID = Field(description="The envelope.event_id of the ReferralMade being withdrawn, or of "
                                                "an EmergencyRemovalRequested (4.7) the police have not yet acted "
                                                "on with an EmergencyRemoval")
    reason: WithdrawalReason = Field(
        description="Why the referral is withdrawn, as a category (duplicate, made in error, child found elsewhere, "
                    "no longer needed); never free text")


class NotificationChannel(str, Enum):
    BUS = "BUS"
    TELEPHONE = "TELEPHONE"
    IN_PERSON = "IN_PERSON"
    EMAIL = "EMAIL"
    WRITTEN = "WRITTEN"


class EmergencyRemovalRequested(Event):
    """4.7: a professional believes the child's health or life is in immediate danger and removal is
    needed: the Guardianship (a) and the juvenile inspection (b) are notified and the case referred to
    the CAM/CSC (c), immediately. The removal itself is ``EmergencyRemoval`` (4.8). Its requester
    may withdraw it until the police act on it (``ReferralWithdrawn``, issue 15)."""

    city: City = Field(
        description="4.7: the City/Oblast where the child is; its Guardianship, juvenile inspection and CAM/CSC are "
                    "notified")
    child_age_years: ChildAge = Field(
        description="The child's age in whole years, 0–17 (Annex B, part 2); it routes the case: under 3 to the "
                    "Guardianship and Tutelage Authority, from 3 to the CAM/CSC (4.5)")
    home_city: City | None = Field(default=None, description=HOME_CITY)   # issue 15: out-of-area child


class CourtClaimRequested(Event):
    """4.7 (box on Family Code art. 82): after removing a child the Guardianship asks the local executive
    body, through the Commission on Issues of Minors, to file a claim restricting or removing parental
    rights."""

    deprivation_sought: bool = Field(default=False, description="Deprivation rather than restriction")


class GuardianshipNotified(Event):
    """4.5(b)(ii): the referrer notified the Guardianship and Tutelage Authority that a referral to
    the CAM/CSC was made — recorded when the notice was also given outside the bus."""

    channel: NotificationChannel = Field(
        description="4.5(b)(ii): how the referrer notified the Guardianship and Tutelage Authority of the referral "
                    "to the CAM/CSC (BUS when this event is the notice itself)")


class EmergencyRemoval(Event):
    """4.7–4.8: the juvenile inspector removed (or visited to remove) a child in immediate danger.
    When no CAM/CSC Social Worker was present, 4.8 requires a report within 3 hours."""

    city: City = Field(
        description="4.7: the City/Oblast where the child was removed (or the visit took place); its CAM/CSC "
                    "receives the child and the 4.8 report")
    child_age_years: ChildAge = Field(
        description="The child's age in whole years, 0–17 (Annex B, part 2); it routes the case: under 3 to the "
                    "Guardianship and Tutelage Authority, from 3 to the CAM/CSC (4.5)")
    child_removed: bool = Field(description="Outcome of the visit: was the child removed for protection")
    cam_social_worker_present: bool = Field(description="4.8: did a CAM/CSC Social Worker accompany the inspector")
    guardianship_present: bool = Field(default=False, description="4.8: was the Guardianship represented")
    home_city: City | None = Field(default=None, description=HOME_CITY)   # issue 15: out-of-area child


class RemovalOutcomeReported(Event):
    """4.8: the juvenile inspector informs the CAM/CSC Manager or on-call Social Worker of the
    outcome of the visit — immediately and in any event within 3 hours of the removal."""

    child_removed: bool = Field(description="4.8: whether the visit ended with the child removed for protection")
    placed_in_temporary_care: bool = Field(
        description="4.8: whether the removed child was placed in temporary care (a temporary protection placement)")
    referred_to_cam: bool = Field(description="4.8: a removed child is referred to the CAM/CSC for placement")


class ProsecutorNotified(Event):
    """4.9: the CAM/CSC Social Worker with the Guardianship notify the Public Prosecutor's Office
    (Family Code s.82(2)) that the child was removed and placed in temporary protection."""

    family_code_article: Label = Field(
        default="82(2)", description="The article of the Family Code under which the Public Prosecutor's Office is "
                                     "notified; 82(2) unless stated (4.9)")


class AssessmentOutcome(str, Enum):
    """6.21–6.23: the three conclusions of the initial assessment."""

    SIGNIFICANT_HARM_CONCERN = "SIGNIFICANT_HARM_CONCERN"      # 6.21: social assessment follows
    NO_CONCERN = "NO_CONCERN"                                  # 6.22
    DIFFICULT_LIFE_SITUATION = "DIFFICULT_LIFE_SITUATION"      # 6.23: referred on to the NGO


class InitialAssessmentCompleted(Event):
    """6.3: the CAM/CSC completed the initial assessment (48 h with immediate risk, else 72 h);
    the referrer is told the outcome (6.21–6.23) and nothing more (6.24)."""

    outcome: AssessmentOutcome = Field(
        description="The conclusion of the initial assessment the referrer is told (6.21–6.23): "
                    "SIGNIFICANT_HARM_CONCERN (a social assessment follows), NO_CONCERN, or DIFFICULT_LIFE_SITUATION "
                    "(referred on to the NGO)")
    separated_or_unaccompanied: bool = Field(
        default=False, description="6.1(a)(i): the child is separated from the parents or unaccompanied")
    crime_suspected: bool = Field(default=False, description="6.5: evidence a crime or offence was committed")


class SocialAssessmentConclusion(str, Enum):
    """6.29–6.30: the conclusion of the full social assessment."""

    NO_REASONABLE_CAUSE = "NO_REASONABLE_CAUSE"          # 6.30: referrer informed as in 6.22–6.25
    SIGNIFICANT_HARM = "SIGNIFICANT_HARM"                # 6.30: stakeholders coordinate; 6.31(a) onwards
    REUNIFICATION_WITH_TRACED_PARENTS = "REUNIFICATION_WITH_TRACED_PARENTS"  # 6.31(b): a meeting plans it


class SocialAssessmentCompleted(Event):
    """6.26–6.30: the CAM/CSC completed the full social assessment, due within eight weeks of
    notifying the referrer of the initial assessment's decision under 6.21 (6.28)."""

    conclusion: SocialAssessmentConclusion = Field(
        description="6.29–6.30, 6.31(b): the conclusion of the full social assessment; SIGNIFICANT_HARM and "
                    "REUNIFICATION_WITH_TRACED_PARENTS lead to a child protection meeting (6.32)")
    police_consulted: bool = Field(default=False, description="6.29: the police officer or juvenile inspector "
                                                              "was consulted (crime or offence cases)")


class MeetingPurpose(str, Enum):
    """The confidential professional meetings the CAM/CSC convenes."""

    CHILD_PROTECTION_MEETING = "CHILD_PROTECTION_MEETING"   # 6.32–6.39
    PLAN_REVIEW = "PLAN_REVIEW"                             # 6.45–6.46: same procedure as 6.32–6.38
    CARE_PLAN_REVIEW = "CARE_PLAN_REVIEW"                   # 6.61–6.72


class ChildProtectionMeetingScheduled(Event):
    """6.32–6.33 (and 6.46, 6.63 for reviews): the CAM/CSC Social Worker invites the professionals to
    a confidential meeting. Publishing it again with the same ``meeting_id`` moves the meeting; the
    deadlines counted back from it (6.34, 6.66, 6.67) move with it."""

    meeting_id: Identifier = Field(
        description="The CAM/CSC's own id of the meeting (6.32); reused to move the meeting, and quoted by every "
                    "later event about it")
    purpose: MeetingPurpose = Field(
        default=MeetingPurpose.CHILD_PROTECTION_MEETING,
        description="Which kind of meeting: a child protection meeting (6.32–6.39), a child protection plan review "
                    "(6.45–6.46) or a care plan review (6.61–6.72)")
    scheduled_for: AwareDatetime = Field(
        description="When the meeting takes place (timezone-aware); the deadlines for written reports and "
                    "information (6.34, 6.66, 6.67) count back from it")
    invited_agency_ids: list[AgencyId] = Field(description="6.33: only these may receive the meeting material")


class MeetingAttendanceDeclined(Event):
    """6.34, 6.67: an invited professional cannot attend; a written report is then owed at least 2
    working days before a child protection meeting or plan review (6.34, 6.46) and 3 working days
    before a care plan review (6.67). ``purpose`` must match the meeting's."""

    meeting_id: Identifier = Field(
        description="The CAM/CSC's id of the meeting, as in its ChildProtectionMeetingScheduled (6.32)")
    purpose: MeetingPurpose = Field(
        default=MeetingPurpose.CHILD_PROTECTION_MEETING,
        description="The kind of the meeting declined; must match the scheduled meeting's purpose, as it sets the "
                    "report deadline (2 working days, 6.34/6.46; 3, 6.67)")


class ProfessionalReportSubmitted(Event):
    """6.34: the written contribution of a professional who cannot attend; the CAM/CSC shares it
    with the other invited members only (confidential, as 6.33)."""

    meeting_id: Identifier = Field(
        description="6.34: the meeting the written report is for, as in its ChildProtectionMeetingScheduled")


class MeetingDecision(str, Enum):
    """6.39 (a)–(d)."""

    NO_FURTHER_ACTION = "NO_FURTHER_ACTION"                  # 6.39(a)
    SUPPORT_SERVICES = "SUPPORT_SERVICES"                    # 6.39(b)
    CHILD_PROTECTION_PLAN = "CHILD_PROTECTION_PLAN"          # 6.39(c), 6.40
    CARE_PLAN = "CARE_PLAN"                                  # 6.39(d), 6.42


class ChildProtectionMeetingHeld(Event):
    """6.35–6.39: the meeting took place (within 7 working days of the social assessment, 6.33)
    and adopted one of the decisions of 6.39."""

    meeting_id: Identifier = Field(
        description="The CAM/CSC's id of the meeting, as in its ChildProtectionMeetingScheduled (6.32)")
    decision: MeetingDecision = Field(
        description="6.39(a)–(d): the meeting's decision: no further action, support services, a child protection "
                    "plan (6.40) or a care plan (6.42)")


class MeetingInformationItem(str, Enum):
    """6.33 (a)–(f): the information the CAM/CSC Social Worker gives the professionals invited."""

    CHRONOLOGY = "CHRONOLOGY"                            # 6.33(a): significant events, contact with the authorities
    HEALTH_AND_DEVELOPMENT = "HEALTH_AND_DEVELOPMENT"    # 6.33(b)
    CAPACITY_TO_CARE = "CAPACITY_TO_CARE"                # 6.33(c): parents, legal representative, carers, relatives
    REUNIFICATION = "REUNIFICATION"                      # 6.33(d): where relevant, reunification or resettlement
    CHILD_VIEWS = "CHILD_VIEWS"                          # 6.33(e): the child's views, wishes and feelings
    RISK_ANALYSIS = "RISK_ANALYSIS"                      # 6.33(f): future risks to safety, health and development


class MeetingInformationShared(Event):
    """6.33 (and 6.46 for a plan review): the CAM/CSC Social Worker provides the invited professionals
    with the information (a)–(f) for a scheduled meeting — confidential to them. ``covers`` says which
    items this delivery carries; their content, which is personal, goes in ``personal_data`` only."""

    meeting_id: Identifier = Field(
        description="The CAM/CSC's id of the meeting, as in its ChildProtectionMeetingScheduled (6.32)")
    covers: list[MeetingInformationItem] = Field(description="6.33 (a)–(f): the items provided")

    @model_validator(mode="after")
    def _items(self) -> MeetingInformationShared:
        if not self.covers:
            raise RuleViolation("the information provided names at least one of the items (a)–(f)", "6.33",
                                field="covers")
        if len(set(self.covers)) != len(self.covers):
            raise RuleViolation("each item (a)–(f) is named once", "6.33", field="covers")
        return self


class MeetingMinutesCirculated(Event):
    """6.43: after the meeting the CAM/CSC sends its professional members the draft minutes, the
    recommendations and, where relevant (a 6.39(c) decision, 6.40), the outline child protection plan,
    for their review, approval and signature (``PlanApproved`` with ``MEETING_MINUTES``). Sent again
    when comments are incorporated."""

    meeting_id: Identifier = Field(
        description="6.43: the meeting whose draft minutes are circulated, as in its ChildProtectionMeetingScheduled")
    includes_outline_plan: bool = Field(default=False, description="6.40, 6.43: the outline child protection plan "
                                                                   "developed at the meeting is attached")


class CriminalCaseOpened(Event):
    """6.5–6.7, 6.25: a criminal or administrative case concerning harm to the child is open; the
    police coordinate with the CAM/CSC (joint handling) and keep it informed."""

    criminal_case_ref: Reference = Field(description="The investigating body's reference (no personal data)")
    parent_or_relative_charged: bool = Field(
        default=False, description="6.25: a parent or relative is charged; the CAM/CSC keeps the case open until the "
                                   "criminal case concludes")


class CriminalCaseUpdated(Event):
    """6.25: the police officer or juvenile inspector keeps the CAM/CSC Manager informed of the progress
    of a criminal or administrative case against a parent or relative."""

    criminal_case_ref: Reference = Field(
        description="The investigating body's register number of the criminal or administrative case (6.25); never "
                    "personal data; as in its CriminalCaseOpened")
    stage: Label = Field(description="e.g. 'charged', 'sent to court' — procedural, never personal data")


class JointHandlingAgreed(Event):
    """6.5–6.6, 6.13: the police and the CAM/CSC agree how the case is handled jointly: who leads the
    interview, whether one joint medical examination is needed."""

    criminal_case_ref: Reference = Field(
        description="The investigating body's register number of the criminal or administrative case (6.25); never "
                    "personal data; as in its CriminalCaseOpened")
    joint_interview: bool = Field(
        default=True, description="6.6: the child is interviewed once, jointly for the criminal case and the child "
                                  "protection case")
    joint_medical_examination: bool = Field(
        default=False, description="6.6, 6.13: one joint medical examination serves both cases, not several")
    interview_led_by: Label = Field(default="police", description="6.6: police or cam-csc")


class CriminalCaseOutcome(str, Enum):
    PARENT_NOT_RESPONSIBLE = "PARENT_NOT_RESPONSIBLE"    # 6.25: closure possible
    PARENT_FOUND_GUILTY = "PARENT_FOUND_GUILTY"          # 6.25: social assessment updated first
    PROCEEDINGS_TERMINATED = "PROCEEDINGS_TERMINATED"


class CriminalCaseConcluded(Event):
    """6.25: the criminal or administrative case is complete."""

    criminal_case_ref: Reference = Field(
        description="The investigating body's register number of the criminal or administrative case (6.25); never "
                    "personal data; as in its CriminalCaseOpened")
    outcome: CriminalCaseOutcome = Field(
        description="6.25: how the case ended; a parent found not responsible allows the CAM/CSC to close, a guilty "
                    "verdict first updates the social assessment")


class ClosureGround(str, Enum):
    """The only grounds on which the CAM/CSC closes a case file."""

    NO_CONCERN_FOUND = "NO_CONCERN_FOUND"                        # 6.22, 6.30, 6.39(a); 6.23, 6.39(b) once referred
    PLAN_NO_LONGER_NECESSARY = "PLAN_NO_LONGER_NECESSARY"        # 6.51
    SAFE_ARRIVAL_CONFIRMED = "SAFE_ARRIVAL_CONFIRMED"            # 6.52, 6.79
    TURNED_18_CASE_TRANSFERRED = "TURNED_18_CASE_TRANSFERRED"    # 6.78(a)
    ONE_YEAR_REVIEW_AFTER_CARE = "ONE_YEAR_REVIEW_AFTER_CARE"    # 6.78(b)


class CaseClosed(Event):
    """The CAM/CSC closes the child's case file, on one of the grounds of 6.22/6.30/6.39(a), 6.51,
    6.52, 6.78 or 6.79 — never while a criminal case about the child is open (6.25)."""

    ground: ClosureGround = Field(
        description="The ground of closure, one of those Annex B allows: 6.22/6.30/6.39(a), 6.51, 6.52/6.79, 6.78(a) "
                    "or 6.78(b); refused while a criminal case about the child is open (6.25)")
    referred_to_support_services: bool = Field(default=False, description="6.51: referred on before closing")
    #: 6.39(b), 6.51: the agency the family is referred to; by default the city's NGO (5.15)
    support_services_agency_id: AgencyId | None = Field(
        default=None, description="6.39(b), 6.51: the agency providing the support services the family is referred "
                                  "to; without it, the selected NGO of the case's city (5.15)")

    @model_validator(mode="after")
    def _provider_needs_referral(self) -> CaseClosed:
        if self.support_services_agency_id is not None and not self.referred_to_support_services:
            raise RuleViolation("a support services provider is named only when the family is referred to support "
                                "services", "6.51", field="support_services_agency_id")
        return self


class NGODecisionKind(str, Enum):
    ACCEPTED = "ACCEPTED"                                # 5.20
    DECLINED_NO_SPACE = "DECLINED_NO_SPACE"              # 5.19
    DECLINED_CRITERIA_NOT_MET = "DECLINED_CRITERIA_NOT_MET"  # 5.19


class NotifyingParty(str, Enum):
    """5.19–5.20: who tells the child and family about the decision."""

    NGO = "NGO"
    REFERRER = "REFERRER"


class NGODecision(Event):
    """5.18–5.20: the NGO programme coordinator's eligibility decision, owed to the referrer within
    2 working days, with written reasons when declined (5.19)."""

    decision: NGODecisionKind = Field(
        description="5.18–5.20: the programme coordinator's eligibility decision: accepted, or declined for lack of "
                    "space or because the admission criteria are not met (5.19)")
    reasons: PersonalText | None = Field(default=None, description="5.19: reasons, required when declined")
    beneficiaries_notified_by: NotifyingParty = Field(
        default=NotifyingParty.REFERRER,
        description="5.19–5.20: who tells the child and family of the decision: the referrer (the default, and the "
                    "rule when declined) or the NGO")
    decided_at: AwareDatetime | None = Field(
        default=None, description="When the coordinator decided (timezone-aware), if other than occurred_at")
    # 5.13: complex or serious mental health needs are referred to the local health authorities
    refer_to_health_authorities: bool = Field(
        default=False, description="5.13: the child has complex or serious mental health needs and is not eligible; "
                                   "the decision goes to the city's health authority as a referral. Only with "
                                   "DECLINED_CRITERIA_NOT_MET")

    @model_validator(mode="after")
    def _reasons_when_declined(self) -> NGODecision:
        if self.decision is not NGODecisionKind.ACCEPTED and not (self.reasons or "").strip():
            raise RuleViolation("a declined referral must state its reasons in writing", "5.19", field="reasons")
        if self.refer_to_health_authorities and self.decision is not NGODecisionKind.DECLINED_CRITERIA_NOT_MET:
            raise RuleViolation("a referral to the local health authorities goes with a decision that the child is "
                                "not eligible (DECLINED_CRITERIA_NOT_MET)", "5.13", field="refer_to_health_authorities")
        return self


class EscalationAcknowledged(Event):
    """An agency told of a missed deadline (the responsible one or a rung of the escalation ladder)
    acknowledges it; no further ladder level is raised for that deadline. On the case log, so
    that who acknowledged what, and when, is part of the case's history."""

    escalation_id: UUID = Field(
        description="The escalation_id of the EscalationRaised acknowledged (read from the agency's inbox)")
    deadline_id: UUID = Field(description="The deadline_id of the missed deadline, as in the EscalationRaised")
    level: int = Field(
        description="The ladder level acknowledged, as in the EscalationRaised: 1 the responsible agency's "
                    "supervisor, 2 the city's Commission on Issues of Minors, 3 the Steering Committee")


class NGOStaffRole(str, Enum):
    SOCIAL_WORKER = "SOCIAL_WORKER"   # 7.2: multiple services
    LAWYER = "LAWYER"                 # 7.11: legal services only
    PSYCHOLOGIST = "PSYCHOLOGIST"     # 7.16: psychological counselling only


class NGOFirstContactMade(Event):
    """7.1 (7.11): the NGO's social worker, lawyer or psychologist contacted the child and family,
    within 3 working days of the NGO's receipt of the referral request."""

    by_role: NGOStaffRole = Field(
        description="7.1, 7.11: the NGO professional who made the contact: social worker (several services), lawyer "
                    "(legal only) or psychologist (counselling only, 7.16)")


class NGOInitialMeetingHeld(Event):
    """7.2 (7.16): the initial meeting with the child and family, within 4 working days of the NGO's
    receipt of the referral request."""

    by_role: NGOStaffRole = Field(description="7.2, 7.16: the NGO professional who held the initial meeting")
    # 7.16: counselling only — the psychologist's meeting is arranged if agreed with the referrer
    agreed_with_referrer: bool = Field(
        default=False, description="7.16: the professional who made the referral request agreed to the NGO "
                                   "psychologist's initial meeting with the child and family (required when by_role "
                                   "is PSYCHOLOGIST)")


class ServicePlanAgreed(Event):
    """7.3 (7.18): the needs assessment and the individual service (or therapy) plan, within 5 working
    days of the initial meeting. The providers who signed it (7.8) owe the NGO monthly updates (7.9)."""

    by_role: NGOStaffRole = Field(
        description="7.3, 7.18: the NGO professional who made the plan: social worker (service plan) or psychologist "
                    "(therapy plan)")
    service_provider_agency_ids: list[AgencyId] = Field(default_factory=list, description="7.8: agencies that signed "
                                                                                     "the plan to provide services")
    # 7.18: a child victim or witness starts counselling after the police statement, unless agreed
    child_victim_or_witness: bool = Field(
        default=False, description="7.18: the child is a victim or witness in criminal proceedings (also assumed "
                                   "while a criminal case about harm to the child is open on this case)")
    prosecutor_agreed_early_counselling: bool = Field(
        default=False, description="7.18: the prosecutor handling the case agreed that therapy starts before the "
                                   "child's statement to the police")
    police_agreed_early_counselling: bool = Field(
        default=False, description="7.18: the police handling the case agreed that therapy starts before the "
                                   "child's statement to the police")


class AgeRecordReason(str, Enum):
    BIRTHDAY = "BIRTHDAY"            # the child turned one year older during the case
    DOCUMENT = "DOCUMENT"            # 6.8: a document proving the age was accepted


class ChildAgeRecorded(Event):
    """The child's age changed during the case. Turning 3 moves a case from the Guardianship's remit
    to the CAM/CSC's (4.5(a)–(b)); turning 18 ends child protection: the care plan is no longer
    necessary (6.74(a)) and the case is transferred and closed (6.78(a))."""

    child_age_years: AgeOnRecord = Field(
        description="The child's new age in whole years, 0–18; 3 moves the case from the Guardianship to the CAM/CSC "
                    "(4.5), 18 ends child protection (6.74(a), 6.78(a))")
    reason: AgeRecordReason = Field(
        description="Why the age changed: a birthday during the case, or a document proving the age was accepted "
                    "(6.8)")


#: The case events of this module; ``contracts.EVENT_TYPES`` gathers every module's.
EVENTS: tuple[type[Event], ...] = (
    ReferralMade, GuardianshipNotified, EmergencyRemoval, RemovalOutcomeReported, ProsecutorNotified,
    InitialAssessmentCompleted, SocialAssessmentCompleted, ChildProtectionMeetingScheduled, MeetingAttendanceDeclined,
    ProfessionalReportSubmitted, ChildProtectionMeetingHeld, CriminalCaseOpened, CriminalCaseConcluded, CaseClosed,
    NGODecision, NGOFirstContactMade, NGOInitialMeetingHeld, ServicePlanAgreed, EscalationAcknowledged,
    ChildAgeRecorded,
    EmergencyRemovalRequested, CourtClaimRequested, CriminalCaseUpdated, JointHandlingAgreed,
    ReferralWithdrawn,
    MeetingInformationShared, MeetingMinutesCirculated,   # 6.33, 6.43 (issue 15)
)
