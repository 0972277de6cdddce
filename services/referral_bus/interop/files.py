"""The generated contract files, rendered from the code and compared with what is committed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from referral_bus.infra.runtime import Runtime
from referral_bus.interop.asyncapi import asyncapi, render
from referral_bus.interop.producers import producers
from referral_bus.interop.reason_codes import reason_codes


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generated(runtime: Runtime, root: Path) -> dict[Path, Callable[[], str]]:
    """Path under ``root`` → how to render its content. Topic names never carry the prefix here."""
    catalogue = runtime.catalogue
    return {
        root / "schemas" / "reason-codes.json": lambda: _json(reason_codes()),
        root / "schemas" / "producers.json": lambda: _json(producers(catalogue)),
        root / "docs" / "asyncapi.yaml": lambda: render(asyncapi(catalogue, runtime.settings.schemas_dir)),
    }


def stale(runtime: Runtime, root: Path) -> list[Path]:
    """The generated files that are missing or differ from what the code renders."""
    return [path for path, make in generated(runtime, root).items()
            if not path.exists() or path.read_text() != make()]


def write(runtime: Runtime, root: Path) -> list[Path]:
    """Write every stale file; the paths written."""
    written = []
    for path, make in generated(runtime, root).items():
        text = make()
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
