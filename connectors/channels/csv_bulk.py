"""CSV bulk uploads → canonical submissions: consecutive rows with the same external_id are the
lines of one order. Problems are named by row, the header being row 1: ``row 7: quantity``.

The header must name exactly these columns, in any order: external_id, placed_at, customer_id,
customer_email, ship_name, ship_line1, ship_city, ship_postal_code, ship_country, sku, quantity,
unit_price, currency, delivery_method; optionally line_id, customer_name, ship_line2,
ship_region, demand_class, payment_state, promised_by. A missing or unknown column makes the
whole file unreadable (UnparseablePayload naming them): no value is dropped unread.

Tolerated: a UTF-8 BOM (or Windows-1252 text), ``;`` or tab as delimiter (found from the
header), quoted fields with delimiters or line breaks inside, CRLF, blank rows. With ``;`` as
delimiter a decimal comma ("19,90") is read as a decimal point.

Order-level columns may be left blank after an order's first row; a different non-blank value
on a later row is refused. Blank currency and ship_country take the channel's defaults; blank
delivery_method is standard; line ids default to the line's position in the order (1, 2, …).
Rows of one order must be consecutive: an external_id seen again further down is refused.
"""

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from connectors.channels.draft import Loc, SubmissionDraft
from connectors.channels.results import (
    AdapterResult,
    ChannelContext,
    ProblemCode,
    UnparseablePayload,
)
from connectors.channels.values import (
    InvalidValue,
    money_from_text,
    timestamp_from_text,
    whole_number_from_text,
)

_ORDER_COLUMNS: dict[str, Loc] = {
    "placed_at": ("placed_at",),
    "customer_id": ("customer", "id"),
    "customer_email": ("customer", "email"),
    "customer_name": ("customer", "name"),
    "demand_class": ("customer", "demand_class"),
    "ship_name": ("ship_to", "name"),
    "ship_line1": ("ship_to", "line1"),
    "ship_line2": ("ship_to", "line2"),
    "ship_city": ("ship_to", "city"),
    "ship_postal_code": ("ship_to", "postal_code"),
    "ship_region": ("ship_to", "region"),
    "ship_country": ("ship_to", "country"),
    "currency": ("currency",),
    "delivery_method": ("delivery_method",),
    "payment_state": ("payment_state",),
    "promised_by": ("promised_by",),
}
_LINE_COLUMNS = ("line_id", "sku", "quantity", "unit_price")
REQUIRED_COLUMNS = (
    "external_id", "placed_at", "customer_id", "customer_email", "ship_name", "ship_line1",
    "ship_city", "ship_postal_code", "ship_country", "sku", "quantity", "unit_price",
    "currency", "delivery_method",
)  # fmt: skip
OPTIONAL_COLUMNS = (
    "line_id", "customer_name", "ship_line2", "ship_region", "demand_class", "payment_state",
    "promised_by",
)  # fmt: skip
_REQUIRED_VALUES = ("placed_at", "customer_id", "ship_name", "ship_line1", "ship_city",
                    "ship_postal_code")  # fmt: skip
_DELIMITERS = (",", ";", "\t", "|")
# Every known column once, and room to name a few strays in the answer.
MAX_COLUMNS = 2 * len(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)


@dataclass(frozen=True)
class _Row:
    number: int  # 1-based, the header is row 1
    values: dict[str, str]
    extra_fields: int
    raw: str

    @property
    def external_id(self) -> str:
        return self.values.get("external_id", "")


def parse(raw: bytes, context: ChannelContext) -> list[AdapterResult]:
    """A CSV bulk upload → one result per order (run of rows sharing an external_id)."""
    text = _decode(raw)
    delimiter = _sniff(text)
    header, rows = _read(text, delimiter)
    results: list[AdapterResult] = []
    seen: dict[str, str] = {}
    for group in _orders(rows):
        results.append(_map_order(group, header, len(results), seen, delimiter, context))
    return results


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnparseablePayload("not CSV: neither UTF-8 nor Windows-1252 text")
    if "\x00" in text:
        raise UnparseablePayload("not CSV: the payload contains NUL bytes (binary data?)")
    return text


def _sniff(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    for delimiter in _DELIMITERS:
        cells = next(csv.reader([first], delimiter=delimiter), [])
        if "external_id" in (_column(cell) for cell in cells):
            return delimiter
    raise UnparseablePayload(
        "not a CSV bulk upload: the first row must be a header naming " + ",".join(REQUIRED_COLUMNS)
    )


def _column(cell: str) -> str:
    return cell.strip().strip("\ufeff").strip().lower()


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str], str]]:
    """(row number, cells, the row's own text) for every record, blank ones included."""
    lines = io.StringIO(text, newline="")
    taken: list[str] = []

    def source() -> Iterator[str]:
        for line in lines:
            taken.append(line)
            yield line

    try:
        for number, cells in enumerate(csv.reader(source(), delimiter=delimiter), start=1):
            yield number, cells, "".join(taken)
            taken.clear()
    except csv.Error as error:
        raise UnparseablePayload(f"not CSV: {error}") from None


