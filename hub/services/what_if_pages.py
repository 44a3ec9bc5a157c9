"""The log as what-if reads it, in compact values: one list of tuples per page of the log.

This side reads: it fetches the pages, parses each event's stored JSON (``what_if_log``), keeps
the stock movements and decisions of the window, numbers each order's decisions, and unpacks
and checks the inputs record each decision names. What it gives is builtins only (tuples of str,
int, datetime, bytes and the stored JSON values of a decision record), so it runs in the
caller's process or in a second one (``what_if_process``), whose pages cost little to send: the
objects the engine reads (``StockMovement``, ``RecordedDecision`` with its ``DecisionInputs``)
are built on the other side (``what_if_build``). Reads only.

An item is one of:
- consecutive stock movements: a list of the rows of ``MovementRows`` (no time: the window's
  own reservations, which the engine ignores, are left out; the others count whenever they
  came), not one object per movement;
- a source definition read from the log: ``(SOURCE, digest, definition)``, given before the
  decisions that may name it;
- a decision of the window: ``(DECISION, order_id, n, at, record, live, inputs_digest, body,
  plain)``:
  ``record`` the JSON text of an object whose ``"decision"`` is the decision record (the stored
  event; or the record's JSON values), ``live`` what the engine reads of it (``LiveFacts`` as
  plain tuples, ``sent_facts``: the engine's side reads the record itself only for the few
  decisions a report shows); ``body`` the inputs record's canonical JSON, checked against its
  digest (``b""``: it could not be unpacked or did not match; None: it was not in the part of
  the log kept in memory, and is looked up in the store); ``plain``: the body holds no number
  orjson would read otherwise (``no_long_numbers``).
"""

import hashlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Notification

from aggregates.decision_inputs import RecordedInputs, RecordedSource
from aggregates.order import Order
from aggregates.stock import StockItem
from hub.services.recorded_inputs import unpack
from hub.services.supply_view import event_topic
from hub.services.what_if_log import LogReader, no_long_numbers, pages
from hub.store import OrderStore
from orchestration_policies.decision_inputs import InputsFormatError
from orchestration_policies.what_if import MovementKind
from orchestration_policies.what_if_report import LiveFacts, live_facts, outcome_of
from orchestration_policies.what_if_world import MOVED, order_line
from schemas.decision_record import DecisionRecord

__all__ = [
    "DECISION",
    "KINDS",
    "SOURCE",
    "STOCK",
    "TOPICS",
    "Entry",
    "Item",
    "SentFacts",
    "check",
    "compact_pages",
    "plain_facts",
    "sent_facts",
    "stock_values",
]

_STOCK_EVENTS = (
    ("Registered", MovementKind.REGISTERED),
    ("Counted", MovementKind.COUNTED),
    ("Adjusted", MovementKind.ADJUSTED),
    ("Reserved", MovementKind.RESERVED),
    ("Released", MovementKind.RELEASED),
    ("Consumed", MovementKind.CONSUMED),
)
KINDS = MOVED  # a movement's tag: the index of its kind (MovementRows' rows)
STOCK = {event_topic(StockItem, name): kind for name, kind in _STOCK_EVENTS}
_STOCK_TAG = {event_topic(StockItem, name): KINDS.index(kind) for name, kind in _STOCK_EVENTS}
SOURCE, DECISION = len(KINDS), len(KINDS) + 1
_INPUTS = event_topic(RecordedInputs, "Recorded")
_SOURCE = event_topic(RecordedSource, "Recorded")
DECISIONS = (event_topic(Order, "Routed"), event_topic(Order, "Held"))
TOPICS = (*STOCK, _INPUTS, _SOURCE, *DECISIONS)
Item = tuple[Any, ...]
Entry = Item | list[Item]  # an item, or consecutive movements as rows
# LiveFacts as plain tuples: (outcome, shipped as tuples, shipments)
SentFacts = tuple[str, list[tuple[Any, ...]], list[tuple[str, str, str, int]]]
_REGISTERED, _COUNTED, _ADJUSTED, _RESERVED, _CONSUMED = (
    MovementKind.REGISTERED,
    MovementKind.COUNTED,
    MovementKind.ADJUSTED,
    MovementKind.RESERVED,
    MovementKind.CONSUMED,
)


