"""Marketplace order feeds → canonical submissions, one result per entry of ``orders``.

The feed: ``{"orders": [{"marketplaceOrderId", "purchaseDate", "buyer": {"buyerId", "name",
"email"}, "fulfillmentChannel", "shipmentServiceLevelCategory"?, "shippingAddress": {"name",
"addressLine1", "addressLine2"?, "city", "stateOrRegion"?, "postalCode", "countryCode"},
"orderTotal": {"currencyCode", "amount"}, "items": [{"orderItemId", "asin", "sellerSku",
"quantityOrdered", "itemPrice": {"currencyCode", "amount"}}]}]}``. Problems are named from the
feed's root: ``orders[2].items[0].asin``.

Decisions:

- Orders the marketplace fulfils itself (``fulfillmentChannel`` "MARKETPLACE") are refused with
  code ``not_ours_to_fulfil``: we hold no stock there and must not route them. Refusing (rather
  than mapping with a flag) keeps them out of orchestration while the rejection record still
  shows they arrived.
- ``itemPrice`` is the price of the whole line (unit price times quantity), as in the major
  marketplace's orders API; unit price = amount / quantityOrdered, rounded half up to the
  currency's minor unit. Its currency must be the order's.
- SKU: ``sku_map[asin]``, else ``sku_map[sellerSku]``, else ``sellerSku`` itself; an item with
  neither is refused at its ``asin``.
- The marketplace has charged the buyer: payment state ``captured``.
- ``shipmentServiceLevelCategory``: Expedited, NextDay, SecondDay, Priority → express; SameDay →
  same_day; Standard, Scheduled or absent → standard.
"""

from connectors.channels.draft import SubmissionDraft
from connectors.channels.json_payload import JsonObject, dump_json, load_json, type_name
from connectors.channels.results import AdapterResult, ChannelContext, ProblemCode, Refused
from connectors.channels.values import to_minor_unit
from schemas.problems import FieldProblem
from schemas.submission import DeliveryMethod, PaymentState

_SERVICE_LEVELS = {
    "expedited": DeliveryMethod.EXPRESS,
    "nextday": DeliveryMethod.EXPRESS,
    "secondday": DeliveryMethod.EXPRESS,
    "priority": DeliveryMethod.EXPRESS,
    "sameday": DeliveryMethod.SAME_DAY,
    "standard": DeliveryMethod.STANDARD,
    "scheduled": DeliveryMethod.STANDARD,
}
_ADDRESS = (
    ("name", "name", True),
    ("line1", "addressLine1", True),
    ("line2", "addressLine2", False),
    ("city", "city", True),
    ("region", "stateOrRegion", False),
    ("postal_code", "postalCode", True),
)


def parse(raw: bytes, context: ChannelContext) -> list[AdapterResult]:
    """A marketplace order feed → one result per order in it."""
    payload = load_json(raw)
    orders = payload.get("orders") if isinstance(payload, dict) else None
    if not isinstance(orders, list):
        field = "orders" if isinstance(payload, dict) else "(body)"
        shown = type_name(orders) if isinstance(payload, dict) else type_name(payload)
        expected = "an array of orders" if isinstance(payload, dict) else 'an object with "orders"'
        problem = FieldProblem(
            field=field, message=f"must be {expected}, not {shown}", code=ProblemCode.WRONG_TYPE
        )
        return [Refused([problem], raw=raw.decode("utf-8-sig"), index=0, external_id=None)]
    return [_map_order(order, i, context) for i, order in enumerate(orders)]


def _map_order(value: object, index: int, context: ChannelContext) -> AdapterResult:
    raw = dump_json(value)
    draft = SubmissionDraft(context, root=f"orders[{index}]")
    order = JsonObject.of(value, f"orders[{index}]", draft)
    if order is None:
        return draft.finish(raw=raw, index=index, actor=context.channel_actor, external_id=None)
    external_id = order.text("marketplaceOrderId")
    draft.put(("external_id",), external_id, order.at("marketplaceOrderId"))
    draft.put(("placed_at",), order.timestamp("purchaseDate"), order.at("purchaseDate"))
    draft.put(("payment_state",), PaymentState.CAPTURED, order.at("marketplaceOrderId"))
    _check_fulfilment(order, draft)
    _map_delivery(order, draft)
    _map_buyer(order, draft)
    _map_ship_to(order, draft, context)
    currency = _map_currency(order, draft, context)
    _map_items(order, draft, context, currency)
    return draft.finish(raw=raw, index=index, actor=context.channel_actor, external_id=external_id)


