"""The operations console end to end: Debian's chromium (headless, driven by Playwright with
``executable_path``) against the gateway served by uvicorn, on a real bus — Apache Kafka, and the
router, SLA processor and projector as processes (read models in SQLite, as ``scripts/run.sh``).

Three 4.8 cases (juvenile inspection removals without a CAM social worker, so
the outcome report is due 3 hours after the removal — ``rule_table``'s hour ladder: level 1 to the
supervisor at the due time, level 2 to the Commission 2 h later, level 3 to the Steering Committee
6 h later), their removals dated so that the interesting moment falls due within about a minute:

- A: the deadline falls due 25 s after the test begins → the breach appears on the board;
- B: level 1 raised at once, level 2 due 40 s later → the police department acknowledges level 1
  from the page (receipt ACCEPTED) and level 2 is never raised;
- C: levels 1 and 2 raised at once, level 3 due 75 s later → the defaulting inspection and the
  Commission (a rung of level 2, not of level 1) try to acknowledge level 1 and are refused with
  the paragraph; level 3 then reaches the Steering Committee.

``REFERRAL_BUS_CONSOLE_SCREENSHOTS=docs/img`` writes the screenshots docs/console.md shows.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from referral_bus.gateway import create_app
from referral_bus.infra.read_audit import read_trail
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.settings import gateway_settings
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, removal
from tests.conftest import Bus, start_bus, wait_for
from tests.gateway.conftest import serve

pytestmark = [pytest.mark.broker]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = os.environ.get("REFERRAL_BUS_CONSOLE_SCREENSHOTS")
RULE = "4.8-removal-outcome-3h"
T = TypeVar("T")
#: Every time the console shows: Almaty wall time with the offset (+05:00 since 2024-03-01).
ALMATY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+05:00$")
#: Anything in the page's text that looks like a time of day with a zone or offset
ANY_ZONED_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s?(?:Z\b|UTC|GMT|[+-]\d{2}:?\d{2})")

if not CHROMIUM.exists():   # scripts/test.sh installs it; a missing browser fails, never skips the console
    pytest.fail("Debian's chromium is not installed: run scripts/ensure-chromium.sh", pytrace=False)
from playwright import sync_api  # noqa: E402 - after the browser check: the test extra brings playwright


@dataclass
class Scenario:
    bus: Bus
    url: str


@dataclass(frozen=True)
class Case:
    case_id: str
    #: when its next interesting moment falls due (A: the deadline, B: level 2, C: level 3)
    due: datetime


def _removal(bus: Bus, hours_ago: float, prefix: str) -> str:
    """A removal without the CAM's social worker, ``hours_ago``: the 4.8 clock started then."""
    case = case_id(prefix)

    def publish() -> None:
        with AgencyClient("police-juvenile-almaty", actor_id="inspector-7", runtime=bus.runtime) as police:
            receipt = police.publish(removal(police, case, hours_ago=hours_ago), wait_for_receipt=True)
        assert receipt is not None and receipt.status.value == "ACCEPTED", receipt
    off_loop(publish)
    return case


def _case(bus: Bus, prefix: str, hours: float, in_seconds: float) -> Case:
    """A case whose moment ``hours`` after the removal falls due ``in_seconds`` from now."""
    due = datetime.now(UTC) + timedelta(seconds=in_seconds)
    return Case(_removal(bus, hours - in_seconds / 3600, prefix), due)


@pytest.fixture(scope="module")
def scenario(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    bus = start_bus(kafka_bootstrap, tmp_path_factory.mktemp("console-bus"), services=("router", "sla", "projector"))
    try:
        bus.wait_ready()
        settings = dataclasses.replace(gateway_settings(), kafka_ca_file=None, tls_cert=None, tls_key=None,
                                       signing_key_dir=bus.runtime.settings.signing_keys)
        with serve(create_app(bus.runtime, settings)) as served:
            yield Scenario(bus, served.url)
    finally:
        bus.stop()
        bus.discard_topics()


@pytest.fixture(scope="module")
def case_c(scenario: Scenario) -> Case:
    """Levels 1 and 2 raised at once (removal 9 h ago), level 3 due in 75 s (made early: the tests
    of the refusals and of the ladder going on share it)."""
    return _case(scenario.bus, "OPS-C", 9, 75)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


def signed_in(browser: Any, scenario: Scenario, principal: str) -> Any:
    """A fresh page signed in as ``principal`` (the plaintext bus: the name is a claim)."""
    page = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
    refused: list[str] = []   # the page runs under the gateway's Content-Security-Policy
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.goto(f"{scenario.url}/console/")
    page.fill("#principal", principal)
    page.fill("#password", "plaintext bus")
    page.fill("#actor", "ops-7")
    page.click("#sign-in")
    page.wait_for_selector("#console", state="visible")
    page.wait_for_selector("#refreshed:text('live')")
    assert refused == [], refused   # nothing the console needs is blocked by its own policy
    return page


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"console-{name}.png"), full_page=True)


def row(page: Any, case: str, level: int) -> Any:
    """The case's 4.8 escalation of ``level`` on the board (a removal also owes the 4.9 notice)."""
    return page.locator(f'tr.escalation[data-case="{case}"][data-rule="{RULE}"][data-level="{level}"]')


