"""DeadlineWithdrawn in the read models (SQLite, no broker) and the deadline ids an agency can
compute itself (to acknowledge an escalation it was told of)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from referral_bus.contracts.base import City
from referral_bus.contracts.events import EmergencyRemoval
from referral_bus.contracts.sla_records import (
    DeadlineOpened,
    DeadlineWithdrawn,
    EscalationRaised,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.deadlines.engine import (
    DeadlineEngine,
    deadline_id_for,
    escalation_id_for,
)
from referral_bus.domain.deadlines.rule_table import RULES
from referral_bus.infra.runtime import load_runtime
from referral_bus.projections.projector import Item, Projector
from referral_bus.projections.tables import Base, DeadlineRow
from tests.builders import T0, envelope, on_log


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_runtime().directory


def test_a_withdrawn_deadline_is_closed_in_the_read_model() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    projector = Projector(engine, "log", "sla", "esc", {}, load_runtime().directory)
    deadline_id = uuid.uuid4()
    opened = DeadlineOpened(sla_event_id=uuid.uuid4(), deadline_id=deadline_id,
                            rule_id="6.45-protection-plan-review-30d",
                            paragraph="6.41(d), 6.45, 6.49", case_id="C-1", trigger_event_id=uuid.uuid4(),
                            responsible_agency_id="cam-almaty", opened_at=T0, due_at=T0 + timedelta(days=30))
    withdrawn = DeadlineWithdrawn(sla_event_id=uuid.uuid4(), deadline_id=deadline_id, rule_id=opened.rule_id,
                                  paragraph=opened.paragraph, case_id="C-1", responsible_agency_id="cam-almaty",
                                  withdrawing_event_id=uuid.uuid4(), due_at=opened.due_at,
                                  withdrawn_at=T0 + timedelta(days=3), reason="the case file was closed")
    projector.apply_batch([Item("sla", 0, 0, b"C-1", {}, T0, opened), Item("sla", 0, 1, b"C-1", {}, T0, withdrawn)])
    with Session(engine) as s:
        row = s.get(DeadlineRow, str(deadline_id))
        assert row is not None and row.status == "withdrawn"
        assert row.completed_at is not None and row.completed_at.replace(tzinfo=T0.tzinfo) == T0 + timedelta(days=3)


def test_deadline_and_escalation_ids_can_be_computed_from_the_trigger(directory: Directory) -> None:
    engine = DeadlineEngine(RULES, directory)
    removal = on_log(EmergencyRemoval(envelope=envelope(EmergencyRemoval, "C-1", "police-juvenile-almaty"),
                                      city=City.ALMATY, child_age_years=9, child_removed=True,
                                      cam_social_worker_present=False), 1)
    [opened] = [r for r in engine.on_event(removal) if isinstance(r, DeadlineOpened) and r.rule_id.startswith("4.8")]
    assert opened.deadline_id == deadline_id_for("4.8-removal-outcome-3h", "C-1", removal.envelope.event_id)
    [escalation] = [r for r in engine.advance(T0 + timedelta(hours=4)) if isinstance(r, EscalationRaised)
                    and r.rule_id.startswith("4.8")]
    assert escalation.escalation_id == escalation_id_for(opened.deadline_id, 1)
