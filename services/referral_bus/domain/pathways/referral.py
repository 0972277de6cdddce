"""Part 4 of Annex B: referrals and emergency removals — who is referred where (4.5–4.6), the
removal and its notifications (4.7), the inspector's 3-hour report (4.8), the prosecutor's notice
(4.9); and the NGO referral request of Part 5 (5.2, 5.14–5.17), which is a referral too. A referral
may be withdrawn by its referrer before anyone acted on it, and a removal request (4.7) by its requester
before the police acted on it (a bus rule, issue 15). A child found out of area — its family and case
in another city — is referred where it is, and its home city is told (a bus rule modelled on the UK's
CP-IS, issue 15: ``pathways/base.py``, ``with_home_city``)."""

from __future__ import annotations

from uuid import UUID

from referral_bus.contracts.events import (
    EmergencyRemoval,
    GuardianshipNotified,
    ProsecutorNotified,
    ReferralKind,
    ReferralMade,
    ReferralWithdrawn,
    RemovalOutcomeReported,
)
from referral_bus.domain.agencies import AgencyKind, Directory
from referral_bus.domain.case_state import CaseState, ReferralRecord
from referral_bus.domain.deliveries import Delivery, agency_of
from referral_bus.domain.pathways.base import (
    ANYONE,
    Step,
    already_notified,
    illegal,
    kinds,
    note_home_city,
    route_to,
    to_home_city,
    to_kind,
    with_home_city,
)
from referral_bus.domain.pathways.ngo import admission_advice, check_on_behalf_of
from referral_bus.domain.rejections import Code, Rejection


# -- 4.5, 5.2: a referral ---------------------------------------------------------------------------
def _apply_referral(event: ReferralMade, state: CaseState, directory: Directory | None = None) -> None:
    state.closed = False   # a new referral reopens a closed case
    state.age_disputed |= event.age_disputed
    # issue 15: an out-of-area child's home city (told of child protection referrals only)
    note_home_city(event, state, notified=event.referral_kind is ReferralKind.CHILD_PROTECTION)
    state.referrals[event.envelope.event_id] = ReferralRecord(   # issue 15: its referrer may withdraw it
        event.envelope.producer.agency_id, event.referral_kind, event.city, event.child_age_years,
        event.on_behalf_of_agency_id, len(state.event_types))
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


def _check_referral(event: ReferralMade, state: CaseState) -> None:
    """4.5, 5.2, 5.8, 5.11: the cause or need is identified before the referral it leads to, never after."""
    if event.need_identified_at is not None and event.need_identified_at > event.envelope.occurred_at:
        if event.referral_kind is ReferralKind.CHILD_PROTECTION:
            raise illegal("need_identified_at is after the referral (occurred_at): a professional refers the child "
                          "once the reasonable cause is formed, immediately", "4.5", "need_identified_at")
        raise illegal("need_identified_at is after the referral (occurred_at): the referral request follows the "
                      "identification of the need within 1 working day", "5.2, 5.8, 5.11", "need_identified_at")


def _route_referral(event: ReferralMade, state: CaseState, directory: Directory) -> list[Delivery]:
    if event.referral_kind is ReferralKind.NGO_SUPPORT:
        # a request for voluntary NGO services (5.17(f)) is not a child protection contact: the home
        # city is not told of it (its home_city is still folded into the case)
        producer = directory.get(event.envelope.producer.agency_id)
        if event.on_behalf_of_agency_id is not None:
            check_on_behalf_of(event, producer.kind if producer else None, directory)
        advice = admission_advice(event, producer.kind.value if producer else None)
        return [Delivery(agency_of(directory, AgencyKind.NGO, event.city, "5.15"), "5.2, 5.15", "referral",
                         advice=advice)]
    return _route_child_protection(event, state, directory)


def _route_where_the_child_is(event: ReferralMade, state: CaseState, directory: Directory) -> list[Delivery]:
    """4.5, 4.6: the City/Oblast in which the child is located."""
    city = event.city
    if event.child_age_years < 3:
        return [Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "4.5(a)"), "4.5(a)", "referral")]
    return [Delivery(agency_of(directory, AgencyKind.CAM_CSC, city, "4.6"), "4.5(b)(i), 4.6", "referral"),
            Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "4.5(b)(ii)"), "4.5(b)(ii)", "notification")]


