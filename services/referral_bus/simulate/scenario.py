"""The scenario file of ``referral-bus simulate``: a timeline of agency submissions in YAML.

Parsing checks the *file* (shape, times, labels, event type names) and fails with a
``ScenarioError`` naming the line, the step and the field. It deliberately does not check
payloads: whether an event is valid, allowed or routable is the router's question, answered in the
simulation's output as a REJECTED receipt with code, field and paragraph, as the live bus would.

Times are either ISO-8601 with a zone or offsets from ``start``: ``+90m``, ``+1h30m``, ``-2h``,
``+3d``, ``+1w``, ``+2wd`` (working days on Kazakhstan's calendar, same local time of day; may be
followed by other units: ``+2wd3h``). Every offset counts from ``start``, never from another step.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

from referral_bus.contracts import EVENT_TYPES
from referral_bus.contracts.base import Event
from referral_bus.domain.deadlines.calendar import WorkingCalendar
from referral_bus.domain.deadlines.rule_table import RULES_BY_ID
from referral_bus.infra.yaml_lines import line_of, load_with_lines

_OFFSET = re.compile(r"^(?P<sign>[+-])\s*(?P<parts>(?:\d+(?:\.\d+)?\s*(?:wd|w|d|h|m|s)\s*)+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(wd|w|d|h|m|s)")
_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1),
          "s": timedelta(seconds=1)}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?(?:[0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

_TOP_FIELDS = {"title", "description", "start", "until", "case", "steps", "expect"}
_STEP_FIELDS = {"at", "id", "agency", "case", "event", "payload", "personal_data", "occurred_at", "actor",
                "actor_role", "caused_by", "acknowledge", "resubmit", "reuse_event_id_of", "ingress", "note"}
_ACK_FIELDS = {"rule", "level", "trigger"}
#: Keys of output lines that hold times: expectations may give them as offsets from ``start``.
TIME_KEYS = frozenset({"t", "due_at", "warn_at", "breached_at", "raised_for", "opened_at", "completed_at",
                       "occurred_at", "recorded_at"})


class ScenarioError(ValueError):
    """The scenario file itself is wrong (not the events it describes): exit status 2."""


@dataclass(frozen=True)
class Acknowledge:
    """Helper for ``EscalationAcknowledged``: which escalation, found among those raised so far on
    the step's case (the escalation ladder, issue 4). ``level`` None = the highest raised."""

    rule_id: str
    level: int | None = None
    trigger: str | None = None   # label of the step whose event opened the deadline


@dataclass(frozen=True)
class Step:
    index: int
    line: int
    label: str
    at: datetime
    agency: str
    case_id: str
    event_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    personal_data: dict[str, Any] | None = None
    occurred_at: datetime | None = None
    actor: str = "sim-actor"
    actor_role: str | None = None
    caused_by: str | None = None
    acknowledge: Acknowledge | None = None
    resubmit: str | None = None
    reuse_event_id_of: str | None = None
    #: the agency whose ingress topic the submission comes in on, when not the producer's own
    ingress: str | None = None
    note: str | None = None

    @property
    def where(self) -> str:
        return f"steps[{self.index}] ({self.label!r})"


@dataclass(frozen=True)
class StepEventId:
    """A payload value naming an earlier step (``referral_event_id: referral``): that step's event id,
    filled in by the runner when the step is submitted."""

    label: str


@dataclass(frozen=True)
class Expectation:
    """A subset of an output line that must appear (``count`` None: at least once; else exactly)."""

    index: int
    line: int
    fields: dict[str, Any]
    count: int | None = None


@dataclass(frozen=True)
class Scenario:
    title: str
    start: datetime
    steps: tuple[Step, ...]
    until: datetime | None = None
    description: str | None = None
    expect: tuple[Expectation, ...] = ()
    source: str = "scenario"


