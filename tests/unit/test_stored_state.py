"""Events' stored JSON read by orjson: the very values the library's transcoder reads, for
every kind of state an event may have stored; what orjson would read otherwise (or cannot
read) goes the standard way, and the mapper's events are those the library's mapper makes."""

import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import register_topic
from hypothesis import given
from hypothesis import strategies as st

from aggregates import Order
from aggregates.stored_state import stored_state
from aggregates.typed_mapper import TypedMapper
from benchmarks.route_profile import NOW, order_command
from tests.unit.test_stored_json import AT, AWKWARD, PLAIN, _transcoder


class _Subclass(JSONTranscoder):
    pass


class _Tagged(Transcoding):
    """A transcoding of the application's own, whose data is itself tagged."""

    type = complex
    name = "complex"

    def encode(self, obj: complex) -> Any:
        return {"real": Decimal(str(obj.real)), "imag": Decimal(str(obj.imag))}

    def decode(self, data: Any) -> complex:
        return complex(float(data["real"]), float(data["imag"]))


def _read(transcoder: JSONTranscoder, raw: bytes) -> Any:
    try:
        return transcoder.decode(raw)
    except Exception as error:  # the same error is wanted, not only an error
        return type(error)


@pytest.mark.parametrize("value", PLAIN + AWKWARD, ids=repr)
def test_every_state_is_read_as_the_transcoder_reads_it(value: Any) -> None:
    transcoder = _transcoder()
    state = {"value": value, "timestamp": AT, "other": [value, {"again": value}]}
    try:
        raw = transcoder.encode(state)
    except (TypeError, ValueError):
        pytest.skip("the transcoder cannot write it")

    read = stored_state(transcoder, raw)

    expected = transcoder.decode(raw)
    assert read == expected or repr(read) == repr(expected)  # NaN is not equal to itself
    assert [type(v) for v in read.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":12345678901234567890123,"b":1}',  # beyond 64 bits: orjson reads it otherwise
        b'{"a":0.12345678901234567890123}',
        b'{"a":NaN,"b":Infinity}',  # the standard library's words, refused by orjson
        b'{"a":"\\ud800"}',  # a lone surrogate
        b'{"a":{"_type_":"uuid_hex","_data_":"12345678123456781234567812345678"}}',  # nested
        b'{"a":{"b":{"_type_":"decimal_str","_data_":"1.5"}},"c":1}',
        b'{"a":"_type_","b":{"_type_":"decimal_str","_data_":"1.50"}}',  # the word as a value
        b'{"_type_":"decimal_str","_data_":"2.5"}',  # the whole state one tagged value
        b'{"a":{"_type_":"decimal_str"}}',  # a tag without its data
        b'{"a":{"_type_":"decimal_str","_data_":"3","x":1}}',  # more than a tag
        b'{"a":1,"a":2}',  # a key twice: the last one counts
        b'{"a":1e400}',
        b"[1,2]",
        b'"text"',
        b'{"a":1} ',
        b'{"a":1',
    ],
)
def test_what_orjson_could_read_otherwise_is_read_the_standard_way(raw: bytes) -> None:
    transcoder = _transcoder()
    expected = _read(transcoder, raw)

    read: Any
    try:
        read = stored_state(transcoder, raw)
    except Exception as error:
        read = type(error)

    assert read == expected or repr(read) == repr(expected)


def test_an_unknown_tag_fails_as_the_transcoder_fails() -> None:
    transcoder = _transcoder()
    raw = b'{"a":{"_type_":"mystery","_data_":"1"}}'
    expected = _read(transcoder, raw)
    assert isinstance(expected, type) and issubclass(expected, Exception)

    with pytest.raises(expected):
        stored_state(transcoder, raw)