def off_loop(function: Callable[[], T]) -> T:
    """Playwright's sync API keeps an asyncio loop running in this thread; the bus's log readers
    (``asyncio.run``) are called from a thread of their own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function).result()


def escalation_levels(runtime: Runtime, case: str) -> list[int]:
    return off_loop(lambda: sorted(e.level for e in of_case(read_topic(runtime, "escalations"), case)
                                   if e.rule_id == RULE))


def acknowledge_refused(page: Any, case: str) -> str:
    """Click Acknowledge on the case's level-1 row as a refused agency; the receipt box's text once
    it holds a receipt, checked to be the 4.8 refusal (``AGENCY_NOT_ALLOWED``, ¶ 4.8)."""
    row(page, case, 1).wait_for(timeout=60_000)
    row(page, case, 1).locator("button.ack").click()
    page.wait_for_selector("#receipt[data-status]", timeout=60_000)
    text: str = page.inner_text("#receipt")
    assert page.get_attribute("#receipt", "data-status") == "AGENCY_NOT_ALLOWED", text
    assert page.inner_text("#receipt .paragraph").strip() == "¶ 4.8", text
    return text


def test_a_breach_appears_on_the_board_within_seconds(scenario: Scenario, browser: Any) -> None:
    page = signed_in(browser, scenario, "rb-operations")
    a = _case(scenario.bus, "OPS-A", 3, 25)       # the 4.8 deadline falls due in 25 s
    # before its due time: an open deadline, not yet on the escalation board
    page.wait_for_selector(f'#deadlines tr[data-case="{a.case_id}"]', timeout=20_000)
    assert datetime.now(UTC) < a.due and row(page, a.case_id, 1).count() == 0
    wait = (a.due - datetime.now(UTC)).total_seconds() + 60   # due, the SLA grace, a tick, a refresh
    row(page, a.case_id, 1).wait_for(timeout=max(wait, 5) * 1000)
    cells = row(page, a.case_id, 1).locator("td").all_inner_texts()
    assert cells[1:6] == ["ALMATY", RULE, "4.8", "1 → police-department-almaty", "police-juvenile-almaty"], cells
    assert ALMATY_TIME.match(cells[6]) and cells[7].endswith("late") and cells[8] == "open", cells
    page.select_option("#f-agency", "police-juvenile-almaty")      # a filter: still there
    page.wait_for_timeout(2000)
    assert row(page, a.case_id, 1).count() == 1
    page.select_option("#f-city", "SHYMKENT")                      # another city: gone
    sync_api.expect(page.locator(f'tr.escalation[data-case="{a.case_id}"]')).to_have_count(0, timeout=10_000)
    page.select_option("#f-city", "")
    page.select_option("#f-agency", "")
    row(page, a.case_id, 1).wait_for()
    shot(page, "board")


def test_the_supervisor_acknowledges_from_the_page_and_the_ladder_stops(scenario: Scenario, case_c: Case,
                                                                        browser: Any) -> None:
    page = signed_in(browser, scenario, "police-department-almaty")
    b = _case(scenario.bus, "OPS-B", 5, 40)       # level 1 raised at once, level 2 due in 40 s
    row(page, b.case_id, 1).wait_for(timeout=30_000)
    assert datetime.now(UTC) < b.due, "too slow to acknowledge before level 2 fell due"
    row(page, b.case_id, 1).locator("button.ack").click()
    page.wait_for_selector("#receipt[data-status]", timeout=60_000)
    assert page.get_attribute("#receipt", "data-status") == "ACCEPTED", page.inner_text("#receipt")
    assert page.inner_text("#receipt .status") == "ACCEPTED"
    page.select_option("#f-state", "all")
    page.locator(f'tr.escalation[data-case="{b.case_id}"][data-rule="{RULE}"][data-state="acknowledged"]').wait_for(timeout=30_000)
    shot(page, "acknowledged")
    # past the level-2 due time, the SLA grace and several ticks: nothing more was raised
    settle = (b.due - datetime.now(UTC)).total_seconds() + \
        scenario.bus.runtime.settings.sla_grace_seconds + 4 * scenario.bus.runtime.settings.sla_tick_seconds
    time.sleep(max(0.0, settle))
    assert escalation_levels(scenario.bus.runtime, b.case_id) == [1]
    page.wait_for_timeout(2000)
    assert row(page, b.case_id, 2).count() == 0
    assert row(page, b.case_id, 1).get_attribute("data-state") == \
        "acknowledged"


@pytest.mark.parametrize("agency, why", [
    ("police-juvenile-almaty", "missed this deadline"),           # the defaulting agency
    ("commission-almaty", "not a rung this escalation reached"),  # a rung of level 2, a bystander to level 1
])
def test_an_unauthorised_agency_is_refused_with_the_paragraph(scenario: Scenario, case_c: Case, browser: Any,
                                                              agency: str, why: str) -> None:
    page = signed_in(browser, scenario, agency)
    text = acknowledge_refused(page, case_c.case_id)
    assert why in text, text
    assert "the router refused it" in text
    if agency == "commission-almaty":
        shot(page, "refused")
    page.wait_for_timeout(2000)
    assert row(page, case_c.case_id, 1).get_attribute("data-state") == "open"


def test_the_ladder_goes_on_after_the_refusals(scenario: Scenario, case_c: Case, browser: Any) -> None:
    page = signed_in(browser, scenario, "rb-operations")
    wait = (case_c.due - datetime.now(UTC)).total_seconds() + 60
    row(page, case_c.case_id, 3).wait_for(timeout=max(wait, 5) * 1000)
    assert "3 → steering-committee" in row(page, case_c.case_id, 3).inner_text()
    assert escalation_levels(scenario.bus.runtime, case_c.case_id) == [1, 2, 3]


def test_a_timeline_read_needs_a_purpose_and_is_recorded_first(scenario: Scenario, case_c: Case,
                                                               browser: Any) -> None:
    def console_reads() -> list[Any]:
        return [r.record for r in off_loop(lambda: read_trail(scenario.bus.runtime))
                if r.record.case_id == case_c.case_id and r.record.tool == "console"]

    before = len(console_reads())
    page = signed_in(browser, scenario, "rb-auditor")
    page.fill("#c-case", case_c.case_id)
    page.click("#c-timeline")                                   # no purpose: refused, nothing read
    page.wait_for_selector("#case-error:has-text('PURPOSE_REQUIRED')")
    assert page.locator("#timeline-events").count() == 0 and len(console_reads()) == before
    page.fill("#c-purpose", "ticket OPS-2026-114 review")
    page.select_option("#c-agency", "police-department-almaty")
    page.click("#c-timeline")
    page.wait_for_selector("#timeline-events")
    events = page.locator("#timeline-events tbody tr td:nth-child(2)").all_inner_texts()
    assert events[0] == "EmergencyRemoval", events
    [read] = console_reads()[before:]
    assert (read.reader, read.purpose) == ("rb-auditor", "ticket OPS-2026-114 review")
    assert "agency=police-department-almaty" in (read.query or "")
    shot(page, "timeline")
    # what the police department knew an hour ago (before the removal was recorded): nothing
    page.fill("#c-asof", (datetime.now(UTC) + timedelta(hours=5) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    page.click("#c-timeline")
    sync_api.expect(page.locator("#timeline-events tbody tr")).to_have_count(0)
    assert page.locator("#timeline-told tbody tr").count() == 0
    assert len(console_reads()) == before + 2


def test_every_time_on_the_page_is_almaty_time(scenario: Scenario, case_c: Case, browser: Any) -> None:
    page = signed_in(browser, scenario, "rb-operations")
    page.select_option("#f-state", "all")
    row(page, case_c.case_id, 1).wait_for(timeout=60_000)
    page.fill("#c-case", case_c.case_id)
    page.fill("#c-purpose", "ticket OPS-2026-115 explain")
    page.click("#c-explain")
    page.wait_for_selector(".deadline.explain")
    assert f"{RULE} (¶ 4.8)" in page.inner_text("#case-out")
    assert page.locator("#chart svg rect").count() >= 1           # the compliance chart has bars
    shot(page, "explain")
    times = page.locator("time.t").all_inner_texts()
    assert len(times) > 10 and all(ALMATY_TIME.match(t) for t in times), [t for t in times if not
                                                                         ALMATY_TIME.match(t)]
    body = page.inner_text("body")
    zoned = ANY_ZONED_TIME.findall(body)
    assert zoned and all(z.endswith("+05:00") for z in zoned), [z for z in zoned if not z.endswith("+05:00")]


def test_an_agency_sees_only_its_own_board(scenario: Scenario, case_c: Case) -> None:
    """The read API behind the page: a school sees none of the police's escalations; staff see them."""
    with httpx.Client(base_url=scenario.url, timeout=30) as http:
        def escalated(principal: str) -> set[str]:
            answer = http.get("/v1/ops/escalations", params={"state": "all"}, auth=(principal, "x"))
            assert answer.status_code == 200, answer.text
            return {e["case_id"] for e in answer.json()["items"]}
        wait_for(lambda: case_c.case_id in escalated("rb-operations"), what="C on the staff board")
        assert case_c.case_id not in escalated("school-almaty")
        assert case_c.case_id in escalated("police-department-almaty")
        refused = http.get(f"/v1/ops/cases/{case_c.case_id}/timeline", params={"purpose": "ticket OPS-2026-116"},
                           auth=("school-almaty", "x"))
        assert (refused.status_code, refused.json()["code"]) == (403, "NOT_ON_YOUR_BOARD")
        explained = http.get(f"/v1/ops/cases/{case_c.case_id}/explain", params={"purpose": "ticket OPS-2026-117"},
                             auth=("police-department-almaty", "x"))
        assert explained.status_code == 200, explained.text
        # the chief's board has the 4.8 deadline of C, not the 4.9 notice or the CAM's 6.3(a) assessment
        assert [d["rule_id"] for d in explained.json()["deadlines"]] == [RULE]
        nobody = http.get("/v1/ops/escalations")
        assert nobody.status_code == 401
