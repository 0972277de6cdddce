"""``referral-bus sla report --from --to``: the deadline figures per rule, responsible agency and
city from rb.sla, as defined once in ``domain/deadlines/compliance.py`` (the Steering Committee
report uses the same definition)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from referral_bus.contracts.base import City, Event
from referral_bus.domain.deadlines.compliance import DeadlineFigures, sla_figures
from referral_bus.infra.kafka.log_reader import read_to_end
from referral_bus.infra.quarantine import decoded_or_none
from referral_bus.infra.runtime import Runtime


async def sla_report(runtime: Runtime, start: datetime, end: datetime, now: datetime) -> list[DeadlineFigures]:
    servers, cat = runtime.settings, runtime.catalogue
    case_city: dict[str, str] = {}
    async for record in read_to_end(servers, [cat.name("case_log")], progress="reading the case log"):
        event = decoded_or_none(runtime, record, "sla report")
        city = getattr(event, "city", None)
        if isinstance(event, Event) and isinstance(city, City):
            case_city.setdefault(event.envelope.case_id, city.value)
    records = [record async for r in read_to_end(servers, [cat.name("sla")])
               if (record := decoded_or_none(runtime, r, "sla report")) is not None]
    return sla_figures(records, case_city, start=start, end=end, now=now)


def sla_report_sync(runtime: Runtime, start: datetime, end: datetime, now: datetime) -> list[DeadlineFigures]:
    return asyncio.run(sla_report(runtime, start, end, now))
