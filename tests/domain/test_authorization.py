from __future__ import annotations

import pytest

from referral_bus.contracts.base import City
from referral_bus.contracts.events import EmergencyRemoval, RemovalOutcomeReported
from referral_bus.domain.agencies import AgencyKind, Directory, DirectoryError
from referral_bus.domain.authorization import authorize
from referral_bus.domain.rejections import Code, Rejection
from tests.builders import envelope


def report(agency: str) -> RemovalOutcomeReported:
    return RemovalOutcomeReported(envelope=envelope(RemovalOutcomeReported, "C-1", agency), child_removed=True,
                                  placed_in_temporary_care=True, referred_to_cam=True)


def test_juvenile_inspection_may_report(directory: Directory) -> None:
    agency = "police-juvenile-almaty"
    assert authorize(report(agency), directory, agency).id == agency


@pytest.mark.parametrize("agency, ingress, code, field", [
    ("school-almaty", "school-almaty", Code.AGENCY_NOT_ALLOWED, "envelope.event_type"),
    ("nobody-known", "police-juvenile-almaty", Code.UNKNOWN_AGENCY, "envelope.producer.agency_id"),
    ("police-juvenile-almaty", "school-almaty", Code.WRONG_INGRESS_TOPIC, "envelope.producer.agency_id"),
    # a neighbour of the same kind: an agency publishes only as itself
    ("police-juvenile-almaty", "police-juvenile-nur-sultan", Code.WRONG_INGRESS_TOPIC, "envelope.producer.agency_id"),
])
def test_refusals_name_code_and_field(directory: Directory, agency: str, ingress: str, code: Code,
                                      field: str) -> None:
    with pytest.raises(Rejection) as caught:
        authorize(report(agency), directory, ingress)
    assert (caught.value.code, caught.value.field) == (code, field)


def test_inspector_of_another_city_is_refused(directory: Directory) -> None:
    event = EmergencyRemoval(envelope=envelope(EmergencyRemoval, "C-1", "police-juvenile-almaty"), city=City.SHYMKENT,
                             child_age_years=5, child_removed=True, cam_social_worker_present=True)
    with pytest.raises(Rejection) as caught:
        authorize(event, directory, "police-juvenile-almaty")
    assert (caught.value.code, caught.value.paragraph) == (Code.AGENCY_NOT_ALLOWED, "4.6")


def test_directory_errors_name_entry_and_field() -> None:
    with pytest.raises(DirectoryError, match=r"agencies\[0\]: missing field 'kind'"):
        Directory.from_mapping({"agencies": [{"id": "x", "name": "X"}]})
    with pytest.raises(DirectoryError, match="supervisor 'ghost'"):
        Directory.from_mapping({"agencies": [{"id": "x", "kind": "school", "name": "X", "supervisor": "ghost"}]})


def test_directory_serves_turkestan_from_shymkent(directory: Directory) -> None:
    assert directory.serving(AgencyKind.CAM_CSC, City.TURKESTAN_OBLAST).id == "cam-shymkent"  # type: ignore[union-attr]
