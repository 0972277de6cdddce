"""The Steering Committee report (Annex A of the manual: statistics on referred cases for the
mid-term, six-month and annual reviews), per location and period, from the read models:

- **referrals** made in the period by referring body, age band, category and outcome. A referral is
  a ``ReferralMade`` (4.5, 5.2) or an *emergency referral*: an ``EmergencyRemovalRequested`` or an
  ``EmergencyRemoval`` not preceded by a request still waiting for it — the professional who
  believes a child must be removed "must immediately … (c) Refer the case to the Manager or on-call
  Social Worker at the CAM/CSC" (Annex B 4.7(c)), and "If the child has been removed for his/her
  protection, the child shall be referred to the CAM/CSC for placement in temporary care" (4.8); the
  bus routes both events to the CAM/CSC as a referral (4.7(c)). A request followed by the removal is
  one referral, not two. Emergency removal requests, removals and children removed are also shown
  on lines of their own. Outcome: the initial assessment that followed (6.21–6.23, 4.10), the NGO's
  decision (5.18–5.20), withdrawn by the referrer, or pending. A referral withdrawn as a duplicate or
  as made in error is left out of these counts (it never was a referral of a child in need) and shown
  only among the withdrawals by reason.
- **caseload per CAM/CSC and per NGO** (:func:`referrals_and_caseload`), for Annex A: "The NGO's
  Programme Director, who shall report on the progress of the Programme, the type and the number of
  cases that the NGO is working on …" and "The Director of the CAM/CSC shall report on the progress
  of delivering child protection services under the model, the type and the number of cases that the
  CAM/CSC is working on …" — per agency: referrals received in the period (of which emergency),
  withdrawn by the referrer, declined (an NGO, 5.19), closed in the period, and open at its end. A
  case is on an agency's caseload from a referral to it — the CAM/CSC or NGO serving the referral's
  city (4.6, 5.15, 4.7(c)); for a child referred to the Guardianship under 3, the CAM/CSC from the
  third birthday (4.5(b)(i)) — until the agency closes it (``CaseClosed``; ``NGOCaseClosed``, 7.10),
  declines it (5.19) or every referral to it is withdrawn.
- **deadlines** per rule, responsible agency and city: the figures of ``sla report``, computed by the
  same function (``domain/deadlines/compliance.py`` :func:`deadline_figures`, where each is defined) — due,
  met, completed late, breached, breached and still open, open, withdrawn, met share, lateness.
- **cases** opened in the period; cases with a deadline still open now.

Times are the bus's recorded times (UTC; a read model on SQLite keeps no zone and is read as UTC).
Written as ``report.html`` (inline SVG charts, no scripts) and one CSV per table; no personal data.
"""

from __future__ import annotations

import csv
import html
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from referral_bus.contracts.base import City
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.deadlines.compliance import UNKNOWN, DeadlineFigures, DeadlineState, Status, deadline_figures
from referral_bus.projections.projector import age_band
from referral_bus.projections.tables import CaseRow, DeadlineRow, TimelineRow

_AGE_ORDER = ["0-2", "3-5", "6-11", "12-15", "16-17"]
EMERGENCY = "EMERGENCY_REMOVAL"   # the category of an emergency referral (4.7(c))
REMOVAL_REQUESTS = "emergency removal requests (4.7)"
REMOVALS = "emergency removals (4.7–4.8)"
CHILDREN_REMOVED = "children removed (4.8)"
#: withdrawal reasons that mean the referral should not have been made: left out of the referral counts
NOT_A_REFERRAL = frozenset({"DUPLICATE", "MADE_IN_ERROR"})
WITHDRAWALS = "withdrawn by the referrer (reason)"
_READ_MODEL_STATUS: dict[str, Status] = {"open": "open", "warned": "open", "breached": "breached", "met": "met",
                                         "late": "completed late", "withdrawn": "withdrawn"}
