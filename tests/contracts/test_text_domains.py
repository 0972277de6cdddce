"""Every text field of every contract has a domain (issue 12, item 4): identifiers and references
of a safe alphabet and length, short labels, the bus's own explanations, and free text that may
name a person — bounded, without control characters, and treated as personal data: redacted with
``personal_data`` (``redact_personal``), never in the read models or ``history``. Each refusal
names the field and the rule, and never repeats what was sent."""

from __future__ import annotations

import types
import typing
from collections import Counter
from datetime import date
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from referral_bus.contracts import ALL_RECORDS, EVENT_TYPES
from referral_bus.contracts.base import (
    AGENCY_ID,
    REDACTED,
    TOPIC,
    City,
    Event,
    PersonalData,
    TextDomain,
    personal_text_fields,
    redact_personal,
    text_domains,
)
from referral_bus.contracts.care_events import (
    CarePlanReviewReportIssued,
    CaseTransferredAbroad,
    ChildLeftCare,
    IndependentSupporterAssigned,
    MedicalExaminationAuthorised,
    PlanKind,
    ReviewRecommendationsRejected,
    TemporaryCareDecided,
    TemporaryCareForm,
)
from referral_bus.contracts.events import (
    ChildProtectionMeetingScheduled,
    CriminalCaseOpened,
    CriminalCaseUpdated,
    NGODecision,
    NGODecisionKind,
    ReferralKind,
    ReferralMade,
)
from referral_bus.contracts.ngo_events import ServiceProgressReported, ServiceRequested
from referral_bus.contracts.violence_events import (
    FollowUpOf,
    FollowUpOutcome,
    FollowUpRecorded,
    SchoolScreeningFlagRaised,
    ScreeningConcern,
    SpecialSocialServicesReviewed,
)
from referral_bus.infra.codec.errors import DecodeError
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.settings import Settings
from tests.builders import FICTIONAL, T0, envelope

#: Written as a referrer might: the text names the child (a fictional one).
NAMING = "teacher of Test Child, 5th grade"


def refusal(build) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        build()
    return str(caught.value)


