"""Runs a scenario through the bus's own decision code on a simulated clock — no broker.

Each step is built into an event the way the SDK builds one (envelope, schema version from the
schema store), encoded by the same ``Codec``, submitted to ``SubmissionHandler.handle`` on the agency's
ingress topic (so the ingress, envelope, authorisation, transition and routing checks all run), and
every appended event goes to ``DeadlineEngine.on_event`` exactly as the SLA processor feeds it
from the case log. Between steps the engine's clock is advanced to the next step's time, so
warnings, breaches and escalations fire at their simulated times (docs/design.md: "simulated and
replayed"). Router and engine are built with the live services' settings (router/app.py,
sla/app.py), including the SLA grace period (decisions.md 5).

Output: one dict per line, in simulated-time order; personal data is never copied into a line.
"""

from __future__ import annotations

import difflib
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID, uuid5

from pydantic import ValidationError

from referral_bus.contracts import EVENT_TYPES
from referral_bus.contracts.base import (
    Envelope,
    Event,
    PersonalData,
    Record,
    submitted_envelope,
)
from referral_bus.contracts.sla_records import DeadlineOpened, EscalationRaised
from referral_bus.domain.deadlines.notifications import sla_deliveries
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.codec.framing import Codec, validation_error_to_decode_error
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.runtime import Runtime, load_runtime
from referral_bus.router.submissions import Outcome, Submission, SubmissionHandler
from referral_bus.simulate.scenario import Scenario, ScenarioError, Step, StepEventId

#: Namespace of the simulator's event ids: uuid5(scenario title | step label), stable across runs.
_SIM_NS = UUID("5a3e7c1d-2b84-4f0e-9c6a-7d1e2f3a4b5c")

Line = dict[str, Any]
#: Fields of ladder records that say when they happen (deterministic); other SLA records happen when
#: the event that caused them is recorded.
_OWN_TIME = ("warn_at", "breached_at", "raised_for")
_RENAMED = {"responsible_agency_id": "responsible", "escalated_to_agency_id": "escalated_to"}
_NOT_SHOWN = frozenset({"sla_event_id", "escalation_id"})


@dataclass
class _Timed:
    at: datetime
    order: int
    line: Line


