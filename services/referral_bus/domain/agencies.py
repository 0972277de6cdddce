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
    #: The agency kind-level routes use in its cities when several of its kind serve one (``serving``):
    #: e.g. the Education Department's schools, beside the individual schools a notice may name
    #: (seed 002 SOP: "the (pre)school attended by the child").
    default: bool = False


class DirectoryError(ValueError):
    pass


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value


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
                    default=_flag(entry.get("default", False), "default"),
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
        directory._check_defaults()
        return directory

    def _check_defaults(self) -> None:
        """Where several agencies of one kind serve a city, exactly one of them is marked ``default``:
        the one kind-level routes reach (``serving``); the others are reached only when an event names
        them (e.g. ``MedicalWrittenNoticeSent.school_agency_id``). Never two defaults for one city."""
        serving: dict[tuple[AgencyKind, City], list[Agency]] = {}
        for agency in self.agencies.values():
            for city in agency.cities:
                serving.setdefault((agency.kind, city), []).append(agency)
        for (kind, city), agencies in serving.items():
            defaults = [a.id for a in agencies if a.default]
            if len(agencies) > 1 and len(defaults) != 1:
                listed = ", ".join(a.id for a in agencies)
                which = f"{len(defaults)} are ({', '.join(defaults)})" if defaults else "none is"
                raise DirectoryError(f"{len(agencies)} {kind.value} agencies serve {city.value} ({listed}): "
                                     f"exactly one must be marked 'default: true', and {which}")

    def get(self, agency_id: str) -> Agency | None:
        return self.agencies.get(agency_id)

    def serving(self, kind: AgencyKind, city: City) -> Agency | None:
        """The agency of ``kind`` that serves ``city`` (e.g. the CAM of Shymkent serves Turkestan Oblast):
        the only one, or, where several do, the one marked ``default`` (``from_mapping`` checks there is
        exactly one). This is the agency every kind-level route and deadline of that city reaches."""
        candidates = [a for a in self.agencies.values() if a.kind is kind and city in a.cities]
        if len(candidates) > 1:
            return next((a for a in candidates if a.default), candidates[0])
        return candidates[0] if candidates else None

    def of_kind(self, kind: AgencyKind) -> list[Agency]:
        return [a for a in self.agencies.values() if a.kind is kind]
