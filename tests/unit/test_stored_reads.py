"""Events' stored JSON read by orjson gives what the library's transcoder reads: the values
turned back where they stand (fields, nested, inside one another), texts that only look like
them left alone, and what orjson refuses read the standard way."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregates.stored_reads import read_state
from tests.contracts.factories import popo_store
from tests.unit.test_cancel_rest import backordered_order

TRANSCODER = popo_store().mapper.transcoder
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

    assert read_state(TRANSCODER, data) == TRANSCODER.decode(data) == state


@pytest.mark.parametrize(
    "data",
    [b'{"n": NaN}', b'{"big": 123456789012345678901234567890}', b'{"t": "\\ud800"}'],
)
def test_what_orjson_refuses_is_read_the_standard_way(data: bytes) -> None:
    read = read_state(TRANSCODER, data)

    assert repr(read) == repr(TRANSCODER.decode(data))


def test_an_orders_events_read_back_as_the_transcoder_reads_them() -> None:
    order = backordered_order()
    order.request_cancellation("changed my mind", "channel:web-shop", AT)
    store = popo_store()
    store.save(order)

    for event in store.recorder.select_events(order.id):
        assert read_state(TRANSCODER, event.state) == TRANSCODER.decode(event.state)


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

    assert read_state(TRANSCODER, data) == TRANSCODER.decode(data)
