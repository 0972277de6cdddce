"""Recurring duties, withdrawal, fan-out, date anchors and deadlines counted back from a care plan
review (issue 4): 6.19(b), 6.41/6.45, 6.44, 6.48/6.49, 6.54(g)/6.62, 6.56, 6.66/6.67, 6.75(a),
6.76/6.77, 6.78(b), 7.9, 7.11/7.14, seeds 002 and 003."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from referral_bus.contracts import EVENT_TYPES
from referral_bus.contracts.base import City, Event, Record
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWarning,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES
from tests.builders import envelope, on_log

ALMATY = ZoneInfo("Asia/Almaty")
GRACE = timedelta(seconds=10)


def local(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=ALMATY)


def end_of(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 23, 59, 59, tzinfo=ALMATY)


class Case:
    """One case's events as the router would append them, folded into an engine as they come."""

    def __init__(self, engine: DeadlineEngine, case_id: str = "C-1", city: City = City.ALMATY,
                 start: datetime | None = None) -> None:
        self.engine, self.case_id, self.seq = engine, case_id, 0
        self.events: list[Event] = []
        self.records: list[Record] = []
        # an event with the city first: responsible agencies are the case city's (4.6)
        self.add("SchoolScreeningFlagRaised", "school-almaty", start or local(2026, 3, 2, 9), city=city,
                 child_age_years=9, concern="NEGLECT")

    def add(self, kind: str, agency: str, at: datetime, **fields: Any) -> list[Record]:
        model = EVENT_TYPES[kind]
        self.seq += 1
        event = on_log(model(envelope=envelope(model, self.case_id, agency, at=at), **fields), self.seq,
                       recorded_at=at)
        self.events.append(event)
        out = self.engine.on_event(event)
        self.records += out
        return out

    def advance(self, now: datetime) -> list[Record]:
        out = self.engine.advance(now)
        self.records += out
        return out


def of(records: list[Record], rule_prefix: str, kind: type | None = None) -> list[Any]:
    return [r for r in records if getattr(r, "rule_id", "").startswith(rule_prefix)
            and (kind is None or isinstance(r, kind))]


def kinds(records: list[Record]) -> list[str]:
    return [type(r).__name__ for r in records]


@pytest.fixture
def engine(directory: Directory) -> DeadlineEngine:
    return DeadlineEngine(RULES, directory, grace=GRACE)


# -- 6.41/6.45: child protection plan reviews, every 30 days -----------------------------------------

def plan_finalised(case: Case, at: datetime, commences: date, plan_id: str = "P-1") -> list[Record]:
    return case.add("ChildProtectionPlanFinalised", "cam-almaty", at, plan_id=plan_id, meeting_id="M-1",
                    commences_on=commences, first_review_by=commences + timedelta(days=20))


def plan_reviewed(case: Case, at: datetime, recommendation: str = "CONTINUE_AS_DRAFTED", plan_id: str = "P-1",
                  meeting_id: str = "R-1", accepts: bool = True) -> list[Record]:
    return case.add("ChildProtectionPlanReviewed", "cam-almaty", at, plan_id=plan_id, meeting_id=meeting_id,
                    recommendation=recommendation, manager_accepts=accepts)


def test_plan_reviews_recur_every_30_days_counted_from_each_review(engine: DeadlineEngine) -> None:
    case = Case(engine)
    opened = of(plan_finalised(case, local(2026, 3, 3), date(2026, 3, 2)), "6.4", DeadlineOpened)
    assert [(o.rule_id, o.due_at) for o in opened] == [
        ("6.45-protection-plan-review-30d", end_of(2026, 4, 1)),     # 2 March + 30 days (6.41(d))
        ("6.41-protection-plan-12m-limit", end_of(2027, 3, 2))]      # 12 months without a new assessment
    first = opened[0]
    assert first.responsible_agency_id == "cam-almaty"
    out = plan_reviewed(case, local(2026, 3, 25))
    [met] = of(out, "6.45", DeadlineMet)
    [second] = of(out, "6.45", DeadlineOpened)
    assert met.deadline_id == first.deadline_id
    assert second.deadline_id != first.deadline_id and second.due_at == end_of(2026, 4, 24)
    assert second.trigger_event_id == case.events[-1].envelope.event_id    # counted from the review
    # the second review comes late: breach on the clock, then completed late, then occurrence 3 from it
    breach = of(case.advance(end_of(2026, 4, 24) + GRACE + timedelta(seconds=1)), "6.45")
    assert kinds(breach) == ["DeadlineWarning", "DeadlineBreached", "EscalationRaised"]
    out = plan_reviewed(case, local(2026, 5, 1), meeting_id="R-2")   # levels 2 and 3 fell due before it
    assert kinds(of(out, "6.45")) == ["EscalationRaised", "EscalationRaised", "DeadlineCompletedLate",
                                      "DeadlineOpened"]
    assert of(out, "6.45", DeadlineOpened)[0].due_at == end_of(2026, 5, 31)
    assert engine.open_by_rule["6.45-protection-plan-review-30d"] == 1


