"""The partitioner docs/contract.md tells agency clients to use: Kafka's default, murmur2 on the key's
UTF-8 bytes, as the Java client computes it — checked against the Java client's own test vectors
(org.apache.kafka.common.utils.UtilsTest.testMurmur2) and an independent murmur2 written here."""

from __future__ import annotations

import pytest
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from referral_bus.infra.kafka.log_reader import partition_for_key

#: The Java client's test vectors: key → murmur2 as a signed 32-bit int.
JAVA_VECTORS = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
                b"a-little-bit-longer-string": -1486304829,
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}


def murmur2(data: bytes) -> int:
    """MurmurHash2 as Kafka's Java client has it (seed 0x9747b28c), unsigned 32-bit."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    h = (0x9747B28C ^ len(data)) & mask
    whole = len(data) - len(data) % 4
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[whole:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def signed(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


@pytest.mark.parametrize("key", sorted(JAVA_VECTORS))
def test_murmur2_matches_the_java_client(key: bytes) -> None:
    assert signed(murmur2(key)) == JAVA_VECTORS[key]
    assert signed(kafka_python_murmur2(key)) == JAVA_VECTORS[key]


def test_the_bus_partitions_case_ids_as_the_java_client_does() -> None:
    keys = [f"KZ-ALA-{n:06d}".encode() for n in range(200)] + [b"C-1", "\u049a\u0430\u0437\u0430\u049b".encode()]
    for partitions in (1, 3, 12):
        assert [partition_for_key(k, partitions) for k in keys] == [
            (murmur2(k) & 0x7FFFFFFF) % partitions for k in keys]
    # the examples docs/contract.md gives
    assert [partition_for_key(k.encode(), 3) for k in ("KZ-ALA-000123", "KZ-ALA-000124", "KZ-NUR-000001")] == [0, 2, 2]
