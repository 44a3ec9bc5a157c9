"""One human sentence per recorded event, for ops staff and auditors who do not read JSON.

Pure: the sentence depends on the envelope alone, so a rebuilt audit trail reads the same.
Amounts are shown exactly as recorded (strings, Decimal sums), never through float.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.envelope import EventEnvelope
from schemas.event_types import EventType

Data = Mapping[str, Any]

# Long free text (rejection reasons, notes) stays readable in a list; the data keeps the rest.
MAX_LENGTH = 300


def generic(env: EventEnvelope) -> str:
    """What is said of an event no sentence is known for (or whose data is not as expected)."""
    return f"Event {env.type} recorded"


def summarize(env: EventEnvelope) -> str:
    sentence = _SENTENCES.get(env.type)
    if sentence is None:
        return generic(env)
    try:
        text = " ".join(sentence(env.data).split())
    except Exception:  # whatever an old or foreign payload holds, the trail gets its line
        return generic(env)
    if not text:
        return generic(env)
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1].rstrip() + "…"


# --- wording helpers ------------------------------------------------------------------------


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _words(value: Any) -> str:
    return str(value).replace("_", " ")


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _or(value: Any, default: str) -> str:
    return default if value is None or str(value).strip() == "" else str(value)


def _when(value: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:  # recorded times are UTC; never guess the host's zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _quantity(line: Any) -> int:
    # Decisions record shipment lines as [line_id, sku, quantity]; events as objects.
    return int(line["quantity"] if isinstance(line, Mapping) else line[2])


def _units(lines: Iterable[Any]) -> str:
    return _count(sum(_quantity(line) for line in lines), "unit")


def _items(lines: Iterable[Mapping[str, Any]]) -> str:
    return ", ".join(f"{int(line['quantity'])} {line['sku']}" for line in lines)


def _total(submission: Data) -> str:
    total = sum(
        (Decimal(str(line["unit_price"])) * int(line["quantity"]) for line in submission["lines"]),
        Decimal(0),
    )
    return f"{total} {submission['currency']}"


def _percent(rate: Any) -> str:
    return f"{(Decimal(str(rate)) * 100).normalize():f}%"


def _withdrawing(data: Data) -> str:
    withdrawn = list(data.get("withdrawn") or [])
    if not withdrawn:
        return "no shipment to withdraw"
    sources = data.get("withdrawn_from") or {}
    named = [f"{sid} from {sources[sid]}" if sid in sources else str(sid) for sid in withdrawn]
    return "withdrawing " + ", ".join(named)


# --- Order ----------------------------------------------------------------------------------


def _placed(d: Data) -> str:
    sub = d["submission"]
    text = (
        f"Placed by channel {sub['channel']} as {sub['external_id']}: "
        f"{_count(len(sub['lines']), 'line')}, {_total(sub)}, "
        f"{_words(sub.get('delivery_method') or 'standard')} delivery "
        f"to {sub['ship_to']['country']}"
    )
    if sub.get("promised_by"):
        text += f", promised by {_when(sub['promised_by'])}"
    return text


def _routed(d: Data) -> str:
    text = f"Routed with policy {d['policy_id']} v{d['policy_version']}: "
    if d.get("unroutable_reason"):
        return text + f"cannot be routed ({d['unroutable_reason']})"
    shipments = (d.get("decision") or {}).get("shipments") or {}
    parts = [f"{source} ships {_units(lines)}" for source, lines in sorted(shipments.items())]
    waiting = list(d.get("waiting_lines") or [])
    if waiting:
        skus = ", ".join(sorted({str(w["sku"]) for w in waiting}))
        verb = "waits" if len(waiting) == 1 else "wait"
        parts.append(f"{_count(len(waiting), 'line')} {verb} for {skus}")
    return text + ("; ".join(parts) or "nothing to ship")


def _fulfillment_requested(d: Data) -> str:
    text = f"Shipment {d['shipment_id']} requested from {d['source_id']}: {_items(d['lines'])}"
    details = [f"{_words(d.get('delivery_method') or 'standard')} delivery"]
    if d.get("promised_by"):
        details.append(f"promised by {_when(d['promised_by'])}")
    return f"{text} ({', '.join(details)})"


# What a source's update means, said the way ops say it.
_PROGRESS = {
    "accepted": "accepted by {source}",
    "picked": "picked at {source}",
    "packed": "packed at {source}",
    "shipped": "shipped by {source}",
    "delivered": "delivered (reported by {source})",
    "delivery_failed": "delivery failed (reported by {source})",
}


def _shipment_progressed(d: Data) -> str:
    state, source = d["state"], d["source_id"]
    done = _PROGRESS.get(state, f"now {_words(state)} (reported by {{source}})")
    text = f"Shipment {d['shipment_id']} {done.format(source=source)}"
    if d.get("carrier"):
        text += f" via {d['carrier']}"
    if d.get("tracking"):
        text += f" (tracking {d['tracking']})"
    if d.get("reason"):
        text += f": {d['reason']}"
    return text


def _invoice_issued(d: Data) -> str:
    return (
        f"Invoice {d['invoice_id']} issued for shipment {d['shipment_id']}: "
        f"{d['gross_total']} {d['currency']} ({d['net_total']} net + {d['tax_total']} tax "
        f"at {_percent(d['tax_rate'])})"
    )


def _return_requested(d: Data) -> str:
    lines = list(d["lines"])
    ids = ", ".join(str(line["line_id"]) for line in lines)
    which = f"line {ids}" if len(lines) == 1 else f"lines {ids}"
    reason = _or(d.get("reason"), "no reason given")
    return f"Return {d['rma_id']} authorised for {_units(lines)} ({which}): {reason}"


def _return_received(d: Data) -> str:
    if d["disposition"] == "restock":
        outcome = f"restocked at {d['source_id']}"
    else:
        outcome = _words(d["disposition"]).replace("write off", "written off")
    return f"Return {d['rma_id']} received: {_units(d['lines'])} {outcome}"


def _reroute_requested(d: Data) -> str:
    withdrawn = ", ".join(str(sid) for sid in d.get("withdrawn") or []) or "no shipment"
    return (
        f"Reroute requested away from {d['source_id']}: "
        f"{_or(d.get('reason'), 'no reason given')}; withdrawing {withdrawn}"
    )


def _cancellation_requested(d: Data) -> str:
    reason = _or(d.get("reason"), "no reason given")
    rest = d.get("cancelled_lines")  # set when the order had shipped in part
    what = f" of what did not ship ({_units(rest)})" if rest else ""
    return f"Cancellation requested{what}: {reason}; {_withdrawing(d)}"


# --- ExceptionCase --------------------------------------------------------------------------


def _case(d: Data, what: str) -> str:
    return f"{_capital(_words(d['kind']))} exception {d['exception_id']} {what}"


# --- the table ------------------------------------------------------------------------------

_SENTENCES: dict[str, Callable[[Data], str]] = {
    EventType.ORDER_PLACED: _placed,
    EventType.ORDER_ACCEPTED: lambda d: "Accepted: passed the intake checks",
    EventType.ORDER_REJECTED: lambda d: "Rejected at intake: " + "; ".join(map(str, d["reasons"])),
    EventType.ORDER_HELD: lambda d: f"Held by rule {d['rule']}: {d['reason']}",
    EventType.ORDER_HOLD_RELEASED: lambda d: (
        f"Hold released: {_or(d.get('note'), 'no note given')}"
    ),
    EventType.ORDER_ROUTED: _routed,
    EventType.ORDER_FULFILLMENT_REQUESTED: _fulfillment_requested,
    EventType.ORDER_SHIPMENT_PROGRESSED: _shipment_progressed,
    EventType.ORDER_SHIPMENT_REJECTED: lambda d: (
        f"Shipment {d['shipment_id']} rejected by {d['source_id']}: "
        f"{_or(d.get('reason'), 'no reason given')}"
    ),
    EventType.ORDER_SHIPMENT_CANCELLED: lambda d: (
        f"Shipment {d['shipment_id']} cancelled: {d['source_id']} confirmed the withdrawal "
        f"of {_units(d['lines'])}"
    ),
    EventType.ORDER_CANCELLATION_REQUESTED: _cancellation_requested,
    EventType.ORDER_CHANGED: lambda d: (
        f"Changed to revision {d['revision']}: {_count(len(d['submission']['lines']), 'line')}, "
        f"{_total(d['submission'])}; {_withdrawing(d)}"
    ),
    EventType.ORDER_INVOICE_ISSUED: _invoice_issued,
    EventType.ORDER_PAYMENT_CAPTURED: lambda d: (
        f"Payment of {d['amount']} {d['currency']} captured for invoice {d['invoice_id']}"
    ),
    EventType.ORDER_RETURN_REQUESTED: _return_requested,
    EventType.ORDER_RETURN_RECEIVED: _return_received,
    EventType.ORDER_REFUNDED: lambda d: (
        f"Refunded {d['amount']} {d['currency']}: {_or(d.get('reason'), 'no reason given')}"
    ),
    EventType.ORDER_REROUTE_REQUESTED: _reroute_requested,
    EventType.EXCEPTION_CASE_OPENED: lambda d: _case(d, "opened"),
    EventType.EXCEPTION_CASE_FLAGGED: lambda d: (
        f"{_capital(_words(d['kind']))} raised ({d['band']}): promised by {_when(d['promised_by'])}"
    ),
    EventType.EXCEPTION_CASE_ASSIGNED: lambda d: _case(d, f"assigned to {d['assignee']}"),
    EventType.EXCEPTION_CASE_RESOLVED: lambda d: _case(d, f"resolved: {d['note']}"),
    EventType.STOCK_ITEM_REGISTERED: lambda d: (
        f"Stock of {d['sku']} at {d['source_id']} registered: {d['on_hand']} on hand, "
        f"{d['safety_stock']} kept as safety stock"
    ),
    EventType.STOCK_ITEM_COUNTED: lambda d: (
        f"Stock of {d['sku']} at {d['source_id']} counted: {d['on_hand']} on hand, "
        f"safety stock {d['safety_stock']} ({_or(d.get('reason'), 'no reason given')})"
    ),
    EventType.STOCK_ITEM_ADJUSTED: lambda d: (
        f"Stock of {d['sku']} at {d['source_id']} adjusted by {int(d['delta']):+d}: "
        f"{_or(d.get('reason'), 'no reason given')}"
    ),
    EventType.STOCK_ITEM_RESERVED: lambda d: (
        f"{d['quantity']} {d['sku']} reserved at {d['source_id']} (reservation {d['order_id']})"
    ),
    EventType.STOCK_ITEM_RELEASED: lambda d: (
        f"{d['quantity']} {d['sku']} released at {d['source_id']} (reservation {d['order_id']}): "
        f"{_or(d.get('reason'), 'no reason given')}"
    ),
    EventType.STOCK_ITEM_CONSUMED: lambda d: (
        f"{d['quantity']} {d['sku']} shipped from {d['source_id']} (reservation {d['order_id']})"
        + (f"; {_count(int(d['freed']), 'unshipped unit')} freed" if d.get("freed") else "")
    ),
    EventType.REJECTED_SUBMISSION_RECORDED: lambda d: (
        f"Submission from channel {d['channel']} refused "
        f"({_or(d.get('external_id'), 'no order id')}, {d['format']}): {d['reason']}"
        + (f"; {_count(len(d['problems']), 'problem')}" if d.get("problems") else "")
    ),
    EventType.POLICY_VERSIONS_CREATED: lambda d: f"Policy {d['policy_id']} created",
    EventType.POLICY_VERSIONS_PUBLISHED: lambda d: (
        f"Policy version {d['version']} published and made active (digest {str(d['digest'])[:19]})"
    ),
    EventType.POLICY_VERSIONS_ROLLED_BACK: lambda d: (
        f"Policy rolled back to version {d['to_version']}"
    ),
    EventType.FULFILLMENT_SOURCE_REGISTERED: lambda d: (
        f"Source {d['source_id']} registered: {d['definition']['name']} "
        f"({_words(d['definition']['kind'])} in {d['definition']['country']})"
    ),
    EventType.FULFILLMENT_SOURCE_REDEFINED: lambda d: (
        f"Source {d['definition']['source_id']} redefined"
    ),
    EventType.FULFILLMENT_SOURCE_PAUSED: lambda d: (
        f"Source paused: {_or(d.get('reason'), 'no reason given')}"
    ),
    EventType.FULFILLMENT_SOURCE_RESUMED: lambda d: "Source resumed: it takes shipments again",
    EventType.CHANNEL_REGISTERED: lambda d: (
        f"Channel {d['channel_id']} registered: {d['definition']['name']} "
        f"({_words(d['definition']['kind'])}, {d['definition']['format']} format)"
    ),
    EventType.CHANNEL_REDEFINED: lambda d: f"Channel {d['definition']['channel_id']} redefined",
    EventType.API_KEY_ISSUED: lambda d: (
        f"API key {d['key_id']} issued for role {d['role']}"
        + (f" of channel {d['channel_id']}" if d.get("channel_id") else "")
        + (f" of source {d['source_id']}" if d.get("source_id") else "")
        + f": {_or(d.get('label'), 'no label')}"
        + (f"; it expires at {d['expires_at']}" if d.get("expires_at") else "")
    ),
    EventType.API_KEY_REVOKED: lambda d: "API key revoked: it no longer authenticates",
    EventType.API_KEY_ROTATED: lambda d: (
        "API key rotated: a new secret"
        + (
            f"; the previous one works until {d['previous_valid_until']}"
            if d.get("previous_valid_until")
            else "; the previous one no longer works"
        )
    ),
    EventType.BOOTSTRAP_KEY_REVOKED: lambda d: (
        "Bootstrap admin key (ORDERHUB_ADMIN_API_KEY) revoked: that value no longer authenticates"
    ),
    EventType.DIRECTORY_CREATED: lambda d: f"Directory of {d['kind']} created",
    EventType.DIRECTORY_ADDED: lambda d: f"{d['name']} added to the directory",
    EventType.RECORDED_INPUTS_RECORDED: lambda d: (
        f"Decision inputs recorded for re-runs (digest {d['digest'][:12]}...)"
    ),
    EventType.RECORDED_SOURCE_RECORDED: lambda d: (
        f"Source definition recorded for re-runs (digest {d['digest'][:12]}...)"
    ),
}