def test_occurrence_ids_are_deterministic_on_replay(directory: Directory) -> None:
    def run() -> list[Record]:
        case = Case(DeadlineEngine(RULES, directory, grace=GRACE))
        plan_finalised(case, local(2026, 3, 3), date(2026, 3, 2))
        for n, day in enumerate((25, 28, 31)):
            plan_reviewed(case, local(2026, 3, day), meeting_id=f"R-{n}")
        case.advance(local(2026, 12, 1))
        return case.records

    first, again = run(), run()
    # event ids differ between runs (fresh uuid4s); the occurrences are numbered the same way
    openings = [r for r in first if isinstance(r, DeadlineOpened) and r.rule_id.startswith("6.45")]
    assert len({o.deadline_id for o in openings}) == 4
    assert kinds(first) == kinds(again)


def test_replaying_the_same_log_yields_identical_records(directory: Directory) -> None:
    case = Case(DeadlineEngine(RULES, directory, grace=GRACE))
    plan_finalised(case, local(2026, 3, 3), date(2026, 3, 2))
    plan_reviewed(case, local(2026, 3, 25))
    case.add("ChildProtectionPlanAmended", "cam-almaty", local(2026, 3, 27), plan_id="P-1",
             next_review_by=date(2026, 4, 10))
    plan_reviewed(case, local(2026, 4, 20), meeting_id="R-2", recommendation="NO_LONGER_NECESSARY")
    case.add("CaseClosed", "cam-almaty", local(2026, 4, 22), ground="PLAN_NO_LONGER_NECESSARY")
    case.advance(local(2026, 12, 1))
    replay = DeadlineEngine(RULES, directory, grace=GRACE)
    again: list[Record] = []
    for event in case.events:
        again += replay.on_event(event)
    again += replay.advance(local(2026, 12, 1))
    assert again == case.records


def test_an_amendment_brings_the_next_review_forward_never_later(engine: DeadlineEngine) -> None:
    """6.49: the amended plan sets the date of the next review; 6.45 still bounds it at 30 days."""
    case = Case(engine)
    plan_finalised(case, local(2026, 3, 3), date(2026, 3, 2))
    [second] = of(plan_reviewed(case, local(2026, 3, 25), recommendation="VARY"), "6.45", DeadlineOpened)
    [amend_due] = of(case.records, "6.49", DeadlineOpened)
    assert amend_due.due_at == end_of(2026, 4, 3)       # 7 working days of 25 March: Nauryz is over by then
    later = case.add("ChildProtectionPlanAmended", "cam-almaty", local(2026, 3, 30), plan_id="P-1",
                     next_review_by=date(2026, 5, 30))
    assert of(later, "6.45") == [] and kinds(of(later, "6.49")) == ["DeadlineMet"]
    sooner = case.add("ChildProtectionPlanAmended", "cam-almaty", local(2026, 3, 31), plan_id="P-1",
                      next_review_by=date(2026, 4, 10))
    [retimed] = of(sooner, "6.45", DeadlineOpened)
    assert (retimed.deadline_id, retimed.due_at) == (second.deadline_id, end_of(2026, 4, 10))


def test_a_review_finding_the_plan_unnecessary_ends_the_series(engine: DeadlineEngine) -> None:
    case = Case(engine)
    plan_finalised(case, local(2026, 3, 3), date(2026, 3, 2))
    out = plan_reviewed(case, local(2026, 3, 25), recommendation="NO_LONGER_NECESSARY")
    assert kinds(of(out, "6.45")) == ["DeadlineMet"]          # met, and no occurrence 2
    closed = case.add("CaseClosed", "cam-almaty", local(2026, 3, 27), ground="PLAN_NO_LONGER_NECESSARY")
    assert kinds(of(closed, "6.41")) == ["DeadlineMet"]       # 6.41: ended well within 12 months
    assert engine.open == {}


