"""Case events of the CAM/CSC's work after the referral (Annex B of seed 001): age assessment
(6.8–6.11), family tracing (6.12), medical examination (6.13–6.15), temporary care (6.16–6.20),
the child protection plan (6.40–6.52), the care plan and leaving care (6.53–6.79), and the
independent supporter (6.36, 6.63(b), 6.65). Paragraphs in each docstring."""

from __future__ import annotations

from datetime import date
from enum import Enum

from pydantic import Field, model_validator

from referral_bus.contracts.base import (
    AgencyId,
    AssessedAge,
    CountryCode,
    Event,
    Identifier,
    Label,
    PersonalText,
    Reference,
    RuleViolation,
)
from referral_bus.contracts.consent import Consent, ConsentSubject


class AgeAssessmentCompleted(Event):
    """6.9–6.11: the CAM/CSC's multi-disciplinary age assessment of an age-disputed child. When
    the result is inconclusive the child gets the benefit of the doubt (6.11): the age the bus
    adopts is the lower bound of the assessed range."""

    claimed_age_years: AssessedAge = Field(description="6.8: the age the individual asserts")
    assessed_min_age_years: AssessedAge = Field(
        description="6.10: the lower bound of the assessed age range in whole years; the age the bus adopts when the "
                    "result is inconclusive (benefit of the doubt, 6.11)")
    assessed_max_age_years: AssessedAge = Field(
        description="6.10: the upper bound of the assessed age range in whole years; equals the lower bound when the "
                    "assessment is conclusive (6.11)")
    conclusive: bool = Field(description="6.11: conclusive results are adopted; otherwise benefit of the doubt")
    least_invasive_method: bool = Field(default=True, description="6.10(d): the least invasive method was used")

    @model_validator(mode="after")
    def _range(self) -> AgeAssessmentCompleted:
        if self.assessed_min_age_years > self.assessed_max_age_years:
            raise RuleViolation("the lower bound exceeds the upper bound", "6.10", field="assessed_min_age_years")
        if self.conclusive and self.assessed_min_age_years != self.assessed_max_age_years:
            raise RuleViolation("a conclusive assessment names one age; a range is inconclusive and the child gets "
                                "the benefit of the doubt", "6.11", field="conclusive")
        return self

    @property
    def adopted_age_years(self) -> int:
        """6.11: a conclusive result is adopted; an inconclusive one resolves in the child's favour."""
        return self.assessed_min_age_years


class TracingStatus(str, Enum):
    STARTED = "STARTED"                                      # 6.12: as soon as possible after the referral
    NOT_IN_BEST_INTERESTS = "NOT_IN_BEST_INTERESTS"          # 6.12: tracing contrary to best interests / risk
    CHILD_DOES_NOT_WISH = "CHILD_DOES_NOT_WISH"
    FAMILY_TRACED = "FAMILY_TRACED"
    NOT_TRACEABLE = "NOT_TRACEABLE"


class FamilyTracingUpdated(Event):
    """6.12: the CAM/CSC starts family tracing of a separated or unaccompanied child, decides not to
    (with the reason), or reports its result."""

    status: TracingStatus = Field(
        description="6.12: tracing started, decided against (not in the child's best interests, or the child does "
                    "not wish it), or its result: family traced or not traceable")


class MedicalExaminationConsentRecorded(Event):
    """6.14–6.15: the consents obtained for a (joint, 6.6/6.13) medical examination of the child.
    When the parent of a child under 16 refused and the child is not mature enough, the record is
    the CAM/CSC Manager's application (6.15) to the body ``decision_body`` names."""

    consent: Consent = Field(
        description="6.14–6.15: the consents obtained for the examination; its subject must be MEDICAL_EXAMINATION")
    #: 6.15 (issue 15): the application goes "to the Guardianship and Tutelage Authority/Court"
    decision_body: Label = Field(default="guardianship",
                                 description="6.15: the body the Manager's application goes to: guardianship or court")

    @model_validator(mode="after")
    def _subject(self) -> MedicalExaminationConsentRecorded:
        if self.consent.subject is not ConsentSubject.MEDICAL_EXAMINATION:
            raise RuleViolation("a medical examination consent has subject MEDICAL_EXAMINATION", "6.14",
                                field="consent.subject")
        if self.decision_body not in ("guardianship", "court"):
            raise RuleViolation("the Manager applies to the Guardianship and Tutelage Authority or the court", "6.15",
                                field="decision_body")
        return self


