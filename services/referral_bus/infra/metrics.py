"""Prometheus metrics. Labels are rule ids, record types and reason codes only — never case ids or
anything about a child. Served on ``REFERRAL_BUS_METRICS_PORT`` when it is set."""

from __future__ import annotations

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


def serve(port: int | None) -> None:
    if port:
        start_http_server(port, addr="127.0.0.1")
