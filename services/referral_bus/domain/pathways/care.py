"""The CAM/CSC's work after the referral (Annex B 6.8–6.20, 6.40–6.79): age assessment, family
tracing, medical examination consent, temporary care, the child protection plan and its reviews,
the care plan, leaving care, return abroad and the independent supporter."""

from __future__ import annotations

from referral_bus.contracts.base import Event
from referral_bus.contracts.care_events import (
    AgeAssessmentCompleted,
    CarePlacement,
    CarePlanAgreed,
    CarePlanAmended,
    CarePlanDecision,
    CarePlanReviewed,
    CarePlanReviewReportIssued,
    CarePlanReviewReportsDistributed,
    CaseTransferredAbroad,
    ChildLeftCare,
    ChildProtectionPlanAmended,
    ChildProtectionPlanFinalised,
    ChildProtectionPlanReviewed,
    FamilyTracingUpdated,
    IndependentSupporterAssigned,
    IntegrationAssessmentCompleted,
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
    ReviewRecommendationsRejected,
    SafeArrivalConfirmed,
    TemporaryCareDecided,
    TemporaryCareForm,
    TemporaryCareRecommended,
    TracingStatus,
    TransitionFromCarePlanned,
)
from referral_bus.contracts.consent import Consent
from referral_bus.contracts.events import (
    AgeRecordReason,
    ChildAgeRecorded,
    MeetingDecision,
    MeetingPurpose,
    SocialAssessmentConclusion,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.consent import consent_problems
from referral_bus.domain.deliveries import Delivery
from referral_bus.domain.pathways.base import (
    ANYONE,
    BY_CAM,
    Route,
    Step,
    illegal,
    kinds,
    named_agency,
    referrers_and,
    route_to,
    to_kind,
    to_members,
    to_referrers,
)
from referral_bus.domain.rejections import Code, Rejection

_RESIDENTIAL_UNITS = {TemporaryCareForm.CAM_RESIDENTIAL_UNIT, TemporaryCareForm.CSC_RESIDENTIAL_UNIT}


def _needs_cam(state: CaseState, paragraph: str) -> None:
    if not state.referred_to_cam:
        raise illegal("this follows a referral of the child to the CAM/CSC (4.5(b), 4.7(c)), and this case has none",
                      paragraph)


def _open_meeting(state: CaseState, meeting_id: str, purpose: MeetingPurpose, paragraph: str) -> list[str]:
    """The invited members of a scheduled, not yet held meeting of this purpose."""
    invited = state.meetings.get(meeting_id)
    if invited is None or state.meeting_purposes.get(meeting_id) is not purpose:
        raise illegal(f"no {purpose.value} meeting {meeting_id} is scheduled on this case", paragraph, "meeting_id")
    if meeting_id in state.meetings_held:
        raise illegal(f"meeting {meeting_id} has already been held", paragraph, "meeting_id")
    return invited


def _not_adult(state: CaseState, paragraph: str) -> None:
    if state.care.turned_18:
        raise illegal("the child has turned 18 and is no longer subject to a plan; the case is transferred "
                      "(6.74(a), 6.78(a))", paragraph)


# -- 4.5, 6.74(a), 6.78(a): the child's age changes --------------------------------------------------
def _check_age(event: ChildAgeRecorded, state: CaseState) -> None:
    if not 0 <= event.child_age_years <= 18:
        raise illegal("child_age_years must be 0–18", "Annex B part 2", "child_age_years")
    if event.reason is AgeRecordReason.BIRTHDAY and state.child_age_years is not None \
            and event.child_age_years != state.child_age_years + 1:
        raise illegal(f"a birthday makes the child one year older than the {state.child_age_years} on record",
                      "4.5", "child_age_years")


def _apply_age(event: ChildAgeRecorded, state: CaseState, directory: Directory | None = None) -> None:
    state.child_age_years = event.child_age_years
    if event.child_age_years >= 3 and state.child_protection_referrers:
        state.referred_to_cam = True   # 4.5(b): from 3 the CAM/CSC holds the case
    if event.child_age_years >= 18:
        state.care.turned_18 = True


def _route_age(event: ChildAgeRecorded, state: CaseState, directory: Directory) -> list[Delivery]:
    out: list[Delivery] = []
    if event.child_age_years == 3 and state.child_protection_referrers and not state.referred_to_cam:
        out.append(to_kind(AgencyKind.CAM_CSC, "4.5(b)(i), 4.6", "referral")(event, state, directory))
    if event.child_age_years >= 18:
        out.append(to_kind(AgencyKind.CAM_CSC, "6.78(a)", "notification")(event, state, directory))
        out.append(to_kind(AgencyKind.COMMISSION, "6.78(a)", "notification")(event, state, directory))
    out.append(to_kind(AgencyKind.GUARDIANSHIP, "4.5", "notification")(event, state, directory))
    return out


# -- 6.8–6.11: age assessment ---------------------------------------------------------------------
def _check_age_assessment(event: AgeAssessmentCompleted, state: CaseState) -> None:
    if not state.age_disputed:
        raise illegal("an age assessment is arranged only for an age-disputed child (the referral says the age "
                      "is undocumented and disputed)", "6.8–6.9")
    _needs_cam(state, "6.9")


def _apply_age_assessment(event: AgeAssessmentCompleted, state: CaseState, directory: Directory | None = None) -> None:
    state.care.age_assessed = True
    state.child_age_years = event.adopted_age_years   # 6.11: benefit of the doubt


# -- 6.12: family tracing -------------------------------------------------------------------------
def _check_tracing(event: FamilyTracingUpdated, state: CaseState) -> None:
    _needs_cam(state, "6.12")
    if event.status in (TracingStatus.FAMILY_TRACED, TracingStatus.NOT_TRACEABLE) \
            and state.care.tracing is not TracingStatus.STARTED:
        raise illegal("a tracing result follows the start of family tracing", "6.12", "status")


def _apply_tracing(event: FamilyTracingUpdated, state: CaseState, directory: Directory | None = None) -> None:
    state.care.tracing = event.status


# -- 6.13–6.15: medical examination ---------------------------------------------------------------
def _check_medical_consent(event: MedicalExaminationConsentRecorded, state: CaseState) -> None:
    if not (state.referred_to_cam or state.open_criminal_cases):
        raise illegal("a medical examination is managed by the CAM/CSC (6.1(e)) or agreed with the police in a "
                      "criminal case (6.13); this case has neither", "6.13")
    if event.consent.authority_approved and state.care.medical_authorised is not True:
        raise illegal("authority_approved needs the Guardianship's or court's decision granting the application "
                      "on the log (MedicalExaminationAuthorised); the CAM/CSC cannot approve its own application",
                      "6.15")


def _apply_medical_consent(event: MedicalExaminationConsentRecorded, state: CaseState,
                           directory: Directory | None = None) -> None:
    state.care.medical_consent = event.consent
    if _needs_application(event.consent) and state.care.medical_authorised is None:
        state.care.medical_application_to = event.decision_body   # 6.15: the Guardianship or the court
    _judge_medical_consent(state)


def _judge_medical_consent(state: CaseState) -> None:
    """Whether the latest consent suffices, with the authority's decision (if any) as the only
    source of an approval (6.15)."""
    consent = state.care.medical_consent
    if consent is not None:
        approved = consent.model_copy(update={"authority_approved": state.care.medical_authorised is True})
        state.care.medical_consent_problems = consent_problems(approved)


def _needs_application(consent: Consent | None) -> bool:
    """6.15: under 16, the parent refused and the child is not mature enough — the CAM/CSC
    Manager applies to the Guardianship (or court)."""
    return (consent is not None and consent.child_age_years < 16 and consent.parent_consented is False
            and consent.child_has_sufficient_maturity is False)


def _check_medical_authorised(event: MedicalExaminationAuthorised, state: CaseState) -> None:
    if not _needs_application(state.care.medical_consent):
        raise illegal("no application is pending: the Guardianship or court decides on a medical examination only "
                      "when the parent of a child under 16 refused and the child is not mature enough to consent",
                      "6.15")


def _route_medical_authorised(event: MedicalExaminationAuthorised, state: CaseState,
                              directory: Directory) -> list[Delivery]:
    """The decision goes to the applicant. An application made to the court is the court's to decide
    (6.15); one made to the Guardianship may be decided by the court the Guardianship brings it to."""
    producer = directory.get(event.envelope.producer.agency_id)
    if state.care.medical_application_to == "court" and (producer is None or producer.kind is not AgencyKind.COURT):
        raise Rejection(Code.AGENCY_NOT_ALLOWED, "the Manager's application was made to the court, which decides it",
                        paragraph="6.15", field="envelope.producer.agency_id")
    return [to_kind(AgencyKind.CAM_CSC, "6.15", "decision")(event, state, directory)]


def _apply_medical_authorised(event: MedicalExaminationAuthorised, state: CaseState,
                              directory: Directory | None = None) -> None:
    state.care.medical_authorised = event.granted
    _judge_medical_consent(state)


def _check_medical_exam(event: MedicalExaminationCompleted, state: CaseState) -> None:
    problems = state.care.medical_consent_problems
    if problems is None:
        raise illegal("the consents for the medical examination are recorded first", "6.14")
    if problems:
        raise illegal("the consents recorded do not suffice: " + "; ".join(problems), "6.14–6.15")


# -- 6.16–6.20: temporary care ----------------------------------------------------------------------
def _check_care_recommended(event: TemporaryCareRecommended, state: CaseState) -> None:
    _needs_cam(state, "6.16")


def _route_care_recommended(event: TemporaryCareRecommended, state: CaseState,
                            directory: Directory) -> list[Delivery]:
    out = [to_kind(AgencyKind.GUARDIANSHIP, "6.16", "recommendation")(event, state, directory),
           to_kind(AgencyKind.COMMISSION, "6.16", "recommendation")(event, state, directory)]
    if event.decision_body == "court":
        out.append(to_kind(AgencyKind.COURT, "6.16", "recommendation")(event, state, directory))
    return out


def _route_medical_consent(event: MedicalExaminationConsentRecorded, state: CaseState,
                           directory: Directory) -> list[Delivery]:
    out = [to_kind(AgencyKind.CAM_CSC, "6.14", "notification")(event, state, directory),
           to_kind(AgencyKind.POLICE, "6.14", "notification")(event, state, directory)]
    if _needs_application(event.consent) and state.care.medical_authorised is None:
        # 6.15: the CAM/CSC Manager applies to the Guardianship or the court for a decision
        body = AgencyKind.COURT if event.decision_body == "court" else AgencyKind.GUARDIANSHIP
        out.append(to_kind(body, "6.15", "application")(event, state, directory))
    return out


def _apply_care_recommended(event: TemporaryCareRecommended, state: CaseState,
                            directory: Directory | None = None) -> None:
    state.care.temporary_care_recommended = True


def _check_care_decided(event: TemporaryCareDecided, state: CaseState) -> None:
    if not state.care.temporary_care_recommended:
        raise illegal("the decision considers the CAM/CSC's assessment and recommendations, and none was made",
                      "6.17")


def _apply_care_decided(event: TemporaryCareDecided, state: CaseState, directory: Directory | None = None) -> None:
    if event.placement_necessary and event.form in _RESIDENTIAL_UNITS:
        state.care.placements.add(PlacementKind.TEMPORARY_RESIDENTIAL_UNIT)


def _route_care_decided(event: TemporaryCareDecided, state: CaseState, directory: Directory) -> list[Delivery]:
    out = [to_kind(AgencyKind.CAM_CSC, "6.17", "outcome")(event, state, directory)]
    if event.placement_necessary and event.form in _RESIDENTIAL_UNITS:   # 6.19(a): an open regime, schooling
        if event.school_agency_id is None:     # the city's default school agency (agencies.yaml, default: true)
            out.append(to_kind(AgencyKind.SCHOOL, "6.19(a)", "notification")(event, state, directory))
        else:                                  # the child's own school
            school = named_agency(event, state, directory, "school_agency_id", (AgencyKind.SCHOOL,), "6.19(a)")
            out.append(Delivery(school, "6.19(a)", "notification"))
    return out


def _check_placement(event: PlacementReviewed | PlacementEnded, state: CaseState) -> None:
    if event.placement not in state.care.placements:
        raise illegal(f"the child has no {event.placement.value} placement under review on this case",
                      "6.19(b)" if event.placement is PlacementKind.TEMPORARY_RESIDENTIAL_UNIT else "6.56",
                      "placement")


def _apply_placement_ended(event: PlacementEnded, state: CaseState, directory: Directory | None = None) -> None:
    state.care.placements.discard(event.placement)


# -- 6.40–6.51: the child protection plan ---------------------------------------------------------
def _check_plan_finalised(event: ChildProtectionPlanFinalised, state: CaseState) -> None:
    _not_adult(state, "6.41")
    if state.meeting_outcomes.get(event.meeting_id) is not MeetingDecision.CHILD_PROTECTION_PLAN:
        raise illegal(f"meeting {event.meeting_id} did not decide on a child protection plan (6.39(c))", "6.40, 6.44",
                      "meeting_id")
    if event.plan_id in state.care.protection_plans:
        raise illegal(f"plan {event.plan_id} is already finalised; amendments follow a review (6.49)", "6.44",
                      "plan_id")
    if event.return_abroad and not event.return_bars_checked:
        raise illegal("a plan that provides for the child's return abroad (6.41(e)) records the check that none of "
                      "the bars (a)-(d) applies: a child must not be returned if one does", "6.58",
                      "return_bars_checked")


def _apply_plan_finalised(event: ChildProtectionPlanFinalised, state: CaseState,
                          directory: Directory | None = None) -> None:
    state.care.protection_plans[event.plan_id] = list(state.meetings.get(event.meeting_id, []))
    if event.return_abroad:
        state.care.return_plans.add(event.plan_id)
        if event.return_bars_checked and not event.return_bars:
            state.care.return_plans_checked.add(event.plan_id)   # 6.58
    state.care.plan_ended = False
    state.care.reassessment_due = False
    state.care.protection_plan_after_care_due = False   # 6.75(c): the plan after the discharge is in place


def _route_plan_finalised(event: ChildProtectionPlanFinalised, state: CaseState,
                          directory: Directory) -> list[Delivery]:
    out = to_members(state.meetings.get(event.meeting_id, []), "6.44", "plan")
    out.append(to_kind(AgencyKind.GUARDIANSHIP, "6.44", "plan")(event, state, directory))
    return out


def _known_plan(state: CaseState, plan_id: str, paragraph: str) -> None:
    if plan_id not in state.care.protection_plans or state.care.plan_ended:
        raise illegal(f"no child protection plan {plan_id} is in force on this case", paragraph, "plan_id")


def _check_plan_reviewed(event: ChildProtectionPlanReviewed, state: CaseState) -> None:
    _known_plan(state, event.plan_id, "6.45")
    _open_meeting(state, event.meeting_id, MeetingPurpose.PLAN_REVIEW, "6.46")


def _apply_plan_reviewed(event: ChildProtectionPlanReviewed, state: CaseState,
                         directory: Directory | None = None) -> None:
    state.meetings_held.add(event.meeting_id)
    care = state.care
    if not event.manager_accepts:
        care.reasons_due.add(event.meeting_id)
        return
    if event.recommendation is PlanReviewRecommendation.VARY:
        care.amendments_due.add(event.plan_id)
    elif event.recommendation in (PlanReviewRecommendation.NO_LONGER_ADEQUATE,
                                  PlanReviewRecommendation.TWELVE_MONTHS_STILL_AT_RISK):
        care.reassessment_due = True
    elif event.recommendation is PlanReviewRecommendation.NO_LONGER_NECESSARY:
        care.plan_ended = True


def _route_review(event: ChildProtectionPlanReviewed | CarePlanReviewed | ReviewRecommendationsRejected,
                  state: CaseState, directory: Directory) -> list[Delivery]:
    paragraph = "6.69" if state.meeting_purposes.get(event.meeting_id) is MeetingPurpose.CARE_PLAN_REVIEW else "6.46"
    if isinstance(event, ReviewRecommendationsRejected):
        paragraph = "6.48" if event.plan_kind is PlanKind.CHILD_PROTECTION_PLAN else "6.76"
    return to_members(state.meetings.get(event.meeting_id, []), paragraph, "meeting material")


def _check_rejected(event: ReviewRecommendationsRejected, state: CaseState) -> None:
    paragraph = "6.48" if event.plan_kind is PlanKind.CHILD_PROTECTION_PLAN else "6.76"
    if event.meeting_id not in state.care.reasons_due:
        raise illegal(f"no review at meeting {event.meeting_id} has recommendations the Manager did not accept",
                      paragraph, "meeting_id")


def _apply_rejected(event: ReviewRecommendationsRejected, state: CaseState, directory: Directory | None = None) -> None:
    state.care.reasons_due.discard(event.meeting_id)


def _check_plan_amended(event: ChildProtectionPlanAmended, state: CaseState) -> None:
    _known_plan(state, event.plan_id, "6.49")
    if event.plan_id not in state.care.amendments_due:
        raise illegal("a plan is amended after a review that recommends varying it (6.47(b))", "6.49", "plan_id")


def _apply_amended(event: ChildProtectionPlanAmended | CarePlanAmended, state: CaseState,
                   directory: Directory | None = None) -> None:
    state.care.amendments_due.discard(getattr(event, "plan_id", None) or getattr(event, "care_plan_id", ""))


def _route_plan_amended(event: ChildProtectionPlanAmended, state: CaseState, directory: Directory) -> list[Delivery]:
    return to_members(state.care.protection_plans.get(event.plan_id, []), "6.49", "plan")


# -- 6.41(e), 6.52, 6.79: return abroad -----------------------------------------------------------
def _check_transfer(event: CaseTransferredAbroad, state: CaseState) -> None:
    care = state.care
    if care.return_permitted is False:
        raise illegal("the return assessment found the return not in the child's best interests or barred; a "
                      "child must not be returned (6.58) and is integrated in Kazakhstan instead (6.59)", "6.58")
    if care.active_plan and care.return_plans:
        # 6.41(e), 6.52: the plan in force provides for reunification abroad; 6.58 forbids any return
        # that a bar forbids, so the plan recorded their check (or a return assessment permitted it)
        if not care.return_plans & care.return_plans_checked and care.return_permitted is not True:
            raise illegal("the plan providing for the return does not record the check of the bars (a)-(d) and no "
                          "return assessment permitted the return; a child must not be returned if one applies",
                          "6.58")
        return
    if care.care_plan_id is not None:
        if care.return_permitted is None:
            raise illegal("a child in care is returned only after the CAM/CSC's assessment that the return is in "
                          "the child's best interests and not barred", "6.57–6.58")
        return   # 6.79
    raise illegal("case management is transferred abroad under a child protection plan that provides for the "
                  "return (6.41(e), 6.52) or a care plan after a return assessment (6.57, 6.79); this case has "
                  "neither", "6.52, 6.79")


def _check_return_assessment(event: ReturnAssessmentCompleted, state: CaseState) -> None:
    if state.social_assessment is None:
        raise illegal("the return assessment follows the social assessment (or meeting) concluding the child "
                      "cannot be reunited with the parents", "6.57")


def _apply_return_assessment(event: ReturnAssessmentCompleted, state: CaseState,
                             directory: Directory | None = None) -> None:
    state.care.return_permitted = event.return_permitted


def _check_integration(event: IntegrationAssessmentCompleted, state: CaseState) -> None:
    if state.care.return_permitted is not False:
        raise illegal("the integration assessment follows a return assessment (ReturnAssessmentCompleted) that found "
                      "the return not in the child's best interests or not permitted (6.58)", "6.59")


def _apply_integration(event: IntegrationAssessmentCompleted, state: CaseState,
                       directory: Directory | None = None) -> None:
    state.care.integration_assessed = True


def _approval_scope(event: PlanApproved, state: CaseState) -> tuple[list[str], str]:
    """The members asked to approve the document, and the paragraph: 6.43 (minutes), 6.44 (the
    plan), 6.60 (the care plan). Refuses a reference to no such document on the case."""
    care = state.care
    if event.plan_kind is PlanKind.MEETING_MINUTES:
        if event.reference not in state.meetings_held:
            raise illegal(f"meeting {event.reference} has not been held; its minutes follow it", "6.43", "reference")
        if event.reference not in state.minutes_circulated:   # 6.43: members approve the draft they received
            raise illegal(f"the draft minutes of meeting {event.reference} have not been circulated "
                          "(MeetingMinutesCirculated)", "6.43", "reference")
        members, paragraph = state.meetings.get(event.reference, []), "6.43"
    elif event.plan_kind is PlanKind.CHILD_PROTECTION_PLAN:
        if event.reference not in care.protection_plans:
            raise illegal(f"no child protection plan {event.reference} on this case", "6.44", "reference")
        members, paragraph = care.protection_plans[event.reference], "6.44"
    else:
        if care.care_plan_id != event.reference:
            raise illegal(f"no care plan {event.reference} is in force on this case", "6.60", "reference")
        members, paragraph = care.care_plan_members, "6.60"
    return members, paragraph


def _check_plan_approved(event: PlanApproved, state: CaseState) -> None:
    _approval_scope(event, state)


def _route_plan_approved(event: PlanApproved, state: CaseState, directory: Directory) -> list[Delivery]:
    """Members approve; so does the Guardianship, whose approval 6.44 and 6.60 require."""
    members, paragraph = _approval_scope(event, state)
    producer = event.envelope.producer.agency_id
    agency = directory.get(producer)
    if producer not in members and (agency is None or agency.kind is not AgencyKind.GUARDIANSHIP):
        raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{producer} is not a member asked to approve this document",
                        paragraph=paragraph, field="envelope.producer.agency_id")
    return [to_kind(AgencyKind.CAM_CSC, "6.43, 6.44, 6.60", "approval")(event, state, directory)]


