"""The projections role's history built by copying recorded orders (benchmarks.projections_history):
each copy is other orders, with the same network, that the role's views take as new ones."""

import re
from pathlib import Path

import pytest

from benchmarks.projection_events import projection_records, record_history
from benchmarks.projections_history import Offsets, clone
from benchmarks.route_profile import NOW
from connectors.codec import record_to_envelope
from connectors.consumed import ConsumedMessage
from hub.bootstrap import bootstrap
from hub.settings import Settings
from schemas.event_types import EventType

UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[ConsumedMessage]:
    tmp: Path = tmp_path_factory.mktemp("history")
    hub = bootstrap(Settings(data_dir=tmp), clock=lambda: NOW)
    try:
        record_history(hub, 12, sources=8, skus=60)
        records = projection_records(hub)
    finally:
        hub.close()
    first = next(i for i, r in enumerate(records) if r.header("ce_type") == EventType.ORDER_PLACED)
    return records[first:]


def ids(records: list[ConsumedMessage]) -> set[bytes]:
    found: set[bytes] = set()
    for r in records:
        found.update(UUID.findall(r.value), UUID.findall(r.key or b""))
        found.update(*(UUID.findall(v) for _, v in r.headers))
    return found


def test_a_copy_is_other_orders_of_the_same_network(recorded: list[ConsumedMessage]) -> None:
    topics = frozenset({recorded[0].topic})  # the order events
    ours = [r for r in recorded if r.topic in topics]
    one = Offsets().place(clone(recorded, 1, topics))
    two = Offsets().place(clone(recorded, 2, topics))
    assert len(one) == len(two) == len(ours)
    assert not ids(one) & ids(ours) and not ids(one) & ids(two)  # every id renamed, apart
    assert len(ids(one)) == len(ids(ours))  # one for one: no two ids became one
    before = [record_to_envelope(r.key, r.value, r.headers) for r in ours]
    after = [record_to_envelope(r.key, r.value, r.headers) for r in one]
    for old, new in zip(before, after, strict=True):
        assert (new.type, new.sequence) == (old.type, old.sequence)
        assert new.subject != old.subject and new.id != old.id
        assert new.time.date().isoformat() == "2026-11-19"  # a day before the recorded one
        if old.type == EventType.ORDER_FULFILLMENT_REQUESTED:
            assert new.data["source_id"] == old.data["source_id"]  # the network's, kept
            assert new.data["lines"] == old.data["lines"]
    placed = [e.data["external_id"] for e in after if e.type == EventType.ORDER_PLACED]
    assert all(x.startswith("BENCH-0001-") for x in placed) and len(set(placed)) == len(placed)


def test_offsets_count_on_per_partition(recorded: list[ConsumedMessage]) -> None:
    topics = frozenset({recorded[0].topic})
    offsets = Offsets()
    first = offsets.place(clone(recorded, 1, topics))
    second = offsets.place(clone(recorded, 2, topics))
    for partition in {r.partition for r in first}:
        mine = [r.offset for r in first + second if r.partition == partition]
        assert mine == list(range(len(mine)))
