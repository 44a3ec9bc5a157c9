"""The views' JSON columns written by orjson read back the same, and rows an earlier release
wrote with the stdlib's encoder (its spaces, its ASCII escapes) still read as they were."""

import json

from projections.order_rows import OrderFacts, OrderStatusRow, fold
from projections.order_status import _COLUMNS, _from_record, _to_params
from projections.stock_rows import StockLevel, _level
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


def test_stock_reservations_are_the_stdlib_compact_sorted_text() -> None:
    held = {"b7c1-order": 3, "a0f2-order": 1, "c9-order": 12}
    level = _level("S-1", "SKU-1", 40, 2, held, order_envelopes("WEB-1", "accepted")[0])

    assert level.reservations == json.dumps(held, sort_keys=True, separators=(",", ":"))
    assert level.reservations_by_order() == held
    assert StockLevel("S", "K", 1, 0, 0, 1, "t", 1).reservations_by_order() == {}
