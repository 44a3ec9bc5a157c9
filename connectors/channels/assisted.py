"""Assisted entry — store tills (POS) and the call center — → canonical submissions.

The body: ``{"mode", "store_id", "operator_id", "reference", "placed_at"?, "customer": {"id",
"name"?, "email"?, "demand_class"?}, "lines": [{"line_id"?, "sku", "quantity", "unit_price"}],
"currency"?, "payment_state"?, "delivery_method"?, "promised_by"?, "ship_to"?,
"store_address"?}``; addresses use the canonical field names.

- ``mode`` "click_and_collect": delivery click_and_collect, shipped to the store:
  ``store_address`` from the body, else the context's address for ``store_id``.
  "ship_from_store" and "call_center": ``ship_to`` is required and ``delivery_method`` is
  standard, express or same_day (standard when absent).
- ``store_id`` is required in the store modes. The external id is ``<store_id>/<reference>``
  (till receipt numbers are unique per store only), or ``reference`` alone for the call center
  without a store.
- The actor is the operator, ``user:<operator_id>``. When the context names the signed-in
  operator, the body's ``operator_id`` may be left out but must not name someone else.
- ``placed_at`` defaults to the time the hub received the entry. Tills and agents' desktops
  should send it: a retried entry without it gets a new time and reads as a changed order.
- SKUs pass through the channel's SKU map; prices are strings or integers, never JSON fractions.
"""

from enum import StrEnum

from connectors.channels.draft import SubmissionDraft
from connectors.channels.json_payload import JsonObject, load_json
from connectors.channels.results import AdapterResult, ChannelContext, ProblemCode, Refused
from schemas.problems import FieldProblem
from schemas.submission import DeliveryMethod

_ADDRESS = ("name", "line1", "line2", "city", "postal_code", "region", "country")
_REQUIRED = ("name", "line1", "city", "postal_code")


class EntryMode(StrEnum):
    CLICK_AND_COLLECT = "click_and_collect"
    SHIP_FROM_STORE = "ship_from_store"
    CALL_CENTER = "call_center"


def parse(raw: bytes, context: ChannelContext) -> list[AdapterResult]:
    """One assisted entry → one result, acted by the operator."""
    payload = load_json(raw)
    text = raw.decode("utf-8-sig")
    draft = SubmissionDraft(context, root="(order)")
    entry = JsonObject.of(payload, "", draft)
    if entry is None:
        problem = FieldProblem(
            field="(body)", message="must be an order object", code=ProblemCode.WRONG_TYPE
        )
        return [Refused(problems=[problem], raw=text, index=0, external_id=None)]
    mode = _mode(entry, draft)
    store_id = entry.text("store_id", required=mode is not EntryMode.CALL_CENTER)
    reference = entry.text("reference", numbers=True)
    external_id = f"{store_id.strip()}/{reference.strip()}" if store_id and reference else reference
    draft.put(("external_id",), external_id, "reference")
    operator = _operator(entry, draft, context)
    placed_at = entry.timestamp("placed_at", required=False) if entry.has("placed_at") else None
    draft.put(("placed_at",), placed_at or context.received_at, "placed_at")
    draft.put(("promised_by",), entry.timestamp("promised_by", required=False), "promised_by")
    currency = entry.text("currency", required=context.default_currency is None)
    draft.put(("currency",), currency or context.default_currency, "currency")
    draft.put(("payment_state",), entry.text("payment_state", required=False), "payment_state")
    _map_customer(entry, draft)
    if mode is EntryMode.CLICK_AND_COLLECT:
        draft.put(("delivery_method",), DeliveryMethod.CLICK_AND_COLLECT, "mode")
        _map_store_address(entry, draft, context, store_id)
    elif mode is not None:
        _map_delivery(entry, draft)
        _map_address(entry.child("ship_to"), draft, entry.at("ship_to"), context)
    _map_lines(entry, draft, context)
    actor = f"user:{operator}" if operator else context.channel_actor
    return [draft.finish(raw=text, index=0, actor=actor, external_id=external_id)]


