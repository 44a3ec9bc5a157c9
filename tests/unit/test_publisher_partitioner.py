"""The publisher's partitioner: the default's partition for every key, each key hashed once."""

import uuid

from aiokafka.partitioner import DefaultPartitioner

from connectors.publisher import _hash, cached_partitioner


def test_every_key_goes_where_the_default_partitioner_sends_it() -> None:
    keys = [str(uuid.uuid4()).encode() for _ in range(2_000)] + [b"", b"a", b"source-17"]
    for partitions in ([0], [0, 1, 2], list(range(12))):
        for key in keys:
            expected = DefaultPartitioner()(key, partitions, partitions)
            assert cached_partitioner(key, partitions, partitions) == expected
            assert cached_partitioner(key, partitions, partitions) == expected  # from the cache


def test_a_key_is_hashed_once() -> None:
    key = str(uuid.uuid4()).encode()
    before = _hash.cache_info()
    for _ in range(10):
        cached_partitioner(key, [0, 1, 2], [0, 1, 2])
    after = _hash.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 9)


def test_no_key_picks_an_available_partition() -> None:
    assert {cached_partitioner(None, [0, 1, 2], [1]) for _ in range(20)} == {1}
