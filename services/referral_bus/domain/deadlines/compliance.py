"""Compliance statistics from SLA records: per rule, responsible agency and city, over deadlines
due in a period — met, breached, open, and the median and 90th percentile of lateness.

Lateness is counted for breached deadlines only: completed late → completion minus due time;
still open → the report time minus due time (how late it is so far). Met deadlines are not late.
Withdrawn deadlines (no longer owed: the series stopped, the case closed) are counted apart and are
neither due, met nor breached.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from referral_bus.contracts.base import Record
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWithdrawn,
)


@dataclass
class _Deadline:
    rule_id: str
    paragraph: str
    agency: str
    case_id: str
    due_at: datetime
    status: str = "open"          # open | met | breached (open) | completed late | withdrawn
    lateness: float | None = None


@dataclass
class ComplianceRow:
    rule_id: str
    paragraph: str
    agency: str
    city: str
    due: int = 0
    met: int = 0
    breached: int = 0
    open: int = 0
    withdrawn: int = 0
    lateness_seconds: list[float] = field(default_factory=list)

    @property
    def median_lateness(self) -> float | None:
        return statistics.median(self.lateness_seconds) if self.lateness_seconds else None

    @property
    def p90_lateness(self) -> float | None:
        if not self.lateness_seconds:
            return None
        if len(self.lateness_seconds) == 1:
            return self.lateness_seconds[0]
        return statistics.quantiles(self.lateness_seconds, n=10, method="inclusive")[-1]

    @property
    def met_share(self) -> float | None:
        closed = self.met + self.breached
        return self.met / closed if closed else None


def compliance(records: Iterable[Record], case_city: dict[str, str], *, start: datetime, end: datetime,
               now: datetime) -> list[ComplianceRow]:
    deadlines: dict[UUID, _Deadline] = {}
    for record in records:
        if isinstance(record, DeadlineOpened):  # a re-timed deadline keeps its id and takes the new due time
            deadlines[record.deadline_id] = _Deadline(record.rule_id, record.paragraph,
                                                      record.responsible_agency_id or "(unknown)",
                                                      record.case_id, record.due_at)
        elif isinstance(record, DeadlineMet) and record.deadline_id in deadlines:
            deadlines[record.deadline_id].status = "met"
        elif isinstance(record, DeadlineBreached) and record.deadline_id in deadlines:
            deadlines[record.deadline_id].status = "breached"
        elif isinstance(record, DeadlineCompletedLate) and record.deadline_id in deadlines:
            d = deadlines[record.deadline_id]
            d.status, d.lateness = "completed late", float(record.lateness_seconds)
        elif isinstance(record, DeadlineWithdrawn) and record.deadline_id in deadlines:
            deadlines[record.deadline_id].status = "withdrawn"
    rows: dict[tuple[str, str, str], ComplianceRow] = {}
    for d in deadlines.values():
        if not start <= d.due_at < end:
            continue
        city = case_city.get(d.case_id, "(unknown)")
        row = rows.setdefault((d.rule_id, d.agency, city), ComplianceRow(d.rule_id, d.paragraph, d.agency, city))
        if d.status == "withdrawn":
            row.withdrawn += 1
            continue
        row.due += 1
        if d.status == "met":
            row.met += 1
        elif d.status in ("breached", "completed late"):
            row.breached += 1
            row.lateness_seconds.append(d.lateness if d.lateness is not None
                                        else max(0.0, (now - d.due_at).total_seconds()))
            if d.status == "breached":
                row.open += 1
        elif d.due_at > now:
            row.open += 1
    return sorted(rows.values(), key=lambda r: (r.rule_id, r.city, r.agency))