def _mode(entry: JsonObject, draft: SubmissionDraft) -> EntryMode | None:
    mode = entry.text("mode")
    if mode is None:
        return None
    try:
        return EntryMode(mode.strip())
    except ValueError:
        choices = ", ".join(m.value for m in EntryMode)
        draft.refuse("mode", f"must be one of {choices} (got {mode!r})", ProblemCode.UNKNOWN_VALUE)
        return None


def _operator(entry: JsonObject, draft: SubmissionDraft, context: ChannelContext) -> str | None:
    stated = entry.text("operator_id", required=context.operator is None, numbers=True)
    stated = stated.strip() if stated else None
    if context.operator is not None and stated is not None and stated != context.operator:
        draft.refuse(
            "operator_id",
            f"must be the signed-in operator {context.operator!r}",
            ProblemCode.OPERATOR_MISMATCH,
        )
    return context.operator or stated


def _map_customer(entry: JsonObject, draft: SubmissionDraft) -> None:
    customer = entry.child("customer")
    if customer is None:
        draft.name(("customer",), "customer")
        return
    draft.put(("customer", "id"), customer.text("id", numbers=True), customer.at("id"))
    for key in ("name", "email", "demand_class"):
        draft.put(("customer", key), customer.text(key, required=False), customer.at(key))


def _map_delivery(entry: JsonObject, draft: SubmissionDraft) -> None:
    method = entry.text("delivery_method", required=False)
    if method is None:
        return
    allowed = (DeliveryMethod.STANDARD, DeliveryMethod.EXPRESS, DeliveryMethod.SAME_DAY)
    if method.strip() not in allowed:
        draft.refuse(
            "delivery_method",
            f"must be standard, express or same_day in this mode (got {method!r})",
            ProblemCode.UNKNOWN_VALUE,
        )
        return
    draft.put(("delivery_method",), method.strip(), "delivery_method")


def _map_store_address(
    entry: JsonObject, draft: SubmissionDraft, context: ChannelContext, store_id: str | None
) -> None:
    if entry.get("store_address") is not None:
        _map_address(entry.child("store_address"), draft, "store_address", context)
        return
    known = context.stores.get(store_id.strip()) if store_id else None
    if known is None:
        if store_id:
            draft.refuse(
                "store_id",
                f"no address is known for store {store_id!r}: send store_address",
                ProblemCode.UNKNOWN_VALUE,
            )
        draft.name(("ship_to",), "store_id")
        return
    for key, value in known.model_dump().items():
        draft.put(("ship_to", key), value, "store_id")


def _map_address(
    address: JsonObject | None, draft: SubmissionDraft, origin: str, context: ChannelContext
) -> None:
    draft.name(("ship_to",), origin)
    if address is None:
        return
    for key in _ADDRESS:
        required = key in _REQUIRED or (key == "country" and context.default_country is None)
        value = address.text(key, required=required)
        if key == "country":
            value = value or context.default_country
        draft.put(("ship_to", key), value, address.at(key))


def _map_lines(entry: JsonObject, draft: SubmissionDraft, context: ChannelContext) -> None:
    draft.name(("lines",), "lines")
    for index, line in enumerate(entry.children("lines")):
        draft.add_line(index, line.path)
        line_id = line.text("line_id", required=False, numbers=True) or str(index + 1)
        draft.put(("lines", index, "line_id"), line_id, line.at("line_id"))
        sku = line.text("sku")
        draft.put(
            ("lines", index, "sku"), context.sku_map.get(sku, sku) if sku else None, line.at("sku")
        )
        draft.put(("lines", index, "quantity"), line.whole("quantity"), line.at("quantity"))
        draft.put(("lines", index, "unit_price"), line.money("unit_price"), line.at("unit_price"))
