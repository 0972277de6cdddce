"""Agencies and the directory of who serves which city (Annex B 4.6, 5.15–5.16)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from referral_bus.contracts.base import City


class AgencyKind(str, Enum):
    POLICE = "police"                 # incl. the Department of Juvenile Inspection (4.7(b), 4.8)
    BORDER_GUARD = "border-guard"
    SCHOOL = "school"
    HEALTH = "health"
    GUARDIANSHIP = "guardianship"     # Guardianship and Tutelage Authority (4.5(a), 4.5(b)(ii))
    CAM_CSC = "cam-csc"               # CAM (Almaty, Shymkent/Turkestan) or CSC (Nur-Sultan), 4.6
    COMMISSION = "commission"         # Commission on Issues of Minors (4.10)
    PROSECUTOR = "prosecutor"         # 4.9
    COURT = "court"
    NGO = "ngo"                       # selected NGO per city (5.15)
    HELPLINE = "helpline"             # 111 and 150 (seed 002)
    SOCIAL_PROTECTION = "social-protection"  # seed 002: told of suspected violence against a child
    PROBATION = "probation"           # seed 003: supervises probation orders


@dataclass(frozen=True)
class Agency:
    id: str
    kind: AgencyKind
    name: str
    cities: frozenset[City]
    #: First step of the escalation ladder when this agency misses a deadline.
    supervisor_id: str | None = None


class DirectoryError(ValueError):
    pass


@dataclass
class Directory:
    agencies: dict[str, Agency] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Directory:
        """Build from the parsed agencies.yaml, with errors that name the entry and field."""
        directory = cls()
        for index, entry in enumerate(data.get("agencies") or []):
            where = f"agencies[{index}]"
            try:
                agency = Agency(
                    id=str(entry["id"]),
                    kind=AgencyKind(entry["kind"]),
                    name=str(entry["name"]),
                    cities=frozenset(City(c) for c in entry.get("cities", [])),
                    supervisor_id=entry.get("supervisor"),
                )
            except KeyError as exc:
                raise DirectoryError(f"{where}: missing field {exc.args[0]!r}") from None
            except ValueError as exc:
                raise DirectoryError(f"{where}: {exc}") from None
            if agency.id in directory.agencies:
                raise DirectoryError(f"{where}: duplicate agency id {agency.id!r}")
            directory.agencies[agency.id] = agency
        for agency in directory.agencies.values():
            if agency.supervisor_id and agency.supervisor_id not in directory.agencies:
                raise DirectoryError(f"agency {agency.id}: supervisor {agency.supervisor_id!r} is not in the directory")
        return directory

    def get(self, agency_id: str) -> Agency | None:
        return self.agencies.get(agency_id)

    def serving(self, kind: AgencyKind, city: City) -> Agency | None:
        """The agency of ``kind`` that serves ``city`` (e.g. the CAM of Shymkent serves Turkestan Oblast)."""
        for agency in self.agencies.values():
            if agency.kind is kind and city in agency.cities:
                return agency
        return None

    def of_kind(self, kind: AgencyKind) -> list[Agency]:
        return [a for a in self.agencies.values() if a.kind is kind]
