"""What-if over recorded history: read a window of decisions and the stock movements before and
between them from the event store, and let the pure engine re-decide them with a draft policy.

The notification log is read once, in order, selected by topic: the stock events (from the
beginning, so stock at the window's start is known), the recorded inputs and source definitions
(written in the same transaction as the decision naming them, just after it and its stock
items: they are taken in a page ahead), and the orders' `Routed` and `Held` events, each read
from its stored JSON (`what_if_log`). Reads only; writes nothing.
"""

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Notification

from aggregates.decision_inputs import RecordedInputs, RecordedSource, recorded_source_id
from aggregates.order import Order
from aggregates.stock import StockItem
from hub.services.recorded_inputs import InputsReader, unpack
from hub.services.supply_view import event_topic
from hub.services.what_if_log import LogReader, loads, pages
from hub.store import OrderStore
from orchestration_policies import Policy, Problem, load_policy
from orchestration_policies.decision_inputs import DecisionInputs, InputsFormatError
from orchestration_policies.what_if import (
    MovementKind,
    RecordedDecision,
    StockMovement,
    run_what_if,
)
from orchestration_policies.what_if_inputs import InputsDecoder, RecordedCandidate
from orchestration_policies.what_if_report import WhatIfReport

__all__ = ["MAX_DAYS", "WhatIfService", "Window", "draft_policy", "window_problems"]

MAX_DAYS = 366  # a year of history at most per run
PAGE = 5_000
_STOCK = {
    event_topic(StockItem, name): kind
    for name, kind in (
        ("Registered", MovementKind.REGISTERED),
        ("Counted", MovementKind.COUNTED),
        ("Adjusted", MovementKind.ADJUSTED),
        ("Reserved", MovementKind.RESERVED),
        ("Released", MovementKind.RELEASED),
        ("Consumed", MovementKind.CONSUMED),
    )
}
_INPUTS = event_topic(RecordedInputs, "Recorded")
_SOURCE = event_topic(RecordedSource, "Recorded")
_DECISIONS = (event_topic(Order, "Routed"), event_topic(Order, "Held"))
TOPICS = (*_STOCK, _INPUTS, _SOURCE, *_DECISIONS)
Inputs = tuple[DecisionInputs | None, tuple[RecordedCandidate, ...] | None]


@dataclass(frozen=True)
class Window:
    """Decisions taken from ``first`` to ``last`` (whole UTC days, both included)."""

    first: date
    last: date
    channel: str | None = None

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)


def window_problems(first: date, last: date) -> list[Problem]:
    """What is wrong with a window (empty: nothing)."""
    if last < first:
        return [Problem("to", f"{last} is before from ({first})")]
    if (last - first).days + 1 > MAX_DAYS:
        return [Problem("to", f"a run covers at most {MAX_DAYS} days; ask for a shorter window")]
    return []


def draft_policy(text: str) -> Policy:
    """The draft policy document; PolicyError lists every problem, field by field."""
    return load_policy(text)


class WhatIfService:
    def __init__(self, store: OrderStore) -> None:
        self._store = store

    def run(
        self,
        draft: Policy,
        window: Window,
        progress: Callable[[int], None] | None = None,
        changes_kept: int = 100,
    ) -> WhatIfReport:
        """Re-decide the window's decisions with ``draft``; PolicyError (UnknownAttributeError)
        when the draft reads an order attribute no decision of the window carried."""
        return run_what_if(
            self.timeline(window),
            draft,
            window.start,
            channel=window.channel,
            changes_kept=changes_kept,
            progress=progress,
        )

    def timeline(self, window: Window) -> Iterator[RecordedDecision | StockMovement]:
        """The log as the engine reads it: stock movements and the window's decisions.

        Orchestration saves a decision's records after the order and its stock items (one
        transaction), so the records of a page and of the next are taken in before the page's
        decisions are read: each decision finds its inputs in the log, not by a lookup."""
        reader = _Reader(self._store)
        log = LogReader(self._store)
        decoder = InputsDecoder(reader.definition)
        numbers: dict[str, int] = {}
        earlier: Sequence[Notification] = ()
        for number, page in enumerate(pages(self._store, TOPICS, PAGE)):
            reader.take_records(log, page, number)
            yield from _read(log, reader, decoder, numbers, window, earlier)
            reader.forget_records(before=number - 1)
            earlier = page
        yield from _read(log, reader, decoder, numbers, window, earlier)


