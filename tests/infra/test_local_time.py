"""Issue 14, item 5: the command line shows people Almaty time with its offset, in one format."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from referral_bus.auditor.tail import format_line
from referral_bus.contracts.sla_records import DeadlineBreached
from referral_bus.infra.local_time import iso_almaty, localized, shown


def test_shown_is_almaty_time_with_the_offset() -> None:
    assert shown(datetime(2026, 3, 4, 6, 0, tzinfo=UTC)) == "2026-03-04 11:00:00 +05:00"
    assert shown("2026-03-04T06:00:05.9+00:00") == "2026-03-04 11:00:05 +05:00"
    assert shown("2023-03-04T06:00:00+00:00") == "2023-03-04 12:00:00 +06:00"   # before 2024-03-01: UTC+6
    assert shown(None) == "-"
    with pytest.raises(ValueError, match="without its zone"):
        shown(datetime(2026, 3, 4, 6, 0))


def test_json_lines_keep_iso_8601_in_almaty_time() -> None:
    assert iso_almaty("2026-03-04T06:00:00Z") == "2026-03-04T11:00:00+05:00"
    assert localized({"a": ["2026-03-04T06:00:00Z", "not a time", 3], "b": "2026-03-04"}) == {
        "a": ["2026-03-04T11:00:00+05:00", "not a time", 3], "b": "2026-03-04"}
    import uuid
    record = DeadlineBreached(sla_event_id=uuid.uuid4(), deadline_id=uuid.uuid4(), rule_id="4.8-removal-outcome-3h",
                              paragraph="4.8", case_id="C-1", responsible_agency_id=None,
                              due_at=datetime(2026, 3, 4, 6, 0, tzinfo=UTC),
                              breached_at=datetime(2026, 3, 4, 6, 0, tzinfo=UTC))
    line = json.loads(format_line(record))
    assert line["due_at"] == line["breached_at"] == "2026-03-04T11:00:00+05:00"
    assert datetime.fromisoformat(line["due_at"]) == record.due_at    # the same instant
