"""The .avsc files are the contract: equal to the pydantic models, and BACKWARD_TRANSITIVE."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from referral_bus.contracts.base import Record
from referral_bus.infra.codec.schema_store import SchemaStore
from referral_bus.infra.settings import Settings


def test_schema_files_equal_the_models_and_are_released() -> None:
    assert SchemaStore(Settings().schemas_dir).check() == []


def _store_with(tmp_path: Path, model: type[Record]) -> SchemaStore:
    return SchemaStore(tmp_path, {model.__name__: model})


class Thing(Record):
    a: str
    b: int = 0


class ThingAddsOptional(Record):
    a: str
    b: int = 0
    c: str | None = Field(default=None)


class ThingAddsRequired(Record):
    a: str
    b: int = 0
    d: str


def _rename(model: type[Record]) -> type[Record]:
    renamed = type("Thing", (model,), {})  # same record name, new fields
    return renamed


def test_compatible_change_is_released_incompatible_is_refused(tmp_path: Path) -> None:
    first = _store_with(tmp_path, Thing)
    assert first.freeze() == ["released Thing v1", "wrote Thing.avsc"]
    assert first.check() == []
    compatible = _store_with(tmp_path, _rename(ThingAddsOptional))
    assert any("differs" in str(p) for p in compatible.check())
    assert "released Thing v2" in compatible.freeze()
    assert compatible.version_of("Thing") == 2
    breaking = _store_with(tmp_path, _rename(ThingAddsRequired))
    problems = [str(p) for p in breaking.check()]
    assert any("cannot read data written with v1" in p and "d" in p for p in problems), problems
    with pytest.raises(ValueError, match="not BACKWARD_TRANSITIVE"):
        breaking.freeze()


def test_cli_check_passes_on_the_repository(tmp_path: Path) -> None:
    from referral_bus.cli import main
    assert main(["schemas", "check"]) == 0
