"""The read models never hold free text that may name a person, as they never hold
``personal_data`` (issue 12, item 4): the timeline's ``fields`` leave both out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from referral_bus.contracts.base import City
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.infra.runtime import load_runtime
from referral_bus.projections.projector import Item, Projector
from referral_bus.projections.tables import Base, TimelineRow
from tests.builders import FICTIONAL, T0, envelope, on_log


def test_the_timeline_leaves_out_personal_free_text() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    projector = Projector(engine, "log", "sla", "esc", {}, load_runtime().directory)
    referral = on_log(ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"), city=City.ALMATY,
                                   referral_kind=ReferralKind.CHILD_PROTECTION, child_age_years=7,
                                   referring_body="teacher of Test Child", personal_data=FICTIONAL), 1)
    referral = referral.model_copy(update={"envelope": referral.envelope.model_copy(update={"hash": "a" * 64})})
    projector.apply_batch([Item("log", 0, 0, b"C-1", {}, T0 + timedelta(seconds=1), referral)])
    with Session(engine) as session:
        [fields] = session.scalars(select(TimelineRow.fields)).all()
    assert fields["child_age_years"] == 7 and fields["city"] == "ALMATY"
    assert "referring_body" not in fields and "personal_data" not in fields
    assert "Test Child" not in str(fields)
