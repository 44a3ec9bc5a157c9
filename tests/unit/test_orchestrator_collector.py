"""The cyclic collector is paused while a chunk of orders is routed, and left as it was found
after it, when the chunk fails too: a chunk's objects are never scanned nor promoted."""

import gc
from collections.abc import Iterator
from typing import Any, cast
from uuid import UUID, uuid4

import pytest

from hub.services.followers import OrchestrationFollower
from hub.services.orchestration import OrchestrationResult


class Orchestration:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.collecting: list[bool] = []

    def orchestrate_many(self, order_ids: list[UUID]) -> list[OrchestrationResult]:
        self.collecting.append(gc.isenabled())
        if self.fail:
            raise RuntimeError("the database is gone")
        return [OrchestrationResult(i, "routed", "routed", 1) for i in order_ids]


@pytest.fixture
def collecting() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def _follower(orchestration: Orchestration) -> OrchestrationFollower:
    return OrchestrationFollower(
        cast(Any, orchestration), cast(Any, None), cast(Any, None), ["standard"]
    )


@pytest.mark.usefixtures("collecting")
def test_a_chunk_is_routed_with_the_collector_paused_and_it_runs_again_after() -> None:
    orchestration = Orchestration()
    follower = _follower(orchestration)
    orders = [uuid4() for _ in range(3)]

    follower._run_chunked(orders)

    assert orchestration.collecting == [False]
    assert gc.isenabled()
    assert [r.order_id for r in follower.results] == orders


@pytest.mark.usefixtures("collecting")
def test_a_failed_chunk_leaves_the_collector_running() -> None:
    follower = _follower(Orchestration(fail=True))

    with pytest.raises(RuntimeError):
        follower._run_chunked([uuid4()])

    assert gc.isenabled()


def test_a_collector_paused_by_someone_else_stays_paused() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        _follower(Orchestration())._run_chunked([uuid4()])
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
