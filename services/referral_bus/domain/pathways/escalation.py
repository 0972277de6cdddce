"""The escalation ladder's one case event: an agency that an escalation reached acknowledges it,
which stops the next level (the SLA engine reads it; the rule and its paragraph are the breached
deadline's, so there is nothing to check or route here)."""

from __future__ import annotations

from referral_bus.contracts.events import EscalationAcknowledged
from referral_bus.domain.pathways.base import ANYONE, Step

STEPS: tuple[Step, ...] = (
    # whoever an escalation reached; the paragraph is the breached rule's, checked by the SLA engine
    Step(EscalationAcknowledged, ANYONE, "escalation ladder (issue 4)"),
)
