"""``referral-bus sla report --from --to``: compliance per rule, agency and city from rb.sla."""

from __future__ import annotations

import asyncio
from datetime import datetime

from referral_bus.contracts.base import City, Event
from referral_bus.domain.deadlines.compliance import ComplianceRow, compliance
from referral_bus.infra.kafka.log_reader import read_to_end
from referral_bus.infra.runtime import Runtime


async def sla_report(runtime: Runtime, start: datetime, end: datetime, now: datetime) -> list[ComplianceRow]:
    servers, codec, cat = runtime.settings, runtime.codec, runtime.catalogue
    case_city: dict[str, str] = {}
    async for record in read_to_end(servers, [cat.name("case_log")], progress="reading the case log"):
        event = codec.decode(record.value)
        city = getattr(event, "city", None)
        if isinstance(event, Event) and isinstance(city, City):
            case_city.setdefault(event.envelope.case_id, city.value)
    records = [codec.decode(r.value) async for r in read_to_end(servers, [cat.name("sla")])]
    return compliance(records, case_city, start=start, end=end, now=now)


def sla_report_sync(runtime: Runtime, start: datetime, end: datetime, now: datetime) -> list[ComplianceRow]:
    return asyncio.run(sla_report(runtime, start, end, now))
