"""One human sentence per recorded event, for ops staff and auditors who do not read JSON.

Pure: the sentence depends on the envelope alone, so a rebuilt audit trail reads the same.
Amounts are shown exactly as recorded (strings, Decimal sums), never through float.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from schemas.envelope import EventEnvelope

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


# --- ExceptionCase --------------------------------------------------------------------------


def _case(d: Data, what: str) -> str:
    return f"{_capital(_words(d['kind']))} exception {d['exception_id']} {what}"


# --- the table ------------------------------------------------------------------------------

_SENTENCES: dict[str, Callable[[Data], str]] = {
    "orderhub.order.placed": _placed,
    "orderhub.order.accepted": lambda d: "Accepted: passed the intake checks",
    "orderhub.order.rejected": lambda d: "Rejected at intake: " + "; ".join(map(str, d["reasons"])),
    "orderhub.order.held": lambda d: f"Held by rule {d['rule']}: {d['reason']}",
    "orderhub.order.hold_released": lambda d: (
        f"Hold released: {_or(d.get('note'), 'no note given')}"
    ),
    "orderhub.order.routed": _routed,
    "orderhub.order.fulfillment_requested": _fulfillment_requested,
    "orderhub.order.shipment_progressed": _shipment_progressed,
    "orderhub.order.shipment_rejected": lambda d: (
        f"Shipment {d['shipment_id']} rejected by {d['source_id']}: "
        f"{_or(d.get('reason'), 'no reason given')}"
    ),
    "orderhub.order.shipment_cancelled": lambda d: (
        f"Shipment {d['shipment_id']} cancelled: {d['source_id']} confirmed the withdrawal "
        f"of {_units(d['lines'])}"
    ),
    "orderhub.order.cancellation_requested": lambda d: (
        f"Cancellation requested: {_or(d.get('reason'), 'no reason given')}; {_withdrawing(d)}"
    ),
    "orderhub.order.changed": lambda d: (
        f"Changed to revision {d['revision']}: {_count(len(d['submission']['lines']), 'line')}, "
        f"{_total(d['submission'])}; {_withdrawing(d)}"
    ),
    "orderhub.order.invoice_issued": _invoice_issued,
    "orderhub.order.payment_captured": lambda d: (
        f"Payment of {d['amount']} {d['currency']} captured for invoice {d['invoice_id']}"
    ),
    "orderhub.order.return_requested": _return_requested,
    "orderhub.order.return_received": _return_received,
    "orderhub.order.refunded": lambda d: (
        f"Refunded {d['amount']} {d['currency']}: {_or(d.get('reason'), 'no reason given')}"
    ),
    "orderhub.order.reroute_requested": _reroute_requested,
    "orderhub.exception_case.opened": lambda d: _case(d, "opened"),
    "orderhub.exception_case.flagged": lambda d: (
        f"{_capital(_words(d['kind']))} raised ({d['band']}): promised by {_when(d['promised_by'])}"
    ),
    "orderhub.exception_case.assigned": lambda d: _case(d, f"assigned to {d['assignee']}"),
    "orderhub.exception_case.resolved": lambda d: _case(d, f"resolved: {d['note']}"),
    "orderhub.stock_item.registered": lambda d: (
        f"Stock of {d['sku']} at {d['source_id']} registered: {d['on_hand']} on hand, "
        f"{d['safety_stock']} kept as safety stock"
    ),
    "orderhub.stock_item.counted": lambda d: (
        f"Stock of {d['sku']} at {d['source_id']} counted: {d['on_hand']} on hand, "
        f"safety stock {d['safety_stock']} ({_or(d.get('reason'), 'no reason given')})"
    ),
    "orderhub.stock_item.adjusted": lambda d: (
        f"Stock of {d['sku']} at {d['source_id']} adjusted by {int(d['delta']):+d}: "
        f"{_or(d.get('reason'), 'no reason given')}"
    ),
    "orderhub.stock_item.reserved": lambda d: (
        f"{d['quantity']} {d['sku']} reserved at {d['source_id']} (reservation {d['order_id']})"
    ),
    "orderhub.stock_item.released": lambda d: (
        f"{d['quantity']} {d['sku']} released at {d['source_id']} (reservation {d['order_id']}): "
        f"{_or(d.get('reason'), 'no reason given')}"
    ),
    "orderhub.stock_item.consumed": lambda d: (
        f"{d['quantity']} {d['sku']} shipped from {d['source_id']} (reservation {d['order_id']})"
        + (f"; {_count(int(d['freed']), 'unshipped unit')} freed" if d.get("freed") else "")
    ),
    "orderhub.rejected_submission.recorded": lambda d: (
        f"Submission from channel {d['channel']} refused "
        f"({_or(d.get('external_id'), 'no order id')}, {d['format']}): {d['reason']}"
        + (f"; {_count(len(d['problems']), 'problem')}" if d.get("problems") else "")
    ),
    "orderhub.policy_versions.created": lambda d: f"Policy {d['policy_id']} created",
    "orderhub.policy_versions.published": lambda d: (
        f"Policy version {d['version']} published and made active (digest {str(d['digest'])[:19]})"
    ),
    "orderhub.policy_versions.rolled_back": lambda d: (
        f"Policy rolled back to version {d['to_version']}"
    ),
    "orderhub.fulfillment_source.registered": lambda d: (
        f"Source {d['source_id']} registered: {d['definition']['name']} "
        f"({_words(d['definition']['kind'])} in {d['definition']['country']})"
    ),
    "orderhub.fulfillment_source.redefined": lambda d: (
        f"Source {d['definition']['source_id']} redefined"
    ),
    "orderhub.fulfillment_source.paused": lambda d: (
        f"Source paused: {_or(d.get('reason'), 'no reason given')}"
    ),
    "orderhub.fulfillment_source.resumed": lambda d: "Source resumed: it takes shipments again",
    "orderhub.channel.registered": lambda d: (
        f"Channel {d['channel_id']} registered: {d['definition']['name']} "
        f"({_words(d['definition']['kind'])}, {d['definition']['format']} format)"
    ),
    "orderhub.channel.redefined": lambda d: f"Channel {d['definition']['channel_id']} redefined",
    "orderhub.api_key.issued": lambda d: (
        f"API key {d['key_id']} issued for role {d['role']}"
        + (f" of channel {d['channel_id']}" if d.get("channel_id") else "")
        + (f" of source {d['source_id']}" if d.get("source_id") else "")
        + f": {_or(d.get('label'), 'no label')}"
        + (f"; it expires at {d['expires_at']}" if d.get("expires_at") else "")
    ),
    "orderhub.api_key.revoked": lambda d: "API key revoked: it no longer authenticates",
    "orderhub.api_key.rotated": lambda d: (
        "API key rotated: a new secret"
        + (
            f"; the previous one works until {d['previous_valid_until']}"
            if d.get("previous_valid_until")
            else "; the previous one no longer works"
        )
    ),
    "orderhub.bootstrap_key.revoked": lambda d: (
        "Bootstrap admin key (ORDERHUB_ADMIN_API_KEY) revoked: that value no longer authenticates"
    ),
    "orderhub.directory.created": lambda d: f"Directory of {d['kind']} created",
    "orderhub.directory.added": lambda d: f"{d['name']} added to the directory",
    "orderhub.recorded_inputs.recorded": lambda d: (
        f"Decision inputs recorded for re-runs (digest {d['digest'][:12]}...)"
    ),
    "orderhub.recorded_source.recorded": lambda d: (
        f"Source definition recorded for re-runs (digest {d['digest'][:12]}...)"
    ),
}
