"""Deterministic ids: the same channel order always maps to the same aggregate."""

from uuid import UUID, uuid5

# Fixed forever: changing it would give every existing order a new id.
ORDER_NAMESPACE = UUID("6f1b9a52-3c1e-4e57-9a43-0d8f3c2b7e10")
EVENT_NAMESPACE = UUID("0b6d3e4a-8f5c-4d2e-b1a7-5c9e2f4a6d81")


def order_id_for(channel: str, external_id: str) -> UUID:
    """The order id is uuid5 of "channel:external_id", so a duplicate is caught by the store."""
    return uuid5(ORDER_NAMESPACE, f"{channel}:{external_id}")


def event_id_for(aggregate_id: UUID, version: int) -> UUID:
    """A stable id per stored event, so a re-published event carries the same CloudEvents id."""
    return uuid5(EVENT_NAMESPACE, f"{aggregate_id}:{version}")
