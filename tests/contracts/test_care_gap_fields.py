"""Issue 15's new fields on the CAM/CSC's care events (6.15, 6.58, 6.60, 6.65, 6.75(b)) are optional
with defaults, so records written with every released schema still decode: Avro's own checker finds
the new models BACKWARD_TRANSITIVE, and a record written with the first version reads into the new
model with the defaults (an application to the Guardianship, no named members, attendance not
recorded, the after-care authority in free text)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from referral_bus.contracts.care_events import (
    CarePlacement,
    CarePlanAgreed,
    CarePlanDecision,
    CarePlanReviewed,
    ChildLeftCare,
    ChildProtectionPlanFinalised,
    MedicalExaminationConsentRecorded,
)
from referral_bus.contracts.consent import Consent, ConsentSubject
from referral_bus.infra.codec.schema_export import avro_schema
from referral_bus.infra.codec.schema_store import SchemaStore
from referral_bus.infra.settings import Settings
from tests.builders import make

DAY = date(2026, 5, 1)
CAM = "cam-almaty"

#: (a record as the first schema version had it, the fields issue 15 added, what they read as)
OLD: list[tuple[Any, dict[str, Any]]] = [
    (make(MedicalExaminationConsentRecorded, CAM, consent=Consent(
        subject=ConsentSubject.MEDICAL_EXAMINATION, child_age_years=6, parent_consented=False,
        child_has_sufficient_maturity=False, in_writing=True)), {"decision_body": "guardianship"}),
    (make(ChildProtectionPlanFinalised, CAM, plan_id="P-1", meeting_id="M-1", commences_on=DAY,
          first_review_by=DAY + timedelta(days=30), return_abroad=True),
     {"return_bars_checked": False, "return_bars": []}),
    (make(CarePlanAgreed, CAM, care_plan_id="CP-1", placement=CarePlacement.KINSHIP, commences_on=DAY,
          first_review_by=DAY + timedelta(days=28)), {"member_agency_ids": []}),
    (make(CarePlanReviewed, CAM, care_plan_id="CP-1", meeting_id="CR-1",
          decision=CarePlanDecision.CONTINUE_AS_DRAFTED), {"child_attended": None}),
    (make(ChildLeftCare, CAM, care_plan_id="CP-1", after_care_authority="after-care service"),
     {"after_care_agency_id": None}),
]


@pytest.mark.parametrize(("record", "added"), OLD, ids=[type(r).__name__ for r, _ in OLD])
def test_a_record_of_the_first_version_decodes_with_the_new_fields_defaulted(record: Any,
                                                                             added: dict[str, Any]) -> None:
    model = type(record)
    store = SchemaStore(Settings().schemas_dir)
    assert store.incompatibilities(avro_schema(model), model.__name__) == []
    first = json.loads(store.version_paths(model.__name__)[0].read_text())
    datum = record.model_dump()
    assert {field: datum.pop(field) for field in added} == added   # the old record has none of them
    buffer = io.BytesIO()
    schemaless_writer(buffer, parse_schema(first), datum)
    buffer.seek(0)
    read = schemaless_reader(buffer, parse_schema(first), parse_schema(avro_schema(model)))
    decoded = model.model_validate(read)
    assert decoded == record and all(getattr(decoded, f) == v for f, v in added.items())
