"""Typed contracts: pydantic models that mirror ``schemas/avro/*.avsc`` one to one.

No Kafka or Avro imports here, so domain logic can use these models directly; the Avro side
(`referral_bus.infra.codec`) renders them into schemas and a test keeps the two equal.
"""

from referral_bus.contracts import (
    care_events,
    events,
    justice_events,
    ngo_events,
    violence_events,
)
from referral_bus.contracts.base import Event, Record
from referral_bus.contracts.bus_records import (
    CaseRead,
    ChainCheckpoint,
    DeadLetter,
    Quarantined,
    Receipt,
    SigningKeyEnrolled,
    SigningKeyRevoked,
)
from referral_bus.contracts.sla_records import SLA_RECORD_TYPES

__all__ = ["EVENT_TYPES", "RECORD_TYPES", "DeadLetter", "Event", "Receipt", "Record", "SLA_RECORD_TYPES",
           "care_events", "events", "justice_events", "ngo_events", "violence_events"]

#: Every case event type, by Avro record name: Annex B of seed 001 (``events``, ``care_events``,
#: ``ngo_events``) and seeds 002 (``violence_events``) and 003 (``justice_events``).
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for module in (events, care_events, ngo_events, violence_events, justice_events)
    for cls in module.EVENTS
}

#: Every top-level record that travels on a topic, by record name (= Avro record name).
ALL_RECORDS: dict[str, type[Record]] = {
    **EVENT_TYPES, "Receipt": Receipt, "DeadLetter": DeadLetter, **SLA_RECORD_TYPES,
    "SigningKeyEnrolled": SigningKeyEnrolled, "SigningKeyRevoked": SigningKeyRevoked,
    "ChainCheckpoint": ChainCheckpoint, "Quarantined": Quarantined,
    "CaseRead": CaseRead,
}
