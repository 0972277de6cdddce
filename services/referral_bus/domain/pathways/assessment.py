"""The CAM/CSC's assessments and the child protection meeting (Annex B 6.3–6.39), criminal cases
alongside them (6.5–6.7, 6.25), and closing the case (6.22, 6.30, 6.39(a), 6.51, 6.52, 6.78, 6.79)."""

from __future__ import annotations

from referral_bus.contracts.events import (
    AssessmentOutcome,
    CaseClosed,
    ChildProtectionMeetingHeld,
    ChildProtectionMeetingScheduled,
    ClosureGround,
    CriminalCaseConcluded,
    CriminalCaseOpened,
    CriminalCaseOutcome,
    InitialAssessmentCompleted,
    MeetingAttendanceDeclined,
    MeetingDecision,
    MeetingInformationShared,
    MeetingMinutesCirculated,
    MeetingPurpose,
    ProfessionalReportSubmitted,
    ReferralKind,
    SocialAssessmentCompleted,
    SocialAssessmentConclusion,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.deliveries import Delivery, agency_of
from referral_bus.domain.pathways.base import (
    ANYONE,
    BY_CAM,
    Step,
    city_of,
    illegal,
    kinds,
    named_agency,
    to_home_city,
    to_kind,
    to_members,
    to_referrers,
)
from referral_bus.domain.rejections import Code, Rejection


# -- 6.3–6.25: the initial assessment ------------------------------------------------------------------
def _check_initial(event: InitialAssessmentCompleted, state: CaseState) -> None:
    if not state.referred_to_cam:
        raise illegal("an initial assessment follows a referral to the CAM/CSC (4.5(b), 4.7(c)) and this case has "
                      "none", "6.3")
    if state.initial_assessment is not None:
        raise illegal("the initial assessment of this case is already completed", "6.3")


def _apply_initial(event: InitialAssessmentCompleted, state: CaseState, directory: Directory | None = None) -> None:
    state.initial_assessment = event.outcome
    if event.outcome is AssessmentOutcome.DIFFICULT_LIFE_SITUATION:   # 6.23: the CAM/CSC refers the child to the NGO
        state.support_referral_owed = ("6.23", len(state.event_types))


def _route_initial(event: InitialAssessmentCompleted, state: CaseState, directory: Directory) -> list[Delivery]:
    city = city_of(event, state)
    out = to_referrers(state, "6.21–6.24")
    out.append(Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "4.10"), "4.10", "outcome"))
    out.append(Delivery(agency_of(directory, AgencyKind.COMMISSION, city, "4.10"), "4.10", "outcome"))
    if event.crime_suspected or state.open_criminal_cases:   # 6.5–6.6: the police handle it jointly
        out.append(Delivery(agency_of(directory, AgencyKind.POLICE, city, "6.6"), "6.5–6.6", "notification"))
    return out + to_home_city(event, state, directory, "6.21–6.24")   # issue 15: an out-of-area child


# -- 6.26–6.30: the full social assessment -----------------------------------------------------------
def _check_social(event: SocialAssessmentCompleted, state: CaseState) -> None:
    if state.initial_assessment is not AssessmentOutcome.SIGNIFICANT_HARM_CONCERN:
        raise illegal("a full social assessment follows an initial assessment that found reasonable grounds for "
                      "concern of significant harm (6.21, 6.26)", "6.26")
    if state.open_criminal_cases and not event.police_consulted:
        raise illegal("with a criminal case open, the CAM/CSC Manager consults the police officer or juvenile "
                      "inspector before formulating its conclusions", "6.29", "police_consulted")
    if state.social_assessment is not None and not (state.care.reassessment_due or state.parent_found_guilty):
        raise illegal("the social assessment of this case is already completed; it is repeated when a review calls "
                      "for it (6.47(c)–(d), 6.50) or a parent is found guilty (6.25)", "6.28, 6.50")