def test_a_manager_who_rejects_the_recommendation_owes_reasons_and_the_reviews_go_on(engine: DeadlineEngine) -> None:
    """6.48: reasons within 2 working days; rejecting 'no longer necessary' keeps the plan (and its reviews)."""
    case = Case(engine)
    plan_finalised(case, local(2026, 3, 3), date(2026, 3, 2))
    out = plan_reviewed(case, local(2026, 11, 20, 15), recommendation="NO_LONGER_NECESSARY", accepts=False)
    [reasons] = of(out, "6.48", DeadlineOpened)
    assert reasons.due_at == end_of(2026, 11, 24)             # Friday afternoon: Monday and Tuesday
    assert of(out, "6.45", DeadlineOpened)                    # the series continues
    rejected = case.add("ReviewRecommendationsRejected", "cam-almaty", local(2026, 11, 23), plan_kind="CARE_PLAN",
                        meeting_id="R-1", reasons="not in the child's best interests")
    assert of(rejected, "6.48") == []                         # about a care plan: not this one
    rejected = case.add("ReviewRecommendationsRejected", "cam-almaty", local(2026, 11, 23),
                        plan_kind="CHILD_PROTECTION_PLAN", meeting_id="R-1",
                        reasons="not in the child's best interests")
    assert kinds(of(rejected, "6.48")) == ["DeadlineMet"]


def test_a_new_social_assessment_stops_the_reviews_and_meets_the_12_month_limit(engine: DeadlineEngine) -> None:
    """6.50: after 'no longer adequate' or 12 months at risk, another assessment."""
    case = Case(engine)
    plan_finalised(case, local(2026, 3, 3), date(2026, 3, 2))
    plan_reviewed(case, local(2026, 3, 25), recommendation="NO_LONGER_ADEQUATE")
    out = case.add("SocialAssessmentCompleted", "cam-almaty", local(2026, 4, 10), conclusion="SIGNIFICANT_HARM")
    assert kinds(of(out, "6.41")) == ["DeadlineMet"]
    [withdrawn] = of(out, "6.45", DeadlineWithdrawn)
    assert withdrawn.withdrawing_event_id == case.events[-1].envelope.event_id
    assert "6.50" in withdrawn.reason and withdrawn.due_at == end_of(2026, 4, 24)


def test_plan_finalised_within_7_working_days_of_the_meeting(engine: DeadlineEngine) -> None:
    """6.44: the meeting that decided on a plan (6.39(c)) starts the clock; only that meeting's plan closes it."""
    case = Case(engine)
    [due] = of(case.add("ChildProtectionMeetingHeld", "cam-almaty", local(2026, 3, 18), meeting_id="M-1",
                        decision="CHILD_PROTECTION_PLAN"), "6.44", DeadlineOpened)
    assert due.due_at == end_of(2026, 4, 1)                   # 19, 20, 26, 27, 30, 31, 1 April: Nauryz skipped
    assert of(case.add("ChildProtectionMeetingHeld", "cam-almaty", local(2026, 3, 19), meeting_id="M-2",
                       decision="SUPPORT_SERVICES"), "6.44") == []
    out = plan_finalised(case, local(2026, 3, 27), date(2026, 3, 30))
    assert kinds(of(out, "6.44")) == ["DeadlineMet"]


# -- CaseClosed: nothing left to be breached ----------------------------------------------------------

def test_case_closure_withdraws_open_deadlines_and_keeps_a_breached_ladder_until_acknowledged(
        engine: DeadlineEngine) -> None:
    case = Case(engine)
    case.add("EmergencyRemoval", "police-juvenile-almaty", local(2026, 3, 2, 10), city="ALMATY", child_age_years=9,
             child_removed=True, cam_social_worker_present=False)
    plan_finalised(case, local(2026, 3, 3), date(2026, 3, 2))
    [breached] = of(case.advance(local(2026, 3, 2, 13) + GRACE), "4.8", DeadlineBreached)
    closed = case.add("CaseClosed", "cam-almaty", local(2026, 3, 2, 14), ground="NO_CONCERN_FOUND")
    withdrawn = [r for r in closed if isinstance(r, DeadlineWithdrawn)]
    assert sorted(w.rule_id for w in withdrawn) == ["6.3a-initial-assessment-48h-removal",
                                                    "6.45-protection-plan-review-30d"]
    assert kinds(of(closed, "6.41")) == ["DeadlineMet"]        # closure ends the plan within 12 months
    assert all(w.reason == "the case file was closed (NO_CONCERN_FOUND)" for w in withdrawn)
    assert of(closed, "4.8") == []                             # breached: no withdrawal ...
    assert [e.level for e in of(case.advance(local(2026, 3, 2, 15, 30)), "4.8", EscalationRaised)] == [2]
    ack = case.add("EscalationAcknowledged", "commission-almaty", local(2026, 3, 2, 16),
                   escalation_id=breached.sla_event_id, deadline_id=breached.deadline_id, level=2)
    assert ack == [] and engine.open == {}                     # ... until acknowledged; then gone
    assert case.advance(local(2026, 12, 31)) == []


