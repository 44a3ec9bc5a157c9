"""How values read on a page: UTC times, ages, money with its currency, labels, rates."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

DASH = "\N{EN DASH}"

KIND_LABELS = {
    "unroutable": "Unroutable",
    "no_source_left": "No source left",
    "delivery_failed": "Delivery failed",
    "parked": "Parked message",
    "late": "Late",
    "on_hold": "On hold",
    "over_split_limit": "Over split limit",
    "jeopardy": "In jeopardy",
    "backordered": "Backordered",
    "unfulfillable": "Unfulfillable",
    "rejected_submission": "Refused submission",
}
STATUS_TONES = {
    "held": "warn",
    "backordered": "warn",
    "rerouting": "warn",
    "cancelling": "warn",
    "unroutable": "bad",
    "delivery_failed": "bad",
    "rejected": "bad",
    "cancelled": "muted",
    "shipped": "ok",
    "delivered": "ok",
    "completed": "ok",
    "partially_shipped": "ok",
    "returned": "muted",
    "partially_returned": "muted",
}


def parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc(value: str | datetime | None, seconds: bool = False) -> str:
    """2026-11-24 12:27 UTC; a dash for no time."""
    moment = parse_time(value)
    if moment is None:
        return DASH if not value else str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def duration(span: timedelta) -> str:
    """3 h 12 min, 2 d 4 h, 12 min, under a minute."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def money(amount: str | Decimal | None, currency: str = "") -> str:
    """Exact amounts, grouped by thousands, with the currency code: 2,697.00 EUR."""
    if amount is None or amount == "":
        return DASH
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return f"{amount} {currency}".strip()
    return f"{value:,} {currency}".strip()


def rate(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f} %"


def number(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return DASH
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def status_label(status: str) -> str:
    return status.replace("_", " ")


def status_tone(status: str) -> str:
    return STATUS_TONES.get(status, "info")


def pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return text


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


FILTERS: dict[str, Any] = {
    "utc": utc,
    "money": money,
    "rate": rate,
    "number": number,
    "kind_label": kind_label,
    "status_label": status_label,
    "status_tone": status_tone,
    "pretty_json": pretty_json,
    "plural": plural,
    "duration": duration,
}
