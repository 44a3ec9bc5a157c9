"""Events' stored JSON read by orjson (the store's transcoder) gives what the library's
transcoder reads: the values turned back where they stand (fields, nested, inside one
another), texts that only look like them left alone, and what orjson refuses read the
standard way."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder, MapperDeserialisationError, StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from aggregates.stored_reads import OrjsonReadingTranscoder, library_json
from hub.store import OrderStore
from tests.contracts.factories import popo_store
from tests.unit.test_cancel_rest import backordered_order

TRANSCODER = popo_store().mapper.transcoder


def read_state(transcoder: JSONTranscoder, data: bytes) -> Any:
    """What the store's transcoder reads, checked to be the store's (orjson's) way."""
    assert type(transcoder) is OrjsonReadingTranscoder
    return transcoder.decode(data)


def standard(data: bytes) -> Any:
    """What the library's transcoder reads."""
    return JSONTranscoder.decode(TRANSCODER, data)


AT = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)
ID = UUID("bbe79330-51da-5890-a2fa-16d9270ae83c")


@pytest.mark.parametrize(
    "state",
    [
        {"at": AT, "reason": "late", "n": 3},
        {"at": AT, "nested": {"when": AT, "amounts": [Decimal("1.50"), {"id": ID}]}},
        {"list": [AT, [AT, {"deep": [Decimal("2")]}]]},
        {"text": 'a "_type_" inside a text', "at": AT},
        {"_type_": "not a transcoding", "extra": 1},
        {"empty": {}, "none": None, "float": 1e-7, "unicode": "Ré"},
    ],
)
def test_a_state_reads_as_the_transcoder_reads_it(state: dict[str, Any]) -> None:
    data = TRANSCODER.encode(state)

    assert read_state(TRANSCODER, data) == standard(data) == state


@pytest.mark.parametrize(
    "data",
    [b'{"n": NaN}', b'{"big": 123456789012345678901234567890}', b'{"t": "\\ud800"}'],
)
def test_what_orjson_refuses_is_read_the_standard_way(data: bytes) -> None:
    read = read_state(TRANSCODER, data)

    assert repr(read) == repr(standard(data))


def test_an_orders_events_read_back_as_the_transcoder_reads_them() -> None:
    order = backordered_order()
    order.request_cancellation("changed my mind", "channel:web-shop", AT)
    store = popo_store()
    store.save(order)

    for event in store.recorder.select_events(order.id):
        assert read_state(TRANSCODER, event.state) == standard(event.state)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.datetimes(timezones=st.just(UTC)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_any_state_reads_as_the_transcoder_reads_it(state: dict[str, Any]) -> None:
    data = TRANSCODER.encode(state)

    assert read_state(TRANSCODER, data) == standard(data)


def test_the_stores_transcoder_writes_and_reads_the_librarys_json() -> None:
    """It only reads faster: the hub's own writers and readers of that JSON still serve it,
    a subclass that may write otherwise is not taken for it."""

    class Loud(JSONTranscoder):
        pass

    state = {"at": AT, "price": Decimal("1.50"), "id": ID}
    assert TRANSCODER.encode(state) == JSONTranscoder.encode(TRANSCODER, state)
    assert library_json(TRANSCODER) and library_json(JSONTranscoder())
    assert not library_json(Loud())


def test_a_transcoder_named_in_the_stores_environment_is_the_one_used() -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    store = OrderStore(env=env | {"TRANSCODER_TOPIC": "eventsourcing.persistence:JSONTranscoder"})

    assert type(store.mapper.transcoder) is JSONTranscoder


def test_a_value_that_does_not_read_names_its_stored_event() -> None:
    """The store's mapper reads through the library's (no copy of it): a value field that
    does not read (a corrupt row) is refused with the event it came from."""
    store = popo_store()
    order = backordered_order()
    store.save(order)
    placed = store.recorder.select_events(order.id)[0]
    state = orjson.loads(placed.state)
    state["submission"]["placed_at"] = "not a time"
    corrupt = StoredEvent(placed.originator_id, 1, placed.topic, orjson.dumps(state))

    assert store.mapper.to_domain_event(placed).submission == order.submission
    with pytest.raises(MapperDeserialisationError, match=r"'submission'.*Order.Placed.*version 1"):
        store.mapper.to_domain_event(corrupt)
