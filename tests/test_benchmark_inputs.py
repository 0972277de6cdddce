"""The benchmarks' inputs and baselines are what their docs say (docs/benchmarks.md): a baseline that
decodes something else, or a case log the services would set aside, would make a figure meaningless
without any error. No timings here."""

from __future__ import annotations

from benchmarks.case_log import case_events
from benchmarks.codec_bench import sample
from benchmarks.raw_avro import RawAvro
from referral_bus.domain.case_state import CaseState
from referral_bus.domain.chain import ChainFollower
from referral_bus.domain.decisions import fold
from referral_bus.infra.runtime import Runtime


def test_raw_baseline_decodes_the_codecs_frames_to_the_same_datum(runtime: Runtime) -> None:
    raw = RawAvro(runtime.codec.registry)
    event = sample(runtime.codec.current_version("EmergencyRemoval"))
    framed = runtime.codec.encode(event)
    name, datum = raw.decode(framed)
    assert name == "EmergencyRemoval"
    assert datum == runtime.codec.decode_raw(framed)[1]
    assert raw.encode(name, datum) == framed          # same frame, same schema id, same body


def test_raw_baseline_reads_an_older_version_as_the_codec_does(runtime: Runtime) -> None:
    """A frame of an older release is resolved against the current reader, by both."""
    raw = RawAvro(runtime.codec.registry)
    older = runtime.codec.encode(sample(1))
    assert runtime.codec.current_version("EmergencyRemoval") > 1      # else this compares nothing
    assert raw.decode(older) == runtime.codec.decode_raw(older)


def test_benchmark_case_log_extends_every_chain_and_opens_then_meets_the_4_8_deadline(runtime: Runtime) -> None:
    chains, engine = ChainFollower(), runtime.deadline_engine()
    records = []
    for case in ("LOG-0", "LOG-1"):
        state = CaseState(case)
        for event in case_events(runtime, case, 30):
            decoded = runtime.codec.decode(runtime.codec.encode(event))
            assert chains.refuse(decoded) is None       # the services fold it, not quarantine it
            fold(state, decoded, runtime.directory)      # type: ignore[arg-type]
            records += engine.on_event(decoded)          # type: ignore[arg-type]
        assert state.last_sequence == 30
    assert [type(r).__name__ for r in records] == ["DeadlineOpened", "DeadlineMet"] * 2
