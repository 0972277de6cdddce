"""A step of the protocol: everything the bus knows about one event type in one place — who may
publish it and under which paragraph, whether it opens a case, the legal-transition check, the
fold into the case state, and who is owed it. Each pathway module lists its steps; the step table
(``pathways/__init__.py``) holds them all, keyed by event class, and ``decisions.py`` applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from referral_bus.contracts.base import City, Event
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.deliveries import Delivery, agency_of
from referral_bus.domain.rejections import Code, Rejection

#: ``check(event, state)`` raises a Rejection naming the paragraph when the event may not follow.
Check = Callable[[Any, CaseState], None]
#: ``apply(event, state, directory)`` folds an event that is on the case log into the state.
Apply = Callable[[Any, CaseState, "Directory | None"], None]
#: ``route(event, state, directory)``: the deliveries owed, given the case before the event.
Route = Callable[[Any, CaseState, Directory], list[Delivery]]

def kinds(*members: AgencyKind) -> frozenset[AgencyKind]:
    """Agency kinds that may publish an event type."""
    return frozenset(members)


#: "a professional": any agency (4.5, 5.2 referrals; invited members, checked as a transition)
ANYONE = frozenset(AgencyKind)
BY_CAM = kinds(AgencyKind.CAM_CSC)
BY_NGO = kinds(AgencyKind.NGO)


@dataclass(frozen=True)
class Step:
    """One event type of the protocol. ``producers`` may publish it, ``duty`` is the paragraph that
    gives them the duty (named when another kind tries). Check, apply and route may be omitted."""

    event: type[Event]
    producers: frozenset[AgencyKind]
    duty: str
    check: Check | None = None
    apply: Apply | None = None
    route: Route | None = None
    #: May start a case (4.5, 4.7, seeds 002/003); its city and the child's age become the case's.
    opens_case: bool = False
    #: Is taken on a closed case, and reopens it (a new referral, 6.51).
    reopens_case: bool = False


def illegal(message: str, paragraph: str, field: str | None = None) -> Rejection:
    return Rejection(Code.ILLEGAL_TRANSITION, message, paragraph=paragraph, field=field)


def city_of(event: Event, state: CaseState) -> City | None:
    return getattr(event, "city", None) or state.city


def to_kind(kind: AgencyKind, paragraph: str, purpose: str, *, redacted: bool = False
            ) -> Callable[[Event, CaseState, Directory], Delivery]:
    """A delivery to the agency of ``kind`` serving the case's city."""
    def make(event: Event, state: CaseState, directory: Directory) -> Delivery:
        return Delivery(agency_of(directory, kind, city_of(event, state), paragraph), paragraph, purpose,
                        redacted=redacted)
    return make


def to_members(members: list[str], paragraph: str, purpose: str) -> list[Delivery]:
    """Confidential material goes to the invited professional members only (6.33, 6.69)."""
    return [Delivery(agency_id, paragraph, purpose) for agency_id in members]


def to_referrers(state: CaseState, paragraph: str) -> list[Delivery]:
    """The outcome owed to whoever referred the child, without the child's details (6.24)."""
    return [Delivery(r, paragraph, "outcome", redacted=True) for r in state.referrers()]


def route_to(*makers: Callable[[Event, CaseState, Directory], Delivery]) -> Route:
    """A route that delivers to a fixed list of agencies (usually kinds of the case's city)."""
    def route(event: Event, state: CaseState, directory: Directory) -> list[Delivery]:
        return [make(event, state, directory) for make in makers]
    return route


def referrers_and(paragraph: str, *makers: Callable[[Event, CaseState, Directory], Delivery]) -> Route:
    """The referrers' redacted outcome (6.24) plus deliveries to fixed agencies."""
    def route(event: Event, state: CaseState, directory: Directory) -> list[Delivery]:
        return to_referrers(state, paragraph) + [make(event, state, directory) for make in makers]
    return route
