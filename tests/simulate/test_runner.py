"""The simulation itself: the simulated clock, the router's answers, the engine's ladder in time
order, and the scenario errors that only show when the timeline runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from referral_bus.contracts import EVENT_TYPES
from referral_bus.infra.runtime import Runtime
from referral_bus.simulate import (
    ScenarioError,
    check,
    load_scenario,
    parse_scenario,
    simulate,
)
from tests.simulate.conftest import ROOT

REMOVAL = """\
title: removal
start: 2026-03-02T09:00:00+05:00
case: ALA-1
steps:
  - id: removal
    at: +0m
    agency: police-juvenile-almaty
    event: EmergencyRemoval
    payload: {city: ALMATY, child_age_years: 9, child_removed: false, cam_social_worker_present: false}
"""


def run(runtime: Runtime, text: str, until: datetime | None = None) -> list[dict[str, Any]]:
    return simulate(parse_scenario(text, runtime.calendar), runtime, until)


def of(lines: list[dict[str, Any]], **fields: Any) -> list[dict[str, Any]]:
    return [line for line in lines if all(line.get(k) == v for k, v in fields.items())]


def test_router_clock_and_envelope_follow_the_scenario(runtime: Runtime) -> None:
    lines = run(runtime, REMOVAL)
    (receipt,) = of(lines, kind="receipt")
    assert receipt["t"] == "2026-03-02T09:00:00+05:00" and receipt["status"] == "ACCEPTED"
    assert receipt["topic"] == runtime.catalogue.ingress("police-juvenile-almaty")
    (opened,) = of(lines, record="DeadlineOpened")
    assert opened["due_at"] == "2026-03-02T12:00:00+05:00"
    # no until: the clock stops at the last step, the deadline is still open
    assert lines[-1]["open_deadlines"][0]["rule_id"] == "4.8-removal-outcome-3h"


def test_until_runs_the_ladder_at_its_simulated_times(runtime: Runtime) -> None:
    scenario = parse_scenario(REMOVAL, runtime.calendar)
    lines = simulate(scenario, runtime, scenario.start + timedelta(hours=9))
    ladder = [(line["record"], line.get("level"), line["t"][11:16]) for line in of(lines, kind="sla")]
    assert ladder == [("DeadlineOpened", None, "09:00"), ("DeadlineWarning", None, "11:00"),
                      ("DeadlineBreached", None, "12:00"), ("EscalationRaised", 1, "12:00"),
                      ("EscalationRaised", 2, "14:00"), ("EscalationRaised", 3, "18:00")]
    assert [line["to"] for line in of(lines, kind="delivery", source="sla", level=3)] == \
        ["steering-committee", "police-juvenile-almaty"]
    short = simulate(scenario, runtime, scenario.start + timedelta(hours=2, minutes=30))
    assert of(short, record="DeadlineWarning") and not of(short, record="DeadlineBreached")


def test_ladder_steps_are_interleaved_with_later_steps_in_time_order(runtime: Runtime) -> None:
    lines = run(runtime, REMOVAL + """\
  - id: report
    at: +4h
    agency: police-juvenile-almaty
    event: RemovalOutcomeReported
    payload: {child_removed: false, placed_in_temporary_care: false, referred_to_cam: false}
""")
    order = [line.get("record") or line["kind"] for line in lines if line["kind"] in ("sla", "receipt")]
    assert order == ["receipt", "DeadlineOpened", "DeadlineWarning", "DeadlineBreached", "EscalationRaised",
                     "receipt", "DeadlineCompletedLate"]


def test_event_ids_are_deterministic_per_scenario_and_label(runtime: Runtime) -> None:
    first = of(run(runtime, REMOVAL), kind="receipt")[0]["event_id"]
    assert first == of(run(runtime, REMOVAL), kind="receipt")[0]["event_id"]
    assert first != of(run(runtime, REMOVAL.replace("title: removal", "title: other")), kind="receipt")[0]["event_id"]


def test_acknowledging_an_escalation_not_raised_yet_is_a_scenario_error(runtime: Runtime) -> None:
    with pytest.raises(ScenarioError) as exc:
        run(runtime, REMOVAL + """\
  - id: too-soon
    at: +1h
    agency: police-department-almaty
    acknowledge: {rule: 4.8-removal-outcome-3h, level: 1}
