"""The HTTP gateway (issue 14): agencies without a Kafka client submit events as JSON, read their
inbox and receipts with a cursor or as a Server-Sent Events stream, and look schemas up through a
Confluent-compatible, read-only schema-registry API. It acts as the caller — with the caller's own
Kafka credentials — so the broker's ACLs decide exactly as for a Kafka client (docs/gateway.md)."""

from referral_bus.gateway.app import create_app

__all__ = ["create_app"]
