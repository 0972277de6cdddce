"""Rebuild one case's timeline and state from the case log, as of any moment.

Reads only the partition that holds the case (same key → same partition) to its true end, folds
the events up to ``as_of`` into the case state and checks the hash chain on the way. The SLA
records of the case (rb.sla, rb.escalations) are merged into the timeline by their log time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from referral_bus.contracts.base import Event, Record, personal_text_fields
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.chain import ChainFollower
from referral_bus.domain.decisions import fold
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.kafka.log_reader import partition_for_key, read_to_end
from referral_bus.infra.runtime import Runtime


@dataclass
class CaseHistory:
    case_id: str
    as_of: datetime | None
    events: list[Event] = field(default_factory=list)
    sla: list[tuple[datetime, Record]] = field(default_factory=list)
    state: CaseState | None = None
    chain_problems: list[str] = field(default_factory=list)

    def timeline(self) -> list[dict[str, Any]]:
        """One row per event and SLA record, in time order, without personal data (nor free text that
        may name a person)."""
        rows: list[dict[str, Any]] = []
        for event in self.events:
            env = event.envelope
            rows.append({
                "at": env.recorded_at.isoformat() if env.recorded_at else None,
                "kind": "event", "sequence": env.sequence, "type": event.event_type(),
                "occurred_at": env.occurred_at.isoformat(), "producer": env.producer.agency_id,
                "event_id": str(env.event_id),
                "fields": _fields(event),
                "personal_data": "withheld" if event.personal_data or event.sealed else None})
        for at, record in self.sla:
            rows.append({"at": at.isoformat(), "kind": "sla", "type": type(record).__name__,
                         "fields": record.model_dump(mode="json")})
        return causal_order(rows)


def _moment(row: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(row["at"]) if row["at"] else datetime.min.replace(tzinfo=UTC)


def causal_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows in time order, except that what was caused never comes before its cause: a
    deadline's escalation levels after its breach and in ladder order (1, 2, 3), an
    ``EscalationAcknowledged`` after the levels up to the one it acknowledges. Log times alone do not
    ensure it: the breach (rb.sla) and the levels (rb.escalations) are written to two topics, and
    after a restart the SLA processor writes a whole ladder within a millisecond. At one moment an
    event comes before the SLA records (which events cause). Each row's own
    ``at`` is kept; only its place moves, to just after its cause."""
    def deadline(row: dict[str, Any]) -> str | None:
        return row["fields"].get("deadline_id") if isinstance(row.get("fields"), dict) else None

    breach: dict[str, datetime] = {}
    levels: dict[str, dict[int, datetime]] = {}
    for row in rows:
        if row["kind"] == "sla" and row["type"] == "DeadlineBreached" and deadline(row):
            breach[deadline(row) or ""] = _moment(row)
    raised = sorted((r for r in rows if r["kind"] == "sla" and r["type"] == "EscalationRaised" and deadline(r)),
                    key=lambda r: int(r["fields"].get("level") or 0))
    keys: dict[int, tuple[datetime, int]] = {}
    for row in raised:   # level n no earlier than the breach and level n-1 of the same deadline
        of = deadline(row) or ""
        level = int(row["fields"].get("level") or 0)
        earlier = [breach[of]] if of in breach else []
        earlier += [at for lv, at in levels.get(of, {}).items() if lv < level]
        effective = max([_moment(row), *earlier])
        levels.setdefault(of, {})[level] = effective
        keys[id(row)] = (effective, 1 + level)
    for row in rows:
        if row["kind"] == "event" and row["type"] == "EscalationAcknowledged" and deadline(row):
            level = int(row["fields"].get("level") or 0)
            acknowledged = [at for lv, at in levels.get(deadline(row) or "", {}).items() if lv <= level]
            keys[id(row)] = (max([_moment(row), *acknowledged]), 100 + level)
    indexed = list(enumerate(rows))
    # at one moment an event comes before the SLA records it caused (rank 0, then 1)
    indexed.sort(key=lambda ir: (*keys.get(id(ir[1]), (_moment(ir[1]), 0 if ir[1]["kind"] == "event" else 1)),
                                 ir[1].get("sequence") or 0, ir[0]))
    return [row for _, row in indexed]


def _fields(event: Event) -> dict[str, Any]:
    """The event's fields without personal data: a free-text field that may name a person shows
    only that it was filled in ("withheld"), as ``personal_data`` does."""
    fields: dict[str, Any] = event.model_dump(mode="json", exclude={"envelope", *event.personal_fields()})
    for name in sorted(personal_text_fields(type(event))):
        fields[name] = "withheld" if getattr(event, name) not in (None, []) else getattr(event, name)
    return fields


async def rebuild_case(runtime: Runtime, case_id: str, as_of: datetime | None = None) -> CaseHistory:
    cat, codec = runtime.catalogue, runtime.codec
    servers = runtime.settings
    key = case_id.encode()
    history = CaseHistory(case_id, as_of)
    state = CaseState(case_id)
    chains = ChainFollower()
    case_log = cat.name("case_log")
    async for record in read_to_end(servers, [case_log],
                                    partitions={case_log: [partition_for_key(key, cat.partitions("case_log"))]}):
        if record.key != key:
            continue
        try:
            event = codec.decode(record.value)
        except DecodeError as exc:   # a poison record: named, never fatal (verify lists it too)
            history.chain_problems.append(f"offset {record.offset}: unreadable ({exc.code}), set aside")
            continue
        if not isinstance(event, Event):  # only case events belong on the case log; verify reports others
            continue
        env = event.envelope
        if as_of is not None and env.recorded_at and env.recorded_at > as_of:
            continue
        # what the services fold, and nothing else (domain/chain.py): a break is named and set aside
        refused = chains.refuse(event)
        if refused is not None:
            history.chain_problems.append(f"offset {record.offset}: {refused[0]}: {refused[1]}; set aside, as the "
                                          "services do")
            continue
        fold(state, event, runtime.directory)
        history.events.append(event)
    history.state = state
    sla_topics = [cat.name("sla"), cat.name("escalations")]
    parts = {t: [partition_for_key(key, cat.partitions(tid))] for t, tid in zip(sla_topics, ("sla", "escalations"))}
    async for record in read_to_end(servers, sla_topics, partitions=parts):
        if record.key != key:
            continue
        at = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
        if as_of is None or at <= as_of:
            try:
                history.sla.append((at, codec.decode(record.value)))
            except DecodeError as exc:
                history.chain_problems.append(f"{record.topic} offset {record.offset}: unreadable ({exc.code}), "
                                              "set aside")
    return history


def rebuild_case_sync(runtime: Runtime, case_id: str, as_of: datetime | None = None) -> CaseHistory:
    return asyncio.run(rebuild_case(runtime, case_id, as_of))
