"""The projector on SQLite (the embedded default), fed records directly: offsets commit with the
rows, a replayed batch is idempotent for deliveries, re-timed deadlines keep their id."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.contracts.sla_records import DeadlineMet, DeadlineOpened
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.projections.projector import Item, Projector, age_band
from referral_bus.projections.tables import (
    Base,
    CaseRow,
    DeadlineRow,
    DeliveryRow,
    ReferralRow,
)
from referral_bus.simulate import load_scenario
from referral_bus.simulate.runner import Simulation
from tests.builders import T0, envelope, on_log
from tests.simulate.conftest import EXAMPLES


def projector():  # type: ignore[no-untyped-def]
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    return Projector(engine, "log", "sla", "esc", {"inbox.cam-almaty": "cam-almaty"},
                     load_runtime().directory), engine


def item(topic: str, offset: int, record, key: bytes = b"C-1", headers=None) -> Item:  # type: ignore[no-untyped-def]
    return Item(topic, 0, offset, key, headers or {}, T0 + timedelta(seconds=offset), record)


def test_rows_and_offsets_in_one_transaction_and_redelivery_counted_once() -> None:
    p, engine = projector()
    referral = on_log(ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"),
                                   referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=7), 1)
    referral = referral.model_copy(update={"envelope": referral.envelope.model_copy(update={"hash": "h"})})
    delivery = {"rb-delivery-id": str(uuid.uuid4()), "rb-paragraph": "4.5(b)(i), 4.6", "rb-purpose": "referral"}
    p.apply_batch([item("log", 0, referral), item("inbox.cam-almaty", 0, referral, headers=delivery),
                   item("inbox.cam-almaty", 1, referral, headers=delivery)])   # the same delivery re-sent
    assert p.offsets() == {("log", 0): 1, ("inbox.cam-almaty", 0): 2}
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(DeliveryRow)) == 1
        case = s.get(CaseRow, "C-1")
        assert case is not None and case.referred_to_cam and case.city == "ALMATY"
        assert s.scalars(select(ReferralRow.age_band)).all() == ["6-11"]


def test_retimed_deadline_keeps_its_row_and_closes() -> None:
    p, engine = projector()
    deadline_id = uuid.uuid4()

    def opened(hours: int) -> DeadlineOpened:
        return DeadlineOpened(sla_event_id=uuid.uuid4(), deadline_id=deadline_id, rule_id="6.3", paragraph="6.3(a)",
                              case_id="C-1", trigger_event_id=uuid.uuid4(), responsible_agency_id="cam-almaty",
                              opened_at=T0, due_at=T0 + timedelta(hours=hours))

    met = DeadlineMet(sla_event_id=uuid.uuid4(), deadline_id=deadline_id, rule_id="6.3", paragraph="6.3(a)",
                      case_id="C-1", completing_event_id=uuid.uuid4(), due_at=T0 + timedelta(hours=78),
                      completed_at=T0 + timedelta(hours=50))
    p.apply_batch([item("sla", 0, opened(48)), item("sla", 1, opened(78))])
    p.apply_batch([item("sla", 2, met)])
    with Session(engine) as s:
        [row] = s.scalars(select(DeadlineRow)).all()
        assert (row.status, row.due_at.replace(tzinfo=None)) == ("met", (T0 + timedelta(hours=78)).replace(tzinfo=None))


def test_age_bands() -> None:
    assert [age_band(a) for a in (0, 2, 3, 5, 6, 11, 12, 15, 16, 17)] == \
        ["0-2", "0-2", "3-5", "3-5", "6-11", "6-11", "12-15", "12-15", "16-17", "16-17"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_case_rows_say_what_the_domain_fold_says_for_every_scenario(path: Path, runtime: Runtime) -> None:
    """The ``cases`` read model stores the folded case state (decisions.fold), never a second
    derivation: for every shipped scenario, every row equals the router's own fold of the case."""
    simulation = Simulation(load_scenario(path, runtime.calendar), runtime)
    simulation.run()
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    p = Projector(engine, "log", "sla", "esc", {}, runtime.directory)
    p.apply_batch([item("log", offset, event, key=event.envelope.case_id.encode())
                   for offset, event in enumerate(simulation.appended)])
    with Session(engine) as s:
        rows = {row.case_id: row for row in s.scalars(select(CaseRow))}
    assert set(rows) == {c for c, state in simulation.router.cases.items() if state.exists}
    for case_id, row in rows.items():
        state = simulation.router.cases[case_id]
        assert (row.city, row.child_age_years, row.referred_to_cam, row.child_removed, row.initial_assessment,
                row.last_sequence) == (state.city.value if state.city else None, state.child_age_years,
                                       state.referred_to_cam, state.child_removed,
                                       state.initial_assessment.value if state.initial_assessment else None,
                                       state.last_sequence), case_id