def test_a_stopped_series_whose_occurrence_was_breached_opens_no_next_occurrence(engine: DeadlineEngine) -> None:
    case = Case(engine)
    case.add("TemporaryCareDecided", "guardianship-almaty", local(2026, 1, 31), placement_necessary=True,
             form="CAM_RESIDENTIAL_UNIT")
    assert kinds(of(case.advance(end_of(2026, 2, 28) + GRACE), "6.19b-unit-placement-review")) == \
        ["DeadlineWarning", "DeadlineBreached", "EscalationRaised"]
    ended = case.add("PlacementEnded", "cam-almaty", local(2026, 3, 1), placement="TEMPORARY_RESIDENTIAL_UNIT")
    assert kinds(of(ended, "6.19b")) == ["DeadlineMet"]        # the 3-month limit; the breached review stays
    late = case.add("PlacementReviewed", "cam-almaty", local(2026, 3, 1, 12), placement="TEMPORARY_RESIDENTIAL_UNIT",
                    continues=False)
    assert kinds(of(late, "6.19b")) == ["DeadlineCompletedLate"]  # and no occurrence 2
    assert engine.open == {}


def test_a_withdrawn_breach_is_dropped_once_its_ladder_has_run_out(engine: DeadlineEngine) -> None:
    case = Case(engine)
    case.add("TemporaryCareDecided", "guardianship-almaty", local(2026, 1, 31), placement_necessary=True,
             form="CAM_RESIDENTIAL_UNIT")
    case.advance(end_of(2026, 2, 28) + GRACE)
    ended = case.add("PlacementEnded", "cam-almaty", local(2026, 3, 1), placement="TEMPORARY_RESIDENTIAL_UNIT")
    assert of(ended, "6.19b", DeadlineWithdrawn) == []
    assert [e.level for e in of(case.advance(end_of(2026, 3, 2) + GRACE), "6.19b", EscalationRaised)] == [2, 3]
    assert engine.open == {} and case.advance(local(2027, 1, 1)) == []


# -- 6.19(b) and seed 002: temporary residential unit ----------------------------------------------

def test_unit_placement_reviewed_every_calendar_month_within_3_months(engine: DeadlineEngine) -> None:
    case = Case(engine)
    out = case.add("TemporaryCareDecided", "guardianship-almaty", local(2026, 1, 31), placement_necessary=True,
                   form="CAM_RESIDENTIAL_UNIT")
    assert [(o.rule_id, o.due_at) for o in of(out, "6.19b", DeadlineOpened)] == [
        ("6.19b-unit-placement-review-monthly", end_of(2026, 2, 28)),   # 31 January + 1 month, clamped
        ("6.19b-unit-placement-limit-3m", end_of(2026, 4, 30))]
    assert of(case.add("PlacementReviewed", "cam-almaty", local(2026, 2, 20), placement="RESIDENTIAL_CARE",
                       continues=True), "6.19b") == []                  # another placement's review
    out = case.add("PlacementReviewed", "cam-almaty", local(2026, 2, 20), placement="TEMPORARY_RESIDENTIAL_UNIT",
                   continues=True)
    assert kinds(of(out, "6.19b")) == ["DeadlineMet", "DeadlineOpened"]
    assert of(out, "6.19b", DeadlineOpened)[0].due_at == end_of(2026, 3, 20)
    again = case.add("TemporaryCareDecided", "guardianship-almaty", local(2026, 3, 1), placement_necessary=True,
                     form="CAM_RESIDENTIAL_UNIT")
    assert of(again, "6.19b") == []                            # neither restarts the rhythm nor extends the limit
    ended = case.add("PlacementEnded", "cam-almaty", local(2026, 3, 10), placement="TEMPORARY_RESIDENTIAL_UNIT")
    assert sorted(kinds(of(ended, "6.19b"))) == ["DeadlineMet", "DeadlineWithdrawn"]
    [withdrawn] = of(ended, "6.19b", DeadlineWithdrawn)
    assert withdrawn.rule_id == "6.19b-unit-placement-review-monthly"
    assert withdrawn.reason == "the child left the temporary residential unit (6.19(b))"


