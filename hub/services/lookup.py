"""Loading an aggregate by id, with "not there" as None rather than an exception."""

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
