"""The deadline engine: 4.8 (3 hours) and 6.3 (48/72 hours), exactly one escalation per breach,
deterministic on replay."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from referral_bus.contracts.base import City, Event
from referral_bus.contracts.events import (
    AssessmentOutcome,
    EmergencyRemoval,
    EscalationAcknowledged,
    InitialAssessmentCompleted,
    ReferralKind,
    ReferralMade,
    RemovalOutcomeReported,
)
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWarning,
    EscalationRaised,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES
from tests.builders import T0, envelope, on_log

GRACE = timedelta(seconds=10)


@pytest.fixture
def engine(directory: Directory) -> DeadlineEngine:
    return DeadlineEngine(RULES, directory, grace=GRACE)


def removal(case: str = "C-1", worker_present: bool = False, at=T0, seq: int = 1) -> Event:  # type: ignore[no-untyped-def]
    e = EmergencyRemoval(envelope=envelope(EmergencyRemoval, case, "police-juvenile-almaty", at=at), city=City.ALMATY,
                         child_age_years=9, child_removed=True, cam_social_worker_present=worker_present)
    return on_log(e, seq)


def report(at, case: str = "C-1", seq: int = 2) -> Event:  # type: ignore[no-untyped-def]
    e = RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, case, "police-juvenile-almaty", at=at),
                               child_removed=True, placed_in_temporary_care=True, referred_to_cam=True)
    return on_log(e, seq, recorded_at=at)


def kinds(records) -> list[str]:  # type: ignore[no-untyped-def]
    return [type(r).__name__ for r in records]


def only(records, kind):  # type: ignore[no-untyped-def]
    return [r for r in records if isinstance(r, kind) and getattr(r, "rule_id", "").startswith("4.8")]


def test_removal_without_social_worker_opens_a_3_hour_deadline(engine: DeadlineEngine) -> None:
    opened = only(engine.on_event(removal()), DeadlineOpened)
    assert len(opened) == 1
    assert opened[0].due_at == T0 + timedelta(hours=3)
    assert opened[0].paragraph == "4.8"
    assert opened[0].responsible_agency_id == "police-juvenile-almaty"


def test_social_worker_present_means_no_4_8_deadline(engine: DeadlineEngine) -> None:
    assert only(engine.on_event(removal(worker_present=True)), DeadlineOpened) == []


def test_timely_report_meets_the_deadline_and_never_escalates(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    met = only(engine.on_event(report(T0 + timedelta(hours=2, minutes=59))), DeadlineMet)
    assert len(met) == 1
    assert only(engine.advance(T0 + timedelta(days=10)), EscalationRaised) == []


def test_breach_escalates_exactly_once_then_late_completion_records_lateness(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    assert only(engine.advance(T0 + timedelta(hours=3) + GRACE - timedelta(seconds=1)), DeadlineBreached) == []
    fired = engine.advance(T0 + timedelta(hours=3) + GRACE)
    escalations = only(fired, EscalationRaised)
    assert len(only(fired, DeadlineBreached)) == 1 and len(escalations) == 1
    assert escalations[0].escalated_to_agency_id == "police-department-almaty"  # supervisor in agencies.yaml
    assert escalations[0].raised_for == T0 + timedelta(hours=3)
    assert only(engine.advance(T0 + timedelta(hours=5)), EscalationRaised) == []
    late = only(engine.on_event(report(T0 + timedelta(hours=4))), DeadlineCompletedLate)
    assert late[0].lateness_seconds == 3600
    assert only(engine.advance(T0 + timedelta(days=3)), EscalationRaised) == []


def test_late_report_before_the_timer_still_breaches_once(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    out = engine.on_event(report(T0 + timedelta(hours=3, seconds=1)))
    assert kinds(only(out, object)) == ["DeadlineWarning", "DeadlineBreached", "EscalationRaised",
                                        "DeadlineCompletedLate"]
    assert only(engine.advance(T0 + timedelta(days=1)), EscalationRaised) == []


def test_applying_an_event_twice_changes_nothing(engine: DeadlineEngine) -> None:
    first = engine.on_event(removal())
    assert first and engine.on_event(removal()) == []


def test_replay_gives_identical_records(directory: Directory) -> None:
    events = [removal("C-1"), removal("C-2", at=T0 + timedelta(minutes=5)),
              report(T0 + timedelta(hours=1), "C-2"), report(T0 + timedelta(hours=6), "C-1")]

    def run() -> list:  # type: ignore[type-arg]
        engine = DeadlineEngine(RULES, directory, grace=GRACE)
        out = []
        for event in events:
            out += engine.on_event(event)
        return out + engine.advance(T0 + timedelta(days=5))

    assert run() == run()


def assessment_referral(immediate: bool, age: int = 8) -> Event:
    e = ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"),
                     referral_kind=ReferralKind.CHILD_PROTECTION,
                     city=City.ALMATY, child_age_years=age, immediate_risk=immediate)
    return on_log(e, 1, recorded_at=T0)


@pytest.mark.parametrize("immediate, hours, rule", [(True, 48, "6.3a-initial-assessment-48h-referral"),
                                                    (False, 72, "6.3b-initial-assessment-72h")])
def test_initial_assessment_48_or_72_hours(engine: DeadlineEngine, immediate: bool, hours: int, rule: str) -> None:
    opened = [r for r in engine.on_event(assessment_referral(immediate)) if isinstance(r, DeadlineOpened)]
    assert [(o.rule_id, o.due_at) for o in opened] == [(rule, T0 + timedelta(hours=hours))]
    done = InitialAssessmentCompleted(envelope=envelope(InitialAssessmentCompleted, "C-1", "cam-almaty"),
                                      outcome=AssessmentOutcome.NO_CONCERN)
    assert kinds(engine.on_event(on_log(done, 2, recorded_at=T0 + timedelta(hours=hours - 13)))) == ["DeadlineMet"]


def test_under_three_opens_no_cam_assessment_deadline(engine: DeadlineEngine) -> None:
    assert engine.on_event(assessment_referral(False, age=2)) == []


def test_removal_after_referral_moves_the_assessment_deadline_later(engine: DeadlineEngine) -> None:
    """6.3(a): within 48 hours of the referral or, if later, the removal."""
    engine.on_event(assessment_referral(True))
    later = removal(at=T0 + timedelta(hours=30), seq=2)
    retimed = [r for r in engine.on_event(later) if isinstance(r, DeadlineOpened) and r.rule_id.startswith("6.3")]
    assert [r.due_at for r in retimed] == [T0 + timedelta(hours=78)]
    assert [r for r in engine.advance(T0 + timedelta(hours=60)) if r.rule_id.startswith("6.3")] == []  # type: ignore[attr-defined]


def test_ngo_decision_is_due_within_two_working_days(engine: DeadlineEngine) -> None:
    """5.18: a request received on Friday 20 March 2026 is due at the end of Friday 27 March (Nauryz)."""
    from datetime import datetime as dt
    from zoneinfo import ZoneInfo

    from referral_bus.contracts.events import NGODecision, NGODecisionKind
    friday = dt(2026, 3, 20, 10, tzinfo=ZoneInfo("Asia/Almaty"))
    request = ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty", at=friday),
                           referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=12,
                           services_requested=["PSYCHOLOGICAL"])
    [opened] = engine.on_event(on_log(request, 1, recorded_at=friday))
    assert (opened.rule_id, opened.due_at) == ("5.18-ngo-decision-2wd",  # type: ignore[attr-defined]
                                               dt(2026, 3, 27, 23, 59, 59, tzinfo=ZoneInfo("Asia/Almaty")))
    assert engine.advance(dt(2026, 3, 26, 12, tzinfo=ZoneInfo("Asia/Almaty"))) == []
    decision = NGODecision(envelope=envelope(NGODecision, "C-1", "ngo-rodnik"), decision=NGODecisionKind.ACCEPTED)
    met = engine.on_event(on_log(decision, 2, recorded_at=dt(2026, 3, 27, 16, tzinfo=ZoneInfo("Asia/Almaty"))))
    assert kinds(met) == ["DeadlineWarning", "DeadlineMet", "DeadlineOpened", "DeadlineOpened"]
    # accepted: 7.1 and 7.2 count from Friday's receipt of the request, across Nauryz
    almaty = ZoneInfo("Asia/Almaty")
    assert [(r.rule_id, r.due_at) for r in met if isinstance(r, DeadlineOpened)] == [  # type: ignore[attr-defined]
        ("7.1-ngo-first-contact-3wd", dt(2026, 3, 30, 23, 59, 59, tzinfo=almaty)),
        ("7.2-ngo-initial-meeting-4wd", dt(2026, 3, 31, 23, 59, 59, tzinfo=almaty))]


# -- the escalation ladder ------------------------------------------------------------------------

def test_warning_comes_before_the_due_time_and_only_if_not_met(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    assert only(engine.advance(T0 + timedelta(hours=2) - timedelta(seconds=1) + GRACE), DeadlineWarning) == []
    [warning] = only(engine.advance(T0 + timedelta(hours=2) + GRACE), DeadlineWarning)
    assert (warning.warn_at, warning.responsible_agency_id) == (T0 + timedelta(hours=2), "police-juvenile-almaty")
    engine.on_event(removal("C-2", seq=1))
    assert only(engine.on_event(report(T0 + timedelta(minutes=30), "C-2")), DeadlineWarning) == []


def test_unacknowledged_breach_climbs_the_ladder_once_per_level(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    levels = [(e.level, e.escalated_to_agency_id) for e in
              only(engine.advance(T0 + timedelta(hours=20)), EscalationRaised)]
    assert levels == [(1, "police-department-almaty"), (2, "commission-almaty"), (3, "steering-committee")]
    assert only(engine.advance(T0 + timedelta(days=30)), EscalationRaised) == []


def acknowledgement(engine: DeadlineEngine, level: int, at, seq: int = 2) -> Event:  # type: ignore[no-untyped-def]
    deadline_id = next(d.deadline_id for d in engine.open.values() if d.rule.rule_id.startswith("4.8"))
    ack = EscalationAcknowledged(envelope=envelope(EscalationAcknowledged, "C-1", "police-department-almaty", at=at),
                                 escalation_id=uuid.uuid4(), deadline_id=deadline_id, level=level)
    return on_log(ack, seq, recorded_at=at)


def test_acknowledgement_stops_further_levels(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    assert [e.level for e in only(engine.advance(T0 + timedelta(hours=3) + GRACE), EscalationRaised)] == [1]
    assert only(engine.on_event(acknowledgement(engine, 1, T0 + timedelta(hours=4))), EscalationRaised) == []
    assert only(engine.advance(T0 + timedelta(days=5)), EscalationRaised) == []


def test_acknowledgement_after_the_next_level_fell_due_raises_it_first(engine: DeadlineEngine) -> None:
    """Level 2 fell due at due+2h; an acknowledgement recorded at due+3h comes too late to stop it,
    whether or not the timer already fired — live and replay agree."""
    engine.on_event(removal())
    out = engine.on_event(acknowledgement(engine, 1, T0 + timedelta(hours=6)))
    assert [e.level for e in only(out, EscalationRaised)] == [1, 2]
    assert only(engine.advance(T0 + timedelta(days=5)), EscalationRaised) == []


def test_open_counts_per_rule_follow_opening_and_closing(engine: DeadlineEngine) -> None:
    engine.on_event(removal())
    assert engine.open_by_rule["4.8-removal-outcome-3h"] == 1
    assert engine.open_by_rule["6.3a-initial-assessment-48h-removal"] == 1
    engine.on_event(report(T0 + timedelta(hours=1)))
    assert engine.open_by_rule["4.8-removal-outcome-3h"] == 0
    assert sum(engine.open_by_rule.values()) == len(engine.open)


# -- "immediately" as an operator's policy threshold (4.9) -------------------------------------

def test_immediately_needs_a_policy_threshold_and_says_it_is_policy(directory: Directory) -> None:
    from referral_bus.contracts.events import ProsecutorNotified
    from referral_bus.domain.deadlines.rules import ClockContext, PolicyThreshold
    without = DeadlineEngine(RULES, directory, grace=GRACE)
    assert [r for r in without.on_event(removal()) if r.rule_id.startswith("4.9")] == []  # type: ignore[attr-defined]
    context = ClockContext(policy={"4.9": PolicyThreshold(2, "test")})
    engine = DeadlineEngine(RULES, directory, grace=GRACE, context=context)
    [opened] = [r for r in engine.on_event(removal()) if r.rule_id.startswith("4.9")]  # type: ignore[attr-defined]
    assert opened.due_at == T0 + timedelta(hours=2) and opened.responsible_agency_id == "cam-almaty"
    [escalation] = [r for r in engine.advance(T0 + timedelta(hours=2) + GRACE)
                    if isinstance(r, EscalationRaised) and r.rule_id.startswith("4.9")]
    assert "policy threshold, not law" in escalation.summary
    notice = ProsecutorNotified(envelope=envelope(ProsecutorNotified, "C-1", "cam-almaty"))
    assert "DeadlineCompletedLate" in kinds(engine.on_event(on_log(notice, 2, recorded_at=T0 + timedelta(hours=3))))


def test_policy_file_errors_name_the_paragraph() -> None:
    from referral_bus.domain.deadlines.calendar import WorkingCalendar
    from referral_bus.domain.deadlines.rules import ClockContext
    with pytest.raises(ValueError, match=r"immediately\.4\.9\.hours"):
        ClockContext.from_policy_mapping(WorkingCalendar(), {"immediately": {"4.9": {"hours": -1, "reason": "x"}}})
    with pytest.raises(ValueError, match=r"immediately\.4\.9\.reason"):
        ClockContext.from_policy_mapping(WorkingCalendar(), {"immediately": {"4.9": {"hours": 1}}})
    from referral_bus.infra.runtime import load_runtime
    assert load_runtime().clock_context.policy["4.9"].hours == 2


def test_social_assessment_due_eight_weeks_after_the_6_21_decision(engine: DeadlineEngine) -> None:
    from zoneinfo import ZoneInfo

    from referral_bus.contracts.events import SocialAssessmentCompleted
    engine.on_event(removal())
    concern = InitialAssessmentCompleted(envelope=envelope(InitialAssessmentCompleted, "C-1", "cam-almaty"),
                                         outcome=AssessmentOutcome.SIGNIFICANT_HARM_CONCERN)
    decided = T0 + timedelta(hours=20)
    opened = [r for r in engine.on_event(on_log(concern, 2, recorded_at=decided)) if isinstance(r, DeadlineOpened)]
    assert [(o.rule_id, o.due_at.astimezone(ZoneInfo("Asia/Almaty")).date().isoformat()) for o in opened] == \
        [("6.28-social-assessment-8w", "2026-04-28")]  # 3 March (Almaty) + 56 days
    done = SocialAssessmentCompleted(envelope=envelope(SocialAssessmentCompleted, "C-1", "cam-almaty"),
                                     conclusion="SIGNIFICANT_HARM")
    out = engine.on_event(on_log(done, 3, recorded_at=decided + timedelta(days=30)))
    assert kinds(out) == ["DeadlineMet", "DeadlineOpened"]  # 6.28 met; 6.33 meeting within 7 working days
    assert out[1].rule_id == "6.33-protection-meeting-7wd"  # type: ignore[attr-defined]



# -- 6.33-6.34: deadlines counted back from a meeting move with it ----------------------------------

def test_report_deadline_counts_back_from_the_meeting_and_moves_with_it(engine: DeadlineEngine) -> None:
    from zoneinfo import ZoneInfo

    from referral_bus.contracts.events import (
        ChildProtectionMeetingScheduled,
        MeetingAttendanceDeclined,
        ProfessionalReportSubmitted,
    )
    almaty = ZoneInfo("Asia/Almaty")
    thursday = datetime_(2026, 11, 26, 10, almaty)

    def scheduled(at, seq):  # type: ignore[no-untyped-def]
        e = ChildProtectionMeetingScheduled(envelope=envelope(ChildProtectionMeetingScheduled, "C-1", "cam-almaty"),
                                            meeting_id="M-1", scheduled_for=at,
                                            invited_agency_ids=["school-almaty", "health-almaty"])
        return on_log(e, seq, recorded_at=T0)

    def by(kind, agency, seq):  # type: ignore[no-untyped-def]
        return on_log(kind(envelope=envelope(kind, "C-1", agency), meeting_id="M-1"), seq, recorded_at=T0)

    engine.on_event(scheduled(thursday, 1))
    [opened] = [r for r in engine.on_event(by(MeetingAttendanceDeclined, "school-almaty", 2))
                if isinstance(r, DeadlineOpened)]
    assert (opened.rule_id, opened.responsible_agency_id) == ("6.34-written-report-2wd-before", "school-almaty")
    assert opened.due_at == datetime_(2026, 11, 24, 23, almaty, 59, 59)       # Tuesday, 2 working days before
    moves = engine.on_event(scheduled(datetime_(2026, 11, 30, 10, almaty), 3))  # the meeting moves to Monday
    [moved] = [r for r in moves if r.rule_id == "6.34-written-report-2wd-before"]
    assert (moved.deadline_id, moved.due_at) == (opened.deadline_id, datetime_(2026, 11, 26, 23, almaty, 59, 59))
    assert engine.on_event(by(ProfessionalReportSubmitted, "health-almaty", 4)) == []  # not this one's report
    assert kinds(engine.on_event(by(ProfessionalReportSubmitted, "school-almaty", 5))) == ["DeadlineMet"]


def test_meeting_information_is_owed_by_the_meeting_and_moves_with_it(engine: DeadlineEngine) -> None:
    """6.33: the invited professionals get the information (a)-(f) for the meeting — owed by the time it
    starts, re-timed when it moves, met by the CAM/CSC's MeetingInformationShared; a care plan review
    has its own report (6.66) instead."""
    from zoneinfo import ZoneInfo

    from referral_bus.contracts.events import ChildProtectionMeetingScheduled, MeetingInformationShared, MeetingPurpose
    from referral_bus.contracts.events import MeetingInformationItem as Item
    almaty = ZoneInfo("Asia/Almaty")

    def scheduled(meeting, at, seq, purpose=MeetingPurpose.CHILD_PROTECTION_MEETING):  # type: ignore[no-untyped-def]
        e = ChildProtectionMeetingScheduled(envelope=envelope(ChildProtectionMeetingScheduled, "C-1", "cam-almaty"),
                                            meeting_id=meeting, scheduled_for=at, purpose=purpose,
                                            invited_agency_ids=["school-almaty", "health-almaty"])
        return on_log(e, seq, recorded_at=T0)

    [opened] = [r for r in engine.on_event(scheduled("M-1", datetime_(2026, 11, 26, 10, almaty), 1))
                if isinstance(r, DeadlineOpened) and r.rule_id.startswith("6.33-meeting")]
    assert opened.due_at == datetime_(2026, 11, 26, 10, almaty)   # the meeting's own time
    [moved] = [r for r in engine.on_event(scheduled("M-1", datetime_(2026, 11, 30, 15, almaty), 2))
               if r.rule_id == opened.rule_id]
    assert (moved.deadline_id, moved.due_at) == (opened.deadline_id, datetime_(2026, 11, 30, 15, almaty))
    pack = MeetingInformationShared(envelope=envelope(MeetingInformationShared, "C-1", "cam-almaty"),
                                    meeting_id="M-1", covers=[Item.CHRONOLOGY, Item.RISK_ANALYSIS])
    assert kinds([r for r in engine.on_event(on_log(pack, 3, recorded_at=T0))
                  if r.rule_id == opened.rule_id]) == ["DeadlineMet"]
    review = engine.on_event(scheduled("CR-1", datetime_(2026, 12, 10, 10, almaty), 4, MeetingPurpose.CARE_PLAN_REVIEW))
    assert not [r for r in review if r.rule_id == opened.rule_id]


def datetime_(y, m, d, h, tz, minute=0, second=0):  # type: ignore[no-untyped-def]
    from datetime import datetime
    return datetime(y, m, d, h, minute, second, tzinfo=tz)


def test_ngo_programme_steps_7_1_to_7_3(engine: DeadlineEngine) -> None:
    from referral_bus.contracts.events import (
        NGODecision,
        NGODecisionKind,
        NGOFirstContactMade,
        NGOInitialMeetingHeld,
        ServicePlanAgreed,
    )
    monday = T0  # Monday 2 March 2026
    request = ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty", at=monday),
                           referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=12,
                           services_requested=["SOCIAL", "LEGAL"])
    engine.on_event(on_log(request, 1, recorded_at=monday))
    accepted = NGODecision(envelope=envelope(NGODecision, "C-1", "ngo-rodnik"), decision=NGODecisionKind.ACCEPTED)
    engine.on_event(on_log(accepted, 2, recorded_at=monday + timedelta(days=1)))

    def by_ngo(kind, seq, at):  # type: ignore[no-untyped-def]
        return on_log(kind(envelope=envelope(kind, "C-1", "ngo-rodnik", at=at), by_role="SOCIAL_WORKER"), seq,
                      recorded_at=at)

    assert kinds(engine.on_event(by_ngo(NGOFirstContactMade, 3, monday + timedelta(days=2)))) == ["DeadlineMet"]
    out = engine.on_event(by_ngo(NGOInitialMeetingHeld, 4, monday + timedelta(days=3)))
    assert kinds(out) == ["DeadlineMet", "DeadlineOpened"]
    assert out[1].rule_id == "7.3-service-plan-5wd"  # type: ignore[attr-defined]
    late = engine.on_event(by_ngo(ServicePlanAgreed, 5, monday + timedelta(days=14)))
    assert kinds(late)[-1] == "DeadlineCompletedLate"


def test_retimed_deadline_reports_its_new_start(engine: DeadlineEngine) -> None:
    engine.on_event(assessment_referral(True))
    later = removal(at=T0 + timedelta(hours=30), seq=2)
    [retimed] = [r for r in engine.on_event(later) if isinstance(r, DeadlineOpened) and r.rule_id.startswith("6.3")]
    assert retimed.opened_at == T0 + timedelta(hours=30)


def test_a_tick_for_some_cases_sets_the_others_aside_until_a_tick_for_all(engine: DeadlineEngine) -> None:
    """Several SLA processes share the partitions: each ticks only for the cases it folds as they
    come. Another's case may have been met by an event this engine has not seen: its steps wait,
    untouched, for the catch-up that precedes a tick for every case."""
    for case in ("MINE", "THEIRS"):
        engine.on_event(removal(case))
    after_due = T0 + timedelta(hours=3) + GRACE + timedelta(seconds=1)
    mine = engine.advance(after_due, owns=lambda case: case == "MINE")
    assert {r.case_id for r in only(mine, EscalationRaised)} == {"MINE"}
    assert engine.advance(after_due + timedelta(minutes=5), owns=lambda case: case == "MINE") == []
    # the catch-up folds the other process's event: the deadline was met, nothing is owed for it
    assert kinds(only(engine.on_event(report(T0 + timedelta(hours=1), case="THEIRS")), DeadlineMet)) == ["DeadlineMet"]
    assert only(engine.advance(after_due + timedelta(minutes=6)), EscalationRaised) == []
    # had it not been met, the tick for every case raises it then
    engine.on_event(removal("LATER"))
    assert engine.advance(after_due, owns=lambda case: False) == []
    assert {r.case_id for r in only(engine.advance(after_due), EscalationRaised)} == {"LATER"}


def test_open_counts_are_of_every_case_or_of_the_cases_this_process_owns(engine: DeadlineEngine) -> None:
    """Each SLA process holds every case; the open-deadlines gauge counts only its own partitions'
    (``owns``), so the sum over processes counts each deadline once."""
    engine.on_event(removal("C-1"))
    engine.on_event(removal("C-2"))
    rule_id = next(iter(engine.open.values())).rule.rule_id
    assert engine.open_counts()[rule_id] == 2
    assert engine.open_counts(lambda case: case == "C-1")[rule_id] == 1
    assert engine.open_counts(lambda case: False)[rule_id] == 0
    assert engine.open_counts() == engine.open_counts(lambda case: True)
