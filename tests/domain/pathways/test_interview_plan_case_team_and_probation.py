"""Issue 15's gaps in seeds 002 and 003 and 6.7: the planned interview, the case team with its
responsible social worker, the child's own school and polyclinic on the written notice, and the
probation service's supervision reports. Pure: no broker, no I/O beyond the directory fixture."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from referral_bus.contracts.base import City
from referral_bus.contracts.events import CriminalCaseOpened, ReferralKind, ReferralMade
from referral_bus.contracts.justice_events import (
    ChildInterviewed,
    ChildInterviewPlanned,
    ChildRole,
    InterviewProfessional,
    PoliceCustodyStarted,
    ProbationOrdered,
    ProbationStatus,
    ProbationSupervisionReported,
)
from referral_bus.contracts.sla_records import DeadlineOpened, EscalationRaised
from referral_bus.contracts.violence_events import (
    MedicalWrittenNoticeSent,
    MultidisciplinaryEvaluationCompleted,
    ViolenceSuspectedByMedicalStaff,
)
from referral_bus.domain.agencies import AgencyKind, Directory, DirectoryError
from referral_bus.domain.authorization import authorize
from referral_bus.domain.deadlines.engine import DeadlineEngine
from referral_bus.domain.deadlines.rule_table import RULES
from referral_bus.domain.rejections import Code, Rejection
from tests.builders import T0, CaseFold, make
from tests.domain.deadlines.test_recurring import GRACE, Case, local

POLICE = "police-juvenile-almaty"
_SOP = "seed 002 SOP (2020)"


# -- 6.7: the interview is planned, so the CAM/CSC Social Worker can be there -----------------------

def _victim_case(directory: Directory) -> CaseFold:
    case = CaseFold(directory)
    case.add(make(ReferralMade, "school-almaty", referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY,
                  child_age_years=11))
    case.add(make(CriminalCaseOpened, POLICE, criminal_case_ref="CR-1"))
    return case


def _planned(ref: str = "INT-1", agency: str = POLICE) -> Any:
    return make(ChildInterviewPlanned, agency, interview_ref=ref, child_role=ChildRole.VICTIM,
                planned_for=T0 + timedelta(days=1), after_medical_examination=True)


def test_a_planned_interview_invites_the_cam_and_the_interview_quotes_the_plan(directory: Directory) -> None:
    case = _victim_case(directory)
    got = case.add(_planned())
    assert set(got) == {"cam-almaty"}
    assert (got["cam-almaty"].paragraph, got["cam-almaty"].purpose) == ("6.7", "invitation")
    assert case.rejects(_planned()).field == "interview_ref"                     # planned twice
    held = case.add(make(ChildInterviewed, POLICE, child_role=ChildRole.VICTIM, interview_ref="INT-1",
                         professionals_present=[InterviewProfessional.INVESTIGATOR,
                                                InterviewProfessional.CAM_SOCIAL_WORKER,
                                                InterviewProfessional.PEDAGOGUE]))
    assert set(held) == {"cam-almaty"}                                            # no deviation
    again = make(ChildInterviewed, POLICE, child_role=ChildRole.VICTIM, interview_ref="INT-1",
                 professionals_present=[InterviewProfessional.INVESTIGATOR])
    refused = case.rejects(again)                                                 # the plan was carried out
    assert (refused.code, refused.paragraph, refused.field) == (Code.ILLEGAL_TRANSITION, "6.7", "interview_ref")


def test_an_interview_quoting_no_plan_is_refused_and_an_unplanned_one_is_reported_as_such(
        directory: Directory) -> None:
    case = _victim_case(directory)
    assert case.rejects(make(ChildInterviewed, POLICE, child_role=ChildRole.VICTIM, interview_ref="INT-9",
                             professionals_present=[InterviewProfessional.INVESTIGATOR])).paragraph == "6.7"
    unplanned = case.add(make(ChildInterviewed, POLICE, child_role=ChildRole.VICTIM,
                              professionals_present=[InterviewProfessional.INVESTIGATOR,
                                                     InterviewProfessional.PSYCHOLOGIST]))
    (advice,) = unplanned["commission-almaty"].advice
    assert advice.startswith("6.7:") and "not planned on the bus beforehand" in advice
    case.add(_planned("INT-2"))
    planned = case.add(make(ChildInterviewed, POLICE, child_role=ChildRole.VICTIM, interview_ref="INT-2",
                            professionals_present=[InterviewProfessional.INVESTIGATOR,
                                                   InterviewProfessional.PSYCHOLOGIST]))
    (advice,) = planned["commission-almaty"].advice
    assert "planned and announced to the CAM/CSC" in advice                       # the CAM/CSC did not come


def test_only_law_enforcement_plans_an_investigative_interview(directory: Directory) -> None:
    with pytest.raises(Rejection) as caught:
        authorize(_planned(agency="school-almaty"), directory, None)
    assert (caught.value.code, caught.value.paragraph) == (Code.AGENCY_NOT_ALLOWED, "6.7")
    assert CaseFold(directory).rejects(_planned()).code is Code.UNKNOWN_CASE        # on a case only


# -- seed 002 SOP: the case team and its responsible social worker --------------------------------------

def _suspected(directory: Directory, producer: str = "health-almaty") -> CaseFold:
    case = CaseFold(directory)
    case.add(make(ViolenceSuspectedByMedicalStaff, producer, city=City.ALMATY, child_age_years=7))
    return case


def test_a_confirmed_evaluation_names_the_responsible_social_workers_agency_and_its_team(
        directory: Directory) -> None:
    case = _suspected(directory)
    got = case.add(make(MultidisciplinaryEvaluationCompleted, "health-almaty", violence_confirmed=True,
                        responsible_agency_id="polyclinic-almaty-no-9",
                        team_agency_ids=["social-protection-almaty"]))
    assert got["polyclinic-almaty-no-9"].purpose == "assignment"
    assert got["polyclinic-almaty-no-9"].paragraph.startswith(_SOP)
    assert {"social-protection-almaty", "police-juvenile-almaty", "cam-almaty", "guardianship-almaty"} <= set(got)
    assert case.state.violence.responsible_agency_id == "polyclinic-almaty-no-9"


def test_without_a_name_the_cam_is_responsible_and_a_cam_named_keeps_its_assignment(directory: Directory) -> None:
    case = _suspected(directory)
    case.add(make(MultidisciplinaryEvaluationCompleted, "health-almaty", violence_confirmed=True))
    assert case.state.violence.responsible_agency_id == "cam-almaty"
    case = _suspected(directory)
    got = case.add(make(MultidisciplinaryEvaluationCompleted, "health-almaty", violence_confirmed=True,
                        responsible_agency_id="cam-almaty"))
    assert got["cam-almaty"].purpose == "assignment"                              # once, as the assignment


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"responsible_agency_id": "nobody"}, Code.NO_RECIPIENT, "responsible_agency_id"),
    ({"responsible_agency_id": "police-juvenile-almaty"}, Code.ILLEGAL_TRANSITION, "responsible_agency_id"),
    ({"responsible_agency_id": "cam-shymkent"}, Code.ILLEGAL_TRANSITION, "responsible_agency_id"),
    ({"team_agency_ids": ["ghost"]}, Code.NO_RECIPIENT, "team_agency_ids[0]"),
    ({"team_agency_ids": ["school-almaty", "guardianship-shymkent"]}, Code.ILLEGAL_TRANSITION, "team_agency_ids[1]"),
])
def test_the_responsible_agency_and_the_team_are_checked_against_the_directory(
        directory: Directory, fields: dict[str, Any], code: Code, field: str) -> None:
    refused = _suspected(directory).rejects(make(MultidisciplinaryEvaluationCompleted, "health-almaty",
                                                 violence_confirmed=True, **fields))
    assert (refused.code, refused.paragraph, refused.field) == (code, _SOP, field)


def test_no_team_without_confirmed_violence() -> None:
    with pytest.raises(ValueError, match="responsible_agency_id: a case team is formed only when violence"):
        make(MultidisciplinaryEvaluationCompleted, "health-almaty", violence_confirmed=False,
             responsible_agency_id="cam-almaty")


# -- seed 002 SOP: the child's own (pre)school and polyclinic -----------------------------------------

def test_the_notice_reaches_the_childs_own_school_and_polyclinic(directory: Directory) -> None:
    case = _suspected(directory, "polyclinic-almaty-children-4")
    got = case.add(make(MedicalWrittenNoticeSent, "polyclinic-almaty-children-4",
                        school_agency_id="school-almaty-lyceum-121", polyclinic_agency_id="polyclinic-almaty-no-9"))
    assert set(got) == {"police-juvenile-almaty", "guardianship-almaty", "commission-almaty",
                        "social-protection-almaty", "school-almaty-lyceum-121", "polyclinic-almaty-no-9"}
    assert got["school-almaty-lyceum-121"].paragraph == _SOP
    # unnamed, they are the city's default school and health agencies (agencies.yaml, `default: true`)
    got = _suspected(directory, "polyclinic-almaty-children-4").add(
        make(MedicalWrittenNoticeSent, "polyclinic-almaty-children-4"))
    assert {"school-almaty", "health-almaty"} <= set(got)
    got = _suspected(directory, "polyclinic-almaty-children-4").add(
        make(MedicalWrittenNoticeSent, "polyclinic-almaty-children-4", attends_school=False))
    assert not {a for a in got if a.startswith("school-")}


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"school_agency_id": "school-shymkent-no-65"}, Code.ILLEGAL_TRANSITION, "school_agency_id"),   # another city
    ({"school_agency_id": "polyclinic-almaty-no-9"}, Code.ILLEGAL_TRANSITION, "school_agency_id"),  # not a school
    ({"polyclinic_agency_id": "school-almaty-no-38"}, Code.ILLEGAL_TRANSITION, "polyclinic_agency_id"),
    ({"polyclinic_agency_id": "no-such-polyclinic"}, Code.NO_RECIPIENT, "polyclinic_agency_id"),
])
def test_a_named_school_or_polyclinic_is_of_its_kind_and_serves_the_case_city(
        directory: Directory, fields: dict[str, Any], code: Code, field: str) -> None:
    refused = _suspected(directory).rejects(make(MedicalWrittenNoticeSent, "health-almaty", **fields))
    assert (refused.code, refused.paragraph, refused.field) == (code, _SOP, field)


def test_a_child_without_a_school_has_none_to_name() -> None:
    with pytest.raises(ValueError, match="school_agency_id"):
        make(MedicalWrittenNoticeSent, "health-almaty", attends_school=False, school_agency_id="school-almaty")


def test_the_sop_deadlines_are_owed_by_the_polyclinic_that_identified_the_child(directory: Directory) -> None:
    case = Case(DeadlineEngine(RULES, directory, grace=GRACE))
    out = case.add("ViolenceSuspectedByMedicalStaff", "polyclinic-almaty-no-9", local(2026, 3, 2, 22),
                   city="ALMATY", child_age_years=6)
    assert {r.responsible_agency_id for r in out if isinstance(r, DeadlineOpened)} == {"polyclinic-almaty-no-9"}
    fired = case.advance(local(2026, 3, 2, 23) + GRACE)
    # the first rung is the polyclinic's supervisor: the city's Health Department
    assert [(e.level, e.escalated_to_agency_id) for e in fired if isinstance(e, EscalationRaised)][0] == \
        (1, "health-almaty")


# -- the directory: several agencies of one kind in a city, one of them the default ------------------------

def test_the_default_agency_is_what_kind_level_routes_reach(directory: Directory) -> None:
    for city in City:
        assert directory.serving(AgencyKind.SCHOOL, city).default                     # type: ignore[union-attr]
        assert len([a for a in directory.of_kind(AgencyKind.HEALTH) if city in a.cities]) >= 2
    assert directory.serving(AgencyKind.SCHOOL, City.ALMATY).id == "school-almaty"  # type: ignore[union-attr]
    assert directory.serving(AgencyKind.HEALTH, City.SHYMKENT).id == "health-shymkent"  # type: ignore[union-attr]


def _two_schools(**marks: Any) -> dict[str, Any]:
    return {"agencies": [{"id": a, "kind": "school", "name": a.upper(), "cities": ["ALMATY"], **marks.get(a, {})}
                         for a in ("school-a", "school-b")]}


def test_several_of_a_kind_in_a_city_need_exactly_one_default() -> None:
    with pytest.raises(DirectoryError, match=r"2 school agencies serve ALMATY \(school-a, school-b\).*none is"):
        Directory.from_mapping(_two_schools())
    both = {"default": True}
    with pytest.raises(DirectoryError, match=r"2 are \(school-a, school-b\)"):
        Directory.from_mapping(_two_schools(**{"school-a": both, "school-b": both}))
    with pytest.raises(DirectoryError, match=r"agencies\[1\]: default must be true or false"):
        Directory.from_mapping(_two_schools(**{"school-b": {"default": "yes"}}))
    directory = Directory.from_mapping(_two_schools(**{"school-b": both}))
    assert directory.serving(AgencyKind.SCHOOL, City.ALMATY).id == "school-b"       # type: ignore[union-attr]
    single = Directory.from_mapping({"agencies": [{"id": "s", "kind": "school", "name": "S", "cities": ["ALMATY"]}]})
    assert single.serving(AgencyKind.SCHOOL, City.ALMATY).id == "s"                 # type: ignore[union-attr]


# -- seed 003: the probation service's supervision ------------------------------------------------------

def test_probation_supervision_reports_reach_the_court_and_the_cam_until_it_ends(directory: Directory) -> None:
    case = CaseFold(directory)
    report = make(ProbationSupervisionReported, "probation-almaty", criminal_case_ref="CR-7",
                  status=ProbationStatus.COMPLYING)
    case.add(make(PoliceCustodyStarted, POLICE, city=City.ALMATY, child_age_years=16, criminal_case_ref="CR-7"))
    refused = case.rejects(report)                                               # no order yet
    assert (refused.paragraph, refused.field) == ("seed 003 (probation supervision)", "criminal_case_ref")
    case.add(make(ProbationOrdered, "court-almaty", criminal_case_ref="CR-7", duration_months=6))
    got = case.add(report)
    assert set(got) == {"court-almaty", "cam-almaty"} and got["court-almaty"].purpose == "report"
    assert case.rejects(make(ProbationSupervisionReported, "probation-almaty", criminal_case_ref="CR-8",
                             status=ProbationStatus.COMPLYING)).field == "criminal_case_ref"
    case.add(make(ProbationSupervisionReported, "probation-almaty", criminal_case_ref="CR-7",
                  status=ProbationStatus.NOT_COMPLYING))
    case.add(make(ProbationSupervisionReported, "probation-almaty", criminal_case_ref="CR-7",
                  status=ProbationStatus.ENDED))
    assert case.rejects(report).field == "criminal_case_ref"                      # the supervision ended
    with pytest.raises(Rejection) as caught:
        authorize(make(ProbationSupervisionReported, "court-almaty", criminal_case_ref="CR-7",
                       status=ProbationStatus.COMPLYING), directory, None)
    assert caught.value.code is Code.AGENCY_NOT_ALLOWED