# -- every str has a domain ---------------------------------------------------------------------
def _models() -> list[type[BaseModel]]:
    """Every record and every record nested in one (envelope, producer, personal data, consent…)."""
    seen: dict[type[BaseModel], None] = {}

    def visit(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen[model] = None
        for info in model.model_fields.values():
            for leaf in _leaves(info.annotation):
                if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                    visit(leaf)
    for record in ALL_RECORDS.values():
        visit(record)
    return list(seen)


def _leaves(annotation: Any) -> list[Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _leaves(args[0])
    if origin in (typing.Union, types.UnionType, list):
        return [leaf for arg in args for leaf in _leaves(arg)]
    return [annotation]


def _bare_strings(annotation: Any, domained: bool) -> int:
    """How many ``str`` in the annotation carry no ``TextDomain``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _bare_strings(args[0], domained or any(isinstance(m, TextDomain) for m in annotation.__metadata__))
    if origin in (typing.Union, types.UnionType, list):
        return sum(_bare_strings(arg, False) for arg in args)
    return int(annotation is str and not domained)


def _text_fields() -> list[tuple[str, str, TextDomain]]:
    out = []
    for model in _models():
        for name, info in model.model_fields.items():
            if str in _leaves(info.annotation):
                domains = text_domains(info)
                out.append((model.__name__, name, domains[0] if domains else None))
    return out  # type: ignore[return-value]


def test_every_text_field_of_every_contract_has_a_domain() -> None:
    bare = []
    for model in _models():
        for name, info in model.model_fields.items():
            top = any(isinstance(m, TextDomain) for m in info.metadata)
            if _bare_strings(info.annotation, top):
                bare.append(f"{model.__name__}.{name}")
    assert not bare, ("a text field without a domain (use Identifier, Reference, AgencyId, Label, PersonalText… "
                      f"from contracts/base.py): {bare}")
    fields = _text_fields()
    # 156, and SealedPersonalData's scheme, key_ref and recipient (issue 11, item 4)
    assert len(fields) == 159 and all(domain is not None for _, _, domain in fields)
    assert all(d.pattern is not None or d.max_length <= 8_000 for _, _, d in fields)


def test_the_classification() -> None:
    """What is personal is pinned: a new free-text field is a decision, not an accident."""
    kinds = Counter(domain.kind for _, _, domain in _text_fields())
    assert kinds == {"identifier": 99, "label": 28, "text": 6, "personal text": 26}
    personal = {name: fields for name, model in ALL_RECORDS.items() if (fields := personal_text_fields(model))}
    assert personal == {
        "ReferralMade": {"referring_body"}, "NGODecision": {"reasons"},
        "TemporaryCareDecided": {"siblings_separation_reason"}, "ReviewRecommendationsRejected": {"reasons"},
        "CaseTransferredAbroad": {"receiving_authority"}, "ChildLeftCare": {"after_care_authority"},
        "IndependentSupporterAssigned": {"supporter_organisation"}, "ServiceRequested": {"service"},
        "ServiceProgressReported": {"service"}, "FollowUpRecorded": {"reason"},
        "SpecialSocialServicesReviewed": {"reason"},
    }
    assert personal_text_fields(PersonalData) == set(PersonalData.model_fields) - {"child_date_of_birth", "parents"}


def test_every_agency_of_the_directory_has_an_agency_id_and_its_topics_a_topic_name() -> None:
    agencies = yaml.safe_load(Settings().agencies_file.read_text())["agencies"]
    assert len(agencies) > 40
    for agency in agencies:
        AGENCY_ID.check(agency["id"])
        for topic in (f"rb.ingress.{agency['id']}", f"rb.inbox.{agency['id']}", f"rb.receipts.{agency['id']}"):
            TOPIC.check(topic)


# -- refusals are specific ------------------------------------------------------------------------
def referral(**fields: Any) -> ReferralMade:
    return ReferralMade(envelope=envelope(ReferralMade, "C-1", "school-almaty"), city=City.ALMATY,
                        referral_kind=ReferralKind.CHILD_PROTECTION, child_age_years=9, **fields)


def declined(reasons: str) -> NGODecision:
    return NGODecision(envelope=envelope(NGODecision, "C-1", "ngo-rodnik"), decision=NGODecisionKind.DECLINED_NO_SPACE,
                       reasons=reasons)


def test_free_text_is_at_most_2000_characters_and_the_refusal_does_not_repeat_it() -> None:
    assert referral(referring_body="x" * 2_000).referring_body
    message = refusal(lambda: referral(referring_body=NAMING + "x" * 2_000))
    assert "referring_body" in message and "at most 2,000 characters, not 2,032" in message
    assert "Test Child" not in message and "personal_data.narrative" in message


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\u2066", "\ud800"])
def test_free_text_refuses_control_characters(char: str) -> None:
    message = refusal(lambda: declined(f"no space for Test{char} this month"))
    assert "reasons" in message and f"U+{ord(char):04X}" in message and "position 18" in message
    assert "line breaks and tabs are the only control characters allowed" in message


def test_free_text_keeps_its_line_breaks_and_tabs() -> None:
    assert declined("no space:\r\n\t- the programme is full\n- reapply in June").reasons


@pytest.mark.parametrize("value", ["M 1", "M-1\n", "M-1\nDROP", "", "x" * 65, "Test Child", "-M1", "M\u200b1"])
def test_an_identifier_is_a_safe_token(value: str) -> None:
    message = refusal(lambda: CarePlanReviewReportIssued(envelope=envelope(CarePlanReviewReportIssued, "C-1",
                                                                           "cam-almaty"), meeting_id=value))
    assert "meeting_id" in message and "1-64 characters of letters, digits and . _ : -" in message
    assert "never a name or free text" in message


@pytest.mark.parametrize("value", ["CR 17", "CR-17\n", "CR-17\t", "x" * 65])
def test_a_register_number_is_a_safe_token(value: str) -> None:
    message = refusal(lambda: CriminalCaseOpened(envelope=envelope(CriminalCaseOpened, "C-1", "police-juvenile-almaty"),
                                                 criminal_case_ref=value))
    assert "criminal_case_ref" in message and "a register number" in message


@pytest.mark.parametrize("value", ["ЕРДР-207500031000123", "2-1234/2021", "№45/2026", "GTA-2026-17"])
def test_register_numbers_of_any_script_are_accepted(value: str) -> None:
    event = MedicalExaminationAuthorised(envelope=envelope(MedicalExaminationAuthorised, "C-1", "guardianship-almaty"),
                                         granted=True, decision_reference=value)
    assert event.decision_reference == value


def test_a_label_is_one_short_line() -> None:
    def stage(value: str) -> CriminalCaseUpdated:
        return CriminalCaseUpdated(envelope=envelope(CriminalCaseUpdated, "C-1", "police-juvenile-almaty"),
                                   criminal_case_ref="CR-1", stage=value)
    assert stage("sent to court").stage == "sent to court"
    assert "stage" in (m := refusal(lambda: stage("charged\nthe father"))) and "U+000A" in m and "one line" in m
    assert "at most 100 characters, not 101" in refusal(lambda: stage("x" * 101))


def test_agency_ids_and_country_codes() -> None:
    message = refusal(lambda: ChildProtectionMeetingScheduled(
        envelope=envelope(ChildProtectionMeetingScheduled, "C-1", "cam-almaty"), meeting_id="M-1",
        scheduled_for=T0, invited_agency_ids=["school-almaty", "school almaty"]))
    assert "invited_agency_ids.1" in message and "an agency id from agencies.yaml" in message
    message = refusal(lambda: CaseTransferredAbroad(envelope=envelope(CaseTransferredAbroad, "C-1", "cam-almaty"),
                                                    country_code="uzb", receiving_authority="Ministry of Education"))
    assert "country_code" in message and "ISO 3166-1 alpha-2" in message


def test_a_child_age_on_the_violence_pathway_is_0_to_17() -> None:
    message = refusal(lambda: SchoolScreeningFlagRaised(
        envelope=envelope(SchoolScreeningFlagRaised, "C-1", "school-almaty"), city=City.ALMATY, child_age_years=19,
        concern=ScreeningConcern.NEGLECT))
    assert "child_age_years" in message and "must be 0–17" in message


def test_the_codec_refuses_with_the_field_and_the_rule_never_the_text(codec: Codec) -> None:
    event = referral()
    long = event.model_copy(update={"referring_body": NAMING * 100})  # not validated: as a hostile producer
    with pytest.raises(DecodeError) as caught:
        codec.decode(codec.encode(long))
    assert caught.value.field == "referring_body" and caught.value.code == "SCHEMA_INVALID"
    assert "ReferralMade.referring_body: must be at most 2,000 characters" in caught.value.message
    assert "Test Child" not in caught.value.message


# -- redaction ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(EmbeddedRegistry.from_directory(Settings().schemas_dir))


def with_personal_text() -> list[Event]:
    """One event of every type that has a personal free-text field, each naming the child."""
    def env(cls: type[Event], agency: str = "cam-almaty") -> Any:
        return envelope(cls, "C-1", agency)
    return [
        referral(referring_body=NAMING, personal_data=FICTIONAL),
        declined(f"no space for {NAMING}").model_copy(update={"personal_data": FICTIONAL}),
        TemporaryCareDecided(envelope=env(TemporaryCareDecided, "guardianship-almaty"), placement_necessary=True,
                             form=TemporaryCareForm.FAMILY_BASED, siblings_separated=True,
                             siblings_separation_reason=f"{NAMING} is at risk from her brother"),
        ReviewRecommendationsRejected(envelope=env(ReviewRecommendationsRejected), plan_kind=PlanKind.CARE_PLAN,
                                      meeting_id="R-1", reasons=f"{NAMING} wishes to stay"),
        CaseTransferredAbroad(envelope=env(CaseTransferredAbroad), country_code="UZ",
                              receiving_authority=f"the aunt of {NAMING}"),
        ChildLeftCare(envelope=env(ChildLeftCare), care_plan_id="CP-1", after_care_authority=f"mentor of {NAMING}"),
        IndependentSupporterAssigned(envelope=env(IndependentSupporterAssigned),
                                     supporter_organisation=f"neighbour of {NAMING}"),
        ServiceRequested(envelope=env(ServiceRequested, "ngo-rodnik"), provider_agency_id="school-almaty",
                         service=f"tutoring for {NAMING}"),
        ServiceProgressReported(envelope=env(ServiceProgressReported, "school-almaty"), ngo_agency_id="ngo-rodnik",
                                service=f"tutoring for {NAMING}"),
        FollowUpRecorded(envelope=env(FollowUpRecorded), follow_up_of=FollowUpOf.SCHOOL_FLAG,
                         outcome=FollowUpOutcome.CHILD_NOT_FOUND, reason=f"{NAMING} moved to Shymkent"),
        SpecialSocialServicesReviewed(envelope=env(SpecialSocialServicesReviewed, "social-protection-almaty"),
                                      need_established=False, reason=f"{NAMING} already receives them"),
    ]


def test_the_examples_cover_every_event_with_personal_text() -> None:
    covered = {type(e).__name__ for e in with_personal_text()}
    assert covered == {name for name, cls in EVENT_TYPES.items() if personal_text_fields(cls)}


@pytest.mark.parametrize("event", with_personal_text(), ids=lambda e: type(e).__name__)
def test_redact_personal_blanks_every_personal_field_and_still_encodes(event: Event, codec: Codec) -> None:
    assert "Test Child" in event.model_dump_json()
    redacted = redact_personal(event)
    assert "Test Child" not in redacted.model_dump_json() and redacted.personal_data is None
    for name in personal_text_fields(type(event)):
        assert getattr(redacted, name) == REDACTED
    # everything else untouched, the record's own rules still hold, the bytes decode on the other side
    keep = set(type(event).model_fields) - type(event).personal_fields()
    assert redacted.model_dump(include=keep) == event.model_dump(include=keep)
    assert type(event).model_validate(redacted.model_dump()) == redacted
    assert codec.decode(codec.encode(redacted)) == redacted
    assert event.redacted() == redacted


def test_redaction_keeps_an_empty_optional_field_empty() -> None:
    plain = referral(personal_data=FICTIONAL)
    assert redact_personal(plain) == plain.model_copy(update={"personal_data": None})
    assert redact_personal(plain).referring_body is None


def test_personal_data_itself_is_bounded() -> None:
    assert "child_name" in refusal(lambda: PersonalData(child_name="Test\nChild"))
    assert "at most 8,000 characters" in refusal(lambda: PersonalData(narrative="x" * 8_001))
    assert PersonalData(narrative="x" * 8_000, child_date_of_birth=date(2015, 1, 2)).narrative
