"""A real three-broker Apache Kafka cluster under faults, with the router and SLA processor running
and agencies submitting steadily: kill -9 of a broker, kill -9 of the active controller, a broker
frozen (SIGSTOP) for 30 s, and a restart of everything. After each: no acknowledged submission
lost, none duplicated on the case log, every submission answered by exactly one receipt, and
``verify`` clean. Topics are replicated 3 times with min.insync.replicas=2; producers use acks=all
and idempotence — the production configuration (``infra/kafka/broker_config.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.infra.kafka.kafka_cluster import LocalKafkaCluster
from referral_bus.sdk import AgencyClient, PublishError
from tests.builders import case_id, referral
from tests.conftest import Bus, start_bus, wait_for
from tests.system.steady_load import SteadyLoad, all_answered, check_nothing_lost

pytestmark = [pytest.mark.broker, pytest.mark.slow]

FIGURES: list[str] = []


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaCluster]:
    # production profile; only the group's initial rebalance delay is shortened, for test speed
    kafka = LocalKafkaCluster(tmp_path_factory.mktemp("kafka3"), nodes=3, profile="production",
                              heap="384m", extra={"group.initial.rebalance.delay.ms": "0"})
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()


@pytest.fixture(scope="module")
def bus(cluster: LocalKafkaCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    bus = start_bus(cluster.bootstrap_servers, tmp_path_factory.mktemp("bus"))
    try:
        bus.wait_ready(timeout=180)
        yield bus
    finally:
        bus.stop()
        if FIGURES:
            print("\n" + "\n".join(FIGURES))


def time_to_receipt(bus: Bus, timeout: float = 180.0) -> float:
    """Seconds until a fresh submission is answered (the bus is serving again)."""
    start = time.monotonic()
    with AgencyClient("school-almaty", actor_id="probe", runtime=bus.runtime) as probe:
        event = referral(probe, case_id("PROBE"))
        while True:
            try:
                receipt = probe.publish(event, wait_for_receipt=True, timeout=10)
                assert receipt is not None and receipt.status in (ReceiptStatus.ACCEPTED, ReceiptStatus.DUPLICATE)
                return time.monotonic() - start
            except PublishError:
                assert time.monotonic() - start < timeout, silent(bus)
            except Exception:  # noqa: BLE001 - the broker may refuse the client for a while
                assert time.monotonic() - start < timeout, silent(bus)
                time.sleep(1)


def silent(bus: Bus) -> str:
    """The failure message when the bus stays silent: what each service last said."""
    tails = "\n".join(f"--- {service} (running: {proc.poll() is None}):\n{bus.log_text(service)[-4000:]}"
                      for service, proc in bus.processes.items())
    return f"the bus did not answer after the fault\n{tails}"


def answered_yet(bus: Bus, load: SteadyLoad) -> bool:
    """``all_answered``, where a broker that does not answer the checker yet (just restarted)
    means "not yet", not a failure: the wait's own timeout decides."""
    import aiokafka.errors
    import kafka.errors
    try:
        return all_answered(bus.runtime, load.sent)
    except (kafka.errors.KafkaError, aiokafka.errors.KafkaError, TimeoutError) as exc:
        print(f"checker: {type(exc).__name__}: {exc}; asking again")
        return False


def run_fault(bus: Bus, name: str, fault, steady_for: float = 8.0) -> None:  # type: ignore[no-untyped-def]
    """Steady load before, during and after ``fault()``; then everything is checked."""
    load = SteadyLoad(bus.runtime, prefix=name.upper().replace(" ", "-")[:12]).start()
    time.sleep(steady_for)
    injected = time.monotonic()
    fault()
    fault_ended = time.monotonic()
    serving = time_to_receipt(bus)
    time.sleep(steady_for)
    load.stop()
    drained_from = time.monotonic()
    wait_for(lambda: answered_yet(bus, load), timeout=300, interval=2, what="a receipt for every submission")
    for service, proc in bus.processes.items():
        assert proc.poll() is None, f"{service} exited with {proc.returncode}:\n{bus.log_text(service)[-3000:]}"
    checked = check_nothing_lost(bus.runtime, load.sent)
    FIGURES.append(f"{name}: {len(load.sent)} submissions ({load.resent} re-sent by the client, {load.reconnects} "
                   f"client reconnects); fault lasted "
                   f"{fault_ended - injected:.0f} s, longest wait for a receipt {longest_gap(bus, load):.1f} s, "
                   f"a new submission answered {serving:.1f} s after the fault ended, backlog drained "
                   f"{time.monotonic() - drained_from:.1f} s after the load stopped; 0 lost, 0 duplicated; case log "
                   f"{checked.events_on_log} events, {checked.duplicate_receipts} DUPLICATE receipts")


def longest_gap(bus: Bus, load: SteadyLoad) -> float:
    """The longest stretch during the run in which no submission of the load was answered."""
    from referral_bus.contracts.bus_records import Receipt
    from tests.broker_helpers import read_all
    times = sorted(r.record.recorded_at for r in read_all(bus.runtime, "receipts")
                   if isinstance(r.record, Receipt) and str(r.record.event_id) in load.sent)
    return max(((b - a).total_seconds() for a, b in zip(times, times[1:])), default=0.0)


def controller_of(cluster: LocalKafkaCluster) -> int:
    leader: int = wait_for(cluster.active_controller, timeout=60, what="a KRaft quorum leader")  # ids start at 1
    return leader


def test_kill_9_of_a_broker_that_is_not_the_controller(bus: Bus, cluster: LocalKafkaCluster) -> None:
    controller = controller_of(cluster)
    victim = next(n for n in cluster.members if n != controller)

    def fault() -> None:
        cluster.kill(victim)
        time.sleep(10)  # the cluster runs on two brokers (min.insync.replicas=2 still met)
        cluster.restart(victim)
    run_fault(bus, "kill -9 broker", fault)


def test_kill_9_of_the_active_controller(bus: Bus, cluster: LocalKafkaCluster) -> None:
    controller = controller_of(cluster)

    def fault() -> None:
        cluster.kill(controller)
        wait_for(lambda: cluster.active_controller() not in (None, controller), timeout=60, interval=0.5,
                 what="a new controller")
        time.sleep(5)
        cluster.restart(controller)
    run_fault(bus, "kill -9 controller", fault)


def test_a_broker_frozen_for_30_seconds(bus: Bus, cluster: LocalKafkaCluster) -> None:
    controller = controller_of(cluster)
    frozen = next(n for n in cluster.members if n != controller)

    def fault() -> None:
        cluster.pause(frozen)
        time.sleep(30)
        cluster.resume(frozen)
        cluster.wait_serving()
    run_fault(bus, "SIGSTOP broker 30 s", fault)


def test_restart_of_everything(bus: Bus, cluster: LocalKafkaCluster) -> None:
    def fault() -> None:
        bus.stop()
        cluster.stop()
        cluster.start()
        for service in ("router", "sla"):
            bus.start(service)
    run_fault(bus, "restart everything", fault)
