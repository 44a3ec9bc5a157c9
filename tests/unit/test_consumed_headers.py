"""Record headers as the consumers see them: (str, bytes) pairs, whatever the client gave."""

import pytest

from connectors.consumed import normalise_headers


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, ()),
        ([], ()),
        ([("ce_id", b"1"), ("ce_type", b"t")], (("ce_id", b"1"), ("ce_type", b"t"))),
        ({"ce_id": b"1", "x": None}, (("ce_id", b"1"), ("x", b""))),
        ([("ce_id", bytearray(b"1")), ("x", memoryview(b"v"))], (("ce_id", b"1"), ("x", b"v"))),
        ([("ce_id", None)], (("ce_id", b""),)),
        (
            [("ce_id", b"1"), ("ce_type", b"t"), ("x", None)],
            (("ce_id", b"1"), ("ce_type", b"t"), ("x", b"")),
        ),
    ],
    ids=[
        "none",
        "empty",
        "pairs",
        "mapping with None",
        "bytes-like values",
        "None value",
        "the last one None",
    ],
)
def test_headers_become_str_bytes_pairs(given: object, expected: tuple[object, ...]) -> None:
    found = normalise_headers(given)  # type: ignore[arg-type]

    assert found == expected
    assert all(type(k) is str and type(v) is bytes for k, v in found)
