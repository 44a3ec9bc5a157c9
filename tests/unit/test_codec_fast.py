"""The codec's fast reading of the records it writes equals the model's reading of any record.

`record_to_envelope` reads a record with the written headers without the envelope's model
(`_as_written`) and leaves every other record, and every one it finds fault with, to the model
(`_by_the_model`, what it did for all records). Held here: for records as written and for
records with any header changed, renamed, repeated, dropped or added, both ways give equal
envelopes (fields set included) or both refuse with the same error.
"""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import codec
from connectors.codec import envelope_to_record, record_to_envelope
from connectors.consumed import ConsumedMessage
from hub.streaming.feeds import decode
from schemas.envelope import EventEnvelope
from tests.contracts.factories import order_envelopes
from tests.unit.test_codec_sdk import envelopes

TOPIC = "orderhub.orders.events"
Headers = list[tuple[str, bytes]]


def _by_the_model(value: bytes, headers: Headers) -> EventEnvelope:
    return codec._by_the_model(value, dict(headers))


def _outcome(read: Any, value: bytes, headers: Headers) -> tuple[str, Any]:
    try:
        envelope = read(value, headers)
    except ValueError as error:
        return ("refused", str(error))
    return ("read", (envelope, envelope.model_fields_set, envelope.time.tzinfo))


def assert_read_alike(value: bytes, headers: Headers) -> None:
    fast = _outcome(lambda v, h: record_to_envelope(b"key", v, h), value, headers)
    assert fast == _outcome(_by_the_model, value, headers)


# Values a header may carry: the written one's neighbours that the model reads or refuses.
ODD_VALUES: dict[str, list[bytes]] = {
    "ce_sequence": [b"0", b"-1", b" 7 ", b"+3", b"1_0", "\u0663".encode(), b"two", b"", b"9" * 30],
    "ce_schemaversion": [b"0", b"2", b" 1", b"x"],
    "ce_time": [
        b"2026-12-05T10:00:00+01:00",
        b"2026-12-05T10:00:00",
        b"2026-12-05",
        b"0001-01-01T00:00:00+01:00",
        b"9999-12-31T23:59:59-01:00",
        b"yesterday",
        b"2026-12-05T10:00:00.123456Z",
    ],
    "ce_actor": [b"robot:r2", b"system:", b"user:" + b"x" * 200, b"channel", b"source:store-lyon"],
    "ce_specversion": [b"0.3", b"1.0 ", b""],
    "content-type": [b"text/plain", b"application/json; charset=utf-8", b""],
    "ce_id": [b"", b"\xff\xfe", "\u00e9t\u00e9".encode()],
    "ce_type": [b"\xc3\x28"],
    "ce_subject": [b"", b"x" * 1000],
}
VALUES = [b"", b"{}", b"[]", b"null", b'{"a": 1}', b"\xff", b'{"a": NaN}', b'{"n": 1e400}']


def _written(index: int = 1) -> tuple[bytes, Headers]:
    envelope = order_envelopes(f"WEB-{index}", "accepted")[index % 2]
    record = envelope_to_record(TOPIC, envelope)
    return record.value, list(record.headers)


@pytest.mark.parametrize(
    ("name", "odd"), [(n, v) for n, values in ODD_VALUES.items() for v in values]
)
def test_an_odd_header_value_is_read_or_refused_as_the_model_does(name: str, odd: bytes) -> None:
    value, headers = _written()

    assert_read_alike(value, [(n, odd if n == name else v) for n, v in headers])


@pytest.mark.parametrize("odd", VALUES)
def test_an_odd_value_is_read_or_refused_as_the_model_does(odd: bytes) -> None:
    _, headers = _written()

    assert_read_alike(odd, headers)


def test_a_written_record_is_read_the_fast_way_and_equals_the_models_reading() -> None:
    value, headers = _written()

    assert codec._as_written(value, codec.written_values(headers)) is not None
    assert_read_alike(value, headers)


def test_a_time_with_no_utc_equivalent_is_refused_not_an_overflow() -> None:
    value, headers = _written()
    headers = [(n, b"0001-01-01T00:00:00+01:00" if n == "ce_time" else v) for n, v in headers]

    with pytest.raises(ValueError, match="no UTC equivalent"):
        record_to_envelope(b"key", value, headers)
    message = ConsumedMessage(TOPIC, 0, 0, b"key", value, tuple(headers))
    assert [m for m, _ in decode([message]).undecodable] == [message]


names = st.sampled_from([*sorted(codec._WRITTEN), "ce_extra", "x-trace"])
header_changes = st.lists(
    st.tuples(
        st.sampled_from(["replace", "upper", "repeat", "drop", "add"]),
        names,
        st.binary(max_size=8) | st.sampled_from([v for vs in ODD_VALUES.values() for v in vs]),
    ),
    max_size=3,
)


def _changed(headers: Headers, changes: list[tuple[str, str, bytes]]) -> Headers:
    for change, name, raw in changes:
        if change == "replace":
            headers = [(n, raw if n == name else v) for n, v in headers]
        elif change == "upper":
            headers = [(n.upper() if n == name else n, v) for n, v in headers]
        elif change == "repeat":
            headers = [*headers, (name, raw)]
        elif change == "drop":
            headers = [(n, v) for n, v in headers if n != name]
        else:
            headers = [(name, raw), *headers]
    return headers


@settings(max_examples=300)
@given(
    index=st.integers(1, 50),
    changes=header_changes,
    value=st.none() | st.sampled_from(VALUES),
)
def test_any_changed_record_is_read_or_refused_as_the_model_does(
    index: int, changes: list[tuple[str, str, bytes]], value: bytes | None
) -> None:
    written_value, headers = _written(index)

    assert_read_alike(written_value if value is None else value, _changed(headers, changes))


@given(envelope=envelopes)
def test_any_written_envelope_reads_back_equal_the_fast_way(envelope: EventEnvelope) -> None:
    record = envelope_to_record(TOPIC, envelope)

    assert codec._as_written(record.value, codec.written_values(record.headers)) == envelope
    assert_read_alike(record.value, list(record.headers))