# -- times ------------------------------------------------------------------------------------------
def parse_time(value: Any, start: datetime | None, calendar: WorkingCalendar, where: str) -> datetime:
    """An ISO-8601 time with a zone, or an offset from ``start`` (see the module docstring)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScenarioError(f"{where}: {value.isoformat()} needs a time zone, e.g. +05:00 (Asia/Almaty)")
        return value
    if isinstance(value, date):
        raise ScenarioError(f"{where}: {value.isoformat()} is a date; give a time with a zone or an offset like +2d")
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: expected a time (ISO-8601 with a zone) or an offset like +3h, got {value!r}")
    text = value.strip()
    match = _OFFSET.match(text)
    if match:
        if start is None:
            raise ScenarioError(f"{where}: an offset needs the scenario's start time")
        return _apply_offset(start, match.group("sign"), match.group("parts"), calendar, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ScenarioError(f"{where}: {value!r} is neither an ISO-8601 time nor an offset like +3h, +1h30m, "
                            "+2d, +2wd (working days)") from None
    if moment.tzinfo is None:
        raise ScenarioError(f"{where}: {value!r} needs a time zone, e.g. {text}+05:00")
    return moment


def _apply_offset(start: datetime, sign: str, parts: str, calendar: WorkingCalendar, where: str) -> datetime:
    factor = -1 if sign == "-" else 1
    moment = start
    for i, (number, unit) in enumerate(_PART.findall(parts)):
        if unit == "wd":
            if i != 0 or "." in number:
                raise ScenarioError(f"{where}: working days ('wd') come first and whole, e.g. +2wd3h")
            moment = _add_working_days(start, factor * int(number), calendar)
        else:
            moment += factor * float(number) * _UNITS[unit]
    return moment


def _add_working_days(start: datetime, days: int, calendar: WorkingCalendar) -> datetime:
    """The same local time of day on the ``days``-th working day after (or before) start's local day."""
    if days == 0:
        return start
    end, _ = (calendar.add_working_days(start, days) if days > 0 else calendar.working_days_before(start, -days))
    local = start.astimezone(calendar.timezone)
    moment = datetime.combine(end.date(), time(local.hour, local.minute, local.second, local.microsecond),
                              tzinfo=calendar.timezone)
    return moment.astimezone(start.tzinfo)


# -- event fields ------------------------------------------------------------------------------------
def _holds(annotation: Any, test: Callable[[type], bool]) -> bool:
    if isinstance(annotation, type):
        return test(annotation)
    return any(_holds(arg, test) for arg in typing.get_args(annotation))


def _is_time(cls: type) -> bool:
    return issubclass(cls, datetime) or (cls.__module__ == "pydantic.types" and cls.__name__.endswith("Datetime"))


def _is_date(cls: type) -> bool:
    return issubclass(cls, date) and not issubclass(cls, datetime)


def _fields(event_type: type[Event], test: Callable[[type], bool]) -> frozenset[str]:
    return frozenset(name for name, info in event_type.model_fields.items()
                     if name not in ("envelope", "personal_data") and _holds(info.annotation, test))


def time_fields(event_type: type[Event]) -> frozenset[str]:
    """Payload fields that hold a time (e.g. ``scheduled_for``): they accept offsets from start too.
    Read from the model, so a new event type needs no change here."""
    return _fields(event_type, _is_time)


def date_fields(event_type: type[Event]) -> frozenset[str]:
    """Payload fields that hold a date (e.g. a plan's ``first_review_by``): an offset gives the
    Asia/Almaty day it lands on."""
    return _fields(event_type, _is_date)


def event_id_fields(event_type: type[Event]) -> frozenset[str]:
    """Payload fields naming another event (``referral_event_id``): they accept an earlier step's label."""
    return frozenset(name for name in _fields(event_type, lambda cls: issubclass(cls, UUID))
                     if name.endswith("_event_id"))


# -- the file ---------------------------------------------------------------------------------------
def load_scenario(path: str | Path, calendar: WorkingCalendar | None = None) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a text file (a scenario is UTF-8 YAML; examples/README.md)") from None
    return parse_scenario(text, calendar, source=path.name)


