"""The publisher's partitioner: the default's partition for every key, each key hashed once."""

import uuid

from aiokafka.partitioner import DefaultPartitioner

from connectors.publisher import KEPT_HASHES, _hash, cached_partitioner


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


def test_the_hashes_kept_are_bounded_and_a_forgotten_key_goes_where_it_went() -> None:
    """Every captured order brings a key never wanted again once its events are out: the cache
    keeps KEPT_HASHES of them, not one per order (it was ~15 MB of a process at 65,536)."""
    partitions = list(range(12))
    first = str(uuid.uuid4()).encode()
    where = cached_partitioner(first, partitions, partitions)
    for _ in range(KEPT_HASHES + 100):
        cached_partitioner(str(uuid.uuid4()).encode(), partitions, partitions)
    info = _hash.cache_info()
    assert info.maxsize == KEPT_HASHES and info.currsize == KEPT_HASHES

    before = _hash.cache_info()
    assert cached_partitioner(first, partitions, partitions) == where  # hashed again, same place
    assert _hash.cache_info().misses == before.misses + 1
