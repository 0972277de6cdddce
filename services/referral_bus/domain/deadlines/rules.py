"""The shape of a deadline rule: trigger, clock, completing events, who is responsible, the ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, Protocol

from dateutil.relativedelta import relativedelta

from referral_bus.domain.agencies import AgencyKind
from referral_bus.domain.deadlines.calendar import DayNote, WorkingCalendar


class Anchor(str, Enum):
    """Which time of the trigger event starts the clock."""

    OCCURRED_AT = "occurred_at"   # e.g. 4.8: "within 3 hours of the removal"
    RECORDED_AT = "recorded_at"   # e.g. 6.3: "of receiving the referral" — when the bus delivered it
    MEETING = "meeting"           # e.g. 6.34: counted back from the meeting the trigger names; moves with it
    NGO_REFERRAL = "ngo_referral"  # e.g. 7.1: "of the NGO's receipt of the referral request", once accepted
    #: A date the trigger names (``DeadlineRule.anchor_field``), from the start of that day in Asia/Almaty:
    #: 6.62 "28 days after the commencement date of the care plan", 6.75(a) "3 months before the end of the
    #: care plan". A trigger whose date is empty opens nothing.
    DATE_FIELD = "date_field"
    #: A moment the trigger names (``DeadlineRule.anchor_field``, an aware datetime): 5.2 "within 1 working
    #: day of identifying" the need (``ReferralMade.need_identified_at``), 7.10 "as soon as possible" after
    #: consent was withdrawn. A trigger whose moment is empty opens nothing.
    TIME_FIELD = "time_field"


def _plain(value: Any) -> Any:
    """An enum's value, and lists of enums as a frozenset of values, so rules compare plain data."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return frozenset(getattr(v, "value", v) for v in value)
    return getattr(value, "value", value)


@dataclass(frozen=True)
class Condition:
    """A test on a field of an event (or of the remembered NGO referral, 7.11). Ops: equals, at_least,
    below, in (the field's value is one of ``value``), present (not None), absent (None), and for list fields contains
    (``value`` is among them), only (they are exactly ``{value}``) and not_only."""

    field: str
    op: str
    value: Any = None

    def holds(self, event: Any) -> bool:
        actual = _plain(getattr(event, self.field))
        if self.op == "equals":
            return bool(actual == self.value)
        if self.op == "at_least":
            return bool(actual >= self.value)
        if self.op == "below":
            return bool(actual < self.value)
        if self.op == "in":
            return actual in self.value
        if self.op == "present":
            return actual is not None
        if self.op == "absent":
            return actual is None
        if self.op == "contains":
            return self.value in actual
        if self.op == "only":
            return bool(actual == frozenset({self.value}))
        if self.op == "not_only":
            return bool(actual != frozenset({self.value}))
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
    def from_policy_mapping(cls, calendar: WorkingCalendar, data: Any) -> ClockContext:
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
    """The calendar reasoning behind a working-day due time, for `sla explain` — with a warning
    before the last line when the period runs through a year whose day-off transfers are unknown."""
    local = start.astimezone(calendar.timezone)
    notes = [f"{opening} {local.isoformat()} ({local:%A})"]
    notes += [f"skipped {s.day.isoformat()} ({s.day:%A}): {s.why}" for s in skipped]
    unknown = calendar.years_without_transfers(local.date(), calendar.local_day(at))
    if unknown:
        notes.append(calendar.unconfigured_note(unknown))
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
        at = _end_of(last_day, calendar)
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


def _end_of(day: date, calendar: WorkingCalendar) -> datetime:
    return datetime.combine(day, calendar.end_of_day, tzinfo=calendar.timezone)


def _shift_months(day: date, months: int) -> tuple[date, str]:
    """The same day ``months`` later (or earlier), clamped to the month's last day (Civil Code of the
    Republic of Kazakhstan, art. 172: a period in months ends on the corresponding day of its last
    month, or on that month's last day if it has no such day), with a note when it was clamped."""
    shifted = day + relativedelta(months=months)
    note = ""
    if shifted.day != day.day:
        note = f"; {shifted:%B %Y} has no day {day.day}, so the last day of the month"
    return shifted, note


def _months_text(months: int) -> str:
    return f"{months} calendar month{'s' if months != 1 else ''}"


@dataclass(frozen=True)
class CalendarMonths:
    """Calendar months: the same local day ``months`` later, clamped to the month's end, ending at the
    end of that day, Asia/Almaty (6.19(b) "at least every calendar month", 6.56/6.62 "every three
    months", 6.78(b) "one-year review")."""

    months: int
    label: str = ""

    def due(self, start: datetime, context: ClockContext) -> Due:
        calendar = context.calendar
        first = calendar.local_day(start)
        last, clamped = _shift_months(first, self.months)
        at = _end_of(last, calendar)
        return Due(at, (f"starts {start.astimezone(calendar.timezone).isoformat()} ({first:%A}); "
                        f"{self.describe()} later is {last.isoformat()}{clamped}",
                        f"ends at the end of that day: {at.isoformat()} ({at:%A}); weekends and holidays count"))

    def describe(self) -> str:
        return self.label or _months_text(self.months)


