"""Builders for test events. Every person in them is fictional; case ids are random."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from referral_bus.contracts.base import City, Envelope, Event, PersonalData, Producer
from referral_bus.contracts.events import (
    EmergencyRemoval,
    ReferralKind,
    ReferralMade,
    RemovalOutcomeReported,
)
from referral_bus.domain.chain import GENESIS, chain_hash
from referral_bus.infra.codec.schema_store import SchemaStore
from referral_bus.infra.settings import Settings
from referral_bus.sdk import AgencyClient

#: The released schemas: a built event declares its type's current version, as an SDK does.
SCHEMAS = SchemaStore(Settings().schemas_dir)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FICTIONAL = PersonalData(child_name="Test Child", narrative="fictional test data")


def case_id(prefix: str = "CASE") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def envelope(event_type: type[Event], case: str, agency: str, *, at: datetime = T0, sequence: int | None = None,
             recorded_at: datetime | None = None, event_id: uuid.UUID | None = None) -> Envelope:
    return Envelope(event_id=event_id or uuid.uuid4(), event_type=event_type.__name__,
                    schema_version=SCHEMAS.version_of(event_type.__name__),
                    case_id=case, occurred_at=at, recorded_at=recorded_at, sequence=sequence,
                    producer=Producer(agency_id=agency, actor_id="staff-1"))


def on_log(event: Event, sequence: int, recorded_at: datetime | None = None) -> Event:
    """The event as the router would have appended it (for engine and fold tests)."""
    env = event.envelope.model_copy(update={"sequence": sequence,
                                            "recorded_at": recorded_at or event.envelope.occurred_at})
    return event.model_copy(update={"envelope": env})


def referral(client: AgencyClient, case: str, *, age: int = 7, city: City = City.ALMATY,
             kind: ReferralKind = ReferralKind.CHILD_PROTECTION, **extra: Any) -> ReferralMade:
    fields: dict[str, Any] = {"referral_kind": kind, "city": city, "child_age_years": age, **extra}
    if kind is ReferralKind.NGO_SUPPORT:
        fields.setdefault("services_requested", ["LEGAL"])
    return client.event(ReferralMade, case_id=case, **fields)


def removal(client: AgencyClient, case: str, *, hours_ago: float, worker_present: bool = False,
            removed: bool = True) -> EmergencyRemoval:
    return client.event(EmergencyRemoval, case_id=case, occurred_at=datetime.now(UTC) - timedelta(hours=hours_ago),
                        city=City.ALMATY, child_age_years=9, child_removed=removed,
                        cam_social_worker_present=worker_present, personal_data=FICTIONAL)


def outcome_report(client: AgencyClient, case: str) -> RemovalOutcomeReported:
    return client.event(RemovalOutcomeReported, case_id=case, child_removed=True, placed_in_temporary_care=True,
                        referred_to_cam=True)


def make(event_type: type[Event], agency: str, *, case: str = "C-1", at: datetime = T0, **fields: Any) -> Event:
    """Any case event, produced by ``agency`` on ``case``."""
    return event_type(envelope=envelope(event_type, case, agency, at=at), **fields)


class CaseFold:
    """One case driven through the domain's entry points (``decide``, ``fold``) without a broker,
    so pathway tests read as the protocol's sequence of steps."""

    def __init__(self, directory: Any, case: str = "C-1") -> None:
        from referral_bus.domain.case_state import CaseState
        self.directory = directory
        self.state = CaseState(case)
        self.case = case

    def add(self, event: Event) -> dict[str, Any]:
        """Accept ``event``; returns recipient id → Delivery."""
        from referral_bus.domain.decisions import decide, fold
        deliveries = decide(event, self.state, self.directory).deliveries
        fold(self.state, on_log(event, self.state.last_sequence + 1), self.directory)
        return {d.recipient_id: d for d in deliveries}

    def rejects(self, event: Event) -> Any:
        """The Rejection ``event`` gets; fails the test if it is accepted."""
        from referral_bus.domain.decisions import decide
        from referral_bus.domain.rejections import Rejection
        try:
            decide(event, self.state, self.directory)
        except Rejection as rejection:
            return rejection
        raise AssertionError(f"{event.event_type()} was accepted")


def chained_removal_case(case: str, count: int, *, first: int = 1, previous: str = GENESIS, start: datetime = T0,
                         child_removed: bool = True) -> list[Event]:
    """Events ``first`` … ``first + count - 1`` of ``case`` — an emergency removal at sequence 1,
    then outcome reports — stamped and linked as the router stamps them (occurred at ``start``,
    recorded a minute apart; fictional content): case logs written without the router, for tests
    and benchmarks. ``child_removed=False`` opens the 4.8 deadline and nothing after it."""
    police = Producer(agency_id="police-juvenile-almaty", actor_id="builder")
    out: list[Event] = []
    for sequence in range(first, first + count):
        kind: type[Event] = EmergencyRemoval if sequence == 1 else RemovalOutcomeReported
        env = Envelope(event_id=uuid.uuid4(), event_type=kind.__name__,
                       schema_version=SCHEMAS.version_of(kind.__name__), case_id=case, occurred_at=start,
                       recorded_at=start + timedelta(minutes=sequence), sequence=sequence, previous_hash=previous,
                       producer=police)
        event: Event
        if sequence == 1:
            event = EmergencyRemoval(envelope=env, city=City.ALMATY, child_age_years=9, child_removed=child_removed,
                                     cam_social_worker_present=False)
        else:
            event = RemovalOutcomeReported(envelope=env, child_removed=child_removed,
                                           placed_in_temporary_care=child_removed, referred_to_cam=True)
        previous = chain_hash(previous, event)
        out.append(event.model_copy(update={"envelope": event.envelope.model_copy(update={"hash": previous})}))
    return out
