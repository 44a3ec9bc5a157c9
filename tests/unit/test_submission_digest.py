"""A submission's digest is stored with its order and compared with every re-submission: the
fast canonical JSON behind it writes exactly the bytes json.dumps (ASCII only) writes."""

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.network import OrderMaker, generate_network
from hub.services.canonical_json import canonical_ascii_json, reference_dumps
from hub.services.intake import submission_digest
from schemas.submission import OrderSubmission
from tests.contracts.factories import submission_dict


def _standard(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _release_digest(submission: OrderSubmission) -> str:
    """The digest as every earlier release computed it."""
    return hashlib.sha256(_standard(submission.model_dump(mode="json"))).hexdigest()


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
small_floats = st.integers(-(10**9), 10**9).map(lambda n: n / 10**12)
# DEL, Latin-1, the BMP's edge and an astral character, lone surrogates, escapes and the
# marks the float rewriting looks for.
words = st.text(
    alphabet='0123456789.eE+-:,[]{} abcé\x7f\x80\u2028\uffff\U0001f600\ud800\udfff\x01"\\',
    max_size=12,
)
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | finite_floats | small_floats | words,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(words, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=1000, deadline=None)
@given(documents)
def test_writes_what_json_dumps_writes(value: object) -> None:
    assert canonical_ascii_json(value) == _standard(value) == reference_dumps(value)


@pytest.mark.parametrize(
    "value",
    [
        {"name": "Müller", "city": "Zürich"},
        {"name": "\U0001f600 \u2028 \x7f", "lat": 1e-05},
        {"lone": "\ud800", "pair": "\ud83d\ude00"},
        {"a": 'quote " and \\ backslash', "b": [1e-06, 0.00012, 2**70]},
    ],
)
def test_writes_what_json_dumps_writes_for_the_hard_cases(value: object) -> None:
    assert canonical_ascii_json(value) == _standard(value)


def test_a_submissions_digest_is_the_one_earlier_releases_stored() -> None:
    maker = OrderMaker(generate_network())
    orders = [maker.order("web", f"o-{i}", "2026-12-05T03:00:00Z") for i in range(300)]
    hard = submission_dict(external_id="naïve-1")
    hard["ship_to"] = {**hard["ship_to"], "name": 'Jörg \U0001f600 O"Brien', "lat": 1e-05}
    hard["customer"] = {**hard["customer"], "name": "\x7f tab\t"}
    for payload in [*orders, hard]:
        submission = OrderSubmission.model_validate(payload)
        assert submission_digest(submission) == _release_digest(submission)


# A submission as a channel sent it, kept as text so that no factory's change moves it.
FIXED = (
    '{"channel":"web-shop","external_id":"fixed-1","placed_at":"2026-11-20T08:00:00Z",'
    '"customer":{"id":"CUST-ADA","name":"Ada Lovelace","email":"ada@example.org"},'
    '"ship_to":{"name":"Ada Lovelace","line1":"3 place Bellecour","city":"Lyon",'
    '"postal_code":"69002","country":"FR"},"lines":[{"line_id":"1","sku":"RED-CHAIR",'
    '"quantity":2,"unit_price":"19.90"},{"line_id":"2","sku":"BLUE-LAMP","quantity":1,'
    '"unit_price":"5.00"}],"currency":"EUR"}'
)


def test_a_known_digest_does_not_change() -> None:
    """Computed by the release before this encoder (0748036), fixed here."""
    submission = OrderSubmission.model_validate_json(FIXED)
    known = "e4fd5ede8891ce9439a3ef251adff8574fb9ef74b4bc8d0df3ed9637447eb858"
    assert submission_digest(submission) == known
