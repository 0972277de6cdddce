"""The violence-against-children pathway of seed 002: the 2020 SOP for medical staff (written notice
within 1 day to the child's own (pre)school and polyclinic when named, multidisciplinary evaluation
within 1 hour and the case team with its responsible social worker), helplines 111/150, school
screening, and a family's application for special social services (reviewed within ten days)."""

from __future__ import annotations

from referral_bus.contracts.base import Event
from referral_bus.contracts.violence_events import (
    FollowUpOf,
    FollowUpRecorded,
    HelplineRedirected,
    MedicalWrittenNoticeSent,
    MultidisciplinaryEvaluationCompleted,
    RedirectTarget,
    SchoolScreeningFlagRaised,
    SpecialSocialServicesApplied,
    SpecialSocialServicesReviewed,
    ViolenceSuspectedByMedicalStaff,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.deliveries import Delivery
from referral_bus.domain.pathways.base import (
    Apply,
    Step,
    city_of,
    illegal,
    kinds,
    named_agency,
    note_home_city,
    route_to,
    to_kind,
    with_home_city,
)
from referral_bus.domain.rejections import Code, Rejection

_SOP = "seed 002 SOP (2020)"
_FLAGS = "seed 002 (helplines 111, 150; school screening)"
_SPECIAL = "seed 002 (special social services: application reviewed within ten days)"


def _apply_suspected(event: ViolenceSuspectedByMedicalStaff, state: CaseState,
                     directory: Directory | None = None) -> None:
    note_home_city(event, state)   # issue 15: an out-of-area child's home city was told (with_home_city)
    state.violence.suspected = True


def _needs_suspicion(event: object, state: CaseState) -> None:
    if not state.violence.suspected:
        raise illegal("no suspicion of violence by medical staff is recorded on this case", _SOP)


def _apply_notice(event: MedicalWrittenNoticeSent, state: CaseState, directory: Directory | None = None) -> None:
    state.violence.written_notice_sent = True


def _route_notice(event: MedicalWrittenNoticeSent, state: CaseState, directory: Directory) -> list[Delivery]:
    """Every body the SOP names; the child's own (pre)school and polyclinic when the notice names them,
    else the city's default school and health agency (``agencies.yaml``, ``default: true``)."""
    kinds = [AgencyKind.POLICE, AgencyKind.GUARDIANSHIP, AgencyKind.COMMISSION, AgencyKind.SOCIAL_PROTECTION]
    out = [to_kind(kind, _SOP, "notification")(event, state, directory) for kind in kinds]
    for kind, field, wanted in ((AgencyKind.HEALTH, "polyclinic_agency_id", True),
                                (AgencyKind.SCHOOL, "school_agency_id", event.attends_school)):
        if not wanted:
            continue
        if getattr(event, field) is None:
            out.append(to_kind(kind, _SOP, "notification")(event, state, directory))
        else:
            out.append(Delivery(named_agency(event, state, directory, field, (kind,), _SOP), _SOP, "notification"))
    return out


#: Seed 002 SOP: who may hold the responsible social worker — the medical organisation's own (a
#: polyclinic's social worker), the CAM/CSC's, the department of social protection's or the Guardianship's.
RESPONSIBLE_KINDS = (AgencyKind.HEALTH, AgencyKind.CAM_CSC, AgencyKind.SOCIAL_PROTECTION, AgencyKind.GUARDIANSHIP)


def _apply_evaluation(event: MultidisciplinaryEvaluationCompleted, state: CaseState,
                      directory: Directory | None = None) -> None:
    state.violence.violence_confirmed = event.violence_confirmed
    if event.violence_confirmed:
        # without a name the CAM/CSC of the case's city is taken as responsible (as before the field existed)
        city = state.city
        default = directory.serving(AgencyKind.CAM_CSC, city) if directory and city else None
        state.violence.responsible_agency_id = event.responsible_agency_id or (default.id if default else None)


def _route_evaluation(event: MultidisciplinaryEvaluationCompleted, state: CaseState,
                      directory: Directory) -> list[Delivery]:
    if not event.violence_confirmed:
        return [to_kind(AgencyKind.POLICE, _SOP, "outcome")(event, state, directory)]
    # a confirmed case gets a team with a responsible social worker: the agency named (first, so that its
    # delivery says "assignment" when it is also the CAM/CSC), the team's agencies, and the CAM/CSC case
    # managers, the police and the Guardianship
    out: list[Delivery] = []
    if event.responsible_agency_id is not None:
        responsible = named_agency(event, state, directory, "responsible_agency_id", RESPONSIBLE_KINDS, _SOP)
        out.append(Delivery(responsible, f"{_SOP}: responsible social worker", "assignment"))
    for index, member in enumerate(event.team_agency_ids):
        agency = directory.get(member)
        field = f"team_agency_ids[{index}]"
        if agency is None:
            raise Rejection(Code.NO_RECIPIENT, f"{field}: agency {member!r} is not in the directory",
                            paragraph=_SOP, field=field)
        city = city_of(event, state)
        if city is None or city not in agency.cities:
            raise illegal(f"{field}: {member} does not serve the case's city", _SOP, field)
        out.append(Delivery(member, f"{_SOP}: case team", "outcome"))
    return out + [to_kind(kind, _SOP, "outcome")(event, state, directory)
                  for kind in (AgencyKind.POLICE, AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP)]


def redirect_kind(target: RedirectTarget) -> AgencyKind:
    """The agency kind a helpline call goes to (the contract's symbols are Avro-safe names)."""
    return AgencyKind(target.value.lower().replace("_", "-"))


def _route_helpline(event: HelplineRedirected, state: CaseState, directory: Directory) -> list[Delivery]:
    kind = redirect_kind(event.redirected_to)
    return [to_kind(kind, "seed 002 (helplines 111, 150)", "referral")(event, state, directory)]


def _apply_flag(kind: FollowUpOf) -> Apply:
    """Remember who raised the flag: it is owed the follow-up (seed 002: feedback to the referrer)."""
    def apply(event: Event, state: CaseState, directory: Directory | None = None) -> None:
        note_home_city(event, state)   # issue 15: an out-of-area child's home city was told (with_home_city)
        state.violence.flags_raised[event.envelope.producer.agency_id] = kind
    return apply


def _check_follow_up(event: FollowUpRecorded, state: CaseState) -> None:
    if event.follow_up_of not in state.violence.flags_raised.values():
        raise illegal(f"no {event.follow_up_of.value.lower().replace('_', ' ')} is recorded on this case", _FLAGS,
                      "follow_up_of")


def _route_follow_up(event: FollowUpRecorded, state: CaseState, directory: Directory) -> list[Delivery]:
    """The helpline or school hears back (seed 002: referrers never hear back), without the details (6.24)."""
    return [Delivery(raiser, _FLAGS, "outcome", redacted=True)
            for raiser, kind in state.violence.flags_raised.items() if kind is event.follow_up_of]


def _apply_application(event: SpecialSocialServicesApplied, state: CaseState,
                       directory: Directory | None = None) -> None:
    state.violence.special_services_applications.append(event.envelope.producer.agency_id)


def _check_review(event: SpecialSocialServicesReviewed, state: CaseState) -> None:
    if not state.violence.special_services_applications:
        raise illegal("no application for special social services awaits review on this case", _SPECIAL)


def _apply_review(event: SpecialSocialServicesReviewed, state: CaseState, directory: Directory | None = None) -> None:
    state.violence.special_services_applications.pop(0)   # the oldest, as the deadlines close


def _route_review(event: SpecialSocialServicesReviewed, state: CaseState, directory: Directory) -> list[Delivery]:
    """The professional who forwarded the application hears the outcome, without the details (6.24)."""
    return [Delivery(state.violence.special_services_applications[0], _SPECIAL, "outcome", redacted=True)]


STEPS: tuple[Step, ...] = (
    # the head of the medical organisation tells the police (102) at once; the written notice follows
    Step(ViolenceSuspectedByMedicalStaff, kinds(AgencyKind.HEALTH), _SOP, opens_case=True,
         apply=_apply_suspected,
         route=with_home_city(route_to(to_kind(AgencyKind.POLICE, _SOP, "notification")), _SOP)),
    Step(MedicalWrittenNoticeSent, kinds(AgencyKind.HEALTH), _SOP,
         check=_needs_suspicion, apply=_apply_notice, route=_route_notice),
    Step(MultidisciplinaryEvaluationCompleted, kinds(AgencyKind.HEALTH), _SOP,
         check=_needs_suspicion, apply=_apply_evaluation, route=_route_evaluation),
    Step(HelplineRedirected, kinds(AgencyKind.HELPLINE), "seed 002 (helplines 111, 150)", opens_case=True,
         apply=_apply_flag(FollowUpOf.HELPLINE_REDIRECTION),
         route=with_home_city(_route_helpline, "seed 002 (helplines 111, 150)")),
    Step(SchoolScreeningFlagRaised, kinds(AgencyKind.SCHOOL), "seed 002 (school screening)", opens_case=True,
         apply=_apply_flag(FollowUpOf.SCHOOL_FLAG),
         route=with_home_city(route_to(to_kind(AgencyKind.CAM_CSC, "seed 002 (school screening); 4.5, 5.2",
                                               "notification")), "seed 002 (school screening)")),
    Step(FollowUpRecorded, kinds(AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP, AgencyKind.HEALTH, AgencyKind.NGO,
                                 AgencyKind.POLICE), "seed 002 (follow-up of helpline calls and school flags)",
         check=_check_follow_up, route=_route_follow_up),
    # the family applies to the local executive body (its department of social protection), itself or
    # through a professional who helps it; the department's social worker reviews the application
    Step(SpecialSocialServicesApplied, kinds(AgencyKind.SOCIAL_PROTECTION, AgencyKind.CAM_CSC, AgencyKind.NGO,
                                             AgencyKind.SCHOOL, AgencyKind.HEALTH, AgencyKind.GUARDIANSHIP),
         _SPECIAL, opens_case=True, apply=_apply_application,
         route=route_to(to_kind(AgencyKind.SOCIAL_PROTECTION, _SPECIAL, "application"))),
    Step(SpecialSocialServicesReviewed, kinds(AgencyKind.SOCIAL_PROTECTION), _SPECIAL,
         check=_check_review, apply=_apply_review, route=_route_review),
)
