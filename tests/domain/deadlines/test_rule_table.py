"""The rule table is data: every event type, field and agency kind it names must exist, so a typo
cannot silently disable a deadline."""

from __future__ import annotations

import pytest

from referral_bus.contracts import EVENT_TYPES
from referral_bus.domain.deadlines.rule_table import NOT_ENFORCEABLE, RULES, RULES_BY_ID
from referral_bus.domain.deadlines.rules import Anchor, DeadlineRule

ISSUE_4_PARAGRAPHS = ("4.8", "6.3(a)", "6.3(b)", "5.18", "6.19(b)", "6.28", "6.33", "6.34", "6.41", "6.45", "6.44",
                      "6.49", "6.48", "6.76", "6.54(g)", "6.62", "6.56", "6.66", "6.67", "6.75(a)", "6.77", "6.78(b)",
                      "7.1", "7.2", "7.16", "7.3", "7.18", "7.9", "7.11", "7.14", "4.9", "seed 002", "seed 003")


def test_rule_ids_are_unique() -> None:
    assert len(RULES_BY_ID) == len(RULES)


@pytest.mark.parametrize("paragraph", ISSUE_4_PARAGRAPHS)
def test_every_deadline_of_issue_4_has_a_rule(paragraph: str) -> None:
    assert any(paragraph in rule.paragraph for rule in RULES)


def test_5_2_is_enforced_from_the_moment_the_need_was_identified() -> None:
    """Issue 15: ReferralMade.need_identified_at makes 5.2/5.8/5.11 enforceable."""
    assert not [u for u in NOT_ENFORCEABLE if "5.2" in u.paragraph]
    [rule] = [r for r in RULES
              if "5.2" in r.paragraph and r.trigger == "ReferralMade" and r.anchor is Anchor.TIME_FIELD]
    assert rule.anchor_field == "need_identified_at" and "5.8" in rule.paragraph and "5.11" in rule.paragraph


def _fields(event_type: str) -> set[str]:
    return set(EVENT_TYPES[event_type].model_fields)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.rule_id)
def test_a_rule_names_only_event_types_and_fields_that_exist(rule: DeadlineRule) -> None:
    assert rule.trigger in EVENT_TYPES
    trigger_fields = _fields(rule.trigger)
    assert {c.field for c in rule.when} <= trigger_fields
    assert rule.completed_by and rule.completed_by <= set(EVENT_TYPES)
    for completing in rule.completed_by:
        assert {c.field for c in rule.completed_when} <= _fields(completing), completing
        assert {f for f in rule.match_on if f != "producer"} <= _fields(completing), completing
    assert {f for f in rule.match_on if f != "producer"} <= trigger_fields
    if rule.anchor in (Anchor.DATE_FIELD, Anchor.TIME_FIELD):
        assert rule.anchor_field in trigger_fields
    if rule.anchor is Anchor.MEETING:
        assert "meeting_id" in trigger_fields
    if rule.fan_out:
        assert rule.fan_out in trigger_fields and rule.single == "open"
    if rule.referral_when:
        assert rule.anchor is Anchor.NGO_REFERRAL
    for stop in rule.stopped_by:
        assert stop.event_type in EVENT_TYPES and {c.field for c in stop.when} <= _fields(stop.event_type)
        if stop.match:
            assert set(rule.match_on) <= _fields(stop.event_type), stop
    if rule.recurrence is not None:
        for event_type, field in rule.recurrence.next_due_from:
            assert field in _fields(event_type) and set(rule.match_on) <= _fields(event_type)
    assert rule.single in ("", "open", "ever")
    assert rule.paragraph and rule.title
