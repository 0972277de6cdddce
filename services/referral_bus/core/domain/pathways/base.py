"""One step of a pathway: the legal-transition check, the fold into the case state, and the routing
of one event type. Each pathway module lists its steps; ``case.py`` and ``routing.py`` dispatch to
them, so adding an event type touches one pathway module and nothing else in the router."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...contracts.base import City, Event
from ..agencies import AgencyKind, Directory
from ..deliveries import Delivery, agency_of
from ..rejections import Code, Rejection

if TYPE_CHECKING:
    from ..case import CaseState


Route = Callable[[Any, "CaseState", Directory], list[Delivery]]


@dataclass(frozen=True)
class Step:
    """``check`` raises a Rejection naming the paragraph; ``apply`` folds an accepted event;
    ``route`` says who is owed it. Any may be omitted."""

    check: Callable[[Any, "CaseState"], None] | None = None
    apply: Callable[[Any, "CaseState"], None] | None = None
    route: Route | None = None


def illegal(message: str, paragraph: str, field: str | None = None) -> Rejection:
    return Rejection(Code.ILLEGAL_TRANSITION, message, paragraph=paragraph, field=field)


def city_of(event: Event, state: "CaseState") -> City | None:
    return getattr(event, "city", None) or state.city


def to_kind(kind: AgencyKind, paragraph: str, purpose: str, *, redacted: bool = False
            ) -> Callable[[Event, "CaseState", Directory], Delivery]:
    """A delivery to the agency of ``kind`` serving the case's city."""
    def make(event: Event, state: "CaseState", directory: Directory) -> Delivery:
        return Delivery(agency_of(directory, kind, city_of(event, state), paragraph), paragraph, purpose,
                        redacted=redacted)
    return make


def to_members(members: list[str], paragraph: str, purpose: str) -> list[Delivery]:
    """Confidential material goes to the invited professional members only (6.33, 6.69)."""
    return [Delivery(agency_id, paragraph, purpose) for agency_id in members]


def to_referrers(state: "CaseState", paragraph: str) -> list[Delivery]:
    """The outcome owed to whoever referred the child, without the child's details (6.24)."""
    return [Delivery(r, paragraph, "outcome", redacted=True) for r in state.referrers()]


def route_to(*makers: Callable[[Event, "CaseState", Directory], Delivery]) -> Route:
    """A route that delivers to a fixed list of agencies (usually kinds of the case's city)."""
    def route(event: Event, state: "CaseState", directory: Directory) -> list[Delivery]:
        return [make(event, state, directory) for make in makers]
    return route


def referrers_and(paragraph: str, *makers: Callable[[Event, "CaseState", Directory], Delivery]) -> Route:
    """The referrers' redacted outcome (6.24) plus deliveries to fixed agencies."""
    def route(event: Event, state: "CaseState", directory: Directory) -> list[Delivery]:
        return to_referrers(state, paragraph) + [make(event, state, directory) for make in makers]
    return route
