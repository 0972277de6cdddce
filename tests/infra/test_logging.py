from __future__ import annotations

import json

from referral_bus.infra.logging import configure_logging, drop_personal_data


def test_personal_keys_are_withheld() -> None:
    out = drop_personal_data(None, "info", {"event": "x", "child_name": "A", "case_id": "C-1", "narrative": "n"})
    assert out == {"event": "x", "child_name": "[withheld]", "case_id": "C-1", "narrative": "[withheld]"}


def test_log_lines_are_json_without_personal_data(capsys) -> None:  # type: ignore[no-untyped-def]
    import structlog
    configure_logging("INFO")
    structlog.get_logger("t").info("router.accepted", case_id="C-1", child_date_of_birth="2015-01-01")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    structlog.reset_defaults()
    assert line["case_id"] == "C-1" and line["child_date_of_birth"] == "[withheld]" and line["level"] == "info"
