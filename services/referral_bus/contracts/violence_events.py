"""Case events of the violence-against-children pathway of seed 002 (formative evaluation,
2011–2020): the 2020 Standard Operating Procedure for medical staff, the child helplines, and
school screening. Section references are to seed 002."""

from __future__ import annotations

from enum import Enum

from pydantic import Field, model_validator

from referral_bus.contracts.base import HOME_CITY, AgencyId, ChildAge, City, Event, PersonalText, RuleViolation


class ViolenceSuspectedByMedicalStaff(Event):
    """Seed 002, SOP for medical staff (Nov 2020): violence against a child is suspected or
    identified; the head of the medical organisation must send written information within 1 day
    and have the child's condition evaluated by a multidisciplinary team within 1 hour."""

    city: City = Field(
        description="Seed 002 SOP: the City/Oblast of the medical organisation where the child is; its agencies "
                    "receive the written notice")
    child_age_years: ChildAge = Field(
        description="The child's age in whole years, 0–17 (Annex B, part 2); under 3 the city's Guardianship, from 3 "
                    "its CAM/CSC is the child protection agency (4.5)")
    identified_by_emergency_service: bool = Field(
        default=False, description="Seed 002 SOP: violence was identified by an emergency service, for which the SOP "
                                   "names the child's polyclinic or another medical institution among those told")
    home_city: City | None = Field(default=None, description=HOME_CITY)   # issue 15: out-of-area child


class MedicalWrittenNoticeSent(Event):
    """Seed 002 SOP: the written notice to the police (102), Guardianship, Commission on Issues of
    Minors, social protection, the child's (pre)school and polyclinic — within 1 day. The bus
    delivers it to each of them: to the child's own (pre)school and polyclinic when the notice names
    them (agencies of the directory serving the case's city), else to the city's default school and
    health agency (``agencies.yaml``, ``default: true``)."""

    attends_school: bool = Field(default=True, description="Whether the child's (pre)school is told")
    school_agency_id: AgencyId | None = Field(
        default=None, description="Seed 002 SOP: the (pre)school the child attends, a school agency of the case's city")
    polyclinic_agency_id: AgencyId | None = Field(
        default=None, description="Seed 002 SOP: the child's polyclinic, a health agency of the case's city")

    @model_validator(mode="after")
    def _school(self) -> MedicalWrittenNoticeSent:
        if self.school_agency_id is not None and not self.attends_school:
            raise RuleViolation("a child who attends no (pre)school has no school to name", "seed 002 SOP (2020)",
                                field="school_agency_id")
        return self


class MultidisciplinaryEvaluationCompleted(Event):
    """Seed 002 SOP: the multidisciplinary evaluation of the child's condition, within 1 hour of
    identification; when violence is confirmed a case team is formed with a responsible social worker
    ("The social worker is assigned as responsible for this case"). The evaluation names the agency of
    that social worker (the medical organisation's own, the CAM/CSC's, social protection's or the
    Guardianship's) and the team's other agencies; each must serve the case's city, and each is told.
    Without a name, the city's CAM/CSC is taken as responsible, as before."""

    violence_confirmed: bool = Field(
        description="Seed 002 SOP: whether the evaluation confirmed violence; only then is a case team with a "
                    "responsible social worker formed")
    responsible_agency_id: AgencyId | None = Field(
        default=None, description="Seed 002 SOP: the agency of the social worker responsible for the confirmed case")
    team_agency_ids: list[AgencyId] = Field(
        default_factory=list, description="Seed 002 SOP: the other agencies of the case team formed on confirmation")

    @model_validator(mode="after")
    def _team(self) -> MultidisciplinaryEvaluationCompleted:
        if not self.violence_confirmed:
            for name in ("responsible_agency_id", "team_agency_ids"):
                if getattr(self, name):
                    raise RuleViolation("a case team is formed only when violence is confirmed",
                                        "seed 002 SOP (2020)", field=name)
        return self


class Helpline(str, Enum):
    HELPLINE_111 = "HELPLINE_111"   # seed 002: Ombudsperson's helpline (2017), domestic violence (2020)
    HELPLINE_150 = "HELPLINE_150"   # seed 002: the NGO-run child helpline
    SCHOOL_HELPLINE = "SCHOOL_HELPLINE"


class RedirectTarget(str, Enum):
    """The agency kind (agencies.yaml) of the child's city the call goes to."""

    POLICE = "POLICE"
    CAM_CSC = "CAM_CSC"
    GUARDIANSHIP = "GUARDIANSHIP"
    NGO = "NGO"
    HEALTH = "HEALTH"


