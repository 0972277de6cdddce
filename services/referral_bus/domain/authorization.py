"""May this agency publish this event on this topic? Who may publish which type, and the paragraph
that gives them the duty, is the step table's (``pathways/``); this adds the directory's side: the
agency exists, writes to its own ingress topic, and serves the city it names."""

from __future__ import annotations

from referral_bus.contracts.base import Event
from referral_bus.contracts.events import ReferralMade
from referral_bus.domain.agencies import Agency, AgencyKind, Directory
from referral_bus.domain.pathways import step_for
from referral_bus.domain.rejections import Code, Rejection


def authorize(event: Event, directory: Directory, ingress_owner: str | None) -> Agency:
    """The producing agency, if it exists, wrote to its own ingress topic (``ingress_owner``: whose
    topic it came in on; the broker lets only that agency write there) and may emit this type."""
    agency_id = event.envelope.producer.agency_id
    agency = directory.get(agency_id)
    if agency is None:
        raise Rejection(Code.UNKNOWN_AGENCY, f"agency {agency_id!r} is not in the agency directory",
                        field="envelope.producer.agency_id")
    if ingress_owner is not None and agency_id != ingress_owner:
        raise Rejection(Code.WRONG_INGRESS_TOPIC,
                        f"the envelope names {agency_id} as producer, but it came in on {ingress_owner}'s "
                        "ingress topic (an agency publishes only as itself)", field="envelope.producer.agency_id")
    step = step_for(type(event))
    allowed, paragraph = (step.producers, step.duty) if step else (frozenset(), "")
    if agency.kind not in allowed:
        kinds = ", ".join(sorted(k.value for k in allowed)) or "nobody"
        raise Rejection(Code.AGENCY_NOT_ALLOWED,
                        f"a {agency.kind.value} agency may not publish {event.event_type()}; allowed: {kinds}",
                        paragraph=paragraph, field="envelope.event_type")
    city = getattr(event, "city", None)
    if isinstance(event, ReferralMade) or city is None:
        return agency
    if agency.cities and city not in agency.cities and agency.kind in (AgencyKind.CAM_CSC, AgencyKind.POLICE):
        raise Rejection(Code.AGENCY_NOT_ALLOWED, f"{agency_id} does not serve {city.value}",
                        paragraph="4.6", field="city")
    return agency
