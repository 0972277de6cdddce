"""Years whose day-off transfers nobody configured (issue 15): the calendar says which they are,
pure — the SLA processor and `sla explain` do the warning."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from referral_bus.domain.deadlines.calendar import UNCONFIGURED_WARNING, WorkingCalendar
from referral_bus.domain.deadlines.rules import ClockContext, WorkingDays, WorkingDaysBefore

ALMATY = ZoneInfo("Asia/Almaty")


def local(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=ALMATY)


def test_the_library_knows_the_transfers_up_to_2025_and_not_after() -> None:
    calendar = WorkingCalendar()
    assert all(calendar.transfers_known(year) for year in range(2018, 2026))
    assert not calendar.transfers_known(2026) and not calendar.transfers_known(2027)
    assert calendar.years_without_transfers(date(2025, 12, 1), date(2027, 1, 5)) == (2026, 2027)
    assert calendar.years_without_transfers(date(2027, 1, 5), date(2025, 12, 1)) == (2026, 2027)  # either order
    assert calendar.years_without_transfers(date(2024, 1, 1), date(2025, 12, 31)) == ()


def test_the_operators_configure_a_year_in_calendar_yaml() -> None:
    calendar = WorkingCalendar.from_mapping({
        "days_off": [{"date": "2026-01-02", "reason": "decree (test)"}],
        "transfers_configured": [{"year": 2026, "reason": "decree (test): its transfers are entered above"}]})
    assert calendar.transfers_known(2026) and calendar.transfer_years == {
        2026: "decree (test): its transfers are entered above"}
    assert calendar.years_without_transfers(date(2026, 1, 1), date(2027, 2, 1)) == (2027,)


@pytest.mark.parametrize("entry", [{"year": "2026", "reason": "x"}, {"year": 2026}, "2026"])
def test_a_configured_year_needs_a_year_and_a_reason(entry: object) -> None:
    with pytest.raises(ValueError, match=r"calendar.yaml transfers_configured\[0\]: needs a year"):
        WorkingCalendar.from_mapping({"transfers_configured": [entry]})


def test_the_calendar_counts_the_periods_it_computed_through_an_unknown_year() -> None:
    calendar = WorkingCalendar()
    calendar.add_working_days(local(2025, 3, 3, 9), 2)                  # 2025: known
    assert not calendar.lacking
    calendar.add_working_days(local(2025, 12, 31, 9), 2)                # runs into 2026
    calendar.working_days_before(local(2027, 1, 4, 9), 2)               # counted back from 2027 into 2026
    calendar.add_working_days(local(2026, 6, 1, 9), 1)
    assert calendar.lacking == {2026: 3, 2027: 1}


def test_the_reasoning_warns_when_the_period_runs_through_an_unknown_year() -> None:
    calendar = WorkingCalendar()
    due = WorkingDays(2).due(local(2026, 3, 20, 12), ClockContext(calendar))
    warning = next(line for line in due.reasoning if line.startswith(f"{UNCONFIGURED_WARNING}:"))
    assert "day-off transfers of 2026 are not configured" in warning and "may be off" in warning
    assert due.reasoning[-1].startswith("ends at the end of working day 2")   # the warning comes before the end
    before = WorkingDaysBefore(2).due(local(2026, 1, 5, 10), ClockContext(calendar))
    assert any("transfers of 2026" in line for line in before.reasoning)
    known = WorkingDays(2).due(local(2025, 3, 3, 9), ClockContext(calendar))
    assert not any(line.startswith(f"{UNCONFIGURED_WARNING}:") for line in known.reasoning)
    configured = WorkingCalendar(transfer_years={2026: "decree (test)"})
    assert not any(line.startswith(f"{UNCONFIGURED_WARNING}:")
                   for line in WorkingDays(2).due(local(2026, 3, 20, 12), ClockContext(configured)).reasoning)
