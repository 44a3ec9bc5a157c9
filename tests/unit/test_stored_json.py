"""Events' stored JSON by orjson: the very bytes the library's transcoder writes, for every
kind of value an event may hold; what orjson would write otherwise goes the standard way."""

import enum
import random
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    UUIDAsHex,
)

from aggregates.stored_json import stored_json, writes_plainly
from aggregates.typed_mapper import TypedMapper


class Colour(enum.Enum):
    RED = "red"


class Name(str):
    pass


class _Subclass(JSONTranscoder):
    pass


def _transcoder(kind: type[JSONTranscoder] = JSONTranscoder) -> JSONTranscoder:
    transcoder = kind()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


AT = datetime(2026, 12, 5, 2, 30, 1, 123456, tzinfo=UTC)
AWKWARD: list[Any] = [
    UUID("12345678-1234-5678-1234-567812345678"),  # orjson would write a bare text
    Colour.RED,  # orjson would write its value; the transcoder refuses it
    Name("a text of a subclass"),
    float("nan"),
    float("inf"),
    2**70,  # beyond orjson's integers
    {1: "an integer key"},
    "\ud800",  # a lone surrogate
    # floats orjson writes as 0.00001, and an escape in a text beside them
    [1e-05, 2.5e-07, -3e-06, "1e-05", 'a "quoted" \\ text', 1e-05],
    {"tiny": 1.234e-07, "text": "tab\there"},
]
PLAIN: list[Any] = [
    "Lyon é 😀 \u2028",
    0,
    -17,
    True,
    None,
    0.1,
    -0.0,
    1e16,
    123.456789,
    1e-4,
    [1, [2.5, {"a": None}]],
    (1, "two"),
    {"nested": {"at": AT, "day": date(2026, 12, 5), "price": Decimal("19.90")}},
    AT,
    Decimal("0.10"),
]


@pytest.mark.parametrize("value", PLAIN + AWKWARD, ids=repr)
def test_every_value_is_written_as_the_transcoder_writes_it(value: Any) -> None:
    transcoder = _transcoder()
    state = {"value": value, "timestamp": AT, "other": [value, {"again": value}]}
    try:
        expected = transcoder.encode(state)
    except Exception as refused:  # the transcoder refuses it: so does the fast way
        with pytest.raises(type(refused)):
            stored_json(transcoder, state)
        return
    assert stored_json(transcoder, state) == expected


def test_plain_fields_are_written_unwalked_and_still_the_same() -> None:
    rng = random.Random(3)
    transcoder = _transcoder()
    for _ in range(200):
        figures = [round(rng.uniform(-1, 1) * 10 ** rng.randint(-7, 6), 6) for _ in range(40)]
        record = {"candidates": [{"source_id": f"s{i}", "raw": [f]} for i, f in enumerate(figures)]}
        state = {"decision": record, "at": AT, "actor": "system:orchestrator"}
        assert stored_json(transcoder, state, {"decision"}) == transcoder.encode(state)


def test_a_transcoder_of_its_own_writes_its_own_way() -> None:
    class Loud(JSONTranscoder):
        def encode(self, obj: Any) -> bytes:
            return b"LOUD" + super().encode(obj)

    assert stored_json(_transcoder(Loud), {"a": 1}) == b'LOUD{"a":1}'
    assert stored_json(_transcoder(_Subclass), {"a": 1}) == b'{"a":1}'


def test_the_mapper_stores_what_the_library_mapper_stores() -> None:
    from eventsourcing.persistence import Mapper

    from aggregates.stock import StockItem

    item = StockItem("wh-lyon", "RED-CHAIR", 5, 1, at=AT)
    item.reserve("order:shipment:1", 2, at=AT)
    transcoder = _transcoder()
    for event in item.collect_events():
        assert TypedMapper(transcoder).to_stored_event(event) == Mapper(transcoder).to_stored_event(
            event
        )


