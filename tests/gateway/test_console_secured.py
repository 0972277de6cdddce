"""Issue 14's "done when" for the operations console: an operator can watch, understand and
acknowledge escalations in the console, **on the real broker with real authentication**.

A secured Apache Kafka (SASL/SCRAM-SHA-512 over TLS, ACLs from topics.yaml and agencies.yaml; the
cluster of tests/infra/kafka/test_security_on_broker.py) runs the router, the SLA processor and the
projector under their own principals; the gateway (tests/gateway/test_gateway_secured.py's fixture)
serves the console over HTTPS with a certificate from the cluster's CA and holds no credentials of
its own: every sign-in is an agency's (or a staff principal's) own SCRAM password, checked by a
handshake with the brokers. Debian's chromium, headless, driven by Playwright with
``executable_path``, trusts exactly the gateway's certificate (its public key pinned), as an
operator's browser trusts the agency CA.

The 4.8 ladder (removal without a CAM social worker: the outcome report is due 3 h after the
removal; level 1 to the police department at the due time, level 2 to the Commission 2 h later,
level 3 to the Steering Committee 6 h later), with removals dated so that the moment of interest
falls due within a minute:

- A: the deadline falls due 25 s after the test begins → the breach is on the police department's
  board within seconds of its due time;
- B: level 1 raised at once, level 2 due 60 s later → the police department acknowledges level 1
  (ACCEPTED) and level 2 is never raised;
- C: levels 1 and 2 raised at once, level 3 hours away → the defaulting inspection and the
  Commission (a rung of level 2 only) are refused acknowledging level 1 and nothing is written;
  an auditor's browser in New York reads C's timeline as of an Almaty moment.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from referral_bus.gateway.errors import GatewayError
from referral_bus.gateway.kafka_side import REFUSAL_SECONDS, verify_password
from referral_bus.infra.kafka.acls import service_principal
from referral_bus.infra.kafka.security import KafkaSecurity
from referral_bus.infra.local_time import ALMATY
from referral_bus.infra.read_audit import read_trail
from referral_bus.sdk import AgencyClient
from tests.broker_helpers import of_case, read_topic
from tests.builders import case_id, removal
from tests.gateway.conftest import Served
from tests.gateway.console.test_console_in_chromium import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RULE,
    acknowledge_refused,
    escalation_levels,
    off_loop,
    row,
    sync_api,
)
from tests.gateway.test_gateway_secured import gateway  # noqa: F401 - the HTTPS gateway on the secured cluster
from tests.infra.kafka.test_security_on_broker import Secured, secured  # noqa: F401 - the module's cluster

pytestmark = [pytest.mark.broker]
SUPERVISOR = "police-department-almaty"   # level 1 of the 4.8 ladder
DEFAULTING = "police-juvenile-almaty"     # responsible for the 4.8 outcome report


@dataclass
class Console:
    secured: Secured
    url: str
    #: base64 SHA-256 of the gateway certificate's public key (chromium's pin)
    spki: str

    def password(self, principal: str) -> str:
        return self.secured.cluster.credentials.load(principal).password

    def https(self, principal: str, password: str | None = None) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.secured.cluster.credentials.ca_file))
        return httpx.Client(base_url=self.url, auth=(principal, password or self.password(principal)),
                            verify=context, timeout=120)


@dataclass(frozen=True)
class Case:
    case_id: str
    #: when its moment of interest falls due (A: the deadline, B: level 2)
    due: datetime


def spki_pin(url: str) -> str:
    """The pin chromium's ``--ignore-certificate-errors-spki-list`` takes for the served certificate."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    assert host is not None and port is not None
    certificate = x509.load_pem_x509_certificate(ssl.get_server_certificate((host, port)).encode())
    der = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def console(secured: Secured, gateway: Served) -> Console:  # noqa: F811 - the imported fixtures
    """The projector joins the router and SLA processor, under its own principal; ready once a
    school's warm-up referral is answered."""
    principal = service_principal("projections")
    secured.bus.start("projector", **secured.cluster.security_for(principal).as_env(
        secured.cluster.credentials.password_file(principal)))
    secured.bus.wait_ready(timeout=180, runtime=secured.runtime_for("school-almaty"))
    return Console(secured, gateway.url, spki_pin(gateway.url))


