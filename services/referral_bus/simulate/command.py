"""``referral-bus simulate FILE``: run a scenario, print JSON lines (or text), exit 0 — rejections
are results, not failures. Exit 2 when the scenario file itself is malformed; with ``--check``,
exit 1 when the scenario's ``expect:`` block does not hold."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, TextIO

from referral_bus.simulate.expect import check
from referral_bus.simulate.runner import Line, simulate
from referral_bus.simulate.scenario import ScenarioError, load_scenario, parse_time


def run_command(path: str, *, until: str | None = None, fmt: str = "json", check_expectations: bool = False,
                out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    from referral_bus.infra.runtime import load_runtime
    runtime = load_runtime()
    try:
        scenario = load_scenario(path, runtime.calendar)
        end = parse_time(until, scenario.start, runtime.calendar, "--until") if until else None
        lines = simulate(scenario, runtime, end)
    except ScenarioError as exc:
        print(f"malformed scenario: {exc}", file=err)
        return 2
    for line in lines:
        print(json.dumps(line, ensure_ascii=False) if fmt == "json" else as_text(line), file=out)
    if check_expectations:
        failures = check(scenario.expect, lines)
        for failure in failures:
            print(f"EXPECTATION FAILED {failure}", file=err)
        print(f"{len(scenario.expect) - len(failures)}/{len(scenario.expect)} expectations hold", file=err)
        return 1 if failures else 0
    return 0


def _clock(text: str) -> str:
    moment = datetime.fromisoformat(text)
    return f"{moment:%Y-%m-%d %a %H:%M}"


def as_text(line: Line) -> str:
    """One human-readable line per output line, for a policy officer reading a terminal."""
    kind = line["kind"]
    t = _clock(line["t"])
    if kind == "receipt":
        head = f"{t}  {line['step']:<26} {line['agency']} → {line['event_type']} on {line['case_id']}: {line['status']}"
        if line["status"] == "REJECTED":
            sent = " (refused before sending)" if line.get("refused_before_sending") else ""
            return f"{head}{sent} — {line.get('reason')}"
        return head + (f" #{line['sequence']}" if "sequence" in line else "") + (
            f"  ({line['note']})" if "note" in line else "")
    if kind == "delivery":
        what = line.get("event_type") or f"{line.get('record')} {line.get('rule_id')}"
        flags = ", redacted" if line.get("redacted") else ""
        flags += ", resent" if line.get("resent") else ""
        return (f"{t}  {'':<26}   inbox {line['to']:<28} ← {what} "
                f"({line['purpose']}, Annex B {line['paragraph']}{flags})")
    if kind == "sla":
        record: str = line["record"]
        detail: list[str] = []
        if "due_at" in line:
            detail.append(f"due {_clock(line['due_at'])}")
        if "responsible" in line and record != "EscalationRaised":
            detail.append(f"responsible {line['responsible']}")
        if record == "EscalationRaised":
            detail.append(f"level {line['level']} → {line.get('escalated_to')}")
        if "lateness_seconds" in line:
            detail.append(f"{_duration(line['lateness_seconds'])} late")
        return f"{t}  SLA {record:<22} {line['rule_id']} (Annex B {line['paragraph']}) on {line['case_id']}: " \
               + ", ".join(detail)
    if kind == "summary":
        opened = "; ".join(f"{d['rule_id']} on {d['case_id']} due {_clock(d['due_at'])}"
                           + (" (breached)" if d["breached"] else "") for d in line["open_deadlines"])
        later = f" ({line['steps_after_until']} more after this time, not run)" if line.get("steps_after_until") else ""
        return (f"{t}  END {line['title']}: {line['steps']} steps{later}, {line['accepted']} accepted, "
                f"{line['duplicate']} duplicate, {line['rejected']} rejected{_counts(line['rejections'])}, "
                f"{line['deliveries']} deliveries, SLA{_counts(line['sla']) or ' none'}; "
                f"still open: {opened or 'none'}")
    return json.dumps(line, ensure_ascii=False)


def _counts(counts: dict[str, Any]) -> str:
    return f" ({', '.join(f'{k} {v}' for k, v in counts.items())})" if counts else ""


def _duration(seconds: int) -> str:
    hours, rest = divmod(abs(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60} s"
