"""The child-friendly justice pathway of seed 003 and the interviews of Annex B 6.5–6.7: custody,
interviews, termination, probation, community-based programmes with feedback to the referrer."""

from __future__ import annotations

from referral_bus.contracts.justice_events import (
    ChildInterviewed,
    ChildRole,
    InterviewProfessional,
    PoliceCustodyEnded,
    PoliceCustodyStarted,
    ProbationOrdered,
    ProceedingsTerminated,
    ProgrammeCompleted,
    ProgrammeEnrolled,
    ProgrammeReviewed,
    ReoffendingFollowUpRecorded,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.deliveries import Delivery
from referral_bus.domain.pathways.base import (
    Step,
    illegal,
    kinds,
    referrers_and,
    route_to,
    to_kind,
)
from referral_bus.domain.rejections import Code, Rejection

_SEED = "seed 003"
_REOFFENDING = "seed 003 (re-offending followed up over two years after the programme)"
#: Seed 003 (child-friendly justice): a pedagogue or psychologist attends a child victim's or witness's interview
_SPECIALISTS = {InterviewProfessional.PEDAGOGUE, InterviewProfessional.PSYCHOLOGIST}


def interview_deviations(event: ChildInterviewed, state: CaseState) -> list[str]:
    """6.7: what the interview did that the protocol says it should not. The interview happened, so
    the event is accepted; the deviations go to the Commission and the CAM/CSC."""
    out: list[str] = []
    if event.suspected_person_present:
        out.append("6.7: the child was interviewed in the presence of a person suspected of harming the child")
    if state.open_criminal_cases and event.child_role is not ChildRole.IN_CONFLICT_WITH_LAW \
            and InterviewProfessional.CAM_SOCIAL_WORKER not in event.professionals_present:
        out.append("6.7: no CAM/CSC Social Worker was present at the investigative interview")
    if event.child_role is not ChildRole.IN_CONFLICT_WITH_LAW and not _SPECIALISTS & set(event.professionals_present):
        out.append("seed 003: no pedagogue or psychologist was present at the interview of a child victim or witness")
    return out


def _route_interview(event: ChildInterviewed, state: CaseState, directory: Directory) -> list[Delivery]:
    out = [to_kind(AgencyKind.CAM_CSC, "6.6–6.7", "notification")(event, state, directory)]
    deviations = interview_deviations(event, state)
    if deviations:
        out.append(Delivery(to_kind(AgencyKind.COMMISSION, "6.7", "deviation")(event, state, directory).recipient_id,
                            "6.7", "deviation", advice=tuple(deviations)))
    return out


def _apply_custody(event: PoliceCustodyStarted, state: CaseState, directory: Directory | None = None) -> None:
    state.justice.in_custody = True
    state.justice.proceedings.add(event.criminal_case_ref)


def _check_custody_ended(event: object, state: CaseState) -> None:
    if not state.justice.in_custody:
        raise illegal("the child is not in police custody on this case", _SEED)


def _apply_custody_ended(event: object, state: CaseState, directory: Directory | None = None) -> None:
    state.justice.in_custody = False


def _check_terminated(event: ProceedingsTerminated, state: CaseState) -> None:
    if event.criminal_case_ref not in state.justice.proceedings | state.open_criminal_cases:
        raise illegal(f"no criminal proceedings {event.criminal_case_ref} are recorded on this case", _SEED,
                      "criminal_case_ref")


def _apply_terminated(event: ProceedingsTerminated, state: CaseState, directory: Directory | None = None) -> None:
    state.justice.proceedings.discard(event.criminal_case_ref)
    state.open_criminal_cases.discard(event.criminal_case_ref)


def _check_enrolled(event: ProgrammeEnrolled, state: CaseState) -> None:
    if event.programme_id in state.justice.programmes:
        raise illegal(f"the child is already enrolled in programme {event.programme_id}", _SEED, "programme_id")


def _check_enrolled_directory(event: ProgrammeEnrolled, directory: Directory) -> None:
    if directory.get(event.referring_agency_id) is None:
        raise Rejection(Code.NO_RECIPIENT, f"referring agency {event.referring_agency_id!r} is not in the directory",
                        paragraph=_SEED, field="referring_agency_id")


def _apply_enrolled(event: ProgrammeEnrolled, state: CaseState, directory: Directory | None = None) -> None:
    state.justice.programmes[event.programme_id] = event.referring_agency_id


def _route_enrolled(event: ProgrammeEnrolled, state: CaseState, directory: Directory) -> list[Delivery]:
    _check_enrolled_directory(event, directory)
    return [Delivery(event.referring_agency_id, f"{_SEED} (feedback to the referring body)", "outcome",
                     redacted=True)]


def _check_programme(event: ProgrammeReviewed | ProgrammeCompleted, state: CaseState) -> None:
    if event.programme_id not in state.justice.programmes:
        raise illegal(f"the child is not enrolled in programme {event.programme_id}", _SEED, "programme_id")


def _route_programme(event: ProgrammeReviewed | ProgrammeCompleted, state: CaseState,
                     directory: Directory) -> list[Delivery]:
    referrer = state.justice.programmes.get(event.programme_id)
    return [Delivery(referrer, f"{_SEED} (feedback to the referring body)", "outcome", redacted=True)] \
        if referrer else []


def _apply_completed(event: ProgrammeCompleted, state: CaseState, directory: Directory | None = None) -> None:
    referrer = state.justice.programmes.pop(event.programme_id, None)
    if referrer is not None:
        state.justice.completed_programmes[event.programme_id] = referrer


def _check_follow_up(event: ReoffendingFollowUpRecorded, state: CaseState) -> None:
    if event.programme_id not in state.justice.completed_programmes:
        raise illegal(f"the child has not completed programme {event.programme_id} on this case: the re-offending "
                      "follow-up comes after completion", _REOFFENDING, "programme_id")


def _route_follow_up(event: ReoffendingFollowUpRecorded, state: CaseState, directory: Directory) -> list[Delivery]:
    referrer = state.justice.completed_programmes.get(event.programme_id)
    return [Delivery(referrer, f"{_SEED} (feedback to the referring body)", "outcome", redacted=True)] \
        if referrer else []


_PROGRAMME_PROVIDERS = kinds(AgencyKind.CAM_CSC, AgencyKind.NGO, AgencyKind.PROBATION)

STEPS: tuple[Step, ...] = (
    Step(PoliceCustodyStarted, kinds(AgencyKind.POLICE), f"{_SEED} (72-hour custody)", opens_case=True,
         apply=_apply_custody,
         route=route_to(to_kind(AgencyKind.PROSECUTOR, f"{_SEED} (72-hour custody)", "notification"),
                        to_kind(AgencyKind.COMMISSION, _SEED, "notification"))),
    Step(PoliceCustodyEnded, kinds(AgencyKind.COURT, AgencyKind.POLICE), _SEED,
         check=_check_custody_ended, apply=_apply_custody_ended,
         route=route_to(to_kind(AgencyKind.PROSECUTOR, f"{_SEED} (72-hour custody)", "notification"))),
    Step(ChildInterviewed, kinds(AgencyKind.CAM_CSC, AgencyKind.COURT, AgencyKind.POLICE, AgencyKind.PROSECUTOR),
         f"6.6–6.7, {_SEED}", route=_route_interview),
    Step(ProceedingsTerminated, kinds(AgencyKind.COURT, AgencyKind.POLICE, AgencyKind.PROSECUTOR), _SEED,
         check=_check_terminated, apply=_apply_terminated,
         route=referrers_and(f"{_SEED}, 6.24", to_kind(AgencyKind.CAM_CSC, f"{_SEED}, 6.25", "outcome"),
                             to_kind(AgencyKind.COMMISSION, _SEED, "outcome"))),
    Step(ProbationOrdered, kinds(AgencyKind.COURT), _SEED,
         route=route_to(to_kind(AgencyKind.PROBATION, _SEED, "referral"),
                        to_kind(AgencyKind.CAM_CSC, _SEED, "notification"))),
    Step(ProgrammeEnrolled, _PROGRAMME_PROVIDERS, _SEED, check=_check_enrolled, apply=_apply_enrolled,
         route=_route_enrolled),
    Step(ProgrammeReviewed, _PROGRAMME_PROVIDERS, _SEED, check=_check_programme, route=_route_programme),
    Step(ProgrammeCompleted, _PROGRAMME_PROVIDERS, _SEED, check=_check_programme, apply=_apply_completed,
         route=_route_programme),
    Step(ReoffendingFollowUpRecorded, _PROGRAMME_PROVIDERS, _REOFFENDING, check=_check_follow_up,
         route=_route_follow_up),
)
