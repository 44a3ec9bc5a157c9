"""Properties every adapter keeps on any input: only Mapped/Refused results or
UnparseablePayload — never another exception, never a float price — and the same bytes always
give the same answer."""

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.channels import ADAPTERS, ChannelContext, Mapped, Refused, UnparseablePayload
from schemas.submission import Address
from tests.support.examples import examples

SAMPLES = Path(__file__).resolve().parents[3] / "connectors" / "channels" / "samples"
CONTEXT = ChannelContext(
    channel_id="prop-channel",
    received_at=datetime(2026, 11, 20, 12, tzinfo=UTC),
    default_currency="EUR",
    default_country="FR",
    sku_map={"B07XJ8C8F5": "RED-CHAIR", "ACME-55501": "BLUE-LAMP", "40003": "GIFT-CARD"},
    stores={
        "store-lyon": Address(
            name="Store Lyon", line1="1 place Bellecour", city="Lyon", postal_code="69002",
            country="FR",
        )
    },
)  # fmt: skip
JSON_FORMATS = ("canonical", "webshop", "marketplace", "assisted")
PROPERTY = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def samples(fmt: str) -> list[bytes]:
    return [path.read_bytes() for path in sorted((SAMPLES / fmt).iterdir())]


def answer(fmt: str, raw: bytes) -> tuple[str, object]:
    """The adapter's answer, checked against the contract; any other exception fails the test."""
    try:
        results = ADAPTERS[fmt](raw, CONTEXT)
    except UnparseablePayload as error:
        assert error.message
        return ("unparseable", error.message)
    assert isinstance(results, list)
    for position, result in enumerate(results):
        assert result.index == position
        assert isinstance(result.raw, str)
        if isinstance(result, Mapped):
            submission = result.submission
            assert submission.channel == CONTEXT.channel_id
            assert result.actor.startswith(("channel:", "user:"))
            assert submission.placed_at.utcoffset() is not None
            for line in submission.lines:
                assert type(line.unit_price) is Decimal
                assert type(line.quantity) is int and line.quantity > 0
        else:
            assert isinstance(result, Refused)
            assert result.problems
            assert all(problem.field and problem.message for problem in result.problems)
    return ("results", results)


def check(fmt: str, raw: bytes) -> None:
    assert answer(fmt, raw) == answer(fmt, raw)


# -- arbitrary bytes


@PROPERTY
@given(fmt=st.sampled_from(sorted(ADAPTERS)), raw=st.binary(max_size=600))
def test_arbitrary_bytes_give_results_or_unparseable_never_an_exception(
    fmt: str, raw: bytes
) -> None:
    check(fmt, raw)


@PROPERTY
@given(
    fmt=st.sampled_from(sorted(ADAPTERS)),
    data=st.data(),
)
def test_good_samples_cut_anywhere_never_raise(fmt: str, data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(samples(fmt)))
    start = data.draw(st.integers(0, len(raw)))
    end = data.draw(st.integers(start, len(raw)))

    check(fmt, raw[:start] + raw[end:])


# -- JSON formats: good samples with arbitrary parts replaced

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "", " ", "19.90", "-1", "1e5", "0", "2026-11-20T09:00:00Z", "2026-11-20",
            "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "EUR", "fr", "XX", "vip",
            "MARKETPLACE", "MERCHANT", "click_and_collect", "call_center", "pickup", "voided",
            "store-lyon", "B07XJ8C8F5", "NaN", "9" * 40, "a b", "x" * 300,
        ]
    )
)  # fmt: skip
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def _mutate(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][str(value)[:12] if not isinstance(value, str) else value] = value
    elif action == "add" and isinstance(parent[last], list):
        parent[last].append(value)
    else:
        parent[last] = value
    return document


@st.composite
def mutated_json(draw: st.DrawFn, fmt: str) -> bytes:
    documents = []
    for raw in samples(fmt):
        try:
            documents.append(json.loads(raw.decode("utf-8-sig")))
        except ValueError:
            continue
    document = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(document)))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        document = _mutate(document, path, action, draw(JSON_VALUES))
    return json.dumps(document).encode()


@PROPERTY
@given(data=st.data(), fmt=st.sampled_from(JSON_FORMATS))
def test_json_formats_survive_arbitrary_structures_where_fields_were(
    data: st.DataObject, fmt: str
) -> None:
    check(fmt, data.draw(mutated_json(fmt)))


