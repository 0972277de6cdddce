"""Every deadline the bus enforces, one entry each, with its paragraph beside it.

Annex B of seed 001 (Manual on Intersectoral Coordination), paragraphs 4.1–7.19, and the
violence (seed 002) and justice (seed 003) pathways. The engine does not change when a rule is
added. Deadlines the bus cannot see are listed in ``NOT_ENFORCEABLE`` with the reason.

Rules in force from a date (issue 15; docs/decisions.md, "Rules in force from a date"). Every entry
is one *version* of a rule: ``version`` 1, in force from ``rules.IN_FORCE_FROM`` (2020-01-01) until
further notice, unless it says otherwise. A trigger opens its deadline under the version in force on
the local day it occurred, and the deadline keeps that version; a recurring duty's next occurrence
takes the version in force when the completing event occurred. When the law changes a deadline:

1. Give the entry in force an ``in_force_until``: the last day the old law applies (inclusive).
2. Add a new entry with the *same* ``rule_id``, ``version`` one higher, ``in_force_from`` the day the
   change enters into force and the new clock (or paragraph, ladder, …), right after the old one.
   Never edit the old entry's clock: deadlines opened under it must be judged by it, on every replay.
3. The versions of one rule id must not overlap (``tests/domain/deadlines/test_rule_versions.py``
   checks ``RULES``); a gap means no deadline for triggers in it. Deadline ids come from the rule
   id, so they do not change; ``sla explain`` shows each deadline's version and its validity.
4. Cite the amending act in the new entry's ``title`` or ``paragraph`` and add a test with triggers
   before and after the switch, as ``test_rule_versions.py`` does.

A duty the law repeals gets an ``in_force_until`` and no successor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from referral_bus.contracts.violence_events import RedirectTarget
from referral_bus.domain.agencies import AgencyKind
from referral_bus.domain.deadlines.rules import (
    Anchor,
    ByTheEvent,
    CalendarDays,
    CalendarDaysBefore,
    CalendarMonths,
    Condition,
    DeadlineRule,
    ElapsedHours,
    EscalationStep,
    Immediately,
    MonthsBefore,
    Recurrence,
    Stop,
    WorkingDays,
    WorkingDaysBefore,
)
from referral_bus.domain.pathways.violence import redirect_kind

_ASSESSMENT = frozenset({"InitialAssessmentCompleted"})
#: A flag is followed up by the recipient's account of it, or by a referral or removal on the case.
_FOLLOW_UP = frozenset({"FollowUpRecorded", "ReferralMade", "EmergencyRemovalRequested", "EmergencyRemoval"})
_UNIT = "TEMPORARY_RESIDENTIAL_UNIT"
_NGO_CLOSED = Stop("NGOCaseClosed", reason="the NGO closed its case file (7.10, 7.15, 7.17, 7.19)")
_ABROAD = Stop("CaseTransferredAbroad", reason="case management handed to the authority of the receiving country "
                                               "(6.41(e)(iv), 6.52, 6.79)")
_LEFT_CARE = Stop("ChildLeftCare", match=True, reason="the child left care: the care plan ended (6.75)")
#: Hour-scale ladders for duties counted in hours (4.8, seed 002): days would be too late.
_HOURS_LADDER = (EscalationStep(1, "supervisor"), EscalationStep(2, "commission", 2),
                 EscalationStep(3, "agency:steering-committee", 6))
#: Duties whose completing event is their own trigger (5.2, 7.10): by the time the bus learns of them they
#: are met or late, so a late one goes to the supervisor and, a day late, to the Commission; the Steering
#: Committee sees them in its report rather than one by one.
_AT_ONCE_LADDER = (EscalationStep(1, "supervisor"), EscalationStep(2, "commission", 24))


_CHILD_PROTECTION_3_PLUS = (Condition("referral_kind", "equals", "CHILD_PROTECTION"),
                            Condition("child_age_years", "at_least", 3))


def _initial_assessment(rule_id: str, paragraph: str, title: str, trigger: str, hours: int,
                        when: tuple[Condition, ...], anchor: Anchor = Anchor.RECORDED_AT,
                        **extra: Any) -> DeadlineRule:
    """6.3: one initial-assessment deadline per case (the group); a later trigger re-times it if its
    due time is later ("or, if later, the removal")."""
    return DeadlineRule(rule_id=rule_id, paragraph=paragraph, title=title, trigger=trigger, when=when, anchor=anchor,
                        clock=ElapsedHours(hours), completed_by=_ASSESSMENT, responsible=AgencyKind.CAM_CSC,
                        group="6.3-initial-assessment", warn_before=timedelta(hours=12), **extra)


def _age_assessment(hours: int, paragraph: str, within: str, *, immediate_risk: bool) -> DeadlineRule:
    """6.9: the age assessment is part of the initial assessment, so it runs on 6.3's clock."""
    return DeadlineRule(
        rule_id=f"6.9-age-assessment-{hours}h", paragraph=paragraph,
        title=f"The CAM/CSC assesses an age-disputed child's age as part of the initial assessment: {within}",
        trigger="ReferralMade",
        when=(Condition("referral_kind", "equals", "CHILD_PROTECTION"), Condition("age_disputed", "equals", True),
              Condition("child_age_years", "at_least", 3), Condition("immediate_risk", "equals", immediate_risk)),
        anchor=Anchor.RECORDED_AT, clock=ElapsedHours(hours), completed_by=frozenset({"AgeAssessmentCompleted"}),
        responsible=AgencyKind.CAM_CSC, warn_before=timedelta(hours=12))