def _apply_transfer(event: CaseTransferredAbroad, state: CaseState, directory: Directory | None = None) -> None:
    state.care.transferred_abroad = True


def _check_arrival(event: SafeArrivalConfirmed, state: CaseState) -> None:
    if not state.care.transferred_abroad:
        raise illegal("safe arrival is confirmed by the case manager the case was transferred to, and this case "
                      "was not transferred abroad", "6.52, 6.79")


def _apply_arrival(event: SafeArrivalConfirmed, state: CaseState, directory: Directory | None = None) -> None:
    state.care.safe_arrival_confirmed = True


# -- 6.53–6.78: the care plan ---------------------------------------------------------------------
def _check_care_plan(event: CarePlanAgreed, state: CaseState) -> None:
    _not_adult(state, "6.53")
    care = state.care
    if care.return_permitted is False and not care.integration_assessed:
        raise illegal("the return assessment found the return not in the child's best interests or not permitted: "
                      "the care plan follows the assessment of the child's integration in Kazakhstan "
                      "(IntegrationAssessmentCompleted)", "6.59")
    decided = MeetingDecision.CARE_PLAN in state.meeting_decisions
    if not decided and state.social_assessment is not SocialAssessmentConclusion.SIGNIFICANT_HARM \
            and not care.integration_assessed:
        raise illegal("a care plan follows a social assessment or child protection meeting concluding that the "
                      "child must be removed or placed in alternative care (6.39(d), 6.42, 6.53), or the "
                      "assessment of an unreturnable child's integration in Kazakhstan (6.53(b), 6.59)", "6.53")
    if state.care.care_plan_id is not None:
        raise illegal(f"care plan {state.care.care_plan_id} is already in force; it is varied at a review (6.77)",
                      "6.53", "care_plan_id")


