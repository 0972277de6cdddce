"""Records the SLA processor writes. Ids are deterministic (rule, case, trigger, kind), so a
replay of the case log yields the very same records (docs/design.md: deterministic evaluation)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from referral_bus.contracts.base import AgencyId, AwareDatetime, BusLabel, BusText, CaseId, Record


class _DeadlineRecord(Record):
    """Fields every deadline lifecycle record starts with (not a record of its own)."""

    sla_event_id: UUID = Field(
        description="Deterministic id of this record (from rule, case, trigger and kind): a replay of the case log "
                    "yields the same id, so consumers can deduplicate on it")
    deadline_id: UUID = Field(
        description="The deadline this record is about; the same on all of its lifecycle records and its escalations")
    rule_id: BusLabel = Field(
        description="The deadline rule's id in the bus's rule table (domain/deadlines/rule_table.py, "
                    "docs/protocol-coverage.md), e.g. 6.3b-initial-assessment-72h")
    paragraph: BusLabel = Field(
        description="The Annex B paragraph (or seed 002/003 procedure) that sets the time limit, e.g. 6.3(b)")
    case_id: CaseId = Field(description="The case the deadline belongs to (the Kafka key of rb.sla)")


class DeadlineOpened(_DeadlineRecord):
    """A case event started a protocol time limit: the step is now owed by the responsible agency."""

    trigger_event_id: UUID = Field(description="The envelope.event_id of the case event that started the clock")
    responsible_agency_id: AgencyId | None = Field(
        description="The agency that owes the step (agencies.yaml id), as the deadline rule names it; null when no "
                    "single agency could be named")
    opened_at: AwareDatetime = Field(
        description="When the clock started (timezone-aware): the moment the rule counts from, e.g. the trigger's "
                    "occurred_at, a date it states, or a meeting counted back from")
    due_at: AwareDatetime = Field(
        description="When the step is due (timezone-aware), computed from the rule's clock (hours, working days or "
                    "calendar days)")


class DeadlineWarning(_DeadlineRecord):
    """The deadline is near and not yet met: sent to the responsible agency's inbox."""

    responsible_agency_id: AgencyId | None = Field(
        description="The agency that owes the step (agencies.yaml id), as the deadline rule names it; null when no "
                    "single agency could be named; the warning goes to its inbox")
    due_at: AwareDatetime = Field(
        description="When the step is due (timezone-aware), computed from the rule's clock (hours, working days or "
                    "calendar days)")
    warn_at: AwareDatetime = Field(
        description="The moment the warning fell due (timezone-aware): due_at minus the rule's warning period")


class DeadlineMet(_DeadlineRecord):
    """The step was done in time: the completing event was recorded no later than the due time."""

    completing_event_id: UUID = Field(description="The envelope.event_id of the case event that completed the step")
    due_at: AwareDatetime = Field(
        description="When the step is due (timezone-aware), computed from the rule's clock (hours, working days or "
                    "calendar days)")
    completed_at: AwareDatetime = Field(
        description="When the step was done: the completing event's recorded_at (its occurred_at if it has none); "
                    "not after due_at")


class DeadlineBreached(_DeadlineRecord):
    """The due time passed without the step: the first escalation follows."""

    responsible_agency_id: AgencyId | None = Field(
        description="The agency that owes the step (agencies.yaml id), as the deadline rule names it; null when no "
                    "single agency could be named")
    due_at: AwareDatetime = Field(
        description="When the step is due (timezone-aware), computed from the rule's clock (hours, working days or "
                    "calendar days)")
    breached_at: AwareDatetime = Field(description="Equals due_at: the moment the obligation lapsed")


class DeadlineCompletedLate(_DeadlineRecord):
    """The step was done after its due time (it was breached first)."""

    completing_event_id: UUID = Field(description="The envelope.event_id of the case event that completed the step")
    due_at: AwareDatetime = Field(
        description="When the step is due (timezone-aware), computed from the rule's clock (hours, working days or "
                    "calendar days)")
    completed_at: AwareDatetime = Field(
        description="When the step was done: the completing event's recorded_at (its occurred_at if it has none); "
                    "after due_at")
    lateness_seconds: int = Field(description="completed_at minus due_at, in whole seconds (positive)")


class DeadlineWithdrawn(_DeadlineRecord):
    """The deadline is no longer owed — its series ended (a placement ended, a plan is no longer
    necessary, the NGO closed its file) or the case file was closed — before it was breached.
    Not a completion: it counts neither as met nor as breached."""

    responsible_agency_id: AgencyId | None = Field(
        description="The agency that owes the step (agencies.yaml id), as the deadline rule names it; null when no "
                    "single agency could be named")
    withdrawing_event_id: UUID = Field(description="The case event that ended the obligation")
    due_at: AwareDatetime = Field(
        description="When the step is due (timezone-aware), computed from the rule's clock (hours, working days or "
                    "calendar days)")
    withdrawn_at: AwareDatetime = Field(description="recorded_at of the withdrawing event")
    reason: BusText = Field(description="Why it is no longer owed; never personal data")


class EscalationRaised(Record):
    """One escalation per breach and ladder level; operations staff watch these."""

    escalation_id: UUID = Field(
        description="Deterministic id (from deadline and level): one escalation per breach and ladder level, the "
                    "same on a replay; an EscalationAcknowledged quotes it")
    deadline_id: UUID = Field(description="The breached deadline, as in its DeadlineOpened and DeadlineBreached")
    rule_id: BusLabel = Field(description="The deadline rule's id in the bus's rule table, as in the DeadlineOpened")
    paragraph: BusLabel = Field(
        description="The Annex B paragraph (or seed 002/003 procedure) that sets the time limit missed")
    case_id: CaseId = Field(description="The case the deadline belongs to (the Kafka key of rb.escalations)")
    level: int = Field(
        description="The ladder level, from 1; by default 1 the responsible agency's supervisor, 2 the city's "
                    "Commission on Issues of Minors, 3 the Steering Committee")
    responsible_agency_id: AgencyId | None = Field(
        description="The agency that owes the step (agencies.yaml id), as the deadline rule names it; null when no "
                    "single agency could be named")
    escalated_to_agency_id: AgencyId | None = Field(
        description="The agency this level goes to (agencies.yaml id; it gets the escalation in its inbox); null "
                    "when the directory has no such agency for the case's city")
    due_at: AwareDatetime = Field(description="When the missed step was due (timezone-aware)")
    raised_for: AwareDatetime = Field(description="Deterministic: the moment the ladder step fell due")
    summary: BusText = Field(description="What was owed by whom; never personal data")


SLA_RECORD_TYPES: dict[str, type[Record]] = {
    cls.__name__: cls
    for cls in (DeadlineOpened, DeadlineWarning, DeadlineMet, DeadlineBreached, DeadlineCompletedLate,
                DeadlineWithdrawn, EscalationRaised)
}
