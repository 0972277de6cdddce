"""Issue 14 item 4, done when: a Java police system and a TypeScript health system each complete a
referral round trip on the real broker with real authentication. A secured Apache Kafka (SASL/SCRAM
over TLS, ACLs from topics.yaml and agencies.yaml, every agency its own principal) runs the router
under its own principal with every agency's signing key enrolled; the SDKs under sdks/ run as
subprocesses with only what an agency gets — its SCRAM credentials, the CA file, its own signing key —
and publish a referral (ACCEPTED with a sequence), then the receiving CAM/CSC reads it from its inbox
with the same SDK. A referral that names the child is sealed by the SDK to the key vault's ingress
key (REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE, domain/sealing.py) and ACCEPTED; the CAM/CSC's copy comes
re-wrapped for it and the same SDK opens it through the gateway's key service (HTTPS, the agency's
own password, an audited read). The same referral sent in clear is refused (PERSONAL_DATA_NOT_SEALED).
The child is invented ("Aigerim Testova").

The SDKs are built by scripts/test.sh before pytest (npm ci + tsc, mvn package); a missing build
fails here naming the command."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from referral_bus.infra.signing_keys import SigningKeyStore
from tests.gateway.conftest import Served, serve_on_secured
from tests.infra.kafka.test_security_on_broker import Secured, secured  # noqa: F401  (the secured cluster fixture)

pytestmark = [pytest.mark.broker]

ROOT = Path(__file__).resolve().parents[2]
TS_CLI = ROOT / "sdks" / "typescript" / "dist" / "src" / "cli.js"
JAVA_JAR = ROOT / "sdks" / "java" / "target" / "referral-bus-agency-client-0.1.0-all.jar"
#: The contract the SDKs read; REFERRAL_BUS_SDK_SCHEMAS_DIR points elsewhere only while the models
#: are ahead of schemas/avro (before `schemas freeze`), never in CI.
SCHEMAS = Path(os.environ.get("REFERRAL_BUS_SDK_SCHEMAS_DIR", ROOT / "schemas" / "avro"))
#: Invented personal data (never a real child's): the name, and a personal free text of ReferralMade.
CHILD = "Aigerim Testova"
REFERRING_BODY = "Invented Polyclinic No. 0 (test)"


def built(path: Path, command: str) -> Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: build the SDK first ({command}; scripts/test.sh does)")
    return path


def agency_env(bus: Secured, agency: str, gateway: str | None = None) -> dict[str, str]:
    """What an agency's system is given: bootstrap servers, its own SCRAM credentials (password by
    file), the CA file, the topic namespace, its signing-key directory, the key vault's public key
    and the gateway's address — and nothing else of the bus."""
    cluster, settings = bus.cluster, bus.runtime.settings
    env = {key: value for key, value in os.environ.items() if not key.startswith(("KAFKA_", "REFERRAL_BUS_"))}
    return {**env, "KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers, "REFERRAL_BUS_TOPIC_PREFIX": bus.prefix,
            "REFERRAL_BUS_SIGNING_KEY_DIR": str(settings.signing_keys),
            "REFERRAL_BUS_VAULT_PUBLIC_KEY_FILE": str(settings.vault_public_key_file),
            **({"REFERRAL_BUS_GATEWAY_URL": gateway} if gateway else {}),
            **cluster.security_for(agency).as_env(cluster.credentials.password_file(agency))}


def run(command: list[str], env: dict[str, str], what: str, exit_code: int = 0) -> dict[str, Any]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == exit_code, \
        f"{what} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def round_trip(bus: Secured, client: list[str], sender: str, receiver: str, city: str, age: int) -> None:
    case = f"KZ-SDK-{secrets.token_hex(4).upper()}"
    common = ["--case", case, "--schemas", str(SCHEMAS), "--timeout-ms", "120000"]
    sent = run([*client, "refer", "--agency", sender, "--actor", "sdk-actor-1", "--city", city, "--age", str(age),
                *common], agency_env(bus, sender), f"{sender}'s referral")
    receipt = sent["receipt"]
    assert receipt["status"] == "ACCEPTED", receipt
    assert receipt["sequence"] == 1 and receipt["case_id"] == case and receipt["event_id"] == sent["event_id"]
    assert receipt["producer_agency_id"] == sender
    assert receipt["source_topic"] == bus.topic("ingress", agency=sender)
    delivered = run([*client, "inbox", "--agency", receiver, "--actor", "sdk-actor-2", *common],
                    agency_env(bus, receiver), f"{receiver}'s inbox")
    assert delivered["record"] == "ReferralMade" and delivered["case_id"] == case
    assert delivered["sequence"] == 1 and delivered["delivery_id"] and len(delivered["hash"]) == 64
    # the client recomputed the router's chain hash from the delivered copy, and the copy carries the
    # sender's signature under the key the administrator enrolled for it
    assert delivered["hash_ok"] is True
    assert delivered["signed_by"] == SigningKeyStore(bus.runtime.settings.signing_keys).current(sender)[0]


