"""Deterministic ids: the same channel order always maps to the same aggregate."""

import functools
from hashlib import sha1
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


@functools.lru_cache(maxsize=8192)
def event_id_text(aggregate_id: UUID | str, version: int) -> str:
    """`str(event_id_for(...))` without the UUID objects (uuid5 as RFC 4122 and the standard
    library spell it); kept a while, as an event's causation is the id of the event before it,
    most often worked out a moment before. Two ids per event were a fifth of turning a stored
    event into its envelope.

    The hash goes on from a copy of one that has taken the namespace (a new `sha1()` looks its
    algorithm up in OpenSSL each time), and its hex digits are spelled as the UUID's: the
    version's digit is 5, the variant's the digit with its top two bits 10 (`_VARIANT`). A
    bytearray set bit by bit, then `hex()` and slices of that, cost twice as much (the relay
    works out one id per event it publishes)."""
    digest = _EVENT_NAMESPACE_SHA1.copy()
    digest.update(f"{aggregate_id}:{version}".encode())
    h = digest.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_EVENT_NAMESPACE_SHA1 = sha1(EVENT_NAMESPACE.bytes, usedforsecurity=False)
# A hex digit with its top two bits set to the RFC 4122 variant's 10.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
SOURCE_NAMESPACE = UUID("a3f4c2d1-6b7e-4f80-9c1d-2e3f4a5b6c7d")
STOCK_NAMESPACE = UUID("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b")
POLICY_NAMESPACE = UUID("c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f")


def source_aggregate_id(source_id: str) -> UUID:
    return uuid5(SOURCE_NAMESPACE, source_id)


def stock_item_id(source_id: str, sku: str) -> UUID:
    """One stock item per source and SKU: two orders taking the last unit meet on this id."""
    return uuid5(STOCK_NAMESPACE, f"{source_id}:{sku}")


def policy_aggregate_id(policy_id: str) -> UUID:
    return uuid5(POLICY_NAMESPACE, policy_id)