#: the events the referrals and caseloads are counted from (the ``case_events`` read model)
_COUNTED = ("ReferralMade", "EmergencyRemovalRequested", "EmergencyRemoval", "InitialAssessmentCompleted",
            "NGODecision", "ReferralWithdrawn", "CaseClosed", "NGOCaseClosed", "ChildAgeRecorded")
DEADLINE_COLUMNS = ["rule", "paragraph", "agency", "city", "due", "met", "completed late", "breached",
                    "breached, still open", "open", "withdrawn", "met share", "median lateness (s)", "p90 lateness (s)"]
CASELOAD_COLUMNS = ["agency", "kind", "referrals received", "of which emergency (4.7)", "withdrawn by the referrer",
                    "declined (5.19)", "closed", "open at the end of the period"]
NOTES = (
    "Referrals: ReferralMade (4.5, 5.2) and emergency referrals to the CAM/CSC (4.7(c), 4.8): a request for an "
    "emergency removal, or a removal no request preceded; a request and its removal are one referral. A referral "
    "its referrer withdrew as a duplicate or as made in error is not counted (only under 'withdrawn by the "
    "referrer'); one withdrawn because the child was found elsewhere or it was no longer needed is counted, with "
    "the outcome WITHDRAWN.",
    "Caseload: a case is on a CAM/CSC's or NGO's caseload from a referral to it (the agency serving the "
    "referral's city, 4.6, 5.15; for a child referred to the Guardianship under 3, from the third birthday, "
    "4.5(b)(i)) until it closes the case (CaseClosed; NGOCaseClosed, 7.10), declines it (NGO, "
    "5.19) or every referral to it is withdrawn; open = on the caseload at the end of the period.",
    "Deadlines: those whose due time falls in the period (a re-timed one by its latest due time), per rule, "
    "responsible agency and city, exactly as `referral-bus sla report` counts them: due = met + completed late + "
    "breached, still open + open, not breached; breached = completed late + breached, still open; open = still "
    "owed, breached or not; withdrawn = no longer owed before it was breached, not due. A deadline past its due "
    "time whose breach the SLA processor has not yet declared is open, not breached.",
)


@dataclass
class Referral:
    event_id: str
    case_id: str
    category: str          # CHILD_PROTECTION | NGO_SUPPORT | EMERGENCY_REMOVAL
    city: str
    referrer: str
    age_band: str
    made_at: datetime
    to: str | None         # the agency referred to: the one serving the city (4.5(a), 4.6, 4.7(c), 5.15)
    outcome: str | None = None
    withdrawn_because: str | None = None   # ReferralWithdrawn.reason, when its referrer withdrew it

    @property
    def counted(self) -> bool:
        """A referral withdrawn as a duplicate or as made in error never was a referral of a child in need:
        counting it would inflate the figures (the same child twice, or the wrong child)."""
        return self.withdrawn_because not in NOT_A_REFERRAL


@dataclass
class SteeringReport:
    city: str | None
    start: datetime
    end: datetime
    now: datetime | None = None
    referrals: dict[str, Counter[str]] = field(default_factory=dict)   # dimension → value → count
    emergency: dict[str, int] = field(default_factory=dict)            # its own lines (4.7–4.8)
    caseload: list[dict[str, object]] = field(default_factory=list)    # one row per CAM/CSC and NGO
    deadlines: list[DeadlineFigures] = field(default_factory=list)
    cases_opened: int = 0
    cases_with_open_deadlines: int = 0


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)   # SQLite keeps no zone; the bus writes UTC


def _serving(directory: Directory, kind: AgencyKind, city: str) -> str | None:
    try:
        agency = directory.serving(kind, City(city))
    except ValueError:
        return None
    return agency.id if agency else None


def _recipient(directory: Directory, category: str, city: str, age: int) -> str | None:
    if category == "NGO_SUPPORT":
        return _serving(directory, AgencyKind.NGO, city)                                   # 5.15
    if category == "CHILD_PROTECTION" and age < 3:
        return _serving(directory, AgencyKind.GUARDIANSHIP, city)                          # 4.5(a)
    return _serving(directory, AgencyKind.CAM_CSC, city)                                   # 4.5(b)(i), 4.6, 4.7(c)


