"""The contract's generated files (issue 14 item 3) are what the code renders — a stale committed
file fails here, as does a reason code without a meaning — and say what the bus enforces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from referral_bus.contracts import ALL_RECORDS, EVENT_TYPES
from referral_bus.domain.agencies import AgencyKind
from referral_bus.domain.pathways import STEP_TABLE
from referral_bus.domain.rejections import Code
from referral_bus.infra.codec.registry import embedded_schema_id
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.infra.settings import Settings
from referral_bus.interop.__main__ import main
from referral_bus.interop.files import generated, stale
from referral_bus.interop.reason_codes import CHECKS, MEANINGS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runtime() -> Runtime:
    return load_runtime(Settings())


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docs" / "asyncapi.yaml").read_text())  # type: ignore[no-any-return]


def test_committed_files_are_what_the_code_renders(runtime: Runtime) -> None:
    assert [p.relative_to(ROOT).as_posix() for p in generated(runtime, ROOT)] == [
        "schemas/reason-codes.json", "schemas/producers.json", "docs/asyncapi.yaml"]
    assert stale(runtime, ROOT) == [], "run `python -m referral_bus.interop write` and commit the result"


def test_a_stale_file_is_found_and_rewritten(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "reason-codes.json").write_text("{}\n")
    assert len(stale(runtime, tmp_path)) == 3
    from referral_bus.interop.files import write
    assert len(write(runtime, tmp_path)) == 3 and stale(runtime, tmp_path) == []


def test_check_exits_0_on_this_checkout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0 and capsys.readouterr().err == ""


def test_every_reason_code_has_a_meaning_in_the_published_file() -> None:
    published = json.loads((ROOT / "schemas" / "reason-codes.json").read_text())
    assert set(MEANINGS) == set(Code)
    assert list(published["codes"]) == [code.value for code in Code]
    assert all(entry["meaning"] and entry["check"] in CHECKS for entry in published["codes"].values())
    assert set(published["statuses"]) == {"ACCEPTED", "DUPLICATE", "REJECTED"}


def test_producers_file_is_the_step_table() -> None:
    published = json.loads((ROOT / "schemas" / "producers.json").read_text())
    assert set(published["events"]) == {step.event.__name__ for step in STEP_TABLE.values()} == set(EVENT_TYPES)
    for step in STEP_TABLE.values():
        entry = published["events"][step.event.__name__]
        assert set(entry["producers"]) == {kind.value for kind in step.producers} and entry["duty"] == step.duty
    assert set(published["by_kind"]) == {kind.value for kind in AgencyKind}
    assert published["topics"]["receipts"]["key"] == "submission"


def test_asyncapi_channels_messages_and_rights(asyncapi: dict[str, Any], runtime: Runtime) -> None:
    assert asyncapi["asyncapi"].startswith("3.")
    messages = asyncapi["components"]["messages"]
    on_topics = {name for channel in asyncapi["channels"].values() for name in channel["messages"]}
    assert set(messages) == on_topics == set(ALL_RECORDS)   # every record travels on a topic of the catalogue
    for name, message in messages.items():
        path = ROOT / "docs" / message["payload"]["schema"]["$ref"]
        assert path.resolve() == (ROOT / "schemas" / "avro" / f"{name}.avsc").resolve()
        assert message["x-schema-id"] == embedded_schema_id(json.loads(path.read_text()))
    assert messages["Receipt"]["bindings"]["kafka"]["key"]["description"].startswith("The submission answered")
    assert {c["address"] for c in asyncapi["channels"].values()} >= {"rb.ingress.{agency}", "rb.receipts.{agency}"}
    assert asyncapi["channels"]["ingress"]["parameters"]["agency"]["enum"] == sorted(runtime.directory.agencies)
    for operation_id, operation in asyncapi["operations"].items():
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        assert all(m["$ref"].startswith(f"#/channels/{channel}/messages/") for m in operation["messages"]), operation_id
    # who may submit what: one operation per agency kind, exactly the step table's event types
    for kind in AgencyKind:
        allowed = sorted(s.event.__name__ for s in STEP_TABLE.values() if kind in s.producers)
        submitted = [m["$ref"].rsplit("/", 1)[1] for m in asyncapi["operations"][f"submit-by-{kind.value}"]["messages"]]
        assert submitted == allowed
        assert asyncapi["operations"][f"submit-by-{kind.value}"]["reply"]["channel"] == {"$ref": "#/channels/receipts"}
