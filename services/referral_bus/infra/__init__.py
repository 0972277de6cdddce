"""Shared library used by every service: domain logic, contracts, codec, catalogue, Kafka plumbing."""
