"""Who is told of an SLA record, decided once for the SLA processor and the simulator: a warning
goes to the agency responsible for the deadline; an escalation to the agency it escalates to and to
the responsible agency. Redacted always (no personal data is in SLA records); the delivery id is the
record's own, so a repeat after a crash is recognisably the same delivery."""

from __future__ import annotations

from dataclasses import dataclass

from referral_bus.contracts.base import Record
from referral_bus.contracts.sla_records import DeadlineWarning, EscalationRaised


@dataclass(frozen=True)
class SlaDelivery:
    agency_id: str
    purpose: str        # "warning" | "escalation"
    paragraph: str
    delivery_id: str


def sla_deliveries(record: Record) -> list[SlaDelivery]:
    if isinstance(record, DeadlineWarning) and record.responsible_agency_id:
        return [SlaDelivery(record.responsible_agency_id, "warning", record.paragraph, str(record.sla_event_id))]
    if isinstance(record, EscalationRaised):
        agencies = dict.fromkeys(filter(None, (record.escalated_to_agency_id, record.responsible_agency_id)))
        return [SlaDelivery(a, "escalation", record.paragraph, str(record.escalation_id)) for a in agencies]
    return []