def _case(console: Console, prefix: str, hours: float, in_seconds: float) -> Case:
    """A removal without the CAM's social worker, published by the juvenile inspection with its own
    credentials and signing key (its personal data sealed to the vault: a secured bus refuses it in
    clear), dated so that the moment ``hours`` after it falls due ``in_seconds`` from now."""
    case = case_id(prefix)
    due = datetime.now(UTC) + timedelta(seconds=in_seconds)

    def publish() -> None:
        runtime = console.secured.runtime_for(DEFAULTING)
        with AgencyClient(DEFAULTING, actor_id="inspector-7", runtime=runtime) as police:
            receipt = police.publish(removal(police, case, hours_ago=hours - in_seconds / 3600), wait_for_receipt=True)
        assert receipt is not None and receipt.status.value == "ACCEPTED", receipt
    off_loop(publish)
    return Case(case, due)


@pytest.fixture(scope="module")
def case_c(console: Console) -> Case:
    """Levels 1 and 2 raised at once (removal 6 h ago), level 3 three hours away."""
    return _case(console, "SECC", 9, 3 * 3600)   # level 3 (9 h after the removal) three hours away


@pytest.fixture(scope="module")
def browser(console: Console) -> Iterator[Any]:
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            *CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={console.spki}"])
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


#: What each page's Content-Security-Policy refused (the page's console messages), by page
REFUSED_BY_POLICY: dict[int, list[str]] = {}


def open_console(browser: Any, console: Console, **context: Any) -> Any:
    page = browser.new_context(viewport={"width": 1500, "height": 1100}, **context).new_page()
    refused = REFUSED_BY_POLICY.setdefault(id(page), [])
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{console.url}/console/")
    assert page.url.startswith("https://")
    return page


def sign_in(page: Any, principal: str, password: str) -> None:
    page.fill("#principal", principal)
    page.fill("#password", password)
    page.fill("#actor", "ops-7")
    page.click("#sign-in")


def signed_in(browser: Any, console: Console, principal: str, **context: Any) -> Any:
    """A fresh page signed in as ``principal`` with its own SCRAM password (checked by the brokers)."""
    page = open_console(browser, console, **context)
    sign_in(page, principal, console.password(principal))
    page.wait_for_selector("#console", state="visible", timeout=30_000)
    page.wait_for_selector("#refreshed:text('live')", timeout=30_000)
    assert f"{principal} (" in page.inner_text("#whoami") and "verified" in page.inner_text("#whoami")
    assert REFUSED_BY_POLICY[id(page)] == []
    return page


def acknowledgements_on_the_case_log(console: Console, case: str) -> list[Any]:
    return off_loop(lambda: [e for e in of_case(read_topic(console.secured.runtime, "case_log"), case)
                             if type(e).__name__ == "EscalationAcknowledged"])


