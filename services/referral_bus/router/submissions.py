"""The router's decisions, free of Kafka: one submission in, everything to write out.

Order of checks (each failure is a receipt naming code, field and paragraph, plus a dead letter):
size → frame and schema → record is a case event → envelope → agency and ingress topic → the
agency's signature (domain/signatures.py) → sealed personal data (domain/sealing.py: the case not
erased, the sealed part opens with the vault's ingress key, clear personal data refused where
sealing is required) → duplicate event id → legal transition → routing.
Accepted events get the next per-case sequence number,
``recorded_at`` and the hash chain, then go to the case log and to every inbox owed them. A sealed
event's data key is re-wrapped under the case's key (infra/vault.py) for the case log and for each
entitled inbox copy; redacted copies carry no sealed part at all.

State (per-case sequence, last hash, seen event ids) is a fold of the case log, so after a crash it
is rebuilt from the log and nothing is appended twice (docs/design.md: exactly-once effects).
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid5

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from referral_bus.contracts.base import SEALED, Event, redact_personal
from referral_bus.contracts.bus_records import DeadLetter, Receipt, ReceiptStatus
from referral_bus.contracts.sla_records import EscalationRaised
from referral_bus.domain.agencies import Directory
from referral_bus.domain.authorization import authorize
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.chain import chain_hash, content_fingerprint
from referral_bus.domain.decisions import decide, fold, note_escalation, route
from referral_bus.domain.deliveries import Delivery
from referral_bus.domain.rejections import Code, Rejection
from referral_bus.domain.sealing import (
    CASE_LOG,
    VAULT,
    SealingError,
    has_personal,
    open_sealed,
    rewrap,
    unwrap_with_key,
    unwrap_with_private,
    wrap_with_key,
)
from referral_bus.domain.signatures import KeyDirectory
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.vault import CaseErased, Vault

log = structlog.get_logger(__name__)
_RECEIPT_NS = UUID("0c0f6f2e-8d55-4d38-b6f5-7c1de0f1a2b3")
_ROUTER_SET = ("recorded_at", "sequence", "previous_hash", "hash")
#: Seconds between re-reads of the vault's ingress keys (a rotation is seen at once, by its new key ref).
INGRESS_KEYS_EVERY = 60.0


#: (key ref, key) of a case, from the vault
CaseKey = tuple[str, bytes]
Source = tuple[str, int, int]
"""Where a submission sits on its ingress topic: (topic, partition, offset)."""


def source_key(source: Source) -> bytes:
    """The Kafka key of every receipt (docs/contract.md): ``<ingress topic>:<partition>:<offset>`` of the
    submission it answers, UTF-8 — what any Kafka client's produce acknowledgement tells the sender, so
    a receipt is matched the same way whether or not its bytes decoded (the receipt's value says it
    again in ``source_topic``, ``source_partition``, ``source_offset``)."""
    topic, partition, offset = source
    return f"{topic}:{partition}:{offset}".encode()


@dataclass(frozen=True)
class Submission:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @property
    def source(self) -> Source:
        return (self.topic, self.partition, self.offset)


@dataclass(frozen=True)
class Recent:
    """A recent append: the submission it came from and the deliveries it was owed."""

    source: Source | None
    deliveries: list[tuple[Delivery, Event]]


@dataclass
class Outcome:
    receipt: Receipt
    appended: Event | None = None
    deliveries: list[tuple[Delivery, Event]] = field(default_factory=list)
    dead_letter: DeadLetter | None = None

    @property
    def receipt_key(self) -> bytes:
        """The key the receipt is written with: the submission's coordinates (``source_key``)."""
        return source_key((self.receipt.source_topic, self.receipt.source_partition, self.receipt.source_offset))


def utc_now() -> datetime:
    return datetime.now(UTC)