def _apply_social(event: SocialAssessmentCompleted, state: CaseState, directory: Directory | None = None) -> None:
    state.social_assessment = event.conclusion
    state.care.reassessment_due = False   # 6.50: the new assessment was made
    state.parent_found_guilty = False     # 6.25: the assessment was updated


def _route_social(event: SocialAssessmentCompleted, state: CaseState, directory: Directory) -> list[Delivery]:
    city = city_of(event, state)
    # 6.30: the referrer is informed "in the same way as outlined in paragraphs 6.22 to 6.25"
    out = to_referrers(state, "6.30 (6.22–6.25)")
    out.append(Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "6.30"), "6.30", "outcome"))
    out.append(Delivery(agency_of(directory, AgencyKind.COMMISSION, city, "6.30"), "6.30", "outcome"))
    if event.police_consulted:   # 6.29: the police officer consulted learns the conclusion
        out.append(Delivery(agency_of(directory, AgencyKind.POLICE, city, "6.29"), "6.29", "outcome"))
    return out + to_home_city(event, state, directory, "6.30")   # issue 15: an out-of-area child


# -- 6.31–6.39: the child protection meeting (and the review meetings of 6.45 and 6.61) ---------------
def check_meeting_purpose(event: ChildProtectionMeetingScheduled, state: CaseState) -> None:
    """What must precede each kind of meeting: the social assessment (6.31–6.32), a plan in force
    for its review (6.45–6.46), a care plan in force for its review (6.61–6.63)."""
    known = state.meeting_purposes.get(event.meeting_id)
    if known is not None and known is not event.purpose:
        raise illegal(f"meeting {event.meeting_id} was scheduled as a {known.value}", "6.33", "purpose")
    if state.care.turned_18:
        raise illegal("the child has turned 18; the case is transferred, not planned (6.74(a), 6.78(a))", "6.78(a)")
    if event.purpose is MeetingPurpose.CHILD_PROTECTION_MEETING:
        if state.social_assessment not in (SocialAssessmentConclusion.SIGNIFICANT_HARM,
                                           SocialAssessmentConclusion.REUNIFICATION_WITH_TRACED_PARENTS):
            raise illegal("a child protection meeting follows a social assessment that concluded the child is "
                          "suffering or at risk of significant harm, or that the traced parents can care for the "
                          "child (6.31, 6.32)", "6.32")
    elif event.purpose is MeetingPurpose.PLAN_REVIEW:
        if not state.care.active_plan:
            raise illegal("a review meeting reviews a child protection plan in force, and this case has none",
                          "6.45", "purpose")
    elif state.care.care_plan_id is None:
        raise illegal("a care plan review reviews a care plan in force, and this case has none", "6.61", "purpose")


def _check_scheduled(event: ChildProtectionMeetingScheduled, state: CaseState) -> None:
    check_meeting_purpose(event, state)
    if event.meeting_id in state.meetings_held:
        raise illegal(f"meeting {event.meeting_id} has already been held", "6.33", "meeting_id")
    if not event.invited_agency_ids:
        raise illegal("the professionals involved must be invited", "6.33", "invited_agency_ids")


def _apply_scheduled(event: ChildProtectionMeetingScheduled, state: CaseState,
                     directory: Directory | None = None) -> None:
    state.meetings[event.meeting_id] = list(event.invited_agency_ids)
    state.meeting_purposes[event.meeting_id] = event.purpose


def _route_scheduled(event: ChildProtectionMeetingScheduled, state: CaseState, directory: Directory) -> list[Delivery]:
    out = []
    for agency_id in event.invited_agency_ids:   # 6.33: the invitation and material, invited only
        if directory.get(agency_id) is None:
            raise Rejection(Code.NO_RECIPIENT, f"invited agency {agency_id!r} is not in the directory",
                            paragraph="6.33", field="invited_agency_ids")
        out.append(Delivery(agency_id, "6.33", "invitation"))
    return out


