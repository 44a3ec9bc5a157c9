"""Web-shop order webhooks (the shape of a widely used e-commerce platform's "order created"
webhook) → canonical submissions. One webhook body is one order.

Mapping, field by field:

- ``id`` → external_id (as text); ``name`` ("#1001") is the shop's display number, kept in raw.
- ``created_at`` (ISO 8601 with offset) → placed_at in UTC.
- ``customer.id`` → customer id; ``first_name`` + ``last_name`` → name; ``email``; a tag "vip"
  (``tags`` is a comma-separated string or a list, any case) → demand class ``vip``. A guest
  checkout (no customer) is taken as customer ``guest:<email>`` when the order has an email.
- ``shipping_address`` → ship_to (``province`` → region, ``zip`` → postal code,
  ``country_code`` → country, ``latitude``/``longitude`` → lat/lon).
- ``line_items[i]``: ``id`` → line id; ``sku`` through the channel's SKU map (``variant_id``
  when the SKU is blank); ``quantity``; unit price = (price * quantity - the sum of
  ``discount_allocations``) / quantity, rounded half up to the currency's minor unit (2 places
  for most currencies, 0 for JPY, 3 for KWD…). The per-unit rounding can move a line total by
  at most half a minor unit per unit. ``tax_lines`` are not part of the canonical order
  (taxes are the ERP's) and stay in raw.
- ``shipping_lines[0].code``: express → express, standard → standard, pickup →
  click_and_collect, same_day/same-day → same_day; no shipping line or another code → standard.
- ``financial_status``: paid → captured, authorized → authorized, pending (or absent) →
  pending; refunded, voided and the partial states are refused: they are not new orders.
- A cancelled order (``cancelled_at`` set) is refused.
"""

from decimal import Decimal

from connectors.channels.draft import SubmissionDraft
from connectors.channels.json_payload import JsonObject, load_json
from connectors.channels.results import AdapterResult, ChannelContext, ProblemCode, Refused
from connectors.channels.values import to_minor_unit
from schemas.problems import FieldProblem
from schemas.submission import DeliveryMethod, PaymentState

_DELIVERY = {
    "standard": DeliveryMethod.STANDARD,
    "express": DeliveryMethod.EXPRESS,
    "pickup": DeliveryMethod.CLICK_AND_COLLECT,
    "same_day": DeliveryMethod.SAME_DAY,
    "same-day": DeliveryMethod.SAME_DAY,
}
_PAYMENT = {
    "paid": PaymentState.CAPTURED,
    "authorized": PaymentState.AUTHORIZED,
    "pending": PaymentState.PENDING,
}
_ADDRESS = (
    ("line1", "address1"),
    ("line2", "address2"),
    ("city", "city"),
    ("region", "province"),
    ("postal_code", "zip"),
)


def parse(raw: bytes, context: ChannelContext) -> list[AdapterResult]:
    """One web-shop order webhook → one result."""
    payload = load_json(raw)
    text = raw.decode("utf-8-sig")
    draft = SubmissionDraft(context, root="(order)")
    order = JsonObject.of(payload, "", draft)
    if order is None:
        problem = FieldProblem(
            field="(body)", message="must be an order object", code=ProblemCode.WRONG_TYPE
        )
        return [Refused(problems=[problem], raw=text, index=0, external_id=None)]
    external_id = order.text("id", numbers=True)
    draft.put(("external_id",), external_id, "id")
    draft.put(("placed_at",), order.timestamp("created_at"), "created_at")
    currency = order.text("currency", required=context.default_currency is None)
    currency = currency or context.default_currency
    draft.put(("currency",), currency, "currency")
    if order.has("cancelled_at"):
        draft.refuse("cancelled_at", "the order is cancelled", ProblemCode.UNSUPPORTED)
    _map_payment(order, draft)
    _map_customer(order, draft)
    _map_ship_to(order, draft, context)
    _map_delivery(order, draft)
    _map_lines(order, draft, context, currency)
    return [draft.finish(raw=text, index=0, actor=context.channel_actor, external_id=external_id)]


def _map_payment(order: JsonObject, draft: SubmissionDraft) -> None:
    status = order.text("financial_status", required=False)
    if status is None:
        return
    state = _PAYMENT.get(status.strip().lower())
    if state is None:
        draft.refuse(
            "financial_status",
            f"{status!r} is not a new order's payment state; expected paid, authorized or pending",
            ProblemCode.UNKNOWN_VALUE,
        )
    draft.put(("payment_state",), state, "financial_status")


def _map_customer(order: JsonObject, draft: SubmissionDraft) -> None:
    if order.get("customer") is not None:
        customer = order.child("customer")
        if customer is not None:
            _map_known_customer(customer, draft)
        return
    email = order.text("email", required=False)
    if email is None:
        draft.refuse(
            "customer",
            "is required (or an order email for a guest checkout)",
            ProblemCode.MISSING,
        )
        return
    draft.put(("customer", "id"), f"guest:{email.strip()}", "email")
    draft.put(("customer", "email"), email, "email")