def sealed_round_trip(bus: Secured, gateway: str, client: list[str], sender: str, receiver: str, city: str,
                      age: int) -> None:
    """A referral that names the child: sealed by the SDK, ACCEPTED, and opened by the receiver's SDK
    through the gateway's key service; the name is nowhere in what either process printed before."""
    case = f"KZ-SDK-{secrets.token_hex(4).upper()}"
    common = ["--case", case, "--schemas", str(SCHEMAS), "--timeout-ms", "120000"]
    sent = run([*client, "refer", "--agency", sender, "--actor", "sdk-actor-1", "--city", city, "--age", str(age),
                "--child-name", CHILD, "--referring-body", REFERRING_BODY, *common],
               agency_env(bus, sender), f"{sender}'s sealed referral")
    assert sent["sealed"] is True
    receipt = sent["receipt"]
    assert receipt["status"] == "ACCEPTED", receipt
    assert receipt["sequence"] == 1 and receipt["case_id"] == case and receipt["event_id"] == sent["event_id"]
    assert CHILD not in json.dumps(sent, ensure_ascii=False)
    delivered = run([*client, "inbox", "--agency", receiver, "--actor", "sdk-actor-2",
                     "--open-purpose", "SDK round-trip test: open the referral", *common],
                    agency_env(bus, receiver, gateway), f"{receiver}'s inbox")
    assert delivered["record"] == "ReferralMade" and delivered["case_id"] == case and delivered["sequence"] == 1
    # the router re-wrapped the data key for the receiver; the copy carries the sender's signature, which
    # covers nonce and ciphertext, not the wrapping. Its chain hash is the case log's record, whose data
    # key is wrapped for rb.case-log: a sealed copy's hash is not recomputable by an agency (the SDKs say null)
    assert delivered["sealed_for"] == receiver and delivered["hash_ok"] is None
    assert delivered["signed_by"] == SigningKeyStore(bus.runtime.settings.signing_keys).current(sender)[0]
    assert (delivered["child_name"], delivered["referring_body"]) == (CHILD, REFERRING_BODY)


def unsealed_is_refused(bus: Secured, client: list[str], sender: str, city: str) -> None:
    """The same referral with personal data in clear (the SDK told not to seal): refused by the router."""
    case = f"KZ-SDK-{secrets.token_hex(4).upper()}"
    sent = run([*client, "refer", "--agency", sender, "--actor", "sdk-actor-1", "--city", city, "--age", "8",
                "--child-name", CHILD, "--seal", "no", "--case", case, "--schemas", str(SCHEMAS),
                "--timeout-ms", "120000"], agency_env(bus, sender), f"{sender}'s unsealed referral", exit_code=1)
    assert sent["sealed"] is False
    receipt = sent["receipt"]
    assert (receipt["status"], receipt["reason_code"]) == ("REJECTED", "PERSONAL_DATA_NOT_SEALED"), receipt
    assert CHILD not in json.dumps(receipt, ensure_ascii=False)   # the refusal does not repeat the name


@pytest.fixture(scope="module")
def ready(secured: Secured) -> Secured:  # noqa: F811
    secured.bus.wait_ready(timeout=180, runtime=secured.runtime_for("school-almaty"))
    assert secured.runtime.settings.vault_public_key_file.is_file()   # written by the router's key vault
    return secured


@pytest.fixture(scope="module")
def gateway(ready: Secured) -> Iterator[Served]:
    """The gateway over HTTPS (a certificate from the cluster's CA) under its own principal, as in
    tests/gateway/test_gateway_secured.py: its key service unwraps inbox copies for their agency."""
    with serve_on_secured(ready) as served:
        yield served


def test_a_typescript_health_system_completes_a_referral_round_trip(ready: Secured) -> None:
    cli = built(TS_CLI, "cd sdks/typescript && npm ci && npx tsc -p .")
    round_trip(ready, ["node", str(cli)], "polyclinic-almaty-no-9", "cam-almaty", "ALMATY", 7)


def test_a_java_police_system_completes_a_referral_round_trip(ready: Secured) -> None:
    jar = built(JAVA_JAR, "cd sdks/java && mvn package")
    round_trip(ready, ["java", "-jar", str(jar)], "police-juvenile-shymkent", "cam-shymkent", "SHYMKENT", 10)


def test_a_typescript_health_system_refers_a_named_child_sealed(ready: Secured, gateway: Served) -> None:
    cli = built(TS_CLI, "cd sdks/typescript && npm ci && npx tsc -p .")
    sealed_round_trip(ready, gateway.url, ["node", str(cli)], "polyclinic-almaty-no-9", "cam-almaty", "ALMATY", 6)


def test_a_java_police_system_refers_a_named_child_sealed(ready: Secured, gateway: Served) -> None:
    jar = built(JAVA_JAR, "cd sdks/java && mvn package")
    sealed_round_trip(ready, gateway.url, ["java", "-jar", str(jar)], "police-juvenile-shymkent", "cam-shymkent",
                      "SHYMKENT", 11)


def test_personal_data_in_clear_from_either_sdk_is_refused(ready: Secured) -> None:
    unsealed_is_refused(ready, ["node", str(built(TS_CLI, "cd sdks/typescript && npx tsc -p ."))],
                        "polyclinic-almaty-no-9", "ALMATY")
    unsealed_is_refused(ready, ["java", "-jar", str(built(JAVA_JAR, "cd sdks/java && mvn package"))],
                        "police-juvenile-shymkent", "SHYMKENT")
