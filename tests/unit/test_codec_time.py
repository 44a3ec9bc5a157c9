"""`ce_time` as the relay writes it: the bytes `isoformat()` gave (UTC as `Z`), written faster."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from connectors.codec import _header_time


def _isoformat(time: datetime) -> bytes:
    """How the header was written before (and how the CloudEvents SDK writes it)."""
    text = time.isoformat()
    return (text[:-6] + "Z" if text.endswith("+00:00") else text).encode()


zones = st.one_of(
    st.just(UTC),
    st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60, 23 * 60)),
)


@given(st.datetimes(timezones=zones))
def test_the_time_header_is_the_isoformat_bytes(time: datetime) -> None:
    assert _header_time(time) == _isoformat(time)


def test_whole_seconds_and_microseconds_are_written_as_isoformat_writes_them() -> None:
    assert _header_time(datetime(2026, 12, 4, 17, 0, 1, tzinfo=UTC)) == b"2026-12-04T17:00:01Z"
    assert _header_time(datetime(2026, 12, 4, 17, 0, 1, 5, tzinfo=UTC)) == (
        b"2026-12-04T17:00:01.000005Z"
    )