def test_a_state_without_a_float_is_not_scanned_and_still_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only a float can be written otherwise: texts that look like numbers (an id holding
    "e-", "0.0000" in words) stay as they are, and the scan is skipped."""
    from aggregates import stored_json as module

    transcoder = _transcoder()
    state = {
        "timestamp": AT,
        "source_id": "st-de-0012",
        "order_id": "1e-05:3e-4a:0.00001",
        "quantity": 3,
        "lines": [{"sku": "SKU-1e-05", "quantity": 2}],
        "price": Decimal("0.00001"),
    }
    looked: list[bytes] = []
    original = module.as_standard
    monkeypatch.setattr(module, "as_standard", lambda data: looked.append(data) or original(data))

    assert stored_json(transcoder, state) == transcoder.encode(state)
    assert looked == []
    # a float anywhere, or a plain field not walked, and it is looked at again
    for more in ({"tiny": 1e-05}, {"nested": [{"tiny": 1e-05}]}):
        floated = {**state, **more}
        assert stored_json(transcoder, floated) == transcoder.encode(floated)
    record = {**state, "decision": {"score": 2.5e-07}}
    assert stored_json(transcoder, record, frozenset({"decision"})) == transcoder.encode(record)
    assert len(looked) == 3


def test_plain_fields_said_to_hold_no_such_float_are_not_scanned() -> None:
    transcoder = _transcoder()
    state = {"decision": {"score": 0.25, "figures": [1.5, 2]}, "at": AT}
    fast = stored_json(transcoder, state, frozenset({"decision"}), plain_floats=False)
    assert fast == transcoder.encode(state)
    # the caller's word is taken: a float json.dumps writes otherwise is then left as orjson
    # wrote it, which is why routing gives it only for records whose canonical JSON needed none
    tiny = {"decision": {"score": 1e-05}, "at": AT}
    assert stored_json(transcoder, tiny, frozenset({"decision"})) == transcoder.encode(tiny)
    assert stored_json(transcoder, tiny, frozenset({"decision"}), plain_floats=False) != (
        transcoder.encode(tiny)
    )


def test_a_field_written_already_is_put_in_as_given_and_the_standard_way_writes_its_value() -> None:
    transcoder = _transcoder()
    record = {"z": 1, "a": [0.5, 1e-05], "m": {"y": "é", "b": None}}
    sorted_text = b'{"a":[0.5,1e-05],"m":{"b":null,"y":"\xc3\xa9"},"z":1}'
    state = {"at": datetime(2026, 1, 2, tzinfo=UTC), "decision": record, "n": 3}
    written = {"decision": sorted_text}

    by_orjson = stored_json(transcoder, state, ("decision",), plain_floats=False, written=written)
    assert by_orjson == transcoder.encode({**state, "decision": _sorted(record)})
    assert state["decision"] is record  # the caller's state is not changed

    # A value orjson would write otherwise (a UUID): the state goes the standard way, whole,
    # with the field's own value (its key order).
    odd = {**state, "id": UUID(int=7)}
    standard = stored_json(transcoder, odd, ("decision",), plain_floats=False, written=written)
    assert standard == transcoder.encode(odd)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    return value


@pytest.mark.parametrize(
    ("value", "plainly"),
    [
        ({"city": "Lyon é", "lat": 45.76, "lon": 4.83, "line": ["1", 2], "at": AT}, True),
        ({"price": Decimal("19.90"), "n": None, "ok": True, "tiny": 1e-05}, True),
        ({"id": UUID("12345678-1234-5678-1234-567812345678")}, False),  # orjson: a bare text
        ({"colour": Colour.RED}, False),
        ({"name": Name("a subclass")}, False),
        ({"day": date(2026, 12, 5)}, False),  # no transcoding registered for it here
        ({1: "an integer key"}, False),
        ([2**70], True),  # orjson refuses it whole: the standard way writes the state
        ({"nan": float("nan")}, False),
    ],
    ids=repr,
)
def test_a_value_told_once_to_be_written_plainly_is_written_as_the_transcoder_writes_it(
    value: Any, plainly: bool
) -> None:
    """`writes_plainly` (an order's address told once for all its shipment requests): True
    only where orjson writes the value as the transcoder does, or refuses it; named among the
    plain fields then, the state's bytes are the transcoder's."""
    transcoder = _transcoder()

    assert writes_plainly(value, transcoder.types) is plainly
    if plainly:
        state = {"timestamp": AT, "address": value, "n": 1}
        written = stored_json(transcoder, state, frozenset({"address"}))
        assert written == transcoder.encode(state)
