"""`referral-bus simulate` as a user runs it: JSON lines on stdout, exit 0 even with rejections,
exit 2 on a malformed scenario, exit 1 with --check when the expectations do not hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.simulate.conftest import ROOT

CLI = Path(sys.executable).parent / "referral-bus"


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), "simulate", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_json_lines_and_exit_0_even_with_rejections() -> None:
    done = simulate("examples/bad-input-rejections.yaml")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert {line["kind"] for line in lines} == {"receipt", "delivery", "sla", "summary"}
    assert lines[-1]["kind"] == "summary" and lines[-1]["rejected"] == 13
    rejected = [line for line in lines if line.get("status") == "REJECTED"]
    assert all(line["reason_code"] for line in rejected)
    assert "router.rejected" not in done.stderr   # the logs stay quiet: the output already says it


def test_until_and_text_format() -> None:
    done = simulate("examples/emergency-removal-late-report.yaml", "--until", "+2h30m", "--format", "text")
    assert done.returncode == 0, done.stderr
    assert "DeadlineWarning" in done.stdout and "DeadlineBreached" not in done.stdout
    assert "RemovalOutcomeReported" not in done.stdout   # the report at 12:30 lies after --until
    assert done.stdout.splitlines()[-1].startswith("2026-03-20 Fri 11:30  END ")


def test_check_passes_on_an_example() -> None:
    done = simulate("examples/escalation-acknowledged.yaml", "--check")
    assert done.returncode == 0, done.stderr
    assert "10/10 expectations hold" in done.stderr


def test_check_fails_with_exit_1(tmp_path: Path) -> None:
    text = (ROOT / "examples" / "emergency-removal-late-report.yaml").read_text()
    scenario = tmp_path / "changed.yaml"
    scenario.write_text(text.replace("at: +3h30m", "at: +2h30m"))   # the report now comes in time
    done = simulate(str(scenario), "--check")
    assert done.returncode == 1
    assert "EXPECTATION FAILED" in done.stderr and "DeadlineBreached" in done.stderr


def test_malformed_scenario_exits_2_naming_step_and_field(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.yaml"
    scenario.write_text("title: broken\nstart: 2026-03-20T09:00:00+05:00\ncase: C-1\nsteps:\n"
                        "  - {id: first, at: +0m, agency: school-almaty, event: ReferralMade}\n"
                        "  - {id: second, at: in a while, agency: school-almaty, event: ReferralMade}\n")
    done = simulate(str(scenario))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "broken.yaml line 6, steps[1] ('second').at" in done.stderr


def test_missing_file_and_bad_until_exit_2(tmp_path: Path) -> None:
    assert simulate(str(tmp_path / "nope.yaml")).returncode == 2
    done = simulate("examples/emergency-removal-late-report.yaml", "--until", "later")
    assert done.returncode == 2 and "--until" in done.stderr