def _check_meeting_material(event: MeetingAttendanceDeclined | ProfessionalReportSubmitted | ChildProtectionMeetingHeld,
                            state: CaseState) -> None:
    """A scheduled meeting, not yet held, of the right kind; written material from invited members only."""
    invited = state.meetings.get(event.meeting_id)
    if invited is None:
        raise illegal(f"no child protection meeting {event.meeting_id} is scheduled on this case", "6.33",
                      "meeting_id")
    if event.meeting_id in state.meetings_held:
        raise illegal(f"meeting {event.meeting_id} has already been held", "6.34", "meeting_id")
    purpose = state.meeting_purposes.get(event.meeting_id, MeetingPurpose.CHILD_PROTECTION_MEETING)
    if isinstance(event, ChildProtectionMeetingHeld):
        if purpose is not MeetingPurpose.CHILD_PROTECTION_MEETING:
            raise illegal(f"meeting {event.meeting_id} is a {purpose.value}; its outcome is recorded as "
                          "ChildProtectionPlanReviewed or CarePlanReviewed", "6.46, 6.73", "meeting_id")
        return
    if isinstance(event, MeetingAttendanceDeclined) and event.purpose is not purpose:
        raise illegal(f"meeting {event.meeting_id} is a {purpose.value}, not a {event.purpose.value}", "6.34, 6.67",
                      "purpose")
    producer = event.envelope.producer.agency_id
    if producer not in invited:
        raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{producer} is not invited to meeting {event.meeting_id}; its "
                        "material is confidential to the invited members", paragraph="6.33",
                        field="envelope.producer.agency_id")


def _route_meeting_material(event: MeetingAttendanceDeclined | ProfessionalReportSubmitted, state: CaseState,
                            directory: Directory) -> list[Delivery]:
    # 6.34: to the CAM/CSC, which shares the report with the other invited members only
    return (to_members(state.meetings.get(event.meeting_id, []), "6.34", "meeting material")
            + [to_kind(AgencyKind.CAM_CSC, "6.34", "meeting material")(event, state, directory)])


def _apply_held(event: ChildProtectionMeetingHeld, state: CaseState, directory: Directory | None = None) -> None:
    state.meetings_held.add(event.meeting_id)
    state.meeting_decisions.append(event.decision)
    state.meeting_outcomes[event.meeting_id] = event.decision
    if event.decision is MeetingDecision.SUPPORT_SERVICES:   # 6.39(b): the family is referred to support services
        state.support_referral_owed = ("6.39(b)", len(state.event_types))


def _route_held(event: ChildProtectionMeetingHeld, state: CaseState, directory: Directory) -> list[Delivery]:
    return (to_members(state.meetings.get(event.meeting_id, []), "6.39", "outcome")
            + [to_kind(AgencyKind.GUARDIANSHIP, "6.39", "outcome")(event, state, directory)]
            + to_home_city(event, state, directory, "6.39"))   # issue 15: an out-of-area child


# -- 6.33, 6.43: the information pack before the meeting, the draft minutes after it ------------------
def _check_information(event: MeetingInformationShared, state: CaseState) -> None:
    """6.33 (6.46 for a plan review): for a scheduled meeting not yet held; a care plan review has its
    own report (CarePlanReviewReportIssued, 6.66)."""
    if event.meeting_id not in state.meetings:
        raise illegal(f"no meeting {event.meeting_id} is scheduled on this case; the information goes to the "
                      "professionals invited to it", "6.33", "meeting_id")
    if event.meeting_id in state.meetings_held:
        raise illegal(f"meeting {event.meeting_id} has already been held; the information prepares it", "6.33",
                      "meeting_id")
    purpose = state.meeting_purposes.get(event.meeting_id, MeetingPurpose.CHILD_PROTECTION_MEETING)
    if purpose is MeetingPurpose.CARE_PLAN_REVIEW:
        raise illegal(f"meeting {event.meeting_id} is a care plan review; its members receive the CAM/CSC's "
                      "written report (CarePlanReviewReportIssued)", "6.66", "meeting_id")


def _route_information(event: MeetingInformationShared, state: CaseState, directory: Directory) -> list[Delivery]:
    # 6.33: confidential — to the professionals invited to that meeting, nobody else
    return to_members(state.meetings.get(event.meeting_id, []), "6.33", "meeting material")