def stock_values(tag: int, e: dict[str, Any]) -> Item:
    """A stock event's fields (``LogReader.fields``) as a compact stock movement."""
    kind = KINDS[tag]
    source_id, sku, at = e["source_id"], e["sku"], e["at"]
    if kind is _REGISTERED or kind is _COUNTED:
        return (tag, source_id, sku, at, e["on_hand"], e["safety_stock"], 0, 0, 0, "")
    if kind is _ADJUSTED:
        return (tag, source_id, sku, at, 0, 0, e["delta"], 0, 0, "")
    freed = e["freed"] if kind is _CONSUMED else 0
    return (tag, source_id, sku, at, 0, 0, 0, e["quantity"], freed, e["order_id"])


def compact_pages(
    store: OrderStore, start: datetime, end: datetime, size: int
) -> Iterator[list[Entry]]:
    """The log's stock movements (from the beginning, before ``end``) and the decisions taken
    from ``start`` to ``end``, a list of items per page of ``size`` notifications.

    Orchestration saves a decision's records after the order and its stock items (one
    transaction), so the records of a page and of the next are taken in before the page's
    decisions are read: each decision finds its inputs in the log, not by a lookup."""
    reader = _Reader(LogReader(store), start, end)
    records = reader.records
    earlier: Sequence[Notification] = ()
    for number, page in enumerate(pages(store, TOPICS, size)):
        items = records.take(reader.log, page, number)
        items.extend(reader.read(earlier))
        yield items
        records.forget(before=number - 1)
        earlier = page
    yield reader.read(earlier)


class _Reader:
    """Reads pages into items, in the log's order (it numbers each order's decisions)."""

    def __init__(self, log: LogReader, start: datetime, end: datetime) -> None:
        self.log = log
        self.records = _Records()
        self.start, self.end = start, end
        self._numbers: dict[str, int] = {}
        # Keys of reservations made before the window and not ended (the world's shared ones
        # are among them): a release or consumption of another key needs no look-up there.
        self._shared: set[str] = set()

    def read(self, page: Sequence[Notification]) -> list[Entry]:
        log, end = self.log, self.end
        items: list[Entry] = []
        rows: list[Item] | None = None
        same: dict[str, str] = {}  # equal strings as one object: sent once, hashed once
        for notification in page:
            topic = notification.topic
            tag = _STOCK_TAG.get(topic)
            if tag is not None:
                e = log.fields(notification, ids=False)
                if e["at"] < end:
                    row = self._row(tag, e, same)
                    if row is not None:
                        if rows is None:
                            rows = []
                            items.append(rows)
                        rows.append(row)
            elif topic in DECISIONS:
                direct = log.direct(notification, (), ids=False)
                stored = None if direct is None else bytes(notification.state)  # read as stored
                e = log.fields(notification, ids=False) if direct is None else direct
                decision = self._decision(notification, e, stored)
                if decision is not None:
                    items.append(decision)
                    rows = None
        return items

    def _row(self, tag: int, e: dict[str, Any], same: dict[str, str]) -> Item | None:
        """The movement as a row of ``MovementRows``; None: the world would ignore it."""
        source_id, sku = e["source_id"], e["sku"]
        source_id = same.setdefault(source_id, source_id)
        sku = same.setdefault(sku, sku)
        kind = KINDS[tag]
        if kind is _REGISTERED or kind is _COUNTED:
            return (tag, source_id, sku, e["on_hand"], e["safety_stock"])
        if kind is _ADJUSTED:
            return (tag, source_id, sku, e["delta"])
        key = e["order_id"]
        if kind is _RESERVED:
            if e["at"] >= self.start:
                return None  # the live policy's reservation: never the draft's
            self._shared.add(key)
            return (tag, source_id, sku, e["quantity"], key)
        shared = key if key in self._shared else None
        self._shared.discard(key)
        order_id, line_id = order_line(key)
        line = (same.setdefault(order_id, order_id), same.setdefault(line_id, line_id))
        if kind is _CONSUMED:
            return (tag, source_id, sku, e["quantity"], shared, *line)
        return (tag, source_id, sku, shared, *line)

    def _decision(
        self, notification: Notification, e: dict[str, Any], stored: bytes | None
    ) -> Item | None:
        record = e.get("decision")
        if record is None:
            return None
        order_id = str(notification.originator_id)
        n = self._numbers[order_id] = self._numbers.get(order_id, 0) + 1
        digest = e.get("inputs_digest")
        body = self.records.bodies.pop(digest, None) if digest else None
        at = e["at"]
        if not self.start <= at < self.end:
            return None
        text = None if body is None else _checked(body, str(digest))
        plain = text is not None and no_long_numbers(text)  # orjson reads it (the other side)
        return (DECISION, order_id, n, at, *_recorded(record, stored), digest, text, plain)