def referrals_and_caseload(events: list[TimelineRow], directory: Directory, *, start: datetime, end: datetime,
                           city: str | None = None) -> tuple[list[Referral], Counter[str], list[dict[str, object]]]:
    """Referrals of every period (outcome as known now), the emergency lines of the period, and the
    caseload of each CAM/CSC and NGO (of ``city``, if given), from a case's events in order."""
    by_case: dict[str, list[TimelineRow]] = defaultdict(list)
    for row in events:
        by_case[row.case_id].append(row)
    referrals: list[Referral] = []
    emergency: Counter[str] = Counter({REMOVAL_REQUESTS: 0, REMOVALS: 0, CHILDREN_REMOVED: 0})
    tracked = {a.id: a for a in directory.agencies.values() if a.kind in (AgencyKind.CAM_CSC, AgencyKind.NGO)
               and (city is None or City(city) in a.cities)}
    load = {agency: Counter({c: 0 for c in CASELOAD_COLUMNS[2:]}) for agency in tracked}
    for case_id, rows in by_case.items():
        rows.sort(key=lambda r: r.sequence)
        pending: list[Referral] = []          # referrals still waiting for their outcome
        request_waiting = False               # an emergency removal request not yet followed by the removal
        active: dict[str, set[str]] = defaultdict(set)   # agency → referrals to it on its caseload
        under_3_with_guardianship = False     # 4.5(a): a child-protection referral of a child under 3, no CAM yet
        referred_in = UNKNOWN                 # the city of the case's latest referral
        for row in rows:
            at, f, kind = _utc(row.recorded_at), row.fields or {}, row.event_type
            in_period, before_end = start <= at < end, at < end
            made: Referral | None = None
            if kind == "ReferralMade" or kind == "EmergencyRemovalRequested" or (
                    kind == "EmergencyRemoval" and not request_waiting):
                category = str(f.get("referral_kind", EMERGENCY))
                age = int(f.get("child_age_years", 0))
                made = Referral(row.event_id, case_id, category, str(f.get("city", UNKNOWN)), row.producer_agency_id,
                                age_band(age), at, _recipient(directory, category, str(f.get("city")), age))
                referrals.append(made)
                pending.append(made)
            if kind == "EmergencyRemovalRequested":
                request_waiting = True
                emergency[REMOVAL_REQUESTS] += in_period and (city is None or f.get("city") == city)
            elif kind == "EmergencyRemoval":
                request_waiting = False
                if in_period and (city is None or f.get("city") == city):
                    emergency[REMOVALS] += 1
                    emergency[CHILDREN_REMOVED] += bool(f.get("child_removed"))
            if made is not None:
                referred_in = made.city
                under_3_with_guardianship = (made.category == "CHILD_PROTECTION" and made.age_band == "0-2") or (
                    under_3_with_guardianship and made.category == "NGO_SUPPORT")
            if kind == "ChildAgeRecorded" and f.get("child_age_years") == 3 and under_3_with_guardianship:
                # 4.5(b)(i): at 3 the case passes to the CAM/CSC of the city the child was referred in
                under_3_with_guardianship = False
                made = Referral(row.event_id, case_id, "CHILD_PROTECTION", referred_in, row.producer_agency_id,
                                "3-5", at, _serving(directory, AgencyKind.CAM_CSC, referred_in))
                # a referral for the caseload only: the child was referred before
            if made is not None and made.to in load and before_end:
                active[made.to].add(made.event_id)
                load[made.to]["referrals received"] += in_period
                load[made.to]["of which emergency (4.7)"] += in_period and made.category == EMERGENCY
            if kind == "InitialAssessmentCompleted":       # 6.21–6.23; 4.10 after a removal
                for r in [r for r in pending if r.category in ("CHILD_PROTECTION", EMERGENCY)]:
                    r.outcome = str(f.get("outcome"))
                    pending.remove(r)
            elif kind == "NGODecision":                    # 5.18–5.20
                for r in [r for r in pending if r.category == "NGO_SUPPORT"]:
                    r.outcome = str(f.get("decision"))
                    pending.remove(r)
                ngo = row.producer_agency_id
                if f.get("decision") != "ACCEPTED" and before_end and active.get(ngo) and ngo in load:
                    load[ngo]["declined (5.19)"] += in_period
                    active[ngo].clear()
            elif kind == "ReferralWithdrawn":              # issue 15: the referrer withdraws its referral
                withdrawn = str(f.get("referral_event_id"))
                for r in [r for r in pending if r.event_id == withdrawn]:
                    r.outcome, r.withdrawn_because = "WITHDRAWN", str(f.get("reason"))
                    pending.remove(r)
                    if r.category == EMERGENCY:           # a withdrawn removal request waits for no removal
                        request_waiting = False
                for agency, ids in active.items():
                    if withdrawn in ids and before_end:
                        ids.discard(withdrawn)
                        load[agency]["withdrawn by the referrer"] += in_period
            elif kind in ("CaseClosed", "NGOCaseClosed"):   # 6.22, 6.30, 6.51, 6.78; 7.10
                agency = row.producer_agency_id
                if before_end and active.get(agency) and agency in load:
                    load[agency]["closed"] += in_period
                    active[agency].clear()
        for agency, ids in active.items():
            if ids and agency in load:
                load[agency]["open at the end of the period"] += 1
    caseload: list[dict[str, object]] = [
        {"agency": agency, "kind": tracked[agency].kind.value, **counts}
        for agency, counts in sorted(load.items(), key=lambda kv: (tracked[kv[0]].kind.value, kv[0]))]
    return referrals, emergency, caseload


