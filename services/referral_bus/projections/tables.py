"""Read-model tables (SQLAlchemy 2). No personal data: timelines keep typed fields only, never the
``personal_data`` record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Engine, Integer, String, Text, inspect, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ConsumerOffset(Base):
    """Next offset to read per topic partition, written in the same transaction as the rows it
    produced: a crash replays at most an uncommitted batch, which then is written exactly once."""

    __tablename__ = "consumer_offsets"
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


class ProjectedRecord(Base):
    """The last record projected per topic partition (its offset and the SHA-256 of its bytes),
    written with the offsets: on start the projector checks that the log still holds that very
    record (projections/divergence.py). A table of its own, so that a database made before it
    existed gains it without a migration."""

    __tablename__ = "projected_records"
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class CaseRow(Base):
    __tablename__ = "cases"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    city: Mapped[str | None] = mapped_column(String(32))
    #: issue 15: an out-of-area child's home city (CaseState.home_city); added 2026 (``add_missing_columns``)
    home_city: Mapped[str | None] = mapped_column(String(32))
    child_age_years: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_by: Mapped[str] = mapped_column(String(64))
    last_sequence: Mapped[int] = mapped_column(Integer)
    last_event_type: Mapped[str] = mapped_column(String(64))
    last_recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    referred_to_cam: Mapped[bool] = mapped_column(Boolean, default=False)
    child_removed: Mapped[bool] = mapped_column(Boolean, default=False)
    initial_assessment: Mapped[str | None] = mapped_column(String(32))


class TimelineRow(Base):
    __tablename__ = "case_events"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    producer_agency_id: Mapped[str] = mapped_column(String(64), index=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    hash: Mapped[str] = mapped_column(String(64))
    fields: Mapped[dict] = mapped_column(JSON)  # type: ignore[type-arg]


class ReferralRow(Base):
    """Referral outcomes: each referral and what became of it (6.21–6.23, 5.18–5.20)."""

    __tablename__ = "referrals"
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    referral_kind: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(32))
    referring_agency_id: Mapped[str] = mapped_column(String(64))
    age_band: Mapped[str] = mapped_column(String(8))
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(48))
    outcome_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeadlineRow(Base):
    __tablename__ = "deadlines"
    deadline_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    paragraph: Mapped[str] = mapped_column(Text)   # seed paragraphs are long: "seed 003 (Criminal …)"
    responsible_agency_id: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    status: Mapped[str] = mapped_column(String(16))   # open | warned | breached | met | late | withdrawn
    #: met/late: when completed; withdrawn: when the withdrawing event was recorded
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lateness_seconds: Mapped[int | None] = mapped_column(Integer)


class EscalationRow(Base):
    """Its own table (not a column of deadlines): escalations come on their own topic, and no
    row may depend on the order in which two topics are read."""

    __tablename__ = "escalations"
    escalation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deadline_id: Mapped[str] = mapped_column(String(36), index=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column(Integer)
    escalated_to_agency_id: Mapped[str | None] = mapped_column(String(64))
    raised_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeliveryRow(Base):
    """What each agency was told, and when (its inbox). Keyed by delivery id *and* agency: the
    copies of one escalation to the escalated-to and the responsible agency share a delivery id
    (the escalation's). A database made before 2026-11-27 keyed it by delivery id alone and lost one
    of those copies: run ``referral-bus projections rebuild``."""

    __tablename__ = "deliveries"
    delivery_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    record_type: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(36))
    paragraph: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(String(64))
    redacted: Mapped[bool] = mapped_column(Boolean)
    delivered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class CaseIndexRow(Base):
    """Where each record of a case lies on the log (issue 13 item 4): one row per keyed record of the
    case log, rb.sla and rb.escalations — set-aside ones too, so a reader meets them as a full scan
    does — with the SHA-256 of its bytes. ``history`` fetches exactly these offsets and checks bytes
    and hash chain, so a missing, altered or reordered record is reported, not skipped."""

    __tablename__ = "case_index"
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    case_id: Mapped[str] = mapped_column(String(255), index=True)
    #: a case-log event's per-case sequence and chain hash (none for SLA and set-aside records)
    sequence: Mapped[int | None] = mapped_column(Integer)
    hash: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))


class CaseIndexStart(Base):
    """The offset from which the case index covers a partition: 0 when the index was built with the
    read models, the projector's position then when a database made before the index gained it —
    such an index lacks the records below and is not used (``projections rebuild`` fills it)."""

    __tablename__ = "case_index_start"
    topic: Mapped[str] = mapped_column(String(255), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_offset: Mapped[int] = mapped_column(BigInteger)


#: Nullable columns added to an existing table after databases were made with it: ``create_all`` adds
#: tables, never columns, and the project has no migration tool, so ``add_missing_columns`` adds them
#: (empty until the rows are next written; ``projections rebuild`` fills them for every case at once).
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (("cases", "home_city"),)


def add_missing_columns(engine: Engine) -> list[str]:
    """Add the ``ADDED_COLUMNS`` an older database lacks (idempotent); returns those added."""
    inspector = inspect(engine)
    added: list[str] = []
    with engine.begin() as connection:
        for table, column in ADDED_COLUMNS:
            if not inspector.has_table(table) or column in {c["name"] for c in inspector.get_columns(table)}:
                continue
            kind = Base.metadata.tables[table].c[column].type.compile(engine.dialect)
            connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
            added.append(f"{table}.{column}")
    return added
