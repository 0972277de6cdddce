"""Kazakhstan's working-day calendar, in Asia/Almaty time.

Holidays and the government's day-off transfers come from the ``holidays`` library (country KZ:
public holidays, "observed" days, substituted days off and the weekend days made working days);
``calendar.yaml`` adds operator overrides, each with a reason. Pure: no I/O here; the file is read
by ``infra.runtime``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays


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

    def __post_init__(self) -> None:
        self._public = holidays.country_holidays("KZ")

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

        return cls(timezone=ZoneInfo(str(data.get("timezone", "Asia/Almaty"))),
                   end_of_day=time.fromisoformat(str(data.get("end_of_day", "23:59:59"))),
                   extra_days_off=entries("days_off"), extra_working_days=entries("working_days"))

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
        return datetime.combine(day, self.end_of_day, tzinfo=self.timezone), skipped
