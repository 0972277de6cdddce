"""Crash windows (issue 12, item 6): each service killed by fault injection (``infra/failpoints.py``)
exactly inside each window of its write sequence, then restarted without the failpoint —

- the router between its case-log append and the deliveries (``router.after_append``) and between
  the deliveries and the receipts (``router.after_deliveries``);
- the SLA processor between the inbox copies of its warnings and escalations and rb.sla /
  rb.escalations (``sla.after_inbox``), and after both but before it remembers them as emitted
  (``sla.after_emit``);
- the projector with a batch's rows and offsets added but not committed (``projector.before_commit``);

and the router, the SLA processor and the projector killed -9 together in the middle of a stream.
The workload: referrals and emergency removals in Almaty, half of them reported late or never, so
4.8 opens, warns, breaches and escalates (to the police department and the inspectors' own inbox),
and 4.9 (the prosecutor's notice) breaches and escalates (to the Commission and the CAM/CSC).

After each, as an auditor would check it: every accepted event on the case log exactly once, per-case
sequences 1..n, hash chains intact, ``verify`` clean; exactly one receipt per submission, ACCEPTED
with the event's sequence (each event is submitted once: a DUPLICATE would mean the router lost
track of the submission it appended before the crash, router/submissions.py); in every inbox exactly
the deliveries a replay of the log owes (router and SLA processor), with the owed content, repeats
byte-identical and the SDK handing each over once; exactly the SLA records a replay owes, each once;
and (projector, together) read models equal to a rebuild from the log into another database, the
deliveries read model holding every delivery of every inbox.

Broker faults (kill -9 of a broker and of the active controller, a frozen broker, on a 3-broker
cluster) are tested in ``test_broker_faults.py``; kill -9 of router and SLA processor under heavier
load in ``test_crash_recovery.py``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, select

from referral_bus.contracts.base import Event, Record
from referral_bus.contracts.bus_records import Receipt, ReceiptStatus
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.domain.deadlines.notifications import sla_deliveries
from referral_bus.infra.kafka.log_reader import read_to_end_sync
from referral_bus.projections.service import rebuild
from referral_bus.projections.tables import Base, ConsumerOffset, DeliveryRow
from referral_bus.router.submissions import SubmissionHandler
from referral_bus.sdk import AgencyClient
from referral_bus.sla.app import record_id
from tests.broker_helpers import read_all, read_topic
from tests.builders import case_id, outcome_report, referral, removal
from tests.conftest import Bus, start_bus, wait_for
from tests.system.steady_load import all_answered, check_nothing_lost

pytestmark = [pytest.mark.broker, pytest.mark.slow]

#: Cases per phase (before the armed service starts, and while it dies and comes back): each a
#: referral and a removal, two in three reported: ~80 events a phase, ~230 inbox deliveries.
CASES = 30
RATE_PER_SECOND = 40
SLA_TOPICS = ("sla", "escalations")
#: Read models compared with a rebuild: every table (the offsets included: both must have read to the same end).
TABLES = list(Base.metadata.sorted_tables)


# -- the workload ------------------------------------------------------------------------------------
@dataclass
class Agencies:
    school: AgencyClient
    police: AgencyClient

    def close(self) -> None:
        self.school.close()
        self.police.close()


def agencies(bus: Bus) -> Agencies:
    return Agencies(AgencyClient("school-almaty", actor_id="t-1", runtime=bus.runtime),
                    AgencyClient("police-juvenile-almaty", actor_id="i-1", runtime=bus.runtime))


def workload(who: Agencies, prefix: str) -> list[tuple[AgencyClient, Event]]:
    """CASES cases: all referrals, then all removals, then the reports. Every other removal is
    reported 4 h after it happened (4.8: 3 h) — late, so the deadline warns, breaches and escalates;
    one in three is never reported."""
    referrals: list[tuple[AgencyClient, Event]] = []
    removals: list[tuple[AgencyClient, Event]] = []
    reports: list[tuple[AgencyClient, Event]] = []
    for i in range(CASES):
        case = case_id(prefix)
        referrals.append((who.school, referral(who.school, case)))
        removals.append((who.police, removal(who.police, case, hours_ago=4 if i % 2 else 1)))
        if i % 3:
            reports.append((who.police, outcome_report(who.police, case)))
    return referrals + removals + reports


def send(plan: list[tuple[AgencyClient, Event]], rate: float | None = None) -> None:
    start = time.monotonic()
    for n, (client, event) in enumerate(plan):
        client.producer.send(client.runtime.catalogue.ingress(client.agency.id),
                             key=event.envelope.case_id.encode(), value=client.validate(event))
        if rate is not None and (lag := n / rate - (time.monotonic() - start)) > 0:
            time.sleep(lag)
    for client in {c for c, _ in plan}:
        client.producer.flush()


@dataclass
class Stream:
    """Sends a plan at a steady rate from a thread."""

    plan: list[tuple[AgencyClient, Event]]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> Stream:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        try:
            send(self.plan, RATE_PER_SECOND)
        except BaseException as exc:  # noqa: BLE001 - surfaced by wait()
            self.error = exc
        finally:
            self.done.set()

    def wait(self) -> None:
        assert self.done.wait(120), "the stream did not finish sending"
        if self.error is not None:
            raise self.error


def ids(plan: list[tuple[AgencyClient, Event]]) -> dict[str, Event]:
    return {str(e.envelope.event_id): e for _, e in plan}


# -- services -----------------------------------------------------------------------------------------
def arm(bus: Bus, service: str, failpoint: str, nth: int) -> None:
    bus.start(service, REFERRAL_BUS_FAILPOINTS=f"{failpoint}={nth}")


def wait_killed(bus: Bus, service: str, failpoint: str, timeout: float = 240) -> None:
    """The armed service died by its own SIGKILL, at that failpoint."""
    proc = bus.processes[service]
    wait_for(lambda: proc.poll() is not None, timeout=timeout, interval=0.2,
             what=f"{service} to die at {failpoint}")
    text = bus.log_text(service)
    assert proc.returncode == -9, f"{service} exited with {proc.returncode}:\n{text[-3000:]}"
    assert any("failpoint.kill" in line and failpoint in line for line in text.splitlines()), \
        f"{service} died, but not at {failpoint}:\n{text[-3000:]}"


def wait_ready(bus: Bus, services: tuple[str, ...]) -> None:
    for service in services:
        bus.start(service)
    bus.wait_ready(timeout=180)


# -- what is on the topics ----------------------------------------------------------------------------
def case_log(bus: Bus) -> list[Event]:
    return [r.record for r in read_topic(bus.runtime, "case_log") if isinstance(r.record, Event)]


def receipts(bus: Bus) -> list[Receipt]:
    return [r.record for r in read_all(bus.runtime, "receipts") if isinstance(r.record, Receipt)]


def emitted_sla(bus: Bus) -> list[Record]:
    return [r.record for topic in SLA_TOPICS for r in read_topic(bus.runtime, topic)]


def owed_sla(bus: Bus, events: list[Event]) -> dict[str, Record]:
    """What a replay of the log owes, as in test_crash_recovery.py: nothing of this workload falls
    due during a run (warnings of the punctual reports in 1 h, level 2 of the late ones in 1 h)."""
    engine = bus.runtime.deadline_engine()
    out: list[Record] = []
    for event in events:
        out += engine.on_event(event)
    return {record_id(r): r for r in out + engine.advance(datetime.now(UTC))}


@dataclass(frozen=True)
class Copy:
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def inboxes(bus: Bus) -> dict[tuple[str, str], list[Copy]]:
    """(inbox topic, rb-delivery-id) → every copy written there, in offset order."""
    out: dict[tuple[str, str], list[Copy]] = defaultdict(list)
    for r in read_to_end_sync(bus.runtime.settings, bus.runtime.catalogue.names("inbox")):
        headers = tuple(r.headers or ())
        delivery_id = dict(headers).get("rb-delivery-id")
        assert delivery_id is not None, (r.topic, r.partition, r.offset)
        out[(r.topic, delivery_id.decode())].append(Copy(r.value, headers))
    return out


def owed_deliveries(bus: Bus, events: list[Event], sla: dict[str, Record]) -> dict[tuple[str, str], Record]:
    """(inbox topic, delivery id) → the record owed there: the router's deliveries worked out again
    by its own handler folding the log (as it does on a restart), and the SLA records' notifications."""
    cat = bus.runtime.catalogue
    from referral_bus.infra.vault import Vault
    # with the router's vault: full copies carry the data key wrapped for their recipient
    handler = SubmissionHandler.from_runtime(bus.runtime, vault=Vault.open(bus.runtime.settings))
    for event in events:
        handler.fold(event)
    owed: dict[tuple[str, str], Record] = {}
    for event in events:
        for delivery, told in handler.recent[event.envelope.event_id].deliveries:
            owed[(cat.inbox(delivery.recipient_id), str(delivery.delivery_id(event.envelope.event_id)))] = told
    for record in sla.values():
        for note in sla_deliveries(record):
            owed[(cat.inbox(note.agency_id), note.delivery_id)] = record
    return owed