def test_a_wrong_password_is_refused_promptly_and_alike(console: Console, browser: Any) -> None:
    """401 within about a second, however the sign-in is wrong — an agency's wrong password, a staff
    principal's, a name the directory does not know, a principal the brokers do not know: the same
    time for each (no timing oracle), and the page says why."""
    page = open_console(browser, console)
    with page.expect_response(lambda r: r.url.endswith("/v1/ops/me")) as answered:
        sign_in(page, SUPERVISOR, "not-the-password")
    assert answered.value.status == 401
    timing = answered.value.request.timing   # ms: from sending the request to the first byte of the answer
    assert timing["responseStart"] - timing["requestStart"] < (REFUSAL_SECONDS + 1.0) * 1000, timing
    page.wait_for_selector("#login-error:has-text('UNAUTHENTICATED')", timeout=10_000)
    assert "refused the credentials of police-department-almaty" in page.inner_text("#login-error")
    assert page.is_hidden("#console") and "not-the-password" not in page.content()

    def refused_in(principal: str, password: str) -> float:
        with console.https(principal, password) as http:
            began = time.monotonic()
            answer = http.get("/v1/ops/me")
            took = time.monotonic() - began
        assert answer.status_code == 401 and answer.json()["code"] == "UNAUTHENTICATED", answer.text
        assert answer.headers["WWW-Authenticate"].startswith("Basic") and password not in answer.text
        return took

    times = [refused_in(SUPERVISOR, "not-the-password"), refused_in("rb-operations", "not-the-password"),
             refused_in("no-such-agency", "not-the-password"),
             refused_in(DEFAULTING, console.password(SUPERVISOR))]   # a real password, another principal's
    cluster = console.secured.cluster
    unknown = KafkaSecurity("sasl_ssl", "nobody-these-brokers-know", "not-the-password", cluster.credentials.ca_file)
    began = time.monotonic()
    with pytest.raises(GatewayError) as caught:
        off_loop(lambda: verify_password({"bootstrap_servers": cluster.bootstrap_servers, **unknown.kafka_python()},
                                         unknown.username))
    times.append(time.monotonic() - began)
    assert caught.value.status == 401
    assert all(REFUSAL_SECONDS <= t < REFUSAL_SECONDS + 1.0 for t in times), times
    assert max(times) - min(times) < 0.5, times
    with console.https(SUPERVISOR) as http:   # and the right password is let in
        me = http.get("/v1/ops/me")
    assert me.status_code == 200 and me.json()["authentication"] == "verified", me.text


def test_a_breach_appears_on_the_operator_s_board_within_seconds(console: Console, browser: Any) -> None:
    page = signed_in(browser, console, SUPERVISOR)
    a = _case(console, "SECA", 3, 25)            # the 4.8 deadline falls due in 25 s
    assert row(page, a.case_id, 1).count() == 0
    row(page, a.case_id, 1).wait_for(timeout=120_000)
    seen = datetime.now(UTC)
    grace = console.secured.runtime.settings.sla_grace_seconds
    # due, the SLA processor's grace, its tick, the projector and a refresh of the page: seconds
    assert seen - a.due < timedelta(seconds=grace + 20), (seen - a.due, grace)
    cells = row(page, a.case_id, 1).locator("td").all_inner_texts()
    assert cells[1:6] == ["ALMATY", RULE, "4.8", f"1 → {SUPERVISOR}", DEFAULTING], cells
    assert cells[6].endswith("+05:00") and cells[7].endswith("late") and cells[8] == "open", cells
    assert row(page, a.case_id, 1).locator("button.ack").is_visible()


def test_the_operator_acknowledges_and_the_ladder_stops(console: Console, browser: Any) -> None:
    page = signed_in(browser, console, SUPERVISOR)
    case_b = _case(console, "SECB", 5, 60)        # level 1 raised at once, level 2 due in 60 s
    row(page, case_b.case_id, 1).wait_for(timeout=60_000)
    assert datetime.now(UTC) < case_b.due, "too slow: level 2 fell due before the acknowledgement"
    with page.expect_response(lambda r: r.url.endswith("/v1/events"), timeout=90_000) as answered:
        row(page, case_b.case_id, 1).locator("button.ack").click()
    assert answered.value.status == 200, (answered.value.status, answered.value.text())
    page.wait_for_selector("#receipt[data-status]", timeout=10_000)
    assert page.get_attribute("#receipt", "data-status") == "ACCEPTED", page.inner_text("#receipt")
    page.select_option("#f-state", "all")
    page.locator(f'tr.escalation[data-case="{case_b.case_id}"][data-rule="{RULE}"][data-state="acknowledged"]') \
        .wait_for(timeout=30_000)
    [ack] = acknowledgements_on_the_case_log(console, case_b.case_id)
    assert ack.envelope.producer.agency_id == SUPERVISOR and ack.level == 1 and ack.envelope.signature is not None
    settings = console.secured.runtime.settings
    settle = (case_b.due - datetime.now(UTC)).total_seconds() + settings.sla_grace_seconds \
        + 4 * settings.sla_tick_seconds + 5
    page.wait_for_timeout(max(0.0, settle) * 1000)   # past level 2's time: nothing more raised
    assert escalation_levels(console.secured.runtime, case_b.case_id) == [1]
    assert row(page, case_b.case_id, 2).count() == 0
    assert row(page, case_b.case_id, 1).get_attribute("data-state") == "acknowledged"