class MedicalExaminationAuthorised(Event):
    """6.15: the Guardianship (or the court) decides the CAM/CSC Manager's application to have the
    child examined although the parent refused and the child is not mature enough to consent. This
    decision on the log — not a flag the CAM/CSC sets on its own consent record — is the legal basis
    for the examination."""

    granted: bool = Field(
        description="6.15: whether the Guardianship (or the court) granted the CAM/CSC Manager's application to have "
                    "the child examined")
    decision_reference: Reference = Field(
        description="The decision's number in the Guardianship's or court's register; never personal data")


class MedicalExaminationCompleted(Event):
    """6.13–6.15: the medical examination took place — jointly for the criminal/administrative
    investigation and the child protection case where there is one (6.6, 6.13)."""

    joint_with_police: bool = Field(default=False, description="6.13: one joint examination, not several")


class TemporaryCareForm(str, Enum):
    FAMILY_BASED = "FAMILY_BASED"                    # 6.18(e): preferred
    CAM_RESIDENTIAL_UNIT = "CAM_RESIDENTIAL_UNIT"    # 6.19: monthly reviews, at most 3 months
    CSC_RESIDENTIAL_UNIT = "CSC_RESIDENTIAL_UNIT"    # seed 002: centre for children in difficult situations, 6 months
    OTHER_RESIDENTIAL = "OTHER_RESIDENTIAL"          # 6.18(d)


class TemporaryCareRecommended(Event):
    """6.16: the CAM/CSC Manager recommends to the Guardianship (and, where relevant, the Commission
    or court) whether and how the child should be placed in temporary care."""

    recommended_form: TemporaryCareForm = Field(
        description="6.16, 6.18: the form of temporary care the CAM/CSC Manager recommends; family-based care is "
                    "preferred (6.18(e))")
    decision_body: Label = Field(default="guardianship", description="6.16: guardianship, commission or court")

    @model_validator(mode="after")
    def _body(self) -> TemporaryCareRecommended:
        if self.decision_body not in ("guardianship", "commission", "court"):
            raise RuleViolation("the decision lies with the guardianship, commission or court", "6.16",
                                field="decision_body")
        return self


class TemporaryCareDecided(Event):
    """6.17–6.18: the Guardianship (or Commission/court) decides on temporary care. Separating
    siblings needs a stated justification (6.18(c))."""

    placement_necessary: bool = Field(
        description="6.17(a): whether placement in temporary care is necessary in the child's best interests")
    form: TemporaryCareForm | None = Field(
        default=None, description="6.17(b): the form of temporary care chosen; required when placement_necessary")
    siblings_separated: bool = Field(
        default=False, description="6.18(c): siblings with existing bonds are placed apart; needs "
                                   "siblings_separation_reason")
    siblings_separation_reason: PersonalText | None = Field(
        default=None, description="6.18(c): the risk of abuse or other justification for separating siblings; "
                                  "required when siblings_separated, free text that may name a person (personal "
                                  "data)")
    school_agency_id: AgencyId | None = Field(
        default=None, description="6.19(a): the school the child attends (a school agency of the case's city), told "
                                  "of a placement in the temporary residential unit; without it the city's default "
                                  "school agency is told")

    @model_validator(mode="after")
    def _rules(self) -> TemporaryCareDecided:
        if self.placement_necessary and self.form is None:
            raise RuleViolation("a placement decision names the form of temporary care", "6.17(b)", field="form")
        if self.siblings_separated and not (self.siblings_separation_reason or "").strip():
            raise RuleViolation("siblings are not separated unless there is a clear risk of abuse or other "
                                "justification, which must be stated", "6.18(c)", field="siblings_separation_reason")
        return self


class PlacementKind(str, Enum):
    TEMPORARY_RESIDENTIAL_UNIT = "TEMPORARY_RESIDENTIAL_UNIT"   # 6.19(b)
    RESIDENTIAL_CARE = "RESIDENTIAL_CARE"                       # 6.56


class PlacementReviewed(Event):
    """6.19(b): the placement in the CAM/CSC temporary residential unit is reviewed at least every
    calendar month; 6.56: residential care at least every three months."""

    placement: PlacementKind = Field(
        description="Which placement was reviewed: the CAM/CSC temporary residential unit (monthly, 6.19(b)) or "
                    "residential care (every three months, 6.56)")
    continues: bool = Field(description="Does the placement remain appropriate, necessary and constructive")


