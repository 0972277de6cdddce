"""Records the SLA processor writes. Ids are deterministic (rule, case, trigger, kind), so a
replay of the case log yields the very same records (docs/design.md: deterministic evaluation)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from referral_bus.contracts.base import AgencyId, AwareDatetime, BusLabel, BusText, CaseId, Record


class _DeadlineRecord(Record):
    """Fields every deadline lifecycle record starts with (not a record of its own)."""

    sla_event_id: UUID
    deadline_id: UUID
    rule_id: BusLabel
    paragraph: BusLabel
    case_id: CaseId


class DeadlineOpened(_DeadlineRecord):
    trigger_event_id: UUID
    responsible_agency_id: AgencyId | None
    opened_at: AwareDatetime
    due_at: AwareDatetime


class DeadlineWarning(_DeadlineRecord):
    """The deadline is near and not yet met: sent to the responsible agency's inbox."""

    responsible_agency_id: AgencyId | None
    due_at: AwareDatetime
    warn_at: AwareDatetime


class DeadlineMet(_DeadlineRecord):
    completing_event_id: UUID
    due_at: AwareDatetime
    completed_at: AwareDatetime


class DeadlineBreached(_DeadlineRecord):
    responsible_agency_id: AgencyId | None
    due_at: AwareDatetime
    breached_at: AwareDatetime = Field(description="Equals due_at: the moment the obligation lapsed")


class DeadlineCompletedLate(_DeadlineRecord):
    completing_event_id: UUID
    due_at: AwareDatetime
    completed_at: AwareDatetime
    lateness_seconds: int


class DeadlineWithdrawn(_DeadlineRecord):
    """The deadline is no longer owed — its series ended (a placement ended, a plan is no longer
    necessary, the NGO closed its file) or the case file was closed — before it was breached.
    Not a completion: it counts neither as met nor as breached."""

    responsible_agency_id: AgencyId | None
    withdrawing_event_id: UUID = Field(description="The case event that ended the obligation")
    due_at: AwareDatetime
    withdrawn_at: AwareDatetime = Field(description="recorded_at of the withdrawing event")
    reason: BusText = Field(description="Why it is no longer owed; never personal data")


class EscalationRaised(Record):
    """One escalation per breach and ladder level; operations staff watch these."""

    escalation_id: UUID
    deadline_id: UUID
    rule_id: BusLabel
    paragraph: BusLabel
    case_id: CaseId
    level: int
    responsible_agency_id: AgencyId | None
    escalated_to_agency_id: AgencyId | None
    due_at: AwareDatetime
    raised_for: AwareDatetime = Field(description="Deterministic: the moment the ladder step fell due")
    summary: BusText = Field(description="What was owed by whom; never personal data")


SLA_RECORD_TYPES: dict[str, type[Record]] = {
    cls.__name__: cls
    for cls in (DeadlineOpened, DeadlineWarning, DeadlineMet, DeadlineBreached, DeadlineCompletedLate,
                DeadlineWithdrawn, EscalationRaised)
}
