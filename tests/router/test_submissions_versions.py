"""The router and schema versions: an agency system still on an older release of a type's schema is
served (its event is hashed, stored and delivered in that version); a frame whose bytes are written
with another version than its envelope names is refused, naming ``envelope.schema_version``."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime, timedelta

import pytest
from fastavro import schemaless_writer

from referral_bus.contracts.base import City
from referral_bus.contracts.bus_records import ReceiptStatus
from referral_bus.contracts.events import ReferralKind, ReferralMade
from referral_bus.domain.agencies import Directory
from referral_bus.domain.chain import ChainFollower
from referral_bus.infra.codec.framing import Codec
from referral_bus.infra.codec.registry import EmbeddedRegistry
from referral_bus.infra.codec.schema_store import SchemaStore
from referral_bus.infra.settings import Settings
from referral_bus.router.submissions import Submission, SubmissionHandler
from tests.builders import FICTIONAL, envelope

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SCHOOL = "rb.ingress.school-almaty"


@pytest.fixture(scope="module")
def codec() -> Codec:
    store = SchemaStore(Settings().schemas_dir)
    return Codec(EmbeddedRegistry.from_directory(store.directory), versions=store.install_canonical_versions())


@pytest.fixture
def core(codec: Codec, directory: Directory) -> SubmissionHandler:
    return SubmissionHandler(codec, directory, {SCHOOL: "school-almaty"}, max_event_bytes=4096,
                             max_clock_skew=timedelta(minutes=5), clock=lambda: NOW)


def referral(version: int, case: str = "C-V") -> ReferralMade:
    env = envelope(ReferralMade, case, "school-almaty", at=NOW - timedelta(hours=1))
    return ReferralMade(envelope=env.model_copy(update={"schema_version": version}),
                        referral_kind=ReferralKind.CHILD_PROTECTION, city=City.ALMATY, child_age_years=8,
                        personal_data=FICTIONAL)


def test_an_event_of_an_older_version_is_accepted_and_every_copy_is_written_in_that_version(
        core: SubmissionHandler, codec: Codec) -> None:
    data = codec.encode(referral(3))
    out = core.handle(Submission(SCHOOL, 0, 0, b"C-V", data))
    assert out.receipt.status is ReceiptStatus.ACCEPTED, out.receipt.reason
    stored = codec.encode(out.appended)  # type: ignore[arg-type]
    assert stored[1:5] == data[1:5]                     # the case log's copy: version 3's schema id
    assert ChainFollower().refuse(codec.decode(stored)) is None
    assert all(codec.encode(copy)[1:5] == data[1:5] for _, copy in out.deliveries)  # the inbox copies too


def test_a_frame_of_another_version_than_declared_is_refused(core: SubmissionHandler, codec: Codec) -> None:
    current = codec.current_version("ReferralMade")
    # an agency's own encoder declares today's version but frames the event with the previous schema
    schema_id, parsed = codec.version_writer("ReferralMade", current - 1)
    buffer = io.BytesIO(struct.pack(">bI", 0, schema_id))
    buffer.seek(5)
    schemaless_writer(buffer, parsed, referral(current).model_dump())
    out = core.handle(Submission(SCHOOL, 0, 1, b"C-V", buffer.getvalue()))
    assert (out.receipt.status, out.receipt.reason_code) == (ReceiptStatus.REJECTED, "SCHEMA_VERSION_MISMATCH")
    assert out.receipt.field == "envelope.schema_version"
    assert f"written with version {current - 1}" in (out.receipt.reason or "")


def test_a_version_that_was_never_released_is_refused(core: SubmissionHandler, codec: Codec) -> None:
    data = codec.encode(referral(codec.current_version("ReferralMade")))
    current = codec.decode(data)
    assert isinstance(current, ReferralMade)
    # an agency's own encoder wrote version 99 in the envelope, framed with today's schema
    lying = Codec(codec.registry).encode(current.model_copy(update={
        "envelope": current.envelope.model_copy(update={"schema_version": 99})}))
    out = core.handle(Submission(SCHOOL, 0, 2, b"C-V", lying))
    assert out.receipt.reason_code == "SCHEMA_VERSION_MISMATCH"
    assert "99 is not a released version" in (out.receipt.reason or "")