class PlacementEnded(Event):
    """6.18(e), 6.19(b), 6.56: the child left the residential unit or residential care — for a
    family-based placement, home, or another arrangement."""

    placement: PlacementKind = Field(
        description="Which placement ended: the CAM/CSC temporary residential unit (6.19(b)) or residential care "
                    "(6.56)")
    moved_to_family_based_care: bool = Field(
        default=True, description="6.18(e), 6.56: the child moved to a family-based form of care; false for home or "
                                  "another arrangement")


class ReturnBar(str, Enum):
    """6.58 (a)–(d): when a child must not be returned to the country of origin."""

    RISK_OF_IRREPARABLE_HARM = "RISK_OF_IRREPARABLE_HARM"
    RISK_OF_RIGHTS_VIOLATION = "RISK_OF_RIGHTS_VIOLATION"
    ASYLUM_SEEKER_OR_REFUGEE = "ASYLUM_SEEKER_OR_REFUGEE"
    NO_SECURE_CARE_ARRANGEMENT = "NO_SECURE_CARE_ARRANGEMENT"


class ChildProtectionPlanFinalised(Event):
    """6.40–6.44: the plan outlined at the meeting (decision 6.39(c)) is finalised within 7 working
    days of the meeting; the first review is within 30 days of its commencement (6.41(d))."""

    plan_id: Identifier = Field(
        description="The CAM/CSC's own id of the child protection plan; quoted by its reviews, amendments and "
                    "approvals")
    meeting_id: Identifier = Field(description="The child protection meeting that decided on the plan (6.39(c))")
    commences_on: date = Field(description="6.41(d): the date the plan commences")
    first_review_by: date = Field(description="6.41(d): within 30 days of the plan's commencement")
    return_abroad: bool = Field(default=False, description="6.41(e): reunification in the country of origin "
                                                          "or resettlement country")
    approved_by_guardianship: bool = Field(default=False, description="6.44: when its approval is needed")
    #: 6.58 (issue 15): a return under the plan needs no return assessment (6.57 is for a child who cannot
    #: be reunited with the parents), but the bars of 6.58 forbid any return, so the plan records their check
    return_bars_checked: bool = Field(default=False, description="6.58: the CAM/CSC checked the bars (a)-(d) for a "
                                                                 "return under the plan (required with return_abroad)")
    return_bars: list[ReturnBar] = Field(default_factory=list, description="6.58: the bars the check found; any one "
                                                                           "forbids a return under the plan")

    @model_validator(mode="after")
    def _review_date(self) -> ChildProtectionPlanFinalised:
        days = (self.first_review_by - self.commences_on).days
        if not 0 < days <= 30:
            raise RuleViolation("the first review is within 30 days of the plan's commencement", "6.41(d)",
                                field="first_review_by")
        if self.return_abroad and self.return_bars:
            raise RuleViolation("a child must not be returned to the country of origin when one of the bars (a)-(d) "
                                "applies, so the plan cannot provide for the return", "6.58", field="return_bars")
        if self.return_bars and not self.return_bars_checked:
            raise RuleViolation("bars are found by a check: set return_bars_checked", "6.58",
                                field="return_bars_checked")
        return self


class PlanReviewRecommendation(str, Enum):
    """6.47 (a)–(e)."""

    CONTINUE_AS_DRAFTED = "CONTINUE_AS_DRAFTED"          # (a)
    VARY = "VARY"                                        # (b): amended within 7 working days (6.49)
    NO_LONGER_ADEQUATE = "NO_LONGER_ADEQUATE"            # (c): another assessment (6.50)
    TWELVE_MONTHS_STILL_AT_RISK = "TWELVE_MONTHS_STILL_AT_RISK"  # (d): another assessment (6.50)
    NO_LONGER_NECESSARY = "NO_LONGER_NECESSARY"          # (e): referral on and closure (6.51)


class ChildProtectionPlanReviewed(Event):
    """6.45–6.48: the review meeting (same procedure as 6.32–6.38, so scheduled as a meeting) and
    its recommendation; the Manager accepts it or gives written reasons within 2 working days."""

    plan_id: Identifier = Field(description="The plan reviewed, as in its ChildProtectionPlanFinalised")
    meeting_id: Identifier = Field(
        description="The review meeting (6.45–6.46), as in its ChildProtectionMeetingScheduled with purpose "
                    "PLAN_REVIEW")
    recommendation: PlanReviewRecommendation = Field(
        description="6.47(a)–(e): the members' recommendation: continue, vary (amended within 7 working days, 6.49), "
                    "no longer adequate or still at risk after 12 months (new assessment, 6.50), no longer necessary "
                    "(6.51)")
    manager_accepts: bool = Field(
        default=True, description="6.48: whether the CAM/CSC Manager accepts the recommendation; if not, a "
                                  "ReviewRecommendationsRejected with reasons follows within 2 working days")


