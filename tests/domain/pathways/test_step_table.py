"""The step table: every case event type has exactly one step, and each says who may publish it
and under which paragraph."""

from __future__ import annotations

import pytest

from referral_bus.contracts import EVENT_TYPES
from referral_bus.contracts.events import ReferralMade
from referral_bus.domain import pathways
from referral_bus.domain.pathways import STEP_TABLE, Step


def test_every_case_event_type_has_exactly_one_step() -> None:
    all_steps = [s for module in (pathways.referral, pathways.assessment, pathways.ngo, pathways.care,
                                  pathways.removal_and_crime, pathways.violence, pathways.justice,
                                  pathways.escalation) for s in module.STEPS]
    assert sorted(s.event.__name__ for s in all_steps) == sorted(EVENT_TYPES)
    assert set(STEP_TABLE) == set(EVENT_TYPES.values())
    assert all(STEP_TABLE[cls].event is cls for cls in STEP_TABLE)


def test_each_step_names_its_producers_and_their_duty() -> None:
    for step in STEP_TABLE.values():
        assert step.producers, step.event.__name__
        assert step.duty.strip(), step.event.__name__


def test_only_first_contacts_open_a_case_and_only_a_referral_reopens_one() -> None:
    opening = {s.event.__name__ for s in STEP_TABLE.values() if s.opens_case}
    assert opening == {"ReferralMade", "EmergencyRemoval", "EmergencyRemovalRequested",
                       "ViolenceSuspectedByMedicalStaff", "HelplineRedirected", "SchoolScreeningFlagRaised",
                       "PoliceCustodyStarted", "SpecialSocialServicesApplied"}
    assert [s.event for s in STEP_TABLE.values() if s.reopens_case] == [ReferralMade]


def test_a_second_step_for_the_same_type_is_refused() -> None:
    step = Step(ReferralMade, frozenset(), "4.5")
    with pytest.raises(ValueError, match="two steps for ReferralMade"):
        pathways._index((step,), (step,))
