"""Case events of the child-friendly justice pathway of seed 003 (evaluation of the pilot models,
2014–2018) and the interviews of Annex B 6.7: police custody, interviews with the professionals
present, termination of proceedings, probation and community-based programmes with feedback to
the referring body."""

from __future__ import annotations

from enum import Enum

from pydantic import AwareDatetime, Field, model_validator

from referral_bus.contracts.base import (
    HOME_CITY,
    AgencyId,
    ChildAge,
    City,
    Event,
    Identifier,
    Label,
    Reference,
    RuleViolation,
)


class PoliceCustodyStarted(Event):
    """Seed 003: a child is held in police custody — at most 72 hours under the Criminal Procedure
    Code; the prosecutor is told."""

    city: City = Field(
        description="Seed 003: the City/Oblast where the child is held; its CAM/CSC and prosecutor are told")
    child_age_years: ChildAge = Field(description="The child's age in whole years, 0–17 (Annex B, part 2)")
    criminal_case_ref: Reference = Field(
        description="The investigating body's register number of the criminal case (never personal data) in which "
                    "the child is held")
    home_city: City | None = Field(default=None, description=HOME_CITY)   # issue 15: out-of-area child


class PoliceCustodyEnded(Event):
    """Seed 003: the child is released from custody (or the custody is converted by a court)."""

    released: bool = Field(
        default=True, description="Seed 003: true if the child was released; false if a court converted the custody "
                                  "into another measure")


class ChildRole(str, Enum):
    VICTIM = "VICTIM"
    WITNESS = "WITNESS"
    IN_CONFLICT_WITH_LAW = "IN_CONFLICT_WITH_LAW"


class InterviewProfessional(str, Enum):
    INVESTIGATOR = "INVESTIGATOR"
    CAM_SOCIAL_WORKER = "CAM_SOCIAL_WORKER"      # 6.7: present at investigative interviews
    PSYCHOLOGIST = "PSYCHOLOGIST"
    PEDAGOGUE = "PEDAGOGUE"
    LAWYER = "LAWYER"
    PROSECUTOR = "PROSECUTOR"
    INDEPENDENT_SUPPORTER = "INDEPENDENT_SUPPORTER"
    PARENT_OR_REPRESENTATIVE = "PARENT_OR_REPRESENTATIVE"


class ChildInterviewPlanned(Event):
    """6.7: law enforcement (the police officer, juvenile inspector or investigator) plans an
    investigative interview of the child, before it takes place, so that the CAM/CSC can send the
    Social Worker who should be present (and arrange the independent person). The city's CAM/CSC is
    told. The interview may be postponed for a medical examination (6.13, 6.15), then takes place
    immediately after it."""

    interview_ref: Identifier = Field(description="6.7: names the planned interview; ChildInterviewed quotes it")
    child_role: ChildRole = Field(
        description="The child's role in the proceedings: victim, witness or in conflict with the law")
    planned_for: AwareDatetime = Field(description="6.7: when the interview is to take place")
    after_medical_examination: bool = Field(
        default=False, description="6.7: postponed to follow a medical examination (6.13, 6.15)")


class ChildInterviewed(Event):
    """6.5–6.7 and seed 003: an interview of the child, with the professionals present. Never in the
    presence of a person suspected of harming the child or of colluding with one (6.7). An interview
    that was planned on the bus (``ChildInterviewPlanned``) quotes its ``interview_ref``; one without
    it was not announced to the CAM/CSC beforehand."""

    child_role: ChildRole = Field(
        description="The child's role in the proceedings: victim, witness or in conflict with the law")
    professionals_present: list[InterviewProfessional] = Field(
        description="6.7, seed 003: who was present at the interview (at least one); a CAM/CSC Social Worker should "
                    "be at an investigative interview (6.7)")
    suspected_person_present: bool = Field(
        default=False, description="6.7: a person suspected of harming the child, or of colluding with one, was "
                                   "present; the protocol forbids it, so true records a breach")
    joint_interview: bool = Field(default=False, description="6.6: one joint interview for both cases")
    interview_ref: Identifier | None = Field(
        default=None, description="6.7: the ChildInterviewPlanned this interview carries out, if it was planned")

    @model_validator(mode="after")
    def _present(self) -> ChildInterviewed:
        if not self.professionals_present:
            raise RuleViolation("name the professionals present at the interview", "6.7", field="professionals_present")
        return self


