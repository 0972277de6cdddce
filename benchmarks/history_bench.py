"""Issue 5 figures, each beside its baseline in the same run:
- replay of the case log into case states (decode + fold) against a raw consume of the same topic;
- the projector (read models in PostgreSQL) against the same raw consume;
- timeline query for one case among 1M stored events: SQLAlchemy ORM against raw psycopg SQL;
- issue 13 item 4: ``history`` of one case from the case index (indexed offsets fetched from Kafka,
  bytes and hash chain checked, the log after the projector's position read) against the full scan
  of the case's partitions, at growing log sizes (``indexed_history``; run alone with
  ``python -m benchmarks.history_bench --sizes 100000,1000000``)."""

from __future__ import annotations

import asyncio
import secrets
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
from kafka import KafkaProducer
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from benchmarks.brokers import local_broker
from referral_bus.auditor.history import rebuild_case, rebuild_case_indexed
from referral_bus.contracts.base import City, Envelope, Producer
from referral_bus.contracts.events import EmergencyRemoval
from referral_bus.contracts.sla_records import DeadlineOpened
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.domain.decisions import fold
from referral_bus.infra.kafka.log_reader import read_to_end
from referral_bus.projections.divergence import digest
from referral_bus.projections.service import project
from referral_bus.projections.tables import Base, TimelineRow
from tests.builders import T0, chained_removal_case
from tests.conftest import apply_test_topics, make_runtime

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _fill_case_log(runtime, n: int) -> None:  # type: ignore[no-untyped-def]
    """n chained events (one per case) written straight to the case log, as the router would."""
    producer = KafkaProducer(bootstrap_servers=runtime.settings.bootstrap_servers, linger_ms=20,
                             batch_size=256 * 1024)
    topic = runtime.catalogue.name("case_log")
    for i in range(n):
        env = Envelope(event_id=uuid.uuid4(), event_type="EmergencyRemoval", schema_version=1, case_id=f"B-{i}",
                       occurred_at=T0, recorded_at=T0 + timedelta(seconds=i), sequence=1, previous_hash=GENESIS,
                       producer=Producer(agency_id="police-juvenile-almaty", actor_id="b"))
        event = EmergencyRemoval(envelope=env, city=City.ALMATY, child_age_years=9, child_removed=True,
                                 cam_social_worker_present=False)
        event = event.model_copy(update={"envelope": env.model_copy(update={"hash": chain_hash(GENESIS, event)})})
        producer.send(topic, key=env.case_id.encode(), value=runtime.codec.encode(event))
    producer.flush()
    producer.close()


async def _consume(runtime, with_fold: bool) -> float:  # type: ignore[no-untyped-def]
    start, n = time.perf_counter(), 0
    cases: dict[str, CaseState] = {}
    async for record in read_to_end(runtime.settings.bootstrap_servers, [runtime.catalogue.name("case_log")]):
        n += 1
        if with_fold:
            event = runtime.codec.decode(record.value)
            cid = event.envelope.case_id  # type: ignore[attr-defined]
            fold(cases.setdefault(cid, CaseState(cid)), event, runtime.directory)  # type: ignore[arg-type]
    return n / (time.perf_counter() - start)


def _new_database() -> str:
    name = f"rb_bench_{secrets.token_hex(3)}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_database(name: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timeline_queries(rows: int = 1_000_000, cases: int = 100_000, queries: int = 300) -> dict[str, float]:
    name = _new_database()
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        engine = create_engine(url)
        Base.metadata.create_all(engine)
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as conn:
            conn.execute(f"""INSERT INTO case_events (case_id, sequence, event_id, event_type, producer_agency_id,
                             occurred_at, recorded_at, hash, fields)
                             SELECT 'B-' || (g % {cases}), g / {cases} + 1, md5(g::text), 'EmergencyRemoval',
                                    'police-juvenile-almaty', now(), now(), md5(g::text), '{{}}'::json
                             FROM generate_series(0, {rows - 1}) g""")
            conn.execute("ANALYZE case_events")
            targets = [f"B-{secrets.randbelow(cases)}" for _ in range(queries)]
            raw = []
            for case in targets:
                t = time.perf_counter()
                conn.execute("SELECT * FROM case_events WHERE case_id = %s ORDER BY sequence", (case,)).fetchall()
                raw.append(time.perf_counter() - t)
        orm = []
        with Session(engine) as session:
            for case in targets:
                t = time.perf_counter()
                session.scalars(select(TimelineRow).where(TimelineRow.case_id == case)
                                .order_by(TimelineRow.sequence)).all()
                orm.append(time.perf_counter() - t)
        engine.dispose()
        q = lambda xs: statistics.quantiles(xs, n=100, method="inclusive")[98]  # noqa: E731
        return {"orm p50 ms": 1000 * statistics.median(orm), "orm p99 ms": 1000 * q(orm),
                "raw p50 ms": 1000 * statistics.median(raw), "raw p99 ms": 1000 * q(raw)}
    finally:
        _drop_database(name)