def _care_plan_members(event: CarePlanAgreed, state: CaseState) -> list[str]:
    """The invited members of the latest meeting that decided on a care plan (6.39(d)) and the
    professionals the plan names (6.60: all those involved, e.g. when no meeting decided it)."""
    decided = [m for m, d in state.meeting_outcomes.items() if d is MeetingDecision.CARE_PLAN]
    invited = list(state.meetings.get(decided[-1], [])) if decided else []
    return list(dict.fromkeys(invited + list(event.member_agency_ids)))


def _apply_care_plan(event: CarePlanAgreed, state: CaseState, directory: Directory | None = None) -> None:
    care = state.care
    care.care_plan_id = event.care_plan_id
    care.care_plan_members = _care_plan_members(event, state)
    care.care_plan_placement = event.placement
    care.care_plan_ends_on = event.ends_on
    if event.placement is CarePlacement.RESIDENTIAL_CARE:
        care.placements.add(PlacementKind.RESIDENTIAL_CARE)


def _route_care_plan(event: CarePlanAgreed, state: CaseState, directory: Directory) -> list[Delivery]:
    unknown = [a for a in event.member_agency_ids if directory.get(a) is None]
    if unknown:
        raise Rejection(Code.NO_RECIPIENT, f"care plan member {unknown[0]!r} is not in the directory",
                        paragraph="6.60", field="member_agency_ids")
    out = to_members(_care_plan_members(event, state), "6.60", "plan")
    out.append(to_kind(AgencyKind.GUARDIANSHIP, "6.60", "plan")(event, state, directory))
    return out


