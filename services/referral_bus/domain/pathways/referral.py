"""Part 4 of Annex B: referrals and emergency removals — who is referred where (4.5–4.6), the
removal and its notifications (4.7), the inspector's 3-hour report (4.8), the prosecutor's notice
(4.9); and the NGO referral request of Part 5 (5.2, 5.14–5.17), which is a referral too."""

from __future__ import annotations

from referral_bus.contracts.events import (
    EmergencyRemoval,
    GuardianshipNotified,
    ProsecutorNotified,
    ReferralKind,
    ReferralMade,
    RemovalOutcomeReported,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.deliveries import Delivery, agency_of
from referral_bus.domain.pathways.base import (
    ANYONE,
    Step,
    illegal,
    kinds,
    route_to,
    to_kind,
)
from referral_bus.domain.pathways.ngo import admission_advice, check_on_behalf_of


# -- 4.5, 5.2: a referral ---------------------------------------------------------------------------
def _apply_referral(event: ReferralMade, state: CaseState, directory: Directory | None = None) -> None:
    state.closed = False   # a new referral reopens a closed case
    state.age_disputed |= event.age_disputed
    if event.referral_kind is ReferralKind.CHILD_PROTECTION:
        state.child_protection_referrers.append(event.envelope.producer.agency_id)
        if event.child_age_years >= 3:
            state.referred_to_cam = True
        return
    ngo = directory.serving(AgencyKind.NGO, event.city) if directory else None
    ngo_id = ngo.id if ngo else ""
    state.ngo_referrals_pending[event.envelope.event_id] = ngo_id
    # 5.14–5.17: an oral request recorded by the NGO names the referrer owed the decision
    state.ngo_referrers[ngo_id] = event.on_behalf_of_agency_id or event.envelope.producer.agency_id


def _route_referral(event: ReferralMade, state: CaseState, directory: Directory) -> list[Delivery]:
    city = event.city
    if event.referral_kind is ReferralKind.NGO_SUPPORT:
        producer = directory.get(event.envelope.producer.agency_id)
        if event.on_behalf_of_agency_id is not None:
            check_on_behalf_of(event, producer.kind if producer else None, directory)
        advice = admission_advice(event, producer.kind.value if producer else None)
        return [Delivery(agency_of(directory, AgencyKind.NGO, city, "5.15"), "5.2, 5.15", "referral", advice=advice)]
    if event.child_age_years < 3:
        return [Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "4.5(a)"), "4.5(a)", "referral")]
    return [Delivery(agency_of(directory, AgencyKind.CAM_CSC, city, "4.6"), "4.5(b)(i), 4.6", "referral"),
            Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "4.5(b)(ii)"), "4.5(b)(ii)", "notification")]


def _check_guardianship_notice(event: GuardianshipNotified, state: CaseState) -> None:
    if not state.referred_to_cam:
        raise illegal("the Guardianship notice of 4.5(b)(ii) follows a referral of a child aged 3 or above to the "
                      "CAM/CSC, and this case has none", "4.5(b)(ii)")


# -- 4.7–4.9: an emergency removal --------------------------------------------------------------------
def _apply_removal(event: EmergencyRemoval, state: CaseState, directory: Directory | None = None) -> None:
    state.removal_producers.append(event.envelope.producer.agency_id)
    state.removals_unreported.append(event.envelope.event_id)
    if event.child_removed:
        state.child_removed = True
        state.referred_to_cam = True  # 4.7(c), 4.10


def _check_outcome_report(event: RemovalOutcomeReported, state: CaseState) -> None:
    if not state.removals_unreported:
        raise illegal("no emergency removal on this case awaits its outcome report", "4.8")


def _apply_outcome_report(event: RemovalOutcomeReported, state: CaseState, directory: Directory | None = None) -> None:
    if state.removals_unreported:
        state.removals_unreported.pop(0)
    if event.child_removed:
        state.child_removed = True
        state.referred_to_cam = True


def _check_prosecutor_notice(event: ProsecutorNotified, state: CaseState) -> None:
    if not state.child_removed:
        raise illegal("the prosecutor is notified of a removal, and no child has been removed on this case", "4.9")


STEPS: tuple[Step, ...] = (
    Step(ReferralMade, ANYONE, "4.5, 5.2",   # "a professional" — any agency
         apply=_apply_referral, route=_route_referral, opens_case=True, reopens_case=True),
    Step(GuardianshipNotified, ANYONE, "4.5(b)(ii)",
         check=_check_guardianship_notice,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "4.5(b)(ii)", "notification"))),
    Step(EmergencyRemoval, kinds(AgencyKind.POLICE, AgencyKind.GUARDIANSHIP, AgencyKind.CAM_CSC), "4.7–4.8",
         apply=_apply_removal, opens_case=True,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "4.7(a)", "notification"),
                        to_kind(AgencyKind.POLICE, "4.7(b)", "notification"),
                        to_kind(AgencyKind.CAM_CSC, "4.7(c)", "referral"))),
    Step(RemovalOutcomeReported, kinds(AgencyKind.POLICE), "4.8",
         check=_check_outcome_report, apply=_apply_outcome_report,
         route=route_to(to_kind(AgencyKind.CAM_CSC, "4.8", "notification"))),
    Step(ProsecutorNotified, kinds(AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP), "4.9",
         check=_check_prosecutor_notice, route=route_to(to_kind(AgencyKind.PROSECUTOR, "4.9", "notification"))),
)
