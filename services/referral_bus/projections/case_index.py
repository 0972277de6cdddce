"""Where a case's records lie on the log, from the read-model database (issue 13 item 4).

The projector writes the index (tables.CaseIndexRow) in the transaction that moves its offsets, so
for each partition the index holds every keyed record below the stored next offset, and nothing
above it. A reader takes the indexed offsets and reads the partition itself only from that next
offset on (bounded by the projector's lag), never from the start. When the index cannot promise
that — no read-model database, no index table, an index begun after the partition was already
projected — ``lookup`` raises IndexUnavailable with the reason: the caller falls back to a full
scan and says so, never answers from a partial index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, inspect, select, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from referral_bus.infra.settings import Settings
from referral_bus.projections.tables import CaseIndexRow, CaseIndexStart, CaseRow, ConsumerOffset

#: What the command says next to a fallback: how to (re)build a complete index.
REBUILD_HINT = "run the projector, or `referral-bus projections rebuild` for a database made before the index"


class IndexUnavailable(Exception):
    """The case index cannot answer completely; the message says why (no personal data: ids and offsets)."""


@dataclass(frozen=True)
class Location:
    offset: int
    sequence: int | None
    hash: str | None
    sha256: str


@dataclass
class CaseLocations:
    """The case's indexed records per (topic, partition) in offset order, and for each of those
    partitions the offset from which the log itself must be read (the projector's position)."""

    case_id: str
    records: dict[tuple[str, int], list[Location]] = field(default_factory=dict)
    read_from: dict[tuple[str, int], int] = field(default_factory=dict)
    #: the read models' last sequence of the case (cases.last_sequence), if they know the case
    head: int | None = None


def open_engine(settings: Settings) -> Engine:
    """The read-model database, without creating it: a SQLite file that does not exist is no index
    (a read must not leave an empty database behind)."""
    url = settings.read_model_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise IndexUnavailable(f"no read-model database at {url.removeprefix('sqlite:///')}")
    return create_engine(url, pool_pre_ping=True)


def lookup(engine: Engine, case_id: str, partitions: list[tuple[str, int]]) -> CaseLocations:
    """The case's records on ``partitions`` (each topic's partition for the case's key)."""
    try:
        tables = set(inspect(engine).get_table_names())
        if not {CaseIndexRow.__tablename__, CaseIndexStart.__tablename__} <= tables:
            raise IndexUnavailable("the read-model database has no case index yet (made before it)")
        # one snapshot: the offsets, the index rows below them and the case's head agree with each other
        snapshot = engine.execution_options(isolation_level="REPEATABLE READ") \
            if engine.dialect.name == "postgresql" else engine
        with Session(snapshot) as session, session.begin():
            starts = {(s.topic, s.partition): s.from_offset for s in session.scalars(
                select(CaseIndexStart).where(tuple_(CaseIndexStart.topic, CaseIndexStart.partition).in_(partitions)))}
            stored = {(o.topic, o.partition): o.next_offset for o in session.scalars(
                select(ConsumerOffset).where(tuple_(ConsumerOffset.topic, ConsumerOffset.partition).in_(partitions)))}
            located = CaseLocations(case_id)
            for tp in partitions:
                start, position = starts.get(tp), stored.get(tp, 0)
                if position > 0 and start != 0:
                    began = "never" if start is None else f"only from offset {start}"
                    raise IndexUnavailable(f"the case index covers {tp[0]}[{tp[1]}] {began}, though the read models "
                                           f"were projected to offset {position}")
                located.records[tp] = []
                located.read_from[tp] = position
            rows = session.scalars(select(CaseIndexRow).where(
                CaseIndexRow.case_id == case_id,
                tuple_(CaseIndexRow.topic, CaseIndexRow.partition).in_(partitions))
                .order_by(CaseIndexRow.topic, CaseIndexRow.partition, CaseIndexRow.offset))
            for row in rows:
                if row.offset < located.read_from[(row.topic, row.partition)]:
                    located.records[(row.topic, row.partition)].append(
                        Location(row.offset, row.sequence, row.hash, row.sha256))
            case = session.get(CaseRow, case_id)
            located.head = case.last_sequence if case is not None else None
            return located
    except SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        raise IndexUnavailable(f"the read-model database did not answer ({reason})") from exc