def build_report(engine: Engine, start: datetime, end: datetime, city: str | None = None, *,
                 directory: Directory | None = None, now: datetime | None = None) -> SteeringReport:
    if directory is None:
        from referral_bus.infra.runtime import load_runtime
        directory = load_runtime().directory
    now = now or datetime.now(UTC)
    report = SteeringReport(city, start, end, now)
    with Session(engine) as session:
        cities = {c.case_id: c.city for c in session.scalars(select(CaseRow))}

        def in_city(case_id: str) -> bool:
            return city is None or cities.get(case_id) == city
        events = list(session.scalars(select(TimelineRow).where(TimelineRow.event_type.in_(_COUNTED))))
        everything, emergency, report.caseload = referrals_and_caseload(events, directory, start=start, end=end,
                                                                        city=city)
        made = [r for r in everything if (city is None or r.city == city) and start <= r.made_at < end]
        referrals = [r for r in made if r.counted]
        report.referrals = {
            "referring body": Counter(r.referrer for r in referrals),
            "age band": Counter({b: n for b in _AGE_ORDER if (n := sum(r.age_band == b for r in referrals))}),
            "category": Counter(r.category for r in referrals),
            "outcome": Counter(r.outcome or "pending" for r in referrals),
            WITHDRAWALS: Counter(r.withdrawn_because for r in made if r.withdrawn_because),
        }
        report.emergency = dict(emergency)
        states: list[DeadlineState] = []
        open_cases: set[str] = set()
        for d in session.scalars(select(DeadlineRow)):
            if not in_city(d.case_id):
                continue
            status = _READ_MODEL_STATUS.get(d.status, "open")
            if status in ("open", "breached"):
                open_cases.add(d.case_id)
            states.append(DeadlineState(d.rule_id, d.paragraph, d.responsible_agency_id or UNKNOWN,
                                        cities.get(d.case_id) or UNKNOWN, d.due_at, status,
                                        None if d.lateness_seconds is None else float(d.lateness_seconds)))
        report.deadlines = deadline_figures(states, start=start, end=end, now=now)
        report.cases_opened = sum(1 for c in session.scalars(select(CaseRow))
                                  if in_city(c.case_id) and start <= _utc(c.opened_at) < end)
        report.cases_with_open_deadlines = len(open_cases)
    return report