def test_csc_centre_stay_is_limited_to_6_months(engine: DeadlineEngine) -> None:
    case = Case(engine)
    out = case.add("TemporaryCareDecided", "guardianship-almaty", local(2026, 8, 31), placement_necessary=True,
                   form="CSC_RESIDENTIAL_UNIT")
    assert sorted((o.rule_id, o.due_at) for o in out if isinstance(o, DeadlineOpened)) == [
        ("6.19b-unit-placement-review-monthly", end_of(2026, 9, 30)),
        ("seed002-csc-centre-stay-6m", end_of(2027, 2, 28))]


# -- the care plan ------------------------------------------------------------------------------------

def care_plan(case: Case, at: datetime, *, commences: date, ends: date | None, placement: str = "RESIDENTIAL_CARE",
              plan_id: str = "CP-1") -> list[Record]:
    return case.add("CarePlanAgreed", "cam-almaty", at, care_plan_id=plan_id, placement=placement,
                    commences_on=commences, ends_on=ends, first_review_by=commences + timedelta(days=21))


def test_care_plan_reviews_28_days_then_every_3_months(engine: DeadlineEngine) -> None:
    case = Case(engine)
    out = care_plan(case, local(2026, 3, 2), commences=date(2026, 3, 2), ends=date(2026, 12, 31))
    assert sorted((o.rule_id, o.due_at) for o in out if isinstance(o, DeadlineOpened)) == [
        ("6.56-residential-care-review-3m", end_of(2026, 6, 2)),
        ("6.62-care-plan-review", end_of(2026, 3, 30)),               # 28 days from the commencement date
        ("6.75a-transition-steps-3m-before-end", end_of(2026, 9, 30))]  # 31 December - 3 months, clamped
    out = case.add("CarePlanReviewed", "cam-almaty", local(2026, 3, 31, 10), care_plan_id="CP-1", meeting_id="CR-1",
                   decision="CONTINUE_AS_DRAFTED")
    assert kinds(of(out, "6.62")) == ["DeadlineWarning", "DeadlineBreached", "EscalationRaised",
                                      "DeadlineCompletedLate", "DeadlineOpened"]
    assert of(out, "6.62", DeadlineOpened)[0].due_at == end_of(2026, 6, 30)   # 3 months from the last review
    out = case.add("CarePlanReviewed", "cam-almaty", local(2026, 6, 1), care_plan_id="CP-1", meeting_id="CR-2",
                   decision="VARY")
    [amend] = of(out, "6.77", DeadlineOpened)
    amended = case.add("CarePlanAmended", "cam-almaty", local(2026, 6, 3), care_plan_id="CP-1",
                       next_review_by=date(2026, 8, 15))
    assert kinds(of(amended, "6.77")) == ["DeadlineMet"] and amend.due_at == end_of(2026, 6, 10)
    assert [r.due_at for r in of(amended, "6.62", DeadlineOpened)] == [end_of(2026, 8, 15)]
    placement = case.add("PlacementReviewed", "guardianship-almaty", local(2026, 5, 20), placement="RESIDENTIAL_CARE",
                         continues=True)
    assert [r.due_at for r in of(placement, "6.56", DeadlineOpened)] == [end_of(2026, 8, 20)]
    left = case.add("ChildLeftCare", "cam-almaty", local(2026, 7, 1), care_plan_id="CP-1",
                    after_care_authority="district social protection")
    assert sorted(r.rule_id for r in left if isinstance(r, DeadlineWithdrawn)) == [
        "6.56-residential-care-review-3m", "6.62-care-plan-review", "6.75a-transition-steps-3m-before-end"]
    [one_year] = of(left, "6.78b", DeadlineOpened)
    assert one_year.due_at == end_of(2027, 7, 1)


def test_transition_deadline_needs_an_end_date(engine: DeadlineEngine) -> None:
    case = Case(engine)
    out = care_plan(case, local(2026, 3, 2), commences=date(2026, 3, 2), ends=None, placement="FOSTER_FAMILY")
    assert [o.rule_id for o in out if isinstance(o, DeadlineOpened)] == ["6.62-care-plan-review"]
    out = care_plan(case, local(2026, 3, 2), commences=date(2026, 3, 2), ends=date(2026, 5, 31), plan_id="CP-2",
                    placement="FOSTER_FAMILY")
    [transition] = of(out, "6.75a", DeadlineOpened)
    assert transition.due_at == end_of(2026, 2, 28)   # a plan shorter than 3 months: already due when agreed
    done = case.add("TransitionFromCarePlanned", "cam-almaty", local(2026, 3, 3), care_plan_id="CP-2")
    assert kinds(of(done, "6.75a")) == ["DeadlineBreached", "EscalationRaised", "EscalationRaised",
                                        "EscalationRaised", "DeadlineCompletedLate"]


