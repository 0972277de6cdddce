"""Serving the gateway with uvicorn: ``referral-bus gateway`` and the service ``up`` supervises."""

from __future__ import annotations

import socket
from pathlib import Path

import uvicorn

from referral_bus.gateway.app import create_app
from referral_bus.infra.runtime import Runtime
from referral_bus.infra.settings import GatewaySettings


class GatewayAddressUnusable(OSError):
    """The gateway's address is taken or cannot be bound (the message names the setting)."""


def check_free(address: tuple[str, int]) -> None:
    host, port = address
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise GatewayAddressUnusable(f"REFERRAL_BUS_GATEWAY_ADDR: {host}:{port} cannot be used "
                                     f"({exc.strerror or exc})") from None


def server(runtime: Runtime, settings: GatewaySettings, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for the gateway (TLS when a certificate is configured)."""
    host, port = settings.address
    config = uvicorn.Config(create_app(runtime, settings), host=host, port=port, log_level=log_level,
                            ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
                            ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
                            proxy_headers=False, server_header=False, timeout_graceful_shutdown=5)
    return uvicorn.Server(config)


def url(settings: GatewaySettings) -> str:
    host, port = settings.address
    return f"{'https' if settings.tls_cert else 'http'}://{host}:{port}"


def tls_certificate(tls_dir: Path, hosts: list[str]) -> Path:
    """A certificate for the gateway from the local broker's CA (``infra/kafka/pki.py``), so that
    agencies check the gateway with the same CA file they would give a Kafka client."""
    from referral_bus.infra.kafka.pki import LocalPki
    return LocalPki(tls_dir).key_store("gateway", hosts, common_name="referral-bus gateway")