@dataclass
class Snapshot:
    """What was on the topics when the armed service had just died."""

    logged: set[str]
    answered: set[str]
    sla: set[str]
    deliveries: set[tuple[str, str]]


def snapshot(bus: Bus) -> Snapshot:
    return Snapshot({str(e.envelope.event_id) for e in case_log(bus)}, {str(r.event_id) for r in receipts(bus)},
                    {record_id(r) for r in emitted_sla(bus)}, set(inboxes(bus)))


# -- the checks -----------------------------------------------------------------------------------------
def short(items: Any, n: int = 3) -> list[Any]:
    """A few examples (pytest's diff of sets of hundreds of items is slow and unreadable)."""
    return sorted(items, key=str)[:n]


def check_log_and_receipts(bus: Bus, sent: dict[str, Event]) -> list[Event]:
    """Each accepted event once on the log, sequences 1..n, chains intact, verify clean; one
    ACCEPTED receipt per submission, carrying the sequence the event has on the log."""
    check_nothing_lost(bus.runtime, sent)   # once on the log, one receipt per submission, none refused, verify
    events = case_log(bus)
    per_case: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        per_case[event.envelope.case_id].append(event)
    for case, case_events in per_case.items():
        assert [e.envelope.sequence for e in case_events] == list(range(1, len(case_events) + 1)), case
        previous = GENESIS
        for e in case_events:
            assert e.envelope.previous_hash == previous and e.envelope.hash == chain_hash(previous, e), case
            previous = e.envelope.hash
    sequence = {str(e.envelope.event_id): e.envelope.sequence for e in events}
    got = [r for r in receipts(bus) if str(r.event_id) in sent]
    per_event = Counter(str(r.event_id) for r in got)
    assert set(per_event) == set(sent) and set(per_event.values()) == {1}, \
        short({i: n for i, n in per_event.items() if n != 1}.items())
    wrong = [(str(r.event_id), r.status, r.sequence) for r in got
             if r.status is not ReceiptStatus.ACCEPTED or r.sequence != sequence[str(r.event_id)]]
    assert not wrong, f"{len(wrong)} receipts not ACCEPTED with the logged sequence, e.g. {short(wrong)}"
    return events


