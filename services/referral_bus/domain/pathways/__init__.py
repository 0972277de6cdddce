"""The step table: every case event type of the protocol, one ``Step`` each, keyed by its class.

The pathways, in the order of Annex B: referrals and removals (Part 4), assessments, meetings and
closure (6.3–6.39), the NGO programme (Parts 5 and 7), the CAM/CSC's later work (6.8–6.20,
6.40–6.79), removal requests and criminal-case progress, seed 002 (violence), seed 003 (justice),
and the escalation ladder's acknowledgement. Adding an event type: its contract, its ``Step`` in the
module of its pathway, an optional deadline rule, the frozen schema, a coverage row, a scenario.
"""

from __future__ import annotations

from referral_bus.contracts.base import Event
from referral_bus.domain.pathways import (
    assessment,
    care,
    escalation,
    justice,
    ngo,
    referral,
    removal_and_crime,
    violence,
)
from referral_bus.domain.pathways.base import Step


def _index(*tables: tuple[Step, ...]) -> dict[type[Event], Step]:
    table: dict[type[Event], Step] = {}
    for step in (s for t in tables for s in t):
        if step.event in table:
            raise ValueError(f"two steps for {step.event.__name__}")
        table[step.event] = step
    return table


STEP_TABLE: dict[type[Event], Step] = _index(
    referral.STEPS, assessment.STEPS, ngo.STEPS, care.STEPS, removal_and_crime.STEPS, violence.STEPS,
    justice.STEPS, escalation.STEPS)


def step_for(event_type: type[Event]) -> Step | None:
    """The step of a case event type; None for a record that is not a case event."""
    return STEP_TABLE.get(event_type)


__all__ = ["STEP_TABLE", "Step", "step_for"]
