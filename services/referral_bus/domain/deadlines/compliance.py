"""The one definition of every deadline figure (compliance per rule, responsible agency and city):
``referral-bus sla report`` (``auditor/sla_report.py``, from rb.sla) and the Steering Committee
report (``auditor/steering_report.py``, from the read models) compute them with the same function
(:func:`deadline_figures`), so that the two cannot disagree. Pure: no I/O.

The figures, per rule, responsible agency and city, over the deadlines whose due time falls in
``[from, to)`` (a re-timed deadline, 6.3(a), by its latest due time; membership is by due date, not
by opening date, in both reports):

- **withdrawn**: no longer owed before it was breached (``DeadlineWithdrawn``). Counted apart and in
  no other figure: it is not due.
- **due**: every other deadline; ``due = met + completed late + breached, still open + open, not
  breached``.
- **met**: completed by its due time (``DeadlineMet``).
- **completed late**: completed after its due time (``DeadlineCompletedLate``).
- **breached**: the due time passed without completion — completed late plus breached and still
  open. The met share is ``met / (met + breached)``.
- **breached, still open**: declared breached (``DeadlineBreached``) and not completed since.
- **open**: still owed, whether or not already breached — breached and still open plus open and not
  breached. A deadline whose due time has passed but whose breach the SLA processor has not yet
  declared (its grace period, or the processor behind) is *open, not breached*: the breach is the
  SLA processor's to declare, and both reports count what it recorded, never what ``now`` suggests.
- **lateness** (median, 90th percentile): of breached deadlines only — completed late: completion
  minus due time; still open: the report's ``now`` minus due time (how late so far).

Until issue 15, ``sla report`` left an open deadline past its due time but not yet declared breached
out of every figure but ``due``, and the Steering Committee report counted "open" without the
breached ones and "completed late" apart from "breached": on rule 4.9 (the prosecutor's notice, due
"immediately") the two reports disagreed on breached and open for the same deadlines.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from referral_bus.contracts.base import Record
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWithdrawn,
)

Status = Literal["open", "met", "completed late", "breached", "withdrawn"]
UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class DeadlineState:
    """One deadline as both reports see it: from rb.sla's records (``sla report``) or from the
    ``deadlines`` read model (the Steering Committee report). ``status`` "breached" is breached and
    still open; "open" is open and not breached (a warning changes nothing)."""

    rule_id: str
    paragraph: str
    agency: str
    city: str
    due_at: datetime
    status: Status
    lateness_seconds: float | None = None   # completed late: as recorded


@dataclass
class DeadlineFigures:
    """The figures of one rule, responsible agency and city (see the module's docstring)."""

    rule_id: str
    paragraph: str
    agency: str
    city: str
    due: int = 0
    met: int = 0
    completed_late: int = 0
    breached: int = 0
    breached_open: int = 0
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

    def shared(self) -> dict[str, object]:
        """Every figure both reports show, by name (what the tests compare)."""
        return {"rule": self.rule_id, "paragraph": self.paragraph, "agency": self.agency, "city": self.city,
                "due": self.due, "met": self.met, "completed late": self.completed_late, "breached": self.breached,
                "breached, still open": self.breached_open, "open": self.open, "withdrawn": self.withdrawn,
                "met share": self.met_share, "median lateness (s)": self.median_lateness,
                "p90 lateness (s)": self.p90_lateness}


def _aware(moment: datetime) -> datetime:
    """A read model on SQLite gives times back without their zone; the bus writes UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def deadline_figures(deadlines: Iterable[DeadlineState], *, start: datetime, end: datetime,
                     now: datetime) -> list[DeadlineFigures]:
    """THE definition of the deadline figures (module docstring), for both reports."""
    rows: dict[tuple[str, str, str], DeadlineFigures] = {}
    for d in deadlines:
        due_at = _aware(d.due_at)
        if not start <= due_at < end:
            continue
        row = rows.setdefault((d.rule_id, d.agency, d.city), DeadlineFigures(d.rule_id, d.paragraph, d.agency, d.city))
        if d.status == "withdrawn":
            row.withdrawn += 1
            continue
        row.due += 1
        if d.status == "met":
            row.met += 1
        elif d.status == "completed late":
            row.completed_late += 1
            row.breached += 1
            row.lateness_seconds.append(float(d.lateness_seconds or 0))
        elif d.status == "breached":
            row.breached += 1
            row.breached_open += 1
            row.open += 1
            row.lateness_seconds.append(max(0.0, (now - due_at).total_seconds()))
        else:
            row.open += 1
    return sorted(rows.values(), key=lambda r: (r.rule_id, r.city, r.agency))


def states_from_sla(records: Iterable[Record], case_city: dict[str, str]) -> list[DeadlineState]:
    """Each deadline's state after rb.sla's records, in their order."""
    opened: dict[UUID, DeadlineOpened] = {}
    status: dict[UUID, tuple[Status, float | None]] = {}
    for record in records:
        if isinstance(record, DeadlineOpened):  # a re-timed deadline keeps its id and takes the new due time
            opened[record.deadline_id] = record
            status[record.deadline_id] = ("open", None)
        elif isinstance(record, DeadlineMet) and record.deadline_id in opened:
            status[record.deadline_id] = ("met", None)
        elif isinstance(record, DeadlineBreached) and record.deadline_id in opened:
            status[record.deadline_id] = ("breached", None)
        elif isinstance(record, DeadlineCompletedLate) and record.deadline_id in opened:
            status[record.deadline_id] = ("completed late", float(record.lateness_seconds))
        elif isinstance(record, DeadlineWithdrawn) and record.deadline_id in opened:
            status[record.deadline_id] = ("withdrawn", None)
    return [DeadlineState(o.rule_id, o.paragraph, o.responsible_agency_id or UNKNOWN, case_city.get(o.case_id, UNKNOWN),
                          o.due_at, *status[deadline_id])
            for deadline_id, o in opened.items()]


def sla_figures(records: Iterable[Record], case_city: dict[str, str], *, start: datetime, end: datetime,
                now: datetime) -> list[DeadlineFigures]:
    return deadline_figures(states_from_sla(records, case_city), start=start, end=end, now=now)
