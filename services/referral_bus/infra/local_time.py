"""Times as the command line shows them to people: Almaty local time with its offset (issue 14).

The bus keeps every time in UTC (the log, the read models, JSON records); whoever reads the CLI
works in Kazakhstan, so every time it prints for people goes through ``shown`` — one format,
``2026-03-04 11:00:05 +05:00`` — and JSON lines it prints for people (``told``, ``tail``) carry
their times as ISO-8601 in Almaty time, still with the offset (``localized``), so a machine reads
the same instant. ``--json`` outputs keep the ISO-8601 the records have. Kazakhstan changed its
offset on 2024-03-01 (+06:00 → +05:00); the time-zone database gives each moment its own.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

ALMATY = ZoneInfo("Asia/Almaty")

#: An ISO-8601 date and time with its offset (or Z), as pydantic and ``isoformat`` write them.
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def _aware(at: datetime | str) -> datetime:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    if moment.tzinfo is None:
        raise ValueError(f"a time without its zone cannot be shown in Almaty time: {at!r}")
    return moment


def shown(at: datetime | str | None) -> str:
    """``2026-03-04 11:00:05 +05:00``: the moment in Almaty, to the second, with the offset."""
    if at is None:
        return "-"
    local = _aware(at).astimezone(ALMATY)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def iso_almaty(at: datetime | str) -> str:
    """ISO-8601 in Almaty time with the offset, e.g. ``2026-03-04T11:00:05+05:00``."""
    return _aware(at).astimezone(ALMATY).isoformat()


def localized(value: Any) -> Any:
    """``value`` (JSON-ready: dicts, lists, strings …) with every ISO-8601 time in it in Almaty time."""
    if isinstance(value, dict):
        return {k: localized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [localized(v) for v in value]
    if isinstance(value, str) and _ISO.fullmatch(value):
        return iso_almaty(value.replace("Z", "+00:00"))
    return value