def _reasons_in_writing(rule_id: str, paragraph: str, title: str, trigger: str, plan_kind: str) -> DeadlineRule:
    """6.48, 6.76: a Manager who rejects a review's recommendations owes the members reasons."""
    return DeadlineRule(
        rule_id=rule_id, paragraph=paragraph, title=title, trigger=trigger,
        when=(Condition("manager_accepts", "equals", False),),
        anchor=Anchor.OCCURRED_AT,   # when the review meeting took place
        clock=WorkingDays(2), completed_by=frozenset({"ReviewRecommendationsRejected"}),
        completed_when=(Condition("plan_kind", "equals", plan_kind),), match_on=("meeting_id",),
        responsible=AgencyKind.CAM_CSC, warn_before=timedelta(hours=8))


def _amended_within_7wd(rule_id: str, paragraph: str, title: str, trigger: str, vary: Condition, amended: str,
                        plan_field: str) -> DeadlineRule:
    """6.49, 6.77: a review that varies the plan, accepted by the Manager, owes the amendment."""
    return DeadlineRule(
        rule_id=rule_id, paragraph=paragraph, title=title, trigger=trigger,
        when=(vary, Condition("manager_accepts", "equals", True)), anchor=Anchor.OCCURRED_AT,
        clock=WorkingDays(7), completed_by=frozenset({amended}), match_on=(plan_field,),
        responsible=AgencyKind.CAM_CSC, warn_before=timedelta(days=2))


