"""The escalation ladder's one case event: an agency that an escalation reached acknowledges it,
which stops the next level (the SLA engine reads it).

Only the rungs the rule names may acknowledge — the agency each raised level of the deadline's
ladder went to (the defaulting agency's supervisor, the Commission, the Steering Committee) —
never the agency that missed the deadline, never a bystander. The router knows the escalations
from the SLA processor's records (``decisions.note_escalation``); the refusal cites the breached
rule's paragraph.
"""

from __future__ import annotations

from referral_bus.contracts.events import EscalationAcknowledged
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.pathways.base import ANYONE, Step, illegal
from referral_bus.domain.rejections import Code, Rejection


def _check_acknowledgement(event: EscalationAcknowledged, state: CaseState) -> None:
    raised = state.escalations.get(event.escalation_id)
    if raised is None:
        raise illegal(f"no escalation {event.escalation_id} has been raised on this case (an acknowledgement "
                      "names an escalation the agency was told of; one raised a moment ago may not have reached "
                      "the router yet: send it again)", "escalation ladder", field="escalation_id")
    if (raised.deadline_id, raised.level) != (event.deadline_id, event.level):
        raise illegal(f"escalation {event.escalation_id} is level {raised.level} of deadline {raised.deadline_id}, "
                      f"not level {event.level} of {event.deadline_id}", raised.paragraph, field="escalation_id")
    agency = event.envelope.producer.agency_id
    if agency == raised.responsible_agency_id:
        raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{agency} missed this deadline and cannot acknowledge its own "
                        "escalation; its supervisor, the Commission or the Steering Committee does",
                        paragraph=raised.paragraph, field="envelope.producer.agency_id")
    rungs = {e.escalated_to_agency_id for e in state.escalations.values()
             if e.deadline_id == raised.deadline_id and e.level <= event.level and e.escalated_to_agency_id}
    if agency not in rungs:
        raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{agency} is not a rung this escalation reached (the ladder went "
                        f"to {', '.join(sorted(rungs)) or 'nobody'}); only they may acknowledge it",
                        paragraph=raised.paragraph, field="envelope.producer.agency_id")


STEPS: tuple[Step, ...] = (
    # any kind may be a rung (a supervisor, the Commission, the Steering Committee); the check says which
    Step(EscalationAcknowledged, ANYONE, "escalation ladder (issue 4)", check=_check_acknowledgement),
)
