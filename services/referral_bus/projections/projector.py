"""Apply records read from the log to the read models, one transaction per batch, with the
consumer offsets in the same transaction (docs/design.md: exactly-once effects under at-least-once
delivery). Knows nothing of Kafka: it gets decoded records with their topic, partition, offset,
headers and timestamp."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from referral_bus.contracts.base import Event, Record
from referral_bus.contracts.events import (
    InitialAssessmentCompleted,
    NGODecision,
    ReferralKind,
    ReferralMade,
    ReferralWithdrawn,
)
from referral_bus.contracts.sla_records import (
    DeadlineBreached,
    DeadlineCompletedLate,
    DeadlineMet,
    DeadlineOpened,
    DeadlineWarning,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.decisions import fold
from referral_bus.infra import failpoints
from referral_bus.projections.tables import (
    CaseIndexRow,
    CaseIndexStart,
    CaseRow,
    ConsumerOffset,
    DeadlineRow,
    DeliveryRow,
    EscalationRow,
    ProjectedRecord,
    ReferralRow,
    TimelineRow,
)


@dataclass(frozen=True)
class Item:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]
    timestamp: datetime
    #: ``None`` for a record set aside (infra/quarantine.py): nothing to apply, but it is read
    record: Record | None
    #: SHA-256 of the record's bytes, remembered for the last record of a partition (divergence.py)
    sha256: str = ""


#: The outcome of a referral its referrer withdrew (``ReferralWithdrawn``) before anyone acted on it.
WITHDRAWN = "WITHDRAWN"


def age_band(age: int) -> str:
    """Bands for the Steering Committee's statistics (Annex A); no exact ages leave the case."""
    for upper, band in ((3, "0-2"), (6, "3-5"), (12, "6-11"), (16, "12-15")):
        if age < upper:
            return band
    return "16-17"