def test_review_reasons_and_amendment_for_a_care_plan(engine: DeadlineEngine) -> None:
    """6.76: reasons within 2 working days; 6.77 needs an accepted decision to vary."""
    case = Case(engine)
    care_plan(case, local(2026, 3, 2), commences=date(2026, 3, 2), ends=None, placement="KINSHIP")
    out = case.add("CarePlanReviewed", "cam-almaty", local(2026, 11, 20, 15), care_plan_id="CP-1", meeting_id="CR-1",
                   decision="VARY", manager_accepts=False)
    assert [(r.rule_id, r.due_at) for r in out if isinstance(r, DeadlineOpened) and r.rule_id.startswith("6.7")] == [
        ("6.76-care-review-reasons-2wd", end_of(2026, 11, 24))]
    done = case.add("ReviewRecommendationsRejected", "cam-almaty", local(2026, 11, 24), plan_kind="CARE_PLAN",
                    meeting_id="CR-1", reasons="not in the child's best interests")
    assert kinds(of(done, "6.76")) == ["DeadlineMet"]


# -- 6.66 / 6.67: counted back from a care plan review, moving with it ---------------------------------

def schedule(case: Case, when: datetime, purpose: str = "CARE_PLAN_REVIEW", meeting_id: str = "CR-1") -> list[Record]:
    return case.add("ChildProtectionMeetingScheduled", "cam-almaty", local(2026, 11, 2), meeting_id=meeting_id,
                    purpose=purpose, scheduled_for=when, invited_agency_ids=["school-almaty", "health-almaty"])


def test_moving_a_care_plan_review_moves_the_reports_owed_before_it(engine: DeadlineEngine) -> None:
    case = Case(engine)
    [report] = of(schedule(case, local(2026, 11, 26)), "6.66", DeadlineOpened)   # Thursday 26 November
    assert (report.due_at, report.responsible_agency_id) == (end_of(2026, 11, 19), "cam-almaty")
    declined = case.add("MeetingAttendanceDeclined", "school-almaty", local(2026, 11, 3), meeting_id="CR-1",
                        purpose="CARE_PLAN_REVIEW")
    assert of(declined, "6.34") == []                          # 6.34 is for meetings and plan reviews (6.46)
    [owed] = of(declined, "6.67", DeadlineOpened)
    assert (owed.due_at, owed.responsible_agency_id) == (end_of(2026, 11, 23), "school-almaty")  # Mon: 3 WD before
    moved = schedule(case, local(2026, 11, 30))                # to Monday 30 November
    assert sorted((r.rule_id, r.deadline_id, r.due_at) for r in moved if isinstance(r, DeadlineOpened)) == sorted([
        ("6.66-review-report-7d-before", report.deadline_id, end_of(2026, 11, 23)),
        ("6.67-declined-review-report-3wd-before", owed.deadline_id, end_of(2026, 11, 25))])
    issued = case.add("CarePlanReviewReportIssued", "cam-almaty", local(2026, 11, 20), meeting_id="CR-1")
    assert kinds(of(issued, "6.66")) == ["DeadlineMet"]
    assert of(schedule(case, local(2026, 12, 3)), "6.66") == []  # issued once: moving again owes no second report
    assert of(case.add("ProfessionalReportSubmitted", "health-almaty", local(2026, 11, 20), meeting_id="CR-1"),
              "6.67") == []
    submitted = case.add("ProfessionalReportSubmitted", "school-almaty", local(2026, 11, 20), meeting_id="CR-1")
    assert kinds(of(submitted, "6.67")) == ["DeadlineMet"]


def test_6_34_applies_to_plan_reviews_and_warns_before_a_meeting(engine: DeadlineEngine) -> None:
    """6.46: a plan review follows the meeting's procedure. A deadline counted back from a meeting
    starts its clock after its due time, yet it warns the day before (noticed at the decline)."""
    case = Case(engine)
    schedule(case, local(2026, 11, 26), purpose="PLAN_REVIEW", meeting_id="R-1")
    declined = case.add("MeetingAttendanceDeclined", "health-almaty", local(2026, 11, 3), meeting_id="R-1",
                        purpose="PLAN_REVIEW")
    [owed] = of(declined, "6.34", DeadlineOpened)
    assert owed.due_at == end_of(2026, 11, 24) and of(declined, "6.67") == []
    [warning] = of(case.advance(end_of(2026, 11, 23) + GRACE), "6.34", DeadlineWarning)
    assert warning.warn_at == end_of(2026, 11, 23) and warning.responsible_agency_id == "health-almaty"


# -- 7.9: one monthly series per service provider --------------------------------------------------