def check_sla(bus: Bus, owed: dict[str, Record]) -> int:
    """Exactly the records owed, each once, with the owed content; returns how many."""
    emitted = emitted_sla(bus)
    counts = Counter(record_id(r) for r in emitted)
    twice = {i: n for i, n in counts.items() if n > 1}
    assert not twice, f"{len(twice)} SLA records emitted more than once, e.g. {short(twice.items())}"
    assert set(counts) == set(owed), (f"missing {short(set(owed) - set(counts))}, "
                                      f"not owed {short(set(counts) - set(owed))}")
    differing = [record_id(r) for r in emitted if r != owed[record_id(r)]]
    assert not differing, f"{len(differing)} SLA records differ from what the replay owes, e.g. {short(differing)}"
    assert any(type(r).__name__ == "EscalationRaised" for r in emitted), "the workload raised no escalation"
    return len(emitted)


def check_inboxes(bus: Bus, owed: dict[tuple[str, str], Record], before: set[tuple[str, str]],
                  handed_over: int = 2) -> tuple[int, int]:
    """Every owed delivery in its inbox and nothing else; repeats byte-identical (value and
    headers) with the owed content; what was there at the crash still there; the SDK hands each
    delivery over once (in the ``handed_over`` inboxes with the most repeats). Returns
    (deliveries, repeated copies)."""
    copies = inboxes(bus)
    missing, extra = set(owed) - set(copies), set(copies) - set(owed)
    assert not missing and not extra, (f"{len(missing)} owed deliveries missing, e.g. {short(missing)}; "
                                       f"{len(extra)} not owed, e.g. {short(extra)}")
    assert before <= set(copies)
    codec = bus.runtime.codec
    for key, got in copies.items():
        assert len(set(got)) == 1, f"the copies of delivery {key} differ"
        assert codec.decode(got[0].value) == owed[key], f"delivery {key} is not what the log owes"
    repeats: Counter[str] = Counter()
    for (topic, _), got in copies.items():
        repeats[topic] += len(got) - 1
    repeats = +repeats   # inboxes with repeats only
    cat = bus.runtime.catalogue
    by_topic = {cat.inbox(a): a for a in bus.runtime.directory.agencies}
    chosen = [t for t, _ in repeats.most_common(handed_over)] or [cat.inbox("cam-almaty")]
    for topic in chosen:
        with AgencyClient(by_topic[topic], actor_id="reader", runtime=bus.runtime) as reader:
            handed = Counter(item.delivery_id for item in reader.inbox(group_id=f"g-{secrets.token_hex(3)}",
                                                                       idle_timeout=3))
        assert set(handed) == {d for t, d in copies if t == topic} and set(handed.values()) == {1}, topic
    return len(copies), sum(repeats.values())