@dataclass(frozen=True)
class ByTheEvent:
    """Due at the scheduled event itself (6.33: the invited professionals are given the information
    for the child protection meeting — it is for the meeting, so it is owed by the time it starts)."""

    def due(self, start: datetime, context: ClockContext) -> Due:
        local = start.astimezone(context.calendar.timezone)
        return Due(start, (f"due by the scheduled event itself: {local.isoformat()} ({local:%A})",))

    def describe(self) -> str:
        return "by the meeting"


@dataclass(frozen=True)
class CalendarDaysBefore:
    """Calendar days counted back from a scheduled event (6.66: a report "at least 7 days before the
    review meeting"): due at the end of the local day ``days`` days before the event's local day."""

    days: int

    def due(self, start: datetime, context: ClockContext) -> Due:
        calendar = context.calendar
        event_day = calendar.local_day(start)
        at = _end_of(event_day - timedelta(days=self.days), calendar)
        return Due(at, (f"counted back from {start.astimezone(calendar.timezone).isoformat()} ({event_day:%A})",
                        f"{self.days} calendar days before (weekends and holidays count): due by the end of "
                        f"{at.date().isoformat()}: {at.isoformat()} ({at:%A})"))

    def describe(self) -> str:
        return f"{self.days} calendar days before"


@dataclass(frozen=True)
class MonthsBefore:
    """Calendar months counted back from a date (6.75(a): "no later than 3 months before the end of
    the care plan"): the same local day ``months`` earlier, clamped to the month's end, end of day."""

    months: int

    def due(self, start: datetime, context: ClockContext) -> Due:
        calendar = context.calendar
        end = calendar.local_day(start)
        last, clamped = _shift_months(end, -self.months)
        at = _end_of(last, calendar)
        return Due(at, (f"counted back from {end.isoformat()} ({end:%A})",
                        f"{_months_text(self.months)} before is {last.isoformat()}{clamped}; due by the end of "
                        f"that day: {at.isoformat()} ({at:%A})"))

    def describe(self) -> str:
        return f"{_months_text(self.months)} before"


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
class Stop:
    """An event after which a deadline is no longer owed (the series ends, the placement ended, the
    NGO closed its file): open occurrences are withdrawn, not counted as met. ``match``: the event
    must carry the rule's ``match_on`` fields with the deadline's values (ChildLeftCare ends the
    reviews of that care plan only)."""

    event_type: str
    when: tuple[Condition, ...] = ()
    match: bool = False
    reason: str = ""

    def applies(self, rule: DeadlineRule, event: Any, key: tuple[str, ...]) -> bool:
        return (event.event_type() == self.event_type and all(c.holds(event) for c in self.when)
                and (not self.match or rule.match_key(event) == key))


@dataclass(frozen=True)
class Recurrence:
    """A duty that recurs (6.45 "at least once every 30 days", 6.62 "at least every three months",
    7.9 "at least every month"): completing occurrence n opens occurrence n+1, its clock ``every``
    counted from the completing event's ``recorded_at`` — the interval runs between the actual
    reviews, so a late review does not shorten the next interval and an early one does not lengthen
    it. ``next_due_from``: (event type, date field) of events that set the next due date themselves
    (6.49, 6.77 "set a date for the next review"); such a date brings the open occurrence forward,
    never later than the interval allows. The series runs until a ``Stop`` or the case's closure."""

    every: Clock
    next_due_from: tuple[tuple[str, str], ...] = ()


#: When the rules of the table came into force unless a rule says otherwise: the Manual (Annex B) is of
#: 2021 and seed 002's SOP of 2020, and neither the seeds nor the docs give a day of adoption, so the
#: first day of the earliest of those years (docs/decisions.md, "Rules in force from a date"). No
#: deadline opens for an event that occurred before it: no rule of the table was in force.
IN_FORCE_FROM = date(2020, 1, 1)


