"""A referral withdrawn by its referrer (issue 15: a duplicate, a mistake, the child found
elsewhere): only the agency that made it, only a referral on this case's log, once, and only before
the receiving agency acted on it (the initial assessment, 6.3; the NGO's decision, 5.18). Whoever
received the referral is told, under the paragraph it reached them by."""

from __future__ import annotations

import uuid

from referral_bus.contracts.base import City
from referral_bus.contracts.events import (
    AssessmentOutcome,
    EmergencyRemoval,
    EmergencyRemovalRequested,
    InitialAssessmentCompleted,
    NGODecision,
    NGODecisionKind,
    ReferralKind,
    ReferralMade,
    ReferralWithdrawn,
    SupportService,
    WithdrawalReason,
)
from referral_bus.domain.agencies import Directory
from referral_bus.domain.pathways.referral import WITHDRAWAL
from referral_bus.domain.rejections import Code
from tests.builders import CaseFold, make

SCHOOL, CAM, GUARDIANSHIP, NGO = "school-almaty", "cam-almaty", "guardianship-almaty", "ngo-rodnik"


def referral(agency: str = SCHOOL, *, age: int = 7, kind: ReferralKind = ReferralKind.CHILD_PROTECTION,
             **fields: object) -> ReferralMade:
    if kind is ReferralKind.NGO_SUPPORT:
        fields.setdefault("services_requested", [SupportService.SOCIAL])
    return make(ReferralMade, agency, referral_kind=kind, city=City.ALMATY, child_age_years=age,  # type: ignore[return-value]
                **fields)


def withdrawal(of: ReferralMade | uuid.UUID, agency: str = SCHOOL,
               reason: WithdrawalReason = WithdrawalReason.DUPLICATE) -> ReferralWithdrawn:
    referral_id = of if isinstance(of, uuid.UUID) else of.envelope.event_id
    return make(ReferralWithdrawn, agency, referral_event_id=referral_id, reason=reason)  # type: ignore[return-value]


def referred(directory: Directory, made: ReferralMade) -> CaseFold:
    case = CaseFold(directory)
    case.add(made)
    return case


def test_the_referrer_withdraws_and_the_cam_and_guardianship_are_told(directory: Directory) -> None:
    made = referral()
    case = referred(directory, made)
    got = case.add(withdrawal(made, reason=WithdrawalReason.CHILD_FOUND_ELSEWHERE))
    assert {a: (d.paragraph, d.purpose, d.redacted) for a, d in got.items()} == {
        CAM: ("4.5(b)(i), 4.6", "referral withdrawn", False),
        GUARDIANSHIP: ("4.5(b)(ii)", "referral withdrawn", False)}
    assert case.state.referrals[made.envelope.event_id].withdrawn
    assert SCHOOL not in case.state.referrers()   # owed no outcome of a referral it withdrew (6.21–6.24)


def test_a_referral_under_three_is_withdrawn_from_the_guardianship(directory: Directory) -> None:
    made = referral(age=2)
    got = referred(directory, made).add(withdrawal(made, reason=WithdrawalReason.MADE_IN_ERROR))
    assert {a: d.paragraph for a, d in got.items()} == {GUARDIANSHIP: "4.5(a)"}


def test_a_withdrawn_ngo_request_is_owed_no_decision(directory: Directory) -> None:
    made = referral(kind=ReferralKind.NGO_SUPPORT)
    case = referred(directory, made)
    got = case.add(withdrawal(made, reason=WithdrawalReason.NO_LONGER_NEEDED))
    assert {a: (d.paragraph, d.purpose) for a, d in got.items()} == {NGO: ("5.2, 5.15", "referral withdrawn")}
    refused = case.rejects(make(NGODecision, NGO, decision=NGODecisionKind.ACCEPTED))
    assert (refused.code, refused.paragraph) == (Code.ILLEGAL_TRANSITION, "5.18")


def test_an_oral_request_is_withdrawn_by_its_referrer_or_the_ngo_that_recorded_it(directory: Directory) -> None:
    oral = referral(NGO, kind=ReferralKind.NGO_SUPPORT, on_behalf_of_agency_id=SCHOOL)
    by_school = referred(directory, oral).add(withdrawal(oral, SCHOOL))
    assert {a: d.paragraph for a, d in by_school.items()} == {NGO: "5.2, 5.15"}
    by_ngo = referred(directory, oral).add(withdrawal(oral, NGO))
    assert {a: d.paragraph for a, d in by_ngo.items()} == {SCHOOL: "5.16–5.17"}   # the referrer learns of it


def test_only_the_referrer_may_withdraw(directory: Directory) -> None:
    made = referral()
    case = referred(directory, made)
    refused = case.rejects(withdrawal(made, "health-almaty"))
    assert (refused.code, refused.paragraph, refused.field) == (
        Code.NOT_THE_REFERRER, WITHDRAWAL, "envelope.producer.agency_id")
    assert SCHOOL in refused.message
    # the CAM it went to cannot withdraw it either: it acts on it (6.3) or the case is closed (6.22)
    assert case.rejects(withdrawal(made, CAM)).code is Code.NOT_THE_REFERRER


def test_only_a_referral_on_this_cases_log(directory: Directory) -> None:
    case = referred(directory, referral())
    unknown = case.rejects(withdrawal(uuid.uuid4()))
    assert (unknown.code, unknown.paragraph, unknown.field) == (Code.UNKNOWN_REFERRAL, WITHDRAWAL, "referral_event_id")
    other_case = referral()
    assert case.rejects(withdrawal(other_case)).code is Code.UNKNOWN_REFERRAL
    removal = make(EmergencyRemoval, "police-juvenile-almaty", city=City.ALMATY, child_age_years=7,
                   child_removed=True, cam_social_worker_present=True)
    case.add(removal)   # on the log, but not a referral
    assert case.rejects(withdrawal(removal.envelope.event_id, "police-juvenile-almaty")).code is Code.UNKNOWN_REFERRAL