def _recorded(record: Any, stored: bytes | None = None) -> tuple[Any, SentFacts | None]:
    """The decision record to send, and what the engine reads of it (``live_facts``, as
    builtins; None: it cannot be read, and the engine's side fails on it as it would have).

    Read by orjson, the record is sent as JSON text, that of an object whose ``"decision"`` it
    is (read again only for the few decisions a report shows): the stored event itself when it
    was read as stored (``stored``; writing the record out again cost about 5 % of the
    reading), else the record written out. Read through the mapper, as its values (orjson
    could write some of them otherwise)."""
    try:
        if isinstance(record, DecisionRecord):
            return record.plain(), sent_facts(live_facts(record))
        facts = plain_facts(record)
        return (orjson.dumps({"decision": record}) if stored is None else stored), facts
    except (ValueError, TypeError, KeyError, AttributeError):
        return record, None


def sent_facts(facts: LiveFacts) -> SentFacts:
    """``LiveFacts`` as plain tuples: pickling a NamedTuple runs Python code per tuple (and so
    does reading it back), a plain tuple's does not (``what_if_build.received_facts``)."""
    return (facts.outcome, [tuple(s) for s in facts.shipped], facts.shipments)


_READ_ERRORS = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError)


def plain_facts(record: dict[str, Any]) -> SentFacts:
    """``sent_facts(live_facts(DecisionRecord(record)))``, read straight from the JSON values
    (the typed record's parts, NamedTuples and read-only mappings, were a tenth of the
    reading): the same keys read, the same conversions. A held decision, or a record this
    cannot read, goes the typed way (the same result, or the same error)."""
    DecisionRecord(record)  # what it checks (a JSON object with the required keys)
    if record.get("held") is None:
        try:
            return _outcome_facts(record)
        except _READ_ERRORS:
            pass
    return sent_facts(live_facts(DecisionRecord(record)))


def _outcome_facts(record: dict[str, Any]) -> SentFacts:
    shipments = []
    by_source = record["shipments"]
    for source_id, lines in by_source.items():
        for line_id, sku, quantity in lines:
            shipments.append((source_id, line_id, sku, quantity))
    shipped = []
    for d in record.get("shipment_details", ()):
        source_id, _units, cost = d["source_id"], d["units"], Decimal(d["estimated_cost"])
        currency, distance, lead_time = d["currency"], d["distance_km"], d["lead_time_days"]
        d.get("score")  # as the typed record reads it
        shipped.append((source_id, cost, currency, distance, lead_time))
    waiting = [d["line_id"] for d in _line_rows(record.get("backordered", ()))]
    unallocated = [d["line_id"] for d in _line_rows(record.get("unallocated", ()))]
    rejected = bool(record.get("rejected"))
    return (outcome_of(len(by_source), waiting, unallocated, False, rejected), shipped, shipments)


def _line_rows(rows: Any) -> Any:
    """The rows of lines left out, each with the fields the typed record reads."""
    if not rows:
        return ()
    for d in rows:
        d["line_id"], d["sku"], d["quantity"], d["reason"]
    return rows


class _Records:
    """The inputs records read from the log and not claimed yet (bounded: a page's worth)."""

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[str, str]] = {}  # digest → (body, encoding)
        self._page_of: dict[str, int] = {}  # digest → the page its record was read on

    def take(self, log: LogReader, page: Sequence[Notification], number: int) -> list[Entry]:
        """Take in the page's inputs records; its source definitions, as items."""
        definitions: list[Entry] = []
        for notification in page:
            topic = notification.topic
            if topic == _INPUTS:
                e = log.fields(notification, ids=False)
                self.bodies[e["digest"]] = (e["body"], e["encoding"])
                self._page_of[e["digest"]] = number
            elif topic == _SOURCE:
                e = log.fields(notification, ids=False)
                definitions.append((SOURCE, e["digest"], e["definition"]))
        return definitions

    def forget(self, before: int) -> None:
        """Records no decision claimed within a page of them (bounded memory); a decision
        that names one later reads it from the store."""
        stale = [digest for digest, number in self._page_of.items() if number < before]
        for digest in stale:
            del self._page_of[digest]
            self.bodies.pop(digest, None)


def _checked(recorded: tuple[str, str], digest: str) -> bytes:
    """The record's canonical JSON; b"" when it cannot be unpacked or does not match."""
    try:
        text = unpack(*recorded)  # the event carries what the record holds
        check(text, digest)
    except (InputsFormatError, ValueError):
        return b""
    return text


def check(text: str | bytes, digest: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    if hashlib.sha256(data).hexdigest() != digest:
        raise InputsFormatError(f"a recorded body does not match its digest {digest}")