class ProceedingsTerminated(Event):
    """Seed 003: criminal proceedings against (or concerning) the child terminated, with the legal
    basis; the CAM/CSC and the referring body are told."""

    criminal_case_ref: Reference = Field(
        description="The investigating body's register number of the criminal case (never personal data) terminated")
    legal_basis: Label = Field(description="The article of the Criminal Procedure Code relied on")
    alternative_measure: bool = Field(default=False, description="Diverted to a community-based programme")

    @model_validator(mode="after")
    def _basis(self) -> ProceedingsTerminated:
        if not self.legal_basis.strip():
            raise RuleViolation("a termination states its legal basis", "seed 003", field="legal_basis")
        return self


class ProbationOrdered(Event):
    """Seed 003: the court orders probation supervision of the child."""

    criminal_case_ref: Reference = Field(
        description="The investigating body's register number of the criminal case (never personal data) in which "
                    "the court ordered probation")
    duration_months: int = Field(description="Seed 003: the term of the probation order in whole months (positive)")

    @model_validator(mode="after")
    def _duration(self) -> ProbationOrdered:
        if self.duration_months <= 0:
            raise ValueError("duration_months: a probation order has a positive duration")
        return self


class ProbationStatus(str, Enum):
    COMPLYING = "COMPLYING"              # the child keeps to the conditions of the order
    NOT_COMPLYING = "NOT_COMPLYING"      # a breach: the court that ordered probation decides what follows
    ENDED = "ENDED"                      # the supervision ended (the order's term ran out, or it was lifted)


class ProbationSupervisionReported(Event):
    """Seed 003 (Law on Probation, 2016: probation of a child as an educational measure appointed by
    the court; probation officers refer children to community-based services and receive reports on
    them): the probation service reports on its supervision of a child under a probation order — to
    the court that ordered it and the city's CAM/CSC. Only for an order on the case; ``ENDED`` closes
    the supervision, so no report follows it. Seed 003 sets no frequency for the reports."""

    criminal_case_ref: Reference = Field(description="The criminal case of the ProbationOrdered reported on")
    status: ProbationStatus = Field(
        description="Seed 003: the child complies with the order, does not (the ordering court decides what "
                    "follows), or the supervision ended; nothing is reported after ENDED")


class ProgrammeEnrolled(Event):
    """Seed 003: the child enters a community-based programme (alternative measures, prevention,
    victim support). Participation is reviewed within 6 months and lasts at most 1 year."""

    programme_id: Identifier = Field(
        description="The providing agency's own id of the child's place on the community-based programme; quoted by "
                    "its reviews, completion and follow-up")
    referring_agency_id: AgencyId = Field(description="The body that referred the child; it gets the feedback")


class ProgrammeReviewed(Event):
    """Seed 003: the six-monthly review of the child's participation."""

    programme_id: Identifier = Field(description="The programme place reviewed, as in its ProgrammeEnrolled")
    continues: bool = Field(
        description="Seed 003: whether the child's participation continues after the six-monthly review (at most 1 "
                    "year in all)")


class ProgrammeCompleted(Event):
    """Seed 003: the child leaves the programme; the referring body receives feedback."""

    programme_id: Identifier = Field(description="The programme place completed, as in its ProgrammeEnrolled")
    goals_met: bool = Field(
        description="Seed 003: whether the child met the programme's goals; the referring body receives it as "
                    "feedback")


class ReoffendingFollowUpRecorded(Event):
    """Seed 003 (evaluation of the pilots, 'To what extent pilot models contributed to decreasing ...
    re-offending'): the programme follows up a child who completed it and records whether the child
    re-offended; the follow-up was projected over two years after completion, not a few months. The
    referring body receives it as feedback."""

    programme_id: Identifier = Field(
        description="The completed programme place followed up, as in its ProgrammeEnrolled")
    reoffended: bool = Field(description="Seed 003: whether the child re-offended since completing the programme")
    convicted: bool | None = Field(default=None, description="Seed 003: whether a re-offence led to a conviction")


EVENTS: tuple[type[Event], ...] = (
    PoliceCustodyStarted, PoliceCustodyEnded, ChildInterviewed, ProceedingsTerminated, ProbationOrdered,
    ProgrammeEnrolled, ProgrammeReviewed, ProgrammeCompleted, ReoffendingFollowUpRecorded,
    ChildInterviewPlanned, ProbationSupervisionReported,
)
