"""Deterministic deadline evaluation over the case log.

The engine is a pure function of (events in case-log order, the clock): it opens deadlines on
trigger events, closes them on completing events, and declares a breach when the clock passes the
due time without a completion recorded by then. Every output has an id derived from rule, case and
occurrence, so replaying the same log with the same clock yields exactly the same records and a
restarted processor can tell what it already emitted.

Time of completion is the completing event's ``recorded_at`` (when the bus had the information);
the trigger time follows the rule's anchor.

Recurring duties (6.45, 6.62, 7.9 ...) are series of occurrences: completing occurrence n opens
occurrence n+1, its id derived from rule, case, series and n. A deadline that is no longer owed
(its series stopped, the case closed) is withdrawn with a record that says by which event and why —
never counted as met. One that was already breached keeps its ladder until acknowledged.
"""

from __future__ import annotations

import copy
import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import UUID, uuid5

from referral_bus.contracts.base import City, Event, Record
from referral_bus.contracts.events import (
    ChildProtectionMeetingScheduled,
    EscalationAcknowledged,
    ReferralKind,
    ReferralMade,
    ReferralWithdrawn,
)
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWarning,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.deadlines.calendar import WorkingCalendar
from referral_bus.domain.deadlines.rules import (
    Anchor,
    ClockContext,
    DeadlineRule,
    Due,
    Immediately,
)

_SLA_NS = UUID("1d7f0a52-3b0e-4f6a-8f55-2c9a6e7b4d10")

#: Events that close the whole case file: every open deadline of the case that is not yet breached
#: is withdrawn (the router takes no further events for a closed case, so none could be met).
CASE_CLOSING_EVENTS = frozenset({"CaseClosed"})


def _id(*parts: object) -> UUID:
    return uuid5(_SLA_NS, "|".join(str(p) for p in parts))


def _earlier(noticed: datetime, start: datetime) -> datetime | None:
    """``noticed`` if the bus learned of the deadline before its clock started, else None (not stored)."""
    return noticed if noticed < start else None


def deadline_id_for(rule_id: str, case_id: str, trigger_event_id: UUID, occurrence: int = 1) -> UUID:
    """The id of a deadline opened by one trigger (no group, no fan-out), as the engine derives it:
    anyone holding the case log can name a deadline or escalation before the SLA processor says it."""
    series = (rule_id, case_id, str(trigger_event_id))
    return _id(*series) if occurrence == 1 else _id(*series, "occurrence", occurrence)


def escalation_id_for(deadline_id: UUID, level: int) -> UUID:
    return _id(deadline_id, "escalation", level)


@dataclass(frozen=True, slots=True)
class NGOReferral:
    """What the engine remembers of an NGO referral request (7.1, 7.11, 7.14 count from its receipt)."""

    received_at: datetime
    services_requested: frozenset[str]


@dataclass(slots=True)
class OpenDeadline:
    deadline_id: UUID
    rule: DeadlineRule
    case_id: str
    trigger_event_id: UUID
    opened_at: datetime
    due_at: datetime
    responsible_agency_id: str | None
    match_key: tuple[str, ...] = ()
    meeting: tuple[str, str] | None = None   # (case id, meeting id) a MEETING-anchored deadline follows
    warned: bool = False
    breached: bool = False
    level: int = 0               # highest escalation level raised
    acknowledged: bool = False   # an EscalationAcknowledged stops further levels
    #: When the bus learned of the deadline, kept only when earlier than ``opened_at`` (a clock counted
    #: back from a meeting, or from a future date): such a deadline warns from then on.
    noticed_at: datetime | None = None
    #: The series the occurrences of a recurring duty share: the first trigger (and the fanned-out
    #: agency); references, not copies, so a one-shot deadline costs no extra memory
    root_event_id: UUID | None = None
    fanned_to: str | None = None
    occurrence: int = 1
    stopped: bool = False         # no longer owed but already breached: the ladder runs out, no next occurrence

    def series_id(self, occurrence: int) -> UUID:
        """Occurrence n's id: the one-shot id for n = 1, then the same parts plus n (replay-stable)."""
        parts: tuple[object, ...] = (self.rule.rule_id, self.case_id, self.root_event_id or self.trigger_event_id)
        if self.fanned_to is not None:
            parts += (self.fanned_to,)
        return _id(*parts) if occurrence == 1 else _id(*parts, "occurrence", occurrence)

    def next_step(self) -> tuple[datetime, str] | None:
        """(time, kind) of the next ladder step still to come: warn, breach, or escalate."""
        rule = self.rule
        if not self.warned and rule.warn_before is not None:
            since = self.opened_at if self.noticed_at is None else min(self.opened_at, self.noticed_at)
            if self.due_at - rule.warn_before > since:
                return self.due_at - rule.warn_before, "warn"
        if not self.breached:
            return self.due_at, "breach"
        if self.level < len(rule.ladder) and not self.acknowledged:
            return self.due_at + timedelta(hours=rule.ladder[self.level].after_hours), "escalate"
        return None


