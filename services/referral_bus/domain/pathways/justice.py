"""The child-friendly justice pathway of seed 003 and the interviews of Annex B 6.5–6.7: custody,
interviews (planned, then held), termination, probation and its supervision, community-based
programmes with feedback to the referrer."""

from __future__ import annotations

from referral_bus.contracts.justice_events import (
    ChildInterviewed,
    ChildInterviewPlanned,
    ChildRole,
    InterviewProfessional,
    PoliceCustodyEnded,
    PoliceCustodyStarted,
    ProbationOrdered,
    ProbationStatus,
    ProbationSupervisionReported,
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
    note_home_city,
    referrers_and,
    route_to,
    to_kind,
    with_home_city,
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
        out.append("6.7: no CAM/CSC Social Worker was present at the investigative interview"
                   + (", though the interview was planned and announced to the CAM/CSC" if event.interview_ref else
                      ", and the interview was not planned on the bus beforehand (ChildInterviewPlanned), so the "
                      "CAM/CSC could not send one"))
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


def _check_planned(event: ChildInterviewPlanned, state: CaseState) -> None:
    if event.interview_ref in state.justice.planned_interviews:
        raise illegal(f"interview {event.interview_ref} is already planned on this case", "6.7", "interview_ref")


def _apply_planned(event: ChildInterviewPlanned, state: CaseState, directory: Directory | None = None) -> None:
    state.justice.planned_interviews.add(event.interview_ref)


def _check_interview(event: ChildInterviewed, state: CaseState) -> None:
    """6.7: an interview that quotes a plan must quote one planned on this case and not yet held."""
    if event.interview_ref is not None and event.interview_ref not in state.justice.planned_interviews:
        raise illegal(f"no planned interview {event.interview_ref} awaits on this case (ChildInterviewPlanned comes "
                      "first, so that the CAM/CSC Social Worker can be present)", "6.7", "interview_ref")


def _apply_interview(event: ChildInterviewed, state: CaseState, directory: Directory | None = None) -> None:
    if event.interview_ref is not None:
        state.justice.planned_interviews.discard(event.interview_ref)


_PROBATION = f"{_SEED} (probation supervision)"


def _apply_probation(event: ProbationOrdered, state: CaseState, directory: Directory | None = None) -> None:
    state.justice.probation_orders[event.criminal_case_ref] = event.envelope.producer.agency_id


def _check_supervision(event: ProbationSupervisionReported, state: CaseState) -> None:
    if event.criminal_case_ref not in state.justice.probation_orders:
        raise illegal(f"no probation order under supervision for criminal case {event.criminal_case_ref} is "
                      "recorded on this case (ProbationOrdered comes first; an ENDED report closes it)", _PROBATION,
                      "criminal_case_ref")


def _apply_supervision(event: ProbationSupervisionReported, state: CaseState,
                       directory: Directory | None = None) -> None:
    if event.status is ProbationStatus.ENDED:
        state.justice.probation_orders.pop(event.criminal_case_ref, None)


def _route_supervision(event: ProbationSupervisionReported, state: CaseState, directory: Directory) -> list[Delivery]:
    """The court that ordered probation, and the city's CAM/CSC (told of the order, seed 003)."""
    court = state.justice.probation_orders[event.criminal_case_ref]
    return [Delivery(court, _PROBATION, "report"),
            to_kind(AgencyKind.CAM_CSC, _PROBATION, "notification")(event, state, directory)]


def _apply_custody(event: PoliceCustodyStarted, state: CaseState, directory: Directory | None = None) -> None:
    note_home_city(event, state)   # issue 15: an out-of-area child's home city was told (with_home_city)
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
         route=with_home_city(route_to(to_kind(AgencyKind.PROSECUTOR, f"{_SEED} (72-hour custody)", "notification"),
                                       to_kind(AgencyKind.COMMISSION, _SEED, "notification")),
                              f"{_SEED} (72-hour custody)")),
    Step(PoliceCustodyEnded, kinds(AgencyKind.COURT, AgencyKind.POLICE), _SEED,
         check=_check_custody_ended, apply=_apply_custody_ended,
         route=route_to(to_kind(AgencyKind.PROSECUTOR, f"{_SEED} (72-hour custody)", "notification"))),
    # 6.7: law enforcement announces an investigative interview so the CAM/CSC Social Worker can attend
    Step(ChildInterviewPlanned, kinds(AgencyKind.POLICE, AgencyKind.PROSECUTOR), "6.7",
         check=_check_planned, apply=_apply_planned,
         route=route_to(to_kind(AgencyKind.CAM_CSC, "6.7", "invitation"))),
    Step(ChildInterviewed, kinds(AgencyKind.CAM_CSC, AgencyKind.COURT, AgencyKind.POLICE, AgencyKind.PROSECUTOR),
         f"6.6–6.7, {_SEED}", check=_check_interview, apply=_apply_interview, route=_route_interview),
    Step(ProceedingsTerminated, kinds(AgencyKind.COURT, AgencyKind.POLICE, AgencyKind.PROSECUTOR), _SEED,
         check=_check_terminated, apply=_apply_terminated,
         route=referrers_and(f"{_SEED}, 6.24", to_kind(AgencyKind.CAM_CSC, f"{_SEED}, 6.25", "outcome"),
                             to_kind(AgencyKind.COMMISSION, _SEED, "outcome"))),
    Step(ProbationOrdered, kinds(AgencyKind.COURT), _SEED, apply=_apply_probation,
         route=route_to(to_kind(AgencyKind.PROBATION, _SEED, "referral"),
                        to_kind(AgencyKind.CAM_CSC, _SEED, "notification"))),
    Step(ProbationSupervisionReported, kinds(AgencyKind.PROBATION), _PROBATION, check=_check_supervision,
         apply=_apply_supervision, route=_route_supervision),
    Step(ProgrammeEnrolled, _PROGRAMME_PROVIDERS, _SEED, check=_check_enrolled, apply=_apply_enrolled,
         route=_route_enrolled),
    Step(ProgrammeReviewed, _PROGRAMME_PROVIDERS, _SEED, check=_check_programme, route=_route_programme),
    Step(ProgrammeCompleted, _PROGRAMME_PROVIDERS, _SEED, check=_check_programme, apply=_apply_completed,
         route=_route_programme),
    Step(ReoffendingFollowUpRecorded, _PROGRAMME_PROVIDERS, _REOFFENDING, check=_check_follow_up,
         route=_route_follow_up),
)
