"""Auditor and operator tools: rebuild a case from the log, follow escalations."""