def _check_minutes(event: MeetingMinutesCirculated, state: CaseState) -> None:
    """6.43: after the meeting was held; with the outline plan exactly when the meeting decided 6.39(c)."""
    if event.meeting_id not in state.meetings or event.meeting_id not in state.meetings_held:
        raise illegal(f"meeting {event.meeting_id} has not been held on this case; its draft minutes follow it",
                      "6.43", "meeting_id")
    decided_plan = state.meeting_outcomes.get(event.meeting_id) is MeetingDecision.CHILD_PROTECTION_PLAN
    if decided_plan and not event.includes_outline_plan:
        raise illegal(f"meeting {event.meeting_id} decided a child protection plan (6.39(c)); the outline plan "
                      "developed at it goes with the draft minutes", "6.40, 6.43", "includes_outline_plan")
    if event.includes_outline_plan and not decided_plan:
        raise illegal(f"meeting {event.meeting_id} did not decide a child protection plan (6.39(c)), so no outline "
                      "plan was developed at it", "6.40, 6.43", "includes_outline_plan")


def _apply_minutes(event: MeetingMinutesCirculated, state: CaseState, directory: Directory | None = None) -> None:
    state.minutes_circulated.add(event.meeting_id)


def _route_minutes(event: MeetingMinutesCirculated, state: CaseState, directory: Directory) -> list[Delivery]:
    # 6.43: the professional members of the meeting review, approve and sign them (PlanApproved)
    return to_members(state.meetings.get(event.meeting_id, []), "6.43", "minutes")


# -- 6.5–6.7, 6.25: a criminal case alongside ---------------------------------------------------------
def _apply_criminal_opened(event: CriminalCaseOpened, state: CaseState, directory: Directory | None = None) -> None:
    state.open_criminal_cases.add(event.criminal_case_ref)


def _check_criminal_concluded(event: CriminalCaseConcluded, state: CaseState) -> None:
    if event.criminal_case_ref not in state.open_criminal_cases:
        raise illegal(f"no open criminal case {event.criminal_case_ref} on this case", "6.25", "criminal_case_ref")


def _apply_criminal_concluded(event: CriminalCaseConcluded, state: CaseState,
                              directory: Directory | None = None) -> None:
    state.open_criminal_cases.discard(event.criminal_case_ref)
    state.parent_found_guilty |= event.outcome is CriminalCaseOutcome.PARENT_FOUND_GUILTY


def _route_criminal_case(event: CriminalCaseOpened | CriminalCaseConcluded, state: CaseState,
                         directory: Directory) -> list[Delivery]:
    """6.6 joint handling; 6.25 the police keep the CAM/CSC Manager informed."""
    return [Delivery(agency_of(directory, AgencyKind.CAM_CSC, city_of(event, state), "6.25"), "6.6, 6.25",
                     "notification")]