class HelplineRedirected(Event):
    """Seed 002 (helplines 111 and 150): a call about a child is redirected to the competent agency
    of the child's city, so that it is recorded and followed up rather than lost."""

    city: City = Field(
        description="Seed 002: the City/Oblast where the child is; the call goes to the agency of that city named by "
                    "redirected_to")
    child_age_years: ChildAge = Field(
        description="The child's age in whole years, 0–17 (Annex B, part 2); under 3 the city's Guardianship, from 3 "
                    "its CAM/CSC is the child protection agency (4.5)")
    helpline: Helpline = Field(
        description="Seed 002: the helpline that took the call: 111 (Ombudsperson, domestic violence), 150 (the "
                    "NGO-run child helpline) or a school helpline")
    redirected_to: RedirectTarget = Field(
        description="Seed 002: the kind of agency of the child's city the call goes to (agencies.yaml); that agency "
                    "records a FollowUpRecorded")
    urgent: bool = Field(
        default=False, description="The helpline judged that the child may need help at once; shown to the receiving "
                                   "agency, no deadline depends on it")
    home_city: City | None = Field(default=None, description=HOME_CITY)   # issue 15: out-of-area child


class ScreeningConcern(str, Enum):
    SIGNS_OF_VIOLENCE = "SIGNS_OF_VIOLENCE"
    NEGLECT = "NEGLECT"
    NOT_ATTENDING = "NOT_ATTENDING"            # Table 1: not enrolled or attending school regularly
    PSYCHOLOGICAL_DISTRESS = "PSYCHOLOGICAL_DISTRESS"


class SchoolScreeningFlagRaised(Event):
    """Seed 002 (schools' psychologists and social pedagogues): a screening concern about a pupil,
    sent to the city's CAM/CSC, which decides whether a referral under 4.5 or 5.2 follows."""

    city: City = Field(description="Seed 002: the City/Oblast of the school; the flag goes to that city's CAM/CSC")
    child_age_years: ChildAge = Field(
        description="The child's age in whole years, 0–17 (Annex B, part 2); under 3 the city's Guardianship, from 3 "
                    "its CAM/CSC is the child protection agency (4.5)")
    concern: ScreeningConcern = Field(
        description="Seed 002: what the school psychologist or social pedagogue noticed: signs of violence, neglect, "
                    "not attending school (Table 1) or psychological distress")
    home_city: City | None = Field(default=None, description=HOME_CITY)   # issue 15: out-of-area child


class FollowUpOf(str, Enum):
    HELPLINE_REDIRECTION = "HELPLINE_REDIRECTION"
    SCHOOL_FLAG = "SCHOOL_FLAG"


class FollowUpOutcome(str, Enum):
    REFERRAL_MADE = "REFERRAL_MADE"              # a referral under 4.5, 4.7 or 5.2 follows on the case
    NO_FURTHER_ACTION = "NO_FURTHER_ACTION"      # with the reason
    CHILD_NOT_FOUND = "CHILD_NOT_FOUND"          # contact failed; the reason says what was tried


class FollowUpRecorded(Event):
    """Seed 002 (gaps in referral and feedback): the agency a helpline call was redirected to, or the
    CAM/CSC a school flagged a pupil to, records what it did — so no redirected call or flag is lost
    and the helpline or school hears back."""

    follow_up_of: FollowUpOf = Field(
        description="Seed 002: what is followed up: a helpline redirection (HelplineRedirected) or a school flag "
                    "(SchoolScreeningFlagRaised) on this case")
    outcome: FollowUpOutcome = Field(
        description="Seed 002: a referral under 4.5, 4.7 or 5.2 follows on the case, no further action, or the child "
                    "could not be found (reason says what was tried)")
    reason: PersonalText | None = Field(default=None, description="Required unless a referral was made")

    @model_validator(mode="after")
    def _reason(self) -> FollowUpRecorded:
        if self.outcome is not FollowUpOutcome.REFERRAL_MADE and not (self.reason or "").strip():
            raise RuleViolation("say why no referral follows", "seed 002", field="reason",
                                cited_as="seed 002: feedback to the helpline or school")
        return self


class SpecialSocialServicesApplied(Event):
    """Seed 002 (Rules on special social services, Ministry of Labour and Social Protection, 2018, as the
    evaluation reports them): a person or family in a difficult life situation applies in writing to the
    local executive body of the district for special social services, and the social worker reviews the
    application within ten days. Recorded by the department of social protection that received it, or by
    the professional who helped the family submit it; the application reaches that department."""

    city: City = Field(
        description="Seed 002: the City/Oblast of the local executive body applied to; its department of social "
                    "protection receives the application")
    child_age_years: ChildAge = Field(
        description="The child's age in whole years, 0–17 (Annex B, part 2); under 3 the city's Guardianship, from 3 "
                    "its CAM/CSC is the child protection agency (4.5)")


class SpecialSocialServicesReviewed(Event):
    """Seed 002: the social worker's review of a written application for special social services, within
    ten days of it: whether the need is established (Rules for assessing and determining the need, 2016);
    the local executive body then decides on the provision. The professional who forwarded the
    application hears the outcome."""

    need_established: bool = Field(
        description="Seed 002: whether the social worker's review (within ten days of the application) established "
                    "the need for special social services")
    reason: PersonalText | None = Field(default=None, description="Seed 002: why the need is or is not established")


EVENTS: tuple[type[Event], ...] = (
    ViolenceSuspectedByMedicalStaff, MedicalWrittenNoticeSent, MultidisciplinaryEvaluationCompleted,
    HelplineRedirected, SchoolScreeningFlagRaised, FollowUpRecorded, SpecialSocialServicesApplied,
    SpecialSocialServicesReviewed,
)