def _known_care_plan(state: CaseState, care_plan_id: str, paragraph: str) -> None:
    if state.care.care_plan_id != care_plan_id:
        raise illegal(f"no care plan {care_plan_id} is in force on this case", paragraph, "care_plan_id")


def _check_review_report(event: CarePlanReviewReportIssued, state: CaseState) -> None:
    _open_meeting(state, event.meeting_id, MeetingPurpose.CARE_PLAN_REVIEW, "6.66")


def _route_review_report(event: CarePlanReviewReportIssued, state: CaseState, directory: Directory
                         ) -> list[Delivery]:
    return to_members(state.meetings.get(event.meeting_id, []), "6.66, 6.69", "meeting material")


def _check_care_reviewed(event: CarePlanReviewed, state: CaseState) -> None:
    _known_care_plan(state, event.care_plan_id, "6.61")
    _open_meeting(state, event.meeting_id, MeetingPurpose.CARE_PLAN_REVIEW, "6.63")
    if event.child_attended is None:
        raise illegal("the review records whether the child attended (6.63(a)): a child who did not is represented "
                      "by the independent supporter", "6.65", "child_attended")
    if not event.child_attended and not state.care.independent_supporter:
        raise illegal("the child did not attend the review and no independent supporter is assigned on the case "
                      "(IndependentSupporterAssigned) to convey the child's views and tell the child about it",
                      "6.65", "child_attended")


