"""Every answer of the gateway tells browsers and proxies not to keep it (inbox items and unwrapped
data keys carry personal data) and the console's page may run only its own script and never be
framed by another site (a framed Acknowledge button could be clicked by deception). No broker needed:
the headers are the gateway's own, on success and on refusal alike."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from referral_bus.gateway import create_app
from referral_bus.gateway.app import SECURITY_HEADERS
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.settings import GatewaySettings


@pytest.fixture(scope="module")
def client(runtime: Runtime) -> Iterator[TestClient]:
    config = GatewaySettings(address=("127.0.0.1", 0), kafka_ca_file=None, tls_cert=None, tls_key=None,
                             signing_key_dir=None, receipt_wait_seconds=1)
    with TestClient(create_app(runtime, config)) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/console/", "/console/console.js", "/registry/subjects", "/v1/schemas",
                                  "/v1/inbox", "/no-such-page"])
def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    response: httpx.Response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, response.status_code, name)


def test_the_console_may_not_be_framed_and_runs_only_its_own_script(client: TestClient) -> None:
    policy = client.get("/console/").headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert client.get("/v1/inbox").status_code == 401   # refused, and still not cacheable
