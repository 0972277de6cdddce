"""The violence-against-children pathway of seed 002: the 2020 SOP for medical staff (written notice
within 1 day, multidisciplinary evaluation within 1 hour), helplines 111/150, school screening."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...contracts.violence_events import (
    FollowUpOf, FollowUpRecorded, HelplineRedirected, MedicalWrittenNoticeSent, MultidisciplinaryEvaluationCompleted,
    RedirectTarget,
)
from ...contracts.base import Event
from ..agencies import AgencyKind, Directory
from ..deliveries import Delivery
from .base import Step, illegal, route_to, to_kind

if TYPE_CHECKING:
    from ..case import CaseState

_SOP = "seed 002 SOP (2020)"
_FLAGS = "seed 002 (helplines 111, 150; school screening)"


@dataclass
class ViolenceState:
    suspected: bool = False
    written_notice_sent: bool = False
    violence_confirmed: bool | None = None
    #: helpline or school that raised a flag → what it raised (owed feedback on the follow-up)
    flags_raised: dict[str, FollowUpOf] = field(default_factory=dict)


def _apply_suspected(event: object, state: "CaseState") -> None:
    state.violence.suspected = True


def _needs_suspicion(event: object, state: "CaseState") -> None:
    if not state.violence.suspected:
        raise illegal("no suspicion of violence by medical staff is recorded on this case", _SOP)


def _apply_notice(event: MedicalWrittenNoticeSent, state: "CaseState") -> None:
    state.violence.written_notice_sent = True


def _route_notice(event: MedicalWrittenNoticeSent, state: "CaseState", directory: Directory) -> list[Delivery]:
    kinds = [AgencyKind.POLICE, AgencyKind.GUARDIANSHIP, AgencyKind.COMMISSION, AgencyKind.SOCIAL_PROTECTION,
             AgencyKind.HEALTH] + ([AgencyKind.SCHOOL] if event.attends_school else [])
    return [to_kind(kind, _SOP, "notification")(event, state, directory) for kind in kinds]


def _apply_evaluation(event: MultidisciplinaryEvaluationCompleted, state: "CaseState") -> None:
    state.violence.violence_confirmed = event.violence_confirmed


def _route_evaluation(event: MultidisciplinaryEvaluationCompleted, state: "CaseState",
                      directory: Directory) -> list[Delivery]:
    if not event.violence_confirmed:
        return [to_kind(AgencyKind.POLICE, _SOP, "outcome")(event, state, directory)]
    # a confirmed case gets a team with a responsible social worker: the CAM/CSC case managers
    return [to_kind(kind, _SOP, "outcome")(event, state, directory)
            for kind in (AgencyKind.POLICE, AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP)]


def redirect_kind(target: RedirectTarget) -> AgencyKind:
    """The agency kind a helpline call goes to (the contract's symbols are Avro-safe names)."""
    return AgencyKind(target.value.lower().replace("_", "-"))


def _route_helpline(event: HelplineRedirected, state: "CaseState", directory: Directory) -> list[Delivery]:
    kind = redirect_kind(event.redirected_to)
    return [to_kind(kind, "seed 002 (helplines 111, 150)", "referral")(event, state, directory)]


def _apply_flag(kind: FollowUpOf) -> Callable[[Event, "CaseState"], None]:
    """Remember who raised the flag: it is owed the follow-up (seed 002: feedback to the referrer)."""
    def apply(event: Event, state: "CaseState") -> None:
        state.violence.flags_raised[event.envelope.producer.agency_id] = kind
    return apply


def _check_follow_up(event: FollowUpRecorded, state: "CaseState") -> None:
    if event.follow_up_of not in state.violence.flags_raised.values():
        raise illegal(f"no {event.follow_up_of.value.lower().replace('_', ' ')} is recorded on this case", _FLAGS,
                      "follow_up_of")


def _route_follow_up(event: FollowUpRecorded, state: "CaseState", directory: Directory) -> list[Delivery]:
    """The helpline or school hears back (seed 002: referrers never hear back), without the details (6.24)."""
    return [Delivery(raiser, _FLAGS, "outcome", redacted=True)
            for raiser, kind in state.violence.flags_raised.items() if kind is event.follow_up_of]


STEPS: dict[str, Step] = {
    # the head of the medical organisation tells the police (102) at once; the written notice follows
    "ViolenceSuspectedByMedicalStaff": Step(None, _apply_suspected,
                                            route_to(to_kind(AgencyKind.POLICE, _SOP, "notification"))),
    "MedicalWrittenNoticeSent": Step(_needs_suspicion, _apply_notice, _route_notice),
    "MultidisciplinaryEvaluationCompleted": Step(_needs_suspicion, _apply_evaluation, _route_evaluation),
    "HelplineRedirected": Step(None, _apply_flag(FollowUpOf.HELPLINE_REDIRECTION), _route_helpline),
    "SchoolScreeningFlagRaised": Step(None, _apply_flag(FollowUpOf.SCHOOL_FLAG), route_to(
        to_kind(AgencyKind.CAM_CSC, "seed 002 (school screening); 4.5, 5.2", "notification"))),
    "FollowUpRecorded": Step(_check_follow_up, None, _route_follow_up),
}
