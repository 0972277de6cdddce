"""What the bus owes an agency for an accepted event: a delivery to its inbox, with the paragraph
that owes it. Shared by the routing of every pathway."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid5

from referral_bus.contracts.base import City
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.rejections import Code, Rejection

_DELIVERY_NS = UUID("6f1c8d0e-5b1a-4c2e-9a57-0b6c1f3d2e41")


@dataclass(frozen=True)
class Delivery:
    recipient_id: str
    paragraph: str
    purpose: str          # referral | notification | outcome | invitation | meeting material | deviation | …
    #: True when the recipient may see only the outcome, not the child's details (6.24).
    redacted: bool = False
    #: Advice for the recipient, never applied by the bus (5.9, 5.12, 5.13: admission criteria).
    advice: tuple[str, ...] = ()

    def delivery_id(self, event_id: UUID) -> UUID:
        """Deterministic, so a re-sent delivery is recognisably the same one."""
        return uuid5(_DELIVERY_NS, f"{event_id}|{self.recipient_id}")


def agency_of(directory: Directory, kind: AgencyKind, city: City | None, paragraph: str) -> str:
    """The agency of ``kind`` serving ``city``; a rejection naming the paragraph when there is none."""
    agency = directory.serving(kind, city) if city else None
    if agency is None:
        where = city.value if city else "an unknown city"
        raise Rejection(Code.NO_RECIPIENT, f"no {kind.value} agency serves {where} in the directory",
                        paragraph=paragraph, field="city")
    return agency.id
