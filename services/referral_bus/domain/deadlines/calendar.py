"""Kazakhstan's working-day calendar, in Asia/Almaty time.

Holidays and the government's day-off transfers come from the ``holidays`` library (country KZ:
public holidays, "observed" days, substituted days off and the weekend days made working days);
``calendar.yaml`` adds operator overrides, each with a reason. Pure: no I/O here; the file is read
by ``infra.runtime``.

The library knows the transfers only of the years whose decrees it holds (up to 2025 in holidays
0.109); for a later year the operators enter the decree's transfers in ``calendar.yaml`` and list
the year under ``transfers_configured``. A working-day period that runs through a year known to
neither may end a day early or late (issue 15): the calendar says which years those are
(``years_without_transfers``) and counts the periods it computed through them (``lacking``), and
the SLA processor and ``sla explain`` warn (``sla/app.py``, ``auditor/sla_explain.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays

#: How the note on a period counted through a year without known transfers begins.
UNCONFIGURED_WARNING = "warning"


@dataclass(frozen=True)
class DayNote:
    day: date
    why: str


@dataclass
class WorkingCalendar:
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Almaty"))
    end_of_day: time = time(23, 59, 59)
    extra_days_off: dict[date, str] = field(default_factory=dict)
    extra_working_days: dict[date, str] = field(default_factory=dict)
    #: Years whose day-off transfers the operators entered in calendar.yaml, with the decree (reason).
    transfer_years: dict[int, str] = field(default_factory=dict)
    #: Year → how many working-day periods this calendar computed through it while its transfers were
    #: unknown (``years_without_transfers``): what the SLA processor reports; grows, never shrinks.
    lacking: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._public = holidays.country_holidays("KZ")
        #: the years whose transfer decrees the library holds (its "special" public holidays)
        self._library_years = frozenset(getattr(self._public, "special_public_holidays", {}))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> WorkingCalendar:
        """Build from the parsed calendar.yaml; errors name the entry and field."""
        def entries(key: str) -> dict[date, str]:
            out: dict[date, str] = {}
            for i, entry in enumerate(data.get(key) or []):
                if not isinstance(entry, Mapping) or "date" not in entry or not entry.get("reason"):
                    raise ValueError(f"calendar.yaml {key}[{i}]: needs a date and a reason")
                day = entry["date"] if isinstance(entry["date"], date) else date.fromisoformat(str(entry["date"]))
                out[day] = str(entry["reason"])
            return out

        years: dict[int, str] = {}
        for i, entry in enumerate(data.get("transfers_configured") or []):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("year"), int) or not entry.get("reason"):
                raise ValueError(f"calendar.yaml transfers_configured[{i}]: needs a year (a number) and a reason "
                                 "(the decree whose transfers days_off and working_days hold)")
            years[entry["year"]] = str(entry["reason"])
        return cls(timezone=ZoneInfo(str(data.get("timezone", "Asia/Almaty"))),
                   end_of_day=time.fromisoformat(str(data.get("end_of_day", "23:59:59"))),
                   extra_days_off=entries("days_off"), extra_working_days=entries("working_days"),
                   transfer_years=years)

    def transfers_known(self, year: int) -> bool:
        """Whether the government's day-off transfers of ``year`` are known: the library holds that
        year's decree, or the operators configured the year in calendar.yaml."""
        return year in self.transfer_years or year in self._library_years

    def years_without_transfers(self, first: date, last: date) -> tuple[int, ...]:
        """The years from ``first`` to ``last`` (either order) whose transfers are not known."""
        low, high = sorted((first.year, last.year))
        return tuple(year for year in range(low, high + 1) if not self.transfers_known(year))

    @staticmethod
    def unconfigured_note(years: tuple[int, ...]) -> str:
        """The line ``sla explain`` shows for a period counted through such years."""
        listed = ", ".join(str(y) for y in years)
        return (f"{UNCONFIGURED_WARNING}: the day-off transfers of {listed} are not configured (neither in the "
                f"holidays library nor under transfers_configured in calendar.yaml), so this due time may be off")

    def why_not_working(self, day: date) -> str | None:
        """None for a working day, else the reason it is not one."""
        if day in self.extra_working_days:
            return None
        if day in self.extra_days_off:
            return f"day off: {self.extra_days_off[day]} (calendar.yaml)"
        name = self._public.get(day)
        if name:
            return f"public holiday: {name}"
        if day.weekday() >= 5 and day not in self._public.weekend_workdays:
            return "weekend"
        return None

    def is_working_day(self, day: date) -> bool:
        return self.why_not_working(day) is None

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.timezone).date()

    def working_days_before(self, moment: datetime, days: int) -> tuple[datetime, list[DayNote]]:
        """The end of the ``days``-th working day before the local day of ``moment`` (6.34: "at least
        2 working days before the meeting"), and the days skipped going back."""
        return self._walk(moment, days, step=-1)

    def add_working_days(self, start: datetime, days: int) -> tuple[datetime, list[DayNote]]:
        """The end of the ``days``-th working day after the local day of ``start`` (that day is not
        counted), and every day skipped on the way with the reason."""
        return self._walk(start, days, step=1)

    def _walk(self, moment: datetime, days: int, step: int) -> tuple[datetime, list[DayNote]]:
        day = self.local_day(moment)
        skipped: list[DayNote] = []
        counted = 0
        while counted < days:
            day += timedelta(days=step)
            reason = self.why_not_working(day)
            if reason:
                skipped.append(DayNote(day, reason))
            else:
                counted += 1
        for year in self.years_without_transfers(self.local_day(moment) + timedelta(days=step), day):
            self.lacking[year] += 1
        return datetime.combine(day, self.end_of_day, tzinfo=self.timezone), skipped
