"""Every deadline the bus enforces, one entry each, with its paragraph beside it.

Annex B of seed 001 (Manual on Intersectoral Coordination). Later issues grow this table to every
deadline of 4.1–7.19; the engine does not change when a rule is added.
"""

from __future__ import annotations

from ..agencies import AgencyKind
from datetime import timedelta

from .rules import (
    Anchor, CalendarDays, Condition, DeadlineRule, ElapsedHours, EscalationStep, Immediately, WorkingDays,
    WorkingDaysBefore,
)

_ASSESSMENT = frozenset({"InitialAssessmentCompleted"})

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
        ladder=(EscalationStep(1, "supervisor"), EscalationStep(2, "commission", 2),
                EscalationStep(3, "agency:steering-committee", 6)),
    ),
    DeadlineRule(
        rule_id="6.3a-initial-assessment-48h-referral",
        paragraph="6.3(a)",
        title="CAM/CSC completes the initial assessment within 48 hours (evidence of immediate risk)",
        trigger="ReferralMade",
        when=(Condition("referral_kind", "equals", "CHILD_PROTECTION"), Condition("child_age_years", "at_least", 3),
              Condition("immediate_risk", "equals", True)),
        anchor=Anchor.RECORDED_AT,
        clock=ElapsedHours(48),
        completed_by=_ASSESSMENT,
        responsible=AgencyKind.CAM_CSC,
        group="6.3-initial-assessment",
        warn_before=timedelta(hours=12),
    ),
    DeadlineRule(
        rule_id="6.3a-initial-assessment-48h-removal",
        paragraph="6.3(a)",
        title="CAM/CSC completes the initial assessment within 48 hours of the removal, if later",
        trigger="EmergencyRemoval",
        when=(Condition("child_removed", "equals", True), Condition("child_age_years", "at_least", 3)),
        anchor=Anchor.OCCURRED_AT,
        clock=ElapsedHours(48),
        completed_by=_ASSESSMENT,
        responsible=AgencyKind.CAM_CSC,
        group="6.3-initial-assessment",
        warn_before=timedelta(hours=12),
    ),
    DeadlineRule(
        rule_id="6.3b-initial-assessment-72h",
        paragraph="6.3(b)",
        title="CAM/CSC completes the initial assessment within 72 hours of receiving the referral",
        trigger="ReferralMade",
        when=(Condition("referral_kind", "equals", "CHILD_PROTECTION"), Condition("child_age_years", "at_least", 3),
              Condition("immediate_risk", "equals", False)),
        anchor=Anchor.RECORDED_AT,
        clock=ElapsedHours(72),
        completed_by=_ASSESSMENT,
        responsible=AgencyKind.CAM_CSC,
        group="6.3-initial-assessment",
        warn_before=timedelta(hours=12),
    ),
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
        when=(Condition("conclusion", "equals", "SIGNIFICANT_HARM"),),
        anchor=Anchor.RECORDED_AT,
        clock=WorkingDays(7),
        completed_by=frozenset({"ChildProtectionMeetingHeld"}),
        responsible=AgencyKind.CAM_CSC,
        warn_before=timedelta(days=2),
    ),
    DeadlineRule(
        rule_id="6.34-written-report-2wd-before",
        paragraph="6.34",
        title="A professional who cannot attend submits a written report at least 2 working days before "
              "the child protection meeting",
        trigger="MeetingAttendanceDeclined",
        anchor=Anchor.MEETING,   # counted back from the meeting; moves when the meeting moves
        clock=WorkingDaysBefore(2),
        completed_by=frozenset({"ProfessionalReportSubmitted"}),
        responsible=None,        # the professional who declined
        match_on=("producer", "meeting_id"),
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
        clock=WorkingDays(3),
        completed_by=frozenset({"NGOFirstContactMade"}),
        responsible=AgencyKind.NGO,
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
        clock=WorkingDays(4),
        completed_by=frozenset({"NGOInitialMeetingHeld"}),
        responsible=AgencyKind.NGO,
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
)

RULES_BY_ID = {rule.rule_id: rule for rule in RULES}
