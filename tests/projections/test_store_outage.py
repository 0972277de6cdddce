"""The read-model store away (issue 12): PostgreSQL refusing connections, or an SQLite file locked
by another writer, for longer than any request timeout. The projector does not exit: it says
``degraded`` (health file, log, ``referral_bus_store_available``), retries with back-off, and when
the store is back it projects what arrived meanwhile — once, as a restart would."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.infra.health import DEGRADED, OK, read_health
from referral_bus.sdk import AgencyClient
from tests.builders import case_id, referral
from tests.conftest import Bus, start_bus, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

OUTAGE_SECONDS = 20
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def timeline(bus: Bus) -> list[tuple[str, int]]:
    engine = create_engine(bus.runtime.settings.read_model_url)
    try:
        with engine.connect() as conn:
            return [(row[0], row[1]) for row in conn.execute(text("SELECT case_id, sequence FROM case_events"))]
    except Exception:  # noqa: BLE001 - the store is away, or the tables are not made yet
        return []
    finally:
        engine.dispose()


@contextmanager
def postgres_away(url: str) -> Iterator[None]:
    """New connections refused and the open ones cut, as when the server is stopped."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@contextmanager
def sqlite_locked(path: Path) -> Iterator[None]:
    """Another process's write transaction holding the file."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        held.set()
        release.wait()
        conn.execute("ROLLBACK")
        conn.close()
    locker = threading.Thread(target=hold, daemon=True)
    locker.start()
    assert held.wait(30)
    try:
        yield
    finally:
        release.set()
        locker.join(30)


@pytest.mark.parametrize("store", ["postgresql", "sqlite"])
def test_the_projector_rides_out_its_store_being_away(store: str, kafka_bootstrap: str, tmp_path: Path,
                                                      postgres_database: Callable[[], str]) -> None:
    url = postgres_database() if store == "postgresql" else None
    bus = start_bus(kafka_bootstrap, tmp_path, services=("router", "projector"), database_url=url)
    data_dir = Path(bus.runtime.settings.data_dir)
    try:
        bus.wait_ready(timeout=180)
        wait_for(lambda: len(timeline(bus)) == 1, timeout=90, what="the projector to project the warm-up")
        away = postgres_away(url) if url else sqlite_locked(data_dir / "read-models.db")
        cases = [case_id("AWAY") for _ in range(5)]
        with AgencyClient("school-almaty", actor_id="t-away", runtime=bus.runtime) as school, away:
            started = time.monotonic()
            for case in cases:
                receipt = school.publish(referral(school, case), wait_for_receipt=True, timeout=120)
                assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED, receipt
            wait_for(lambda: read_health(data_dir).get("projector", {}).get("state") == DEGRADED, timeout=60,
                     what="the projector to say its store is away")
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - started)))
            assert bus.processes["projector"].poll() is None, bus.log_text("projector")[-3000:]
        wait_for(lambda: {c for c, _ in timeline(bus)} >= set(cases), timeout=120,
                 what="the events of the outage in the read models")
        rows = timeline(bus)
        assert len(rows) == len(set(rows)) == 1 + len(cases)
        wait_for(lambda: read_health(data_dir)["projector"]["state"] == OK, timeout=30, what="health back to ok")
        log = bus.log_text("projector")
        assert log.count("projector.store_unavailable") >= 2, log[-3000:]   # retried, with back-off
        assert bus.processes["projector"].poll() is None
    finally:
        bus.stop()
