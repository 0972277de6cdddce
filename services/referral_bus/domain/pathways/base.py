"""A step of the protocol: everything the bus knows about one event type in one place — who may
publish it and under which paragraph, whether it opens a case, the legal-transition check, the
fold into the case state, and who is owed it. Each pathway module lists its steps; the step table
(``pathways/__init__.py``) holds them all, keyed by event class, and ``decisions.py`` applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
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


def named_agency(event: Event, state: CaseState, directory: Directory, field: str,
                 allowed: tuple[AgencyKind, ...], paragraph: str) -> str:
    """The agency an event names in ``field``: in the directory, of an ``allowed`` kind, serving the
    case's city — else a rejection naming the paragraph and the field. No personal data is quoted."""
    agency_id = getattr(event, field)
    agency = directory.get(agency_id)
    city = city_of(event, state)
    what = " or ".join(kind.value for kind in allowed)
    if agency is None:
        raise Rejection(Code.NO_RECIPIENT, f"{field}: agency {agency_id!r} is not in the directory",
                        paragraph=paragraph, field=field)
    if agency.kind not in allowed:
        raise illegal(f"{field}: {agency_id} is a {agency.kind.value} agency, not a {what} agency", paragraph, field)
    if city is None or city not in agency.cities:
        raise illegal(f"{field}: {agency_id} does not serve the case's city "
                      f"({city.value if city else 'unknown'})", paragraph, field)
    return agency.id


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


# -- issue 15: a child found out of area --------------------------------------------------------------
#: Annex B routes every referral to the City/Oblast where the child is (4.5, 4.6, 4.7) and is silent on
#: the city where the child's family and case belong: the bus tells it, as the UK's CP-IS tells the home
#: authority of every out-of-area contact. Cited in the deliveries it makes.
OUT_OF_AREA = "out-of-area child (bus rule modelled on the UK CP-IS; Annex B silent; issue 15)"


def note_home_city(event: Event, state: CaseState, *, notified: bool = True) -> None:
    """Fold a stated ``home_city``: the latest statement wins (a correction, a family found to live
    elsewhere), and an event that omits it leaves the case's as it was. ``notified``: the event is a
    contact whose route told the home city with the child's details (``with_home_city``)."""
    home = getattr(event, "home_city", None)
    out_of_area = home_city_of(event, state)
    if home is not None:
        state.home_city = home
    if notified and out_of_area is not None:
        state.home_city_notified = out_of_area


def already_notified(event: Event, state: CaseState) -> bool:
    """The home city was told of the child, with its details, by an earlier contact on this case."""
    home = home_city_of(event, state)
    return home is not None and home is state.home_city_notified


def home_city_of(event: Event, state: CaseState) -> City | None:
    """The child's home city when it is not the city where the child is (None when it is, or unknown)."""
    home = getattr(event, "home_city", None) or state.home_city
    return home if home is not None and home is not city_of(event, state) else None


def _home_agency(event: Event, state: CaseState, directory: Directory) -> tuple[City, AgencyKind, str | None] | None:
    """(home city, kind, the agency serving it or None) for an out-of-area child: the CAM/CSC, or the
    Guardianship for a child under 3 (as 4.5(a)–(b) split them)."""
    home = home_city_of(event, state)
    if home is None:
        return None
    age = getattr(event, "child_age_years", None)
    age = state.child_age_years if age is None else age
    kind = AgencyKind.GUARDIANSHIP if age is not None and age < 3 else AgencyKind.CAM_CSC
    agency = directory.serving(kind, home)
    return home, kind, agency.id if agency else None


def to_home_city(event: Event, state: CaseState, directory: Directory, paragraph: str,
                 purpose: str = "out-of-area outcome", *, redacted: bool = True) -> list[Delivery]:
    """A later key outcome (6.3, 4.7–4.8, case closure) for the agency owning the home city's case of an
    out-of-area child: redacted, as any outcome told outside the CAM/CSC handling the child (6.24).
    Nothing when the child is in its home city, or when no agency serves it (the opening contact's
    recipients were advised to tell it outside the bus: ``with_home_city``)."""
    found = _home_agency(event, state, directory)
    if found is None or found[2] is None:
        return []
    return [Delivery(found[2], f"{paragraph}; {OUT_OF_AREA}", purpose, redacted=redacted)]


def with_home_city(route: Route, paragraph: str, *,
                   redacted: Callable[[Event, CaseState], bool] = lambda event, state: False) -> Route:
    """A contact that refers the child where it is (``paragraph``: 4.5–4.6, 4.7): its deliveries there, and an
    "out-of-area notification" to the home city's CAM/CSC (Guardianship under 3) — with the child's
    details, which the home agency needs to match its own case, unless ``redacted`` says otherwise.
    When no agency serves the home city the valid referral is never lost: it is delivered where the
    child is, its recipients advised that the home city was not told and should be, outside the bus."""
    def routed(event: Event, state: CaseState, directory: Directory) -> list[Delivery]:
        out = route(event, state, directory)
        found = _home_agency(event, state, directory)
        if found is None:
            return out
        home, kind, agency_id = found
        if agency_id is not None:
            hidden = redacted(event, state)
            return out + [Delivery(agency_id, f"{paragraph}; {OUT_OF_AREA}",
                                   "out-of-area outcome" if hidden else "out-of-area notification", redacted=hidden)]
        advice = (f"Out-of-area child: no {kind.value} agency serves the home city {home.value} in the directory, "
                  "so it was not told on the bus; tell it outside the bus (issue 15, modelled on the UK CP-IS).",)
        return [replace(d, advice=d.advice + advice) for d in out]
    return routed