@dataclass(frozen=True, slots=True)
class Draft:
    """What ``DeadlineEngine.advance`` will fire for one deadline at ``at`` plus the grace: its
    records, and the deadline as it will be after them; valid while the deadline's ``state`` holds."""

    at: datetime
    state: tuple[object, ...]
    records: list[Record]
    after: OpenDeadline


class DeadlineEngine:
    def __init__(self, rules: tuple[DeadlineRule, ...], directory: Directory, grace: timedelta = timedelta(0),
                 calendar: WorkingCalendar | None = None, context: ClockContext | None = None,
                 keep_reasoning: bool = False, case_closing: frozenset[str] = CASE_CLOSING_EVENTS) -> None:
        self.rules = rules
        self.directory = directory
        self.context = context or ClockContext(calendar or WorkingCalendar())
        #: A breach is declared only once the clock is this far past the due time (see Settings).
        self.grace = grace
        self.case_closing = case_closing
        self.open: dict[UUID, OpenDeadline] = {}
        #: case id → its open deadlines, so an event touches only its own case's deadlines
        #: (a list: most cases have one or two, and a dict per case cost ~230 bytes against ~70)
        self.open_by_case: dict[str, list[OpenDeadline]] = {}
        #: (time of the next ladder step, deadline id) per deadline; entries of closed, acknowledged
        #: or re-timed deadlines are skipped when they surface (lazy deletion): a tick costs O(k log n)
        #: (the id as an int, the UUID's own: no text per entry, the same order as the id's text)
        self._due_heap: list[tuple[datetime, int, UUID]] = []
        #: due entries of cases another process folds (``advance(owns=…)``), kept for the next
        #: ``advance`` of every case: after a catch-up, when this engine's view of them is current
        self._set_aside: list[tuple[datetime, int, UUID]] = []
        #: deadline id → what ``advance`` will fire for it once the grace has passed, worked out
        #: during the grace (``prepare``); used only while the deadline is as it was then
        self.drafts: dict[UUID, Draft] = {}
        #: the entries of ``_due_heap`` whose time has come, looked at by ``prepare``: ``advance``
        #: takes from both heaps in time order
        self._grace_heap: list[tuple[datetime, int, UUID]] = []
        self.case_city: dict[str, City] = {}
        self.last_sequence: dict[str, int] = {}
        #: rule id → open deadlines, kept as they open and close (read by the metrics)
        self.open_by_rule: Counter[str] = Counter()
        #: (case id, meeting id) → scheduled time; deadlines counted from a meeting move with it
        self.meetings: dict[tuple[str, str], datetime] = {}
        #: (case id, NGO id) → the referral request it received (7.1, 7.2, 7.11, 7.14)
        self.ngo_referrals: dict[tuple[str, str], NGOReferral] = {}
        #: (rule id, case id, match key) → the open deadline of a ``single="open"`` rule
        self._live: dict[tuple[str, str, tuple[str, ...]], UUID] = {}
        #: group deadline id → triggers besides ``trigger_event_id`` that opened or would re-time it (a
        #: second referral, a removal): withdrawing one referral leaves the deadline owed to the others
        self._group_triggers: dict[UUID, list[UUID]] = {}
        #: (rule id, case id, match key) of ``single="ever"`` rules that already opened one
        self._seen: set[tuple[str, str, tuple[str, ...]]] = set()
        #: DeadlineOpened sla_event_id → (the clock, the calendar reasoning of its due time); kept for
        #: ``sla explain`` only, so the processor does not hold text for every deadline it ever opened
        self.keep_reasoning = keep_reasoning
        self.reasoning: dict[UUID, tuple[str, tuple[str, ...]]] = {}
        #: DeadlineOpened sla_event_id → the version of the rule it was opened under (``sla explain``)
        self.opened_rules: dict[UUID, DeadlineRule] = {}
        #: trigger type → its rules, in table order (an event looks only at the rules it can trigger);
        #: every version of a rule is there, and only the one in force when the trigger occurred opens
        self._by_trigger: dict[str, list[DeadlineRule]] = {}
        #: rule id → its versions (the next occurrence of a recurring duty takes the one then in force)
        self._versions: dict[str, list[DeadlineRule]] = {}
        for rule in rules:
            self._by_trigger.setdefault(rule.trigger, []).append(rule)
            self._versions.setdefault(rule.rule_id, []).append(rule)
        #: event types that can complete, stop or re-time anything: other events skip those passes
        self._completing = frozenset(t for r in rules for t in r.completed_by)
        self._stopping = frozenset(s.event_type for r in rules for s in r.stopped_by) | case_closing
        self._retiming = frozenset(t for r in rules if r.recurrence for t, _ in r.recurrence.next_due_from)

    # -- folding events -------------------------------------------------------------------------
    def already_applied(self, event: Event) -> bool:
        return (event.envelope.sequence or 0) <= self.last_sequence.get(event.envelope.case_id, 0)

    def on_event(self, event: Event) -> list[Record]:
        """Apply one case-log event (idempotent by per-case sequence); returns the SLA records it causes."""
        if self.already_applied(event):
            return []
        env = event.envelope
        self.last_sequence[env.case_id] = env.sequence or 0
        city = getattr(event, "city", None)
        if city is not None and env.case_id not in self.case_city:
            self.case_city[env.case_id] = city
        out: list[Record] = []
        kind = event.event_type()
        if kind in self._completing:
            out += self._complete(event)
        if isinstance(event, EscalationAcknowledged):
            out += self._acknowledge(event)
        if isinstance(event, ChildProtectionMeetingScheduled):
            out += self._meeting_moved(event)
        if kind in self._retiming:
            out += self._retime_by_date(event)
        if kind in self._stopping:
            out += self._stop(event)
        if isinstance(event, ReferralWithdrawn):
            out += self._referral_withdrawn(event)
        if isinstance(event, ReferralMade) and event.referral_kind is ReferralKind.NGO_SUPPORT:
            ngo = self.directory.serving(AgencyKind.NGO, event.city)
            if ngo is not None:
                self.ngo_referrals[(env.case_id, ngo.id)] = NGOReferral(
                    env.recorded_at or env.occurred_at, frozenset(s.value for s in event.services_requested))
        opened: set[UUID] = set()
        day = self._day_of(event)
        for rule in self._by_trigger.get(kind, ()):
            if rule.in_force_on(day) and rule.triggered_by(event) and self._from_producer(rule, event):
                records = self._open(rule, event)
                out += records
                if kind in rule.completed_by:
                    opened |= {r.deadline_id for r in records if isinstance(r, DeadlineOpened)}
        if opened:
            # 5.2, 7.10: the duty is the trigger itself (the referral, the report), timed from a moment it
            # names: it is met, or completed late, the moment it opens
            out += self._complete(event, only=opened)
        return out

    def _day_of(self, event: Event) -> date:
        """The day whose law judges what the event triggers: the local day (Asia/Almaty) it *occurred*,
        not when the bus recorded it — a normative act has no retroactive force, so the facts of a day
        are judged by the law of that day (docs/decisions.md, "Rules in force from a date")."""
        return self.context.calendar.local_day(event.envelope.occurred_at)

    def _in_force(self, rule_id: str, event: Event) -> DeadlineRule | None:
        """The version of ``rule_id`` in force on the day ``event`` occurred, if any."""
        day = self._day_of(event)
        return next((r for r in self._versions.get(rule_id, ()) if r.in_force_on(day)), None)

    def _from_producer(self, rule: DeadlineRule, event: Event) -> bool:
        if not rule.trigger_producers:
            return True
        agency = self.directory.get(event.envelope.producer.agency_id)
        return agency is not None and agency.kind in rule.trigger_producers

    def _responsible(self, kind: AgencyKind | None, case_id: str, trigger: Event | None = None) -> str | None:
        if kind is None:
            return trigger.envelope.producer.agency_id if trigger is not None else None
        city = self.case_city.get(case_id)
        agency = self.directory.serving(kind, city) if city else None
        return agency.id if agency else None

    def _start(self, rule: DeadlineRule, event: Event) -> tuple[datetime, tuple[str, str] | None] | None:
        """When the rule's clock starts for this trigger (and the meeting it follows); None: no deadline."""
        env = event.envelope
        if rule.anchor is Anchor.MEETING:
            meeting = (env.case_id, str(getattr(event, "meeting_id", "")))
            if meeting not in self.meetings:
                return None  # the router refuses events naming an unscheduled meeting
            return self.meetings[meeting], meeting
        if rule.anchor is Anchor.NGO_REFERRAL:
            referral = self.ngo_referrals.get((env.case_id, env.producer.agency_id))
            if referral is None or not all(c.holds(referral) for c in rule.referral_when):
                return None
            return referral.received_at, None
        if rule.anchor is Anchor.DATE_FIELD:
            start = rule.start_of_date(event, self.context)
            return (start, None) if start is not None else None  # 6.75(a): a plan without an end date
        if rule.anchor is Anchor.TIME_FIELD:
            moment = getattr(event, rule.anchor_field)
            return (moment, None) if moment is not None else None  # 5.2: the moment was not recorded
        if rule.anchor is Anchor.OCCURRED_AT:
            return env.occurred_at, None
        return env.recorded_at or env.occurred_at, None

    def _open(self, rule: DeadlineRule, event: Event) -> list[Record]:
        env = event.envelope
        started = self._start(rule, event)
        if started is None:
            return []
        start, meeting = started
        try:
            due = rule.clock.due(start, self.context)
        except LookupError:  # an "immediately" rule without a policy threshold: no deadline invented
            return []
        noticed = _earlier(env.recorded_at or env.occurred_at, start)
        if rule.group:
            deadline_id = _id(rule.group, env.case_id)
            existing = self.open.get(deadline_id)
            if existing is not None:
                others = self._group_triggers.setdefault(deadline_id, [])
                if existing.breached or due.at <= existing.due_at:
                    others.append(env.event_id)   # owed for it too, should the trigger's referral be withdrawn
                    return []   # 6.3(a) "if later": only a later due time re-times the deadline
                others.append(existing.trigger_event_id)
                self.open_by_rule[existing.rule.rule_id] -= 1
                self.open_by_rule[rule.rule_id] += 1
                existing.due_at, existing.rule, existing.trigger_event_id = due.at, rule, env.event_id
                existing.opened_at, existing.noticed_at, existing.warned = start, noticed, False
                self._schedule(existing)
                return [self._opened_record(existing, env.event_id, due)]
            d = OpenDeadline(deadline_id, rule, env.case_id, env.event_id, start, due.at,
                             self._responsible(rule.responsible, env.case_id, event), rule.match_key(event),
                             meeting, noticed_at=noticed)
            self._register(d)
            return [self._opened_record(d, env.event_id, due)]
        out: list[Record] = []
        agencies: list[str | None] = [None]
        if rule.fan_out:
            agencies = list(dict.fromkeys(getattr(event, rule.fan_out)))
            out += self._drop_fanned_out(rule, event, set(agencies))  # type: ignore[arg-type]
        for agency in agencies:
            key = rule.match_key(event, agency)
            slot = (rule.rule_id, env.case_id, key)
            if rule.single == "ever":
                if slot in self._seen:
                    continue
                self._seen.add(slot)
            elif rule.single == "open" and slot in self._live:
                continue
            responsible = agency if agency is not None else self._responsible(rule.responsible, env.case_id, event)
            d = OpenDeadline(env.event_id, rule, env.case_id, env.event_id, start, due.at, responsible, key, meeting,
                             noticed_at=noticed, root_event_id=env.event_id, fanned_to=agency)
            d.deadline_id = d.series_id(1)
            self._register(d)
            out.append(self._opened_record(d, env.event_id, due))
        return out

    def _drop_fanned_out(self, rule: DeadlineRule, event: Event, agencies: set[str]) -> list[Record]:
        """A new plan replaces the list of agencies: those no longer on it owe nothing more (7.8–7.9)."""
        out: list[Record] = []
        for d in self._of_case(event.envelope.case_id):
            # any version of the rule: a plan under a newer version replaces the list all the same
            if d.rule.rule_id == rule.rule_id and not d.stopped and d.responsible_agency_id not in agencies:
                out += self._withdraw(d, event, f"no longer among the {rule.fan_out} of {event.event_type()} "
                                                f"{event.envelope.event_id}")
        return out

    def _register(self, d: OpenDeadline) -> None:
        self.open[d.deadline_id] = d
        self.open_by_rule[d.rule.rule_id] += 1
        case = self.open_by_case.get(d.case_id)
        if case is None:
            self.open_by_case[d.case_id] = [d]   # no room for more yet: 64 bytes
        else:
            case.append(d)
        if d.rule.single == "open":
            self._live[(d.rule.rule_id, d.case_id, d.match_key)] = d.deadline_id
        self._schedule(d)

    def _of_case(self, case_id: str) -> list[OpenDeadline]:
        """The case's open deadlines in a deterministic order (due time, then id)."""
        return sorted(self.open_by_case.get(case_id, ()), key=lambda d: (d.due_at, str(d.deadline_id)))

    def _meeting_moved(self, event: ChildProtectionMeetingScheduled) -> list[Record]:
        """A (re)scheduled meeting: every open, unbreached deadline counted from it gets a new due time.
        Steps that fell due before the event was recorded fire first, as the live timer fired them
        (so a replay that folds the move without a tick in between owes the same records); a
        deadline breached by then keeps its time."""
        env = event.envelope
        key = (env.case_id, event.meeting_id)
        self.meetings[key] = event.scheduled_for
        out: list[Record] = []
        for d in self._of_case(env.case_id):
            if d.meeting != key:
                continue
            out += self._fire_before(d, env.recorded_at or env.occurred_at)
            if d.breached:
                continue
            try:
                due = d.rule.clock.due(event.scheduled_for, self.context)
            except LookupError:
                continue
            if due.at != d.due_at:
                d.opened_at, d.due_at, d.warned = event.scheduled_for, due.at, False
                d.noticed_at = _earlier(env.recorded_at or env.occurred_at, event.scheduled_for)
                self._schedule(d)
                out.append(self._opened_record(d, env.event_id, due, (
                    f"meeting {event.meeting_id} re-scheduled by event {env.event_id}",)))
        return out

    def _retime_by_date(self, event: Event) -> list[Record]:
        """6.49, 6.77: an amendment sets the date of the next review; it brings the open occurrence
        forward, never later than the interval from the last review allows."""
        env = event.envelope
        out: list[Record] = []
        calendar = self.context.calendar
        for d in self._of_case(env.case_id):
            recurrence = d.rule.recurrence
            if recurrence is None or d.stopped:
                continue
            for event_type, field_name in recurrence.next_due_from:
                day = getattr(event, field_name, None) if event.event_type() == event_type else None
                if day is None or d.rule.match_key(event) != d.match_key:
                    continue
                noticed = env.recorded_at or env.occurred_at
                out += self._fire_before(d, noticed)   # as in _meeting_moved: a breach by then stays
                at = datetime.combine(day, calendar.end_of_day, tzinfo=calendar.timezone)
                if d.breached or at >= d.due_at:
                    continue
                d.opened_at, d.noticed_at, d.due_at, d.warned = noticed, None, at, False
                self._schedule(d)
                out.append(self._opened_record(d, env.event_id, Due(at, (
                    f"{event_type} {env.event_id} set the next review for {day.isoformat()} (Annex B "
                    f"{d.rule.paragraph}); earlier than {recurrence.every.describe()} from the last review, so "
                    f"due by the end of that day: {at.isoformat()} ({at:%A})",))))
        return out

    def _opened_record(self, d: OpenDeadline, cause: UUID, due: Due, context: tuple[str, ...] = ()) -> DeadlineOpened:
        """``cause``: the event that opened or re-timed it, so a deadline moved back to an earlier due
        time still gets a record of its own."""
        record = DeadlineOpened(
            sla_event_id=_id(d.deadline_id, "opened", cause, d.due_at.isoformat()), deadline_id=d.deadline_id,
            rule_id=d.rule.rule_id, paragraph=d.rule.paragraph, case_id=d.case_id,
            trigger_event_id=d.trigger_event_id, responsible_agency_id=d.responsible_agency_id,
            opened_at=d.opened_at, due_at=d.due_at)
        if self.keep_reasoning:
            rule = d.rule
            clock = rule.recurrence.every if rule.recurrence and d.occurrence > 1 else rule.clock
            occurrence: tuple[str, ...] = (f"occurrence {d.occurrence} of a recurring duty",) if rule.recurrence else ()
            if d.responsible_agency_id and rule.fan_out:
                occurrence += (f"owed by {d.responsible_agency_id}, named in {rule.fan_out}",)
            self.reasoning[record.sla_event_id] = (clock.describe(), occurrence + context + due.reasoning)
            self.opened_rules[record.sla_event_id] = rule
        return record

    def _complete(self, event: Event, only: set[UUID] | None = None) -> list[Record]:
        """``only``: just these deadlines (those the event itself opened and completes, 5.2, 7.10)."""
        env = event.envelope
        completed_at = env.recorded_at or env.occurred_at
        out: list[Record] = []
        closing = [d for d in self._of_case(env.case_id) if d.rule.completed_by_event(event, d.match_key)
                   and (only is None or d.deadline_id in only)]
        closed_groups: set[str] = set()
        for d in closing:
            key = d.rule.group or d.rule.rule_id
            if key in closed_groups:
                continue  # one completing event closes the oldest deadline of each rule (FIFO)
            closed_groups.add(key)
            out += self._fire_before(d, completed_at)  # steps that fell due before it came
            self._close(d)
            if completed_at <= d.due_at:
                out.append(DeadlineMet(
                    sla_event_id=_id(d.deadline_id, "met"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
                    paragraph=d.rule.paragraph, case_id=d.case_id, completing_event_id=env.event_id,
                    due_at=d.due_at, completed_at=completed_at))
            else:
                out.append(DeadlineCompletedLate(
                    sla_event_id=_id(d.deadline_id, "late"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
                    paragraph=d.rule.paragraph, case_id=d.case_id, completing_event_id=env.event_id,
                    due_at=d.due_at, completed_at=completed_at,
                    lateness_seconds=int((completed_at - d.due_at).total_seconds())))
            if d.rule.recurrence is not None and not d.stopped and d.rule.stop_for(event, d.match_key) is None:
                out += self._next_occurrence(d, event, completed_at)
        return out

    def _next_occurrence(self, d: OpenDeadline, event: Event, at: datetime) -> list[Record]:
        """Occurrence n+1 of a recurring duty, counted from the event that completed occurrence n, under
        the version of the rule in force when that event occurred: a series ends when no version of its
        rule recurs any more (repealed, or no longer recurring)."""
        rule = self._in_force(d.rule.rule_id, event)
        if rule is None or rule.recurrence is None:
            return []
        due = rule.recurrence.every.due(at, self.context)
        n = d.occurrence + 1
        nd = OpenDeadline(d.series_id(n), rule, d.case_id, event.envelope.event_id, at, due.at, d.responsible_agency_id,
                          d.match_key, root_event_id=d.root_event_id, fanned_to=d.fanned_to, occurrence=n)
        self._register(nd)
        return [self._opened_record(nd, event.envelope.event_id, due, (
            f"counted from {event.event_type()} {event.envelope.event_id}, "
            f"which completed occurrence {d.occurrence}",))]

    def _stop(self, event: Event) -> list[Record]:
        """Withdraw what the event makes no longer owed: the rule's own stops, or the whole case on closure."""
        env = event.envelope
        closing_case = event.event_type() in self.case_closing
        out: list[Record] = []
        for d in self._of_case(env.case_id):
            if d.stopped:
                continue
            stop = d.rule.stop_for(event, d.match_key)
            if stop is not None:
                out += self._withdraw(d, event, stop.reason or f"ended by {event.event_type()}")
            elif closing_case:
                ground = getattr(getattr(event, "ground", None), "value", None)
                out += self._withdraw(d, event, "the case file was closed" + (f" ({ground})" if ground else ""))
        return out

    def _referral_withdrawn(self, event: ReferralWithdrawn) -> list[Record]:
        """Issue 15: the referrer withdrew a referral, so what it opened (6.3, 6.9, 5.18) is no longer
        owed — withdrawn, never met. A 6.3 deadline that another trigger also opened (a second referral,
        a removal) stays owed, counted as it was, and now stands on the latest of those."""
        referral = event.referral_event_id
        reason = f"the referral was withdrawn by its referrer ({event.reason.value})"
        out: list[Record] = []
        for d in self._of_case(event.envelope.case_id):
            if d.stopped:
                continue
            others = self._group_triggers.get(d.deadline_id)
            if others and referral in others:
                others.remove(referral)
            elif others and d.trigger_event_id == referral:
                d.trigger_event_id = others.pop()
            elif referral in (d.trigger_event_id, d.root_event_id):
                out += self._withdraw(d, event, reason)
        return out

    def _withdraw(self, d: OpenDeadline, event: Event, reason: str) -> list[Record]:
        """No longer owed. Steps that fell due before the event still fire (a breach stays a breach,
        live and on replay); a breached deadline keeps its ladder until acknowledged, then goes."""
        env = event.envelope
        at = env.recorded_at or env.occurred_at
        out = self._fire_before(d, at)
        if d.breached:
            d.stopped = True
            self._unlive(d)
            if d.next_step() is None:
                self._close(d)
            return out
        self._close(d)
        out.append(DeadlineWithdrawn(
            sla_event_id=_id(d.deadline_id, "withdrawn"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
            paragraph=d.rule.paragraph, case_id=d.case_id, responsible_agency_id=d.responsible_agency_id,
            withdrawing_event_id=env.event_id, due_at=d.due_at, withdrawn_at=at, reason=reason))
        return out

    # -- the clock ------------------------------------------------------------------------------
    def _acknowledge(self, event: EscalationAcknowledged) -> list[Record]:
        d = self.open.get(event.deadline_id)
        if d is None or d.case_id != event.envelope.case_id:
            return []
        acknowledged_at = event.envelope.recorded_at or event.envelope.occurred_at
        out = self._fire_before(d, acknowledged_at)  # levels that fell due before it came
        d.acknowledged = True
        if d.stopped:
            self._close(d)
        return out

    def open_counts(self, owns: Callable[[str], bool] | None = None) -> Counter[str]:
        """Open deadlines by rule id: of every case, or of the cases ``owns`` says this process
        folds as they come. Several SLA processes each hold every case; each reports its own
        partitions' only, so that the sum across them (a dashboard's) counts each deadline once."""
        if owns is None:
            return Counter(self.open_by_rule)
        return Counter(d.rule.rule_id for case_id, deadlines in self.open_by_case.items() if owns(case_id)
                       for d in deadlines)

    def advance(self, now: datetime, owns: Callable[[str], bool] | None = None) -> list[Record]:
        """Every ladder step (warning, breach, further escalation) whose time plus grace has passed
        by ``now``, in time order. ``owns``: only the cases it says this process folds as they come
        (its partitions, when several processes share them); the others' steps are set aside
        untouched — this engine may not have seen the event that met them — until an ``advance``
        without ``owns``, which a process makes only after catching up with the whole log."""
        out: list[Record] = []
        heap = self._due_heap
        if owns is None and self._set_aside:
            for entry in self._set_aside:
                heapq.heappush(heap, entry)
            self._set_aside = []
        while True:
            source = heap if not self._grace_heap or (heap and heap[0] < self._grace_heap[0]) else self._grace_heap
            if not source or source[0][0] + self.grace > now:
                break
            entry = heapq.heappop(source)
            at, _, deadline_id = entry
            d = self.open.get(deadline_id)
            if d is not None and owns is not None and not owns(d.case_id):
                self._set_aside.append(entry)
                continue
            step = d.next_step() if d else None
            if d is None or step is None or step[0] != at:
                continue  # closed, acknowledged or re-timed: a newer entry (if any) is in the heap
            draft = self.drafts.pop(deadline_id, None)
            if draft is not None and draft.at == at and draft.state == self._state(d):
                d.warned, d.breached, d.level = draft.after.warned, draft.after.breached, draft.after.level
                out += draft.records   # the very records ``_fire`` makes, made during the grace
            out += self._fire(d, now - self.grace, inclusive=True)   # (the rest, when the tick came late)
            if d.stopped and d.next_step() is None:
                self._close(d)  # withdrawn after its breach and the ladder has run out
            else:
                self._schedule(d)
        return out

    def prepare(self, now: datetime, owns: Callable[[str], bool] | None = None, limit: int = 1000) -> list[Record]:
        """Work out, during the grace, what ``advance`` will fire once it has passed: for each step
        whose time has come by ``now`` (plus the grace not yet), the records ``_fire`` makes, on a
        copy of the deadline. ``advance`` uses them only if the deadline is then still as it was
        (``_state``): an event folded meanwhile (a completion recorded in time, an acknowledgement,
        a re-timing) changes it, and its steps are worked out afresh. So an end-of-day burst of
        thousands of breaches is made, and encoded by the caller, ahead of its instant (issue 13).
        Each step is looked at once (its entry moves to ``_grace_heap``), at most ``limit`` a call.
        Returns the records drafted (never to be emitted as such)."""
        out: list[Record] = []
        heap = self._due_heap
        for _ in range(limit):
            if not heap or heap[0][0] > now:
                break
            entry = heapq.heappop(heap)
            heapq.heappush(self._grace_heap, entry)
            at, _, deadline_id = entry
            d = self.open.get(deadline_id)
            if at + self.grace <= now or d is None or (owns is not None and not owns(d.case_id)):
                continue   # ``advance`` fires it now; closed; another process's case
            step, draft = d.next_step(), self.drafts.get(deadline_id)
            if step is None or step[0] != at or (draft is not None and draft.at == at):
                continue   # re-timed since (a newer entry is in the heap), or drafted already
            after = copy.copy(d)
            records = self._fire(after, at, inclusive=True)
            self.drafts[deadline_id] = Draft(at, self._state(d), records, after)
            out += records
        return out

    def _state(self, d: OpenDeadline) -> tuple[object, ...]:
        """Everything ``_fire`` reads of a deadline (and of its case: the city names the escalation's
        target), to tell whether a draft still holds."""
        return (d.due_at, d.warned, d.breached, d.level, d.acknowledged, d.stopped, d.responsible_agency_id,
                d.opened_at, d.noticed_at, d.trigger_event_id, d.rule, self.case_city.get(d.case_id))

    def next_step_at(self) -> datetime | None:
        """When ``advance`` may next have something to fire (a step's time plus the grace), or None.
        Early at worst: the entry may be of a deadline closed or re-timed since."""
        tops = [h[0][0] for h in (self._due_heap, self._grace_heap) if h]
        return min(tops) + self.grace if tops else None

    def _fire_before(self, d: OpenDeadline, at: datetime) -> list[Record]:
        """The ladder steps of ``d`` that fell due before ``at``, fired now, with its next step
        scheduled: what the live timer had fired by the time an event touching ``d`` (completing,
        withdrawing, acknowledging, re-timing it) came. Every firing outside ``advance`` goes
        through here, so the ladder goes on after it whether or not a tick came first."""
        out = self._fire(d, at, inclusive=False)
        if out:
            self._schedule(d)
        return out

    def _schedule(self, d: OpenDeadline) -> None:
        step = d.next_step()
        if step is not None:
            heapq.heappush(self._due_heap, (step[0], d.deadline_id.int, d.deadline_id))

    def _fire(self, d: OpenDeadline, until: datetime, *, inclusive: bool) -> list[Record]:
        """Run the deadline's ladder up to ``until``. Deterministic: depends only on the times."""
        out: list[Record] = []
        while (step := d.next_step()) is not None and (step[0] <= until if inclusive else step[0] < until):
            at, kind = step
            if kind == "warn":
                d.warned = True
                out.append(DeadlineWarning(
                    sla_event_id=_id(d.deadline_id, "warning", d.due_at.isoformat()), deadline_id=d.deadline_id,
                    rule_id=d.rule.rule_id, paragraph=d.rule.paragraph, case_id=d.case_id,
                    responsible_agency_id=d.responsible_agency_id, due_at=d.due_at, warn_at=at))
            elif kind == "breach":
                d.breached = True
                out.append(DeadlineBreached(
                    sla_event_id=_id(d.deadline_id, "breached"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
                    paragraph=d.rule.paragraph, case_id=d.case_id, responsible_agency_id=d.responsible_agency_id,
                    due_at=d.due_at, breached_at=d.due_at))
                out.append(self._escalation(d))
            else:
                out.append(self._escalation(d))
        return out

    def _unlive(self, d: OpenDeadline) -> None:
        slot = (d.rule.rule_id, d.case_id, d.match_key)
        if self._live.get(slot) == d.deadline_id:
            del self._live[slot]

    def _close(self, d: OpenDeadline) -> None:
        del self.open[d.deadline_id]
        self.drafts.pop(d.deadline_id, None)
        self._group_triggers.pop(d.deadline_id, None)
        self.open_by_rule[d.rule.rule_id] -= 1
        self._unlive(d)
        case = self.open_by_case[d.case_id]
        del case[next(i for i, other in enumerate(case) if other is d)]   # by identity, not field by field
        if not case:
            del self.open_by_case[d.case_id]

    def _escalation(self, d: OpenDeadline) -> EscalationRaised:
        step = d.rule.ladder[d.level]
        d.level += 1
        return EscalationRaised(
            escalation_id=_id(d.deadline_id, "escalation", step.level), deadline_id=d.deadline_id,
            rule_id=d.rule.rule_id, paragraph=d.rule.paragraph, case_id=d.case_id, level=step.level,
            responsible_agency_id=d.responsible_agency_id, escalated_to_agency_id=self._escalation_target(step.to, d),
            due_at=d.due_at, raised_for=d.due_at + timedelta(hours=step.after_hours),
            summary=f"{d.rule.title} (Annex B {d.rule.paragraph}{self._basis(d.rule)}): due {d.due_at.isoformat()}, "
                    f"responsible {d.responsible_agency_id or getattr(d.rule.responsible, 'value', '?')}, "
                    f"level {step.level}")

    @staticmethod
    def _basis(rule: DeadlineRule) -> str:
        return "; policy threshold, not law" if isinstance(rule.clock, Immediately) else ""

    def _escalation_target(self, to: str, d: OpenDeadline) -> str | None:
        if to.startswith("agency:"):
            return to.removeprefix("agency:")
        if to == "supervisor":
            agency = self.directory.get(d.responsible_agency_id or "")
            if agency and agency.supervisor_id:
                return agency.supervisor_id
            return self._responsible(AgencyKind.COMMISSION, d.case_id)
        return self._responsible(AgencyKind(to), d.case_id)