class SubmissionHandler:
    def __init__(self, codec: Codec, directory: Directory, ingress_owners: dict[str, str], *,
                 max_event_bytes: int, max_clock_skew: timedelta, clock: Callable[[], datetime] = utc_now,
                 signing_keys: KeyDirectory | None = None, max_event_age: timedelta = timedelta(days=3650),
                 vault: Vault | None = None, require_sealed: bool = False) -> None:
        self.max_event_age = max_event_age
        #: The key vault (infra/vault.py): opens sealed submissions, holds the case keys; ``None``
        #: where nothing is sealed (the simulator), and then sealed submissions are refused.
        self.vault = vault
        #: Refuse personal data in clear (PERSONAL_DATA_NOT_SEALED): the setting, on a secured bus.
        self.require_sealed = require_sealed
        #: The vault's ingress private keys by key ref (read once; again when a ref is not known)
        self._ingress: dict[str, X25519PrivateKey] = {}
        #: when ``_ingress`` was read from the vault (monotonic): re-read after INGRESS_KEYS_EVERY
        #: seconds, so a retired ingress key is forgotten here too, not only in the vault file
        self._ingress_read = -INGRESS_KEYS_EVERY
        self.codec = codec
        #: The enrolled signing keys (the router follows rb.signing-keys); ``None`` only where no
        #: agency signs — the simulator, which runs the protocol's decisions without transport.
        self.signing_keys = signing_keys
        self.directory = directory
        #: ingress topic → the agency whose it is
        self.ingress_owners = ingress_owners
        self.max_event_bytes = max_event_bytes
        self.max_clock_skew = max_clock_skew
        self.clock = clock
        self.cases: dict[str, CaseState] = {}
        #: event id → case id, so an id reused on another case is caught too.
        self.event_cases: dict[bytes, str] = {}
        #: The most recent appends. A crash between appending and answering means the submission
        #: comes round again: recognised by its source, it is answered ACCEPTED and its deliveries
        #: are sent again (with the same delivery ids).
        self.recent: OrderedDict[UUID, Recent] = OrderedDict()
        self.recent_limit = 50_000
        #: Submissions whose receipt is already on a receipts topic (read at start-up): a crash after the
        #: receipts but before the ingress offsets were committed brings them round again, and they
        #: are skipped — one receipt per submission. Receipts are written last, after the case log
        #: and the deliveries, so a receipt on the log means the submission was fully handled.
        self.answered: set[Source] = set()
        #: Escalations of cases this router has not folded yet (another process appends them): kept
        #: until the case is, since the escalations topic is read once, not again per rebalance.
        self.escalations_waiting: dict[str, list[EscalationRaised]] = {}

    @classmethod
    def from_runtime(cls, runtime: Runtime, *, codec: Codec | None = None, clock: Callable[[], datetime] = utc_now,
                     signing_keys: KeyDirectory | None = None, vault: Vault | None = None) -> SubmissionHandler:
        """The router's decisions as every part of the bus runs them (the service, the simulator):
        this directory, the ingress topics of the catalogue, the size and clock-skew limits; with a
        ``vault``, sealing as the settings require it."""
        settings = runtime.settings
        return cls(codec or runtime.codec, runtime.directory, runtime.catalogue.ingress_topics(),
                   max_event_bytes=settings.max_event_bytes,
                   max_clock_skew=timedelta(seconds=settings.max_clock_skew_seconds), clock=clock,
                   signing_keys=signing_keys, max_event_age=timedelta(days=settings.max_event_age_days),
                   vault=vault, require_sealed=vault is not None and settings.require_sealed_personal_data)

    # -- state from the case log ------------------------------------------------------------------
    def reset(self) -> None:
        self.cases.clear()
        self.event_cases.clear()
        self.recent.clear()
        self.answered.clear()
        self.escalations_waiting.clear()

    def case(self, case_id: str) -> CaseState:
        state = self.cases.get(case_id)
        if state is None:
            state = self.cases[case_id] = CaseState(case_id)
            for record in self.escalations_waiting.pop(case_id, []):
                note_escalation(state, record)
        return state

    def note_escalation(self, record: EscalationRaised) -> None:
        """An escalation the SLA processor raised (from rb.escalations): who may acknowledge it.
        One of a case not folded yet waits for it (``escalations_waiting``)."""
        state = self.cases.get(record.case_id)
        if state is not None:
            note_escalation(state, record)
        else:
            self.escalations_waiting.setdefault(record.case_id, []).append(record)

    def fold(self, event: Event, source: Source | None = None, *, remember: bool = True) -> None:
        """Apply an event read back from the case log (at start-up or after a rebalance);
        ``source`` is the submission it was appended from (the record's ``rb-source`` header).
        ``remember``: work out the deliveries it was owed and keep them in ``recent`` — needed only
        for the last appends of each partition (one of them may still owe its receipt); routing and
        the copies were ~40 % of a fold's cost, so the router's rebuild leaves it to the tail."""
        state = self.case(event.envelope.case_id)
        if (event.envelope.sequence or 0) <= state.last_sequence:
            return
        opened, data_key, case_key = self._open_logged(event)
        deliveries: list[Delivery] = []
        if remember:
            try:
                deliveries = route(opened, state, self.directory)
            except Rejection:  # the directory changed since: nothing to re-send
                pass
        fold(state, opened, self.directory)
        self.event_cases[event.envelope.event_id.bytes] = state.case_id
        if remember:
            self._remember(event, deliveries, source, data_key, case_key)

    def _remember(self, event: Event, deliveries: list[Delivery], source: Source | None,
                  data_key: bytes | None = None, case_key: CaseKey | None = None) -> list[tuple[Delivery, Event]]:
        """The copy each delivery gets: redacted (no personal data, no sealed part, no free text that
        may name a person), or the full event — sealed, its data key wrapped for that recipient."""
        redacted = event.redacted()
        pairs = [(d, redacted if d.redacted else self._copy_for(event, d.recipient_id, data_key, case_key))
                 for d in deliveries]
        self.recent[event.envelope.event_id] = Recent(source, pairs)
        while len(self.recent) > self.recent_limit:
            self.recent.popitem(last=False)
        return pairs

    # -- a batch of submissions ---------------------------------------------------------------
    def handle_batch(self, submissions: list[Submission]) -> list[list[Outcome]]:
        """Outcomes in rounds with at most one case-log append per case: a later event of the same
        case goes to the next round, which is written only after the earlier round's appends are
        acknowledged. So a failed write can never leave a gap in a case's sequence. The case keys
        made for the batch's sealed events are committed to the vault, together, before it returns
        (before anything sealed under them is written)."""
        with self.vault.batch() if self.vault is not None else nullcontext():
            return self._handle_batch(submissions)

    def _handle_batch(self, submissions: list[Submission]) -> list[list[Outcome]]:
        rounds: list[list[Outcome]] = []
        pending = [sub for sub in submissions if sub.source not in self.answered]
        self.answered.difference_update(sub.source for sub in submissions)  # each comes round at most once
        while pending:
            outcomes: list[Outcome] = []
            deferred: list[Submission] = []
            busy: set[bytes | None] = set()
            for sub in pending:
                if sub.key in busy:
                    deferred.append(sub)
                    continue
                outcome = self.handle(sub)
                if outcome.appended is not None:
                    busy.add(sub.key)
                outcomes.append(outcome)
            rounds.append(outcomes)
            pending = deferred
        statuses = Counter(o.receipt.status.value for r in rounds for o in r)
        log.info("router.batch", submissions=len(submissions), rounds=len(rounds),
                 already_answered=len(submissions) - sum(statuses.values()), **statuses)
        return rounds

    # -- one submission -----------------------------------------------------------------------
    def handle(self, sub: Submission) -> Outcome:
        event: Event | None = None
        try:
            event = self._decode(sub)
            return self._accept(sub, event)
        except Rejection as rejection:
            return self._reject(sub, rejection, event)

    def _decode(self, sub: Submission) -> Event:
        size = len(sub.value or b"")
        if size > self.max_event_bytes:
            raise Rejection(Code.OVERSIZED, f"{size} bytes exceeds the limit of {self.max_event_bytes} bytes")
        try:
            record = self.codec.decode(sub.value or b"")
        except DecodeError as exc:
            raise Rejection(Code(exc.code), exc.message, paragraph=exc.paragraph, field=exc.field) from None
        if not isinstance(record, Event):
            raise Rejection(Code.UNKNOWN_EVENT_TYPE,
                            f"{type(record).__name__} is not a case event; agencies publish case events only")
        if (problem := self.codec.declared_version_problem(sub.value or b"", record)) is not None:
            raise Rejection(Code(problem.code), problem.message, field=problem.field)
        return record

    def _check_envelope(self, sub: Submission, event: Event) -> None:
        env = event.envelope
        for name in _ROUTER_SET:
            if getattr(env, name) is not None:
                raise Rejection(Code.ENVELOPE_INVALID, f"envelope.{name} is set by the router and must be empty",
                                field=f"envelope.{name}")
        if sub.key != env.case_id.encode():
            raise Rejection(Code.ENVELOPE_INVALID, "the Kafka message key must be the case id, so that a "
                            "case's events stay in order on one partition", field="key")
        if env.occurred_at > self.clock() + self.max_clock_skew:
            raise Rejection(Code.ENVELOPE_INVALID, "occurred_at lies in the future beyond the allowed clock skew "
                            f"of {int(self.max_clock_skew.total_seconds())} s", field="envelope.occurred_at")
        if env.occurred_at < self.clock() - self.max_event_age:
            raise Rejection(Code.ENVELOPE_INVALID, f"occurred_at lies more than {self.max_event_age.days} days in the "
                            "past (REFERRAL_BUS_MAX_EVENT_AGE_DAYS): a wrong clock or a mistyped year",
                            field="envelope.occurred_at")

    # -- sealed personal data ------------------------------------------------------------------
    def _open_submission(self, event: Event) -> tuple[Event, bytes | None]:
        """(the event with its personal part opened, its data key) — the data key ``None`` when
        nothing is sealed. Refuses an erased case, a sealed part that does not open or leaves
        personal data in clear beside it, and clear personal data where sealing is required."""
        env = event.envelope
        if self.vault is not None:
            erased_at = self.vault.erased(env.case_id)
            if erased_at is not None:
                raise Rejection(Code.CASE_ERASED, f"the case was erased at {erased_at} (its key destroyed): it takes "
                                "no more events (docs/security.md, personal data)", field="envelope.case_id")
        sealed = event.sealed
        if sealed is None:
            if self.require_sealed and has_personal(event):
                raise Rejection(Code.PERSONAL_DATA_NOT_SEALED, "personal data and personal free text must be sealed "
                                "to the key vault's ingress key (REFERRAL_BUS_REQUIRE_SEALED_PERSONAL_DATA; the SDK "
                                "does it with REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE)", field="sealed")
            return event, None
        if self.vault is None:
            raise Rejection(Code.SEALED_DATA_INVALID, "this bus holds no key vault to open sealed data", field="sealed")
        if sealed.key_ref not in self._ingress or time.monotonic() - self._ingress_read > INGRESS_KEYS_EVERY:
            self._ingress, self._ingress_read = self.vault.ingress_keys(), time.monotonic()
        private = self._ingress.get(sealed.key_ref)
        if sealed.recipient != VAULT or private is None:
            raise Rejection(Code.SEALED_DATA_INVALID, f"a submission's data key must be wrapped for {VAULT} to the "
                            "vault's ingress key (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE), not "
                            f"{sealed.recipient}/{sealed.key_ref}", field="sealed.key_ref")
        try:
            data_key = unwrap_with_private(sealed.wrapped_key, private, case_id=env.case_id,
                                           event_id=str(env.event_id), key_ref=sealed.key_ref)
            opened = open_sealed(event, data_key)
        except SealingError as exc:
            raise Rejection(Code.SEALED_DATA_INVALID, str(exc), field="sealed") from None
        if redact_personal(opened, SEALED).model_copy(update={"sealed": sealed}) != event:
            raise Rejection(Code.SEALED_DATA_INVALID, "beside a sealed part, personal data must be empty and every "
                            "personal text that holds something must read [sealed]", field="sealed")
        return opened, data_key

    def _open_logged(self, event: Event) -> tuple[Event, bytes | None, CaseKey | None]:
        """A case-log event opened with its case's key, for the router's own state (the content
        fingerprint of duplicates); as it is when its case was erased or the vault lacks the key."""
        sealed = event.sealed
        if sealed is None or self.vault is None:
            return event, None, None
        env = event.envelope
        try:
            found = self.vault.case_key(env.case_id)
            if found is None:
                raise SealingError("the vault holds no key for this case")
            data_key = unwrap_with_key(sealed.wrapped_key, found[1], case_id=env.case_id, event_id=str(env.event_id),
                                       recipient=CASE_LOG, key_ref=sealed.key_ref)
            return open_sealed(event, data_key), data_key, found
        except CaseErased:
            return event, None, None
        except SealingError as exc:
            log.warning("router.sealed_unopened", case_id=env.case_id, event_id=str(env.event_id), reason=str(exc))
            return event, None, None

    def _case_key(self, case_id: str) -> CaseKey | None:
        """The case's key, made on first use; None once the case is erased."""
        assert self.vault is not None
        try:
            return self.vault.case_key(case_id, create=True)
        except CaseErased:
            return None

    def _copy_for(self, event: Event, recipient: str, data_key: bytes | None, case_key: CaseKey | None) -> Event:
        """``event`` sealed for ``recipient``: its data key wrapped under the case key for that
        recipient alone. Without the data key or the case key (the case erased since), the redacted copy."""
        if event.sealed is None:
            return event
        if data_key is None or case_key is None:
            return event.redacted()
        env = event.envelope
        key_ref, key = case_key
        wrapped = wrap_with_key(data_key, key, case_id=env.case_id, event_id=str(env.event_id),
                                recipient=recipient, key_ref=key_ref)
        return rewrap(event, wrapped, key_ref=key_ref, recipient=recipient)

    def _accept(self, sub: Submission, event: Event) -> Outcome:
        self._check_envelope(sub, event)
        authorize(event, self.directory, self.ingress_owners.get(sub.topic))
        if self.signing_keys is not None:
            self.signing_keys.check(event, at=self.clock())
        opened, data_key = self._open_submission(event)
        env = event.envelope
        known_case = self.event_cases.get(env.event_id.bytes)
        if known_case is not None and known_case != env.case_id:
            raise Rejection(Code.EVENT_ID_CONFLICT, "event id already used on another case",
                            field="envelope.event_id")
        # not stored until accepted: rejected submissions must not grow state for made-up case ids
        state = self.cases.get(env.case_id) or CaseState(env.case_id)
        on_log = state.logged(env.event_id)
        if on_log is not None:
            sequence, fingerprint = on_log
            if fingerprint != content_fingerprint(opened):
                raise Rejection(Code.EVENT_ID_CONFLICT, "event id already on the case log with different content",
                                field="envelope.event_id")
            recent = self.recent.get(env.event_id)
            deliveries_again = list(recent.deliveries) if recent else []
            if recent is not None and recent.source == sub.source:
                # this very submission was appended before a crash and never answered
                log.info("router.answered_after_restart", event_id=str(env.event_id), case_id=env.case_id,
                         sequence=sequence)
                return Outcome(self._receipt(sub, ReceiptStatus.ACCEPTED, event, sequence=sequence),
                               deliveries=deliveries_again)
            log.info("router.duplicate", event_id=str(env.event_id), case_id=env.case_id, sequence=sequence)
            return Outcome(self._receipt(sub, ReceiptStatus.DUPLICATE, event, sequence=sequence,
                                         reason="already on the case log; nothing appended"),
                           deliveries=deliveries_again)
        deliveries = decide(opened, state, self.directory).deliveries
        case_key = self._case_key(env.case_id) if data_key is not None else None
        logged = self._copy_for(event, CASE_LOG, data_key, case_key)   # the case log's copy: sealed for rb.case-log
        if data_key is not None and logged.sealed is None:
            raise Rejection(Code.CASE_ERASED, "the case was erased (its key destroyed) while this event was "
                            "handled: it takes no more events", field="envelope.case_id")
        recorded_at = max(self.clock(), state.last_recorded_at or datetime.min.replace(tzinfo=UTC))
        stamped_env = env.model_copy(update={"recorded_at": recorded_at, "sequence": state.last_sequence + 1,
                                             "previous_hash": state.last_hash})
        stamped = logged.model_copy(update={"envelope": stamped_env})
        final = stamped.model_copy(update={"envelope": stamped_env.model_copy(
            update={"hash": chain_hash(state.last_hash, stamped)})})
        fold(state, opened.model_copy(update={"envelope": final.envelope}), self.directory)
        self.cases[env.case_id] = state
        self.event_cases[env.event_id.bytes] = env.case_id
        pairs = self._remember(final, deliveries, sub.source, data_key, case_key)
        log.debug("router.accepted", event_id=str(env.event_id), case_id=env.case_id,
                 event_type=event.event_type(), sequence=final.envelope.sequence,
                 recipients=[d.recipient_id for d in deliveries])
        return Outcome(self._receipt(sub, ReceiptStatus.ACCEPTED, final, sequence=final.envelope.sequence),
                       appended=final, deliveries=pairs)

    def _reject(self, sub: Submission, rejection: Rejection, event: Event | None) -> Outcome:
        log.warning("router.rejected", code=rejection.code.value, field=rejection.field,
                    paragraph=rejection.paragraph, topic=sub.topic, partition=sub.partition, offset=sub.offset,
                    event_id=str(event.envelope.event_id) if event else None,
                    case_id=event.envelope.case_id if event else None)
        receipt = self._receipt(sub, ReceiptStatus.REJECTED, event, rejection=rejection)
        dead = DeadLetter(
            dead_letter_id=receipt.receipt_id, reason_code=rejection.code.value, reason=str(rejection),
            field=rejection.field, paragraph=rejection.paragraph,
            event_id=event.envelope.event_id if event else None, case_id=event.envelope.case_id if event else None,
            source_topic=sub.topic, source_partition=sub.partition, source_offset=sub.offset,
            original_key=sub.key, original_value=self._kept_value(sub, rejection, event), recorded_at=self.clock())
        return Outcome(receipt, dead_letter=dead)

    def _kept_value(self, sub: Submission, rejection: Rejection, event: Event | None) -> bytes:
        """What the dead letter keeps of the submission: its bytes — but personal data refused for
        being in clear is not copied on to the dead-letter topic (kept 30 days): the redacted event."""
        if rejection.code is Code.PERSONAL_DATA_NOT_SEALED and event is not None:
            return self.codec.encode(event.redacted())
        return (sub.value or b"")[: self.max_event_bytes]

    def _receipt(self, sub: Submission, status: ReceiptStatus, event: Event | None, *, sequence: int | None = None,
                 reason: str | None = None, rejection: Rejection | None = None) -> Receipt:
        env = event.envelope if event else None
        return Receipt(
            receipt_id=uuid5(_RECEIPT_NS, f"{sub.topic}|{sub.partition}|{sub.offset}"), status=status,
            event_id=env.event_id if env else None, event_type=event.event_type() if event else None,
            case_id=env.case_id if env else None, producer_agency_id=env.producer.agency_id if env else None,
            sequence=sequence, reason_code=rejection.code.value if rejection else None,
            reason=str(rejection) if rejection else reason, field=rejection.field if rejection else None,
            paragraph=rejection.paragraph if rejection else None, source_topic=sub.topic,
            source_partition=sub.partition, source_offset=sub.offset, recorded_at=self.clock())
