"""Tamper evidence: every event on the case log carries the hash of the case's previous event.

hash = SHA-256(previous_hash || canonical JSON of the event without its own hash). Canonical JSON
(sorted keys, no spaces, ISO-8601 times) does not depend on the Avro schema version, so a log
re-encoded by a later schema still verifies.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

GENESIS = "0" * 64


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, (date, UUID)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def canonical_bytes(event_dump: dict[str, Any]) -> bytes:
    """Canonical form of an event dump with ``envelope.hash`` blanked."""
    body = dict(event_dump)
    body["envelope"] = {**body["envelope"], "hash": None}
    return json.dumps(_plain(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(previous_hash: str, event_dump: dict[str, Any]) -> str:
    return hashlib.sha256(previous_hash.encode() + canonical_bytes(event_dump)).hexdigest()


def content_fingerprint(event_dump: dict[str, Any]) -> str:
    """Hash of what the producer submitted (router-set fields blanked): detects an event id reused
    for different content."""
    body = dict(event_dump)
    body["envelope"] = {**body["envelope"], "hash": None, "previous_hash": None, "sequence": None,
                        "recorded_at": None}
    return hashlib.sha256(json.dumps(_plain(body), sort_keys=True, separators=(",", ":")).encode()).hexdigest()
