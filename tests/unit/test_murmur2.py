"""`connectors.murmur2.murmur2` is aiokafka's murmur2 (the Java client's): the same hash, so
the same partition, for every key."""

import random
import uuid

from aiokafka.partitioner import murmur2 as reference

from connectors.murmur2 import murmur2


def test_the_same_hash_as_aiokafka_for_every_length_and_byte() -> None:
    rng = random.Random(10)
    keys = [bytes(rng.randrange(256) for _ in range(n)) for n in range(0, 80) for _ in range(20)]
    keys += [bytes([b]) * n for b in (0, 0x7F, 0x80, 0xFF) for n in range(1, 9)]
    keys += [str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(2000)]
    for key in keys:
        assert murmur2(key) == reference(key), key


def test_known_values() -> None:
    # Fixed here so that a change to both would still be caught (partitions must not move).
    assert murmur2(b"") == reference(b"") == 275646681
    assert murmur2(b"21") == reference(b"21")
    assert murmur2(b"foobar") == reference(b"foobar")
