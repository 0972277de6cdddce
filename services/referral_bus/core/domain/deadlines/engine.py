"""Deterministic deadline evaluation over the case log.

The engine is a pure function of (events in case-log order, the clock): it opens deadlines on
trigger events, closes them on completing events, and declares a breach when the clock passes the
due time without a completion recorded by then. Every output has an id derived from rule, case and
occurrence, so replaying the same log with the same clock yields exactly the same records and a
restarted processor can tell what it already emitted.

Time of completion is the completing event's ``recorded_at`` (when the bus had the information);
the trigger time follows the rule's anchor.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from ...contracts.base import City, Event, Record
from ...contracts.events import (
    ChildProtectionMeetingScheduled, EscalationAcknowledged, ReferralKind, ReferralMade,
)
from ...contracts.sla_records import (
    DeadlineBreached, DeadlineCompletedLate, DeadlineMet, DeadlineOpened, DeadlineWarning, EscalationRaised,
)
from ..agencies import AgencyKind, Directory
from .calendar import WorkingCalendar
from .rules import Anchor, ClockContext, DeadlineRule, Immediately

_SLA_NS = UUID("1d7f0a52-3b0e-4f6a-8f55-2c9a6e7b4d10")


def _id(*parts: object) -> UUID:
    return uuid5(_SLA_NS, "|".join(str(p) for p in parts))


@dataclass
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

    def next_step(self) -> tuple[datetime, str] | None:
        """(time, kind) of the next ladder step still to come: warn, breach, or escalate."""
        rule = self.rule
        if not self.warned and rule.warn_before is not None and self.due_at - rule.warn_before > self.opened_at:
            return self.due_at - rule.warn_before, "warn"
        if not self.breached:
            return self.due_at, "breach"
        if self.level < len(rule.ladder) and not self.acknowledged:
            return self.due_at + timedelta(hours=rule.ladder[self.level].after_hours), "escalate"
        return None


class DeadlineEngine:
    def __init__(self, rules: tuple[DeadlineRule, ...], directory: Directory, grace: timedelta = timedelta(0),
                 calendar: WorkingCalendar | None = None, context: ClockContext | None = None) -> None:
        self.rules = rules
        self.directory = directory
        self.context = context or ClockContext(calendar or WorkingCalendar())
        #: A breach is declared only once the clock is this far past the due time (see Settings).
        self.grace = grace
        self.open: dict[UUID, OpenDeadline] = {}
        #: case id → its open deadlines, so an event touches only its own case's deadlines
        self.open_by_case: dict[str, dict[UUID, OpenDeadline]] = {}
        #: (time of the next ladder step, deadline id) per deadline; entries of closed, acknowledged
        #: or re-timed deadlines are skipped when they surface (lazy deletion): a tick costs O(k log n)
        self._due_heap: list[tuple[datetime, str, UUID]] = []
        self.case_city: dict[str, City] = {}
        self.last_sequence: dict[str, int] = {}
        #: rule id → open deadlines, kept as they open and close (read by the metrics)
        self.open_by_rule: Counter[str] = Counter()
        #: (case id, meeting id) → scheduled time; deadlines counted from a meeting move with it
        self.meetings: dict[tuple[str, str], datetime] = {}
        #: (case id, NGO id) → when the NGO received the referral request (7.1, 7.2)
        self.ngo_referrals: dict[tuple[str, str], datetime] = {}

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
        out += self._complete(event)
        if isinstance(event, EscalationAcknowledged):
            out += self._acknowledge(event)
        if isinstance(event, ChildProtectionMeetingScheduled):
            out += self._meeting_moved(env.case_id, event.meeting_id, event.scheduled_for)
        if isinstance(event, ReferralMade) and event.referral_kind is ReferralKind.NGO_SUPPORT:
            ngo = self.directory.serving(AgencyKind.NGO, event.city)
            if ngo is not None:
                self.ngo_referrals[(env.case_id, ngo.id)] = env.recorded_at or env.occurred_at
        for rule in self.rules:
            if rule.triggered_by(event):
                out += self._open(rule, event)
        return out

    def _responsible(self, kind: AgencyKind | None, case_id: str, trigger: Event | None = None) -> str | None:
        if kind is None:
            return trigger.envelope.producer.agency_id if trigger is not None else None
        city = self.case_city.get(case_id)
        agency = self.directory.serving(kind, city) if city else None
        return agency.id if agency else None

    def _open(self, rule: DeadlineRule, event: Event) -> list[Record]:
        env = event.envelope
        meeting: tuple[str, str] | None = None
        if rule.anchor is Anchor.MEETING:
            meeting = (env.case_id, str(getattr(event, "meeting_id", "")))
            if meeting not in self.meetings:
                return []  # the router refuses events naming an unscheduled meeting
            start = self.meetings[meeting]
        elif rule.anchor is Anchor.NGO_REFERRAL:
            received = self.ngo_referrals.get((env.case_id, env.producer.agency_id))
            if received is None:
                return []
            start = received
        elif rule.anchor is Anchor.OCCURRED_AT:
            start = env.occurred_at
        else:
            start = env.recorded_at or env.occurred_at
        try:
            due = rule.clock.due(start, self.context).at
        except LookupError:  # an "immediately" rule without a policy threshold: no deadline invented
            return []
        if rule.group:
            deadline_id = _id(rule.group, env.case_id)
            existing = self.open.get(deadline_id)
            if existing is not None:
                if existing.breached or due <= existing.due_at:
                    return []   # 6.3(a) "if later": only a later due time re-times the deadline
                self.open_by_rule[existing.rule.rule_id] -= 1
                self.open_by_rule[rule.rule_id] += 1
                existing.due_at, existing.rule, existing.trigger_event_id = due, rule, env.event_id
                existing.opened_at, existing.warned = start, False
                self._schedule(existing)
                return [self._opened_record(existing)]
        else:
            deadline_id = _id(rule.rule_id, env.case_id, env.event_id)
        deadline = OpenDeadline(deadline_id, rule, env.case_id, env.event_id, start, due,
                                self._responsible(rule.responsible, env.case_id, event), rule.match_key(event),
                                meeting)
        self.open[deadline_id] = deadline
        self.open_by_rule[rule.rule_id] += 1
        self.open_by_case.setdefault(env.case_id, {})[deadline_id] = deadline
        self._schedule(deadline)
        return [self._opened_record(deadline)]

    def _meeting_moved(self, case_id: str, meeting_id: str, scheduled_for: datetime) -> list[Record]:
        """A (re)scheduled meeting: every open, unbreached deadline counted from it gets a new due time."""
        key = (case_id, meeting_id)
        self.meetings[key] = scheduled_for
        out: list[Record] = []
        for d in list(self.open_by_case.get(case_id, {}).values()):
            if d.meeting != key or d.breached:
                continue
            try:
                due = d.rule.clock.due(scheduled_for, self.context).at
            except LookupError:
                continue
            if due != d.due_at:
                d.opened_at, d.due_at, d.warned = scheduled_for, due, False
                self._schedule(d)
                out.append(self._opened_record(d))
        return out

    def _opened_record(self, d: OpenDeadline) -> DeadlineOpened:
        return DeadlineOpened(
            sla_event_id=_id(d.deadline_id, "opened", d.trigger_event_id, d.due_at.isoformat()), deadline_id=d.deadline_id,
            rule_id=d.rule.rule_id, paragraph=d.rule.paragraph, case_id=d.case_id,
            trigger_event_id=d.trigger_event_id, responsible_agency_id=d.responsible_agency_id,
            opened_at=d.opened_at, due_at=d.due_at)

    def _complete(self, event: Event) -> list[Record]:
        env = event.envelope
        completed_at = env.recorded_at or env.occurred_at
        out: list[Record] = []
        closing = sorted((d for d in self.open_by_case.get(env.case_id, {}).values()
                          if event.event_type() in d.rule.completed_by and d.rule.match_key(event) == d.match_key),
                         key=lambda d: (d.due_at, str(d.deadline_id)))
        closed_groups: set[str] = set()
        for d in closing:
            key = d.rule.group or d.rule.rule_id
            if key in closed_groups:
                continue  # one completing event closes the oldest deadline of each rule (FIFO)
            closed_groups.add(key)
            out += self._fire(d, completed_at, inclusive=False)  # steps that fell due before it came
            self._close(d)
            if completed_at <= d.due_at:
                out.append(DeadlineMet(
                    sla_event_id=_id(d.deadline_id, "met"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
                    paragraph=d.rule.paragraph, case_id=d.case_id, completing_event_id=env.event_id,
                    due_at=d.due_at, completed_at=completed_at))
                continue
            out.append(DeadlineCompletedLate(
                sla_event_id=_id(d.deadline_id, "late"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
                paragraph=d.rule.paragraph, case_id=d.case_id, completing_event_id=env.event_id,
                due_at=d.due_at, completed_at=completed_at,
                lateness_seconds=int((completed_at - d.due_at).total_seconds())))
        return out

    # -- the clock ------------------------------------------------------------------------------
    def _acknowledge(self, event: EscalationAcknowledged) -> list[Record]:
        d = self.open_by_case.get(event.envelope.case_id, {}).get(event.deadline_id)
        if d is None:
            return []
        acknowledged_at = event.envelope.recorded_at or event.envelope.occurred_at
        out = self._fire(d, acknowledged_at, inclusive=False)  # levels that fell due before it came
        d.acknowledged = True
        return out

    def advance(self, now: datetime) -> list[Record]:
        """Every ladder step (warning, breach, further escalation) whose time plus grace has passed
        by ``now``, in time order."""
        out: list[Record] = []
        heap = self._due_heap
        while heap and heap[0][0] + self.grace <= now:
            at, _, deadline_id = heapq.heappop(heap)
            d = self.open.get(deadline_id)
            step = d.next_step() if d else None
            if d is None or step is None or step[0] != at:
                continue  # closed, acknowledged or re-timed: a newer entry (if any) is in the heap
            out += self._fire(d, now - self.grace, inclusive=True)
            self._schedule(d)
        return out

    def _schedule(self, d: OpenDeadline) -> None:
        step = d.next_step()
        if step is not None:
            heapq.heappush(self._due_heap, (step[0], str(d.deadline_id), d.deadline_id))

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

    def _close(self, d: OpenDeadline) -> None:
        del self.open[d.deadline_id]
        self.open_by_rule[d.rule.rule_id] -= 1
        case = self.open_by_case[d.case_id]
        del case[d.deadline_id]
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