#: issue 15: and the out-of-area child's home city is told (CP-IS)
_route_child_protection = with_home_city(_route_where_the_child_is, "4.5, 4.6")


def _check_guardianship_notice(event: GuardianshipNotified, state: CaseState) -> None:
    if not state.referred_to_cam:
        raise illegal("the Guardianship notice of 4.5(b)(ii) follows a referral of a child aged 3 or above to the "
                      "CAM/CSC, and this case has none", "4.5(b)(ii)")


# -- 4.7–4.9: an emergency removal --------------------------------------------------------------------
def _apply_removal(event: EmergencyRemoval, state: CaseState, directory: Directory | None = None) -> None:
    note_home_city(event, state)   # issue 15
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


def _route_outcome_report(event: RemovalOutcomeReported, state: CaseState, directory: Directory) -> list[Delivery]:
    """4.8: to the CAM/CSC; an out-of-area child's home city learns the outcome, redacted (issue 15, 6.24)."""
    return [to_kind(AgencyKind.CAM_CSC, "4.8", "notification")(event, state, directory)] + to_home_city(
        event, state, directory, "4.8")


def _check_prosecutor_notice(event: ProsecutorNotified, state: CaseState) -> None:
    if not state.child_removed:
        raise illegal("the prosecutor is notified of a removal, and no child has been removed on this case", "4.9")


# -- issue 15: the referrer withdraws its referral --------------------------------------------------
#: Annex B has no paragraph on withdrawing a referral: the bus's own rule, named in its refusals.
WITHDRAWAL = "referral withdrawal (bus rule, issue 15)"


def _acted_on(referral: ReferralRecord, referral_id: UUID, state: CaseState) -> tuple[str, str] | None:
    """(what happened, its paragraph) when the receiving agency already acted on the referral, so
    that withdrawing it means nothing: the NGO decided (5.18) or closed its file, the CAM/CSC
    completed the initial assessment after it (6.3); for a removal request (4.7), the police visited
    to remove the child (an EmergencyRemoval after it, 4.7–4.8)."""
    later = state.event_types[referral.position:]
    if referral.removal_request:
        if "EmergencyRemoval" in later:
            return "the police have already acted on the removal request (an EmergencyRemoval followed it)", "4.7–4.8"
        return None
    if referral.kind is ReferralKind.NGO_SUPPORT:
        if referral_id not in state.ngo_referrals_pending:
            return "the NGO has already decided on the request (or closed its file)", "5.18"
        return None
    if "InitialAssessmentCompleted" in later:
        return "the CAM/CSC has already completed the initial assessment it asked for", "6.3"
    return None


def _check_withdrawal(event: ReferralWithdrawn, state: CaseState) -> None:
    referral = state.referrals.get(event.referral_event_id)
    if referral is None:
        raise Rejection(Code.UNKNOWN_REFERRAL, f"no referral {event.referral_event_id} is on the log of case "
                        f"{state.case_id} (a withdrawal names the event id of a ReferralMade, or of an "
                        "EmergencyRemovalRequested, on the same case)",
                        paragraph=WITHDRAWAL, field="referral_event_id")
    agency = event.envelope.producer.agency_id
    if agency not in referral.referrers:
        raise Rejection(Code.NOT_THE_REFERRER, f"{agency} did not make referral {event.referral_event_id}; only its "
                        f"referrer ({', '.join(sorted(referral.referrers))}) may withdraw it",
                        paragraph=WITHDRAWAL, field="envelope.producer.agency_id")
    if referral.withdrawn:
        raise Rejection(Code.REFERRAL_ALREADY_WITHDRAWN, f"referral {event.referral_event_id} is already withdrawn",
                        paragraph=WITHDRAWAL, field="referral_event_id")
    acted = _acted_on(referral, event.referral_event_id, state)
    if acted is not None:
        raise Rejection(Code.REFERRAL_ALREADY_ACTED_ON, f"referral {event.referral_event_id} can no longer be "
                        f"withdrawn: {acted[0]}", paragraph=acted[1], field="referral_event_id")


