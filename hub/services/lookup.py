"""Loading an aggregate by id, with "not there" as None rather than an exception."""

from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from hub.store import OrderStore

T = TypeVar("T")


def find(store: OrderStore, aggregate_id: UUID, kind: type[T]) -> T | None:
    try:
        found: Any = store.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    if not isinstance(found, kind):
        raise TypeError(f"{aggregate_id} is a {type(found).__name__}, not a {kind.__name__}")
    return found
