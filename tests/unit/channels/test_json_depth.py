"""A channel's JSON is refused past MAX_DEPTH levels, however the depth is found."""

import pytest

from connectors.channels.json_payload import MAX_DEPTH, load_json
from connectors.channels.results import UnparseablePayload


def nested(containers: int, opener: str = "[") -> bytes:
    closer = "]" if opener == "[" else "}"
    return (opener * containers + "1" + closer * containers).encode()


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_the_deepest_allowed_is_read_and_one_level_more_refused(opener: str) -> None:
    # Containers and the scalar inside them: MAX_DEPTH levels in all.
    assert load_json(nested(MAX_DEPTH - 1, opener)) is not None

    with pytest.raises(UnparseablePayload, match="nested deeper"):
        load_json(nested(MAX_DEPTH, opener))


def test_brackets_inside_texts_do_not_make_a_shallow_payload_deep() -> None:
    body = ('{"note": "' + "[{" * MAX_DEPTH + '", "lines": [{"sku": "a"}]}').encode()

    assert load_json(body) == {"note": "[{" * MAX_DEPTH, "lines": [{"sku": "a"}]}


def test_a_deep_payload_among_many_brackets_in_texts_is_refused() -> None:
    deep = nested(MAX_DEPTH).decode()
    body = ('{"note": "' + "[" * 100 + '", "deep": ' + deep + "}").encode()

    with pytest.raises(UnparseablePayload, match="nested deeper"):
        load_json(body)
