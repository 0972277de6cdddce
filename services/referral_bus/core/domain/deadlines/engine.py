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
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid5

from ...contracts.base import City, Event, Record
from ...contracts.sla_records import (
    DeadlineBreached, DeadlineCompletedLate, DeadlineMet, DeadlineOpened, EscalationRaised,
)
from ..agencies import AgencyKind, Directory
from .calendar import WorkingCalendar
from .rules import Anchor, DeadlineRule

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
    breached: bool = False


class DeadlineEngine:
    def __init__(self, rules: tuple[DeadlineRule, ...], directory: Directory, grace: timedelta = timedelta(0),
                 calendar: WorkingCalendar | None = None) -> None:
        self.rules = rules
        self.directory = directory
        self.calendar = calendar or WorkingCalendar()
        #: A breach is declared only once the clock is this far past the due time (see Settings).
        self.grace = grace
        self.open: dict[UUID, OpenDeadline] = {}
        #: case id → its open deadlines, so an event touches only its own case's deadlines
        self.open_by_case: dict[str, dict[UUID, OpenDeadline]] = {}
        #: (due_at, deadline id) of every unbreached deadline; entries of closed or re-timed
        #: deadlines are skipped when they surface (lazy deletion), so a tick costs O(k log n)
        self._due_heap: list[tuple[datetime, str, UUID]] = []
        self.case_city: dict[str, City] = {}
        self.last_sequence: dict[str, int] = {}

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
        for rule in self.rules:
            if rule.triggered_by(event):
                out += self._open(rule, event)
        return out

    def _responsible(self, kind: AgencyKind, case_id: str) -> str | None:
        city = self.case_city.get(case_id)
        agency = self.directory.serving(kind, city) if city else None
        return agency.id if agency else None

    def _open(self, rule: DeadlineRule, event: Event) -> list[Record]:
        env = event.envelope
        start = env.occurred_at if rule.anchor is Anchor.OCCURRED_AT else (env.recorded_at or env.occurred_at)
        due = rule.clock.due(start, self.calendar).at
        if rule.group:
            deadline_id = _id(rule.group, env.case_id)
            existing = self.open.get(deadline_id)
            if existing is not None:
                if existing.breached or due <= existing.due_at:
                    return []   # 6.3(a) "if later": only a later due time re-times the deadline
                existing.due_at, existing.rule, existing.trigger_event_id = due, rule, env.event_id
                heapq.heappush(self._due_heap, (due, str(deadline_id), deadline_id))
                return [self._opened_record(existing)]
        else:
            deadline_id = _id(rule.rule_id, env.case_id, env.event_id)
        deadline = OpenDeadline(deadline_id, rule, env.case_id, env.event_id, start, due,
                                self._responsible(rule.responsible, env.case_id))
        self.open[deadline_id] = deadline
        self.open_by_case.setdefault(env.case_id, {})[deadline_id] = deadline
        heapq.heappush(self._due_heap, (due, str(deadline_id), deadline_id))
        return [self._opened_record(deadline)]

    def _opened_record(self, d: OpenDeadline) -> DeadlineOpened:
        return DeadlineOpened(
            sla_event_id=_id(d.deadline_id, "opened", d.trigger_event_id), deadline_id=d.deadline_id,
            rule_id=d.rule.rule_id, paragraph=d.rule.paragraph, case_id=d.case_id,
            trigger_event_id=d.trigger_event_id, responsible_agency_id=d.responsible_agency_id,
            opened_at=d.opened_at, due_at=d.due_at)

    def _complete(self, event: Event) -> list[Record]:
        env = event.envelope
        completed_at = env.recorded_at or env.occurred_at
        out: list[Record] = []
        closing = sorted((d for d in self.open_by_case.get(env.case_id, {}).values()
                          if event.event_type() in d.rule.completed_by),
                         key=lambda d: (d.due_at, str(d.deadline_id)))
        closed_groups: set[str] = set()
        for d in closing:
            key = d.rule.group or d.rule.rule_id
            if key in closed_groups:
                continue  # one completing event closes the oldest deadline of each rule (FIFO)
            closed_groups.add(key)
            self._close(d)
            if completed_at <= d.due_at:
                out.append(DeadlineMet(
                    sla_event_id=_id(d.deadline_id, "met"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
                    paragraph=d.rule.paragraph, case_id=d.case_id, completing_event_id=env.event_id,
                    due_at=d.due_at, completed_at=completed_at))
                continue
            if not d.breached:
                out += self._breach(d)
            out.append(DeadlineCompletedLate(
                sla_event_id=_id(d.deadline_id, "late"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
                paragraph=d.rule.paragraph, case_id=d.case_id, completing_event_id=env.event_id,
                due_at=d.due_at, completed_at=completed_at,
                lateness_seconds=int((completed_at - d.due_at).total_seconds())))
        return out

    # -- the clock ------------------------------------------------------------------------------
    def advance(self, now: datetime) -> list[Record]:
        """Breaches of every open deadline whose due time (plus grace) has passed by ``now``,
        in due-time order."""
        out: list[Record] = []
        heap = self._due_heap
        while heap and heap[0][0] + self.grace <= now:
            due, _, deadline_id = heapq.heappop(heap)
            d = self.open.get(deadline_id)
            if d is None or d.breached or d.due_at != due:
                continue  # closed, already breached, or re-timed (its newer entry is in the heap)
            out += self._breach(d)
        return out

    def _close(self, d: OpenDeadline) -> None:
        del self.open[d.deadline_id]
        case = self.open_by_case[d.case_id]
        del case[d.deadline_id]
        if not case:
            del self.open_by_case[d.case_id]

    def _breach(self, d: OpenDeadline) -> list[Record]:
        d.breached = True
        out: list[Record] = [DeadlineBreached(
            sla_event_id=_id(d.deadline_id, "breached"), deadline_id=d.deadline_id, rule_id=d.rule.rule_id,
            paragraph=d.rule.paragraph, case_id=d.case_id, responsible_agency_id=d.responsible_agency_id,
            due_at=d.due_at, breached_at=d.due_at)]
        first = d.rule.ladder[0]
        out.append(EscalationRaised(
            escalation_id=_id(d.deadline_id, "escalation", first.level), deadline_id=d.deadline_id,
            rule_id=d.rule.rule_id, paragraph=d.rule.paragraph, case_id=d.case_id, level=first.level,
            responsible_agency_id=d.responsible_agency_id,
            escalated_to_agency_id=self._escalation_target(first.to, d),
            due_at=d.due_at, raised_for=d.due_at + timedelta(hours=first.after_hours),
            summary=f"{d.rule.title} (Annex B {d.rule.paragraph}): due {d.due_at.isoformat()}, "
                    f"responsible {d.responsible_agency_id or d.rule.responsible.value}"))
        return out

    def _escalation_target(self, to: str, d: OpenDeadline) -> str | None:
        if to == "supervisor":
            agency = self.directory.get(d.responsible_agency_id or "")
            if agency and agency.supervisor_id:
                return agency.supervisor_id
            return self._responsible(AgencyKind.COMMISSION, d.case_id)
        return self._responsible(AgencyKind(to), d.case_id)
