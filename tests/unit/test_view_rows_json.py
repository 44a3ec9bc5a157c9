"""The views' JSON columns written by orjson read back the same, and rows an earlier release
wrote with the stdlib's encoder (its spaces, its ASCII escapes) still read as they were."""

import json

from projections.order_rows import OrderFacts, OrderStatusRow, fold
from projections.order_status import _COLUMNS, _from_record, _to_params
from tests.contracts.factories import order_envelopes


def _row() -> OrderStatusRow:
    row = None
    for env in order_envelopes("WEB-1", "accepted"):
        row = fold(row, env)
    assert row is not None
    facts = OrderFacts(shipments={"S-2": "requested", "S-1": "shipped"}, counted=("S-1",))
    return OrderStatusRow(**{**row.__dict__, "fulfillment": facts, "reasons": ("é: ü",)})


def test_an_order_row_reads_back_as_written() -> None:
    row = _row()
    params = _to_params(row)

    assert _from_record(params[: len(_COLUMNS)]) == row
    assert params[-1] == row.external_id.lower()


def test_an_order_row_written_by_the_stdlib_reads_the_same() -> None:
    row = _row()
    earlier: dict[str, object] = dict(zip(_COLUMNS, _to_params(row), strict=False))
    earlier["fulfillment"] = json.dumps(
        {k: list(v) if isinstance(v, tuple) else v for k, v in row.fulfillment.__dict__.items()},
        sort_keys=True,
    )
    for name in ("reasons", "skus", "sources"):
        earlier[name] = json.dumps(list(getattr(row, name)))
    assert " " in str(earlier["fulfillment"]) and "\\u00e9" in str(earlier["reasons"])

    assert _from_record([earlier[c] for c in _COLUMNS]) == row