def projector_offsets(engine: Engine) -> dict[tuple[str, int], int]:
    with engine.connect() as conn:
        return {(o.topic, o.partition): o.next_offset for o in conn.execute(select(ConsumerOffset))}


def log_ends(bus: Bus) -> dict[tuple[str, int], int]:
    """The next offset of every non-empty partition the projector follows."""
    cat = bus.runtime.catalogue
    topics = [cat.name("case_log"), *(cat.name(t) for t in SLA_TOPICS), *cat.names("inbox")]
    ends: dict[tuple[str, int], int] = {}
    for r in read_to_end_sync(bus.runtime.settings, topics):
        ends[(r.topic, r.partition)] = max(ends.get((r.topic, r.partition), 0), r.offset + 1)
    return ends


def table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t.name: [tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for v in row)
                         for row in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in TABLES}


def check_read_models(bus: Bus, live_url: str, make_database: Callable[[], str]) -> dict[str, int]:
    """Once the projector has read every partition to its end: its tables equal a rebuild from the
    log into another database, row for row. Returns the rows per table."""
    live = create_engine(live_url)
    ends = log_ends(bus)
    try:
        wait_for(lambda: projector_offsets(live) == ends, timeout=120, interval=1, what="the projector to catch up")
        fresh = create_engine(make_database())
        try:
            rebuild(bus.runtime, fresh)
            rebuilt = table_rows(fresh)
        finally:
            fresh.dispose()
        projected = table_rows(live)
    finally:
        live.dispose()
    for name, rows in rebuilt.items():
        only_live, only_rebuilt = set(projected[name]) - set(rows), set(rows) - set(projected[name])
        assert projected[name] == rows, (f"{name}: {len(only_live)} rows only in the projector's tables, e.g. "
                                         f"{short(only_live, 2)}; {len(only_rebuilt)} only in the rebuild, e.g. "
                                         f"{short(only_rebuilt, 2)}")
    assert rebuilt["deadlines"] and rebuilt["escalations"] and rebuilt["deliveries"]
    return {f"rows_{name}": len(rows) for name, rows in rebuilt.items()}


def check_deliveries_table(bus: Bus, live_url: str) -> None:
    """The deliveries read model ("what each agency was told", tables.py) holds every delivery in
    every inbox: one row per agency and delivery id."""
    events = case_log(bus)
    told = set(owed_deliveries(bus, events, owed_sla(bus, events)))
    cat = bus.runtime.catalogue
    live = create_engine(live_url)
    try:
        with live.connect() as conn:
            rows = {(cat.inbox(agency), delivery_id) for delivery_id, agency in conn.execute(
                select(DeliveryRow.delivery_id, DeliveryRow.agency_id))}
    finally:
        live.dispose()
    missing = told - rows
    assert not missing, (f"the deliveries read model lacks {len(missing)} of the {len(told)} deliveries in the "
                         f"inboxes, e.g. {short(missing)} (projections/projector.py _delivery keys a row by "
                         "rb-delivery-id alone; an escalation's copies to its two agencies share that id, "
                         "domain/deadlines/notifications.py)")
    assert rows <= told


