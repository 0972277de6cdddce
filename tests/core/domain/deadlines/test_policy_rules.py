"""The rules whose clock is an operator's threshold for a word the protocol leaves without a number:
4.7 (acting on a removal request) and 6.12 (family tracing "as soon as possible"); and 6.3(a) for a
referral made through a removal request (4.7(c))."""

from __future__ import annotations

from datetime import timedelta

from referral_bus.core.contracts.sla_records import DeadlineBreached, DeadlineMet, DeadlineOpened, EscalationRaised
from referral_bus.core.domain.agencies import Directory
from referral_bus.core.domain.deadlines.engine import DeadlineEngine
from referral_bus.core.domain.deadlines.rule_table import RULES
from referral_bus.core.domain.deadlines.rules import ClockContext, PolicyThreshold
from tests.core.domain.deadlines.test_recurring import GRACE, Case, local, of


def engine_with(directory: Directory, **hours: float) -> DeadlineEngine:
    policy = {paragraph.replace("_", "."): PolicyThreshold(h, "test") for paragraph, h in hours.items()}
    return DeadlineEngine(RULES, directory, grace=GRACE, context=ClockContext(policy=policy))


def test_removal_request_is_acted_on_within_the_policy_threshold(directory: Directory) -> None:
    case = Case(engine_with(directory, **{"4_7": 2}))
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
    case = Case(engine_with(directory, **{"6_12": 72}))
    case.add("ReferralMade", "border-guard-almaty", local(2026, 3, 2, 11), referral_kind="CHILD_PROTECTION",
             city="ALMATY", child_age_years=12)
    accompanied = case.add("InitialAssessmentCompleted", "cam-almaty", local(2026, 3, 3, 10),
                           outcome="SIGNIFICANT_HARM_CONCERN")
    assert of(accompanied, "6.12") == []
    other = Case(engine_with(directory, **{"6_12": 72}), case_id="C-2")
    other.add("ReferralMade", "border-guard-almaty", local(2026, 3, 2, 11), referral_kind="CHILD_PROTECTION",
              city="ALMATY", child_age_years=12)
    [opened] = of(other.add("InitialAssessmentCompleted", "cam-almaty", local(2026, 3, 3, 10),
                            outcome="SIGNIFICANT_HARM_CONCERN", separated_or_unaccompanied=True),
                  "6.12", DeadlineOpened)
    assert opened.due_at == local(2026, 3, 3, 10) + timedelta(hours=72)
    [met] = of(other.add("FamilyTracingUpdated", "cam-almaty", local(2026, 3, 4, 10), status="STARTED"),
               "6.12", DeadlineMet)
    assert met.completed_at == local(2026, 3, 4, 10)
