"""Every scenario in examples/ runs, and its `expect:` block holds: the examples are documentation
of the protocol and tests of it at once (issue 3, deliverable 6)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from referral_bus.infra.logging import PERSONAL_KEYS
from referral_bus.infra.runtime import Runtime
from referral_bus.simulate import check, load_scenario, simulate
from tests.simulate.conftest import EXAMPLES


def test_there_is_an_example_per_pathway() -> None:
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_meets_its_expectations(path: Path, runtime: Runtime) -> None:
    assert path.read_text().startswith("#"), "each example opens with a comment saying what it shows"
    scenario = load_scenario(path, runtime.calendar)
    assert scenario.expect, "each example states the outcomes it demonstrates"
    lines = simulate(scenario, runtime)
    assert check(scenario.expect, lines) == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_output_is_ordered_deterministic_and_free_of_personal_data(path: Path, runtime: Runtime) -> None:
    scenario = load_scenario(path, runtime.calendar)
    lines = simulate(scenario, runtime)
    assert lines == simulate(scenario, runtime), "same scenario, same clock: same output"
    times = [datetime.fromisoformat(line["t"]) for line in lines]
    assert times == sorted(times), "lines come in simulated-time order"
    assert lines[-1]["kind"] == "summary" and all(line["kind"] != "summary" for line in lines[:-1])
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    secrets = [str(v) for step in scenario.steps for v in (step.personal_data or {}).values() if v]
    for secret in secrets:
        assert secret not in text
    for line in lines:
        assert not (PERSONAL_KEYS & line.keys()), line