class Simulation:
    """One run of one scenario. Build it, call ``run()``, read the lines."""

    def __init__(self, scenario: Scenario, runtime: Runtime | None = None) -> None:
        self.scenario = scenario
        runtime = runtime or load_runtime()
        settings = runtime.settings
        self.directory = runtime.directory
        self.catalogue = runtime.catalogue
        self.schema_store = runtime.schema_store
        # the embedded registry always: a simulation talks to no service, not even a schema registry
        self.codec = (runtime.codec if settings.schema_registry_url is None
                      else Codec(EmbeddedRegistry.from_directory(settings.schemas_dir),
                                 versions=runtime.schema_store.install_canonical_versions()))
        self.now = scenario.start
        # as router/app.py builds it, with the simulated clock
        self.router = SubmissionHandler.from_runtime(runtime, codec=self.codec, clock=lambda: self.now)
        # as sla/app.py builds it
        self.grace = timedelta(seconds=settings.sla_grace_seconds)
        self.engine = runtime.deadline_engine()
        self.offsets: Counter[str] = Counter()
        self.event_ids: dict[str, UUID] = {}            # step label → event id
        self.submissions: dict[str, Submission] = {}    # step label → what was sent (for resubmit)
        self.step_of_event: dict[UUID, str] = {}        # event id → step label
        self.step_of_deadline: dict[UUID, str] = {}     # deadline id → label of the step that opened it
        self.escalations: list[EscalationRaised] = []
        self.timed: list[_Timed] = []
        self.counts: Counter[str] = Counter()
        self.run_steps: list[Step] = []
        #: what reached the case log, in order (for the read models' tests and replays)
        self.appended: list[Event] = []

    # -- the run ------------------------------------------------------------------------------------
    def run(self, until: datetime | None = None) -> list[Line]:
        """Every step in order, then the clock to ``until`` (default: the scenario's, else the last
        step); an ``until`` before some steps stops the story there ("what has happened by …").
        Returns the output lines, the summary last. Raises ``ScenarioError`` when a step cannot be
        built (unknown agency without ``ingress``, nothing to acknowledge)."""
        self._preflight()
        end = until or self.scenario.until or self.scenario.steps[-1].at
        self.run_steps = [step for step in self.scenario.steps if step.at <= end]
        for step in self.run_steps:
            self._advance(step.at)
            self.now = step.at
            self._submit(step)
        # the live timer declares a step only ``grace`` after its time; at the end show all up to ``end``
        self._advance(end + self.grace)
        self.now = end
        ordered = [t.line for t in sorted(self.timed, key=lambda t: (t.at, t.order))]
        return [render(line, self.scenario.start) for line in ordered + [self._summary(end)]]

    def _preflight(self) -> None:
        for step in self.scenario.steps:
            if step.resubmit is None and step.ingress is None and self.directory.get(step.agency) is None:
                close = difflib.get_close_matches(step.agency, list(self.directory.agencies), n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ScenarioError(
                    f"{self._where(step)}.agency: {step.agency!r} is not in agencies.yaml{hint}. To simulate a "
                    "submission from an agency the bus does not know, say whose ingress topic it writes to "
                    "(with that agency's stolen credentials), e.g. `ingress: school-almaty`")
            if step.ingress is not None and self.directory.get(step.ingress) is None:
                raise ScenarioError(f"{self._where(step)}.ingress: {step.ingress!r} is not in agencies.yaml; "
                                    "name the agency whose ingress topic the submission comes in on")

    def _where(self, step: Step) -> str:
        return f"{self.scenario.source} line {step.line}, {step.where}"

    def _emit(self, at: datetime, line: Line) -> None:
        self.timed.append(_Timed(at, len(self.timed), line))

    # -- the clock ----------------------------------------------------------------------------------
    def _advance(self, now: datetime) -> None:
        """Ladder steps (warnings, breaches, escalations) that fell due by ``now``, each at its own time."""
        for record in self.engine.advance(now):
            self._sla(record)

    # -- one submission -----------------------------------------------------------------------------
    def _submit(self, step: Step) -> None:
        if step.resubmit is not None:
            earlier = self.submissions.get(step.resubmit)
            if earlier is None:
                raise ScenarioError(f"{self._where(step)}.resubmit: step {step.resubmit!r} was refused before "
                                    "sending, so there are no bytes to send again")
            self.event_ids[step.label] = self.event_ids[step.resubmit]
            sub = Submission(earlier.topic, 0, self._offset(earlier.topic), earlier.key, earlier.value)
            self._handle(step, sub)
            return
        model = EVENT_TYPES[step.event_type]
        event_id = (self.event_ids[step.reuse_event_id_of] if step.reuse_event_id_of
                    else uuid5(_SIM_NS, f"{self.scenario.title}|{step.label}"))
        self.event_ids.setdefault(step.label, event_id)
        payload = {**(self._acknowledgement(step) if step.acknowledge else {}), **step.payload}
        payload = {k: self.event_ids[v.label] if isinstance(v, StepEventId) else v for k, v in payload.items()}
        envelope = submitted_envelope(   # as the SDK builds it
            event_id=event_id, event_type=step.event_type,
            schema_version=self.schema_store.version_of(step.event_type), case_id=step.case_id,
            occurred_at=step.occurred_at or step.at,
            producer={"agency_id": step.agency, "actor_id": step.actor, "actor_role": step.actor_role},
            causation_id=self.event_ids[step.caused_by] if step.caused_by else None)
        value, refusal = self._encode(model, {"envelope": envelope, "personal_data": step.personal_data, **payload})
        if refusal is not None:
            self._refused(step, event_id, refusal)
            return
        topic = self.catalogue.ingress(step.ingress or step.agency)  # _preflight: one of them is known
        sub = Submission(topic, 0, self._offset(topic), step.case_id.encode(), value)
        self.submissions[step.label] = sub
        self._handle(step, sub)

    def _offset(self, topic: str) -> int:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        return offset

    def _encode(self, model: type[Event], datum: dict[str, Any]) -> tuple[bytes, DecodeError | None]:
        """Valid events are encoded as the SDK would. An invalid one is still sent when Avro can carry
        it and the router's own decoding refuses it — so the answer is the router's receipt. Otherwise
        (a field Avro cannot carry, or a typo the schema would silently drop) no agency encoder could
        produce those bytes: the refusal is the SDK's, with the same code and field."""
        try:
            return self.codec.encode(model.model_validate(datum)), None
        except ValidationError as exc:
            refusal = validation_error_to_decode_error(model.__name__, exc)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # pydantic warns when serialising unvalidated values
                value = self.codec.encode(model.model_construct(**_constructed(datum)))
        except Exception:  # noqa: BLE001 - fastavro refuses values in many ways: all mean "cannot encode"
            return b"", refusal
        try:
            self.codec.decode(value)
        except DecodeError:
            return value, None   # the router will refuse it itself
        return b"", refusal

    def _acknowledgement(self, step: Step) -> dict[str, Any]:
        """escalation_id, deadline_id and level of an escalation already raised on the step's case."""
        ack = step.acknowledge
        assert ack is not None
        found = [e for e in self.escalations
                 if e.case_id == step.case_id and e.rule_id == ack.rule_id
                 and (ack.level is None or e.level == ack.level)
                 and (ack.trigger is None or self.step_of_deadline.get(e.deadline_id) == ack.trigger)]
        if not found:
            raised = sorted({f"{e.rule_id} level {e.level}" for e in self.escalations if e.case_id == step.case_id})
            wanted = f"{ack.rule_id}" + (f" level {ack.level}" if ack.level else "") + \
                     (f" opened by step {ack.trigger!r}" if ack.trigger else "")
            raise ScenarioError(f"{self._where(step)}.acknowledge: no escalation of {wanted} on case {step.case_id} "
                                f"has been raised by {step.at.isoformat()}; raised by then: {raised or 'none'}")
        chosen = max(found, key=lambda e: (e.raised_for, e.level))
        return {"escalation_id": chosen.escalation_id, "deadline_id": chosen.deadline_id, "level": chosen.level}

    def _handle(self, step: Step, sub: Submission) -> None:
        outcome = self.router.handle(sub)
        self._receipt(step, outcome)
        resent = outcome.appended is None
        for delivery, event in outcome.deliveries:
            self.counts["deliveries"] += 1
            self._emit(self.now, {
                "t": self.now, "kind": "delivery", "source": "router", "step": step.label,
                "case_id": event.envelope.case_id, "event_type": event.event_type(), "to": delivery.recipient_id,
                "paragraph": delivery.paragraph, "purpose": delivery.purpose, "redacted": delivery.redacted,
                "with_personal_data": event.personal_data is not None, **({"resent": True} if resent else {}),
                **({"advice": list(advice)} if (advice := getattr(delivery, "advice", ())) else {})})
        if outcome.appended is not None:
            self.appended.append(outcome.appended)
            self.step_of_event[outcome.appended.envelope.event_id] = step.label
            for record in self.engine.on_event(outcome.appended):
                self._sla(record)

    def _receipt(self, step: Step, outcome: Outcome) -> None:
        r = outcome.receipt
        self.counts[f"receipt.{r.status.value}"] += 1
        if r.reason_code:
            self.counts[f"code.{r.reason_code}"] += 1
        self._emit(self.now, _compact({
            "t": self.now, "kind": "receipt", "step": step.label, "case_id": r.case_id or step.case_id,
            "event_type": r.event_type or step.event_type, "agency": r.producer_agency_id or step.agency,
            "status": r.status.value, "sequence": r.sequence, "reason_code": r.reason_code, "field": r.field,
            "paragraph": r.paragraph, "reason": r.reason, "topic": r.source_topic, "event_id": r.event_id,
            "note": step.note}))

    def _refused(self, step: Step, event_id: UUID, refusal: DecodeError) -> None:
        self.counts["receipt.REJECTED"] += 1
        self.counts[f"code.{refusal.code}"] += 1
        self._emit(self.now, _compact({
            "t": self.now, "kind": "receipt", "step": step.label, "case_id": step.case_id,
            "event_type": step.event_type, "agency": step.agency, "status": "REJECTED", "reason_code": refusal.code,
            "field": refusal.field, "paragraph": refusal.paragraph, "reason": f"{refusal.code}: {refusal}",
            "refused_before_sending": True,
            "event_id": event_id, "note": step.note}))

    # -- SLA records --------------------------------------------------------------------------------
    def _sla(self, record: Record) -> None:
        """One SLA record as a line at its own simulated moment, plus the inbox deliveries the SLA
        processor makes for it (sla/app.py: warnings to the responsible agency, escalations to the
        escalated-to and the responsible agency). Generic over the record's fields, so a new SLA
        record type shows without a change here; event ids become the labels of their steps."""
        name = type(record).__name__
        self.counts[f"sla.{name}"] += 1
        fields = dict(record)
        deadline_id = fields.get("deadline_id")
        if isinstance(record, DeadlineOpened) and record.trigger_event_id in self.step_of_event:
            self.step_of_deadline[record.deadline_id] = self.step_of_event[record.trigger_event_id]
        if isinstance(record, EscalationRaised):
            self.escalations.append(record)
            self.router.note_escalation(record)  # as the router learns it from rb.escalations
        at = next((fields[k] for k in _OWN_TIME if fields.get(k) is not None), self.now)
        line: Line = {"t": at, "kind": "sla", "record": name, "case_id": fields.get("case_id"),
                      "rule_id": fields.get("rule_id"), "paragraph": fields.get("paragraph"),
                      "trigger_step": self.step_of_deadline.get(deadline_id) if deadline_id else None,
                      "deadline_id": deadline_id}
        for key, value in fields.items():
            if key in line or key in _NOT_SHOWN:
                continue
            if key.endswith("_event_id"):
                line.setdefault(key.removesuffix("_event_id") + "_step", self.step_of_event.get(value))
            else:
                line[_RENAMED.get(key, key)] = value
        self._emit(at, _compact(line))
        for delivery in sla_deliveries(record):   # as the SLA processor sends them
            self.counts["deliveries"] += 1
            self._emit(at, _compact({"t": at, "kind": "delivery", "source": "sla", "case_id": line["case_id"],
                                     "record": name, "rule_id": line["rule_id"],
                                     "level": line.get("level"), "to": delivery.agency_id,
                                     "paragraph": delivery.paragraph, "purpose": delivery.purpose, "redacted": True,
                                     "with_personal_data": False}))

    # -- the end ------------------------------------------------------------------------------------
    def _summary(self, end: datetime) -> Line:
        c = self.counts
        open_deadlines = sorted(({"case_id": d.case_id, "rule_id": d.rule.rule_id, "due_at": d.due_at,
                                  "breached": d.breached, "escalation_level": d.level, "acknowledged": d.acknowledged,
                                  "trigger_step": self.step_of_deadline.get(d.deadline_id)}
                                 for d in self.engine.open.values()), key=lambda d: (d["due_at"], d["rule_id"]))
        summary: Line = render({
            "t": end, "kind": "summary", "title": self.scenario.title, "steps": len(self.run_steps),
            "steps_after_until": len(self.scenario.steps) - len(self.run_steps),
            "accepted": c["receipt.ACCEPTED"], "duplicate": c["receipt.DUPLICATE"], "rejected": c["receipt.REJECTED"],
            "rejections": {k.removeprefix("code."): v for k, v in sorted(c.items()) if k.startswith("code.")},
            "deliveries": c["deliveries"],
            "sla": {k.removeprefix("sla."): v for k, v in sorted(c.items()) if k.startswith("sla.")},
            "escalations": c["sla.EscalationRaised"], "open_deadlines": open_deadlines,
        }, self.scenario.start)
        return summary


def _constructed(datum: dict[str, Any]) -> dict[str, Any]:
    """The datum with envelope and personal data as models where they validate, raw where not — for
    encoding an invalid event the way a careless agency encoder might."""
    out = dict(datum)
    for name, model in (("envelope", Envelope), ("personal_data", PersonalData)):
        if isinstance(out.get(name), dict):
            try:
                out[name] = model.model_validate(out[name])
            except ValidationError:
                out[name] = model.model_construct(**out[name])
    return out


def _compact(line: Line) -> Line:
    return {k: v for k, v in line.items() if v is not None}


def render(value: Any, start: datetime) -> Any:
    """JSON-ready: times in the scenario's own UTC offset, ids as text, enums as their value."""
    if isinstance(value, dict):
        return {k: render(v, start) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [render(v, start) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(start.tzinfo).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def simulate(scenario: Scenario, runtime: Runtime | None = None, until: datetime | None = None) -> list[Line]:
    """Run ``scenario`` and return its output lines (the summary last)."""
    return Simulation(scenario, runtime).run(until)