@pytest.mark.parametrize("agency, why", [
    (DEFAULTING, "missed this deadline"),                         # the agency that defaulted
    ("commission-almaty", "not a rung this escalation reached"),  # level 2's rung, a bystander to level 1
])
def test_an_agency_not_authorised_cannot_acknowledge(console: Console, browser: Any, case_c: Case, agency: str,
                                                     why: str) -> None:
    page = signed_in(browser, console, agency)
    text = acknowledge_refused(page, case_c.case_id)
    assert page.inner_text("#receipt .status").startswith("REFUSED")
    assert why in text, text
    # the router answered (a rejection receipt) and wrote nothing on the case: the ladder stays open
    assert acknowledgements_on_the_case_log(console, case_c.case_id) == []
    page.wait_for_timeout(2000)
    assert row(page, case_c.case_id, 1).get_attribute("data-state") == "open"


def test_the_point_in_time_picker_is_almaty_time_in_a_new_york_browser(console: Console, browser: Any,
                                                                        case_c: Case) -> None:
    """A browser whose clock and locale are New York's: the picker starts at Almaty's now, shows the
    moment it means with Almaty's offset (+06:00 before 2024-03-01), and the moment sent to the
    gateway — and recorded on the read-audit trail — is that Almaty moment."""
    page = signed_in(browser, console, "rb-auditor", timezone_id="America/New_York", locale="en-US")
    assert page.evaluate("() => new Date(Date.UTC(2026, 10, 28, 12)).getTimezoneOffset()") == 300   # New York
    start = datetime.fromisoformat(page.input_value("#c-asof")).replace(tzinfo=ALMATY)
    assert abs((start - datetime.now(UTC)).total_seconds()) < 120, start
    assert page.inner_text("#c-asof-moment").endswith("+05:00")

    def timeline_as_of(wall: str) -> tuple[str, dict[str, Any]]:
        page.fill("#c-asof", wall)
        with page.expect_response(lambda r: "/timeline?" in r.url) as answered:
            page.click("#c-timeline")
        response = answered.value
        assert response.status == 200, response.text()
        page.wait_for_selector("#case-out time.t")
        return parse_qs(urlsplit(response.url).query)["as_of"][0], response.json()

    page.fill("#c-case", case_c.case_id)
    page.fill("#c-purpose", "ticket OPS-2026-201 secured console review")
    page.select_option("#c-agency", SUPERVISOR)
    later = (datetime.now(ALMATY) + timedelta(minutes=5)).replace(microsecond=0, tzinfo=None).isoformat()
    sent, body = timeline_as_of(later)
    assert sent == f"{later}+05:00" and body["as_of"] == sent, (sent, body["as_of"])
    assert page.inner_text("#c-asof-moment") == f"= {later.replace('T', ' ')} +05:00"
    assert f"as of {later.replace('T', ' ')} +05:00" in page.inner_text("#case-out")
    assert [e["event_type"] for e in body["events"]][:1] == ["EmergencyRemoval"]
    sent, body = timeline_as_of("2024-01-15T09:00:00")   # before the case, when Almaty was +06:00
    assert sent == "2024-01-15T09:00:00+06:00" and body["as_of"] == sent and body["events"] == [], body
    assert page.inner_text("#c-asof-moment") == "= 2024-01-15 09:00:00 +06:00"
    recorded = [r.record.query for r in off_loop(lambda: read_trail(console.secured.runtime))
                if r.record.case_id == case_c.case_id and r.record.reader == "rb-auditor"]
    assert recorded[-2:] == [f"timeline as_of={later}+05:00 agency={SUPERVISOR}",
                             f"timeline as_of=2024-01-15T09:00:00+06:00 agency={SUPERVISOR}"], recorded