class PlanKind(str, Enum):
    CHILD_PROTECTION_PLAN = "CHILD_PROTECTION_PLAN"   # 6.44, 6.48
    CARE_PLAN = "CARE_PLAN"                           # 6.60, 6.76
    MEETING_MINUTES = "MEETING_MINUTES"               # 6.43


class ReviewRecommendationsRejected(Event):
    """6.48, 6.76: the CAM/CSC Manager rejects the review's recommendations and gives the members
    the reasons in writing within 2 working days."""

    plan_kind: PlanKind = Field(
        description="Which review's recommendations are rejected: the child protection plan's (6.48) or the care "
                    "plan's (6.76)")
    meeting_id: Identifier = Field(
        description="The review meeting whose recommendations are rejected, as in its "
                    "ChildProtectionMeetingScheduled")
    reasons: PersonalText = Field(
        description="6.48, 6.76: the Manager's written reasons; required, free text that may name a person (personal "
                    "data)")

    @model_validator(mode="after")
    def _reasons(self) -> ReviewRecommendationsRejected:
        if not self.reasons.strip():
            raise RuleViolation("the Manager's reasons are given in writing", "6.48, 6.76", field="reasons")
        return self


class ChildProtectionPlanAmended(Event):
    """6.49: the plan amended within 7 working days of the review, with the next review date."""

    plan_id: Identifier = Field(description="The plan amended, as in its ChildProtectionPlanFinalised")
    next_review_by: date = Field(
        description="6.49: the date set for the next review")


class PlanApproved(Event):
    """6.43: a member approves and signs the minutes (comments it makes are held on the case file);
    6.44: another body (e.g. the Guardianship) approves the child protection plan; 6.60: a professional's
    written approval of the care plan."""

    plan_kind: PlanKind = Field(
        description="What is approved: meeting minutes (6.43), a child protection plan (6.44) or a care plan (6.60)")
    reference: Identifier = Field(description="The plan id, care plan id, or meeting id of the minutes")
    comments_submitted: bool = Field(default=False, description="6.43: comments on the minutes' accuracy")


class ReturnAssessmentCompleted(Event):
    """6.57–6.59: whether returning a child who cannot be reunited with the parents to the country of
    origin is in the child's best interests; any bar of 6.58 forbids the return, and the CAM/CSC
    then assesses integration in Kazakhstan (6.59)."""

    return_in_best_interests: bool = Field(
        description="6.57: whether a return to the country of origin is in the child's best interests; a return is "
                    "permitted only if also no bar of 6.58 applies")
    bars: list[ReturnBar] = Field(default_factory=list, description="6.58: any one forbids the return")

    @property
    def return_permitted(self) -> bool:
        return self.return_in_best_interests and not self.bars


class IntegrationAssessmentCompleted(Event):
    """6.59 (issue 15): the CAM/CSC's assessment of the child's situation with a view to integrating
    the child in Kazakhstan, after the return assessment found the return not in the child's best
    interests or not permitted (6.58). It precedes the child's care plan (6.53(b), 6.59); what it
    found is the CAM/CSC's document, not on the bus."""


class CaseTransferredAbroad(Event):
    """6.41(e)(iv), 6.52, 6.79: case management handed to the child protection authority of the
    country of origin or resettlement country; closure waits for confirmation of safe arrival."""

    country_code: CountryCode = Field(description="ISO 3166-1 alpha-2 code of the receiving country")
    receiving_authority: PersonalText = Field(description="The receiving authority (an institution, never a person)")


class SafeArrivalConfirmed(Event):
    """6.52, 6.79: the case manager in the receiving country confirmed the child's (safe) arrival."""

    country_code: CountryCode = Field(
        description="ISO 3166-1 alpha-2 code of the receiving country, as in the CaseTransferredAbroad")


