"""benchmarks.soak_lag: each role's lag summed from its groups, the bound the soak paces on, and
the end's wait for every role to catch up."""

import asyncio
from typing import Any

from aiokafka import TopicPartition

from benchmarks.soak_lag import Behind, LagBound, by_role, catch_up, role_of
from connectors.lag import GroupLag
from hub.settings import Settings


def test_a_groups_role_is_read_from_its_name() -> None:
    settings = Settings(_env_file=None, consumer_group="bench-flow1.")  # type: ignore[call-arg]
    assert role_of(settings, "bench-flow1.-orchestration-order-events") == "orchestration"
    assert role_of(settings, "bench-flow1.-fulfillment") == "fulfillment"


def test_a_roles_lag_and_consumed_records_sum_its_groups() -> None:
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    events = GroupLag("g1", {a: 90, b: -1}, {a: 100, b: 5})  # never committed: all behind
    stock = GroupLag("g2", {a: 40}, {a: 40})
    found = by_role([("orchestration", events), ("orchestration", stock), ("intake", stock)])
    assert found.lag == {"orchestration": 15, "intake": 0}
    assert found.consumed == {"orchestration": 130, "intake": 40}
    assert found.groups == {"g1": 15, "g2": 0}  # which of a role's consumers is behind


def test_a_role_lags_only_once_over_its_bound_for_the_whole_while() -> None:
    bound = LagBound(records=1000, seconds=30)
    bound.observe(0, {"fulfillment": 5000, "relay": 10})
    bound.observe(20, {"fulfillment": 4000, "relay": 10})
    assert bound.lagging() == []  # a round's burst: over, not yet for 30 s
    bound.observe(30, {"fulfillment": 3000, "relay": 10})
    assert bound.lagging() == ["fulfillment"]
    bound.observe(40, {"fulfillment": 1500, "relay": 2000})
    assert bound.lagging() == ["fulfillment"]
    bound.observe(50, {"fulfillment": 900, "relay": 2500})  # back under: released at once
    assert bound.lagging() == []
    assert bound.held == {"fulfillment": 20.0}  # from 30 to 50


def test_the_longest_over_its_bound_is_named_first() -> None:
    bound = LagBound(records=10, seconds=0)
    bound.observe(0, {"projections": 50})
    bound.observe(5, {"projections": 50, "orchestration": 500})
    assert bound.lagging() == ["projections", "orchestration"]


class _Looks:
    """A watch whose looks are given, one per call, and a clock one second a look."""

    def __init__(self, looks: list[dict[str, int]]) -> None:
        self._looks = looks
        self.now = 0.0
        self.failed = 0

    def clock(self) -> float:
        return self.now

    async def look(self) -> Behind:
        lag = self._looks[min(int(self.now), len(self._looks) - 1)]
        self.now += 1
        return Behind(lag, {})


def _caught(looks: list[dict[str, int]], limit: float = 100) -> dict[str, Any]:
    watch = _Looks(looks)
    return asyncio.run(catch_up(watch, limit, watch.clock, pause=0))  # type: ignore[arg-type]


def test_the_end_waits_for_every_role_and_says_when_each_reached_zero() -> None:
    caught = _caught(
        [
            {"relay": 0, "orchestration": 300, "projections": 9000},
            {"relay": 40, "orchestration": 0, "projections": 6000},  # the relay behind again
            {"relay": 0, "orchestration": 0, "projections": 2000},
            {"relay": 0, "orchestration": 0, "projections": 0},
        ]
    )
    assert caught["roles"] == {
        "relay": {"behind": 0, "seconds": 3},  # a look's time: when it answered
        "orchestration": {"behind": 300, "seconds": 2},
        "projections": {"behind": 9000, "seconds": 4},
    }
    assert caught["left"] == {}


def test_a_role_still_behind_at_the_limit_is_left_and_not_caught_up() -> None:
    caught = _caught([{"relay": 0, "fulfillment": 800}], limit=3)
    assert caught["roles"]["fulfillment"] == {"behind": 800, "seconds": None}
    assert caught["left"] == {"fulfillment": 800}
