"""Kafka plumbing shared by services: embedded broker, topic administration, reading to the true end."""
