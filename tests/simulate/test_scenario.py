"""The scenario parser: times and offsets, and errors that name the line, the step and the field."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from referral_bus.domain.agencies import AgencyKind
from referral_bus.domain.deadlines.calendar import WorkingCalendar
from referral_bus.simulate.scenario import ScenarioError, parse_scenario, parse_time

ALMATY = timezone(timedelta(hours=5))
START = datetime(2026, 3, 20, 9, 0, tzinfo=ALMATY)   # a Friday, before the Nauryz holidays
CALENDAR = WorkingCalendar()

HEAD = """\
title: t
start: 2026-03-20T09:00:00+05:00
case: CASE-1
steps:
"""


def parse(steps: str, head: str = HEAD, tail: str = ""):  # type: ignore[no-untyped-def]
    return parse_scenario(head + steps + tail, CALENDAR, source="s.yaml")


def error(text: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, CALENDAR, source="s.yaml")
    return str(exc.value)


@pytest.mark.parametrize("text, expected", [
    ("+0m", START),
    ("+90m", START + timedelta(minutes=90)),
    ("+1h30m", START + timedelta(hours=1, minutes=30)),
    ("+3d", START + timedelta(days=3)),
    ("+1w", START + timedelta(weeks=1)),
    ("-2h", START - timedelta(hours=2)),
    ("+45s", START + timedelta(seconds=45)),
    ("+1.5h", START + timedelta(hours=1, minutes=30)),
    ("2026-03-21T10:00:00+05:00", datetime(2026, 3, 21, 10, tzinfo=ALMATY)),
    ("2026-03-21T05:00:00Z", datetime(2026, 3, 21, 10, tzinfo=ALMATY)),
])
def test_times_and_offsets(text: str, expected: datetime) -> None:
    assert parse_time(text, START, CALENDAR, "x") == expected


def test_working_day_offsets_skip_weekends_and_holidays() -> None:
    # Fri 20 March + 1 working day: 21-23 March are Nauryz, 24-25 the days off observed for it (holidays
    # library, country KZ) → Thu 26 March, at the same local time
    assert parse_time("+1wd", START, CALENDAR, "x") == datetime(2026, 3, 26, 9, tzinfo=ALMATY)
    assert parse_time("+1wd2h", START, CALENDAR, "x") == datetime(2026, 3, 26, 11, tzinfo=ALMATY)
    assert parse_time("-1wd", START, CALENDAR, "x") == datetime(2026, 3, 19, 9, tzinfo=ALMATY)


@pytest.mark.parametrize("value, fragment", [
    ("3h", "neither an ISO-8601 time nor an offset"),
    ("+2h1wd", "working days ('wd') come first"),
    ("2026-03-20T09:00:00", "needs a time zone"),
    (5, "expected a time"),
    (date(2026, 3, 20), "is a date"),
])
def test_bad_times(value: object, fragment: str) -> None:
    with pytest.raises(ScenarioError, match="where: .*" + fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_time(value, START, CALENDAR, "where")


def test_a_step_is_parsed_with_defaults_and_time_payload_fields() -> None:
    scenario = parse("""\
  - id: meeting
    at: +1h
    agency: cam-almaty
    event: ChildProtectionMeetingScheduled
    payload: {meeting_id: M1, scheduled_for: +2wd, invited_agency_ids: [school-almaty]}
  - at: +2h
    agency: school-almaty
    case: CASE-2
    event: ReferralMade
    ingress: school
""", tail="until: +3d\n")
    first, second = scenario.steps
    assert (first.label, first.at, first.case_id, first.actor) == ("meeting", START + timedelta(hours=1), "CASE-1",
                                                                   "sim-actor")
    assert first.payload["scheduled_for"] == datetime(2026, 3, 27, 9, tzinfo=ALMATY)   # offsets count from start
    assert (second.label, second.case_id, second.ingress, second.payload) == ("step-2", "CASE-2", AgencyKind.SCHOOL, {})
    assert scenario.until == START + timedelta(days=3)


def test_date_payload_fields_take_offsets() -> None:
    scenario = parse("""\
  - at: +0m
    agency: cam-almaty
    event: ChildProtectionPlanAmended
    payload: {plan_id: P1, next_review_by: +30d}
