"""Steps around the core's removals and criminal cases: a professional's request for an emergency
removal (4.7), the Guardianship's request for a court claim (4.7, Family Code art. 82), joint
handling agreed between police and CAM/CSC (6.5–6.6, 6.13) and progress reports on a criminal case
(6.25). A removal request may be withdrawn by its requester until the police act on it, and an
out-of-area child's home city is told of it (bus rules, issue 15: ``pathways/referral.py``, ``base.py``)."""

from __future__ import annotations

from referral_bus.contracts.events import (
    CourtClaimRequested,
    CriminalCaseUpdated,
    EmergencyRemovalRequested,
    JointHandlingAgreed,
    ReferralKind,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState, ReferralRecord
from referral_bus.domain.pathways.base import (
    ANYONE,
    Step,
    illegal,
    kinds,
    note_home_city,
    route_to,
    to_kind,
    with_home_city,
)


def _apply_request(event: EmergencyRemovalRequested, state: CaseState, directory: Directory | None = None) -> None:
    state.child_protection_referrers.append(event.envelope.producer.agency_id)   # owed the outcome (6.21–6.23)
    state.referred_to_cam = True   # 4.7(c)
    note_home_city(event, state)   # issue 15: an out-of-area child's home city, told of the request
    # issue 15: its requester may withdraw it (ReferralWithdrawn) until the police act on it (4.7–4.8)
    state.referrals[event.envelope.event_id] = ReferralRecord(
        event.envelope.producer.agency_id, ReferralKind.CHILD_PROTECTION, event.city, event.child_age_years,
        position=len(state.event_types), removal_request=True)


def _check_court_claim(event: object, state: CaseState) -> None:
    if not state.child_removed:
        raise illegal("the claim under Family Code art. 82 follows the removal of the child, and no child has been "
                      "removed on this case", "4.7 (Family Code art. 82)")


def _check_criminal_ref(event: CriminalCaseUpdated | JointHandlingAgreed, state: CaseState) -> None:
    if event.criminal_case_ref not in state.open_criminal_cases:
        raise illegal(f"no open criminal case {event.criminal_case_ref} on this case", "6.25" if isinstance(
            event, CriminalCaseUpdated) else "6.5–6.6", "criminal_case_ref")


def _check_joint(event: JointHandlingAgreed, state: CaseState) -> None:
    if not state.referred_to_cam:
        raise illegal("joint handling is agreed between the police and the CAM/CSC the child was referred to",
                      "6.6")
    _check_criminal_ref(event, state)
    if event.interview_led_by not in ("police", "cam-csc"):
        raise illegal("interview_led_by is police or cam-csc", "6.6", "interview_led_by")


STEPS: tuple[Step, ...] = (
    Step(EmergencyRemovalRequested, ANYONE, "4.7",   # "whenever a professional believes …"
         apply=_apply_request, opens_case=True,
         route=with_home_city(route_to(to_kind(AgencyKind.GUARDIANSHIP, "4.7(a)", "notification"),
                                       to_kind(AgencyKind.POLICE, "4.7(b)", "removal request"),
                                       to_kind(AgencyKind.CAM_CSC, "4.7(c)", "referral")), "4.7")),
    Step(CourtClaimRequested, kinds(AgencyKind.GUARDIANSHIP), "4.7 (Family Code art. 82)",
         check=_check_court_claim,
         route=route_to(to_kind(AgencyKind.COMMISSION, "4.7 (Family Code art. 82)", "request"))),
    Step(CriminalCaseUpdated, kinds(AgencyKind.POLICE, AgencyKind.PROSECUTOR), "6.25",
         check=_check_criminal_ref, route=route_to(to_kind(AgencyKind.CAM_CSC, "6.25", "notification"))),
    Step(JointHandlingAgreed, kinds(AgencyKind.CAM_CSC, AgencyKind.POLICE), "6.5–6.6, 6.13",
         check=_check_joint, route=route_to(to_kind(AgencyKind.CAM_CSC, "6.6, 6.13", "notification"),
                                            to_kind(AgencyKind.POLICE, "6.6, 6.13", "notification"))),
)