def _read(text: str, delimiter: str) -> tuple[_Row, list[_Row]]:
    header: _Row | None = None
    columns: list[str] = []
    rows: list[_Row] = []
    for number, cells, raw in _records(text, delimiter):
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            columns = [_column(cell) for cell in cells]
            _check_header(columns, number)
            header = _Row(number, {}, 0, raw)
            continue
        values = {column: cell.strip() for column, cell in zip(columns, cells, strict=False)}
        rows.append(_Row(number, values, max(0, len(cells) - len(columns)), raw))
    if header is None:
        raise UnparseablePayload("not a CSV bulk upload: no header row")
    return header, rows


def _check_header(columns: list[str], number: int) -> None:
    if len(columns) > MAX_COLUMNS:
        raise UnparseablePayload(
            f"row {number} (header): {len(columns)} columns; a bulk upload has at most"
            f" {MAX_COLUMNS} (the known ones, each once)"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    unknown = sorted({c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS})
    repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
    faults = [
        f"{label}: {', '.join(names)}"
        for label, names in (("missing", missing), ("unknown", unknown), ("repeated", repeated))
        if names
    ]
    if faults:
        raise UnparseablePayload(f"row {number} (header): columns " + "; ".join(faults))


def _orders(rows: list[_Row]) -> Iterator[list[_Row]]:
    group: list[_Row] = []
    for row in rows:
        if group and row.external_id != group[0].external_id:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def _map_order(
    group: list[_Row],
    header: _Row,
    index: int,
    seen: dict[str, str],
    delimiter: str,
    context: ChannelContext,
) -> AdapterResult:
    first, last = group[0].number, group[-1].number
    rows_named = f"row {first}" if first == last else f"rows {first}-{last}"
    draft = SubmissionDraft(context, root=rows_named)
    external_id = group[0].external_id or None
    draft.put(("external_id",), external_id, f"row {first}: external_id")
    if external_id is None:
        draft.refuse(f"row {first}: external_id", "is required", ProblemCode.MISSING)
    elif external_id in seen:
        draft.refuse(
            f"row {first}: external_id",
            f"{external_id!r} was already used by {seen[external_id]}: the rows of one order"
            " must be consecutive",
            ProblemCode.DUPLICATE,
        )
    else:
        seen[external_id] = rows_named
    for row in group:
        if row.extra_fields:
            draft.refuse(
                f"row {row.number}",
                f"has {row.extra_fields} field(s) more than the header: quote values that"
                f" contain {delimiter!r}",
                ProblemCode.MALFORMED,
            )
    # A row with too many fields has its values shifted: reading them would only add noise.
    readable = [row for row in group if not row.extra_fields] or group[:1]
    _map_order_columns(readable, draft, context)
    draft.name(("lines",), rows_named)
    for position, row in enumerate(readable):
        _map_line(row, position, draft, context, decimal_comma=delimiter == ";")
    raw = header.raw + "".join(row.raw for row in group)
    return draft.finish(raw=raw, index=index, actor=context.channel_actor, external_id=external_id)


def _map_order_columns(group: list[_Row], draft: SubmissionDraft, context: ChannelContext) -> None:
    defaults = {"currency": context.default_currency, "ship_country": context.default_country}
    for column, loc in _ORDER_COLUMNS.items():
        taken: _Row | None = None
        for row in group:
            value = row.values.get(column, "")
            if not value:
                continue
            if taken is None:
                taken = row
            elif value != taken.values[column]:
                draft.refuse(
                    f"row {row.number}: {column}",
                    f"{value!r} differs from {taken.values[column]!r} on row {taken.number}"
                    " of the same order",
                    ProblemCode.CONFLICTING_VALUE,
                )
        where = f"row {(taken or group[0]).number}: {column}"
        chosen = taken.values[column] if taken else defaults.get(column)
        if chosen is None and (column in _REQUIRED_VALUES or column in defaults):
            draft.refuse(where, "is required", ProblemCode.MISSING)
        draft.put(loc, _order_value(column, chosen, where, draft), where)


def _order_value(column: str, value: str | None, where: str, draft: SubmissionDraft) -> object:
    if value is None or column not in ("placed_at", "promised_by"):
        return value
    try:
        return timestamp_from_text(value)
    except InvalidValue as error:
        draft.refuse(where, error.message, error.code)
        return None


def _map_line(
    row: _Row, position: int, draft: SubmissionDraft, context: ChannelContext, decimal_comma: bool
) -> None:
    draft.add_line(position, f"row {row.number}")
    values = {column: row.values.get(column, "") for column in _LINE_COLUMNS}
    where = {column: f"row {row.number}: {column}" for column in _LINE_COLUMNS}
    draft.put(
        ("lines", position, "line_id"), values["line_id"] or str(position + 1), where["line_id"]
    )
    sku = values["sku"]
    if not sku:
        draft.refuse(where["sku"], "is required", ProblemCode.MISSING)
    draft.put(("lines", position, "sku"), context.sku_map.get(sku, sku) or None, where["sku"])
    try:
        quantity: int | None = whole_number_from_text(values["quantity"])
    except InvalidValue as error:
        draft.refuse(where["quantity"], error.message, error.code)
        quantity = None
    draft.put(("lines", position, "quantity"), quantity, where["quantity"])
    price = None
    try:
        price = money_from_text(values["unit_price"], decimal_comma=decimal_comma)
    except InvalidValue as error:
        draft.refuse(where["unit_price"], error.message, error.code)
    draft.put(("lines", position, "unit_price"), price, where["unit_price"])
