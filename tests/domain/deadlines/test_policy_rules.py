"""The rules whose clock is an operator's threshold for a word the protocol leaves without a number:
4.7 (acting on a removal request) and 6.12 (family tracing "as soon as possible"); and 6.3(a) for a
referral made through a removal request (4.7(c))."""

from __future__ import annotations

from datetime import timedelta

from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineMet,
    DeadlineOpened,
    EscalationRaised,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES
from referral_bus.domain.deadlines.rules import ClockContext, PolicyThreshold
from tests.domain.deadlines.test_recurring import GRACE, Case, local, of


def engine_with(directory: Directory, hours: dict[str, float] | None = None) -> DeadlineEngine:
    policy = {paragraph: PolicyThreshold(h, "test") for paragraph, h in (hours or {}).items()}
    return DeadlineEngine(RULES, directory, grace=GRACE, context=ClockContext(policy=policy))


def test_removal_request_is_acted_on_within_the_policy_threshold(directory: Directory) -> None:
    case = Case(engine_with(directory, {"4.7": 2}))
    opened = case.add("EmergencyRemovalRequested", "school-almaty", local(2026, 3, 3, 10), city="ALMATY",
                      child_age_years=8)
    [request] = of(opened, "4.7-removal-request", DeadlineOpened)
    assert request.due_at == local(2026, 3, 3, 12) and request.responsible_agency_id == "police-juvenile-almaty"
    [assessment] = of(opened, "6.3a-initial-assessment-48h-removal-request", DeadlineOpened)
    assert assessment.due_at == local(2026, 3, 5, 10)   # 6.3(a): the request is a referral to the CAM (4.7(c))
    breached = case.advance(local(2026, 3, 3, 12) + GRACE)
    [escalation] = of(breached, "4.7", EscalationRaised)
    assert "policy threshold, not law" in escalation.summary and of(breached, "4.7", DeadlineBreached)
    assert of(case.add("EmergencyRemoval", "police-juvenile-almaty", local(2026, 3, 3, 13), city="ALMATY",
                       child_age_years=8, child_removed=True, cam_social_worker_present=True), "4.7")


def test_no_threshold_no_deadline_invented(directory: Directory) -> None:
    case = Case(engine_with(directory))
    assert of(case.add("EmergencyRemovalRequested", "school-almaty", local(2026, 3, 3, 10), city="ALMATY",
                       child_age_years=8), "4.7") == []


def test_family_tracing_starts_as_soon_as_possible_for_separated_children(directory: Directory) -> None:
    case = Case(engine_with(directory, {"6.12": 72}))
    case.add("ReferralMade", "border-guard-almaty", local(2026, 3, 2, 11), referral_kind="CHILD_PROTECTION",
             city="ALMATY", child_age_years=12)
    accompanied = case.add("InitialAssessmentCompleted", "cam-almaty", local(2026, 3, 3, 10),
                           outcome="SIGNIFICANT_HARM_CONCERN")
    assert of(accompanied, "6.12") == []
    other = Case(engine_with(directory, {"6.12": 72}), case_id="C-2")
    other.add("ReferralMade", "border-guard-almaty", local(2026, 3, 2, 11), referral_kind="CHILD_PROTECTION",
              city="ALMATY", child_age_years=12)
    [opened] = of(other.add("InitialAssessmentCompleted", "cam-almaty", local(2026, 3, 3, 10),
                            outcome="SIGNIFICANT_HARM_CONCERN", separated_or_unaccompanied=True),
                  "6.12", DeadlineOpened)
    assert opened.due_at == local(2026, 3, 3, 10) + timedelta(hours=72)
    [met] = of(other.add("FamilyTracingUpdated", "cam-almaty", local(2026, 3, 4, 10), status="STARTED"),
               "6.12", DeadlineMet)
    assert met.completed_at == local(2026, 3, 4, 10)


def test_a_redirected_call_is_owed_by_the_agency_it_went_to(directory: Directory) -> None:
    case = Case(engine_with(directory, {"seed002-helpline": 24}))
    [opened] = of(case.add("HelplineRedirected", "helpline-111", local(2026, 3, 3, 22), city="ALMATY",
                           child_age_years=12, helpline="HELPLINE_111", redirected_to="POLICE"),
                  "seed002-helpline", DeadlineOpened)
    assert (opened.rule_id, opened.responsible_agency_id) == ("seed002-helpline-follow-up-police",
                                                              "police-juvenile-almaty")
    assert opened.due_at == local(2026, 3, 4, 22)
    assert of(case.add("FollowUpRecorded", "police-juvenile-almaty", local(2026, 3, 4, 9),
                       follow_up_of="HELPLINE_REDIRECTION", outcome="REFERRAL_MADE"), "seed002-helpline", DeadlineMet)


def test_joint_handling_and_age_assessment_clocks(directory: Directory) -> None:
    case = Case(engine_with(directory, {"6.6": 48}))
    [age] = of(case.add("ReferralMade", "border-guard-almaty", local(2026, 3, 3, 10), referral_kind="CHILD_PROTECTION",
                        city="ALMATY", child_age_years=15, age_disputed=True), "6.9", DeadlineOpened)
    assert (age.rule_id, age.due_at) == ("6.9-age-assessment-72h", local(2026, 3, 6, 10))   # 6.3(b)'s 72 hours
    [joint] = of(case.add("CriminalCaseOpened", "police-juvenile-almaty", local(2026, 3, 3, 12),
                          criminal_case_ref="CR-1"), "6.6", DeadlineOpened)
    assert joint.due_at == local(2026, 3, 5, 12)
    assert of(case.add("JointHandlingAgreed", "cam-almaty", local(2026, 3, 4, 12), criminal_case_ref="CR-1"),
              "6.6", DeadlineMet)


def test_turning_3_in_the_guardianships_care_opens_the_initial_assessment(directory: Directory) -> None:
    case = Case(engine_with(directory))
    case.add("ReferralMade", "health-almaty", local(2026, 3, 3, 10), referral_kind="CHILD_PROTECTION", city="ALMATY",
             child_age_years=2)
    [opened] = of(case.add("ChildAgeRecorded", "guardianship-almaty", local(2026, 5, 4, 10), child_age_years=3,
                           reason="BIRTHDAY"), "6.3", DeadlineOpened)
    assert (opened.rule_id, opened.due_at) == ("6.3b-initial-assessment-72h-turned-3", local(2026, 5, 7, 10))
    assert of(case.add("ChildAgeRecorded", "cam-almaty", local(2026, 6, 1, 10), child_age_years=3,
                       reason="DOCUMENT"), "6.3") == []   # recorded by the CAM/CSC: the case was already its own