def _map_known_customer(customer: JsonObject, draft: SubmissionDraft) -> None:
    draft.put(("customer", "id"), customer.text("id", numbers=True), customer.at("id"))
    names = [customer.text(k, required=False) for k in ("first_name", "last_name")]
    full_name = " ".join(n.strip() for n in names if n and n.strip()) or None
    draft.put(("customer", "name"), full_name, customer.at("first_name"))
    draft.put(("customer", "email"), customer.text("email", required=False), customer.at("email"))
    if "vip" in _tags(customer):
        draft.put(("customer", "demand_class"), "vip", customer.at("tags"))


def _tags(customer: JsonObject) -> set[str]:
    tags = customer.get("tags")
    if isinstance(tags, str):
        return {tag.strip().lower() for tag in tags.split(",")}
    if isinstance(tags, list):
        return {tag.strip().lower() for tag in tags if isinstance(tag, str)}
    return set()


def _map_ship_to(order: JsonObject, draft: SubmissionDraft, context: ChannelContext) -> None:
    address = order.child("shipping_address")
    if address is None:
        return
    names = [address.text(k, required=False) for k in ("first_name", "last_name")]
    full_name = " ".join(n.strip() for n in names if n and n.strip()) or None
    if full_name is None:
        draft.refuse(
            address.at("last_name"), "a first or last name is required", ProblemCode.MISSING
        )
    draft.put(("ship_to", "name"), full_name, address.at("last_name"))
    for ours, theirs in _ADDRESS:
        required = ours in ("line1", "city", "postal_code")
        draft.put(("ship_to", ours), address.text(theirs, required=required), address.at(theirs))
    country = address.text("country_code", required=context.default_country is None)
    draft.put(
        ("ship_to", "country"), country or context.default_country, address.at("country_code")
    )
    draft.put(("ship_to", "lat"), address.number("latitude"), address.at("latitude"))
    draft.put(("ship_to", "lon"), address.number("longitude"), address.at("longitude"))


def _map_delivery(order: JsonObject, draft: SubmissionDraft) -> None:
    shipping = order.children("shipping_lines", required=False)
    if not shipping:
        return
    code = shipping[0].text("code", required=False)
    method = _DELIVERY.get(code.strip().lower()) if code else None
    draft.put(("delivery_method",), method, shipping[0].at("code"))


def _map_lines(
    order: JsonObject, draft: SubmissionDraft, context: ChannelContext, currency: str | None
) -> None:
    draft.name(("lines",), order.at("line_items"))
    for index, item in enumerate(order.children("line_items")):
        draft.add_line(index, item.path)
        draft.put(("lines", index, "line_id"), item.text("id", numbers=True), item.at("id"))
        draft.put(("lines", index, "sku"), _sku(item, draft, context), item.at("sku"))
        quantity = item.whole("quantity")
        draft.put(("lines", index, "quantity"), quantity, item.at("quantity"))
        price = item.money("price")
        discounts = _discounts(item, draft)
        if quantity is None or price is None or discounts is None:
            draft.name(("lines", index, "unit_price"), item.at("price"))
            continue
        net = price * quantity - discounts
        if net < 0 <= price:
            draft.refuse(
                item.at("discount_allocations"),
                f"discounts exceed the line total {price * quantity}",
                ProblemCode.BAD_MONEY,
            )
            draft.name(("lines", index, "unit_price"), item.at("price"))
            continue
        unit_price = to_minor_unit(net / quantity, currency)
        draft.put(("lines", index, "unit_price"), unit_price, item.at("price"))


def _discounts(item: JsonObject, draft: SubmissionDraft) -> Decimal | None:
    """The sum of the line's discount allocations; None when one cannot be read."""
    total: Decimal | None = Decimal(0)
    for allocation in item.children("discount_allocations", required=False):
        amount = allocation.money("amount")
        if amount is not None and amount < 0:
            draft.refuse(allocation.at("amount"), "must be ≥ 0", ProblemCode.BAD_MONEY)
            amount = None
        total = None if amount is None or total is None else total + amount
    return total


def _sku(item: JsonObject, draft: SubmissionDraft, context: ChannelContext) -> str | None:
    sku = item.text("sku", required=False)
    if sku is not None:
        return context.sku_map.get(sku, sku)
    variant = item.text("variant_id", required=False, numbers=True)
    if variant is not None and variant in context.sku_map:
        return context.sku_map[variant]
    if variant is None:
        draft.refuse(item.at("sku"), "is required", ProblemCode.MISSING)
    else:
        draft.refuse(
            item.at("sku"),
            f"is blank and variant_id {variant} is not in the channel's SKU map",
            ProblemCode.UNKNOWN_SKU,
        )
    return None
