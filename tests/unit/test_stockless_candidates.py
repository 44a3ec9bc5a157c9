"""Sources as candidates holding none of an order, shared within a batch and kept between
batches: the same candidate as one made for each order, and a new one once the batch has used
more of the source's day or the source changed."""

from datetime import UTC, datetime

from hub.services.orchestration import _Batch, _stockless
from hub.services.supply_view import Source
from orchestration_policies import CandidateSource
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


def test_kept_from_batch_to_batch_while_the_source_and_its_day_stay() -> None:
    """New orders no holder may ship are decided against every source, about one a batch:
    the orchestrator hands each batch the candidates of the ones before."""
    kept: dict[str, tuple[Source, int, CandidateSource]] = {}

    def batch(used: dict[str, int]) -> _Batch:
        return _Batch(now=_batch().now, policies=[], used_today=used, stockless=kept)

    source = _source()
    first = _stockless(source, batch({}))
    assert _stockless(source, batch({})) is first
    # shipments requested from it meanwhile: a new one, as the view counts them
    assert _stockless(source, batch({"dc-1": 3})) == source.candidate({}, 3)
    # the source redefined or paused: the view holds a new Source, and a new candidate is made
    paused = Source("dc-1", DEFINITION, False, candidate_from(DEFINITION, False, {}))
    made = _stockless(paused, batch({"dc-1": 3}))
    assert made == paused.candidate({}, 3) and not made.active