def run(events: int = 20_000, broker: str = "kafka") -> dict[str, float]:
    out: dict[str, float] = {}
    with local_broker(broker) as servers, tempfile.TemporaryDirectory() as tmp:
        name = _new_database()
        runtime = make_runtime(servers, "hb.", Path(tmp), f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        try:
            apply_test_topics(runtime)
            _fill_case_log(runtime, events)
            out["raw consume events/s"] = asyncio.run(_consume(runtime, with_fold=False))
            out["replay into case states events/s"] = asyncio.run(_consume(runtime, with_fold=True))
            engine = runtime.settings.read_model_url
            start = time.perf_counter()
            projected = project(runtime, create_engine(engine), until_end=True)
            out["projector events/s"] = projected / (time.perf_counter() - start)
        finally:
            _drop_database(name)
    out["events"] = float(events)
    return out


# -- issue 13 item 4: history from the case index against the full scan -----------------------------

MEASURED_EVENTS = 5   # events per measured case, spread through the whole log


def _event(runtime, case: str, sequence: int, previous: str):  # type: ignore[no-untyped-def]
    """One event of ``case`` stamped and chained as the router does (fictional content)."""
    return chained_removal_case(case, 1, first=sequence, previous=previous)[0]


def _build_indexed_log(runtime, engine_url: str, events: int, measured: int) -> list[str]:  # type: ignore[no-untyped-def]
    """``events`` records on the case log — ``measured`` cases of MEASURED_EVENTS chained events spread
    evenly through it, the rest filler cases of five records each — with one DeadlineOpened per
    measured case on rb.sla, and the case index rows the projector would have written for all of
    them (COPY into PostgreSQL, as produced: the projector itself would take hours at 10M). The
    projector's offsets are set to the log's end, as a caught-up projector leaves them."""
    cat = runtime.catalogue
    case_log, sla = cat.name("case_log"), cat.name("sla")
    producer = KafkaProducer(bootstrap_servers=runtime.settings.bootstrap_servers, linger_ms=50,
                             batch_size=512 * 1024, acks="all", enable_idempotence=True)   # in order
    filler = runtime.codec.encode(_event(runtime, "F-0", 1, GENESIS))
    filler_digest = digest(filler)
    cases = [f"M-{i:05}" for i in range(measured)]
    heads = dict.fromkeys(cases, GENESIS)
    rows: list[tuple[str, int, int, str, int | None, str | None, str]] = []
    pg = psycopg.connect(engine_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)

    def sent(case: str, sequence: int | None, hash_: str | None, value_digest: str):  # type: ignore[no-untyped-def]
        def done(meta):  # type: ignore[no-untyped-def]
            rows.append((meta.topic, meta.partition, meta.offset, case, sequence, hash_, value_digest))
        return done

    def copy_rows() -> None:
        producer.flush()
        with pg.cursor() as cur, cur.copy('COPY case_index (topic, "partition", "offset", case_id, sequence, hash, '
                                          'sha256) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        rows.clear()

    slots = measured * MEASURED_EVENTS
    step = max(1, events // max(1, slots))
    slot = 0
    for i in range(events):
        if slot < slots and i == slot * step:
            case, sequence = cases[slot % measured], slot // measured + 1
            event = _event(runtime, case, sequence, heads[case])
            heads[case] = event.envelope.hash
            value = runtime.codec.encode(event)
            producer.send(case_log, key=case.encode(), value=value).add_callback(
                sent(case, sequence, event.envelope.hash, digest(value)))
            slot += 1
        else:
            case = f"F-{i // 5}"
            producer.send(case_log, key=case.encode(), value=filler).add_callback(
                sent(case, None, None, filler_digest))
        if len(rows) >= 200_000:
            copy_rows()
    for case in cases:
        opened = DeadlineOpened(sla_event_id=uuid.uuid4(), deadline_id=uuid.uuid4(), rule_id="4.8-removal-outcome-3h",
                                paragraph="4.8", case_id=case, trigger_event_id=uuid.uuid4(),
                                responsible_agency_id="police-juvenile-almaty", opened_at=T0,
                                due_at=T0 + timedelta(hours=3))
        value = runtime.codec.encode(opened)
        producer.send(sla, key=case.encode(), value=value).add_callback(sent(case, None, None, digest(value)))
    copy_rows()
    producer.close()
    ends: dict[tuple[str, int], int] = {}
    with pg.cursor() as cur:
        for topic, partition, top in cur.execute('SELECT topic, "partition", max("offset") FROM case_index '
                                                 'GROUP BY topic, "partition"').fetchall():
            ends[(topic, partition)] = top + 1
        for tid in ("case_log", "sla", "escalations"):
            for partition in range(cat.partitions(tid)):
                tp = (cat.name(tid), partition)
                cur.execute('INSERT INTO consumer_offsets (topic, "partition", next_offset) VALUES (%s, %s, %s)',
                            (*tp, ends.get(tp, 0)))
                cur.execute('INSERT INTO case_index_start (topic, "partition", from_offset) VALUES (%s, %s, 0)', tp)
        cur.execute("ANALYZE case_index")
    pg.close()
    return cases


def indexed_history(events: int, measured: int = 200, queries: int = 200, scans: int = 3,
                    broker: str = "kafka") -> dict[str, float]:
    """p50/p99 of one case's ``history`` from the index (a fresh Kafka consumer and a pooled database
    connection per case, as a long-lived process would have; the CLI adds its process start) and of
    the full scan, on a log of ``events`` records; the two timelines are checked equal."""
    out: dict[str, float] = {"events": float(events)}
    with local_broker(broker) as servers, tempfile.TemporaryDirectory() as tmp:
        name = _new_database()
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        runtime = make_runtime(servers, "hi.", Path(tmp), url)
        engine = create_engine(url)
        try:
            apply_test_topics(runtime)
            Base.metadata.create_all(engine)
            start = time.perf_counter()
            cases = _build_indexed_log(runtime, url, events, measured)
            out["build s"] = time.perf_counter() - start
            targets = [cases[secrets.randbelow(len(cases))] for _ in range(queries)]
            asyncio.run(rebuild_case_indexed(runtime, targets[0], engine=engine))   # warm: metadata, pool
            indexed = []
            for case in targets:
                t = time.perf_counter()
                history = asyncio.run(rebuild_case_indexed(runtime, case, engine=engine))
                indexed.append(time.perf_counter() - t)
                if len(history.events) != MEASURED_EVENTS or history.chain_problems or len(history.sla) != 1:
                    raise AssertionError(f"{case}: {len(history.events)} events, {history.chain_problems}")
            scanned = []
            for case in targets[:scans]:
                t = time.perf_counter()
                full = asyncio.run(rebuild_case(runtime, case))
                scanned.append(time.perf_counter() - t)
                if full.timeline() != asyncio.run(rebuild_case_indexed(runtime, case, engine=engine)).timeline():
                    raise AssertionError(f"{case}: the indexed timeline differs from the full scan's")
            q = lambda xs: statistics.quantiles(xs, n=100, method="inclusive")[98]  # noqa: E731
            out.update({"indexed p50 ms": 1000 * statistics.median(indexed), "indexed p99 ms": 1000 * q(indexed),
                        "full scan p50 ms": 1000 * statistics.median(scanned),
                        "full scan max ms": 1000 * max(scanned), "full scans": float(len(scanned))})
        finally:
            engine.dispose()
            _drop_database(name)
    return out


def main() -> None:
    """``python -m benchmarks.history_bench --sizes 100000,1000000``: the indexed-history figures alone."""
    import argparse
    import logging
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000", help="case-log sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--scans", type=int, default=3, help="full scans per size (each reads a third of the log)")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    print("== history of one case: case index vs full scan (Apache Kafka, one local node; PostgreSQL) ==")
    for size in (int(n) for n in args.sizes.split(",")):
        r = indexed_history(size, queries=args.queries, scans=args.scans)
        print(f"  {r['events']:>11,.0f} events (built in {r['build s']:.0f} s): indexed p50 "
              f"{r['indexed p50 ms']:.1f} ms, p99 {r['indexed p99 ms']:.1f} ms ({args.queries} cases); full scan p50 "
              f"{r['full scan p50 ms']:,.0f} ms, max {r['full scan max ms']:,.0f} ms ({r['full scans']:.0f} cases); "
              f"same timelines", flush=True)


if __name__ == "__main__":
    main()
