"""The shape of a deadline rule: trigger, clock, completing events, who is responsible, the ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from ..agencies import AgencyKind
from .calendar import DayNote, WorkingCalendar


class Anchor(str, Enum):
    """Which time of the trigger event starts the clock."""

    OCCURRED_AT = "occurred_at"   # e.g. 4.8: "within 3 hours of the removal"
    RECORDED_AT = "recorded_at"   # e.g. 6.3: "of receiving the referral" — when the bus delivered it
    MEETING = "meeting"           # e.g. 6.34: counted back from the meeting the trigger names; moves with it
    NGO_REFERRAL = "ngo_referral"  # e.g. 7.1: "of the NGO's receipt of the referral request", once accepted


@dataclass(frozen=True)
class Condition:
    """A test on a field of the trigger event; ``op`` is one of equals, at_least, below."""

    field: str
    op: str
    value: Any

    def holds(self, event: Any) -> bool:
        actual = getattr(event, self.field)
        actual = getattr(actual, "value", actual)
        if self.op == "equals":
            return bool(actual == self.value)
        if self.op == "at_least":
            return bool(actual >= self.value)
        if self.op == "below":
            return bool(actual < self.value)
        raise ValueError(f"unknown condition op {self.op!r}")


@dataclass(frozen=True)
class Due:
    """A due time and how it was reached (for `sla explain`)."""

    at: datetime
    reasoning: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyThreshold:
    """An operator's number of hours for an obligation the protocol words "immediately"."""

    hours: float
    reason: str


@dataclass
class ClockContext:
    """What clocks need besides the start time: the working-day calendar and the operator's policy."""

    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    policy: dict[str, PolicyThreshold] = field(default_factory=dict)

    @classmethod
    def from_policy_mapping(cls, calendar: WorkingCalendar, data: Any) -> "ClockContext":
        """From the parsed policy.yaml; errors name the paragraph and the field."""
        policy = {}
        for paragraph, entry in ((data or {}).get("immediately") or {}).items():
            if not isinstance(entry, dict) or not isinstance(entry.get("hours"), (int, float)) or entry["hours"] <= 0:
                raise ValueError(f"policy.yaml immediately.{paragraph}.hours: a positive number of hours is required")
            if not entry.get("reason"):
                raise ValueError(f"policy.yaml immediately.{paragraph}.reason: say which obligation this is")
            policy[str(paragraph)] = PolicyThreshold(float(entry["hours"]), str(entry["reason"]))
        return cls(calendar, policy)


class Clock(Protocol):
    def due(self, start: datetime, context: ClockContext) -> Due: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class ElapsedHours:
    """Elapsed hours of wall time, nights and holidays included (4.8: "within 3 hours")."""

    hours: int

    def due(self, start: datetime, context: ClockContext) -> Due:
        return Due(start + timedelta(hours=self.hours))

    def describe(self) -> str:
        return f"{self.hours} hours"


def _working_day_notes(start: datetime, at: datetime, skipped: list[DayNote], calendar: WorkingCalendar,
                       opening: str, closing: str) -> tuple[str, ...]:
    """The calendar reasoning behind a working-day due time, for `sla explain`."""
    local = start.astimezone(calendar.timezone)
    notes = [f"{opening} {local.isoformat()} ({local:%A})"]
    notes += [f"skipped {s.day.isoformat()} ({s.day:%A}): {s.why}" for s in skipped]
    notes.append(f"{closing}: {at.isoformat()} ({at:%A})")
    return tuple(notes)


@dataclass(frozen=True)
class CalendarDays:
    """Calendar days (weekends and holidays count), e.g. 6.28's "within eight weeks" = 56 days.
    Ends at the end of the last day, Asia/Almaty, like every day-counted period."""

    days: int
    label: str = ""

    def due(self, start: datetime, context: ClockContext) -> Due:
        calendar = context.calendar
        last_day = calendar.local_day(start) + timedelta(days=self.days)
        at = datetime.combine(last_day, calendar.end_of_day, tzinfo=calendar.timezone)
        return Due(at, (f"starts {start.astimezone(calendar.timezone).isoformat()}; {self.describe()} "
                        f"of calendar days (weekends and holidays count) end {at.isoformat()} ({at:%A})",))

    def describe(self) -> str:
        return self.label or f"{self.days} calendar days"