# -- 6.68: the carer's and professionals' reports after the review ---------------------------------
def _check_reports_distributed(event: CarePlanReviewReportsDistributed, state: CaseState) -> None:
    meeting = event.meeting_id
    if state.meeting_purposes.get(meeting) is not MeetingPurpose.CARE_PLAN_REVIEW or meeting not in state.meetings_held:
        raise illegal(f"no care plan review meeting {meeting} has been held on this case (CarePlanReviewed); the "
                      "reports are provided after it", "6.68", "meeting_id")


def _route_reports_distributed(event: CarePlanReviewReportsDistributed, state: CaseState,
                               directory: Directory) -> list[Delivery]:
    return to_members(state.meetings.get(event.meeting_id, []), "6.68, 6.69", "meeting material")


def _apply_care_reviewed(event: CarePlanReviewed, state: CaseState, directory: Directory | None = None) -> None:
    state.meetings_held.add(event.meeting_id)
    if not event.manager_accepts:
        state.care.reasons_due.add(event.meeting_id)
    elif event.decision is CarePlanDecision.VARY:
        state.care.amendments_due.add(event.care_plan_id)


def _check_care_amended(event: CarePlanAmended, state: CaseState) -> None:
    _known_care_plan(state, event.care_plan_id, "6.77")
    if event.care_plan_id not in state.care.amendments_due:
        raise illegal("a care plan is amended after a review that decides to vary it (6.73(b))", "6.77",
                      "care_plan_id")