""")
    assert scenario.steps[0].payload["next_review_by"] == date(2026, 4, 19)


@pytest.mark.parametrize("steps, fragments", [
    ("  - {at: +1h, agency: school-almaty}\n", ["line 5", "steps[0] ('step-1').event", "missing"]),
    ("  - {agency: school-almaty, event: ReferralMade}\n", ["steps[0] ('step-1').at", "missing"]),
    ("  - {at: soon, agency: school-almaty, event: ReferralMade}\n", ["line 5", "steps[0] ('step-1').at", "'soon'"]),
    ("  - {at: +1h, agency: school-almaty, event: ReferalMade}\n",
     ["steps[0] ('step-1').event", "unknown event type 'ReferalMade'", "ReferralMade"]),
    ("  - {at: +1h, event: ReferralMade}\n", ["steps[0] ('step-1').agency", "missing"]),
    ("  - {at: +1h, agency: a, event: ReferralMade, payload: [1]}\n", ["steps[0] ('step-1').payload", "mapping"]),
    ("  - {at: +1h, agency: a, event: ReferralMade, colour: red}\n", ["steps[0] ('step-1')",
                                                                      "unknown field(s) ['colour']"]),
    ("  - {id: x, at: +1h, agency: a, event: ReferralMade}\n  - {id: x, at: +2h, agency: a, event: ReferralMade}\n",
     ["line 6", "steps[1] ('x').id", "already used by steps[0]"]),
    ("  - {at: +2h, agency: a, event: ReferralMade}\n  - {at: +1h, agency: a, event: ReferralMade}\n",
     ["steps[1] ('step-2').at", "before the previous step", "time order"]),
    ("  - {at: +1h, agency: a, event: ReferralMade, caused_by: nothing}\n", ["steps[0] ('step-1').caused_by",
                                                                             "'nothing'"]),
    ("  - {at: +1h, resubmit: later}\n", ["steps[0] ('step-1').resubmit", "no earlier step"]),
    ("  - {at: +1h, agency: a, acknowledge: {rule: 9.9-nothing}}\n", ["steps[0] ('step-1').acknowledge.rule",
                                                                      "unknown rule"]),
    ("  - {at: +1h, agency: a, event: ReferralMade, acknowledge: {rule: 4.8-removal-outcome-3h}}\n",
     ["steps[0] ('step-1').acknowledge", "only an EscalationAcknowledged"]),
    ("  - {at: +1h, agency: a, event: ChildProtectionMeetingScheduled, payload: {scheduled_for: tomorrow}}\n",
     ["steps[0] ('step-1').payload.scheduled_for", "'tomorrow'"]),
    ("  - {at: +1h, agency: a, event: ReferralMade, payload: {envelope: {}}}\n", ["payload.envelope",
                                                                                  "builds the envelope"]),
])
def test_errors_name_the_step_and_field(steps: str, fragments: list[str]) -> None:
    message = error(HEAD + steps)
    assert message.startswith("s.yaml")
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("text, fragments", [
    ("- a list\n", ["expected a mapping"]),
    ("title: t\nsteps: [{at: +1h}]\n", ["start", "missing"]),
    ("start: 2026-03-20T09:00:00+05:00\nsteps: []\n", ["title"]),
    ("title: t\nstart: 2026-03-20T09:00:00\nsteps: []\n", ["start", "time zone"]),
    ("title: t\nstart: 2026-03-20T09:00:00+05:00\nsteps: []\n", ["steps", "non-empty"]),
    ("title: t\nstart: 2026-03-20T09:00:00+05:00\nsteps: [{at: +1h, agency: a, event: ReferralMade}]\n",
     ["steps[0] ('step-1').case", "scenario-wide"]),
    (HEAD + "  - {at: +5h, agency: a, event: ReferralMade}\nuntil: +1h\n", ["until", "before the last step"]),
    (HEAD + "  - {at: +5h, agency: a, event: ReferralMade}\nexpect: [{status: ACCEPTED}]\n", ["expect[0]", "`kind`"]),
    (HEAD + "  - {at: +5h, agency: a, event: ReferralMade}\nexpect: [{kind: receipt, count: -1}]\n",
     ["expect[0].count"]),
    (HEAD + "  - {at: +5h, agency: a, event: ReferralMade}\nexpect: [{kind: sla, due_at: later}]\n",
     ["expect[0].due_at"]),
    ("title: t\nstart: [\n", ["not valid YAML"]),
    ("title: t\nstart: 2026-03-20T09:00:00+05:00\nsteps: [{}]\nextra: 1\n", ["unknown field(s) ['extra']"]),
])
def test_file_level_errors(text: str, fragments: list[str]) -> None:
    message = error(text)
    for fragment in fragments:
        assert fragment in message, message


def test_expectations_parse_time_offsets() -> None:
    scenario = parse("  - {at: +0m, agency: a, event: ReferralMade}\n",
                     tail="expect:\n  - {kind: sla, record: DeadlineBreached, t: +3h, count: 1}\n")
    (exp,) = scenario.expect
    assert exp.fields == {"kind": "sla", "record": "DeadlineBreached", "t": START + timedelta(hours=3)}
    assert exp.count == 1 and exp.line == 7
