"""Steps around the core's removals and criminal cases: a professional's request for an emergency
removal (4.7), the Guardianship's request for a court claim (4.7, Family Code art. 82), joint
handling agreed between police and CAM/CSC (6.5–6.6, 6.13) and progress reports on a criminal case
(6.25)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...contracts.events import CriminalCaseUpdated, EmergencyRemovalRequested, JointHandlingAgreed
from ..agencies import AgencyKind
from .base import Step, illegal, route_to, to_kind

if TYPE_CHECKING:
    from ..case import CaseState


def _apply_request(event: EmergencyRemovalRequested, state: "CaseState") -> None:
    state.child_protection_referrers.append(event.envelope.producer.agency_id)   # owed the outcome (6.21–6.23)
    state.referred_to_cam = True   # 4.7(c)


def _check_court_claim(event: object, state: "CaseState") -> None:
    if not state.child_removed:
        raise illegal("the claim under Family Code art. 82 follows the removal of the child, and no child has been "
                      "removed on this case", "4.7 (Family Code art. 82)")


def _check_criminal_ref(event: CriminalCaseUpdated | JointHandlingAgreed, state: "CaseState") -> None:
    if event.criminal_case_ref not in state.open_criminal_cases:
        raise illegal(f"no open criminal case {event.criminal_case_ref} on this case", "6.25" if isinstance(
            event, CriminalCaseUpdated) else "6.5–6.6", "criminal_case_ref")


def _check_joint(event: JointHandlingAgreed, state: "CaseState") -> None:
    if not state.referred_to_cam:
        raise illegal("joint handling is agreed between the police and the CAM/CSC the child was referred to",
                      "6.6")
    _check_criminal_ref(event, state)
    if event.interview_led_by not in ("police", "cam-csc"):
        raise illegal("interview_led_by is police or cam-csc", "6.6", "interview_led_by")


STEPS: dict[str, Step] = {
    "EmergencyRemovalRequested": Step(None, _apply_request, route_to(
        to_kind(AgencyKind.GUARDIANSHIP, "4.7(a)", "notification"),
        to_kind(AgencyKind.POLICE, "4.7(b)", "removal request"),
        to_kind(AgencyKind.CAM_CSC, "4.7(c)", "referral"))),
    "CourtClaimRequested": Step(_check_court_claim, None, route_to(
        to_kind(AgencyKind.COMMISSION, "4.7 (Family Code art. 82)", "request"))),
    "CriminalCaseUpdated": Step(_check_criminal_ref, None, route_to(
        to_kind(AgencyKind.CAM_CSC, "6.25", "notification"))),
    "JointHandlingAgreed": Step(_check_joint, None, route_to(
        to_kind(AgencyKind.CAM_CSC, "6.6, 6.13", "notification"), to_kind(AgencyKind.POLICE, "6.6, 6.13",
                                                                              "notification"))),
}
