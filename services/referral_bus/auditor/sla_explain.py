"""``referral-bus sla explain CASE_ID``: every deadline of a case with its rule, paragraph, trigger,
due time, the calendar reasoning behind the due time, and its status — recomputed from the case
log by the same engine the SLA processor runs, so the explanation cannot drift from the verdicts.
Each occurrence of a recurring duty is a deadline of its own; a withdrawn one says by which event
and why it is no longer owed. A working-day period counted through a year whose day-off transfers
are not configured (calendar.yaml ``transfers_configured``) carries a warning line in its reasoning,
also listed in ``warnings``: the due time may be off (issue 15). Each deadline names the version of
its rule it was opened under and that version's validity (``rule_table``: rules in force from a date)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from referral_bus.auditor.history import rebuild_case_sync
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWarning,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.domain.deadlines.calendar import UNCONFIGURED_WARNING
from referral_bus.domain.deadlines.rule_table import RULES_BY_ID
from referral_bus.infra.runtime import Runtime


@dataclass
class DeadlineExplanation:
    deadline_id: UUID
    rule_id: str
    paragraph: str
    title: str
    clock: str
    trigger_event_id: UUID
    responsible_agency_id: str | None
    started_at: datetime
    due_at: datetime
    reasoning: tuple[str, ...]
    status: str = "open"
    warned_at: datetime | None = None
    completed_at: datetime | None = None
    lateness_seconds: int | None = None
    escalated_to: list[str] = field(default_factory=list)
    withdrawn_reason: str | None = None
    closing_event_id: UUID | None = None
    #: what may make the due time wrong: a year without configured day-off transfers
    warnings: tuple[str, ...] = ()
    #: the version of the rule the deadline was opened under, and when that version is in force
    version: int = 1
    in_force: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID) else v)
                for k, v in self.__dict__.items()}


def explain_case(runtime: Runtime, case_id: str, now: datetime) -> list[DeadlineExplanation]:
    history = rebuild_case_sync(runtime, case_id)
    engine = runtime.deadline_engine(keep_reasoning=True)
    records = []
    for event in history.events:
        records += engine.on_event(event)
    records += engine.advance(now)
    out: dict[UUID, DeadlineExplanation] = {}
    for record in records:
        if isinstance(record, DeadlineOpened):  # a re-timed deadline (6.3(a), a moved meeting) replaces its entry
            rule = engine.opened_rules.get(record.sla_event_id) or RULES_BY_ID[record.rule_id]
            clock, reasoning = engine.reasoning.get(record.sla_event_id, (rule.clock.describe(), ()))
            out[record.deadline_id] = DeadlineExplanation(
                record.deadline_id, rule.rule_id, rule.paragraph, rule.title, clock,
                record.trigger_event_id, record.responsible_agency_id, record.opened_at, record.due_at,
                reasoning or (f"{record.opened_at.isoformat()} + {clock}",),
                warnings=tuple(line for line in reasoning if line.startswith(f"{UNCONFIGURED_WARNING}:")),
                version=rule.version, in_force=rule.validity())
            continue
        entry = out[record.deadline_id]  # type: ignore[attr-defined]
        if isinstance(record, DeadlineWarning):
            entry.warned_at = record.warn_at
        elif isinstance(record, DeadlineMet):
            entry.status, entry.completed_at = "met", record.completed_at
        elif isinstance(record, DeadlineBreached):
            entry.status = "breached"
        elif isinstance(record, DeadlineCompletedLate):
            entry.status, entry.completed_at = "completed late", record.completed_at
            entry.lateness_seconds = record.lateness_seconds
        elif isinstance(record, DeadlineWithdrawn):
            entry.status, entry.completed_at = f"withdrawn: {record.reason}", record.withdrawn_at
            entry.withdrawn_reason, entry.closing_event_id = record.reason, record.withdrawing_event_id
        if isinstance(record, (DeadlineMet, DeadlineCompletedLate)):
            entry.closing_event_id = record.completing_event_id
        elif isinstance(record, EscalationRaised) and record.escalated_to_agency_id:
            entry.escalated_to.append(f"level {record.level}: {record.escalated_to_agency_id}")
    return sorted(out.values(), key=lambda e: (e.due_at, e.rule_id))