""")
    assert "steps[1] ('too-soon').acknowledge" in str(exc.value)
    assert "no escalation of 4.8-removal-outcome-3h level 1 on case ALA-1" in str(exc.value)


def test_unknown_agency_needs_an_ingress(runtime: Runtime) -> None:
    with pytest.raises(ScenarioError,
                       match=r"steps\[0\] \('removal'\)\.agency: 'police-juvenile-almaty2'.*did you mean"):
        run(runtime, REMOVAL.replace("agency: police-juvenile-almaty", "agency: police-juvenile-almaty2"))


def test_an_ingress_must_be_an_agencys(runtime: Runtime) -> None:
    with pytest.raises(ScenarioError, match=r"steps\[0\] \('removal'\)\.ingress: 'bakery' is not in agencies.yaml"):
        run(runtime, REMOVAL.replace("agency: police-juvenile-almaty",
                                     "agency: police-juvenile-almaty\n    ingress: bakery"))


def test_until_before_later_steps_stops_the_story_there(runtime: Runtime) -> None:
    scenario = load_scenario(ROOT / "examples" / "emergency-removal-late-report.yaml", runtime.calendar)
    lines = simulate(scenario, runtime, scenario.start + timedelta(hours=3, minutes=15))
    assert [line["step"] for line in of(lines, kind="receipt")] == ["removal", "prosecutor-notice"]
    assert of(lines, record="DeadlineBreached") and not of(lines, record="DeadlineCompletedLate")
    assert (lines[-1]["steps"], lines[-1]["steps_after_until"]) == (2, 1)


def test_personal_data_goes_to_full_copies_only(runtime: Runtime) -> None:
    lines = run(runtime, REMOVAL.replace("    payload:",
                                         "    personal_data: {child_name: Fictional Name}\n    payload:"))
    deliveries = of(lines, kind="delivery", source="router")
    assert deliveries and all(d["with_personal_data"] and not d["redacted"] for d in deliveries)
    assert "Fictional Name" not in str(lines)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_gets_a_receipt_even_when_empty(runtime: Runtime, event_type: str) -> None:
    """A new event type needs no simulator change, and a payload that does not fit is a REJECTED
    receipt naming the field — never a crash."""
    lines = run(runtime, REMOVAL + f"""\
  - id: probe
    at: +1h
    agency: cam-almaty
    event: {event_type}
    payload: {{}}
""")
    (receipt,) = of(lines, kind="receipt", step="probe")
    assert receipt["status"] in ("ACCEPTED", "REJECTED")
    if receipt["status"] == "REJECTED":
        assert receipt["reason_code"] and receipt["reason"]


def test_check_reports_what_is_missing(runtime: Runtime) -> None:
    scenario = load_scenario(ROOT / "examples" / "emergency-removal-late-report.yaml", runtime.calendar)
    lines = simulate(scenario, runtime)
    broken = parse_scenario(REMOVAL + "expect:\n  - {kind: sla, record: DeadlineMet, rule_id: 4.8-removal-outcome-3h}\n"
                            "  - {kind: receipt, count: 2}\n", runtime.calendar)
    failures = check(broken.expect, lines)
    assert len(failures) == 2
    assert failures[0].startswith("expect[0] (line 11): wanted at least one line") and "nearest" in failures[0]
    assert "exactly 2 line(s)" in failures[1] and "found 3" in failures[1]


def test_resubmitting_a_submission_that_was_never_sent_is_a_scenario_error(runtime: Runtime) -> None:
    with pytest.raises(ScenarioError,
                       match=r"steps\[1\] \('again'\)\.resubmit: step 'removal' was refused before sending"):
        run(runtime, REMOVAL.replace(", cam_social_worker_present: false",
                                     "") + "  - {id: again, at: +1h, resubmit: removal}\n")
