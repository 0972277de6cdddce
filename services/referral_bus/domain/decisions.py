"""The domain's entry points: ``decide`` whether an event may follow a case and who is owed it,
``fold`` an event on the case log into the case's state. The router, the simulator, the auditors,
the projector and the test builders all go through these two, so they cannot disagree.

Both look the event type up in the step table (``pathways/``); what is common to every type — a
case starts only with an opening event, a closed case takes only a reopening one, nobody is sent
their own event, each recipient gets an event once — is done here.
"""

from __future__ import annotations

from dataclasses import dataclass

from referral_bus.contracts.base import Event
from referral_bus.contracts.sla_records import EscalationRaised
from referral_bus.domain.agencies import Directory
from referral_bus.domain.case_state import CaseState, RaisedEscalation
from referral_bus.domain.chain import content_fingerprint
from referral_bus.domain.deliveries import Delivery
from referral_bus.domain.pathways import Step, step_for
from referral_bus.domain.rejections import Code, Rejection


@dataclass(frozen=True)
class Decision:
    """An event that may follow the case: its step and the deliveries it is owed."""

    step: Step
    deliveries: list[Delivery]


def step_of(event: Event) -> Step:
    step = step_for(type(event))
    if step is None:
        raise Rejection(Code.UNKNOWN_EVENT_TYPE, f"{event.event_type()} is not a case event")
    return step


def decide(event: Event, state: CaseState, directory: Directory) -> Decision:
    """Raise a Rejection naming code, field and paragraph when ``event`` may not follow the case so
    far; otherwise say who must receive it and why. Pure."""
    step = step_of(event)
    check_transition(event, state, step)
    return Decision(step, route(event, state, directory, step))


def check_transition(event: Event, state: CaseState, step: Step | None = None) -> None:
    step = step or step_of(event)
    if not state.exists and not step.opens_case:
        raise Rejection(Code.UNKNOWN_CASE, f"case {state.case_id} has no events; a case starts with a referral "
                        "(4.5, 5.2) or an emergency removal (4.7)", paragraph="4.5, 4.7", field="envelope.case_id")
    if state.closed and not step.reopens_case:
        raise Rejection(Code.ILLEGAL_TRANSITION, f"case {state.case_id} is closed; a new referral (4.5, 5.2) "
                        "reopens it", paragraph="6.51, 6.78")
    if step.check is not None:
        step.check(event, state)


def route(event: Event, state: CaseState, directory: Directory, step: Step | None = None) -> list[Delivery]:
    """Deliveries owed for ``event`` given the case before it: once per recipient, never to the
    agency that produced it."""
    step = step or step_of(event)
    producer = event.envelope.producer.agency_id
    unique: dict[str, Delivery] = {}
    for delivery in step.route(event, state, directory) if step.route is not None else []:
        if delivery.recipient_id != producer and delivery.recipient_id not in unique:
            unique[delivery.recipient_id] = delivery
    return list(unique.values())


def note_escalation(state: CaseState, record: EscalationRaised) -> None:
    """Remember an escalation raised on the case, so that an acknowledgement of it can be checked
    (only the rungs the ladder reached may acknowledge; never the agency that missed the deadline)."""
    state.escalations[record.escalation_id] = RaisedEscalation(
        record.deadline_id, record.level, record.paragraph, record.responsible_agency_id,
        record.escalated_to_agency_id)


def fold(state: CaseState, event: Event, directory: Directory | None = None) -> None:
    """Apply one event that is on the case log (sequence and hash set) to its case's state."""
    env = event.envelope
    step = step_of(event)
    state.note_logged(env.event_id, env.sequence or state.last_sequence + 1, content_fingerprint(event))
    state.last_sequence = env.sequence or state.last_sequence + 1
    state.last_hash = env.hash or state.last_hash
    state.last_recorded_at = env.recorded_at or state.last_recorded_at
    state.event_types.append(event.event_type())
    if step.opens_case:
        state.city = state.city or getattr(event, "city", None)
        state.child_age_years = getattr(event, "child_age_years", state.child_age_years)
    if step.apply is not None:
        step.apply(event, state, directory)