def test_a_withdrawal_on_an_unknown_case_is_refused(directory: Directory) -> None:
    refused = CaseFold(directory).rejects(withdrawal(uuid.uuid4()))
    assert refused.code is Code.UNKNOWN_CASE


def test_a_referral_is_withdrawn_once(directory: Directory) -> None:
    made = referral()
    case = referred(directory, made)
    case.add(withdrawal(made))
    refused = case.rejects(withdrawal(made))
    assert (refused.code, refused.paragraph) == (Code.REFERRAL_ALREADY_WITHDRAWN, WITHDRAWAL)


def test_not_after_the_initial_assessment_answered_it(directory: Directory) -> None:
    made = referral()
    case = referred(directory, made)
    case.add(make(InitialAssessmentCompleted, CAM, outcome=AssessmentOutcome.NO_CONCERN))
    refused = case.rejects(withdrawal(made))
    assert (refused.code, refused.paragraph, refused.field) == (
        Code.REFERRAL_ALREADY_ACTED_ON, "6.3", "referral_event_id")
    # a duplicate made after the assessment was never assessed: it may go
    duplicate = referral("police-juvenile-almaty")
    case.add(duplicate)
    assert set(case.add(withdrawal(duplicate, "police-juvenile-almaty"))) == {CAM, GUARDIANSHIP}


def test_not_after_the_ngo_decided(directory: Directory) -> None:
    made = referral(kind=ReferralKind.NGO_SUPPORT)
    case = referred(directory, made)
    case.add(make(NGODecision, NGO, decision=NGODecisionKind.DECLINED_NO_SPACE, reasons="no places this month"))
    refused = case.rejects(withdrawal(made))
    assert (refused.code, refused.paragraph) == (Code.REFERRAL_ALREADY_ACTED_ON, "5.18")


# -- 4.7: a removal request withdrawn by its requester (issue 15) --------------------------------------
POLICE = "police-juvenile-almaty"


def removal_request(agency: str = SCHOOL, *, age: int = 7) -> EmergencyRemovalRequested:
    return make(EmergencyRemovalRequested, agency, city=City.ALMATY,  # type: ignore[return-value]
                child_age_years=age)


def test_the_requester_withdraws_a_removal_request_and_4_7s_recipients_are_told(directory: Directory) -> None:
    request = removal_request()
    case = referred(directory, request)   # type: ignore[arg-type]
    assert SCHOOL in case.state.referrers()
    got = case.add(withdrawal(request.envelope.event_id, reason=WithdrawalReason.NO_LONGER_NEEDED))
    assert {a: (d.paragraph, d.purpose) for a, d in got.items()} == {
        GUARDIANSHIP: ("4.7(a)", "removal request withdrawn"), POLICE: ("4.7(b)", "removal request withdrawn"),
        CAM: ("4.7(c)", "removal request withdrawn")}
    assert case.state.referrals[request.envelope.event_id].withdrawn
    assert SCHOOL not in case.state.referrers()   # owed no outcome of a request it withdrew


def test_only_the_requester_withdraws_a_removal_request(directory: Directory) -> None:
    request = removal_request()
    case = referred(directory, request)   # type: ignore[arg-type]
    for other in (POLICE, CAM, "health-almaty"):
        refused = case.rejects(withdrawal(request.envelope.event_id, other))
        assert (refused.code, refused.paragraph, refused.field) == (
            Code.NOT_THE_REFERRER, WITHDRAWAL, "envelope.producer.agency_id")


def test_a_removal_request_is_withdrawn_once(directory: Directory) -> None:
    request = removal_request()
    case = referred(directory, request)   # type: ignore[arg-type]
    case.add(withdrawal(request.envelope.event_id))
    refused = case.rejects(withdrawal(request.envelope.event_id))
    assert (refused.code, refused.paragraph, refused.field) == (
        Code.REFERRAL_ALREADY_WITHDRAWN, WITHDRAWAL, "referral_event_id")


def test_not_after_the_police_acted_on_the_removal_request(directory: Directory) -> None:
    request = removal_request()
    case = referred(directory, request)   # type: ignore[arg-type]
    case.add(make(EmergencyRemoval, POLICE, city=City.ALMATY, child_age_years=7, child_removed=False,
                  cam_social_worker_present=True))   # the visit, even without a removal, answers it
    refused = case.rejects(withdrawal(request.envelope.event_id))
    assert (refused.code, refused.paragraph, refused.field) == (
        Code.REFERRAL_ALREADY_ACTED_ON, "4.7–4.8", "referral_event_id")
    assert "police" in refused.message
    # a second request made after that removal has not been acted on: it may go
    later = removal_request("health-almaty")
    case.add(later)
    assert set(case.add(withdrawal(later.envelope.event_id, "health-almaty"))) == {GUARDIANSHIP, POLICE, CAM}


def test_a_removal_request_of_another_case_is_unknown(directory: Directory) -> None:
    case = referred(directory, referral())
    refused = case.rejects(withdrawal(removal_request().envelope.event_id))
    assert (refused.code, refused.paragraph, refused.field) == (Code.UNKNOWN_REFERRAL, WITHDRAWAL, "referral_event_id")
    assert "EmergencyRemovalRequested" in refused.message