def _check_fulfilment(order: JsonObject, draft: SubmissionDraft) -> None:
    channel = order.text("fulfillmentChannel")
    if channel is None or channel == "MERCHANT":
        return
    if channel == "MARKETPLACE":
        draft.refuse(
            order.at("fulfillmentChannel"),
            "the marketplace fulfils this order from its own stock: not ours to ship",
            ProblemCode.NOT_OURS_TO_FULFIL,
        )
        return
    draft.refuse(
        order.at("fulfillmentChannel"),
        f"must be MERCHANT or MARKETPLACE (got {channel!r})",
        ProblemCode.UNKNOWN_VALUE,
    )


def _map_delivery(order: JsonObject, draft: SubmissionDraft) -> None:
    level = order.text("shipmentServiceLevelCategory", required=False)
    if level is None:
        return
    method = _SERVICE_LEVELS.get(level.strip().lower())
    if method is None:
        draft.refuse(
            order.at("shipmentServiceLevelCategory"),
            f"{level!r} is not a service level we know",
            ProblemCode.UNKNOWN_VALUE,
        )
    draft.put(("delivery_method",), method, order.at("shipmentServiceLevelCategory"))


def _map_buyer(order: JsonObject, draft: SubmissionDraft) -> None:
    buyer = order.child("buyer")
    if buyer is None:
        draft.name(("customer",), order.at("buyer"))
        return
    draft.put(("customer", "id"), buyer.text("buyerId"), buyer.at("buyerId"))
    draft.put(("customer", "name"), buyer.text("name", required=False), buyer.at("name"))
    draft.put(("customer", "email"), buyer.text("email", required=False), buyer.at("email"))


def _map_ship_to(order: JsonObject, draft: SubmissionDraft, context: ChannelContext) -> None:
    address = order.child("shippingAddress")
    if address is None:
        draft.name(("ship_to",), order.at("shippingAddress"))
        return
    for ours, theirs, required in _ADDRESS:
        draft.put(("ship_to", ours), address.text(theirs, required=required), address.at(theirs))
    country = address.text("countryCode", required=context.default_country is None)
    draft.put(("ship_to", "country"), country or context.default_country, address.at("countryCode"))


def _map_currency(order: JsonObject, draft: SubmissionDraft, context: ChannelContext) -> str | None:
    total = order.child("orderTotal", required=context.default_currency is None)
    currency = total.text("currencyCode") if total is not None else None
    currency = currency or context.default_currency
    origin = total.at("currencyCode") if total is not None else order.at("orderTotal")
    draft.put(("currency",), currency, origin)
    return currency


def _map_items(
    order: JsonObject, draft: SubmissionDraft, context: ChannelContext, currency: str | None
) -> None:
    draft.name(("lines",), order.at("items"))
    for index, item in enumerate(order.children("items")):
        draft.add_line(index, item.path)
        line_id = item.text("orderItemId", numbers=True)
        draft.put(("lines", index, "line_id"), line_id, item.at("orderItemId"))
        sku, origin = _sku(item, draft, context)
        draft.put(("lines", index, "sku"), sku, origin)
        quantity = item.whole("quantityOrdered")
        draft.put(("lines", index, "quantity"), quantity, item.at("quantityOrdered"))
        price = item.child("itemPrice")
        amount = price.money("amount") if price is not None else None
        origin = price.at("amount") if price is not None else item.at("itemPrice")
        if price is not None:
            item_currency = price.text("currencyCode", required=False)
            if item_currency is not None and currency is not None and item_currency != currency:
                draft.refuse(
                    price.at("currencyCode"),
                    f"must be the order's currency {currency}",
                    ProblemCode.CONFLICTING_VALUE,
                )
        unit_price = None
        if amount is not None and quantity is not None:
            unit_price = to_minor_unit(amount / quantity, currency)
        draft.put(("lines", index, "unit_price"), unit_price, origin)


def _sku(
    item: JsonObject, draft: SubmissionDraft, context: ChannelContext
) -> tuple[str | None, str]:
    asin = item.text("asin", required=False)
    seller_sku = item.text("sellerSku", required=False)
    if asin is not None and asin in context.sku_map:
        return context.sku_map[asin], item.at("asin")
    if seller_sku is not None:
        return context.sku_map.get(seller_sku, seller_sku), item.at("sellerSku")
    if asin is not None:
        draft.refuse(
            item.at("asin"),
            f"{asin} is not in the channel's SKU map and the item has no sellerSku",
            ProblemCode.UNKNOWN_SKU,
        )
    else:
        draft.refuse(item.at("asin"), "asin or sellerSku is required", ProblemCode.MISSING)
    return None, item.at("asin")