def _apply_withdrawal(event: ReferralWithdrawn, state: CaseState, directory: Directory | None = None) -> None:
    referral = state.referrals.get(event.referral_event_id)
    if referral is None:
        return
    referral.withdrawn = True
    state.ngo_referrals_pending.pop(event.referral_event_id, None)   # no NGO decision is owed on it (5.18)
    if referral.kind is ReferralKind.CHILD_PROTECTION and referral.producer in state.child_protection_referrers:
        state.child_protection_referrers.remove(referral.producer)   # owed no outcome of it (6.21–6.24)


def _route_withdrawal(event: ReferralWithdrawn, state: CaseState, directory: Directory) -> list[Delivery]:
    """Whoever received the referral is told, under the paragraph it was delivered under; the home city
    of an out-of-area child, told of a child protection referral or removal request, is told too."""
    referral = state.referrals.get(event.referral_event_id)
    if referral is None:
        return []
    purpose, city = "referral withdrawn", referral.city
    if referral.removal_request:   # 4.7(a)–(c): the Guardianship, the juvenile inspection, the CAM/CSC
        purpose = "removal request withdrawn"
        return [Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "4.7(a)"), "4.7(a)", purpose),
                Delivery(agency_of(directory, AgencyKind.POLICE, city, "4.7(b)"), "4.7(b)", purpose),
                Delivery(agency_of(directory, AgencyKind.CAM_CSC, city, "4.7(c)"), "4.7(c)", purpose),
                *to_home_city(event, state, directory, "4.7", purpose)]
    if referral.kind is ReferralKind.NGO_SUPPORT:
        out = [Delivery(agency_of(directory, AgencyKind.NGO, city, "5.15"), "5.2, 5.15", purpose)]
        if referral.on_behalf_of:   # the NGO withdrew an oral request it recorded: the referrer is told
            out.append(Delivery(referral.on_behalf_of, "5.16–5.17", purpose))
        return out
    home = to_home_city(event, state, directory, "4.5, 4.6", purpose)
    if referral.child_age_years < 3:
        return [Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "4.5(a)"), "4.5(a)", purpose), *home]
    return [Delivery(agency_of(directory, AgencyKind.CAM_CSC, city, "4.6"), "4.5(b)(i), 4.6", purpose),
            Delivery(agency_of(directory, AgencyKind.GUARDIANSHIP, city, "4.5(b)(ii)"), "4.5(b)(ii)", purpose), *home]


STEPS: tuple[Step, ...] = (
    Step(ReferralMade, ANYONE, "4.5, 5.2",   # "a professional" — any agency
         check=_check_referral, apply=_apply_referral, route=_route_referral, opens_case=True, reopens_case=True),
    # any agency that referred; the check says whether this one made the referral
    Step(ReferralWithdrawn, ANYONE, WITHDRAWAL,
         check=_check_withdrawal, apply=_apply_withdrawal, route=_route_withdrawal),
    Step(GuardianshipNotified, ANYONE, "4.5(b)(ii)",
         check=_check_guardianship_notice,
         route=route_to(to_kind(AgencyKind.GUARDIANSHIP, "4.5(b)(ii)", "notification"))),
    # issue 15: an out-of-area child's home city is told — with the child's details, or redacted (an
    # outcome, 6.24) when an earlier contact on the case already told it of the child
    Step(EmergencyRemoval, kinds(AgencyKind.POLICE, AgencyKind.GUARDIANSHIP, AgencyKind.CAM_CSC), "4.7–4.8",
         apply=_apply_removal, opens_case=True,
         route=with_home_city(route_to(to_kind(AgencyKind.GUARDIANSHIP, "4.7(a)", "notification"),
                                       to_kind(AgencyKind.POLICE, "4.7(b)", "notification"),
                                       to_kind(AgencyKind.CAM_CSC, "4.7(c)", "referral")),
                              "4.7–4.8", redacted=already_notified)),
    Step(RemovalOutcomeReported, kinds(AgencyKind.POLICE), "4.8",
         check=_check_outcome_report, apply=_apply_outcome_report, route=_route_outcome_report),
    Step(ProsecutorNotified, kinds(AgencyKind.CAM_CSC, AgencyKind.GUARDIANSHIP), "4.9",
         check=_check_prosecutor_notice, route=route_to(to_kind(AgencyKind.PROSECUTOR, "4.9", "notification"))),
)