# -- closing the case ---------------------------------------------------------------------------------
def check_closure(event: CaseClosed, state: CaseState) -> None:
    """6.25 and the preconditions of each ground of closure, as the case log shows them."""
    if state.open_criminal_cases:
        raise illegal("the case file stays open until the criminal or administrative case is complete "
                      f"({len(state.open_criminal_cases)} open)", "6.25")
    ground = event.ground
    if ground is ClosureGround.NO_CONCERN_FOUND:
        found = (state.initial_assessment in (AssessmentOutcome.NO_CONCERN,
                                              AssessmentOutcome.DIFFICULT_LIFE_SITUATION)   # 6.23: once referred
                 or state.social_assessment is SocialAssessmentConclusion.NO_REASONABLE_CAUSE
                 or MeetingDecision.NO_FURTHER_ACTION in state.meeting_decisions
                 or MeetingDecision.SUPPORT_SERVICES in state.meeting_decisions)          # 6.39(b): once referred
        if not found or state.parent_found_guilty:
            raise illegal("closing for no concern needs an assessment or meeting that found none (6.22, 6.30, "
                          "6.39(a)), and no parent found guilty since (6.25)", "6.22, 6.30, 6.39(a)", "ground")
    elif ground is ClosureGround.PLAN_NO_LONGER_NECESSARY:
        if MeetingDecision.CHILD_PROTECTION_PLAN not in state.meeting_decisions:
            raise illegal("closing because the child protection plan is no longer necessary needs a plan decided "
                          "under 6.39(c)", "6.51", "ground")
        if state.care.protection_plans and not state.care.plan_ended:
            raise illegal("a finalised plan ends when a review finds it no longer necessary (6.47(e)); no review "
                          "has", "6.47(e), 6.51", "ground")
        if not event.referred_to_support_services:
            raise illegal("the child and family are referred to appropriate support services before the case is "
                          "closed", "6.51", "referred_to_support_services")
    elif ground is ClosureGround.TURNED_18_CASE_TRANSFERRED:
        if not state.care.turned_18:
            raise illegal("closure at 18 needs the child's 18th birthday on the case log (ChildAgeRecorded) or a "
                          "discharge from care at 18 (ChildLeftCare)", "6.78(a)", "ground")
    elif ground is ClosureGround.SAFE_ARRIVAL_CONFIRMED:
        if not state.care.safe_arrival_confirmed:
            raise illegal("the case closes on the receiving case manager's confirmation of the child's safe "
                          "arrival, and none is recorded", "6.52, 6.79", "ground")
    elif ground is ClosureGround.ONE_YEAR_REVIEW_AFTER_CARE:
        if not state.care.leaving_care_review_clear:
            raise illegal("closure after leaving care needs the one-year review to find no reasonable cause for "
                          "concern", "6.78(b)", "ground")
    if ground is not ClosureGround.TURNED_18_CASE_TRANSFERRED:   # 6.78(a): the adult's case is transferred
        check_support_referral(event, state)
        if state.care.protection_plan_after_care_due:
            raise illegal("the child left care to be subject to a child protection plan, which is developed "
                          "under the protocol's steps (meeting 6.39(c), plan 6.44) before the case closes",
                          "6.75(c)", "ground")
    if ground not in (ClosureGround.TURNED_18_CASE_TRANSFERRED, ClosureGround.SAFE_ARRIVAL_CONFIRMED) \
            and state.care.care_plan_id is not None:
        raise illegal(f"care plan {state.care.care_plan_id} is in force; the child leaves care first (6.75)",
                      "6.75, 6.78", "ground")


def check_support_referral(event: CaseClosed, state: CaseState) -> None:
    """6.23, 6.39(b): the referral on to support services a finding owes is made before the case closes.

    6.23 names the selected NGO: an NGO_SUPPORT ``ReferralMade`` after the initial assessment, not
    withdrawn. 6.39(b) names "relevant support services": that referral, or the closure's own
    ``referred_to_support_services``, which delivers it to the provider (``_route_closed``). Once an NGO
    referral is made, the case stays open while the NGO's decision on it is owed (5.18; 6.23 tells the
    referrer of the acceptance) and while a programme the NGO accepted is running (its events follow
    on this case, 7.1–7.3), so that closing does not cut them off."""
    owed = state.support_referral_owed
    if owed is None:
        return
    paragraph, since = owed
    made = [rid for rid, r in state.referrals.items()
            if r.kind is ReferralKind.NGO_SUPPORT and r.position > since and not r.withdrawn]
    if not made:
        if paragraph == "6.23":
            raise illegal("the initial assessment found a difficult life situation: the CAM/CSC refers the child to "
                          "the selected NGO (a ReferralMade of kind NGO_SUPPORT) before closing the case", "6.23",
                          "ground")
        if not event.referred_to_support_services:
            raise illegal("the meeting decided the child or family are referred to relevant support services: an "
                          "NGO referral request, or referred_to_support_services on the closure, comes first",
                          "6.39(b)", "referred_to_support_services")
        return
    if any(rid in state.ngo_referrals_pending for rid in made):
        raise illegal("the NGO has not yet decided on the referral request; its decision, and the referrer's "
                      "notice of the acceptance, follow on this case", f"5.18, {paragraph}", "ground")
    running = sorted(state.ngo_accepted - state.ngo.closed)
    if running:
        raise illegal(f"{', '.join(running)} accepted the child onto its programme and manages the case until it "
                      "closes its file (NGOCaseClosed)", f"5.20, 7.1, {paragraph}", "ground")


