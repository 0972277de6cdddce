"""The read models in PostgreSQL hold every paragraph and purpose the bus produces: a deadline of
every rule in the table and every delivery of every shipped scenario (seed paragraphs are long,
and PostgreSQL, unlike SQLite, refuses a value longer than its column)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.contracts.sla_records import DeadlineOpened
from referral_bus.domain.deadlines.rule_table import RULES
from referral_bus.infra.runtime import load_runtime
from referral_bus.projections.projector import Item, Projector
from referral_bus.projections.tables import Base, DeadlineRow, DeliveryRow
from referral_bus.simulate import load_scenario, simulate
from tests.builders import T0, envelope, on_log
from tests.simulate.conftest import EXAMPLES


def test_every_rule_and_every_delivery_of_the_examples_fits(postgres_database: Callable[[], str]) -> None:
    engine = create_engine(postgres_database())
    Base.metadata.create_all(engine)
    runtime = load_runtime()
    projector = Projector(engine, "log", "sla", "esc", {"inbox": "cam-almaty"}, runtime.directory)
    deliveries = {(line["paragraph"], line["purpose"]) for path in EXAMPLES
                  for line in simulate(load_scenario(path, runtime.calendar), runtime) if line["kind"] == "delivery"}
    event = on_log(ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"),
                                referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=7), 1)
    items = [Item("sla", 0, offset, b"C-1", {}, T0, DeadlineOpened(
        sla_event_id=uuid.uuid4(), deadline_id=uuid.uuid4(), rule_id=rule.rule_id, paragraph=rule.paragraph,
        case_id="C-1", trigger_event_id=uuid.uuid4(), responsible_agency_id="cam-almaty", opened_at=T0,
        due_at=T0 + timedelta(hours=1))) for offset, rule in enumerate(RULES)]
    items += [Item("inbox", 0, offset, b"C-1", {"rb-delivery-id": str(uuid.uuid4()), "rb-paragraph": paragraph,
                                                 "rb-purpose": purpose}, T0, event)
              for offset, (paragraph, purpose) in enumerate(sorted(deliveries))]
    projector.apply_batch(items)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(DeadlineRow)) == len(RULES)
        assert {tuple(row) for row in s.execute(select(DeliveryRow.paragraph, DeliveryRow.purpose))} == deliveries