@dataclass(frozen=True)
class DeadlineRule:
    """One version of a deadline rule. A rule id may have several versions (``version`` 1, 2, …), each
    in force over its own days (``in_force_from`` to ``in_force_until``, both inclusive, Asia/Almaty
    dates; versions of one id never overlap — a test over ``RULES`` checks it). A trigger opens a
    deadline under the version in force on the day it *occurred* (``DeadlineEngine``), and the
    deadline keeps that version to the end: a change in the law never re-judges past deadlines.
    Deadline ids are derived from the rule id, never the version, so they stay stable across versions."""

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
    #: The trigger's date field for ``Anchor.DATE_FIELD`` (6.62: ``commences_on``; 6.75(a): ``ends_on``), or its
    #: datetime field for ``Anchor.TIME_FIELD`` (5.2: ``need_identified_at``).
    anchor_field: str = ""
    when: tuple[Condition, ...] = ()
    #: Conditions on the completing event (6.19(b): only a review of the *temporary residential unit*
    #: placement counts); every type in ``completed_by`` has these fields (a test checks it).
    completed_when: tuple[Condition, ...] = ()
    #: Rules in one group share a single deadline per case: a later trigger re-times it to the
    #: later due time (6.3(a): "or, if later, the removal"). Empty = one deadline per trigger.
    group: str = ""
    #: Level 1 goes to the responsible agency's supervisor at the due time; level 2 to the city's
    #: Commission on Issues of Minors a day later; level 3 to the Steering Committee after two days.
    ladder: tuple[EscalationStep, ...] = field(default=(
        EscalationStep(1, "supervisor"), EscalationStep(2, "commission", 24),
        EscalationStep(3, "agency:steering-committee", 48)))
    #: A warning to the responsible agency this long before the due time (None: no warning).
    warn_before: timedelta | None = None
    #: Fields that must be equal on the trigger and the completing event ("producer" = the
    #: publishing agency): 6.34's report closes only that professional's deadline for that meeting.
    match_on: tuple[str, ...] = ()
    #: Only a trigger published by one of these kinds of agency opens the deadline (empty: any):
    #: a birthday recorded by the Guardianship means the case was the Guardianship's (4.5(a)).
    trigger_producers: frozenset[AgencyKind] = frozenset()
    recurrence: Recurrence | None = None
    stopped_by: tuple[Stop, ...] = ()
    #: A list field of agency ids on the trigger: one deadline (series) per agency, that agency
    #: responsible, and "producer" in ``match_on`` means it (7.9: every service provider reports).
    fan_out: str = ""
    #: Conditions on the NGO referral request the trigger answers (``Anchor.NGO_REFERRAL`` only):
    #: 7.11 applies when the request asked for legal services only.
    referral_when: tuple[Condition, ...] = ()
    #: "" — every trigger opens a deadline; "open" — while one with the same match key is open (or
    #: its series runs) in the case, a further trigger opens nothing (6.19(b): re-deciding the
    #: placement does not restart its 3-month limit); "ever" — at most one per match key (6.66: a
    #: meeting published again moves the report deadline; it does not owe a second report).
    single: str = ""
    #: The version of the rule (see the class): 1 unless the law changed it.
    version: int = 1
    #: The first and last day (inclusive, Asia/Almaty) this version is in force; ``None``: until further notice.
    in_force_from: date = IN_FORCE_FROM
    in_force_until: date | None = None

    def __post_init__(self) -> None:
        if self.in_force_until is not None and self.in_force_until < self.in_force_from:
            raise ValueError(f"rule {self.rule_id} version {self.version}: in_force_until "
                             f"{self.in_force_until} is before in_force_from {self.in_force_from}")

    def in_force_on(self, day: date) -> bool:
        """Whether this version is in force on ``day`` (a local date in Asia/Almaty)."""
        return self.in_force_from <= day and (self.in_force_until is None or day <= self.in_force_until)

    def validity(self) -> str:
        """This version and its validity, as `sla explain` shows them."""
        until = f" until {self.in_force_until.isoformat()}" if self.in_force_until else " until further notice"
        return f"version {self.version}, in force from {self.in_force_from.isoformat()}{until}"

    def match_key(self, event: Any, agency: str | None = None) -> tuple[str, ...]:
        return tuple((agency or event.envelope.producer.agency_id) if name == "producer"
                     else str(_plain(getattr(event, name, ""))) for name in self.match_on)

    def triggered_by(self, event: Any) -> bool:
        return event.event_type() == self.trigger and all(c.holds(event) for c in self.when)

    def completed_by_event(self, event: Any, key: tuple[str, ...]) -> bool:
        return (event.event_type() in self.completed_by and all(c.holds(event) for c in self.completed_when)
                and self.match_key(event) == key)

    def stop_for(self, event: Any, key: tuple[str, ...]) -> Stop | None:
        return next((s for s in self.stopped_by if s.applies(self, event, key)), None)

    def start_of_date(self, event: Any, context: ClockContext) -> datetime | None:
        """``Anchor.DATE_FIELD``: the start of the named day in the calendar's zone; None if empty."""
        day = getattr(event, self.anchor_field)
        if day is None:
            return None
        return datetime.combine(day, time(0), tzinfo=context.calendar.timezone)