class Projector:
    def __init__(self, engine: Engine, case_log: str, sla: str, escalations: str, inbox_agency: dict[str, str],
                 directory: Directory) -> None:
        self.engine = engine
        self.directory = directory
        #: each case's state, folded by the domain (decisions.fold) from the case log
        self.states: dict[str, CaseState] = {}
        self.case_log, self.sla, self.escalations = case_log, sla, escalations
        self.inbox_agency = inbox_agency  # inbox topic name → agency id
        #: rows of the current batch, found without a flush
        self._rows: dict[tuple[type, str | tuple[str, str]], object] = {}
        #: partitions whose case-index start (CaseIndexStart) is known to be recorded
        self._index_started: set[tuple[str, int]] = set()

    def offsets(self) -> dict[tuple[str, int], int]:
        with Session(self.engine) as session:
            return {(o.topic, o.partition): o.next_offset for o in session.scalars(select(ConsumerOffset))}

    def apply_batch(self, items: list[Item]) -> None:
        if not items:
            return
        with Session(self.engine, autoflush=False) as session, session.begin():
            self._rows = {}
            for item in items:
                if item.record is None:
                    continue
                if item.topic == self.case_log and isinstance(item.record, Event):
                    self._event(session, item.record)
                elif item.topic == self.sla:
                    self._deadline(session, item.record)
                elif item.topic == self.escalations and isinstance(item.record, EscalationRaised):
                    self._escalation(session, item.record)
                elif item.topic in self.inbox_agency:
                    self._delivery(session, item)
            last: dict[tuple[str, int], Item] = {}
            for item in items:
                if item.offset > getattr(last.get((item.topic, item.partition)), "offset", -1):
                    last[(item.topic, item.partition)] = item
            self._index(session, items, list(last))
            for (topic, partition), item in last.items():
                session.merge(ConsumerOffset(topic=topic, partition=partition, next_offset=item.offset + 1))
                session.merge(ProjectedRecord(topic=topic, partition=partition, offset=item.offset,
                                              sha256=item.sha256))
            failpoints.hit("projector.before_commit")  # fault tests: a crash loses this uncommitted transaction

    # -- case index (issue 13 item 4) ------------------------------------------------------------
    def _index(self, session: Session, items: list[Item], partitions: list[tuple[str, int]]) -> None:
        """Index every keyed record of the case log, rb.sla and rb.escalations in this batch — set-aside
        ones too (``history`` names them as a full scan does) — in the batch's transaction, so the
        index covers exactly what the stored offsets say was read."""
        indexed = (self.case_log, self.sla, self.escalations)
        for tp in partitions:
            if tp[0] not in indexed or tp in self._index_started:
                continue
            if session.get(CaseIndexStart, tp) is None:
                # before this batch the projector was at the stored offset: a database made before the
                # index lacks everything below it (and says so); a new one starts at 0
                stored = session.get(ConsumerOffset, tp)
                session.add(CaseIndexStart(topic=tp[0], partition=tp[1],
                                           from_offset=stored.next_offset if stored is not None else 0))
            self._index_started.add(tp)
        rows = []
        for item in items:
            if item.topic not in indexed or not item.key:
                continue
            try:
                case_id = item.key.decode()
            except UnicodeDecodeError:
                continue   # not a case id: no case's reader would look for it (verify lists such records)
            if len(case_id) > 255:
                continue
            env = item.record.envelope if isinstance(item.record, Event) else None
            rows.append({"topic": item.topic, "partition": item.partition, "offset": item.offset,
                         "case_id": case_id, "sequence": env.sequence if env else None,
                         "hash": env.hash if env else None, "sha256": item.sha256})
        if rows:
            session.execute(insert(CaseIndexRow), rows)

    def _get(self, session: Session, table: type, key: str | tuple[str, str]) -> Any:
        """A row by primary key: from this batch if it was added or loaded here, else the database."""
        if (table, key) not in self._rows:
            self._rows[(table, key)] = session.get(table, key)
        return self._rows[(table, key)]

    def _add(self, session: Session, row: Any, key: str | tuple[str, str]) -> None:
        session.add(row)
        self._rows[(type(row), key)] = row

    # -- case log ---------------------------------------------------------------------------------
    def prime(self, event: Event) -> None:
        """Fold an event projected before this process started, so the case's state is whole."""
        fold(self.states.setdefault(event.envelope.case_id, CaseState(event.envelope.case_id)), event, self.directory)

    def _event(self, session: Session, event: Event) -> None:
        env = event.envelope
        if env.sequence is None or env.recorded_at is None or env.hash is None:
            return  # not stamped by the router: cannot be on the case log (verify reports it)
        state = self.states.setdefault(env.case_id, CaseState(env.case_id))
        if env.sequence <= state.last_sequence:
            return  # already projected (a replayed batch)
        fold(state, event, self.directory)
        session.add(TimelineRow(case_id=env.case_id, sequence=env.sequence, event_id=str(env.event_id),
                                event_type=event.event_type(), producer_agency_id=env.producer.agency_id,
                                occurred_at=env.occurred_at, recorded_at=env.recorded_at, hash=env.hash,
                                fields=event.model_dump(mode="json", exclude={"envelope", *event.personal_fields()})))
        case = self._get(session, CaseRow, env.case_id)
        if case is None:
            case = CaseRow(case_id=env.case_id, opened_at=env.recorded_at, opened_by=env.producer.agency_id)
            self._add(session, case, env.case_id)
        # what the domain's fold says, never worked out again here
        case.last_sequence, case.last_event_type = env.sequence, event.event_type()
        case.last_recorded_at = env.recorded_at
        case.city = state.city.value if state.city else None
        case.home_city = state.home_city.value if state.home_city else None   # issue 15
        case.child_age_years = state.child_age_years
        case.referred_to_cam, case.child_removed = state.referred_to_cam, state.child_removed
        case.initial_assessment = state.initial_assessment.value if state.initial_assessment else None
        if isinstance(event, ReferralMade):
            session.add(ReferralRow(event_id=str(env.event_id), case_id=env.case_id,
                                    referral_kind=event.referral_kind.value, city=event.city.value,
                                    referring_agency_id=env.producer.agency_id,
                                    age_band=age_band(event.child_age_years), made_at=env.recorded_at))
        elif isinstance(event, InitialAssessmentCompleted):
            self._close_referrals(session, env.case_id, ReferralKind.CHILD_PROTECTION, event.outcome.value,
                                  env.recorded_at)
        elif isinstance(event, NGODecision):
            self._close_referrals(session, env.case_id, ReferralKind.NGO_SUPPORT, event.decision.value, env.recorded_at)
        elif isinstance(event, ReferralWithdrawn):   # issue 15: that referral only, whatever its kind
            session.flush()
            referral = session.get(ReferralRow, str(event.referral_event_id))
            if referral is not None and referral.outcome is None:
                referral.outcome, referral.outcome_at = WITHDRAWN, env.recorded_at

    @staticmethod
    def _close_referrals(session: Session, case_id: str, kind: ReferralKind, outcome: str, at: datetime) -> None:
        session.flush()
        for referral in session.scalars(select(ReferralRow).where(
                ReferralRow.case_id == case_id, ReferralRow.referral_kind == kind.value,
                ReferralRow.outcome.is_(None))):
            referral.outcome, referral.outcome_at = outcome, at

    # -- deadlines ----------------------------------------------------------------------------
    def _deadline(self, session: Session, record: Record) -> None:
        if isinstance(record, DeadlineOpened):  # a re-timed deadline (6.3(a)) keeps its id
            row = self._get(session, DeadlineRow, str(record.deadline_id))
            if row is None:
                self._add(session, DeadlineRow(deadline_id=str(record.deadline_id), case_id=record.case_id,
                                        rule_id=record.rule_id, paragraph=record.paragraph,
                                        responsible_agency_id=record.responsible_agency_id,
                                        opened_at=record.opened_at, due_at=record.due_at, status="open"),
                          str(record.deadline_id))
            else:
                row.rule_id, row.paragraph, row.due_at = record.rule_id, record.paragraph, record.due_at
                row.status = "open"
            return
        row = self._get(session, DeadlineRow, str(getattr(record, "deadline_id", "")))
        if row is None:
            return
        if isinstance(record, DeadlineWarning):
            row.status = "warned"
        elif isinstance(record, DeadlineBreached):
            row.status = "breached"
        elif isinstance(record, DeadlineMet):
            row.status, row.completed_at = "met", record.completed_at
        elif isinstance(record, DeadlineCompletedLate):
            row.status, row.completed_at, row.lateness_seconds = "late", record.completed_at, record.lateness_seconds
        elif isinstance(record, DeadlineWithdrawn):  # no longer owed: closed at the withdrawing event
            row.status, row.completed_at = "withdrawn", record.withdrawn_at

    def _escalation(self, session: Session, record: EscalationRaised) -> None:
        key = str(record.escalation_id)
        if self._get(session, EscalationRow, key) is None:
            self._add(session, EscalationRow(escalation_id=key, deadline_id=str(record.deadline_id),
                                             case_id=record.case_id, rule_id=record.rule_id, level=record.level,
                                             escalated_to_agency_id=record.escalated_to_agency_id,
                                             raised_for=record.raised_for), key)

    # -- inboxes ------------------------------------------------------------------------------
    def _delivery(self, session: Session, item: Item) -> None:
        delivery_id, agency_id = item.headers.get("rb-delivery-id"), self.inbox_agency[item.topic]
        if not delivery_id:
            return
        # keyed by agency too: an escalation's copies to the escalated-to and the responsible
        # agency share the escalation's id as their delivery id
        key = (delivery_id, agency_id)
        if self._get(session, DeliveryRow, key) is not None:
            return  # re-sent after a crash: the same delivery, already recorded
        record = item.record
        event_id = str(record.envelope.event_id) if isinstance(record, Event) else None
        self._add(session, DeliveryRow(delivery_id=delivery_id, agency_id=agency_id,
                                case_id=(item.key or b"").decode(), record_type=type(record).__name__,
                                event_id=event_id, paragraph=item.headers.get("rb-paragraph"),
                                purpose=item.headers.get("rb-purpose"),
                                redacted=item.headers.get("rb-redacted") == "true", delivered_at=item.timestamp),
                  key)