class CarePlacement(str, Enum):
    KINSHIP = "KINSHIP"                    # 6.55(b): extended family
    FOSTER_FAMILY = "FOSTER_FAMILY"
    GUARDIANSHIP_OR_TRUSTEESHIP = "GUARDIANSHIP_OR_TRUSTEESHIP"
    RESIDENTIAL_CARE = "RESIDENTIAL_CARE"  # 6.55(d), 6.56: reviewed at least every three months
    ADOPTION = "ADOPTION"                  # 6.55(g)


class CarePlanAgreed(Event):
    """6.53–6.55, 6.60: the care plan, sent to every professional involved and the Guardianship for
    written approval. First review no later than 28 days after it commences (6.54(g), 6.62)."""

    care_plan_id: Identifier = Field(
        description="The CAM/CSC's own id of the care plan; quoted by its reviews, amendments, approvals and the "
                    "child's discharge")
    placement: CarePlacement = Field(
        description="6.55: the care arrangement of the plan (kinship, foster family, guardianship or trusteeship, "
                    "residential care, adoption); residential care is reviewed every three months (6.56)")
    commences_on: date = Field(description="The date the care plan commences")
    ends_on: date | None = Field(default=None, description="The planned end: 6.75(a) counts 3 months back from it")
    first_review_by: date = Field(
        description="6.54(g), 6.62: the date of the first review, no later than 28 days after commences_on")
    transition_arrangements: bool = Field(
        default=False, description="6.54(h), 6.55(f): the plan provides arrangements and services to support the "
                                   "child's transition from care")
    #: 6.60 (issue 15): the professionals involved besides the members of the meeting that decided the
    #: plan — for a care plan no meeting decided (6.53 after a social assessment, 6.59), all of them
    member_agency_ids: list[AgencyId] = Field(
        default_factory=list, description="6.60: the professionals delivering services under the care plan or "
                                          "involved in developing it; each receives a copy for written approval")

    @model_validator(mode="after")
    def _dates(self) -> CarePlanAgreed:
        if not 0 < (self.first_review_by - self.commences_on).days <= 28:
            raise RuleViolation("the first review is no later than 28 days after the care plan commences",
                                "6.54(g), 6.62", field="first_review_by")
        if self.ends_on is not None and self.ends_on <= self.commences_on:
            raise ValueError("ends_on: the care plan ends after it commences")
        return self


class CarePlanReviewReportIssued(Event):
    """6.66: the CAM/CSC's written report to the review's members at least 7 days before it —
    confidential to the members (6.69)."""

    meeting_id: Identifier = Field(
        description="6.66: the care plan review meeting the report is for, as in its ChildProtectionMeetingScheduled "
                    "with purpose CARE_PLAN_REVIEW")


class CarePlanDecision(str, Enum):
    """6.73 (a)–(c)."""

    CONTINUE_AS_DRAFTED = "CONTINUE_AS_DRAFTED"
    VARY = "VARY"                                # amended within 7 working days (6.77)
    NO_LONGER_NECESSARY = "NO_LONGER_NECESSARY"  # only on a ground of 6.74


class NoLongerNecessaryGround(str, Enum):
    APPROACHING_18 = "APPROACHING_18"                      # 6.74(a)
    RETURN_TO_PARENTAL_CARE = "RETURN_TO_PARENTAL_CARE"    # 6.74(b), including adoption


class CarePlanReviewed(Event):
    """6.61–6.76: the care plan review meeting and its decision (6.73); the Manager accepts it or
    gives written reasons within 2 working days (6.76)."""

    care_plan_id: Identifier = Field(description="The care plan reviewed, as in its CarePlanAgreed")
    meeting_id: Identifier = Field(
        description="The review meeting (6.61–6.72), as in its ChildProtectionMeetingScheduled with purpose "
                    "CARE_PLAN_REVIEW")
    decision: CarePlanDecision = Field(
        description="6.73(a)–(c): continue as drafted, vary (amended within 7 working days, 6.77), or no longer "
                    "necessary (only on a ground of 6.74)")
    ground: NoLongerNecessaryGround | None = Field(default=None, description="6.74: required for NO_LONGER_NECESSARY")
    manager_accepts: bool = Field(
        default=True, description="6.76: whether the CAM/CSC Manager accepts the decision; if not, a "
                                  "ReviewRecommendationsRejected with reasons follows within 2 working days")
    #: 6.65 (issue 15): None only on reviews recorded before the field existed; a new review states it
    child_attended: bool | None = Field(
        default=None, description="6.63(a), 6.65: whether the child attended the review; a child who did not "
                                  "is represented by the independent supporter")

    @model_validator(mode="after")
    def _ground(self) -> CarePlanReviewed:
        if self.decision is CarePlanDecision.NO_LONGER_NECESSARY and self.ground is None:
            raise RuleViolation("a care plan is no longer necessary only on a stated ground: the child approaching 18 "
                                "or the return to parental care", "6.74", field="ground")
        return self