@PROPERTY
@given(fmt=st.sampled_from(JSON_FORMATS), value=JSON_VALUES)
def test_json_formats_survive_any_json_document(fmt: str, value: Any) -> None:
    check(fmt, json.dumps(value).encode())


# -- X12: segment soup inside a valid ISA header, and damaged good interchanges

ISA = (
    "ISA*00*          *00*          *ZZ*ACMERETAIL     *ZZ*ORDERHUB       "
    "*261120*0830*U*00401*000000905*0*P*>~"
)
TAGS = [
    "GS", "ST", "BEG", "CUR", "DTM", "PER", "N1", "N2", "N3", "N4", "PO1", "PID", "CTT", "SE",
    "GE", "IEA", "ISA", "REF", "ZZ9", "b3g", "", " ", "PO1 ",
]  # fmt: skip
ELEMENTS = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters="~*"), max_size=12
) | st.sampled_from(
    [
        "850", "855", "0001", "0002", "00", "05", "SA", "20261120", "20261340", "ST", "BY", "EA",
        "CA", "VP", "BP", "SK", "UP", "12", "2.5", ".5", "12.", "-1", "0", "US", "de", "EUR",
        "1", "2", "9", "905", "000000905", "EM", "002", "ACME-55501", "RED-CHAIR", "",
    ]
)  # fmt: skip
SEGMENTS = st.builds(
    lambda tag, elements: "*".join([tag, *elements]),
    st.sampled_from(TAGS),
    st.lists(ELEMENTS, max_size=12),
)


@PROPERTY
@given(segments=st.lists(SEGMENTS, max_size=40), ending=st.sampled_from(["~", "~\n", "~\r\n  "]))
def test_x12_segment_soup_never_raises(segments: list[str], ending: str) -> None:
    check("edi-x12-850", (ISA + ending.join(segments) + ending).encode("latin-1"))


@st.composite
def damaged_interchange(draw: st.DrawFn) -> bytes:
    raw = draw(st.sampled_from([s for s in samples("edi-x12-850") if s.startswith(b"ISA")]))
    segments = raw.decode().split("~")
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(segments) - 1))
        action = draw(st.sampled_from(["drop", "duplicate", "replace", "element"]))
        if action == "drop" and len(segments) > 1:
            del segments[position]
        elif action == "duplicate":
            segments.insert(position, segments[position])
        elif action == "replace":
            segments[position] = draw(SEGMENTS)
        else:
            elements = segments[position].split("*")
            elements[draw(st.integers(0, len(elements) - 1))] = draw(ELEMENTS)
            segments[position] = "*".join(elements)
    return "~".join(segments).encode("latin-1")


@PROPERTY
@given(raw=damaged_interchange())
def test_damaged_interchanges_never_raise(raw: bytes) -> None:
    check("edi-x12-850", raw)


# -- CSV: good uploads with cells, rows and quoting damaged

CELLS = st.text(max_size=15) | st.sampled_from(
    ['"', '""', ",", ";", "\n", "\r\n", "0", "-1", "2.5", "19,90", "1e3", "fr", "FR", "EUR",
     "express", "2026-11-20T08:00:00Z", "0001-01-01T00:00:00+01:00", "rc-01", ""]
)  # fmt: skip


@st.composite
def damaged_upload(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(samples("csv"))).decode("utf-8-sig")
    delimiter = ";" if text.count(";") > text.count(",") else ","
    rows = [line.split(delimiter) for line in text.splitlines()]
    for _ in range(draw(st.integers(1, 5))):
        row = draw(st.integers(0, len(rows) - 1))
        action = draw(st.sampled_from(["cell", "cell", "drop", "duplicate", "extra"]))
        if action == "cell" and rows[row]:
            rows[row][draw(st.integers(0, len(rows[row]) - 1))] = draw(CELLS)
        elif action == "drop" and len(rows) > 1:
            del rows[row]
        elif action == "duplicate":
            rows.insert(row, list(rows[row]))
        else:
            rows[row].append(draw(CELLS))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(delimiter.join(cells) for cells in rows).encode()


@PROPERTY
@given(raw=damaged_upload())
def test_damaged_csv_uploads_never_raise(raw: bytes) -> None:
    check("csv", raw)


# -- determinism on the samples themselves


def test_every_sample_gives_the_same_answer_every_time() -> None:
    for fmt in ADAPTERS:
        for raw in samples(fmt):
            check(fmt, raw)