def _route_care_members(paragraph: str) -> Route:
    """The care plan's members and the Guardianship (6.60: a copy for written approval)."""
    def route(event: Event, state: CaseState, directory: Directory) -> list[Delivery]:
        out = to_members(state.care.care_plan_members, paragraph, "plan")
        out.append(to_kind(AgencyKind.GUARDIANSHIP, paragraph, "plan")(event, state, directory))
        return out
    return route


def _check_transition_planned(event: TransitionFromCarePlanned, state: CaseState) -> None:
    _known_care_plan(state, event.care_plan_id, "6.75(a)")


def _check_left_care(event: ChildLeftCare, state: CaseState) -> None:
    _known_care_plan(state, event.care_plan_id, "6.75")
    if event.after_care_agency_id is None:
        raise illegal("the case is transferred to the authority responsible for after-care (or, at 18, for "
                      "monitoring the transition): name its agency id", "6.75(b)", "after_care_agency_id")


def _apply_left_care(event: ChildLeftCare, state: CaseState, directory: Directory | None = None) -> None:
    care = state.care
    care.care_plan_id = None
    care.left_care = True
    care.turned_18 = care.turned_18 or event.turned_18
    care.placements.discard(PlacementKind.RESIDENTIAL_CARE)
    care.protection_plan_after_care_due = event.child_protection_plan_to_follow   # 6.75(c)


