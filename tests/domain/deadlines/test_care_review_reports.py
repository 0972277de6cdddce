"""6.68 (issue 15): within two working days of a care plan review meeting its members receive the
written reports of the carer and of the other professionals — rule 6.68-review-reports-2wd, met by
CarePlanReviewReportsDistributed for the same meeting."""

from __future__ import annotations

from datetime import date

from referral_bus.contracts.sla_records import DeadlineBreached, DeadlineMet, DeadlineOpened
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import NOT_ENFORCEABLE, RULES_BY_ID
from tests.domain.deadlines.test_recurring import Case, care_plan, end_of, engine, kinds, local, of

__all__ = ["engine"]   # the engine fixture, shared with test_recurring


def reviewed(case: Case, meeting_id: str = "CR-1") -> list:
    """A care plan review held on Friday 20 November 2026 at 15:00 (Almaty)."""
    care_plan(case, local(2026, 3, 2), commences=date(2026, 3, 2), ends=None, placement="KINSHIP")
    return case.add("CarePlanReviewed", "cam-almaty", local(2026, 11, 20, 15), care_plan_id="CP-1",
                    meeting_id=meeting_id, decision="CONTINUE_AS_DRAFTED", child_attended=True)


def test_reports_reach_the_members_within_2_working_days_of_the_review(engine: DeadlineEngine) -> None:
    case = Case(engine)
    [owed] = of(reviewed(case), "6.68", DeadlineOpened)
    # Friday's meeting: Monday 23 and Tuesday 24 November are the two working days
    assert (owed.rule_id, owed.due_at, owed.responsible_agency_id) == (
        "6.68-review-reports-2wd", end_of(2026, 11, 24), "cam-almaty")
    other = case.add("CarePlanReviewReportsDistributed", "cam-almaty", local(2026, 11, 23), meeting_id="CR-9")
    assert of(other, "6.68") == []                            # another meeting's reports do not meet it
    done = case.add("CarePlanReviewReportsDistributed", "cam-almaty", local(2026, 11, 24), meeting_id="CR-1",
                    carer_report_included=True)
    assert kinds(of(done, "6.68")) == ["DeadlineMet"] and isinstance(of(done, "6.68")[0], DeadlineMet)


def test_reports_not_distributed_breach_the_deadline(engine: DeadlineEngine) -> None:
    case = Case(engine)
    reviewed(case)
    assert of(engine.advance(local(2026, 11, 24, 23)), "6.68", DeadlineBreached) == []
    [breached] = of(engine.advance(local(2026, 11, 25, 1)), "6.68", DeadlineBreached)
    assert breached.paragraph == "6.68"


def test_6_68_is_no_longer_listed_as_unenforceable() -> None:
    assert "6.68-review-reports-2wd" in RULES_BY_ID
    assert not [u for u in NOT_ENFORCEABLE if u.paragraph == "6.68"]
