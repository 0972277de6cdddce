"""Issue 5 figures, each beside its baseline in the same run:
- replay of the case log into case states (decode + fold) against a raw consume of the same topic;
- the projector (read models in PostgreSQL) against the same raw consume;
- timeline query for one case among 1M stored events: SQLAlchemy ORM against raw psycopg SQL."""

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
from referral_bus.contracts.base import City, Envelope, Producer
from referral_bus.contracts.events import EmergencyRemoval
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.domain.decisions import fold
from referral_bus.infra.kafka.log_reader import read_to_end
from referral_bus.projections.service import project
from referral_bus.projections.tables import Base, TimelineRow
from tests.builders import T0
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
