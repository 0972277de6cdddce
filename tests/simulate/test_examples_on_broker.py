"""Every shipped scenario, replayed byte for byte on the real bus: the router process gives each
submission the receipt the simulator predicted (status, code, field, paragraph, sequence) and puts
the same events in the same inboxes with the same paragraph, purpose and redaction. So each pathway
runs end to end on the broker, and the simulator is shown to tell the truth about the bus.

Scenarios are moved back in time so that their last step lies in the past (the router refuses
events from the future). Deadlines run on the wall clock on the bus (each event is recorded when the
router takes it), so the SLA processor is compared with the domain instead: its records and its
inbox deliveries for the scenario's cases are exactly what the deadline engine and
``sla_deliveries`` say the events on the bus's case log owe by now."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from referral_bus.contracts.base import Event
from referral_bus.domain.deadlines.notifications import sla_deliveries
from referral_bus.domain.signatures import sign
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.signing_keys import SigningKeyStore
from referral_bus.simulate import load_scenario
from referral_bus.simulate.runner import Simulation
from referral_bus.sla.app import record_id
from tests.broker_helpers import ReceiptWatcher, read_topic
from tests.conftest import Bus, wait_for
from tests.simulate.shifting import REPLAYABLE, into_the_past

pytestmark = pytest.mark.broker


def signed(runtime: Runtime, value: bytes) -> bytes:
    """A submission as its agency's SDK sends it: signed with the agency's key (the simulation
    decides without signatures; on the bus the router checks them before the protocol's rules)."""
    try:
        event = runtime.codec.decode(value)
    except DecodeError:
        return value   # deliberately broken bytes go as they are
    agency = event.envelope.producer.agency_id if isinstance(event, Event) else None
    if agency not in runtime.directory.agencies:
        return value
    return runtime.codec.encode(sign(event, *SigningKeyStore(runtime.settings.signing_keys).current(agency)))


def _from_the_future(receipt: dict[str, Any]) -> bool:
    """Refused as dated in the future on the simulated clock; on the wall clock it is the past."""
    return receipt.get("reason_code") == "ENVELOPE_INVALID" and receipt.get("field") == "envelope.occurred_at"


@pytest.mark.parametrize("path", REPLAYABLE, ids=lambda p: p.stem)
def test_scenario_on_the_bus_matches_the_simulation(path: Path, bus: Bus) -> None:
    scenario = into_the_past(load_scenario(path, bus.runtime.calendar))
    simulation = Simulation(scenario, bus.runtime)
    lines = simulation.run()
    predicted = {line["step"]: line for line in lines if line["kind"] == "receipt"}
    producer = KafkaProducer(bootstrap_servers=bus.runtime.settings.bootstrap_servers, acks="all")
    observer = ReceiptWatcher(bus.runtime)
    got: dict[str, Any] = {}
    try:
        for step in simulation.run_steps:
            sub = simulation.submissions.get(step.resubmit or step.label)
            if sub is None or _from_the_future(predicted[step.label]):
                continue   # refused before sending, as the SDK would; or only "future" on the simulated clock
            meta = producer.send(sub.topic, key=sub.key, value=signed(bus.runtime, sub.value)).get(timeout=30)
            got[step.label] = observer.wait(
                lambda r, m=meta, t=sub.topic: (r.source_topic, r.source_partition, r.source_offset) ==
                (t, m.partition, m.offset), timeout=60)
    finally:
        producer.close()
        observer.close()
    assert got, "nothing was replayed"
    for label, receipt in got.items():
        expected = predicted[label]
        assert (receipt.status.value, receipt.reason_code, receipt.field, receipt.paragraph, receipt.sequence) == (
            expected["status"], expected.get("reason_code"), expected.get("field"), expected.get("paragraph"),
            expected.get("sequence")), f"{path.name} step {label}"

    def key(to: str, paragraph: str, purpose: str, redacted: bool, event_type: str, case_id: str
            ) -> tuple[str, ...]:
        return (case_id, event_type, to, paragraph, purpose, str(redacted).lower())
    sent_labels = set(got)
    expected_deliveries = sorted(
        key(d["to"], d["paragraph"], d["purpose"], d["redacted"], d["event_type"], d["case_id"])
        for d in lines if d["kind"] == "delivery" and d.get("source") == "router" and d["step"] in sent_labels)
    cases = {step.case_id for step in scenario.steps}
    recipients = {d[2] for d in expected_deliveries}
    delivered = sorted(
        key(agency, r.headers["rb-paragraph"], r.headers["rb-purpose"], r.headers["rb-redacted"] == "true",
            r.record.event_type(), r.record.envelope.case_id)
        for agency in recipients for r in read_topic(bus.runtime, "inbox", agency=agency)
        if isinstance(r.record, Event) and r.record.envelope.case_id in cases)
    assert delivered == expected_deliveries, path.name

    def sla_owed_and_emitted() -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        logged = [r.record for r in read_topic(bus.runtime, "case_log")
                  if isinstance(r.record, Event) and r.record.envelope.case_id in cases]
        engine = bus.runtime.deadline_engine()
        owed = [r for e in logged for r in engine.on_event(e)] + engine.advance(datetime.now(UTC))
        expected = sorted([("record", type(r).__name__, record_id(r)) for r in owed]
                          + [("delivery", d.agency_id, d.purpose, d.paragraph, d.delivery_id)
                             for r in owed for d in sla_deliveries(r)])
        emitted = [r.record for t in ("sla", "escalations") for r in read_topic(bus.runtime, t)
                   if getattr(r.record, "case_id", None) in cases]
        inboxes = {d.agency_id for r in owed for d in sla_deliveries(r)}
        got = sorted([("record", type(r).__name__, record_id(r)) for r in emitted]
                     + [("delivery", agency, r.headers["rb-purpose"], r.headers["rb-paragraph"],
                         r.headers["rb-delivery-id"])
                        for agency in inboxes for r in read_topic(bus.runtime, "inbox", agency=agency)
                        if not isinstance(r.record, Event) and getattr(r.record, "case_id", None) in cases])
        return expected, got
    try:
        wait_for(lambda: (lambda pair: pair[0] == pair[1])(sla_owed_and_emitted()), timeout=120, interval=2,
                 what=f"the SLA processor's records and deliveries for {path.name} to equal the domain's")
    except AssertionError as timed_out:
        expected, got = map(Counter, sla_owed_and_emitted())
        raise AssertionError(f"{timed_out}: owed but not emitted {list(expected - got)[:5]}; "
                             f"emitted but not owed (or twice) {list(got - expected)[:5]}") from None