def check_everything(bus: Bus, sent: dict[str, Event], before: set[tuple[str, str]]) -> dict[str, int]:
    events = check_log_and_receipts(bus, sent)
    owed = owed_sla(bus, events)
    sla_records = check_sla(bus, owed)
    deliveries, repeats = check_inboxes(bus, owed_deliveries(bus, events, owed), before)
    return {"events": len(events), "sla_records": sla_records, "deliveries": deliveries, "repeated_copies": repeats}


def settle(bus: Bus, sent: dict[str, Event]) -> float:
    """Seconds until every submission is answered and every SLA record owed is emitted."""
    start = time.monotonic()
    wait_for(lambda: all_answered(bus.runtime, sent), timeout=240, interval=1, what="every submission answered")
    wait_for(lambda: set(owed_sla(bus, case_log(bus))) <= {record_id(r) for r in emitted_sla(bus)},
             timeout=120, interval=1, what="the SLA processor to emit what is owed")
    return time.monotonic() - start


def report(name: str, figures: dict[str, Any]) -> None:
    print(f"\n[crash window] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


# -- the tests ----------------------------------------------------------------------------------------
ROUTER_WINDOWS = ["router.after_append", "router.after_deliveries"]
SLA_WINDOWS = ["sla.after_inbox", "sla.after_emit"]


@pytest.mark.parametrize("failpoint", ROUTER_WINDOWS)
def test_router_killed_inside_a_window(kafka_bootstrap: str, tmp_path, failpoint: str) -> None:  # type: ignore[no-untyped-def]
    """The first phase waits on the ingress topics, so the router's first batch (a few to a few tens
    of submissions) is the one killed; the second arrives while it is down and after it is back."""
    bus = start_bus(kafka_bootstrap, tmp_path, services=())
    who = agencies(bus)
    try:
        first, second = workload(who, "RW1"), workload(who, "RW2")
        send(first)
        bus.start("sla")
        arm(bus, "router", failpoint, 1)
        stream = Stream(second).start()
        wait_killed(bus, "router", failpoint)
        at_crash = snapshot(bus)
        in_window = at_crash.logged - at_crash.answered
        assert in_window, "nothing was appended and left unanswered: the kill missed the window"
        assert not at_crash.answered, "the first batch was answered before the kill"
        # its deliveries: not yet written (after the append) or all written (after the deliveries)
        owed_then = {k for k, record in owed_deliveries(bus, case_log(bus), {}).items()
                     if isinstance(record, Event) and str(record.envelope.event_id) in in_window}
        written = owed_then & at_crash.deliveries
        assert written == (owed_then if failpoint == "router.after_deliveries" else set()), \
            (len(owed_then), len(written))
        restarted = time.monotonic()
        bus.start("router")
        stream.wait()
        sent = ids(first + second)
        settle(bus, sent)
        recovered = time.monotonic() - restarted
        assert "router.answered_after_restart" in bus.log_text("router")
        figures = check_everything(bus, sent, at_crash.deliveries)
        report(failpoint, {**figures, "submitted": len(sent), "appended_unanswered_at_kill": len(in_window),
                           "their_deliveries_written_at_kill": len(written),
                           "all_answered_after_restart_s": round(recovered, 1)})
    finally:
        who.close()
        bus.stop()


@pytest.mark.parametrize("failpoint", SLA_WINDOWS)
def test_sla_processor_killed_inside_a_window(kafka_bootstrap: str, tmp_path, failpoint: str) -> None:  # type: ignore[no-untyped-def]
    """The SLA processor starts on a log that already owes warnings, breaches and escalations: its
    first emission (the rebuild's) holds them all, and is the one killed."""
    bus = start_bus(kafka_bootstrap, tmp_path, services=())
    who = agencies(bus)
    try:
        first, second = workload(who, "SW1"), workload(who, "SW2")
        send(first)
        bus.start("router")
        wait_for(lambda: all_answered(bus.runtime, ids(first)), timeout=180, interval=1,
                 what="the first phase answered")
        arm(bus, "sla", failpoint, 1)
        stream = Stream(second).start()
        wait_killed(bus, "sla", failpoint)
        at_crash = snapshot(bus)
        cat = bus.runtime.catalogue
        sla_inbox = {record_id(record) for record in owed_sla(bus, case_log(bus)).values()
                     for note in sla_deliveries(record) if (cat.inbox(note.agency_id), note.delivery_id)
                     in at_crash.deliveries}   # SLA records some agency was told of
        if failpoint == "sla.after_inbox":
            in_window = sla_inbox - at_crash.sla   # told to an agency, not yet on rb.sla / rb.escalations
        else:
            in_window = at_crash.sla             # on rb.sla / rb.escalations, not yet remembered as emitted
        assert in_window, "nothing was in the window when the SLA processor died"
        restarted = time.monotonic()
        bus.start("sla")
        stream.wait()
        sent = ids(first + second)
        settle(bus, sent)
        recovered = time.monotonic() - restarted
        figures = check_everything(bus, sent, at_crash.deliveries)
        report(failpoint, {**figures, "submitted": len(sent), "in_window_at_kill": len(in_window),
                           "sla_records_at_kill": len(at_crash.sla),
                           "caught_up_after_restart_s": round(recovered, 1)})
    finally:
        who.close()
        bus.stop()


def test_projector_killed_before_its_commit(kafka_bootstrap: str, tmp_path, postgres_database) -> None:  # type: ignore[no-untyped-def]
    """Killed with its second batch's rows and offsets added but not committed: the restart primes
    its case states from the committed part and applies the lost batch again."""
    live_url = postgres_database()
    bus = start_bus(kafka_bootstrap, tmp_path, services=(), database_url=live_url)
    who = agencies(bus)
    try:
        first, second = workload(who, "PW1"), workload(who, "PW2")
        wait_ready(bus, ("router", "sla"))
        send(first)
        settle(bus, ids(first))
        arm(bus, "projector", "projector.before_commit", 2)
        live = create_engine(live_url)
        try:   # the first batch (most of the first phase) committed, then the second phase comes in batches
            wait_for(lambda: bus.processes["projector"].poll() is not None
                     or inspect(live).has_table("consumer_offsets") and projector_offsets(live),
                     timeout=120, interval=0.2, what="the projector's first commit")
            committed = projector_offsets(live)
        finally:
            live.dispose()
        assert committed, "the first batch was not committed before the kill"
        stream = Stream(second).start()
        wait_killed(bus, "projector", "projector.before_commit")
        restarted = time.monotonic()
        bus.start("projector")
        stream.wait()
        sent = ids(first + second)
        settle(bus, sent)
        figures = check_everything(bus, sent, set())
        rows = check_read_models(bus, live_url, postgres_database)
        assert "projector.primed" in bus.log_text("projector")
        report("projector.before_commit", {**figures, **rows, "submitted": len(sent),
                                           "partitions_committed_at_kill": len(committed),
                                           "caught_up_after_restart_s": round(time.monotonic() - restarted, 1)})
        check_deliveries_table(bus, live_url)
    finally:
        who.close()
        bus.stop()


def test_router_sla_and_projector_killed_together_mid_stream(kafka_bootstrap: str, tmp_path,  # type: ignore[no-untyped-def]
                                                            postgres_database) -> None:
    live_url = postgres_database()
    bus = start_bus(kafka_bootstrap, tmp_path, services=(), database_url=live_url)
    who = agencies(bus)
    try:
        plan = workload(who, "TW1") + workload(who, "TW2")
        wait_ready(bus, ("router", "sla", "projector"))
        stream = Stream(plan).start()
        wait_for(lambda: len(case_log(bus)) > len(plan) // 4, timeout=120, interval=0.3,
                 what="a quarter of the stream on the log")
        for service in ("router", "sla", "projector"):
            bus.processes[service].kill()
        for service in ("router", "sla", "projector"):
            assert bus.processes[service].wait(10) == -9
        at_crash = snapshot(bus)
        assert 0 < len(at_crash.logged) < len(plan) + 1, len(at_crash.logged)  # mid-stream (the warm-up included)
        restarted = time.monotonic()
        for service in ("router", "sla", "projector"):
            bus.start(service)
        stream.wait()
        sent = ids(plan)
        settle(bus, sent)
        recovered = time.monotonic() - restarted
        figures = check_everything(bus, sent, at_crash.deliveries)
        rows = check_read_models(bus, live_url, postgres_database)
        report("together", {**figures, **rows, "submitted": len(sent), "logged_at_kill": len(at_crash.logged),
                            "answered_and_emitted_after_restart_s": round(recovered, 1),
                            "caught_up_after_restart_s": round(time.monotonic() - restarted, 1)})
        check_deliveries_table(bus, live_url)
    finally:
        who.close()
        bus.stop()