def _bars(title: str, counts: Counter[str]) -> str:
    """A horizontal SVG bar chart; labels are escaped."""
    if not counts:
        return f"<h3>{html.escape(title)}</h3><p>none in this period</p>"
    width, bar_h, label_w = 640, 22, 230
    top = max(counts.values())
    items = list(counts.items()) if title == "age band" else counts.most_common()
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="{width}" height="{bar_h * len(items) + 10}">']
    for i, (label, n) in enumerate(items):
        w = int((width - label_w - 60) * n / top)
        y = i * bar_h + 5
        parts.append(f'<text x="0" y="{y + 15}" font-size="13">{html.escape(str(label))}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h - 6}" fill="#2b6cb0"/>'
                     f'<text x="{label_w + w + 6}" y="{y + 15}" font-size="13">{n}</text>')
    parts.append("</svg>")
    return f"<h3>{html.escape(title)}</h3>" + "".join(parts)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _table(columns: list[str], rows: list[dict[str, Any]]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f'<table><tr>{"".join(f"<th>{html.escape(c)}</th>" for c in columns)}</tr>{body}</table>'


def _csv(path: Path, columns: list[str], rows: list[dict[str, Any]], where: str) -> Path:
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=["location", *columns])
        out.writeheader()
        for row in rows:
            out.writerow({"location": where, **{c: "" if row[c] is None else row[c] for c in columns}})
    return path


def write_report(report: SteeringReport, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    where = report.city or "all locations"
    period = f"{report.start.date().isoformat()} – {report.end.date().isoformat()}"
    written = []
    path = directory / "referrals.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["location", "period_start", "period_end", "dimension", "value", "referrals"])
        for dimension, counts in report.referrals.items():
            for value, n in counts.items():
                out.writerow([where, report.start.isoformat(), report.end.isoformat(), dimension, value, n])
        for line, n in report.emergency.items():
            out.writerow([where, report.start.isoformat(), report.end.isoformat(), "emergency", line, n])
    written.append(path)
    deadlines = [row.shared() for row in report.deadlines]
    written.append(_csv(directory / "deadlines.csv", DEADLINE_COLUMNS, deadlines, where))
    written.append(_csv(directory / "caseload.csv", CASELOAD_COLUMNS, report.caseload, where))
    path = directory / "notes.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["note"])
        out.writerows([note] for note in NOTES)
    written.append(path)
    emergency = "".join(f"<li>{html.escape(line)}: <b>{n}</b></li>" for line, n in report.emergency.items())
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in NOTES)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Steering Committee report — {html.escape(where)}, {html.escape(period)}</title>
<style>body{{font-family:sans-serif;max-width:72rem;margin:2rem auto}}td,th{{border:1px solid #ccc;padding:.2rem .5rem}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Steering Committee report</h1>
<p>{html.escape(where)}, deadlines and referrals in {html.escape(period)} (Annex A: mid-term, six-month and annual
reviews). Generated from the referral-bus read models; no personal data.</p>
<h2>Cases</h2><p>Opened in the period: <b>{report.cases_opened}</b>. With a deadline still open now:
<b>{report.cases_with_open_deadlines}</b>.</p>
<h2>Caseload per CAM/CSC and NGO</h2>{_table(CASELOAD_COLUMNS, report.caseload)}
<h2>Referrals</h2>{"".join(_bars(d, c) for d, c in report.referrals.items())}
<h3>Emergency removals</h3><ul>{emergency}</ul>
<h2>Deadlines per rule, responsible agency and city</h2>{_table(DEADLINE_COLUMNS, deadlines)}
<h2>How the figures are counted</h2><ul>{notes}</ul>
</body></html>
"""
    path = directory / "report.html"
    path.write_text(page)
    written.append(path)
    return written