def service_plan(case: Case, at: datetime, providers: list[str]) -> list[Record]:
    return case.add("ServicePlanAgreed", "ngo-rodnik", at, by_role="SOCIAL_WORKER",
                    service_provider_agency_ids=providers)


def progress(case: Case, agency: str, at: datetime) -> list[Record]:
    return case.add("ServiceProgressReported", agency, at, ngo_agency_id="ngo-rodnik", service="school enrolment")


def test_every_service_provider_owes_monthly_updates(engine: DeadlineEngine) -> None:
    case = Case(engine)
    opened = of(service_plan(case, local(2026, 3, 31), ["school-almaty", "health-almaty"]), "7.9", DeadlineOpened)
    assert [(o.responsible_agency_id, o.due_at) for o in opened] == [
        ("school-almaty", end_of(2026, 4, 30)), ("health-almaty", end_of(2026, 4, 30))]
    assert of(progress(case, "police-juvenile-almaty", local(2026, 4, 10)), "7.9") == []  # not on the plan
    out = progress(case, "school-almaty", local(2026, 4, 10))
    assert kinds(of(out, "7.9")) == ["DeadlineMet", "DeadlineOpened"]
    assert of(out, "7.9", DeadlineMet)[0].deadline_id == opened[0].deadline_id
    [next_school] = of(out, "7.9", DeadlineOpened)
    assert (next_school.responsible_agency_id, next_school.due_at) == ("school-almaty", end_of(2026, 5, 10))
    # the health provider's silence breaches its own deadline only, escalated to its supervisor
    [escalation] = of(case.advance(end_of(2026, 4, 30) + GRACE), "7.9", EscalationRaised)
    assert (escalation.deadline_id, escalation.escalated_to_agency_id) == (opened[1].deadline_id, "commission-almaty")
    closed = case.add("NGOCaseClosed", "ngo-rodnik", local(2026, 5, 5), reason="GOALS_MET")
    [withdrawn] = of(closed, "7.9", DeadlineWithdrawn)
    assert (withdrawn.deadline_id, withdrawn.responsible_agency_id) == (next_school.deadline_id, "school-almaty")


def test_a_revised_service_plan_keeps_the_rhythm_of_remaining_providers(engine: DeadlineEngine) -> None:
    case = Case(engine)
    service_plan(case, local(2026, 3, 31), ["school-almaty", "health-almaty"])
    revised = service_plan(case, local(2026, 4, 15), ["school-almaty", "guardianship-almaty"])
    assert [(type(r).__name__, r.responsible_agency_id) for r in of(revised, "7.9")] == [  # type: ignore[attr-defined]
        ("DeadlineWithdrawn", "health-almaty"), ("DeadlineOpened", "guardianship-almaty")]
    assert sorted(d.responsible_agency_id or "" for d in engine.open.values() if d.rule.rule_id.startswith("7.9")) == \
        ["guardianship-almaty", "school-almaty"]


# -- 7.11 / 7.14: legal services ------------------------------------------------------------------

@pytest.mark.parametrize("services, rules", [
    (["LEGAL"], {"7.11-ngo-lawyer-contact-2bd": end_of(2026, 11, 24), "7.14-ngo-legal-advice-11bd": end_of(2026, 12,
                                                                                                           7)}),
    (["SOCIAL", "LEGAL"], {"7.1-ngo-first-contact-3wd": end_of(2026, 11, 25),
                           "7.2-ngo-initial-meeting-4wd": end_of(2026, 11, 26),
                           "7.14-ngo-legal-advice-11bd": end_of(2026, 12, 7)}),
    (["PSYCHOLOGICAL"], {"7.1-ngo-first-contact-3wd": end_of(2026, 11, 25),
                         "7.2-ngo-initial-meeting-4wd": end_of(2026, 11, 26)}),
])
def test_ngo_deadlines_follow_the_services_requested(engine: DeadlineEngine, services: list[str],
                                                     rules: dict[str, datetime]) -> None:
    """Received Friday 20 November 2026: 11 business days skip three weekends (1 December is no longer a
    holiday; Independence Day, 16 December, is later)."""
    case = Case(engine)
    case.add("ReferralMade", "school-almaty", local(2026, 11, 20), referral_kind="NGO_SUPPORT", city="ALMATY",
             child_age_years=12, services_requested=services)
    out = case.add("NGODecision", "ngo-rodnik", local(2026, 11, 20, 15), decision="ACCEPTED")
    assert {r.rule_id: r.due_at for r in out if isinstance(r, DeadlineOpened)} == rules
    closed = case.add("NGOCaseClosed", "ngo-rodnik", local(2026, 11, 21), reason="CONSENT_WITHDRAWN")
    assert {r.rule_id for r in closed if isinstance(r, DeadlineWithdrawn)} == set(rules)


