"""The shape of a deadline rule: trigger, clock, completing events, who is responsible, the ladder."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from ..agencies import AgencyKind


class Anchor(str, Enum):
    """Which time of the trigger event starts the clock."""

    OCCURRED_AT = "occurred_at"   # e.g. 4.8: "within 3 hours of the removal"
    RECORDED_AT = "recorded_at"   # e.g. 6.3: "of receiving the referral" — when the bus delivered it


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
class ElapsedHours:
    """A clock of elapsed hours (wall time, not working time)."""

    hours: int

    def due(self, start: datetime) -> datetime:
        return start + timedelta(hours=self.hours)

    def describe(self) -> str:
        return f"{self.hours} hours"


@dataclass(frozen=True)
class EscalationStep:
    """One rung of the ladder. ``to`` is 'supervisor' (of the responsible agency, from the
    directory) or an agency kind whose office in the case's city is told."""

    level: int
    to: str
    after_hours: int = 0   # after the due time


@dataclass(frozen=True)
class DeadlineRule:
    rule_id: str
    paragraph: str
    title: str
    trigger: str
    clock: ElapsedHours
    completed_by: frozenset[str]
    responsible: AgencyKind
    anchor: Anchor = Anchor.OCCURRED_AT
    when: tuple[Condition, ...] = ()
    #: Rules in one group share a single deadline per case: a later trigger re-times it to the
    #: later due time (6.3(a): "or, if later, the removal"). Empty = one deadline per trigger.
    group: str = ""
    ladder: tuple[EscalationStep, ...] = field(default=(EscalationStep(1, "supervisor"),))

    def triggered_by(self, event: Any) -> bool:
        return event.event_type() == self.trigger and all(c.holds(event) for c in self.when)