def _route_left_care(event: ChildLeftCare, state: CaseState, directory: Directory) -> list[Delivery]:
    after_care = event.after_care_agency_id or ""
    if directory.get(after_care) is None:
        raise Rejection(Code.NO_RECIPIENT, f"after-care agency {after_care!r} is not in the directory",
                        paragraph="6.75(b)", field="after_care_agency_id")
    out = [Delivery(after_care, "6.75(d)" if event.turned_18 else "6.75(b)", "case transfer")]
    out += to_referrers(state, "6.75, 6.24")
    out.append(to_kind(AgencyKind.GUARDIANSHIP, "6.75(b)", "notification")(event, state, directory))
    out.append(to_kind(AgencyKind.COMMISSION, "6.75(b)", "notification")(event, state, directory))
    return out


def _check_leaving_review(event: LeavingCareReviewCompleted, state: CaseState) -> None:
    if not state.care.left_care:
        raise illegal("the one-year review follows the child's leaving care", "6.78(b)")


def _apply_leaving_review(event: LeavingCareReviewCompleted, state: CaseState,
                          directory: Directory | None = None) -> None:
    state.care.leaving_care_review_clear = event.no_reasonable_cause_for_concern


def _apply_supporter(event: IndependentSupporterAssigned, state: CaseState, directory: Directory | None = None) -> None:
    state.care.independent_supporter = True


_CARE_PROVIDERS = kinds(AgencyKind.CAM_CSC, AgencyKind.HEALTH, AgencyKind.POLICE)

