"""The cases read model shows an out-of-area child's home city beside its city (issue 15), as the
domain's fold says; a database made before the column gains it without a rebuild."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from referral_bus.infra.runtime import Runtime
from referral_bus.projections.projector import Item, Projector
from referral_bus.projections.tables import Base, CaseRow, add_missing_columns
from referral_bus.simulate import load_scenario
from referral_bus.simulate.runner import Simulation
from tests.builders import T0
from tests.simulate.conftest import ROOT


def test_case_rows_show_the_home_city(runtime: Runtime) -> None:
    simulation = Simulation(load_scenario(ROOT / "examples" / "out-of-area-child.yaml", runtime.calendar), runtime)
    simulation.run()
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    p = Projector(engine, "log", "sla", "esc", {}, runtime.directory)
    p.apply_batch([Item("log", 0, offset, event.envelope.case_id.encode(), {}, T0 + timedelta(seconds=offset), event)
                   for offset, event in enumerate(simulation.appended)])
    with Session(engine) as s:
        rows = {r.case_id: (r.city, r.home_city) for r in s.scalars(select(CaseRow))}
    assert rows == {"ALA-OOA-1": ("ALMATY", "SHYMKENT"), "NUR-OOA-2": ("NUR_SULTAN", "ALMATY"),
                    "ALA-OOA-3": ("ALMATY", "ALMATY"), "ALA-OOA-4": ("ALMATY", "NUR_SULTAN"),
                    "ALA-OOA-5": ("ALMATY", "SHYMKENT")}
    for case_id, (_, home) in rows.items():
        state = simulation.router.cases[case_id]
        assert home == (state.home_city.value if state.home_city else None)


def test_an_older_database_gains_the_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    Base.metadata.create_all(engine)
    with engine.begin() as connection:   # the cases table as made before issue 15
        connection.execute(text("ALTER TABLE cases DROP COLUMN home_city"))
    assert "home_city" not in {c["name"] for c in inspect(engine).get_columns("cases")}
    assert add_missing_columns(engine) == ["cases.home_city"]
    assert "home_city" in {c["name"] for c in inspect(engine).get_columns("cases")}
    assert add_missing_columns(engine) == []   # idempotent
