"""The engine's side of reading the log for what-if: the compact items of ``what_if_pages``
turned into the stock movements (in rows) and recorded decisions ``run_what_if`` reads.

Each decision's inputs are decoded here from the canonical JSON its record holds (already
checked against the digest), candidates in their compact form, each source definition built
once. A record or definition not found in the log is looked up in the store, as a re-run does.
"""

import json
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError

from aggregates.decision_inputs import RecordedSource, recorded_source_id
from hub.services.recorded_inputs import InputsReader
from hub.services.what_if_log import loads
from hub.services.what_if_pages import SOURCE, Entry, Item, SentFacts, check
from hub.store import OrderStore
from orchestration_policies.decision_inputs import DecisionInputs, InputsFormatError
from orchestration_policies.what_if import MovementRows, RecordedDecision
from orchestration_policies.what_if_inputs import InputsDecoder, RecordedCandidate
from orchestration_policies.what_if_report import LiveFacts, Shipped
from schemas.decision_record import DecisionRecord

__all__ = ["TimelineBuilder", "received_facts"]

Inputs = tuple[DecisionInputs | None, tuple[RecordedCandidate, ...] | None]
_NOT_RECORDED = "(inputs not recorded)"
_from_plain = DecisionRecord.from_plain


class TimelineBuilder:
    """Builds the engine's timeline from compact pages, in their order."""

    def __init__(self, store: OrderStore) -> None:
        self._store = store
        self._sources: dict[str, str] = {}  # definitions read from the log, not built yet
        self._definitions: dict[str, dict[str, Any]] = {}
        self._store_reader = InputsReader(store)
        self._decoder = InputsDecoder(self.definition)

    def timeline(
        self, pages: Iterable[list[Entry]]
    ) -> Generator[RecordedDecision | MovementRows, None, None]:
        """Each item built as the engine asks for it: built a page at a time, they outlived
        enough allocations to reach the collector's oldest generation, which then ran over the
        engine's world again and again (a fifth of this process's CPU)."""
        sources = self._sources
        try:
            for page in pages:
                for item in page:
                    if isinstance(item, list):  # consecutive stock movements, as rows
                        yield MovementRows(item)
                    elif item[0] == SOURCE:
                        sources[item[1]] = item[2]
                    else:
                        yield self._decision(item)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()  # a second process reading the pages ends with them

    def _decision(self, item: Item) -> RecordedDecision:
        _, order_id, n, at, recorded, live, digest, body, plain = item
        inputs, candidates = self._inputs(digest, body, plain)
        channel = inputs.order.channel if inputs is not None else _NOT_RECORDED
        record = _LazyRecord(recorded) if type(recorded) is bytes else _from_plain(recorded)
        facts = None if live is None else received_facts(live)
        return RecordedDecision(order_id, n, channel, at, record, inputs, candidates, facts)

    def _inputs(self, digest: str | None, body: bytes | None, plain: bool) -> Inputs:
        """The decision's inputs (candidates compact when read from the log); None when not
        recorded or not readable (the decision is skipped)."""
        if not digest:
            return None, None
        try:
            if body is None:
                return self._store_reader.load(digest), None
            return self._decoder.decode_compact(loads(body, plain))
        except (InputsFormatError, ValueError):
            return None, None

    def definition(self, key: str) -> dict[str, Any]:
        found = self._definitions.get(key)
        if found is None:
            text = self._sources.pop(key, None)
            if text is None:
                text = self._stored_definition(key)
            check(text, key)
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


_tuple_new = tuple.__new__


def received_facts(sent: SentFacts) -> LiveFacts:
    """``LiveFacts`` from the plain tuples the reader sent (``sent_facts``), built without the
    NamedTuples' Python-level constructors."""
    outcome, shipped, shipments = sent
    return _tuple_new(LiveFacts, (outcome, [_tuple_new(Shipped, s) for s in shipped], shipments))


class _LazyRecord(DecisionRecord):
    """A recorded decision read from JSON text when first asked for (the text of an object
    whose ``"decision"`` it is: the stored event): what-if reads what the reader worked out of
    every record (``LiveFacts``) and the record itself only for the few decisions a report
    shows. Otherwise the record it was read from (its parts, ``plain()``, equality)."""

    __slots__ = ("_text",)

    _text: bytes

    def __init__(self, text: bytes) -> None:  # the reader has read it once already
        object.__setattr__(self, "_text", text)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            if name == "_plain":
                plain = loads(self._text)["decision"]
                super().__init__(plain)
                return plain
            return super().__getattr__(name)
