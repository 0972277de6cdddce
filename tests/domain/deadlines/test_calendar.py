"""Working days on Kazakhstan's calendar, Asia/Almaty (issue 4 edge cases)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from referral_bus.domain.deadlines.calendar import WorkingCalendar
from referral_bus.domain.deadlines.rules import ClockContext, WorkingDays

ALMATY = ZoneInfo("Asia/Almaty")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=ALMATY)


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=ALMATY)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.mark.parametrize("start, days, due", [
    (local(2026, 3, 20, 12), 2, date(2026, 3, 27)),        # Nauryz 21–25 March 2026 skipped
    (local(2025, 12, 31, 17), 1, date(2026, 1, 5)),        # New Year 1–2 January, then the weekend
    (local(2025, 1, 2, 10), 1, date(2025, 1, 5)),          # 3 Jan off (transfer), Sunday 5 Jan made a working day
    (local(2026, 11, 20, 23, 30), 2, date(2026, 11, 24)),  # Friday evening: Monday and Tuesday
    (local(2026, 11, 23, 9), 2, date(2026, 11, 25)),       # an ordinary week
])
def test_working_day_periods(calendar: WorkingCalendar, start: datetime, days: int, due: date) -> None:
    assert calendar.add_working_days(start, days)[0] == end_of(due)


def test_the_local_day_counts_not_the_utc_day(calendar: WorkingCalendar) -> None:
    """19:30 UTC on Thursday is 00:30 on Friday in Almaty: Friday is the day not counted."""
    thursday_utc = datetime(2026, 11, 19, 19, 30, tzinfo=UTC)
    assert calendar.add_working_days(thursday_utc, 1)[0] == end_of(date(2026, 11, 23))


def test_skipped_days_carry_their_reasons(calendar: WorkingCalendar) -> None:
    due = WorkingDays(2).due(local(2026, 3, 20, 12), ClockContext(calendar))
    text = "\n".join(due.reasoning)
    assert "skipped 2026-03-21 (Saturday): public holiday: Nowruz Holiday" in text
    assert "skipped 2026-03-25 (Wednesday): public holiday: Nowruz Holiday (observed)" in text
    assert due.reasoning[0] == "starts (that day is not counted) 2026-03-20T12:00:00+05:00 (Friday)"


def test_operator_overrides_from_the_calendar_file() -> None:
    calendar = WorkingCalendar.from_mapping({
        "days_off": [{"date": "2026-11-24", "reason": "decree 1 (test)"}],
        "working_days": [{"date": date(2026, 11, 21), "reason": "decree 2 (test)"}]})
    due, skipped = calendar.add_working_days(local(2026, 11, 20, 9), 2)
    assert due == end_of(date(2026, 11, 23))  # Saturday 21 works, Sunday 22 does not
    assert [s.day for s in skipped] == [date(2026, 11, 22)]
    assert calendar.why_not_working(date(2026, 11, 24)) == "day off: decree 1 (test) (calendar.yaml)"
    with pytest.raises(ValueError, match=r"days_off\[0\]: needs a date and a reason"):
        WorkingCalendar.from_mapping({"days_off": [{"date": "2026-01-01"}]})


def test_repository_calendar_file_loads() -> None:
    from referral_bus.infra.runtime import load_runtime
    assert load_runtime().calendar.timezone == ALMATY


def test_eight_weeks_are_calendar_days_ending_at_local_midnight() -> None:
    from referral_bus.domain.deadlines.rules import CalendarDays
    due = CalendarDays(56, "8 weeks").due(local(2026, 11, 30, 16), ClockContext(WorkingCalendar()))
    assert due.at == end_of(date(2027, 1, 25))  # across New Year: holidays count in calendar days
    assert "8 weeks of calendar days" in due.reasoning[0]


def test_counting_back_skips_nauryz(calendar: WorkingCalendar) -> None:
    """A meeting on Thursday 26 March 2026: 2 working days before skips Nauryz (21-25) and the weekend."""
    due, skipped = calendar.working_days_before(local(2026, 3, 26, 10), 2)
    assert due == end_of(date(2026, 3, 19))
    assert [s.day.day for s in skipped] == [25, 24, 23, 22, 21]


# -- calendar months, and periods counted back from a scheduled event or a date (issue 4) -------------

@pytest.mark.parametrize("start, months, due, clamped", [
    (local(2026, 1, 31, 10), 1, date(2026, 2, 28), True),     # no 31 February: the month's last day
    (local(2028, 1, 31, 10), 1, date(2028, 2, 29), True),     # leap year
    (local(2026, 3, 31, 10), 3, date(2026, 6, 30), True),
    (local(2025, 12, 15, 10), 1, date(2026, 1, 15), False),   # across New Year: holidays count
    (local(2026, 2, 21, 10), 1, date(2026, 3, 21), False),    # ends on Nauryz: calendar months do not skip it
    (local(2026, 1, 15, 10), 12, date(2027, 1, 15), False),
])
def test_calendar_months_keep_the_day_and_clamp_to_the_month_end(start: datetime, months: int, due: date,
                                                                  clamped: bool) -> None:
    from referral_bus.domain.deadlines.rules import CalendarMonths
    result = CalendarMonths(months).due(start, ClockContext(WorkingCalendar()))
    assert result.at == end_of(due)
    assert ("has no day" in result.reasoning[0]) is clamped
    assert "weekends and holidays count" in result.reasoning[-1]


def test_calendar_months_count_from_the_local_day() -> None:
    """19:30 UTC on 31 January is 00:30 on 1 February in Almaty: one month later is 1 March."""
    from referral_bus.domain.deadlines.rules import CalendarMonths
    utc_evening = datetime(2026, 1, 31, 19, 30, tzinfo=UTC)
    assert CalendarMonths(1).due(utc_evening, ClockContext(WorkingCalendar())).at == end_of(date(2026, 3, 1))
    assert CalendarMonths(1).due(datetime(2026, 1, 31, 18, 59, tzinfo=UTC),
                                 ClockContext(WorkingCalendar())).at == end_of(date(2026, 2, 28))


def test_calendar_days_before_a_meeting_count_holidays() -> None:
    """6.66: 7 days before a review on Thursday 26 March 2026 is Thursday 19 March (Nauryz counts)."""
    from referral_bus.domain.deadlines.rules import CalendarDaysBefore
    due = CalendarDaysBefore(7).due(local(2026, 3, 26, 10), ClockContext(WorkingCalendar()))
    assert due.at == end_of(date(2026, 3, 19))
    assert "7 calendar days before" in due.reasoning[1]


def test_months_before_a_date_clamp_to_the_month_end() -> None:
    """6.75(a): 3 months before a care plan ending on 31 May is 28 February."""
    from referral_bus.domain.deadlines.rules import MonthsBefore
    due = MonthsBefore(3).due(datetime(2026, 5, 31, tzinfo=ALMATY), ClockContext(WorkingCalendar()))
    assert due.at == end_of(date(2026, 2, 28))
    assert "February 2026 has no day 31" in due.reasoning[1]


def test_working_days_before_a_care_plan_review_skip_new_year() -> None:
    """6.67: 3 working days before a review on Tuesday 5 January 2027 — 4 January (New Year observed),
    the weekend and 1–2 January are skipped: 31 December, 30, 29."""
    due, skipped = WorkingCalendar().working_days_before(local(2027, 1, 5, 10), 3)
    assert due == end_of(date(2026, 12, 29))
    assert [s.day for s in skipped] == [date(2027, 1, 4), date(2027, 1, 3), date(2027, 1, 2), date(2027, 1, 1)]
