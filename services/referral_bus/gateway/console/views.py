"""What the operations console shows, from the read models (``projections/tables.py``): the live
escalations and open deadlines with how late each is, who may see which, the compliance figures
(``domain/deadlines/compliance.py`` through the Steering Committee report's reading of the read
models — the one definition), and a case's timeline as of a moment (``auditor/point_in_time.py``).

No FastAPI here: plain functions over a SQLAlchemy engine, so the rules of visibility are tested
without HTTP. Every time leaves as ISO-8601 in Almaty time with its offset (``infra/local_time.py``);
the read models keep UTC (SQLite drops the zone, hence ``_utc``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from referral_bus.auditor.point_in_time import case_from_read_models, told_from_read_models
from referral_bus.auditor.steering_report import build_report
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.rule_table import RULES_BY_ID
from referral_bus.infra.local_time import iso_almaty
from referral_bus.projections.tables import CaseRow, DeadlineRow, EscalationRow, TimelineRow

#: Principals that see every city and agency (docs/security.md: their Kafka ACLs already let them
#: read rb.escalations; docs/console.md).
STAFF = frozenset({"rb-operations", "rb-auditor"})
#: The read-model statuses of a deadline still owed.
OWED = ("open", "warned", "breached")
ACKNOWLEDGED = "EscalationAcknowledged"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def at(moment: datetime | None) -> str | None:
    """A read-model time as ISO-8601 in Almaty, to the second, with the offset."""
    return None if moment is None else iso_almaty(_utc(moment).replace(microsecond=0))


def how_late(seconds: float | None) -> str:
    """``2 h 05 min late`` — for people; ``-`` when not late."""
    if seconds is None or seconds <= 0:
        return "-"
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)} s late"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    longer = f"{days} d " * bool(days) + (f"{hours} h " if hours or days else "")
    return longer + (f"{mins:02d}" if longer else f"{mins}") + " min late"


@dataclass(frozen=True)
class Filters:
    city: str | None = None
    agency: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a staff principal sees everything, an agency its own board."""

    principal: str
    staff: bool
    authentication: str


def _visible_deadlines(session: Session, viewer: Viewer) -> set[str] | None:
    """The deadline ids an agency may see: those it is responsible for, and those whose ladder
    reached it (any level). None: everything (staff)."""
    if viewer.staff:
        return None
    own = set(session.scalars(select(DeadlineRow.deadline_id)
                              .where(DeadlineRow.responsible_agency_id == viewer.principal)))
    reached = set(session.scalars(select(EscalationRow.deadline_id)
                                  .where(EscalationRow.escalated_to_agency_id == viewer.principal)))
    return own | reached


