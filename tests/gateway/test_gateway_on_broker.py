"""The HTTP gateway against a real Apache Kafka broker with the router and SLA processor running
(the plaintext development bus: the caller's agency is a claim there, and the gateway says so).

A school submits a referral over HTTP and gets the router's receipt (ACCEPTED with its sequence);
the same event again is answered DUPLICATE; invalid JSON is refused naming the field and the
paragraph; the CAM reads the delivery from its inbox page by page (the cursor moves on) and as a
Server-Sent Events stream resumed with Last-Event-ID. The published OpenAPI document is fuzzed
with schemathesis against an app connected to the same broker: no 5xx, every 4xx names its problem.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from referral_bus.gateway import create_app
from referral_bus.gateway.app import record_json
from referral_bus.infra.settings import GatewaySettings
from referral_bus.sdk import AgencyClient
from tests.builders import case_id, referral
from tests.conftest import Bus
from tests.gateway.conftest import free_port, referral_json, serve, sse_events

pytestmark = [pytest.mark.broker]
SCHOOL = ("school-almaty", "no password on the plaintext bus")
CAM = ("cam-almaty", "")


@dataclass
class Gateway:
    url: str
    bus: Bus
    process: subprocess.Popen[bytes]

    def client(self, auth: tuple[str, str] | None = SCHOOL) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=auth, timeout=90)


@pytest.fixture(scope="module")
def gateway(bus: Bus) -> Iterator[Gateway]:
    """``referral-bus gateway`` as a process beside the bus's router and SLA processor, with custody
    of the agencies' signing keys (as ``up`` gives it on this one machine)."""
    port = free_port()
    env = {**bus.env, "REFERRAL_BUS_GATEWAY_ADDR": f"127.0.0.1:{port}",
           "REFERRAL_BUS_GATEWAY_SIGNING_KEY_DIR": str(bus.runtime.settings.signing_keys)}
    log = open(bus.logs / "gateway.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "referral_bus.cli", "gateway"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait(10)
            raise RuntimeError(f"the gateway did not start:\n{bus.log_text('gateway')[-3000:]}")
        time.sleep(0.3)
    try:
        yield Gateway(url, bus, process)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def find_in_inbox(gateway: Gateway, case: str, auth: tuple[str, str] = CAM,
                  cursor: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Pages of the inbox from ``cursor`` until the case's delivery is there; (its items, the cursor
    after the last page)."""
    found: list[dict[str, Any]] = []
    with gateway.client(auth) as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = http.get("/v1/inbox", params={"limit": 50, "wait": 2, **({"cursor": cursor} if cursor else {})})
            assert answer.status_code == 200, answer.text
            page = answer.json()
            cursor = page["cursor"]
            found += [i for i in page["items"] if (i["record"] or {}).get("envelope", {}).get("case_id") == case]
            if found and not page["items"]:
                break
    assert cursor is not None
    return found, cursor


def test_a_school_submits_over_http_and_gets_the_receipt_once(gateway: Gateway) -> None:
    case = case_id("GW")
    body = referral_json(case)
    with gateway.client() as http:
        first = http.post("/v1/events", json=body)
        assert first.status_code == 200, first.text
        answer = first.json()
        assert answer["status"] == "ACCEPTED" and answer["receipt"]["sequence"] == 1
        assert answer["receipt"]["event_id"] == body["envelope"]["event_id"]
        ingress = gateway.bus.runtime.catalogue.ingress("school-almaty")
        assert answer["receipt_key"].startswith(f"{ingress}:")
        assert first.headers["X-Referral-Bus-Authentication"].startswith("claimed")   # the plaintext bus says so
        again = http.post("/v1/events", json=body)                                  # the same event id
        assert again.status_code == 200 and again.json()["status"] == "DUPLICATE", again.text
        assert again.json()["receipt_key"] != answer["receipt_key"]                 # a new submission …
        receipts = http.get("/v1/receipts", params={"limit": 1000})                 # … each with its receipt
        keys = {i["key"] for i in receipts.json()["items"]}
        assert {answer["receipt_key"], again.json()["receipt_key"]} <= keys


def test_invalid_submissions_name_the_field_and_the_paragraph(gateway: Gateway) -> None:
    with gateway.client() as http:
        too_old = http.post("/v1/events", json=referral_json(case_id("GW"), age=19))
        assert too_old.status_code == 422
        assert too_old.json() | {"message": ""} == {"code": "SCHEMA_INVALID", "field": "child_age_years",
                                                    "paragraph": "part 2", "message": ""}
        unknown = http.post("/v1/events", json={**referral_json("GW-1"), "favourite_colour": "blue"})
        assert unknown.status_code == 422 and unknown.json()["field"] == "favourite_colour", unknown.text
        not_json = http.post("/v1/events", content=b"{not json", headers={"Content-Type": "application/json"})
        assert not_json.status_code == 422 and not_json.json()["field"].startswith("body"), not_json.text
        # declares ReferralMade v4, yet fills home_city (added in v5): refused, not silently dropped
        old = referral_json("GW-3", home_city="SHYMKENT")
        old_version = http.post("/v1/events", json={**old, "envelope": {**old["envelope"], "schema_version": 4}})
        assert old_version.status_code == 422, old_version.text
        assert (old_version.json()["code"], old_version.json()["field"]) == ("SCHEMA_VERSION_MISMATCH", "home_city")
        removal = http.post("/v1/events", json={**referral_json("GW-2"), "envelope": {
            **referral_json("GW-2")["envelope"], "event_type": "EmergencyRemoval"}})
        assert removal.status_code in (403, 422)
        police_duty = removal.json()
        assert police_duty["field"], police_duty
    with gateway.client(None) as anonymous:
        refused = anonymous.get("/v1/inbox")
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")


def test_an_event_the_agency_signed_itself_is_passed_through(gateway: Gateway) -> None:
    """A signature in the JSON is the agency's own: the gateway does not re-sign, the router checks
    it — and refuses the event when a word changed after signing."""
    with AgencyClient("school-almaty", actor_id="teacher-2", runtime=gateway.bus.runtime) as sdk:
        signed = sdk.sign(referral(sdk, case_id("GWSIG")))
    body = record_json(signed)
    assert isinstance(body["envelope"]["signature"], str)
    base64.b64decode(body["envelope"]["signature"], validate=True)
    with gateway.client() as http:
        accepted = http.post("/v1/events", json=body)
        assert accepted.status_code == 200 and accepted.json()["status"] == "ACCEPTED", accepted.text
        tampered = {**body, "child_age_years": 8,
                    "envelope": {**body["envelope"], "event_id": str(uuid.uuid4())}}
        refused = http.post("/v1/events", json=tampered)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "SIGNATURE_INVALID" and refused.json()["receipt"]["status"] == "REJECTED"


def test_the_cam_reads_the_referral_from_its_inbox_with_a_cursor_and_as_a_stream(gateway: Gateway) -> None:
    case = case_id("GWIN")
    with gateway.client() as http:
        assert http.post("/v1/events", json=referral_json(case)).json()["status"] == "ACCEPTED"
    items, cursor = find_in_inbox(gateway, case)
    assert [i["paragraph"] for i in items] == ["4.5(b)(i), 4.6"]
    assert items[0]["delivery_id"] and items[0]["record_type"] == "ReferralMade" and items[0]["redacted"] is False
    with gateway.client(CAM) as http:                      # the cursor moved past it: not read twice
        after = http.get("/v1/inbox", params={"cursor": cursor}).json()
        assert all((i["record"] or {}).get("envelope", {}).get("case_id") != case for i in after["items"])
        bad = http.get("/v1/inbox", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422 and bad.json()["field"] == "cursor"

    # live: a stream from the cursor, then a new referral arrives on it
    second = case_id("GWSSE")
    with httpx.Client(base_url=gateway.url, auth=CAM, timeout=httpx.Timeout(90, read=90)) as http, \
            http.stream("GET", "/v1/inbox/stream", params={"cursor": cursor, "heartbeat": 2}) as live:
        assert live.status_code == 200 and live.headers["content-type"].startswith("text/event-stream")
        with gateway.client() as school:
            assert school.post("/v1/events", json=referral_json(second)).json()["status"] == "ACCEPTED"
        import json
        events = []
        for event in sse_events(live, want=20, timeout=60):
            events.append(event)
            if json.loads(event["data"])["record"]["envelope"]["case_id"] == second:
                break
    streamed = json.loads(events[-1]["data"])
    assert events[-1]["event"] == "delivery" and streamed["record"]["envelope"]["case_id"] == second
    assert events[-1]["id"] == streamed["cursor"]
    # resumed with Last-Event-ID: the stream goes on after that delivery, never repeating it
    with httpx.Client(base_url=gateway.url, auth=CAM, timeout=httpx.Timeout(30, read=30)) as http:
        with http.stream("GET", "/v1/inbox/stream", headers={"Last-Event-ID": events[-1]["id"]},
                         params={"heartbeat": 1}) as resumed:
            assert resumed.status_code == 200
            third = case_id("GWRES")
            with gateway.client() as school:
                assert school.post("/v1/events", json=referral_json(third)).json()["status"] == "ACCEPTED"
            got = [json.loads(e["data"]) for e in sse_events(resumed, want=1, timeout=60)]
    assert got and got[0]["record"]["envelope"]["case_id"] == third


def test_a_slow_receipt_gets_202_and_its_url(gateway: Gateway) -> None:
    """With no time to wait (REFERRAL_BUS_GATEWAY_RECEIPT_WAIT=0), the answer is 202 with the
    receipt's URL, where the receipt then is."""
    config = GatewaySettings(address=("127.0.0.1", 0), kafka_ca_file=None, tls_cert=None, tls_key=None,
                             signing_key_dir=gateway.bus.runtime.settings.signing_keys, receipt_wait_seconds=0)
    with serve(create_app(gateway.bus.runtime, config)) as served, \
            httpx.Client(base_url=served.url, auth=SCHOOL, timeout=90) as http:
        pending = http.post("/v1/events", json=referral_json(case_id("GW202")))
        assert pending.status_code == 202 and pending.json()["status"] == "PENDING"
        url = pending.json()["receipt_url"]
        assert pending.headers["Location"] == url
        answered = http.get(url, params={"wait": 30})
        assert answered.status_code == 200 and answered.json()["status"] == "ACCEPTED", answered.text
        other = http.get("/v1/receipts/rb.ingress.police-juvenile-almaty:0:1")
        assert other.status_code == 422 and other.json()["field"] == "key"


# -- the OpenAPI document, fuzzed ------------------------------------------------------------
@pytest.fixture(scope="module")
def gateway_schema(gateway: Gateway) -> Any:
    """The published OpenAPI document of an app connected to the same real broker (served in
    process through ASGI). The live streams never end by design, so they are left out; the operations
    console's /v1/ops (which needs the projector's read models) is its own tests' (tests/gateway/console)."""
    config = GatewaySettings(address=("127.0.0.1", 0), kafka_ca_file=None, tls_cert=None, tls_key=None,
                             signing_key_dir=gateway.bus.runtime.settings.signing_keys, receipt_wait_seconds=1)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(gateway.bus.runtime, config))
    return schema.exclude(path_regex=r"/stream$|^/v1/ops/")