@dataclass(frozen=True)
class WorkingDays:
    """Working (business) days on Kazakhstan's calendar: the day of the trigger is not counted and
    the period ends at the end of its last working day, Asia/Almaty (5.18: "within 2 working days")."""

    days: int

    def due(self, start: datetime, context: ClockContext) -> Due:
        at, skipped = context.calendar.add_working_days(start, self.days)
        return Due(at, _working_day_notes(start, at, skipped, context.calendar,
                                          "starts (that day is not counted)",
                                          f"ends at the end of working day {self.days}"))

    def describe(self) -> str:
        return f"{self.days} working day{'s' if self.days != 1 else ''}"


@dataclass(frozen=True)
class WorkingDaysBefore:
    """Working days counted back from a scheduled event (6.34: a report "at least 2 working days
    before the meeting"): due at the end of the N-th working day before the event's local day."""

    days: int

    def due(self, start: datetime, context: ClockContext) -> Due:
        at, skipped = context.calendar.working_days_before(start, self.days)
        return Due(at, _working_day_notes(start, at, skipped, context.calendar,
                                          "counted back from", f"due by the end of working day -{self.days}"))

    def describe(self) -> str:
        return f"{self.days} working days before"


@dataclass(frozen=True)
class Immediately:
    """An obligation worded "immediately": the operator's threshold from policy.yaml, labelled as
    policy. Without a configured value the rule opens no deadline at all rather than invent one."""

    paragraph: str

    def due(self, start: datetime, context: ClockContext) -> Due:
        threshold = context.policy.get(self.paragraph)
        if threshold is None:
            raise LookupError(f"no policy threshold for {self.paragraph} in policy.yaml")
        return Due(start + timedelta(hours=threshold.hours),
                   (f"Annex B {self.paragraph} says 'immediately'; policy threshold {threshold.hours:g} hours "
                    f"(policy.yaml: {threshold.reason}) — policy, not law",))

    def describe(self) -> str:
        return f"'immediately' (policy threshold for {self.paragraph})"


@dataclass(frozen=True)
class EscalationStep:
    """One rung of the ladder, raised ``after_hours`` after the due time unless the deadline was
    met or an earlier escalation acknowledged by then. ``to`` is 'supervisor' (of the responsible
    agency, from agencies.yaml), an agency kind (its office in the case's city), or 'agency:<id>'."""

    level: int
    to: str
    after_hours: float = 0


@dataclass(frozen=True)
class DeadlineRule:
    rule_id: str
    paragraph: str
    title: str
    trigger: str
    clock: Clock
    completed_by: frozenset[str]
    #: The kind of agency responsible in the case's city; None: the agency that triggered it
    #: (6.34: the professional who cannot attend owes the report).
    responsible: AgencyKind | None
    anchor: Anchor = Anchor.OCCURRED_AT
    when: tuple[Condition, ...] = ()
    #: Rules in one group share a single deadline per case: a later trigger re-times it to the
    #: later due time (6.3(a): "or, if later, the removal"). Empty = one deadline per trigger.
    group: str = ""
    #: Level 1 goes to the responsible agency's supervisor at the due time; level 2 to the city's
    #: Commission on Issues of Minors a day later; level 3 to the Steering Committee after two days.
    ladder: tuple[EscalationStep, ...] = field(default=(
        EscalationStep(1, "supervisor"), EscalationStep(2, "commission", 24), EscalationStep(3, "agency:steering-committee", 48)))
    #: A warning to the responsible agency this long before the due time (None: no warning).
    warn_before: timedelta | None = None
    #: Fields that must be equal on the trigger and the completing event ("producer" = the
    #: publishing agency): 6.34's report closes only that professional's deadline for that meeting.
    match_on: tuple[str, ...] = ()

    def match_key(self, event: Any) -> tuple[str, ...]:
        return tuple(event.envelope.producer.agency_id if name == "producer" else str(getattr(event, name, ""))
                     for name in self.match_on)

    def triggered_by(self, event: Any) -> bool:
        return event.event_type() == self.trigger and all(c.holds(event) for c in self.when)
