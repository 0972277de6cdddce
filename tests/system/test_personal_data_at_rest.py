"""Issue 11, item 4, on a real broker: a distinctive (invented) name planted through the SDK is, at
rest, only ciphertext — in the broker's log segment files, the read models' PostgreSQL files (heap
and write-ahead log), an archive, the services' logs and their metrics; the entitled agency opens
it through the key service; after
``referral-bus erase`` nothing opens it any more, the case key's bytes are gone from the vault file,
the case takes no more events, and ``verify`` and ``history`` are as before."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from referral_bus.auditor.archive import archive, read_archive
from referral_bus.auditor.history import rebuild_case_sync
from referral_bus.auditor.verify import verify_topic_sync
from referral_bus.contracts.base import PersonalData
from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.events import NGODecision, NGODecisionKind, ReferralKind
from referral_bus.domain.sealing import CASE_LOG
from referral_bus.infra.kafka.local_broker import start_local_broker
from referral_bus.infra.kafka.local_process import free_port
from referral_bus.infra.vault import KeyService, KeyServiceRefusal, Vault
from referral_bus.sdk import AgencyClient, PersonalDataUnavailable
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, referral
from tests.conftest import start_bus, wait_for

pytestmark = pytest.mark.broker
NAME = "Zhanargul Testova-Quill"          # invented for this test; no such person
PURPOSE = "referral 2026-41 assessment"


def scrape(port: int) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
        return bytes(response.read())


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots for p in sorted(root.rglob("*")) if p.is_file()]


def holding(needle: bytes, paths: list[Path]) -> list[str]:
    return [str(p) for p in paths if needle in p.read_bytes()]


def postgres_files(database_url: str) -> tuple[Callable[[], list[Path]], Callable[[], None]]:
    """The files of the read models' PostgreSQL database on disk (its heap files and the server's
    write-ahead log), and a CHECKPOINT that puts what was committed into them."""
    import psycopg
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        data = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]  # type: ignore[index]

    def checkpoint() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    return (lambda: files_under(data / "base" / str(oid), data / "pg_wal")), checkpoint


def test_a_planted_name_is_only_ciphertext_at_rest_and_unrecoverable_after_erase(
        tmp_path: Path, postgres_database: Callable[[], str]) -> None:
    # a broker of its own, so that its log segment files are known and hold this test's records only;
    # the read models in PostgreSQL, as in production, so that its files on disk are searched too
    database_url = postgres_database()
    broker = start_local_broker(tmp_path / "kafka")
    try:
        ports = {"router": free_port(), "sla": free_port(), "projector": free_port()}
        bus = start_bus(broker.bootstrap_servers, tmp_path / "bus", services=("router", "sla", "projector"),
                        metrics_ports=ports, database_url=database_url)
        try:
            run(bus, broker_dir=tmp_path / "kafka", ports=ports, out=tmp_path, database_url=database_url)
        finally:
            bus.stop()
    finally:
        broker.stop()


def run(bus, *, broker_dir: Path, ports: dict[str, int], out: Path,  # type: ignore[no-untyped-def]
        database_url: str) -> None:
    database_files, checkpoint = postgres_files(database_url)
    bus.wait_ready()
    runtime = bus.runtime
    settings = runtime.settings
    wait_for(lambda: settings.vault_public_key_file.is_file(), what="the vault's public key")
    service = KeyService.from_runtime(runtime)

    def as_ngo(**asked: object) -> bytes:   # what the gateway does for the NGO (H2's /v1/keys/unwrap)
        return service.unwrap(principal="ngo-rodnik", authenticated=False, **asked)  # type: ignore[arg-type]

    case = case_id("SHRED")
    with AgencyClient("school-almaty", actor_id="t-9", runtime=runtime) as school:
        event = referral(school, case, age=12, kind=ReferralKind.NGO_SUPPORT, referring_body=f"teacher of {NAME}",
                         personal_data=PersonalData(child_name=NAME, narrative=f"{NAME} was seen crying at school"))
        receipt = school.publish(event, wait_for_receipt=True)
        assert receipt is not None and receipt.status is ReceiptStatus.ACCEPTED, receipt

    with AgencyClient("ngo-rodnik", actor_id="c-9", runtime=runtime, unwrap=as_ngo) as ngo:
        item = next(i for i in ngo.inbox(idle_timeout=60) if getattr(i.record, "envelope", None)
                    and i.record.envelope.case_id == case)  # type: ignore[attr-defined]
        assert item.record.sealed is not None and item.record.sealed.recipient == "ngo-rodnik"  # type: ignore[attr-defined]
        assert item.record.personal_data is None  # type: ignore[attr-defined]
        opened = ngo.open_personal_data(item, purpose=PURPOSE)
        assert opened.personal_data is not None and opened.personal_data.child_name == NAME
        assert opened.referring_body == f"teacher of {NAME}"  # type: ignore[attr-defined]

        [logged] = of_case(read_topic(runtime, "case_log"), case)
        assert logged.sealed is not None and logged.sealed.recipient == CASE_LOG
        ciphertext = logged.sealed.ciphertext
        def projected() -> bool:
            checkpoint()
            return bool(holding(case.encode(), database_files()))
        wait_for(projected, what="the projector's read models, in PostgreSQL's files on disk")
        archived = out / "archive"
        archive(runtime, archived)
        _, partitions = read_archive(archived)
        archived_values = b"".join(row["value"] or b"" for rows in partitions.values() for row in rows)
        metrics = b"".join(scrape(port) for port in ports.values())

        # found only as ciphertext: the sealed bytes are on disk, the name is nowhere
        segments = [p for p in files_under(broker_dir) if p.suffix == ".log"]
        assert holding(ciphertext, segments), "the case log's ciphertext is in the broker's segment files"
        assert ciphertext in archived_values
        checkpoint()
        # the router's and SLA processor's state snapshots, once they hold the case (its sealed copies too)
        state = settings.data_dir / "state"
        wait_for(lambda: len(holding(case.encode(), list(state.glob("*.snapshot")))) == 2,
                 what="both services' snapshots holding the case")
        places = [*segments, *database_files(), *files_under(archived), *state.glob("*.snapshot"),
                  *(bus.logs / f"{s}.log" for s in ("router", "sla", "projector"))]
        for needle in (NAME.encode(), b"Testova-Quill"):
            assert holding(needle, places) == []
            assert needle not in archived_values and needle not in metrics

        report, undecodable = verify_topic_sync(runtime)
        assert report.problems == [] and undecodable == []

        # erase: the key destroyed, the erasure on the read-audit trail
        vault = Vault(settings.vault_dir, settings.vault_public_key_file)
        found = vault.case_key(case)
        assert found is not None and found[1] in vault.path.read_bytes()
        erase = subprocess.run([sys.executable, "-m", "referral_bus.cli", "erase", case, "--reason",
                                "erasure request 2026-77", "--as", "operator-7"], env=bus.env, capture_output=True,
                               text=True, timeout=120)
        assert erase.returncode == 0, erase.stderr
        assert found[1] not in b"".join(p.read_bytes() for p in files_under(settings.vault_dir))
        # the school's own submission (its sealed form, wrapped to the vault's ingress key) is deleted
        # from its ingress topic: the partition now begins after everything the router had processed
        assert "deleted the submissions the router had processed" in erase.stdout, erase.stdout
        assert ingress_begins_at(runtime, "school-almaty", case) > 0
        again = subprocess.run([sys.executable, "-m", "referral_bus.cli", "erase", case, "--reason",
                                "erasure request 2026-77"], env=bus.env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and "already erased" in again.stdout

        with pytest.raises(PersonalDataUnavailable) as refused:
            ngo.open_personal_data(item, purpose=PURPOSE)
        assert refused.value.code == "CASE_ERASED"
        with pytest.raises(KeyServiceRefusal) as refused_log:
            service.unwrap(principal="rb-auditor", authenticated=True, case_id=case,
                           event_id=str(logged.envelope.event_id), recipient=CASE_LOG,
                           wrapped_key=logged.sealed.wrapped_key, purpose=PURPOSE)
        assert refused_log.value.code == "CASE_ERASED"

        later = ngo.event(NGODecision, case_id=case, decision=NGODecisionKind.ACCEPTED)
        answer = ngo.publish(later, wait_for_receipt=True)
        assert answer is not None and answer.reason_code == "CASE_ERASED", answer

    report, undecodable = verify_topic_sync(runtime)
    assert report.problems == [] and undecodable == []
    history = rebuild_case_sync(runtime, case, None)
    assert len(history.events) == 1
    reads = [r.record for r in read_topic(runtime, "read_audit") if getattr(r.record, "case_id", None) == case]
    assert [r.tool for r in reads] == ["unwrap", "erase"]   # type: ignore[attr-defined]


def ingress_begins_at(runtime, agency: str, case: str) -> int:  # type: ignore[no-untyped-def]
    """The first offset still held on the case's partition of ``agency``'s ingress topic."""
    from kafka import KafkaConsumer, TopicPartition

    from referral_bus.infra.kafka.log_reader import partition_for_key
    tp = TopicPartition(runtime.catalogue.ingress(agency),
                        partition_for_key(case.encode(), runtime.catalogue.partitions("ingress")))
    consumer = KafkaConsumer(**runtime.settings.kafka_python())
    try:
        return int(consumer.beginning_offsets([tp])[tp])
    finally:
        consumer.close()