def _apply_closed(event: CaseClosed, state: CaseState, directory: Directory | None = None) -> None:
    state.closed = True
    state.support_referral_owed = None   # met (check_support_referral); a new referral starts afresh


#: 6.39(b), 6.51: the kinds of agency that provide support services a family may be referred to on closure
SUPPORT_SERVICE_PROVIDERS = (AgencyKind.NGO, AgencyKind.SOCIAL_PROTECTION, AgencyKind.HEALTH, AgencyKind.SCHOOL)


def support_services_provider(event: CaseClosed, state: CaseState, directory: Directory, paragraph: str) -> str:
    """The agency the family is referred to on closure: the one the closure names — in the directory, a
    provider of support services, serving the case's city — or else the city's selected NGO (5.15)."""
    if event.support_services_agency_id is None:
        return agency_of(directory, AgencyKind.NGO, city_of(event, state), paragraph)
    return named_agency(event, state, directory, "support_services_agency_id", SUPPORT_SERVICE_PROVIDERS, paragraph)


def _route_closed(event: CaseClosed, state: CaseState, directory: Directory) -> list[Delivery]:
    out = to_referrers(state, "6.51, 6.78") + [
        Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city_of(event, state), "6.51"), "6.51, 6.78",
                 "outcome")]
    if event.referred_to_support_services:   # 6.39(b), 6.51: a referral delivered, not only a flag
        paragraph = state.support_referral_owed[0] if state.support_referral_owed else "6.51"
        out.append(Delivery(support_services_provider(event, state, directory, paragraph), paragraph, "referral"))
    return out + to_home_city(event, state, directory, "6.51, 6.78")   # issue 15: an out-of-area child


STEPS: tuple[Step, ...] = (
    Step(InitialAssessmentCompleted, BY_CAM, "6.3",
         check=_check_initial, apply=_apply_initial, route=_route_initial),
    Step(SocialAssessmentCompleted, BY_CAM, "6.26–6.28",
         check=_check_social, apply=_apply_social, route=_route_social),
    Step(ChildProtectionMeetingScheduled, BY_CAM, "6.32–6.33",
         check=_check_scheduled, apply=_apply_scheduled, route=_route_scheduled),
    # an invited professional (checked as a transition)
    Step(MeetingAttendanceDeclined, ANYONE, "6.34", check=_check_meeting_material, route=_route_meeting_material),
    Step(ProfessionalReportSubmitted, ANYONE, "6.34", check=_check_meeting_material, route=_route_meeting_material),
    Step(ChildProtectionMeetingHeld, BY_CAM, "6.35–6.39",
         check=_check_meeting_material, apply=_apply_held, route=_route_held),
    Step(MeetingInformationShared, BY_CAM, "6.33", check=_check_information, route=_route_information),
    Step(MeetingMinutesCirculated, BY_CAM, "6.43",
         check=_check_minutes, apply=_apply_minutes, route=_route_minutes),
    Step(CriminalCaseOpened, kinds(AgencyKind.POLICE, AgencyKind.PROSECUTOR), "6.5–6.7, 6.25",
         apply=_apply_criminal_opened, route=_route_criminal_case),
    Step(CriminalCaseConcluded, kinds(AgencyKind.POLICE, AgencyKind.PROSECUTOR, AgencyKind.COURT), "6.25",
         check=_check_criminal_concluded, apply=_apply_criminal_concluded, route=_route_criminal_case),
    Step(CaseClosed, BY_CAM, "6.51, 6.52, 6.78, 6.79", check=check_closure, apply=_apply_closed,
         route=_route_closed),
)