@pytest.mark.parametrize("kind", ["subclass", "own transcoding"])
def test_another_transcoder_reads_its_own_states(kind: str) -> None:
    if kind == "subclass":
        transcoder = _transcoder(_Subclass)
        state: dict[str, Any] = {"at": AT, "price": Decimal("1.20")}
    else:
        transcoder = _transcoder()
        transcoder.register(_Tagged())
        state = {"at": AT, "z": complex(1.5, -2)}
    raw = transcoder.encode(state)
    seen: list[bytes] = []
    decode = transcoder.decode

    def spied(data: bytes) -> Any:
        seen.append(data)
        return decode(data)

    transcoder.decode = spied  # type: ignore[method-assign]

    assert stored_state(transcoder, raw) == state
    assert seen == [raw]


def _mappers() -> tuple[TypedMapper, Mapper[UUID]]:
    return TypedMapper(transcoder=_transcoder()), Mapper(transcoder=_transcoder())


def _order() -> Order:
    command = order_command(random.Random(3), 1, 100)
    order = Order(
        channel="web-shop",
        external_id="E-1",
        submission=command.submission,
        digest="d" * 64,
        raw_payload='{"a": "b"}',
        actor="channel:web-shop",
        correlation_id="c-1",
        received_at=NOW,
    )
    order.accept("system:intake", NOW)
    return order


def test_an_orders_events_read_back_as_the_librarys_mapper_reads_them() -> None:
    typed, _ = _mappers()
    events = _order().collect_events()
    stored = [typed.to_stored_event(event) for event in events]

    read = [typed.to_domain_event(s) for s in stored]
    slow = TypedMapper(transcoder=_Subclass())
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        slow.transcoder.register(transcoding)  # type: ignore[attr-defined]
    expected = [slow.to_domain_event(s) for s in stored]

    assert [type(e) for e in read] == [type(e) for e in expected]
    assert [vars(e) for e in read] == [vars(e) for e in expected]
    assert [vars(e) for e in read] == [vars(e) for e in events]
    assert type(read[0].originator_id) is UUID
    assert type(read[0].timestamp) is datetime  # type: ignore[attr-defined]


def test_an_event_of_an_earlier_version_is_upcast() -> None:
    class Thing(Aggregate):
        @event("Made")
        def __init__(self, name: str, size: int = 0) -> None:
            self.name, self.size = name, size

    made: Any = Thing.Made  # type: ignore[attr-defined]
    made.class_version = 2
    made.upcast_v1_v2 = staticmethod(lambda state: state.update(size=7))
    typed, _ = _mappers()
    stored = StoredEvent(
        uuid4(),
        1,
        f"{made.__module__}:{made.__qualname__}",
        b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-05T03:30:00+00:00"},'
        b'"originator_topic":"x","name":"old"}',
    )
    register_topic(stored.topic, made)

    read: Any = typed.to_domain_event(stored)

    assert (read.name, read.size, read.originator_version) == ("old", 7, 1)
    assert read.timestamp == datetime(2026, 12, 5, 3, 30, tzinfo=UTC)


def test_a_state_that_cannot_be_read_fails_as_the_librarys_mapper_fails() -> None:
    typed, plain = _mappers()
    stored = StoredEvent(uuid4(), 1, "aggregates.order:Order.Accepted", b'{"actor":')

    with pytest.raises(type(_error(plain, stored))):
        typed.to_domain_event(stored)


def _error(mapper: Mapper[UUID], stored: StoredEvent) -> Exception:
    try:
        mapper.to_domain_event(stored)
    except Exception as error:
        return error
    raise AssertionError("the library's mapper read it")


@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(2**63), 2**63 - 1),
            st.text(),
        ),
        max_size=20,
    )
)
def test_numbers_and_texts_read_back_to_the_very_values(values: list[Any]) -> None:
    transcoder = _transcoder()
    tricky = [5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1 / 3, 2.0**53 + 2]
    raw = transcoder.encode({"values": values, "tricky": tricky, "at": AT})

    read = stored_state(transcoder, raw)

    expected = transcoder.decode(raw)
    assert read == expected
    assert [repr(v) for v in read["values"]] == [repr(v) for v in expected["values"]]
    assert [repr(v) for v in read["tricky"]] == [repr(v) for v in tricky]
