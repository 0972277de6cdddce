"""The referrals read model: a referral its referrer withdrew (issue 15) has the outcome
``WITHDRAWN``, whether in the batch that made it or a later one; a later assessment or decision
does not overwrite it, and the other referrals of the case keep theirs."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from referral_bus.infra.runtime import Runtime
from referral_bus.projections.projector import WITHDRAWN, Item, Projector
from referral_bus.projections.tables import Base, ReferralRow
from referral_bus.simulate import load_scenario
from referral_bus.simulate.runner import Simulation
from tests.builders import T0
from tests.simulate.conftest import ROOT


def outcomes(runtime: Runtime, batch_size: int) -> dict[str, str | None]:
    simulation = Simulation(load_scenario(ROOT / "examples" / "referral-withdrawn.yaml", runtime.calendar), runtime)
    simulation.run()
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    p = Projector(engine, "log", "sla", "esc", {}, runtime.directory)
    items = [Item("log", 0, offset, event.envelope.case_id.encode(), {}, T0 + timedelta(seconds=offset), event)
             for offset, event in enumerate(simulation.appended)]
    for start in range(0, len(items), batch_size):
        p.apply_batch(items[start:start + batch_size])
    with Session(engine) as s:
        return {simulation.step_of_event[uuid.UUID(r.event_id)]: r.outcome
                for r in s.scalars(select(ReferralRow))}


def test_withdrawn_referrals_say_so_in_one_batch_or_many(runtime: Runtime) -> None:
    expected = {"referral": WITHDRAWN, "duplicate": WITHDRAWN, "ngo-request": WITHDRAWN,
                "assessed-referral": "NO_CONCERN"}
    assert outcomes(runtime, batch_size=100) == expected
    assert outcomes(runtime, batch_size=1) == expected