class CarePlanReviewReportsDistributed(Event):
    """6.68 (issue 15): within two working days of the review meeting the CAM/CSC provides its
    professional members with the written reports of the child's carer and of the other
    professionals involved (confidential to them, 6.69)."""

    meeting_id: Identifier = Field(description="The care plan review meeting (CarePlanReviewed) the reports are of")
    carer_report_included: bool = Field(default=False, description="6.68: the carer's written report (the carer "
                                                                   "is not an agency on the bus) was among them")


class CarePlanAmended(Event):
    """6.77: amended within 7 working days of the review, next review no later than three months
    from the last one."""

    care_plan_id: Identifier = Field(description="The care plan amended, as in its CarePlanAgreed")
    next_review_by: date = Field(
        description="6.77: the date of the next review, no later than three months from the last one")


class TransitionFromCarePlanned(Event):
    """6.75(a): no later than 3 months before the end of the care plan, the steps before, during and
    after discharge, who is responsible and by when."""

    care_plan_id: Identifier = Field(
        description="The care plan whose end the transition prepares (6.75(a)), as in its CarePlanAgreed")


class ChildLeftCare(Event):
    """6.75(b)–(d): the child was discharged from care; the case is transferred to the authority
    responsible for after-care (or, at 18, for monitoring the transition)."""

    care_plan_id: Identifier = Field(
        description="The care plan the child was discharged from, as in its CarePlanAgreed")
    turned_18: bool = Field(
        default=False, description="6.75(d): the child left care on turning 18; the case goes to the authority "
                                   "monitoring the transition to adulthood")
    #: 6.75(b), (d) (issue 15): an agency of the directory, which receives the transferred case
    after_care_agency_id: AgencyId | None = Field(
        default=None, description="6.75(b), (d): the agency the case was transferred to (from agencies.yaml); "
                                  "required on a new record")
    after_care_authority: PersonalText | None = Field(
        default=None, description="Before issue 15 the authority was free text; kept so that older records decode")
    child_protection_plan_to_follow: bool = Field(
        default=False, description="6.75(c): the child is to be subject to a child protection plan after the "
                                   "discharge; the case stays open until the plan is finalised (6.39(c), 6.44)")

    @model_validator(mode="after")
    def _rules(self) -> ChildLeftCare:
        if self.turned_18 and self.child_protection_plan_to_follow:
            raise RuleViolation("a child protection plan after the discharge is for a child; at 18 the case is "
                                "transferred to the authority monitoring the transition (6.75(d))", "6.75(c)",
                                field="child_protection_plan_to_follow")
        return self


class LeavingCareReviewCompleted(Event):
    """6.78(b): the CAM/CSC's one-year review after the child left care."""

    no_reasonable_cause_for_concern: bool = Field(description="6.78(b): no reasonable cause to believe the child "
                                                              "is suffering or at risk of harm")


class IndependentSupporterAssigned(Event):
    """6.7, 6.36, 6.63(b), 6.65: an independent person to convey the child's views, wishes and
    feelings (never the CAM/CSC Social Worker, 6.7)."""

    supporter_organisation: PersonalText = Field(
        description="The organisation of the supporter (never a person's name)")


EVENTS: tuple[type[Event], ...] = (
    AgeAssessmentCompleted, FamilyTracingUpdated, MedicalExaminationConsentRecorded, MedicalExaminationAuthorised,
    MedicalExaminationCompleted,
    TemporaryCareRecommended, TemporaryCareDecided, PlacementReviewed, PlacementEnded, ChildProtectionPlanFinalised,
    ChildProtectionPlanReviewed, ReviewRecommendationsRejected, ChildProtectionPlanAmended, CaseTransferredAbroad,
    SafeArrivalConfirmed, PlanApproved, ReturnAssessmentCompleted, CarePlanAgreed, CarePlanReviewReportIssued,
    CarePlanReviewed, CarePlanAmended, TransitionFromCarePlanned, ChildLeftCare, LeavingCareReviewCompleted,
    IndependentSupporterAssigned, IntegrationAssessmentCompleted, CarePlanReviewReportsDistributed,
)