def _acknowledgements(session: Session, case_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """deadline id → the acknowledgements on the case log (level, who, when, event id)."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not case_ids:
        return out
    rows = session.scalars(select(TimelineRow).where(TimelineRow.event_type == ACKNOWLEDGED,
                                                     TimelineRow.case_id.in_(case_ids)))
    for row in rows:
        fields = row.fields or {}
        out.setdefault(str(fields.get("deadline_id")), []).append(
            {"level": int(fields.get("level") or 0), "by": row.producer_agency_id,
             "at": at(row.recorded_at), "event_id": row.event_id})
    return out


def _matches(filters: Filters, city: str | None, agencies: set[str | None], rule_id: str) -> bool:
    return ((filters.city is None or city == filters.city)
            and (filters.agency is None or filters.agency in agencies)
            and (filters.rule is None or rule_id == filters.rule or rule_id.startswith(filters.rule + "-")))


def escalations(engine: Engine, viewer: Viewer, filters: Filters, state: str, now: datetime) -> list[dict[str, Any]]:
    """Escalations, newest level first. ``state``: open (the deadline still owed and no rung has
    acknowledged this level), acknowledged, closed (the deadline was completed late), or all."""
    with Session(engine) as session:
        visible = _visible_deadlines(session, viewer)
        query = select(EscalationRow, DeadlineRow, CaseRow).join(
            DeadlineRow, DeadlineRow.deadline_id == EscalationRow.deadline_id, isouter=True).join(
            CaseRow, CaseRow.case_id == EscalationRow.case_id, isouter=True)
        rows = [r for r in session.execute(query).all() if visible is None or r[0].deadline_id in visible]
        acks = _acknowledgements(session, {r[0].case_id for r in rows})
    out = []
    for esc, deadline, case in rows:
        city = case.city if case is not None else None
        responsible = deadline.responsible_agency_id if deadline is not None else None
        if not _matches(filters, city, {responsible, esc.escalated_to_agency_id}, esc.rule_id):
            continue
        covering = [a for a in acks.get(esc.deadline_id, []) if a["level"] >= esc.level]
        status = deadline.status if deadline is not None else "breached"
        due = _utc(deadline.due_at) if deadline is not None else None
        if covering:
            ladder = "acknowledged"
        elif status in OWED:
            ladder = "open"
        else:
            ladder = "closed"
        if ladder != state and state != "all":
            continue
        if deadline is not None and deadline.lateness_seconds is not None:
            late: float | None = float(deadline.lateness_seconds)
        else:
            late = (now - due).total_seconds() if due is not None else None
        rule = RULES_BY_ID.get(esc.rule_id)
        out.append({
            "escalation_id": esc.escalation_id, "deadline_id": esc.deadline_id, "case_id": esc.case_id,
            "city": city, "rule_id": esc.rule_id, "paragraph": deadline.paragraph if deadline else
            (rule.paragraph if rule else None), "title": rule.title if rule else None, "level": esc.level,
            "escalated_to": esc.escalated_to_agency_id, "responsible": responsible,
            "raised_at": at(esc.raised_for), "due_at": at(due), "deadline_status": status,
            "state": ladder, "late_seconds": None if late is None else max(0, int(late)), "late": how_late(late),
            "acknowledged": covering[0] if covering else None})
    return sorted(out, key=lambda e: (e["state"] != "open", e["due_at"] or "", -e["level"]), reverse=False)


def deadlines(engine: Engine, viewer: Viewer, filters: Filters, overdue_only: bool,
              now: datetime) -> list[dict[str, Any]]:
    """Deadlines still owed (open, warned, breached), soonest due first."""
    with Session(engine) as session:
        visible = _visible_deadlines(session, viewer)
        query = select(DeadlineRow, CaseRow).join(CaseRow, CaseRow.case_id == DeadlineRow.case_id, isouter=True) \
            .where(DeadlineRow.status.in_(OWED)).order_by(DeadlineRow.due_at)
        rows = [r for r in session.execute(query).all() if visible is None or r[0].deadline_id in visible]
        levels: dict[str, int] = {}
        for deadline_id, level in session.execute(select(EscalationRow.deadline_id, EscalationRow.level)):
            levels[deadline_id] = max(level, levels.get(deadline_id, 0))
    out = []
    for deadline, case in rows:
        city = case.city if case is not None else None
        if not _matches(filters, city, {deadline.responsible_agency_id}, deadline.rule_id):
            continue
        due = _utc(deadline.due_at)
        late = (now - due).total_seconds()
        if overdue_only and late <= 0:
            continue
        rule = RULES_BY_ID.get(deadline.rule_id)
        out.append({
            "deadline_id": deadline.deadline_id, "case_id": deadline.case_id, "city": city,
            "rule_id": deadline.rule_id, "paragraph": deadline.paragraph, "title": rule.title if rule else None,
            "responsible": deadline.responsible_agency_id, "opened_at": at(deadline.opened_at), "due_at": at(due),
            "status": deadline.status, "overdue": late > 0, "late_seconds": max(0, int(late)),
            "late": how_late(late), "escalation_level": levels.get(deadline.deadline_id, 0)})
    return out


def visible_deadline_ids(engine: Engine, viewer: Viewer) -> set[str] | None:
    """What ``_visible_deadlines`` says, in a session of its own (the explain endpoint's filter)."""
    with Session(engine) as session:
        return _visible_deadlines(session, viewer)


def may_read_case(engine: Engine, viewer: Viewer, case_id: str) -> bool:
    """Staff: any case; an agency: a case on its board (a deadline it owes or whose ladder reached it)."""
    if viewer.staff:
        return True
    with Session(engine) as session:
        visible = _visible_deadlines(session, viewer) or set()
        return bool(visible and session.scalar(select(DeadlineRow.deadline_id).where(
            DeadlineRow.case_id == case_id, DeadlineRow.deadline_id.in_(visible)).limit(1)))


def timeline(engine: Engine, case_id: str, as_of: datetime, agency: str | None,
             with_events: bool) -> dict[str, Any]:
    """The case as the log had it at ``as_of`` (``case_from_read_models``) and what ``agency`` had
    been told of it by then (``told_from_read_models``): the same answers as ``referral-bus told``."""
    out: dict[str, Any] = {"case_id": case_id, "as_of": at(as_of), "agency": agency, "events": None, "told": None}
    if with_events:
        members = case_from_read_models(engine, case_id, as_of)
        with Session(engine) as session:
            rows = {r.event_id: r for r in session.scalars(
                select(TimelineRow).where(TimelineRow.case_id == case_id,
                                          TimelineRow.event_id.in_([m[2] for m in members])))}
        out["events"] = [{"sequence": seq, "event_type": kind, "event_id": event_id,
                          "producer": rows[event_id].producer_agency_id if event_id in rows else None,
                          "occurred_at": at(rows[event_id].occurred_at) if event_id in rows else None,
                          "recorded_at": at(rows[event_id].recorded_at) if event_id in rows else None}
                         for seq, kind, event_id in members]
    if agency is not None:
        out["told"] = [{"delivered_at": at(t.delivered_at), "delivery_id": t.delivery_id,
                        "record_type": t.record_type, "event_id": t.event_id, "paragraph": t.paragraph,
                        "purpose": t.purpose} for t in told_from_read_models(engine, agency, case_id, as_of)]
    return out


def compliance(engine: Engine, directory: Directory, viewer: Viewer, city: str | None, start: datetime,
               end: datetime, now: datetime) -> list[dict[str, Any]]:
    """The deadline figures per rule, responsible agency and city, as the Steering Committee report
    computes them from the read models (``deadline_figures``: one definition). An agency sees its
    own rows."""
    report = build_report(engine, start, end, city, directory=directory, now=now)
    rows = [r for r in report.deadlines if viewer.staff or r.agency == viewer.principal]
    return [{"rule_id": r.rule_id, "paragraph": r.paragraph, "agency": r.agency, "city": r.city, "due": r.due,
             "met": r.met, "completed_late": r.completed_late, "breached": r.breached,
             "breached_open": r.breached_open, "open": r.open, "withdrawn": r.withdrawn, "met_share": r.met_share,
             "median_lateness_seconds": r.median_lateness, "p90_lateness_seconds": r.p90_lateness} for r in rows]


def default_window(now: datetime) -> tuple[datetime, datetime]:
    """The compliance chart's default: deadlines due in the last 30 days and the next 30."""
    return now - timedelta(days=30), now + timedelta(days=30)
