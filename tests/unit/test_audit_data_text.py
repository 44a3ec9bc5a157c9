"""The audit trail keeps each event's data as sorted JSON text, read back with json.loads.

An envelope's data is plain JSON already (tests/unit/test_contract_mapping.py)."""

import json

from projections.audit_trail import data_text


def test_the_data_reads_back_whole_with_its_keys_sorted_and_text_unescaped() -> None:
    data = {
        "z": [1, 2.5, "Zürich", None, True, -3],
        "a": {"nested": {"b": 1, "a": "10.20"}},
        "m": 'line\nbreak "quoted"',
    }
    text = data_text(data)

    assert json.loads(text) == data
    assert list(json.loads(text)) == ["a", "m", "z"]
    assert list(json.loads(text)["a"]["nested"]) == ["a", "b"]
    assert "Zürich" in text


def test_an_integer_past_64_bits_falls_back_to_the_stdlib() -> None:
    assert json.loads(data_text({"n": 2**70})) == {"n": 2**70}
