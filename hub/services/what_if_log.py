"""The notification log as what-if reads it: pages of the topics it needs, and each stored
event's fields read straight from the stored JSON.

What-if reads every stock event of the history (eight or so per decision) and every decision,
but only a few fields of each. Building each domain event through the store's mapper (the
library's JSON decoder with its object hook, then every value field, e.g. a Routed event's
waiting lines validated by pydantic) cost about as much as the engine. Here the stored JSON is
parsed with orjson, the top level's tagged values (the event's times) are decoded by the
store's own transcodings and only the fields asked for are read as the mapper reads them. An
event this cannot read exactly as the mapper would (a cipher or compressor configured, another
transcoder, an event class that upcasts, tagged values below the top level, JSON that orjson
would read otherwise, such as integers beyond 64 bits) is read through the mapper.
"""

import json
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import Any, cast

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper, Notification, Transcoding
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic

from aggregates.typed_mapper import value_fields
from hub.store import OrderStore

__all__ = ["LogReader", "loads", "no_long_numbers", "pages"]

_TAG = b'"_type_"'
# Digits as "0", all else as ".": a run of 19 zeros is a run of 19 digits (two passes in C, a
# fifth of what a regular expression costs).
_DIGITS = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
_LONG_RUN = b"0" * 19
_REFUSED = object()


def loads(text: str | bytes, digits_checked: bool = False) -> Any:
    """JSON values as ``json.loads`` gives them, parsed by orjson where it gives the same;
    ``digits_checked``: ``no_long_numbers(text)`` is known to be true (a second process
    looked)."""
    data = text.encode() if isinstance(text, str) else text
    found = _orjson(data, digits_checked)
    return json.loads(text) if found is _REFUSED else found


def no_long_numbers(data: bytes) -> bool:
    """No run of 19 digits or more (orjson reads an integer beyond 64 bits as a float)."""
    return _LONG_RUN not in data.translate(_DIGITS)


def _orjson(data: bytes, digits_checked: bool = False) -> Any:
    """orjson's reading, or _REFUSED where it would differ from the standard parser's: it reads
    an integer beyond 64 bits as a float (so JSON with a run of 19 digits or more, in a number or
    in a string, goes to the standard parser) and refuses NaN, Infinity and lone surrogates."""
    if not digits_checked and _LONG_RUN in data.translate(_DIGITS):
        return _REFUSED
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _REFUSED


class LogReader:
    """An event's fields (``fields``), as the store's mapper would give them."""

    def __init__(self, store: OrderStore) -> None:
        mapper: Mapper[Any] = store.mapper
        self._mapper = mapper
        transcoder = mapper.transcoder
        self._names: dict[str, Transcoding] | None = None
        if isinstance(transcoder, JSONTranscoder) and not (mapper.cipher or mapper.compressor):
            self._names = transcoder.names

    def fields(self, notification: Notification, *loaded: str, ids: bool = True) -> dict[str, Any]:
        """The event's fields; those named in ``loaded`` read into their values (the decision
        record of a Routed event ...) as the mapper reads them. ``ids`` False: the originator's
        id and version may be left out (the notification has them)."""
        state = self.direct(notification, loaded, ids)
        if state is None:
            return vars(self._mapper.to_domain_event(notification))
        return state

    def direct(
        self, notification: Notification, loaded: Sequence[str], ids: bool = True
    ) -> dict[str, Any] | None:
        names = self._names
        if names is None or not _plain_class(notification.topic):
            return None
        raw = notification.state
        state = _orjson(raw)
        if type(state) is not dict or "class_version" in state:
            return None
        tagged = 0
        for key, value in state.items():
            if type(value) is dict and len(value) == 2 and "_type_" in value and "_data_" in value:
                transcoding = names.get(value["_type_"])
                if transcoding is None:
                    return None
                state[key] = transcoding.decode(value["_data_"])
                tagged += 1
        if raw.count(_TAG) != tagged:
            return None  # tagged values further down: the mapper's own decoder finds them
        if loaded:
            codecs = value_fields(resolve_topic(notification.topic))
            for name in loaded:
                value = state.get(name)
                if value is not None and name in codecs:
                    state[name] = codecs[name].load(value)
        if ids:
            state["originator_id"] = notification.originator_id
            state["originator_version"] = notification.originator_version
        return state


@cache
def _plain_class(topic: str) -> bool:
    """Events of this topic are read as stored: no upcasting from an earlier class version."""
    return getattr(resolve_topic(topic), "class_version", 1) == 1


def pages(store: OrderStore, topics: Sequence[str], size: int) -> Iterator[Sequence[Notification]]:
    """The log's notifications of ``topics`` up to its present end, a page at a time; the next
    page is fetched by a second thread while this one is read (the database's own work and
    its waits release the interpreter's lock)."""
    top = store.max_position()
    recorder = store.recorder
    select: Callable[[int], Sequence[Notification]]
    if type(recorder) is SQLiteApplicationRecorder:
        select = _sqlite_select(recorder, topics, size, top)
    else:

        def select(position: int) -> Sequence[Notification]:
            return recorder.select_notifications(
                start=position, limit=size, stop=top, topics=topics, inclusive_of_start=False
            )

    if not top:
        return
    with ThreadPoolExecutor(1, thread_name_prefix="what-if-pages") as fetcher:
        coming: Future[Sequence[Notification]] | None = fetcher.submit(select, 0)
        while coming is not None:
            page = coming.result()
            position = page[-1].id if len(page) == size else top
            coming = fetcher.submit(select, position) if position < top else None
            if page:
                yield page


class _Row:
    """A notification as the SQLite recorder's table holds it, its originator's id converted
    only when asked for: what-if reads it for decisions, not for the ten stock events around
    each (a ``Notification`` and a UUID per row were a seventh of reading the log)."""

    __slots__ = ("_convert", "_id", "id", "originator_version", "state", "topic")

    def __init__(self, row: Sequence[Any], convert: Callable[[str], Any]) -> None:
        self.id, self._id, self.originator_version, self.topic, self.state = row
        self._convert = convert

    @property
    def originator_id(self) -> Any:
        return self._convert(self._id)


def _sqlite_select(
    recorder: SQLiteApplicationRecorder, topics: Sequence[str], size: int, top: int
) -> Callable[[int], Sequence[Notification]]:
    """``select_notifications(position, size, top, topics, inclusive_of_start=False)``, its
    rows as ``_Row``: the same statement, the same rows."""
    statement = (
        f"SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} WHERE rowid>? AND rowid<=? "
        f"AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid LIMIT ?"
    )
    convert = recorder.convert_originator_id

    def select(position: int) -> Sequence[Notification]:
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(statement, [position, top, *topics, size])
            return cast(Sequence[Notification], [_Row(row, convert) for row in c.fetchall()])

    return select