STEPS: tuple[Step, ...] = (
    Step(ChildAgeRecorded, kinds(AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP), "4.5, 6.74(a), 6.78(a)",
         check=_check_age, apply=_apply_age, route=_route_age),
    Step(AgeAssessmentCompleted, BY_CAM, "6.9–6.11",
         check=_check_age_assessment, apply=_apply_age_assessment,
         route=referrers_and("6.11, 6.24", to_kind(AgencyKind.GUARDIANSHIP, "6.11", "outcome"))),
    Step(FamilyTracingUpdated, BY_CAM, "6.12",
         check=_check_tracing, apply=_apply_tracing,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "6.12", "notification"),
                        to_kind(AgencyKind.POLICE, "6.12", "notification"))),
    Step(MedicalExaminationConsentRecorded, _CARE_PROVIDERS, "6.14–6.15",
         check=_check_medical_consent, apply=_apply_medical_consent, route=_route_medical_consent),
    Step(MedicalExaminationAuthorised, kinds(AgencyKind.GUARDIANSHIP, AgencyKind.COURT), "6.15",
         check=_check_medical_authorised, apply=_apply_medical_authorised, route=_route_medical_authorised),
    Step(MedicalExaminationCompleted, _CARE_PROVIDERS, "6.13",
         check=_check_medical_exam,
         route=route_to(to_kind(AgencyKind.CAM_CSC, "6.13", "notification"),
                        to_kind(AgencyKind.POLICE, "6.13", "notification"))),
    Step(TemporaryCareRecommended, BY_CAM, "6.16",
         check=_check_care_recommended, apply=_apply_care_recommended, route=_route_care_recommended),
    Step(TemporaryCareDecided, kinds(AgencyKind.COMMISSION, AgencyKind.COURT, AgencyKind.GUARDIANSHIP), "6.17",
         check=_check_care_decided, apply=_apply_care_decided, route=_route_care_decided),
    Step(PlacementReviewed, kinds(AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP), "6.19(b), 6.56",
         check=_check_placement,
         route=route_to(to_kind(AgencyKind.CAM_CSC, "6.19(b), 6.56", "outcome"),
                        to_kind(AgencyKind.GUARDIANSHIP, "6.19(b), 6.56", "outcome"),
                        to_kind(AgencyKind.COMMISSION, "6.19(b)", "outcome"))),
    Step(PlacementEnded, kinds(AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP), "6.18(e), 6.56",
         check=_check_placement, apply=_apply_placement_ended,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "6.18(e), 6.56", "notification"),
                        to_kind(AgencyKind.COMMISSION, "6.19(b)", "notification"))),
    Step(ChildProtectionPlanFinalised, BY_CAM, "6.44",
         check=_check_plan_finalised, apply=_apply_plan_finalised, route=_route_plan_finalised),
    Step(ChildProtectionPlanReviewed, BY_CAM, "6.45, 6.70",
         check=_check_plan_reviewed, apply=_apply_plan_reviewed, route=_route_review),
    Step(ReviewRecommendationsRejected, BY_CAM, "6.48, 6.76",
         check=_check_rejected, apply=_apply_rejected, route=_route_review),
    Step(ChildProtectionPlanAmended, BY_CAM, "6.49",
         check=_check_plan_amended, apply=_apply_amended, route=_route_plan_amended),
    Step(CaseTransferredAbroad, BY_CAM, "6.52, 6.79",
         check=_check_transfer, apply=_apply_transfer,
         route=referrers_and("6.52, 6.24", to_kind(AgencyKind.GUARDIANSHIP, "6.52, 6.79", "notification"),
                             to_kind(AgencyKind.BORDER_GUARD, "4.4, 6.41(e)(iii)", "notification"))),
    # a member of the plan or meeting (checked as a transition)
    Step(PlanApproved, ANYONE, "6.43, 6.44, 6.60", check=_check_plan_approved, route=_route_plan_approved),
    Step(ReturnAssessmentCompleted, BY_CAM, "6.57–6.59",
         check=_check_return_assessment, apply=_apply_return_assessment,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "6.57–6.59", "outcome"))),
    # the CAM/CSC records the receiving case manager's confirmation
    Step(SafeArrivalConfirmed, BY_CAM, "6.52, 6.79",
         check=_check_arrival, apply=_apply_arrival,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "6.52, 6.79", "notification"))),
    Step(IntegrationAssessmentCompleted, BY_CAM, "6.59",
         check=_check_integration, apply=_apply_integration,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "6.59", "outcome"))),
    Step(CarePlanAgreed, BY_CAM, "6.53", check=_check_care_plan, apply=_apply_care_plan, route=_route_care_plan),
    Step(CarePlanReviewReportIssued, BY_CAM, "6.66", check=_check_review_report, route=_route_review_report),
    Step(CarePlanReviewed, BY_CAM, "6.61, 6.70",
         check=_check_care_reviewed, apply=_apply_care_reviewed, route=_route_review),
    Step(CarePlanReviewReportsDistributed, BY_CAM, "6.68",
         check=_check_reports_distributed, route=_route_reports_distributed),
    Step(CarePlanAmended, BY_CAM, "6.77",
         check=_check_care_amended, apply=_apply_amended, route=_route_care_members("6.77, 6.60")),
    Step(TransitionFromCarePlanned, BY_CAM, "6.75",
         check=_check_transition_planned, route=_route_care_members("6.75(a)")),
    Step(ChildLeftCare, BY_CAM, "6.75", check=_check_left_care, apply=_apply_left_care, route=_route_left_care),
    Step(LeavingCareReviewCompleted, BY_CAM, "6.78(b)",
         check=_check_leaving_review, apply=_apply_leaving_review,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "6.78(b)", "outcome"))),
    Step(IndependentSupporterAssigned, kinds(AgencyKind.CAM_CSC, AgencyKind.NGO), "6.36, 6.63(b), 6.65",
         apply=_apply_supporter,
         route=route_to(to_kind(AgencyKind.CAM_CSC, "6.36, 6.65", "notification"),
                        to_kind(AgencyKind.GUARDIANSHIP, "6.36, 6.65", "notification"))),
)
