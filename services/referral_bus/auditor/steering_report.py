"""The Steering Committee report (Annex A of the manual: statistics on referred cases for the
mid-term, six-month and annual reviews), per location and period, from the read models:
referrals by referring body, age band, category and outcome; deadlines per rule and agency
(met, completed late, breached and still open, open); open cases. Written as ``report.html``
(inline SVG charts, no scripts) and one CSV per table."""

from __future__ import annotations

import csv
import html
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from referral_bus.projections.tables import CaseRow, DeadlineRow, ReferralRow

_AGE_ORDER = ["0-2", "3-5", "6-11", "12-15", "16-17"]


@dataclass
class SteeringReport:
    city: str | None
    start: datetime
    end: datetime
    referrals: dict[str, Counter[str]] = field(default_factory=dict)   # dimension → value → count
    deadlines: list[dict[str, object]] = field(default_factory=list)
    cases_opened: int = 0
    cases_with_open_deadlines: int = 0


def _in_period(moment: datetime, start: datetime, end: datetime) -> bool:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=start.tzinfo)  # SQLite keeps no zone
    return start <= moment < end


def build_report(engine: Engine, start: datetime, end: datetime, city: str | None = None) -> SteeringReport:
    report = SteeringReport(city, start, end)
    with Session(engine) as session:
        cities = {c.case_id: c.city for c in session.scalars(select(CaseRow))}
        def in_city(case_id: str) -> bool:
            return city is None or cities.get(case_id) == city
        referrals = [r for r in session.scalars(select(ReferralRow))
                     if (city is None or r.city == city) and _in_period(r.made_at, start, end)]
        report.referrals = {
            "referring body": Counter(r.referring_agency_id for r in referrals),
            "age band": Counter({b: n for b in _AGE_ORDER if (n := sum(r.age_band == b for r in referrals))}),
            "category": Counter(r.referral_kind for r in referrals),
            "outcome": Counter(r.outcome or "pending" for r in referrals),
        }
        rows: dict[tuple[str, str, str], Counter[str]] = {}
        open_cases: set[str] = set()
        for d in session.scalars(select(DeadlineRow)):
            if not in_city(d.case_id):
                continue
            if d.status in ("open", "warned", "breached"):
                open_cases.add(d.case_id)
            if _in_period(d.due_at, start, end) and d.status != "withdrawn":   # no longer owed: not due
                key = (d.rule_id, d.paragraph, d.responsible_agency_id or "(unknown)")
                rows.setdefault(key, Counter())[d.status] += 1
        for (rule_id, paragraph, agency), counts in sorted(rows.items()):
            report.deadlines.append({
                "rule": rule_id, "paragraph": paragraph, "agency": agency, "due": sum(counts.values()),
                "met": counts["met"], "completed late": counts["late"], "breached, still open": counts["breached"],
                "open": counts["open"] + counts["warned"]})
        report.cases_opened = sum(1 for c in session.scalars(select(CaseRow))
                                  if in_city(c.case_id) and _in_period(c.opened_at, start, end))
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
    written.append(path)
    path = directory / "deadlines.csv"
    columns = ["rule", "paragraph", "agency", "due", "met", "completed late", "breached, still open", "open"]
    with path.open("w", newline="") as f:
        rows = csv.DictWriter(f, fieldnames=["location", *columns])
        rows.writeheader()
        for row in report.deadlines:
            rows.writerow({"location": where, **row})
    written.append(path)
    table = "".join("<tr>" + "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in columns) + "</tr>"
                    for row in report.deadlines)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Steering Committee report — {html.escape(where)}, {html.escape(period)}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}}td,th{{border:1px solid #ccc;padding:.2rem .5rem}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Steering Committee report</h1>
<p>{html.escape(where)}, deadlines and referrals in {html.escape(period)} (Annex A: mid-term, six-month and annual
reviews). Generated from the referral-bus read models; no personal data.</p>
<h2>Cases</h2><p>Opened in the period: <b>{report.cases_opened}</b>. With a deadline still open now:
<b>{report.cases_with_open_deadlines}</b>.</p>
<h2>Referrals</h2>{"".join(_bars(d, c) for d, c in report.referrals.items())}
<h2>Deadlines per rule and responsible agency</h2>
<table><tr>{"".join(f"<th>{html.escape(c)}</th>" for c in columns)}</tr>{table}</table>
</body></html>
"""
    path = directory / "report.html"
    path.write_text(page)
    written.append(path)
    return written
