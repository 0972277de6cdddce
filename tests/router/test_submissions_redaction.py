"""A redacted delivery (an outcome owed to a referrer, 6.24, 5.18–5.20) carries neither
``personal_data`` nor any free text that may name a child (issue 12, item 4); an entitled
recipient still gets the event whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from referral_bus.contracts.base import REDACTED, City
from referral_bus.contracts.events import NGODecision, NGODecisionKind, ReferralKind, ReferralMade, SupportService
from referral_bus.domain.agencies import Directory
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.settings import Settings
from referral_bus.router.submissions import Submission, SubmissionHandler
from tests.builders import FICTIONAL, envelope

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SCHOOL, NGO = "rb.ingress.school-almaty", "rb.ingress.ngo-rodnik"


def test_the_referrers_redacted_outcome_names_nobody(directory: Directory) -> None:
    codec = Codec(EmbeddedRegistry.from_directory(Settings().schemas_dir))
    core = SubmissionHandler(codec, directory, {SCHOOL: "school-almaty", NGO: "ngo-rodnik"}, max_event_bytes=65536,
                             max_clock_skew=timedelta(minutes=5), clock=lambda: NOW)
    at = NOW - timedelta(hours=2)
    referral = ReferralMade(envelope=envelope(ReferralMade, "C-77", "school-almaty", at=at),
                            referral_kind=ReferralKind.NGO_SUPPORT, city=City.ALMATY, child_age_years=12,
                            services_requested=[SupportService.SOCIAL], referring_body="teacher of Test Child",
                            personal_data=FICTIONAL)
    out = core.handle(Submission(SCHOOL, 0, 0, b"C-77", codec.encode(referral)))
    [(to_ngo, whole)] = out.deliveries
    assert (to_ngo.recipient_id, to_ngo.redacted) == ("ngo-rodnik", False)
    assert whole.referring_body == "teacher of Test Child" and whole.personal_data == FICTIONAL  # type: ignore[attr-defined]

    decision = NGODecision(envelope=envelope(NGODecision, "C-77", "ngo-rodnik", at=at + timedelta(minutes=30)),
                           decision=NGODecisionKind.DECLINED_NO_SPACE, reasons="no place for Test Child this month",
                           personal_data=FICTIONAL)
    out = core.handle(Submission(NGO, 0, 1, b"C-77", codec.encode(decision)))
    [(to_school, told)] = out.deliveries
    assert (to_school.recipient_id, to_school.redacted) == ("school-almaty", True)
    assert told.personal_data is None and told.reasons == REDACTED  # type: ignore[attr-defined]
    assert told.decision is NGODecisionKind.DECLINED_NO_SPACE  # type: ignore[attr-defined]
    assert "Test Child" not in told.model_dump_json()
    assert codec.decode(codec.encode(told)) == told       # what the school's SDK decodes
    assert out.appended is not None and out.appended.reasons == "no place for Test Child this month"  # type: ignore[attr-defined]
