"""Loading an aggregate by id, with "not there" as None rather than an exception."""

from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from aggregates.errors import DomainError
from hub.store import OrderStore

T = TypeVar("T")


class UnknownOrderError(DomainError):
    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"no order {order_id}")
        self.order_id = order_id


def find(store: OrderStore, aggregate_id: UUID, kind: type[T]) -> T | None:
    try:
        found: Any = store.repository_for(kind).get(aggregate_id)
    except AggregateNotFoundError:
        return None
    if not isinstance(found, kind):
        raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {kind.__name__}")
    return found


def find_many(store: OrderStore, aggregate_ids: Iterable[UUID], kind: type[T]) -> dict[UUID, T]:
    """The stored ones of many aggregates, from one query (`find` reads one per query)."""
    found: dict[UUID, Any] = store.get_many(aggregate_ids, kind)
    for aggregate_id, aggregate in found.items():
        if not isinstance(aggregate, kind):
            name = type(aggregate).__name__
            raise TypeError(f"{aggregate_id} is a {name}, not a {kind.__name__}")
    return found
