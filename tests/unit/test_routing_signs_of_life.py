"""The routing process's signs of life come from its work, not from a clock of their own: each
look at the log (before it, so a look that hangs is silence) and each chunk of orders of a
long pass, so a long legitimate pass is never taken for a hang."""

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, cast
from uuid import UUID, uuid4

from hub.embedded.decoded_log import Read
from hub.embedded.routing_child import Watched
from hub.services.followers import ROUTE_CHUNK, OrchestrationFollower
from schemas.event_types import EventType


class Orchestration:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen
        # Nothing is known of the waiting orders: every one woken is decided again.
        self.supply = SimpleNamespace(refresh=lambda: 0)
        self.waiting = SimpleNamespace(
            unchanged=lambda order_id, waits: False, unlisted=lambda skus: {}
        )

    def orchestrate_many(self, order_ids: list[UUID]) -> list[Any]:
        self.seen.append(f"chunk of {len(order_ids)}")
        return []


class Positions:
    @contextmanager
    def transaction(self) -> Iterator[Any]:
        yield SimpleNamespace(executemany=lambda *_: None)


def test_a_long_pass_shows_a_sign_of_life_before_each_chunk_of_orders() -> None:
    seen: list[str] = []
    follower = OrchestrationFollower(
        cast(Any, Orchestration(seen)), cast(Any, None), cast(Any, Positions()), ["standard"]
    )
    follower.progress = lambda: seen.append("alive")
    accepted = [
        SimpleNamespace(type=EventType.ORDER_ACCEPTED, subject=str(uuid4()), data={})
        for _ in range(2 * ROUTE_CHUNK + 1)
    ]

    follower.apply(cast(Any, accepted), {"notification_log": 3})

    assert seen == [
        "alive",
        f"chunk of {ROUTE_CHUNK}",
        "alive",
        f"chunk of {ROUTE_CHUNK}",
        "alive",
        "chunk of 1",
    ]


class Log:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def read(self, after: int | None, limit: int, types: Any = None) -> Read:
        self.seen.append(f"read after {after}")
        return Read(entries=[], last=None)

    def max_position(self) -> int:
        self.seen.append("end")
        return 7


def test_each_look_at_the_log_is_a_sign_of_life_given_before_it() -> None:
    seen: list[str] = []
    watched = Watched(Log(seen), lambda: seen.append("alive"))

    watched.read(3, 500)
    assert watched.max_position() == 7

    assert seen == ["alive", "read after 3", "alive", "end"]


class Backorders:
    def __init__(self, waiting: list[str]) -> None:
        self.waiting = waiting

    def waiters_of(self, skus: list[str], rank: Any) -> dict[str, list[tuple[str, Any]]]:
        waiters = [(o, frozenset({"RED-CHAIR"})) for o in self.waiting]
        return {"RED-CHAIR": waiters} if "RED-CHAIR" in skus else {}


def test_orders_waiting_for_stock_that_came_are_routed_in_chunks_too() -> None:
    seen: list[str] = []
    waiting = [str(uuid4()) for _ in range(ROUTE_CHUNK + 1)]
    follower = OrchestrationFollower(
        cast(Any, Orchestration(seen)),
        cast(Any, Backorders(waiting)),
        cast(Any, Positions()),
        ["standard"],
    )
    follower.progress = lambda: seen.append("alive")
    counted = SimpleNamespace(
        type=EventType.STOCK_ITEM_COUNTED, subject="wh-lyon:RED-CHAIR", data={"sku": "RED-CHAIR"}
    )

    follower.apply(cast(Any, [counted]), {"notification_log": 4})

    assert seen == ["alive", f"chunk of {ROUTE_CHUNK}", "alive", "chunk of 1"]
