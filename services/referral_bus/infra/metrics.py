"""Prometheus metrics. Labels are rule ids, record types and reason codes only — never case ids or
anything about a child. Each service serves them on its own address (settings.py: its
``REFERRAL_BUS_<SERVICE>_METRICS_ADDR``, else ``REFERRAL_BUS_METRICS_PORT`` plus its offset)."""

from __future__ import annotations

import errno
import socket
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECEIPTS = Counter("referral_bus_receipts", "Submissions answered by the router", ["status", "reason_code"])
QUARANTINED = Counter("referral_bus_quarantined", "Records a service set aside as unusable", ["consumer", "topic"])
SLA_RECORDS = Counter("referral_bus_sla_records", "SLA records emitted", ["type", "rule_id"])
STORE_AVAILABLE = Gauge("referral_bus_store_available", "1 while the service's store answers, 0 while it is "
                        "retried", ["service"])
STORE_RETRIES = Counter("referral_bus_store_retries", "Attempts to reach a store that failed", ["service"])
OPEN_DEADLINES = Gauge("referral_bus_open_deadlines", "Deadlines open now", ["rule_id"])
#: Issue 15: years a working-day due time was counted through while their day-off transfers were
#: unknown (neither in the holidays library nor under calendar.yaml's transfers_configured).
UNCONFIGURED_CALENDAR_YEARS = Gauge("referral_bus_unconfigured_calendar_years", "1 for a year a working-day due "
                                    "time was counted through without its day-off transfers (configure them in "
                                    "calendar.yaml)", ["year"])
DUE_TIMES_IN_UNCONFIGURED_YEARS = Counter("referral_bus_due_times_in_unconfigured_years", "Working-day due times "
                                          "computed through a year whose day-off transfers are not configured",
                                          ["year"])
ESCALATION_FIRING_LATENESS = Histogram(
    "referral_bus_escalation_firing_lateness_seconds",
    "How long after the moment an escalation fell due it was actually emitted",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, float("inf")))

#: The projector (issue 14): batches applied, records applied, and how far behind the log it is.
PROJECTOR_BATCHES = Counter("referral_bus_projector_batches", "Batches the projector applied to the read models")
PROJECTOR_RECORDS = Counter("referral_bus_projector_records", "Records the projector applied to the read models")
PROJECTOR_LAG = Gauge("referral_bus_projector_lag_records", "Records on the followed topics not yet projected "
                      "(high watermark minus position, all partitions)")


class MetricsAddressUnusable(OSError):
    """The metrics endpoint cannot listen where its setting says (the port is taken, the host is
    not this machine's). The message is one line naming the setting; exit status 2."""


def serve(address: tuple[str, int] | None, setting: str, service: str) -> Any:
    """Serve this process's metrics at ``address`` (None: no endpoint). ``setting`` names what the
    operator changes when the address cannot be used. Returns the HTTP server (tests shut it down)."""
    if address is None:
        return None
    host, port = address
    try:
        server, _thread = start_http_server(port, addr=host)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            why = "the port is already in use (another service or program listens there)"
        elif isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            why = "that host is not an address of this machine"
        else:
            why = exc.strerror or type(exc).__name__
        raise MetricsAddressUnusable(exc.errno or 0, f"{setting}: the {service}'s metrics cannot listen on "
                                     f"{host}:{port}: {why}; choose another") from None
    return server


def check_free(addresses: dict[str, tuple[str, int]], setting: dict[str, str]) -> list[str]:
    """Before ``up`` starts the services: one line per address two services share or another
    program already holds (each naming the setting to change); empty when all are usable."""
    problems: list[str] = []
    seen: dict[tuple[str, int], str] = {}
    for service, address in addresses.items():
        host, port = address
        if address in seen or ("0.0.0.0", port) in seen or (host == "0.0.0.0" and any(p == port for _, p in seen)):
            other = seen.get(address) or next(s for (h, p), s in seen.items() if p == port)
            problems.append(f"{setting[service]}: the {service}'s metrics would listen on {host}:{port}, as the "
                            f"{other}'s do; give each service its own port")
            continue
        seen[address] = service
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the HTTP server does
            try:
                probe.bind((host, port))
            except OSError as exc:
                why = ("the port is already in use" if exc.errno == errno.EADDRINUSE
                       else exc.strerror or type(exc).__name__)
                problems.append(f"{setting[service]}: the {service}'s metrics cannot listen on {host}:{port}: {why}; "
                                "choose another")
    return problems
