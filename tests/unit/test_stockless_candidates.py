"""Sources as candidates holding none of an order, shared within a batch: the same candidate as
one made for each order, and a new one once the batch has used more of the source's day."""

from datetime import UTC, datetime

from hub.services.orchestration import _Batch, _stockless
from hub.services.supply_view import Source
from orchestration_policies.decision_inputs import candidate_from
from tests.unit.test_rerun_decoding import DEFINITION


def _source() -> Source:
    return Source("dc-1", DEFINITION, True, candidate_from(DEFINITION, True, {}))


def _batch() -> _Batch:
    return _Batch(now=datetime(2026, 12, 5, tzinfo=UTC), policies=[], used_today={})


def test_a_stockless_candidate_is_the_one_made_for_each_order_and_shared_in_a_batch() -> None:
    source, batch = _source(), _batch()
    first = _stockless(source, batch)
    assert first == source.candidate({}, 0)
    assert dict(first.stock) == {}
    assert _stockless(source, batch) is first


def test_shipments_the_batch_adds_make_a_new_candidate_with_them() -> None:
    source, batch = _source(), _batch()
    before = _stockless(source, batch)
    batch.used_today["dc-1"] = 2  # an earlier order of the batch shipped from it
    after = _stockless(source, batch)
    assert after.used_today == 2 and after.capacity_left == 38
    assert after == source.candidate({}, 2)
    assert before.used_today == 0  # the candidate an earlier order was given is unchanged
