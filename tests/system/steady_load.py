"""A steady stream of submissions from agency systems, and the checks that nothing was lost,
duplicated or left unanswered — shared by the fault tests (broker faults, restarts)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from kafka.errors import KafkaTimeoutError

from referral_bus.auditor.verify import verify_topic_sync
from referral_bus.contracts.base import Event
from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.infra.kafka.log_reader import read_to_end_sync
from referral_bus.infra.runtime import Runtime
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import read_all, read_topic
from tests.builders import case_id, outcome_report, referral, removal

#: Seconds a send may stay unacknowledged before the client replaces its producer.
STUCK_AFTER = 45.0


@dataclass
class SteadyLoad:
    """Submits at ``rate`` per second from a thread until stopped: a school's referral (a new
    case), and for every other case a police removal followed by its 4.8 report on the same
    producer, topic and key (so they stay in order). A send the client could not complete is sent
    again with the same bytes (same event id), as an agency system would."""

    runtime: Runtime
    rate: float = 40.0
    prefix: str = "LOAD"
    #: event id → the event, for every submission the broker acknowledged
    sent: dict[str, Event] = field(default_factory=dict)
    resent: int = 0
    #: times a client's producer was replaced because its sends never completed
    reconnects: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: BaseException | None = None

    def start(self) -> SteadyLoad:
        self._thread = threading.Thread(target=self._run, name="steady-load", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 300.0) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the load did not finish sending within the timeout"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        school = AgencyClient("school-almaty", actor_id="load-teacher", runtime=self.runtime)
        police = AgencyClient("police-juvenile-almaty", actor_id="load-inspector", runtime=self.runtime)
        pending: list[Pending] = []
        try:
            start, n, cases = time.monotonic(), 0, 0
            while not self._stop.is_set():
                case = case_id(self.prefix)
                if cases % 2:
                    batch = [(police, removal(police, case, hours_ago=1)), (police, outcome_report(police, case))]
                else:
                    batch = [(school, referral(school, case))]
                cases += 1
                for client, event in batch:
                    value = client.validate(event)
                    pending.append(Pending(client, event, value, self._send(client, event, value)))
                    n += 1
                pending = self._settle(pending)
                lag = n / self.rate - (time.monotonic() - start)
                if lag > 0:
                    time.sleep(lag)
            while pending:
                pending = self._settle(pending)
                time.sleep(0.2)
        except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
            self.error = exc
        finally:
            school.close()
            police.close()

    @staticmethod
    def _send(client: AgencyClient, event: Event, value: bytes) -> object:
        """Hand the event to the client's producer. While the whole cluster is down (a restart),
        a fresh producer cannot bootstrap and kafka-python raises after 30 s: the send counts as
        failed and is made again on the next pass, as an agency system would retry."""
        try:
            return client.producer.send(client.runtime.catalogue.ingress(client.agency.id),
                                        key=event.envelope.case_id.encode(), value=value)
        except KafkaTimeoutError:
            return NotSent()

    def _settle(self, pending: list[Pending]) -> list[Pending]:
        """Record acknowledged sends; send failed ones again; keep the rest pending. A client whose
        oldest send has waited STUCK_AFTER seconds gets a fresh producer and sends its pending
        events again, as an agency system would after a timeout."""
        still = []
        for item in pending:
            if not item.future.is_done:  # type: ignore[attr-defined]
                still.append(item)
            elif item.future.succeeded():  # type: ignore[attr-defined]
                self.sent[str(item.event.envelope.event_id)] = item.event
            else:
                self.resent += 1
                still.append(item.again(self._send(item.client, item.event, item.value)))
        now = time.monotonic()
        for client in {i.client for i in still if now - i.since > STUCK_AFTER}:
            self.reconnects += 1
            client.reset_producer()
            still = [i.again(self._send(i.client, i.event, i.value)) if i.client is client else i for i in still]
        return still


class NotSent:
    """A send that never reached a producer (no broker could be bootstrapped): done and failed."""

    is_done = True

    @staticmethod
    def succeeded() -> bool:
        return False


@dataclass(frozen=True)
class Pending:
    client: AgencyClient
    event: Event
    value: bytes
    future: object
    since: float = field(default_factory=time.monotonic)

    def again(self, future: object) -> Pending:
        return Pending(self.client, self.event, self.value, future)


@dataclass
class LogCheck:
    events_on_log: int
    submissions: int
    receipts: int
    accepted: int
    duplicate_receipts: int


def check_nothing_lost(runtime: Runtime, sent: dict[str, Event], allow_refused: bool = False) -> LogCheck:
    """The bus's guarantees after a fault, as an auditor would check them:
    every acknowledged submission is on the case log exactly once; every record on the ingress
    topics has exactly one receipt and none was refused; ``verify`` finds the log intact."""
    logged = Counter(str(r.record.envelope.event_id) for r in read_topic(runtime, "case_log"))  # type: ignore[attr-defined]
    twice = {i: n for i, n in logged.items() if n > 1}
    assert not twice, f"{len(twice)} events duplicated on the case log, e.g. {list(twice.items())[:3]}"
    missing = set(sent) - set(logged)
    assert not missing, f"{len(missing)} acknowledged submissions are not on the case log"

    receipts = [r.record for r in read_all(runtime, "receipts") if isinstance(r.record, Receipt)]
    per_submission = Counter((r.source_topic, r.source_partition, r.source_offset) for r in receipts)
    # (small explicit messages: pytest's diff of two sets of thousands of items takes minutes)
    repeated = [k for k, n in per_submission.items() if n > 1]
    assert not repeated, f"{len(repeated)} submissions got more than one receipt, e.g. {repeated[:3]}"
    ingress = read_to_end_sync(runtime.settings, list(runtime.catalogue.ingress_topics()))
    submissions = {(r.topic, r.partition, r.offset) for r in ingress}
    unanswered, unknown = sorted(submissions - set(per_submission)), sorted(set(per_submission) - submissions)
    assert not unanswered and not unknown, (f"{len(unanswered)} submissions without a receipt, e.g. {unanswered[:3]}; "
                                            f"{len(unknown)} receipts for no submission, e.g. {unknown[:3]}")
    refused = [(r.reason_code, r.reason) for r in receipts if r.status is ReceiptStatus.REJECTED]
    assert allow_refused or not refused, refused[:5]
    accepted = {str(r.event_id) for r in receipts if r.status is ReceiptStatus.ACCEPTED}
    assert not accepted - set(logged), f"{len(accepted - set(logged))} accepted events are not on the case log"

    report, undecodable = verify_topic_sync(runtime)
    assert report.ok and not undecodable, (report.problems[:5], undecodable[:5])
    return LogCheck(sum(logged.values()), len(submissions), len(receipts), len(accepted),
                    sum(1 for r in receipts if r.status is ReceiptStatus.DUPLICATE))


def all_answered(runtime: Runtime, sent: dict[str, Event]) -> bool:
    """Every acknowledged event has a receipt, and so has every record on the ingress topics —
    including a second copy a client wrote again after a timeout, which comes later and gets its
    own (DUPLICATE) receipt."""
    receipts = [r.record for r in read_all(runtime, "receipts") if isinstance(r.record, Receipt)]
    if set(sent) - {str(r.event_id) for r in receipts}:
        return False
    ingress = read_to_end_sync(runtime.settings, list(runtime.catalogue.ingress_topics()))
    return {(r.topic, r.partition, r.offset) for r in ingress} <= {
        (r.source_topic, r.source_partition, r.source_offset) for r in receipts}