def _read(
    log: LogReader,
    reader: "_Reader",
    decoder: InputsDecoder,
    numbers: dict[str, int],
    window: Window,
    page: Sequence[Notification],
) -> Iterator[RecordedDecision | StockMovement]:
    end = window.end
    for notification in page:
        topic = notification.topic
        kind = _STOCK.get(topic)
        if kind is not None:
            e = log.fields(notification)
            if e["at"] < end:
                yield _movement(kind, e)
        elif topic in _DECISIONS:
            e = log.fields(notification, "decision")
            if e.get("decision") is None:
                continue
            order_id = str(notification.originator_id)
            n = numbers[order_id] = numbers.get(order_id, 0) + 1
            digest = e.get("inputs_digest")
            body = reader.bodies.pop(digest, None) if digest else None
            if window.start <= e["at"] < end:
                yield _decision(order_id, n, e, reader.inputs(decoder, digest, body))


class _Reader:
    """Recorded inputs and source definitions, from the log as it is read (the store when a
    record is not in the part of the log kept in memory)."""

    def __init__(self, store: OrderStore) -> None:
        self.bodies: dict[str, tuple[str, str]] = {}  # digest → (body, encoding)
        self.sources: dict[str, str] = {}
        self._page_of: dict[str, int] = {}  # digest → the page its record was read on
        self._definitions: dict[str, dict[str, Any]] = {}
        self._store = store
        self._store_reader = InputsReader(store)

    def take_records(self, log: LogReader, page: Sequence[Notification], number: int) -> None:
        for notification in page:
            topic = notification.topic
            if topic == _INPUTS:
                e = log.fields(notification)
                self.bodies[e["digest"]] = (e["body"], e["encoding"])
                self._page_of[e["digest"]] = number
            elif topic == _SOURCE:
                e = log.fields(notification)
                self.sources[e["digest"]] = e["definition"]

    def forget_records(self, before: int) -> None:
        """Records no decision claimed within a page of them (bounded memory); a decision
        that names one later reads it from the store."""
        stale = [digest for digest, number in self._page_of.items() if number < before]
        for digest in stale:
            del self._page_of[digest]
            self.bodies.pop(digest, None)

    def definition(self, key: str) -> dict[str, Any]:
        found = self._definitions.get(key)
        if found is None:
            text = self.sources.pop(key, None)
            if text is None:
                text = self._stored_definition(key)
            _check(text, key)
            found = json.loads(text)
            self._definitions[key] = found
        return found

    def _stored_definition(self, key: str) -> str:
        try:
            record: Any = self._store.repository.get(recorded_source_id(key))
        except AggregateNotFoundError:
            raise InputsFormatError(f"source definition {key} is not recorded") from None
        if not isinstance(record, RecordedSource):
            raise InputsFormatError(f"source definition {key} is not recorded")
        return str(record.definition)

    def inputs(
        self, decoder: InputsDecoder, digest: str | None, recorded: tuple[str, str] | None
    ) -> Inputs:
        """The decision's inputs (candidates compact when read from the log); None when not
        recorded or not readable (the decision is skipped)."""
        if not digest:
            return None, None
        try:
            if recorded is None:
                return self._store_reader.load(digest), None
            text = unpack(*recorded)  # the event carries what the record holds
            _check(text, digest)
            return decoder.decode_compact(loads(text))
        except (InputsFormatError, ValueError):
            return None, None


def _check(text: str | bytes, digest: str) -> None:
    data = text.encode() if isinstance(text, str) else text
    if hashlib.sha256(data).hexdigest() != digest:
        raise InputsFormatError(f"a recorded body does not match its digest {digest}")


def _movement(kind: MovementKind, e: dict[str, Any]) -> StockMovement:
    """The stock event's fields (``LogReader.fields``) as the engine reads them."""
    if kind is MovementKind.REGISTERED or kind is MovementKind.COUNTED:
        return StockMovement(
            kind, e["source_id"], e["sku"], e["at"], e["on_hand"], e["safety_stock"]
        )
    if kind is MovementKind.ADJUSTED:
        return StockMovement(kind, e["source_id"], e["sku"], e["at"], delta=e["delta"])
    freed = e["freed"] if kind is MovementKind.CONSUMED else 0
    return StockMovement(
        kind,
        e["source_id"],
        e["sku"],
        e["at"],
        quantity=e["quantity"],
        freed=freed,
        key=e["order_id"],
    )


def _decision(order_id: str, n: int, e: dict[str, Any], found: Inputs) -> RecordedDecision:
    inputs, candidates = found
    channel = inputs.order.channel if inputs is not None else "(inputs not recorded)"
    return RecordedDecision(order_id, n, channel, e["at"], e["decision"], inputs, candidates)
