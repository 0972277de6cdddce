"""``referral-bus verify``: check the whole case log (or a copy of it) for tampering."""

from __future__ import annotations

import asyncio

from referral_bus.contracts.base import Event
from referral_bus.contracts.bus_records import ChainCheckpoint
from referral_bus.domain.verification import (
    LoggedCheckpoint,
    LoggedEvent,
    Problem,
    VerificationReport,
    verify,
)
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.kafka.log_reader import read_to_end
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.signing_keys import fold_records


async def verify_topic(runtime: Runtime, topic: str | None = None) -> tuple[VerificationReport, list[str]]:
    """Verify ``topic`` (default: the case log), signatures against the signing-key directory and,
    for the case log itself, the router's chain checkpoints (a copy under another name holds only
    some cases). Records that do not decode are listed apart."""
    cat = runtime.catalogue
    undecodable: list[str] = []

    async def side(topic_id: str) -> list[tuple[int, int, object]]:
        out: list[tuple[int, int, object]] = []
        async for r in read_to_end(runtime.settings, [cat.name(topic_id)]):
            try:
                out.append((r.partition, r.offset, runtime.codec.decode(r.value)))
            except DecodeError as exc:
                undecodable.append(f"{cat.name(topic_id)} partition {r.partition} offset {r.offset}: {exc.code}")
        return out
    checkpoints = [LoggedCheckpoint(p, o, c) for p, o, c in (await side("checkpoints")
                                                             if topic in (None, cat.name("case_log")) else [])
                   if isinstance(c, ChainCheckpoint)]
    keys = [record for _, _, record in await side("signing_keys")]
    topic = topic or cat.name("case_log")
    logged: list[LoggedEvent] = []
    async for record in read_to_end(runtime.settings, [topic], progress="verifying the case log"):
        try:
            event = runtime.codec.decode(record.value)
        except DecodeError as exc:
            undecodable.append(f"partition {record.partition} offset {record.offset}: {exc.code}: {exc.message}")
            continue
        if isinstance(event, Event):
            logged.append(LoggedEvent(record.partition, record.offset, record.key, event))
        else:
            undecodable.append(f"partition {record.partition} offset {record.offset}: "
                               f"{type(event).__name__} is not a case event")
    # per partition order is the log's order for a case; sort keeps partitions apart deterministically
    logged.sort(key=lambda item: (item.partition, item.offset))
    return verify(logged, fold_records(keys), checkpoints), undecodable


def verify_topic_sync(runtime: Runtime, topic: str | None = None) -> tuple[VerificationReport, list[str]]:
    return asyncio.run(verify_topic(runtime, topic))


__all__ = ["Problem", "verify_topic", "verify_topic_sync"]