def parse_scenario(text: str, calendar: WorkingCalendar | None = None, source: str = "scenario") -> Scenario:
    calendar = calendar or WorkingCalendar()
    try:
        data = load_with_lines(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping with title, start and steps")

    def loc(node: Any, where: str) -> str:
        line = getattr(node, "line", 0)
        return f"{source}{f' line {line}' if line else ''}, {where}"

    def fail(node: Any, where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{loc(node, where)}: {message}")

    unknown = set(data) - _TOP_FIELDS
    if unknown:
        raise fail(data, "top level", f"unknown field(s) {sorted(unknown)}; known: {sorted(_TOP_FIELDS)}")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise fail(data, "title", "a scenario needs a title (it also seeds the event ids)")
    if "start" not in data:
        raise fail(data, "start", "missing: the simulated clock's start, ISO-8601 with a zone")
    start = parse_time(data["start"], None, calendar, loc(data, "start"))
    until = parse_time(data["until"], start, calendar, loc(data, "until")) if data.get("until") is not None else None
    default_case = data.get("case")
    if default_case is not None and not isinstance(default_case, str):
        raise fail(data, "case", f"expected a case id (text), got {default_case!r}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail(data, "steps", "expected a non-empty list of steps")
    steps: list[Step] = []
    labels: dict[str, Step] = {}
    for index, raw in enumerate(raw_steps):
        step = _parse_step(index, raw, start, default_case, calendar, labels, loc)
        if steps and step.at < steps[-1].at:
            raise fail(raw, f"{step.where}.at", f"{step.at.isoformat()} is before the previous step "
                       f"({steps[-1].at.isoformat()}); list the timeline in time order")
        labels[step.label] = step
        steps.append(step)
    if until is not None and until < steps[-1].at:
        raise fail(data, "until", f"{until.isoformat()} is before the last step ({steps[-1].at.isoformat()})")
    expect = _parse_expect(data.get("expect"), start, calendar, loc, data)
    description = data.get("description")
    return Scenario(title=title.strip(), start=start, steps=tuple(steps), until=until,
                    description=str(description) if description is not None else None, expect=expect,
                    source=source)


_Loc = Callable[[Any, str], str]


def _failer(loc: _Loc) -> Callable[[Any, str, str], ScenarioError]:
    return lambda node, where, message: ScenarioError(f"{loc(node, where)}: {message}")


def _parse_step(index: int, raw: Any, start: datetime, default_case: str | None, calendar: WorkingCalendar,
                labels: dict[str, Step], loc: _Loc) -> Step:
    fail = _failer(loc)
    where = f"steps[{index}]"
    if not isinstance(raw, dict):
        raise fail(None, where, f"expected a mapping (at, agency, case, event, payload), got {raw!r}")
    label = raw.get("id", f"step-{index + 1}")
    if not isinstance(label, str) or not _LABEL.match(label):
        raise fail(raw, f"{where}.id", f"a label of letters, digits and . _ : - (at most 64), got {label!r}")
    where = f"{where} ({label!r})"
    unknown = set(raw) - _STEP_FIELDS
    if unknown:
        raise fail(raw, where, f"unknown field(s) {sorted(unknown)}; known: {sorted(_STEP_FIELDS)}")
    if label in labels:
        raise fail(raw, f"{where}.id", f"label {label!r} is already used by steps[{labels[label].index}]")
    if "at" not in raw:
        raise fail(raw, f"{where}.at", "missing: when the agency submits (offset like +3h, or ISO-8601 with a zone)")
    at = parse_time(raw["at"], start, calendar, loc(raw, f"{where}.at"))

    def text(name: str, required: bool = False) -> str | None:
        value = raw.get(name)
        if value is None:
            if required:
                raise fail(raw, f"{where}.{name}", "missing")
            return None
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise fail(raw, f"{where}.{name}", f"expected text, got {value!r}")
        return str(value)

    def reference(name: str) -> str | None:
        ref = text(name)
        if ref is not None and ref not in labels:
            raise fail(raw, f"{where}.{name}", f"no earlier step is labelled {ref!r}")
        return ref

    resubmit = reference("resubmit")
    if resubmit is not None:
        others = set(raw) - {"at", "id", "resubmit", "note"}
        if others:
            raise fail(raw, where, f"a resubmission sends the bytes of step {resubmit!r} again; drop {sorted(others)}")
        earlier = labels[resubmit]
        return Step(index, line_of(raw), label, at, earlier.agency, earlier.case_id, earlier.event_type,
                    resubmit=resubmit, note=text("note"))

    acknowledge = _parse_ack(raw, where, labels, loc)
    event_type = text("event") or ("EscalationAcknowledged" if acknowledge else None)
    if event_type is None:
        raise fail(raw, f"{where}.event", "missing: the event type, e.g. ReferralMade")
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise fail(raw, f"{where}.event", f"unknown event type {event_type!r}; known: {', '.join(sorted(EVENT_TYPES))}")
    if acknowledge and event_type != "EscalationAcknowledged":
        raise fail(raw, f"{where}.acknowledge", f"only an EscalationAcknowledged acknowledges, not {event_type}")
    agency = text("agency", required=True)
    case_id = text("case") or default_case
    if case_id is None:
        raise fail(raw, f"{where}.case", "missing: the case id (or give a scenario-wide `case`)")
    payload = raw.get("payload") or {}
    if not isinstance(payload, dict):
        raise fail(raw, f"{where}.payload", f"expected a mapping of the event's fields, got {payload!r}")
    for reserved in ("envelope", "personal_data"):
        if reserved in payload:
            raise fail(payload, f"{where}.payload.{reserved}", "the simulator builds the envelope; give personal "
                       "data as the step's `personal_data` and times as `at` / `occurred_at`")
    payload = dict(payload)
    for name in time_fields(model) & payload.keys():
        if payload[name] is not None:
            payload[name] = parse_time(payload[name], start, calendar, loc(payload, f"{where}.payload.{name}"))
    for name in date_fields(model) & payload.keys():
        if isinstance(payload[name], str) and _OFFSET.match(payload[name].strip()):
            moment = parse_time(payload[name], start, calendar, loc(payload, f"{where}.payload.{name}"))
            payload[name] = calendar.local_day(moment)
    for name in event_id_fields(model) & payload.keys():
        value = payload[name]
        if isinstance(value, str) and value in labels:
            payload[name] = StepEventId(value)
        elif isinstance(value, str) and not _UUID.match(value.strip()):
            raise fail(payload, f"{where}.payload.{name}", f"an event id or the label of an earlier step; no earlier "
                       f"step is labelled {value!r}")
    personal = raw.get("personal_data")
    if personal is not None and not isinstance(personal, dict):
        raise fail(raw, f"{where}.personal_data", "expected a mapping (fictional data only)")
    occurred_at = (parse_time(raw["occurred_at"], start, calendar, loc(raw, f"{where}.occurred_at"))
                   if raw.get("occurred_at") is not None else None)
    ingress = text("ingress")  # whose ingress topic it comes in on (the runner checks the directory)
    return Step(index, line_of(raw), label, at, str(agency), case_id, event_type, payload=payload,
                personal_data=dict(personal) if personal is not None else None, occurred_at=occurred_at,
                actor=text("actor") or "sim-actor", actor_role=text("actor_role"), caused_by=reference("caused_by"),
                acknowledge=acknowledge, reuse_event_id_of=reference("reuse_event_id_of"), ingress=ingress,
                note=text("note"))


def _parse_ack(raw: dict[str, Any], where: str, labels: dict[str, Step], loc: _Loc) -> Acknowledge | None:
    fail = _failer(loc)
    ack = raw.get("acknowledge")
    if ack is None:
        return None
    here = f"{where}.acknowledge"
    if not isinstance(ack, dict) or not isinstance(ack.get("rule"), str):
        raise fail(raw, here, "expected a mapping with `rule` (a rule id), optional `level` and `trigger`")
    unknown = set(ack) - _ACK_FIELDS
    if unknown:
        raise fail(ack, here, f"unknown field(s) {sorted(unknown)}; known: {sorted(_ACK_FIELDS)}")
    level = ack.get("level")
    if level is not None and (not isinstance(level, int) or isinstance(level, bool) or level < 1):
        raise fail(ack, f"{here}.level", f"expected a ladder level (1, 2, 3), got {level!r}")
    trigger = ack.get("trigger")
    if trigger is not None and trigger not in labels:
        raise fail(ack, f"{here}.trigger", f"no earlier step is labelled {trigger!r}")
    if ack["rule"] not in RULES_BY_ID:
        raise fail(ack, f"{here}.rule", f"unknown rule {ack['rule']!r}; known: {', '.join(RULES_BY_ID)}")
    return Acknowledge(ack["rule"], level, trigger)


def _parse_expect(raw: Any, start: datetime, calendar: WorkingCalendar, loc: _Loc, top: Any) -> tuple[Expectation, ...]:
    fail = _failer(loc)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail(top, "expect", "expected a list of output-line subsets, e.g. {kind: sla, record: DeadlineMet}")
    out = []
    for i, item in enumerate(raw):
        where = f"expect[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            raise fail(item if isinstance(item, dict) else top, where, "expected a mapping with at least `kind`")
        fields = {k: v for k, v in item.items() if k != "count"}
        count = item.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise fail(item, f"{where}.count", f"expected a whole number ≥ 0, got {count!r}")
        for key in TIME_KEYS & fields.keys():
            fields[key] = parse_time(fields[key], start, calendar, loc(item, f"{where}.{key}"))
        out.append(Expectation(i, getattr(item, "line", 0), fields, count))
    return tuple(out)


__all__ = ["Acknowledge", "Expectation", "Scenario", "ScenarioError", "Step", "TIME_KEYS", "load_scenario",
           "parse_scenario", "parse_time", "time_fields", "date_fields"]
