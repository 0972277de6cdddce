"""Typed contracts: pydantic models that mirror ``schemas/avro/*.avsc`` one to one.

No Kafka or Avro imports here, so domain logic can use these models directly; the Avro side
(`referral_bus.core.codec`) renders them into schemas and a test keeps the two equal.
"""

from .base import Record
from .bus_records import DeadLetter, Receipt
from .events import EVENT_TYPES
from .sla_records import SLA_RECORD_TYPES

#: Every top-level record that travels on a topic, by record name (= Avro record name).
ALL_RECORDS: dict[str, type[Record]] = {
    **EVENT_TYPES, "Receipt": Receipt, "DeadLetter": DeadLetter, **SLA_RECORD_TYPES,
}
