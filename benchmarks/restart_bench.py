"""Restart of the router and the SLA processor with a long case log: time to their first answer
and memory, at each log size asked for.

Log: ``events`` chained events written straight to the broker (``benchmarks/case_log.py``: cases
of ~30 events, each opening and meeting the 4.8 deadline), not through the router — a million
events through the router would take an hour on this machine.

Then the real services are started (processes, as ``scripts/run.sh`` runs them) once, so that the
SLA processor writes the records it owes for the log (2 per case) and the bus is in the state it
has after running. That first start folds the whole log (no snapshot exists yet) and is timed as
"first start". Once both have saved a snapshot of their state (infra/snapshots.py, every 2 s as in
the tests), they are stopped and started again: that restart is timed — it loads the snapshot and
folds only what came after it.
- **router**: from the processes' start until the receipt of a police removal published again and
  again (5 s per attempt) until answered;
- **SLA processor**: from the same start until that removal's ``DeadlineOpened`` is on ``rb.sla``
  (the SLA processor goes live only after rebuilding, so this is its first answer; it cannot come
  before the router's receipt);
- **RSS**: each process's resident memory when it first answered, and its peak (``VmHWM``).
Both services rebuild at the same time on the same 2 cores, as after a machine's reboot.
No baseline: the figure is the absolute time and memory at each size, and growth between sizes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from kafka import KafkaConsumer
from kafka import TopicPartition as SyncTopicPartition

from benchmarks import case_log
from benchmarks.brokers import local_broker_at
from referral_bus.contracts.sla_records import DeadlineOpened
from referral_bus.sdk import AgencyClient, PublishError
from tests.builders import case_id, removal
from tests.conftest import Bus, start_bus


def _memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def _sla_end_offsets(bus: Bus) -> dict[int, int]:
    topic = bus.runtime.catalogue.name("sla")
    consumer = KafkaConsumer(bootstrap_servers=bus.runtime.settings.bootstrap_servers, enable_auto_commit=False)
    try:
        tps = [SyncTopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def _start_and_time(bus: Bus, timeout: float) -> dict[str, float]:
    """Start both services; seconds to each one's first answer and its memory then."""
    sla_topic = bus.runtime.catalogue.name("sla")
    sla_from = _sla_end_offsets(bus)
    started = time.monotonic()
    router, sla = bus.start("router"), bus.start("sla")
    out: dict[str, float] = {}
    with AgencyClient("police-juvenile-almaty", actor_id="bench", runtime=bus.runtime) as police:
        probe = removal(police, case_id("PROBE"), hours_ago=0)
        value = police.validate(probe)
        while True:
            for name, proc in bus.processes.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}:\n{bus.log_text(name)[-3000:]}")
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"router did not answer within {timeout} s")
            try:
                receipt = police.publish_raw(probe.envelope.case_id.encode(), value,
                                             receipt_key=str(probe.envelope.event_id), timeout=5)
            except PublishError:
                continue
            if receipt is not None:
                break
        out["router first receipt s"] = time.monotonic() - started
        out["router RSS MB"], out["router peak RSS MB"] = (b / 2**20 for b in _memory(router.pid))
    consumer = KafkaConsumer(bootstrap_servers=bus.runtime.settings.bootstrap_servers, enable_auto_commit=False)
    tps = [SyncTopicPartition(sla_topic, p) for p in sla_from]
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, sla_from[tp.partition])
    try:
        while "SLA first DeadlineOpened s" not in out:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"SLA processor did not answer within {timeout} s")
            for records in consumer.poll(timeout_ms=200).values():
                for record in records:
                    decoded = bus.runtime.codec.decode(record.value)
                    if isinstance(decoded, DeadlineOpened) and decoded.case_id == probe.envelope.case_id:
                        out["SLA first DeadlineOpened s"] = time.monotonic() - started
                        out["SLA RSS MB"], out["SLA peak RSS MB"] = (b / 2**20 for b in _memory(sla.pid))
    finally:
        consumer.close()
    return out


def _wait_for_snapshots(bus: Bus, timeout: float) -> None:
    """Until both services have saved a snapshot and then had nothing new to save for a while (they
    save every 2 s when something changed): their last snapshot holds everything so far."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    seen = {s: 0 for s in ("router", "sla")}
    while time.monotonic() - quiet_since < 10:
        if time.monotonic() > deadline:
            raise TimeoutError("no snapshot saved")
        saved = {s: len(bus.log_events(s, f"{s}.snapshot_saved")) for s in seen}
        if saved != seen or not all(saved.values()):
            seen, quiet_since = saved, time.monotonic()
        time.sleep(1)


def run(sizes: tuple[int, ...] = (100_000,), events_per_case: int = 30,
        again_up_to: int = 10_000_000) -> list[dict[str, float]]:
    """Above ``again_up_to`` events only the first start (a full rebuild) is timed."""
    results = []
    for n in sizes:
        with local_broker_at("kafka", snapshot_seconds=2) as (servers, _), tempfile.TemporaryDirectory() as tmp:
            bus = start_bus(servers, Path(tmp), services=())
            try:
                began = time.monotonic()
                cases = case_log.fill(bus.runtime, n, events_per_case)
                row: dict[str, float] = {"log events": float(n), "cases": float(cases),
                                         "fill s": time.monotonic() - began}
                timeout = 600 + n * 0.003
                first = _start_and_time(bus, timeout)
                row.update({f"first start: {k}": v for k, v in first.items()})
                if n <= again_up_to:
                    time.sleep(5)   # the SLA processor's last owed records out
                    _wait_for_snapshots(bus, timeout)
                    bus.stop()
                    bus.processes.clear()
                    row.update(_start_and_time(bus, timeout))
                    for service in ("router", "sla"):
                        [rebuilt] = bus.log_events(service, f"{service}.state_rebuilt")[-1:]
                        row[f"{service} restarted from snapshot"] = float(rebuilt["from_snapshot"] is True)
                        row[f"{service} events folded at restart"] = float(str(rebuilt.get("events", -1)))
                    row.update({f"{path.stem} snapshot MB": path.stat().st_size / 2**20
                                for path in (bus.runtime.settings.data_dir / "state").glob("*.snapshot")})
                results.append(row)
                print(f"   restart at {n:,} events: {row}", flush=True)
            finally:
                bus.stop()
    return results