RULES: tuple[DeadlineRule, ...] = (
    DeadlineRule(
        rule_id="4.8-removal-outcome-3h",
        paragraph="4.8",
        title="Juvenile inspector informs the CAM/CSC of the removal outcome within 3 hours",
        trigger="EmergencyRemoval",
        when=(Condition("cam_social_worker_present", "equals", False),),
        anchor=Anchor.OCCURRED_AT,
        clock=ElapsedHours(3),
        completed_by=frozenset({"RemovalOutcomeReported"}),
        responsible=AgencyKind.POLICE,
        warn_before=timedelta(hours=1),
        # a child removed without the CAM present: the ladder climbs within hours, not days
        ladder=_HOURS_LADDER,
    ),
    _initial_assessment(
        "6.3a-initial-assessment-48h-referral", "6.3(a)",
        "CAM/CSC completes the initial assessment within 48 hours (evidence of immediate risk)",
        "ReferralMade", 48, _CHILD_PROTECTION_3_PLUS + (Condition("immediate_risk", "equals", True),)),
    _initial_assessment(
        "6.3a-initial-assessment-48h-removal", "6.3(a)",
        "CAM/CSC completes the initial assessment within 48 hours of the removal, if later",
        "EmergencyRemoval", 48, (Condition("child_removed", "equals", True), Condition("child_age_years", "at_least",
                                                                                       3)),
        anchor=Anchor.OCCURRED_AT),
    _initial_assessment(
        "6.3a-initial-assessment-48h-removal-request", "6.3(a)",
        "CAM/CSC completes the initial assessment within 48 hours of a referral made because the child's "
        "health or life is in immediate danger (4.7(c))",
        "EmergencyRemovalRequested", 48, (Condition("child_age_years", "at_least", 3),)),
    _initial_assessment(
        "6.3b-initial-assessment-72h-turned-3", "4.5(b), 6.3(b)",
        "A child in the Guardianship's care who turns 3 is the CAM/CSC's (4.5(b)): initial assessment within "
        "72 hours of the case passing to it",
        "ChildAgeRecorded", 72, (Condition("child_age_years", "equals", 3),),
        trigger_producers=frozenset({AgencyKind.GUARDIANSHIP})),
    _initial_assessment(
        "6.3b-initial-assessment-72h", "6.3(b)",
        "CAM/CSC completes the initial assessment within 72 hours of receiving the referral",
        "ReferralMade", 72, _CHILD_PROTECTION_3_PLUS + (Condition("immediate_risk", "equals", False),)),
    DeadlineRule(
        rule_id="6.6-joint-handling-meeting",
        paragraph="6.6",
        title="The CAM/CSC Social Worker and the police officer in charge agree joint handling 'at the earliest "
              "possible opportunity' after a criminal case about the child is opened (operator's policy threshold)",
        trigger="CriminalCaseOpened",
        anchor=Anchor.RECORDED_AT,
        clock=Immediately("6.6"),
        completed_by=frozenset({"JointHandlingAgreed"}),
        responsible=AgencyKind.CAM_CSC,
        match_on=("criminal_case_ref",),
    ),
    _age_assessment(48, "6.9, 6.3(a)", "within 48 hours when there is evidence of immediate risk",
                    immediate_risk=True),
    _age_assessment(72, "6.9, 6.3(b)", "within 72 hours", immediate_risk=False),
    DeadlineRule(
        rule_id="6.28-social-assessment-8w",
        paragraph="6.28",
        title="CAM/CSC completes the full social assessment within eight weeks of notifying the referrer "
              "of the initial assessment's decision (6.21)",
        trigger="InitialAssessmentCompleted",
        when=(Condition("outcome", "equals", "SIGNIFICANT_HARM_CONCERN"),),
        anchor=Anchor.RECORDED_AT,   # the 6.21 notification goes out through the bus when recorded
        clock=CalendarDays(56, "8 weeks"),
        completed_by=frozenset({"SocialAssessmentCompleted"}),
        responsible=AgencyKind.CAM_CSC,
        warn_before=timedelta(days=7),
    ),
    DeadlineRule(
        rule_id="6.33-protection-meeting-7wd",
        paragraph="6.33",
        title="The child protection meeting takes place within 7 working days of the completed social assessment",
        trigger="SocialAssessmentCompleted",
        # 6.31(a) harm, 6.31(b) reunification with traced parents: both lead to a meeting (6.32)
        when=(Condition("conclusion", "in", ("SIGNIFICANT_HARM", "REUNIFICATION_WITH_TRACED_PARENTS")),),
        anchor=Anchor.RECORDED_AT,
        clock=WorkingDays(7),
        completed_by=frozenset({"ChildProtectionMeetingHeld"}),
        responsible=AgencyKind.CAM_CSC,
        warn_before=timedelta(days=2),
    ),
    DeadlineRule(
        rule_id="6.33-meeting-information-by-the-meeting",
        paragraph="6.33, 6.46",
        title="The CAM/CSC Social Worker provides the invited professionals with the information (a)–(f) for the "
              "child protection meeting or plan review, by the time it starts",
        trigger="ChildProtectionMeetingScheduled",
        # 6.46: plan reviews follow the meeting's procedure; care plan reviews have their own report (6.66)
        when=(Condition("purpose", "in", ("CHILD_PROTECTION_MEETING", "PLAN_REVIEW")),),
        anchor=Anchor.MEETING,   # the meeting's time; moves when the meeting moves
        clock=ByTheEvent(),
        completed_by=frozenset({"MeetingInformationShared"}),
        match_on=("meeting_id",),
        responsible=AgencyKind.CAM_CSC,
        single="ever",           # moving the meeting re-times it; information shared is not owed again
        warn_before=timedelta(days=1),
    ),
    DeadlineRule(
        rule_id="6.34-written-report-2wd-before",
        paragraph="6.34, 6.46",
        title="A professional who cannot attend submits a written report at least 2 working days before "
              "the child protection meeting or plan review",
        trigger="MeetingAttendanceDeclined",
        # 6.46: plan reviews follow the meeting's procedure; care plan reviews have 6.67 instead
        when=(Condition("purpose", "in", ("CHILD_PROTECTION_MEETING", "PLAN_REVIEW")),),
        anchor=Anchor.MEETING,   # counted back from the meeting; moves when the meeting moves
        clock=WorkingDaysBefore(2),
        completed_by=frozenset({"ProfessionalReportSubmitted"}),
        responsible=None,        # the professional who declined
        match_on=("producer", "meeting_id"),
        single="open",           # declining twice owes one report
        warn_before=timedelta(days=1),
    ),
    DeadlineRule(
        rule_id="7.1-ngo-first-contact-3wd",
        paragraph="7.1",
        title="Once it accepts, the NGO contacts the child and family within 3 working days of receiving "
              "the referral request",
        trigger="NGODecision",
        when=(Condition("decision", "equals", "ACCEPTED"),),
        anchor=Anchor.NGO_REFERRAL,
        referral_when=(Condition("services_requested", "not_only", "LEGAL"),),  # legal only: 7.11
        clock=WorkingDays(3),
        completed_by=frozenset({"NGOFirstContactMade"}),
        responsible=AgencyKind.NGO,
        stopped_by=(_NGO_CLOSED,),
        warn_before=timedelta(hours=8),
    ),
    DeadlineRule(
        rule_id="7.2-ngo-initial-meeting-4wd",
        paragraph="7.2, 7.16",
        title="The NGO's initial meeting with the child and family within 4 working days of receiving the "
              "referral request",
        trigger="NGODecision",
        when=(Condition("decision", "equals", "ACCEPTED"),),
        anchor=Anchor.NGO_REFERRAL,
        # 7.2 (several services, social worker) and 7.16 (psychological only); legal only has no such meeting
        referral_when=(Condition("services_requested", "not_only", "LEGAL"),),
        clock=WorkingDays(4),
        completed_by=frozenset({"NGOInitialMeetingHeld"}),
        responsible=AgencyKind.NGO,
        stopped_by=(_NGO_CLOSED,),
        warn_before=timedelta(hours=8),
    ),
    DeadlineRule(
        rule_id="7.3-service-plan-5wd",
        paragraph="7.3, 7.18",
        title="Needs assessment and service (or therapy) plan within 5 working days of the initial meeting",
        trigger="NGOInitialMeetingHeld",
        anchor=Anchor.OCCURRED_AT,
        clock=WorkingDays(5),
        completed_by=frozenset({"ServicePlanAgreed"}),
        responsible=AgencyKind.NGO,
        stopped_by=(_NGO_CLOSED,),
        warn_before=timedelta(hours=8),
    ),
    DeadlineRule(
        rule_id="4.9-prosecutor-notice-immediately",
        paragraph="4.9",
        title="CAM/CSC with the Guardianship notify the Public Prosecutor of the removal 'immediately' "
              "(operator's policy threshold)",
        trigger="EmergencyRemoval",
        when=(Condition("child_removed", "equals", True),),
        anchor=Anchor.OCCURRED_AT,
        clock=Immediately("4.9"),
        completed_by=frozenset({"ProsecutorNotified"}),
        responsible=AgencyKind.CAM_CSC,
    ),
    DeadlineRule(
        rule_id="4.7-removal-request-immediately",
        paragraph="4.7–4.8",
        title="The juvenile inspection acts on a professional's request for an emergency removal 'immediately' "
              "(operator's policy threshold)",
        trigger="EmergencyRemovalRequested",
        anchor=Anchor.RECORDED_AT,
        clock=Immediately("4.7"),
        completed_by=frozenset({"EmergencyRemoval"}),
        responsible=AgencyKind.POLICE,
        ladder=_HOURS_LADDER,
    ),
    DeadlineRule(
        rule_id="6.12-family-tracing-started",
        paragraph="6.12",
        title="The CAM/CSC starts family tracing of a separated or unaccompanied child 'as soon as possible' "
              "(operator's policy threshold), or records why not",
        trigger="InitialAssessmentCompleted",
        when=(Condition("separated_or_unaccompanied", "equals", True),),
        anchor=Anchor.RECORDED_AT,
        clock=Immediately("6.12"),
        completed_by=frozenset({"FamilyTracingUpdated"}),
        responsible=AgencyKind.CAM_CSC,
    ),
    DeadlineRule(
        rule_id="5.18-ngo-decision-2wd",
        paragraph="5.18–5.20",
        title="NGO programme coordinator tells the referrer its decision within 2 working days",
        trigger="ReferralMade",
        when=(Condition("referral_kind", "equals", "NGO_SUPPORT"),),
        anchor=Anchor.RECORDED_AT,
        clock=WorkingDays(2),
        completed_by=frozenset({"NGODecision"}),
        responsible=AgencyKind.NGO,
        warn_before=timedelta(hours=8),
    ),
    DeadlineRule(
        rule_id="4.5-referral-immediately",
        paragraph="4.5",
        title="A professional with reasonable cause to believe a child needs care and protection refers the child "
              "'immediately' to the Guardianship (under 3) or the CAM/CSC (operator's policy threshold), counted "
              "from when the cause was formed (need_identified_at)",
        trigger="ReferralMade",
        # an oral request recorded by another agency is that agency's record, not the professional's referral
        when=(Condition("referral_kind", "equals", "CHILD_PROTECTION"), Condition("need_identified_at", "present"),
              Condition("on_behalf_of_agency_id", "absent")),
        anchor=Anchor.TIME_FIELD,
        anchor_field="need_identified_at",
        clock=Immediately("4.5"),
        completed_by=frozenset({"ReferralMade"}),   # the referral itself: met or late the moment it is recorded
        responsible=None,        # the referring professional's agency
        ladder=_AT_ONCE_LADDER,
    ),
    DeadlineRule(
        rule_id="5.2-ngo-referral-request-1wd",
        paragraph="5.2, 5.8, 5.11",
        title="The professional makes the referral request to the city's NGO immediately and in any event within "
              "1 working day of identifying that the child may be in difficult circumstances (5.2), need legal "
              "services (5.8) or psychological counselling (5.11)",
        trigger="ReferralMade",
        # an oral request recorded by the NGO (5.14–5.17) is the NGO's record, not the professional's request
        when=(Condition("referral_kind", "equals", "NGO_SUPPORT"), Condition("need_identified_at", "present"),
              Condition("on_behalf_of_agency_id", "absent")),
        anchor=Anchor.TIME_FIELD,
        anchor_field="need_identified_at",
        clock=WorkingDays(1),
        completed_by=frozenset({"ReferralMade"}),   # the request itself: met or late the moment it is recorded
        responsible=None,        # the referring professional's agency
        ladder=_AT_ONCE_LADDER,
    ),
    # -- NGO legal services (7.11–7.14) ----------------------------------------------------------
    DeadlineRule(
        rule_id="7.11-ngo-lawyer-contact-2bd",
        paragraph="7.11",
        title="When the child requires legal services only, the NGO lawyer contacts the child or parent within "
              "2 business days of the NGO's receipt of the referral request",
        trigger="NGODecision",
        when=(Condition("decision", "equals", "ACCEPTED"),),
        anchor=Anchor.NGO_REFERRAL,
        referral_when=(Condition("services_requested", "only", "LEGAL"),),
        clock=WorkingDays(2),   # business days = working days on Kazakhstan's calendar
        completed_by=frozenset({"NGOFirstContactMade"}),
        responsible=AgencyKind.NGO,
        stopped_by=(_NGO_CLOSED,),
        warn_before=timedelta(hours=8),
    ),
    DeadlineRule(
        rule_id="7.14-ngo-legal-advice-11bd",
        paragraph="7.14",
        title="The NGO lawyer gives the client written legal advice within 11 business days of the NGO's "
              "receipt of the initial referral request",
        trigger="NGODecision",
        when=(Condition("decision", "equals", "ACCEPTED"),),
        anchor=Anchor.NGO_REFERRAL,
        # the request form (Part 8 E) does not tell advice from advocacy: legal services requested = advice owed
        referral_when=(Condition("services_requested", "contains", "LEGAL"),),
        clock=WorkingDays(11),
        completed_by=frozenset({"NGOLegalAdviceProvided"}),
        responsible=AgencyKind.NGO,
        stopped_by=(_NGO_CLOSED,),
        warn_before=timedelta(days=2),
    ),
    # -- 7.8–7.9: every service provider reports monthly (one series per provider) -----------------
    DeadlineRule(
        rule_id="7.9-service-provider-update-monthly",
        paragraph="7.8, 7.9",
        title="Every service provider that signed the service plan gives the NGO an update on the child's "
              "progress at least every month",
        trigger="ServicePlanAgreed",
        anchor=Anchor.OCCURRED_AT,
        clock=CalendarMonths(1),
        completed_by=frozenset({"ServiceProgressReported"}),
        responsible=None,        # each provider named on the plan (fan_out)
        fan_out="service_provider_agency_ids",
        match_on=("producer",),  # only that provider's own report counts
        recurrence=Recurrence(CalendarMonths(1)),
        stopped_by=(_NGO_CLOSED,),
        single="open",           # a revised plan keeps each remaining provider's monthly rhythm
        warn_before=timedelta(days=5),
    ),
    DeadlineRule(
        rule_id="7.10-consent-withdrawal-reported",
        paragraph="7.10",
        title="A service provider tells the NGO social worker 'as soon as possible' that the child or family "
              "withdrew consent to a service (operator's policy threshold)",
        trigger="ServiceProgressReported",
        when=(Condition("consent_withdrawn", "equals", True), Condition("consent_withdrawn_at", "present")),
        anchor=Anchor.TIME_FIELD,
        anchor_field="consent_withdrawn_at",
        clock=Immediately("7.10"),
        completed_by=frozenset({"ServiceProgressReported"}),   # the report itself: met or late at once
        responsible=None,        # the provider that reports
        ladder=_AT_ONCE_LADDER,
    ),
    # -- 6.19(b) and seed 002: temporary residential unit ----------------------------------------
    DeadlineRule(
        rule_id="6.19b-unit-placement-review-monthly",
        paragraph="6.19(b)",
        title="The child's placement in the CAM/CSC temporary residential unit is reviewed at least every "
              "calendar month",
        trigger="TemporaryCareDecided",
        when=(Condition("placement_necessary", "equals", True),
              Condition("form", "in", ("CAM_RESIDENTIAL_UNIT", "CSC_RESIDENTIAL_UNIT"))),
        anchor=Anchor.OCCURRED_AT,
        clock=CalendarMonths(1),
        completed_by=frozenset({"PlacementReviewed"}),
        completed_when=(Condition("placement", "equals", _UNIT),),
        responsible=AgencyKind.CAM_CSC,
        recurrence=Recurrence(CalendarMonths(1)),
        stopped_by=(Stop("PlacementEnded", (Condition("placement", "equals", _UNIT),),
                         reason="the child left the temporary residential unit (6.19(b))"),),
        single="open",           # one placement at a time: a new decision does not restart the rhythm
        warn_before=timedelta(days=5),
    ),
    DeadlineRule(
        rule_id="6.19b-unit-placement-limit-3m",
        paragraph="6.19(b)",
        title="A placement in the CAM temporary residential unit does not exceed 3 months",
        trigger="TemporaryCareDecided",
        when=(Condition("placement_necessary", "equals", True), Condition("form", "equals", "CAM_RESIDENTIAL_UNIT")),
        anchor=Anchor.OCCURRED_AT,
        clock=CalendarMonths(3),
        completed_by=frozenset({"PlacementEnded"}),
        completed_when=(Condition("placement", "equals", _UNIT),),
        responsible=AgencyKind.CAM_CSC,
        single="open",           # re-deciding the placement does not extend the limit
        warn_before=timedelta(days=14),
    ),
    DeadlineRule(
        rule_id="seed002-csc-centre-stay-6m",
        paragraph="6.19(b); seed 002 (centres for children in difficult life situations: up to 6 months)",
        title="A stay in the CSC centre for children in difficult life situations does not exceed 6 months",
        trigger="TemporaryCareDecided",
        when=(Condition("placement_necessary", "equals", True), Condition("form", "equals", "CSC_RESIDENTIAL_UNIT")),
        anchor=Anchor.OCCURRED_AT,
        clock=CalendarMonths(6),
        completed_by=frozenset({"PlacementEnded"}),
        completed_when=(Condition("placement", "equals", _UNIT),),
        responsible=AgencyKind.CAM_CSC,
        single="open",
        warn_before=timedelta(days=14),
    ),
    # -- the child protection plan (6.40–6.51) -----------------------------------------------------
    DeadlineRule(
        rule_id="6.44-protection-plan-finalised-7wd",
        paragraph="6.44",
        title="The CAM/CSC finalises the child protection plan within 7 working days of the meeting that "
              "decided on it (6.39(c))",
        trigger="ChildProtectionMeetingHeld",
        when=(Condition("decision", "equals", "CHILD_PROTECTION_PLAN"),),
        anchor=Anchor.OCCURRED_AT,   # when the meeting took place
        clock=WorkingDays(7),
        completed_by=frozenset({"ChildProtectionPlanFinalised"}),
        match_on=("meeting_id",),
        responsible=AgencyKind.CAM_CSC,
        warn_before=timedelta(days=2),
    ),
    DeadlineRule(
        rule_id="6.45-protection-plan-review-30d",
        paragraph="6.41(d), 6.45, 6.49",
        title="The child protection plan is reviewed within 30 days of its commencement, then at least once "
              "every 30 days",
        trigger="ChildProtectionPlanFinalised",
        anchor=Anchor.DATE_FIELD,
        anchor_field="commences_on",
        clock=CalendarDays(30),
        completed_by=frozenset({"ChildProtectionPlanReviewed"}),
        match_on=("plan_id",),
        responsible=AgencyKind.CAM_CSC,
        recurrence=Recurrence(CalendarDays(30), next_due_from=(("ChildProtectionPlanAmended", "next_review_by"),)),
        stopped_by=(
            Stop("ChildProtectionPlanReviewed", (Condition("recommendation", "equals", "NO_LONGER_NECESSARY"),
                                                 Condition("manager_accepts", "equals", True)), match=True,
                 reason="the review found the plan no longer necessary (6.47(e), 6.51)"),
            Stop("SocialAssessmentCompleted", reason="a new social assessment (6.50) decides the child's protection "
                                                     "afresh"),
            _ABROAD),
        single="open",
        warn_before=timedelta(days=5),
    ),
    DeadlineRule(
        rule_id="6.41-protection-plan-12m-limit",
        paragraph="6.41, 6.47(d), 6.50",
        title="A child protection plan lasts no longer than 12 months without a new social assessment",
        trigger="ChildProtectionPlanFinalised",
        anchor=Anchor.DATE_FIELD,
        anchor_field="commences_on",
        clock=CalendarMonths(12, "12 months"),
        completed_by=frozenset({"SocialAssessmentCompleted", "CaseClosed"}),
        responsible=AgencyKind.CAM_CSC,
        stopped_by=(_ABROAD,),
        warn_before=timedelta(days=30),
    ),
    _reasons_in_writing(
        "6.48-review-reasons-2wd", "6.48",
        "The CAM/CSC Manager who rejects a plan review's recommendations gives the members written reasons "
        "within 2 working days of the review meeting",
        "ChildProtectionPlanReviewed", "CHILD_PROTECTION_PLAN"),
    _amended_within_7wd(
        "6.49-protection-plan-amended-7wd", "6.49",
        "The CAM/CSC amends the child protection plan within 7 working days of a review that recommends "
        "varying it (6.47(b))",
        "ChildProtectionPlanReviewed", Condition("recommendation", "equals", "VARY"), "ChildProtectionPlanAmended",
        "plan_id"),
    # -- the care plan (6.53–6.79) -------------------------------------------------------------------
    DeadlineRule(
        rule_id="6.62-care-plan-review",
        paragraph="6.54(g), 6.62, 6.77",
        title="The care plan is first reviewed no later than 28 days after it commences, then at least every "
              "three months until it ends",
        trigger="CarePlanAgreed",
        anchor=Anchor.DATE_FIELD,
        anchor_field="commences_on",
        clock=CalendarDays(28),
        completed_by=frozenset({"CarePlanReviewed"}),
        match_on=("care_plan_id",),
        responsible=AgencyKind.CAM_CSC,
        recurrence=Recurrence(CalendarMonths(3), next_due_from=(("CarePlanAmended", "next_review_by"),)),
        stopped_by=(_LEFT_CARE, _ABROAD),
        single="open",
        warn_before=timedelta(days=7),
    ),
    DeadlineRule(
        rule_id="6.56-residential-care-review-3m",
        paragraph="6.56",
        title="The Guardianship and the CAM/CSC have a placement in residential care reviewed at least every "
              "three months",
        trigger="CarePlanAgreed",
        when=(Condition("placement", "equals", "RESIDENTIAL_CARE"),),
        anchor=Anchor.DATE_FIELD,
        anchor_field="commences_on",
        clock=CalendarMonths(3),
        completed_by=frozenset({"PlacementReviewed"}),
        completed_when=(Condition("placement", "equals", "RESIDENTIAL_CARE"),),
        responsible=AgencyKind.CAM_CSC,   # coordinates the care plan (6.61); the Guardianship sits on the review
        recurrence=Recurrence(CalendarMonths(3)),
        stopped_by=(Stop("PlacementEnded", (Condition("placement", "equals", "RESIDENTIAL_CARE"),),
                         reason="the child left residential care (6.56: family-based care as soon as possible)"),
                    Stop("ChildLeftCare", reason="the child left care (6.75)"), _ABROAD),
        single="open",
        warn_before=timedelta(days=14),
    ),
    DeadlineRule(
        rule_id="6.66-review-report-7d-before",
        paragraph="6.66",
        title="The members of a care plan review receive the CAM/CSC's written report at least 7 days before it",
        trigger="ChildProtectionMeetingScheduled",
        when=(Condition("purpose", "equals", "CARE_PLAN_REVIEW"),),
        anchor=Anchor.MEETING,   # counted back from the review; moves when it moves
        clock=CalendarDaysBefore(7),
        completed_by=frozenset({"CarePlanReviewReportIssued"}),
        match_on=("meeting_id",),
        responsible=AgencyKind.CAM_CSC,
        single="ever",           # moving the review re-times the report; a report issued is not owed again
        warn_before=timedelta(days=2),
    ),
    DeadlineRule(
        rule_id="6.67-declined-review-report-3wd-before",
        paragraph="6.67",
        title="A professional invited to a care plan review who cannot attend submits a written report at least "
              "3 working days before it",
        trigger="MeetingAttendanceDeclined",
        when=(Condition("purpose", "equals", "CARE_PLAN_REVIEW"),),
        anchor=Anchor.MEETING,
        clock=WorkingDaysBefore(3),
        completed_by=frozenset({"ProfessionalReportSubmitted"}),
        responsible=None,        # the professional who declined
        match_on=("producer", "meeting_id"),
        single="open",
        warn_before=timedelta(days=1),
    ),
    _reasons_in_writing(
        "6.76-care-review-reasons-2wd", "6.76",
        "The CAM/CSC Manager who rejects a care plan review's recommendations gives the members written "
        "reasons within 2 working days of the meeting",
        "CarePlanReviewed", "CARE_PLAN"),
    # 6.68 (issue 15): was in NOT_ENFORCEABLE until CarePlanReviewReportsDistributed recorded the distribution
    DeadlineRule(
        rule_id="6.68-review-reports-2wd",
        paragraph="6.68",
        title="The members of a care plan review receive the written reports of the child's carer and of the other "
              "professionals within 2 working days of the review meeting",
        trigger="CarePlanReviewed",
        anchor=Anchor.OCCURRED_AT,   # when the review meeting took place
        clock=WorkingDays(2),
        completed_by=frozenset({"CarePlanReviewReportsDistributed"}),
        match_on=("meeting_id",),
        responsible=AgencyKind.CAM_CSC,
        warn_before=timedelta(hours=8),
    ),
    _amended_within_7wd(
        "6.77-care-plan-amended-7wd", "6.77",
        "The CAM/CSC amends the care plan within 7 working days of a review that decides to vary it (6.73(b))",
        "CarePlanReviewed", Condition("decision", "equals", "VARY"), "CarePlanAmended", "care_plan_id"),
    DeadlineRule(
        rule_id="6.75a-transition-steps-3m-before-end",
        paragraph="6.75(a)",
        title="No later than 3 months before the care plan ends, it sets out the steps of the child's transition "
              "from care, who takes them and by when",
        trigger="CarePlanAgreed",
        when=(Condition("ends_on", "present"),),   # a plan without a planned end has no such deadline yet
        anchor=Anchor.DATE_FIELD,
        anchor_field="ends_on",
        clock=MonthsBefore(3),
        completed_by=frozenset({"TransitionFromCarePlanned"}),
        match_on=("care_plan_id",),
        responsible=AgencyKind.CAM_CSC,
        stopped_by=(_LEFT_CARE, _ABROAD),
        single="open",
        warn_before=timedelta(days=14),
    ),
    DeadlineRule(
        rule_id="6.78b-leaving-care-review-1y",
        paragraph="6.78(b)",
        title="The CAM/CSC reviews the child one year after the child left care",
        trigger="ChildLeftCare",
        when=(Condition("turned_18", "equals", False),),   # at 18 the case is transferred and closed (6.78(a))
        anchor=Anchor.OCCURRED_AT,
        clock=CalendarMonths(12, "one year"),
        completed_by=frozenset({"LeavingCareReviewCompleted"}),
        responsible=AgencyKind.CAM_CSC,
        warn_before=timedelta(days=30),
    ),
    # -- seed 002: helpline calls and school flags are followed up, and the raiser hears back ---------
    *(DeadlineRule(
        rule_id=f"seed002-helpline-follow-up-{target.value.lower().replace('_', '-')}",
        paragraph="seed 002 (helplines 111, 150)",
        title=f"The {target.value.lower().replace('_', '/')} a helpline call was redirected to follows it up "
              "(operator's policy threshold): a referral, or no action with the reason",
        trigger="HelplineRedirected",
        when=(Condition("redirected_to", "equals", target.value),),
        anchor=Anchor.RECORDED_AT,
        clock=Immediately("seed002-helpline"),
        completed_by=_FOLLOW_UP,
        responsible=redirect_kind(target),
    ) for target in RedirectTarget),
    DeadlineRule(
        rule_id="seed002-school-flag-follow-up",
        paragraph="seed 002 (school screening)",
        title="The CAM/CSC follows up a school's screening flag (operator's policy threshold): a referral, or no "
              "action with the reason",
        trigger="SchoolScreeningFlagRaised",
        anchor=Anchor.RECORDED_AT,
        clock=Immediately("seed002-school-flag"),
        completed_by=_FOLLOW_UP,
        responsible=AgencyKind.CAM_CSC,
    ),
    # -- seed 002: violence identified by medical staff (SOP, November 2020) -------------------------
    DeadlineRule(
        rule_id="seed002-medical-written-notice-1d",
        paragraph="seed 002 (SOP for medical staff, 2020)",
        title="The head of the medical organisation sends written information on the child to the police, "
              "Guardianship, Commission, social protection and the child's school within 1 day",
        trigger="ViolenceSuspectedByMedicalStaff",
        anchor=Anchor.OCCURRED_AT,
        clock=ElapsedHours(24),
        completed_by=frozenset({"MedicalWrittenNoticeSent"}),
        # the medical organisation that identified the child (its head), not the city's default health
        # agency: a city has several (agencies.yaml, `default: true`); the same for the 1-hour evaluation
        responsible=None,
        ladder=_HOURS_LADDER,
        warn_before=timedelta(hours=6),
    ),
    DeadlineRule(
        rule_id="seed002-multidisciplinary-evaluation-1h",
        paragraph="seed 002 (SOP for medical staff, 2020)",
        title="A multidisciplinary team evaluates the child's condition within 1 hour of identifying violence",
        trigger="ViolenceSuspectedByMedicalStaff",
        anchor=Anchor.OCCURRED_AT,
        clock=ElapsedHours(1),
        completed_by=frozenset({"MultidisciplinaryEvaluationCompleted"}),
        responsible=None,
        ladder=(EscalationStep(1, "supervisor"), EscalationStep(2, "commission", 1),
                EscalationStep(3, "agency:steering-committee", 3)),
        warn_before=timedelta(minutes=20),
    ),
    # -- seed 002: special social services for a family in a difficult life situation -------------------
    DeadlineRule(
        rule_id="seed002-special-social-services-review-10d",
        paragraph="seed 002 (Rules on special social services, 2018: the application is reviewed within ten days)",
        title="The social worker of the local executive body reviews a family's written application for special "
              "social services within ten days",
        trigger="SpecialSocialServicesApplied",
        anchor=Anchor.OCCURRED_AT,   # when the family applied
        clock=CalendarDays(10, "ten days"),   # "within ten days": calendar days, as the rules say days
        completed_by=frozenset({"SpecialSocialServicesReviewed"}),
        responsible=AgencyKind.SOCIAL_PROTECTION,
        warn_before=timedelta(days=2),
    ),
    # -- seed 003: child-friendly justice ----------------------------------------------------------
    DeadlineRule(
        rule_id="seed003-police-custody-72h",
        paragraph="seed 003 (Criminal Procedure Code: police custody of a child at most 72 hours)",
        title="A child held in police custody is released (or the custody converted by a court) within 72 hours",
        trigger="PoliceCustodyStarted",
        anchor=Anchor.OCCURRED_AT,
        clock=ElapsedHours(72),
        completed_by=frozenset({"PoliceCustodyEnded"}),
        responsible=AgencyKind.POLICE,
        # unlawful detention: the prosecutor (who oversees its legality) first, at once
        ladder=(EscalationStep(1, "prosecutor"), EscalationStep(2, "supervisor", 1),
                EscalationStep(3, "commission", 4)),
        warn_before=timedelta(hours=12),
    ),
    DeadlineRule(
        rule_id="seed003-programme-review-6m",
        paragraph="seed 003 (community-based programmes: no more than 6 months without a review)",
        title="A child's participation in a community-based programme is reviewed within 6 months of enrolment, "
              "then at least every 6 months",
        trigger="ProgrammeEnrolled",
        anchor=Anchor.OCCURRED_AT,
        clock=CalendarMonths(6),
        completed_by=frozenset({"ProgrammeReviewed"}),
        match_on=("programme_id",),
        responsible=None,        # the agency that enrolled the child runs the programme
        recurrence=Recurrence(CalendarMonths(6)),
        stopped_by=(Stop("ProgrammeCompleted", match=True, reason="the child left the programme"),),
        single="open",
        warn_before=timedelta(days=14),
    ),
    DeadlineRule(
        rule_id="seed003-programme-limit-1y",
        paragraph="seed 003 (community-based programmes: up to one year)",
        title="A child's participation in a community-based programme lasts at most one year",
        trigger="ProgrammeEnrolled",
        anchor=Anchor.OCCURRED_AT,
        clock=CalendarMonths(12, "one year"),
        completed_by=frozenset({"ProgrammeCompleted"}),
        match_on=("programme_id",),
        responsible=None,
        single="open",
        warn_before=timedelta(days=30),
    ),
    DeadlineRule(
        rule_id="seed003-reoffending-follow-up-2y",
        paragraph="seed 003 (re-offending assessed over the two years projected after the programme)",
        title="The programme follows up a child who completed it and records whether the child re-offended, "
              "within two years of completion",
        trigger="ProgrammeCompleted",
        anchor=Anchor.OCCURRED_AT,
        clock=CalendarMonths(24, "two years"),
        completed_by=frozenset({"ReoffendingFollowUpRecorded"}),
        match_on=("programme_id",),
        responsible=None,        # the agency that ran the programme (and completed it)
        single="open",
        warn_before=timedelta(days=30),
    ),
)

#: Rule id → its latest version (``version`` highest); every version of an id is in ``RULE_VERSIONS``.
RULES_BY_ID = {rule.rule_id: rule for rule in sorted(RULES, key=lambda r: r.version)}
RULE_VERSIONS: dict[str, tuple[DeadlineRule, ...]] = {
    rule_id: tuple(sorted((r for r in RULES if r.rule_id == rule_id), key=lambda r: r.version))
    for rule_id in RULES_BY_ID}


@dataclass(frozen=True)
class Unenforced:
    """A deadline of the protocol that the bus cannot enforce, and why (for docs and auditors)."""

    paragraph: str
    duty: str
    why: str


#: Empty since issue 15: 6.68 (the reports after a care plan review) is rule 6.68-review-reports-2wd.
NOT_ENFORCEABLE: tuple[Unenforced, ...] = ()
