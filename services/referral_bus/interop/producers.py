"""Who may publish what, as data: for every case event type, the kinds of agency that may publish it
and the paragraph that gives them the duty (the step table, ``domain/pathways/``), and for every topic
the roles that may write and read it (``topics.yaml``, from which the broker's ACLs are made).
Rendered to ``schemas/producers.json``."""

from __future__ import annotations

from typing import Any

from referral_bus.domain.agencies import AgencyKind
from referral_bus.domain.pathways import STEP_TABLE
from referral_bus.infra.catalogue import Catalogue


def event_rights() -> dict[str, dict[str, Any]]:
    """Event type → who may publish it, under which paragraph, and whether it opens or reopens a case."""
    return {step.event.__name__: {"producers": sorted(kind.value for kind in step.producers), "duty": step.duty,
                                  "opens_case": step.opens_case, "reopens_case": step.reopens_case}
            for step in sorted(STEP_TABLE.values(), key=lambda s: s.event.__name__)}


def by_kind() -> dict[str, list[str]]:
    """Agency kind → the event types it may publish."""
    rights = event_rights()
    return {kind.value: [name for name, right in rights.items() if kind.value in right["producers"]]
            for kind in AgencyKind}


def topic_rights(catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    """topics.yaml's topic id → name pattern, key, producers and consumers (roles)."""
    return {topic_id: {"name": entry["name"], "key": entry["key"], "producers": list(entry["producers"]),
                       "consumers": list(entry["consumers"])}
            for topic_id, entry in catalogue.entries.items()}


def producers(catalogue: Catalogue) -> dict[str, Any]:
    """The document ``schemas/producers.json`` holds."""
    return {
        "$comment": "Generated from the step table (services/referral_bus/domain/pathways/) and topics.yaml by "
                    "`python -m referral_bus.interop write`; do not edit.",
        "description": "Who may publish what. An agency publishes case events on its own ingress topic "
                       "rb.ingress.<agency id> only (the broker's ACLs), as itself (the envelope's producer), and "
                       "only the event types its kind (agencies.yaml) may publish; any other is refused with "
                       "AGENCY_NOT_ALLOWED citing the `duty` paragraph. Some steps check more (an invited member, "
                       "the referrer, a provider who signed): those refusals name their paragraph too. `topics` "
                       "lists the roles that may write and read each topic: services (router, sla, projections, "
                       "auditor, operations), `agency` (the agency in the topic's name), `agencies` (every agency), "
                       "`processor` (the stream processor in the name), `admin` (the bus administrator).",
        "agency_kinds": [kind.value for kind in AgencyKind],
        "events": event_rights(),
        "by_kind": by_kind(),
        "topics": topic_rights(catalogue),
    }
