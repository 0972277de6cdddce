"""Deadlines as data (``rule_table``) and a deterministic engine that evaluates them (``engine``)."""
