"""``up``'s supervisor with real child processes and a hand-driven clock: an exited service is
restarted after a back-off that doubles while it keeps failing fast and starts afresh once it ran
long enough; every exit and restart is said and recorded in the status file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from referral_bus.infra.supervisor import BACKOFF_CEILING, EXIT_NEEDS_OPERATOR, HEALTHY_AFTER, Service, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(tmp_path: Path, code: str, name: str = "router") -> Service:
    return Service(name, [sys.executable, "-c", code], {}, tmp_path / f"{name}.log")


def exited(supervisor: Supervisor) -> None:
    for s in supervisor.services:
        assert s.process is not None
        s.process.wait(30)


def test_a_service_that_keeps_failing_is_restarted_with_a_doubling_back_off(tmp_path: Path) -> None:
    said: list[str] = []
    clock = Clock()
    failing = service(tmp_path, "import sys; print('boom'); sys.exit(70)")
    supervisor = Supervisor([failing], tmp_path / "services.json", say=said.append, clock=clock)
    supervisor.start_all()
    delays = []
    for _ in range(8):
        exited(supervisor)
        supervisor.poll()
        assert failing.restart_at is not None
        delays.append(failing.restart_at - clock.now)
        supervisor.poll()                       # not yet due: nothing started
        assert failing.restarts == len(delays) - 1
        clock.now = failing.restart_at
        supervisor.poll()
    assert delays == [1, 2, 4, 8, 16, 32, BACKOFF_CEILING, BACKOFF_CEILING]
    assert failing.restarts == 8
    assert "router exited with status 70 after 0 s; restarting in 1 s" in said[0]
    assert any("exited 3 times in a row" in line for line in said)
    exited(supervisor)
    assert (tmp_path / "router.log").read_text().count("boom") == 9   # every run's output kept
    supervisor.stop_all()


def test_a_service_that_ran_long_enough_starts_its_back_off_afresh(tmp_path: Path) -> None:
    clock = Clock()
    flaky = service(tmp_path, "import sys; sys.exit(1)")
    supervisor = Supervisor([flaky], tmp_path / "services.json", say=lambda _: None, clock=clock)
    supervisor.start_all()
    for _ in range(3):
        exited(supervisor)
        supervisor.poll()
        clock.now = flaky.restart_at  # type: ignore[assignment]
        supervisor.poll()
    assert flaky.failures_in_a_row == 3
    clock.now += HEALTHY_AFTER + 1                # this run lasted a while before it exited
    exited(supervisor)
    supervisor.poll()
    assert flaky.failures_in_a_row == 1 and flaky.restart_at == clock.now + 1


def test_the_status_file_says_what_runs_and_stop_all_ends_every_child(tmp_path: Path) -> None:
    clock = Clock()
    steady = service(tmp_path, "import time; time.sleep(600)", name="sla")
    failing = service(tmp_path, "import sys; sys.exit(2)", name="projections")
    supervisor = Supervisor([steady, failing], tmp_path / "services.json", say=lambda _: None, clock=clock)
    supervisor.start_all()
    assert failing.process is not None
    failing.process.wait(30)
    supervisor.poll()
    rows = {r["service"]: r for r in json.loads((tmp_path / "services.json").read_text())["services"]}
    assert rows["sla"]["state"] == "running" and rows["sla"]["pid"] == steady.pid
    assert rows["projections"]["state"] == "restarting" and rows["projections"]["last_exit_status"] == 2
    supervisor.stop_all()
    assert steady.process is not None and steady.process.poll() is not None
    clock.now += 100
    supervisor.poll()                               # stopping: nothing is started again
    assert failing.restarts == 0


def test_a_service_that_stops_for_the_operator_is_not_restarted(tmp_path: Path) -> None:
    """Exit status 4: its stores and the log disagree (projections/divergence.py); a restart would
    only refuse again, so it is held, said loudly, and shown as needing the operator."""
    said: list[str] = []
    clock = Clock()
    diverged = service(tmp_path, f"import sys; sys.exit({EXIT_NEEDS_OPERATOR})", name="projector")
    supervisor = Supervisor([diverged], tmp_path / "services.json", say=said.append, clock=clock)
    supervisor.start_all()
    exited(supervisor)
    for _ in range(3):
        supervisor.poll()
        clock.now += BACKOFF_CEILING + 1
    assert diverged.restarts == 0 and diverged.held
    assert len(said) == 1 and "STOPPED" in said[0] and "will not be restarted" in said[0], said
    row = json.loads((tmp_path / "services.json").read_text())["services"][0]
    assert row["state"] == "needs-operator" and row["last_exit_status"] == EXIT_NEEDS_OPERATOR


def test_a_service_stopped_by_a_setting_has_its_reason_repeated(tmp_path: Path) -> None:
    """Issue 14: a service that exits 2 (a setting it cannot use, e.g. its metrics port taken) — ``up``
    says why, from the last line of its log, not only that it exited."""
    said: list[str] = []
    clock = Clock()
    bad = service(tmp_path, "import sys; print('error: REFERRAL_BUS_SLA_METRICS_ADDR: the port is taken'); "
                            "sys.exit(2)", name="sla")
    supervisor = Supervisor([bad], tmp_path / "services.json", say=said.append, clock=clock)
    supervisor.start_all()
    exited(supervisor)
    supervisor.poll()
    assert said[-1].startswith("sla exited with status 2 after 0 s — it said: error: REFERRAL_BUS_SLA_METRICS_ADDR: "
                               "the port is taken; restarting in 1 s"), said
    supervisor.stop_all()
