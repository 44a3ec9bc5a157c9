"""connectors.consumed.dead_letter: a parked message is copied whole while the DLQ record fits
the topics' records; one that would not (its parking headers took a message near its topic's
limit over the DLQ's, and the broker refused the record every time) keeps its first bytes, its
size and digest, and where the whole is."""

import hashlib

import pytest

from connectors.claim_check import claim_bound
from connectors.codec import OutboundRecord
from connectors.consumed import RAW_KEPT, ConsumedMessage, dead_letter

LIMIT = 1_048_576


def _message(value: bytes, key: bytes = b"order-1", headers: tuple = ()) -> ConsumedMessage:
    return ConsumedMessage("orderhub.orders.submitted", 3, 41, key, value, headers)


def _size(record: OutboundRecord) -> int:
    return len(record.key) + len(record.value) + sum(len(k) + len(v) for k, v in record.headers)


def test_a_message_that_fits_is_copied_whole_with_its_headers() -> None:
    message = _message(b"{not json", headers=(("ce_type", b"x"),))
    record = dead_letter("orderhub.dlq", message, "unparseable", "intake", LIMIT)
    headers = dict(record.headers)
    assert (record.topic, record.key, record.value) == ("orderhub.dlq", b"order-1", b"{not json")
    assert headers["ce_type"] == b"x" and headers["dlq-original-offset"] == b"41"
    assert "dlq-original-bytes" not in headers


@pytest.mark.parametrize("extra", [-70_000, -1_000, 0, 1, 500_000])
def test_a_message_near_or_over_the_limit_makes_a_record_the_dlq_takes(extra: int) -> None:
    # The parked headers alone (an error text of 4,000 characters) are ~4.3 kB.
    value = b"x" * (claim_bound(LIMIT) + extra)
    record = dead_letter("orderhub.dlq", _message(value), "e" * 10_000, "intake", LIMIT)
    assert _size(record) <= claim_bound(LIMIT)
    headers = dict(record.headers)
    if extra <= -70_000:  # room for the headers: whole
        assert record.value == value and "dlq-original-bytes" not in headers
        return
    assert record.value == value[:RAW_KEPT]
    assert headers["dlq-original-bytes"] == str(len(value)).encode()
    assert headers["dlq-original-sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert headers["dlq-original-offset"] == b"41" and record.key == b"order-1"


def test_large_headers_are_dropped_and_a_large_key_is_kept_as_its_digest() -> None:
    key = b"k" * (RAW_KEPT + 1)
    headers = (("big", b"h" * LIMIT),)
    record = dead_letter("orderhub.dlq", _message(b"{}", key, headers), "bad", "feeds", LIMIT)
    kept = dict(record.headers)
    assert _size(record) <= claim_bound(LIMIT)
    assert "big" not in kept and kept["dlq-original-headers-dropped"] == b"1"
    assert record.key == hashlib.sha256(key).hexdigest().encode()
    assert kept["dlq-original-key-sha256"] == record.key
    assert record.value == b"{}" and kept["dlq-consumer"] == b"feeds"


@pytest.mark.parametrize("limit", [65_536, 262_144, LIMIT, 16 * LIMIT])
def test_whatever_the_topics_limit_a_large_message_makes_a_record_the_dlq_takes(
    limit: int,
) -> None:
    # A topic made before the hub keeps its own limit, which may be small.
    key, headers = b"k" * limit, (("a", b"h" * limit), ("b", b""))
    message = _message(b"v" * limit, key, headers)
    record = dead_letter("orderhub.dlq", message, "e" * 10_000, "intake", limit)
    framing = 10 * len(record.headers)
    assert _size(record) + framing <= claim_bound(limit)
    assert dict(record.headers)["dlq-original-bytes"] == str(limit).encode()
