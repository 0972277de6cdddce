"""Scenario payload fields naming another event (``referral_event_id``) take an earlier step's label,
which the runner turns into that step's event id (issue 15: a withdrawal names its referral)."""

from __future__ import annotations

import uuid

import pytest

from referral_bus.contracts.events import ReferralWithdrawn
from referral_bus.domain.deadlines.calendar import WorkingCalendar
from referral_bus.simulate.runner import Simulation
from referral_bus.simulate.scenario import ScenarioError, StepEventId, parse_scenario

HEAD = """\
title: withdrawal references
start: 2026-04-13T10:00:00+05:00
case: CASE-1
steps:
  - id: referral
    at: +0m
    agency: school-almaty
    event: ReferralMade
    payload: {referral_kind: CHILD_PROTECTION, city: ALMATY, child_age_years: 8}
"""


def withdrawal(names: str) -> str:
    return HEAD + f"""\
  - id: withdrawn
    at: +1h
    agency: school-almaty
    event: ReferralWithdrawn
    payload: {{referral_event_id: {names}, reason: DUPLICATE}}
"""


def test_a_label_becomes_that_steps_event_id() -> None:
    scenario = parse_scenario(withdrawal("referral"), WorkingCalendar())
    assert scenario.steps[1].payload["referral_event_id"] == StepEventId("referral")
    simulation = Simulation(scenario)
    simulation.run()
    referral, withdrawn = simulation.appended
    assert isinstance(withdrawn, ReferralWithdrawn)
    assert withdrawn.referral_event_id == referral.envelope.event_id


def test_an_event_id_is_taken_as_it_is() -> None:
    some_id = uuid.uuid4()
    scenario = parse_scenario(withdrawal(str(some_id)), WorkingCalendar())
    assert scenario.steps[1].payload["referral_event_id"] == str(some_id)


def test_neither_a_label_nor_an_event_id_is_an_error_naming_the_field() -> None:
    with pytest.raises(ScenarioError, match=r"payload\.referral_event_id.*no earlier step is labelled 'refferal'"):
        parse_scenario(withdrawal("refferal"), WorkingCalendar())