# -- seeds 002 and 003 ----------------------------------------------------------------------------

def test_violence_identified_by_medical_staff_1_day_and_1_hour(engine: DeadlineEngine) -> None:
    case = Case(engine)
    out = case.add("ViolenceSuspectedByMedicalStaff", "health-almaty", local(2026, 3, 2, 22), city="ALMATY",
                   child_age_years=6)
    assert sorted((r.rule_id, r.due_at, r.responsible_agency_id) for r in out if isinstance(r, DeadlineOpened)) == [
        ("seed002-medical-written-notice-1d", local(2026, 3, 3, 22), "health-almaty"),
        ("seed002-multidisciplinary-evaluation-1h", local(2026, 3, 2, 23), "health-almaty")]
    fired = case.advance(local(2026, 3, 3, 1) + GRACE)
    assert [(e.level, e.escalated_to_agency_id) for e in of(fired, "seed002-multi", EscalationRaised)] == [
        (1, "commission-almaty"), (2, "commission-almaty")]


def test_police_custody_beyond_72_hours_goes_to_the_prosecutor_first(engine: DeadlineEngine) -> None:
    case = Case(engine)
    case.add("PoliceCustodyStarted", "police-juvenile-almaty", local(2026, 3, 2, 10), city="ALMATY",
             child_age_years=16, criminal_case_ref="CR-2026-1")
    fired = case.advance(local(2026, 3, 5, 10) + GRACE)
    assert [(e.level, e.escalated_to_agency_id) for e in of(fired, "seed003-police", EscalationRaised)] == [
        (1, "prosecutor-almaty")]
    out = case.add("PoliceCustodyEnded", "police-juvenile-almaty", local(2026, 3, 5, 10, 30))
    assert kinds(of(out, "seed003-police")) == ["DeadlineCompletedLate"]


def test_programme_reviewed_every_6_months_and_ends_within_a_year(engine: DeadlineEngine) -> None:
    case = Case(engine)
    out = case.add("ProgrammeEnrolled", "probation-almaty", local(2026, 1, 15), programme_id="PR-1",
                   referring_agency_id="court-almaty")
    assert sorted((r.rule_id, r.due_at, r.responsible_agency_id) for r in out if isinstance(r, DeadlineOpened)) == [
        ("seed003-programme-limit-1y", end_of(2027, 1, 15), "probation-almaty"),
        ("seed003-programme-review-6m", end_of(2026, 7, 15), "probation-almaty")]
    out = case.add("ProgrammeReviewed", "probation-almaty", local(2026, 7, 1), programme_id="PR-1", continues=True)
    assert [r.due_at for r in of(out, "seed003-programme-review", DeadlineOpened)] == [end_of(2027, 1, 1)]
    done = case.add("ProgrammeCompleted", "probation-almaty", local(2026, 12, 1), programme_id="PR-1", goals_met=True)
    assert sorted(kinds(of(done, "seed003-programme"))) == ["DeadlineMet", "DeadlineWithdrawn"]


def test_explain_reasoning_names_the_occurrence_and_the_clamped_month(directory: Directory) -> None:
    """What `sla explain` prints: which occurrence, what it was counted from, the calendar reasoning."""
    engine = DeadlineEngine(RULES, directory, grace=GRACE, keep_reasoning=True)
    case = Case(engine)
    out = case.add("TemporaryCareDecided", "guardianship-almaty", local(2026, 1, 31), placement_necessary=True,
                   form="CAM_RESIDENTIAL_UNIT")
    [first] = of(out, "6.19b-unit-placement-review", DeadlineOpened)
    clock, lines = engine.reasoning[first.sla_event_id]
    assert clock == "1 calendar month" and lines[0] == "occurrence 1 of a recurring duty"
    assert any("February 2026 has no day 31, so the last day of the month" in line for line in lines)
    out = case.add("PlacementReviewed", "cam-almaty", local(2026, 2, 20), placement="TEMPORARY_RESIDENTIAL_UNIT",
                   continues=True)
    [second] = of(out, "6.19b", DeadlineOpened)
    clock, lines = engine.reasoning[second.sla_event_id]
    assert lines[0] == "occurrence 2 of a recurring duty"
    assert lines[1].startswith("counted from PlacementReviewed") and lines[1].endswith("completed occurrence 1")
    assert DeadlineEngine(RULES, directory).reasoning == {}   # the processor keeps no text