def fuzz(operation: Any, mode: GenerationMode, examples: int) -> None:
    """One operation in one generation mode (valid or invalid input)."""
    auth = {"Authorization": "Basic " + base64.b64encode(b"school-almaty:x").decode()}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
              *([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        if case.query and "wait" in case.query:   # long-polls would only slow the run down
            case.query["wait"] = 0
        response = case.call(headers=auth)
        case.validate_response(response, checks=checks)
        if 400 <= response.status_code < 500:
            body = response.json()
            assert body.get("message") and (body.get("code") or body.get("error_code")), body
            if response.status_code == 422 and "code" in body:
                assert body.get("field"), body

    call()


def test_the_openapi_document_fuzzed(gateway_schema: Any) -> None:
    """Every operation of the published document (the live streams aside), with generated valid and
    invalid input, against the real broker: no 5xx, answers as documented, every refusal names its
    problem (a 422 its field). Bounded: REFERRAL_BUS_FUZZ_EXAMPLES per operation and mode."""
    examples = int(os.environ.get("REFERRAL_BUS_FUZZ_EXAMPLES", "12"))
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    assert len(operations) >= 15, [o.label for o in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode, examples)
            except Unsatisfiable:   # no invalid input exists (no parameters, no body): nothing to try
                assert mode is GenerationMode.NEGATIVE, operation.label


def test_unwrap_answers_as_the_key_service_decides(gateway: Gateway) -> None:
    """POST /v1/keys/unwrap calls the key vault's KeyService (infra/vault.py) as the caller: the
    recipient gets its copy's data key (the read recorded on rb.read-audit first); anyone else, an
    unknown or erased case and a damaged key are refused with the service's code and a status."""
    from referral_bus.domain.sealing import wrap_with_key
    from referral_bus.infra.vault import Vault
    vault = Vault.open(gateway.bus.runtime.settings)   # the same vault file the gateway process opens
    case, event_id, data_key = case_id("GWKEY"), str(uuid.uuid4()), os.urandom(32)
    found = vault.case_key(case, create=True)
    assert found is not None
    key_ref, case_key = found
    wrapped = wrap_with_key(data_key, case_key, case_id=case, event_id=event_id, recipient="cam-almaty",
                            key_ref=key_ref)
    body = {"case_id": case, "event_id": event_id, "recipient": "cam-almaty",
            "wrapped_key": base64.b64encode(wrapped).decode(), "purpose": "gateway test: open a delivered referral"}
    with gateway.client(CAM) as cam, gateway.client() as school:
        opened = cam.post("/v1/keys/unwrap", json=body)
        assert opened.status_code == 200, opened.text
        assert base64.b64decode(opened.json()["data_key"]) == data_key
        assert school.post("/v1/keys/unwrap", json=body).json()["code"] == "NOT_ENTITLED"
        damaged = cam.post("/v1/keys/unwrap", json={**body, "wrapped_key": base64.b64encode(b"x" * 60).decode()})
        assert (damaged.status_code, damaged.json()["code"]) == (422, "BAD_WRAPPED_KEY")
        assert cam.post("/v1/keys/unwrap", json={**body, "wrapped_key": "%%"}).json()["field"] == "wrapped_key"
        unknown = cam.post("/v1/keys/unwrap", json={**body, "case_id": case_id("NOKEY")})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_CASE_KEY")
        vault.erase(case, by="gateway test")
        erased = cam.post("/v1/keys/unwrap", json=body)
        assert (erased.status_code, erased.json()["code"]) == (410, "CASE_ERASED")
    vault.close()


def test_personal_data_leaves_the_gateway_sealed_and_only_its_recipient_opens_it(gateway: Gateway) -> None:
    """Issue 11 item 4 through HTTP: the router's vault published its public key, so the gateway seals
    a submission's personal data (the SDK's function) before signing it; the CAM's inbox copy holds
    only ciphertext, and the CAM opens it with the data key the key service unwraps for it."""
    from referral_bus.contracts.events import ReferralMade
    from referral_bus.domain.sealing import open_sealed
    assert gateway.bus.runtime.settings.vault_public_key_file.is_file()   # written by the router's vault
    case, name = case_id("GWPD"), "Invented Pupil Gatewayson"
    with gateway.client() as school:
        sent = school.post("/v1/events", json=referral_json(case, personal_data={"child_name": name}))
    assert sent.status_code == 200 and sent.json()["status"] == "ACCEPTED", sent.text
    [item], _ = find_in_inbox(gateway, case)
    import json
    assert name not in json.dumps(item) and item["record"]["personal_data"] is None
    sealed = item["record"]["sealed"]
    assert sealed["recipient"] == "cam-almaty"
    with gateway.client(CAM) as cam:
        unwrapped = cam.post("/v1/keys/unwrap", json={
            "case_id": case, "event_id": item["record"]["envelope"]["event_id"], "recipient": "cam-almaty",
            "wrapped_key": sealed["wrapped_key"], "purpose": "gateway test: the referral's child"})
    assert unwrapped.status_code == 200, unwrapped.text
    record = item["record"]
    as_bytes = {k: base64.b64decode(sealed[k]) for k in ("wrapped_key", "nonce", "ciphertext")}
    signature = record["envelope"]["signature"]
    copy = ReferralMade.model_validate({**record, "sealed": {**sealed, **as_bytes}, "envelope": {
        **record["envelope"], "signature": base64.b64decode(signature) if signature else None}})
    opened = open_sealed(copy, base64.b64decode(unwrapped.json()["data_key"]))
    assert opened.personal_data is not None and opened.personal_data.child_name == name
