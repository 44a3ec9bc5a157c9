"""How events open and resolve exceptions: pure rules over one order's slice of the queue.

Most exceptions are facts of an order's own history and resolve themselves when the history
moves on (a released hold, stock that arrived, a shipment that left). Jeopardy and lateness
come from the timer, assignments and manual resolutions from people, through ExceptionCase.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from schemas.envelope import EventEnvelope
from schemas.event_types import EventFamily, EventType

SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1}
KIND_SEVERITY = {
    "unroutable": "high",
    "no_source_left": "high",
    "delivery_failed": "high",
    "parked": "high",
    "late": "high",
    "on_hold": "medium",
    "over_split_limit": "medium",  # held: stock is there, but only in too many shipments
    "jeopardy": "low",  # the timer's band replaces it
    "backordered": "low",
    "unfulfillable": "medium",  # waiting lines no holder of their SKU may ship: people must act
    "rejected_submission": "low",
    "withdrawal_unconfirmed": "medium",  # a cancelled order's source silent for long (the clock)
}
KINDS = tuple(KIND_SEVERITY)
UNANSWERED = "withdrawal_unconfirmed"
UNFULFILLABLE = "unfulfillable"
# Reasons a follower or consumer gave up on a message; everything else was refused input.
PARKED_REASONS = frozenset({"follower_failed", "dead_lettered"})
SHIPPED_STATES = frozenset({"shipped", "delivered", "delivery_failed"})  # the goods left


@dataclass(frozen=True)
class ExceptionRow:
    exception_id: str
    kind: str
    severity: str
    order_id: str
    channel: str
    customer_id: str
    skus: tuple[str, ...]
    source_id: str
    reason: str
    opened_at: str
    resolved_at: str = ""
    resolved_by: str = ""
    resolution: str = ""
    assignee: str = ""

    @property
    def is_open(self) -> bool:
        return not self.resolved_at


@dataclass(frozen=True)
class Context:
    """What the queue remembers of a subject: its version (redeliveries are ignored) and, for
    orders, who they are for and which source last refused them."""

    subject: str
    version: int = 0
    channel: str = ""
    customer_id: str = ""
    skus: tuple[str, ...] = ()
    rejected_by: str = ""
    closed: bool = False  # shipped or cancelled: no flag from a lagging clock sticks
    estimated: bool = False  # no promise from the channel: routing re-plans it
    planned: bool = False  # a routing sent shipments (the promise is final)


class Book:
    """One batch's working set: contexts and exceptions, changed in place, saved afterwards."""

    def __init__(self, contexts: dict[str, Context], rows: dict[str, ExceptionRow]) -> None:
        self.contexts = contexts
        self.rows = rows
        self.changed_contexts: set[str] = set()
        self.changed_rows: set[str] = set()

    def apply(self, env: EventEnvelope) -> None:
        rule = _RULES.get(env.type)
        if rule is None:
            # No rule reads it: nothing to remember (a context per stock item and source,
            # written for every count, was a fifth of embedded delivery's cost on a stock load).
            return
        ctx = self.contexts.get(env.subject) or Context(env.subject)
        if env.sequence <= ctx.version:
            return  # seen already
        ctx = rule(self, replace(ctx, version=env.sequence), env)
        self.contexts[env.subject] = ctx
        self.changed_contexts.add(env.subject)

    # -- changes ------------------------------------------------------------------------------

    def open(self, ctx: Context, kind: str, ident: str, env: EventEnvelope, **kw: Any) -> None:
        if ident in self.rows and self.rows[ident].is_open:
            return
        row = ExceptionRow(
            exception_id=ident,
            kind=kind,
            severity=kw.pop("severity", KIND_SEVERITY[kind]),
            order_id=kw.pop("order_id", ctx.subject),
            channel=kw.pop("channel", ctx.channel),
            customer_id=ctx.customer_id,
            skus=kw.pop("skus", ctx.skus),
            source_id=kw.pop("source_id", ""),
            reason=kw.pop("reason"),
            opened_at=env.time.isoformat(),
        )
        self._put(row)

    def resolve(
        self, order_id: str, kinds: frozenset[str], env: EventEnvelope, note: str, **match: str
    ) -> None:
        for row in list(self.rows.values()):
            if (
                row.is_open
                and row.order_id == order_id
                and row.kind in kinds
                and all(getattr(row, k) == v for k, v in match.items())
            ):
                self._put(
                    replace(
                        row,
                        resolved_at=env.time.isoformat(),
                        resolved_by=str(env.actor),
                        resolution=note,
                    )
                )

    def open_ids(self, order_id: str, kinds: frozenset[str]) -> list[str]:
        return [
            r.exception_id
            for r in self.rows.values()
            if r.is_open and r.order_id == order_id and r.kind in kinds
        ]

    def _put(self, row: ExceptionRow) -> None:
        self.rows[row.exception_id] = row
        self.changed_rows.add(row.exception_id)


def _ident(kind: str, env: EventEnvelope, *parts: str) -> str:
    return ":".join((kind, env.subject, *parts, str(env.sequence)))


def _placed(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    sub = env.data["submission"]
    return replace(
        ctx,
        channel=sub["channel"],
        customer_id=sub["customer"]["id"],
        skus=tuple(sorted({line["sku"] for line in sub["lines"]})),
        estimated=not sub.get("promised_by"),
    )


def _intake_rejected(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    reasons = env.data.get("reasons") or ["rejected at intake"]
    book.open(ctx, "rejected_submission", _ident("rejected", env), env, reason="; ".join(reasons))
    return ctx


# The hold rule decide() names for lines that would need more shipments than allowed; they
# are their own kind of exception (not "backordered": other sources hold the stock).
OVER_SPLIT_LIMIT = "over_split_limit"
_HOLDS = frozenset({"on_hold", OVER_SPLIT_LIMIT})


def _held(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    book.resolve(ctx.subject, _HOLDS, env, "held again (see the newer hold)")
    kind = OVER_SPLIT_LIMIT if env.data["rule"] == OVER_SPLIT_LIMIT else "on_hold"
    reason = f"{env.data['rule']}: {env.data['reason']}"
    book.open(ctx, kind, _ident(kind, env), env, reason=reason)
    return ctx


def _hold_released(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    note = env.data.get("note") or "hold released"
    book.resolve(ctx.subject, _HOLDS, env, f"released: {note}")
    return ctx


_NO_ROUTE = frozenset({"unroutable", "no_source_left"})
_WAITS = frozenset({"backordered", UNFULFILLABLE})
_CLOCK = frozenset({"jeopardy", "late"})


def _routed(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    unroutable = env.data.get("unroutable_reason")
    waiting = env.data.get("waiting_lines") or []
    # However a hold ended (released, the order changed, re-routed), routing means it did.
    book.resolve(ctx.subject, _HOLDS, env, "routed")
    ctx = _planned(book, ctx, env)
    if not unroutable and not (waiting and ctx.rejected_by):
        book.resolve(ctx.subject, _NO_ROUTE, env, "routed")
    if not waiting:
        book.resolve(ctx.subject, _WAITS, env, "stock allocated")
    if (unroutable or waiting) and ctx.rejected_by:
        return _no_source_left(book, ctx, env, unroutable, waiting)
    if unroutable and not book.open_ids(ctx.subject, _NO_ROUTE):
        book.open(ctx, "unroutable", _ident("unroutable", env), env, reason=unroutable)
    if waiting and not unroutable:
        _backordered(book, ctx, env, waiting)
    return replace(ctx, rejected_by="")


def _planned(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    """The first routing that plans shipments; an estimated promise is looked at again."""
    if not (env.data.get("decision") or {}).get("shipment_details") or ctx.planned:
        return ctx
    if ctx.estimated:
        # The promise was an estimate; routing re-planned it (the clock looks again).
        book.resolve(ctx.subject, _CLOCK, env, "promise re-planned when routed")
    return replace(ctx, planned=True)


def _no_source_left(
    book: Book, ctx: Context, env: EventEnvelope, unroutable: str | None, waiting: list[Any]
) -> Context:
    """A source refused the shipment and no other can take those lines now."""
    if not book.open_ids(ctx.subject, _NO_ROUTE):
        left = unroutable or "waiting for " + ", ".join(sorted({w["sku"] for w in waiting}))
        reason = f"rejected by {ctx.rejected_by}; no other source can take it: {left}"
        ident = _ident("no_source_left", env)
        book.open(ctx, "no_source_left", ident, env, source_id=ctx.rejected_by, reason=reason)
    return replace(ctx, rejected_by="") if not waiting else ctx


def _backordered(book: Book, ctx: Context, env: EventEnvelope, waiting: list[Any]) -> None:
    """Lines waiting for stock are a backorder; those no holder of their SKU may ship (line
    id → why, from 2026-12-05) are `unfulfillable`: restocking cannot move them, people can."""
    stuck = env.data.get("unfulfillable") or {}
    lines = [w for w in waiting if w["line_id"] not in stuck]
    reason = "waiting for " + ", ".join(f"{w['quantity']} x {w['sku']}" for w in lines)
    _waits(book, ctx, env, "backordered", lines, reason)
    lines = [w for w in waiting if w["line_id"] in stuck]
    reason = "; ".join(f"{w['line_id']}: {stuck[w['line_id']]}" for w in lines)
    _waits(book, ctx, env, UNFULFILLABLE, lines, reason)


def _waits(book: Book, ctx: Context, env: EventEnvelope, kind: str, lines: Any, why: str) -> None:
    if not lines:
        book.resolve(ctx.subject, frozenset({kind}), env, "routed: no such line waits")
    elif not book.open_ids(ctx.subject, frozenset({kind})):
        skus = tuple(sorted({w["sku"] for w in lines}))
        book.open(ctx, kind, _ident(kind, env), env, skus=skus, reason=why)


def _shipment_rejected(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    return replace(_answered(book, ctx, env), rejected_by=str(env.data.get("source_id", "")))


def _shipment_progressed(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    state = env.data.get("state")
    shipment = str(env.data.get("shipment_id", ""))
    if state == "delivery_failed":
        ident, source = _ident("delivery_failed", env, shipment), str(env.data.get("source_id", ""))
        reason = f"shipment {shipment}: {env.data.get('reason') or 'delivery failed'}"
        book.open(ctx, "delivery_failed", ident, env, source_id=source, reason=reason)
    if state in SHIPPED_STATES:
        book.resolve(ctx.subject, _CLOCK | {UNANSWERED}, env, f"shipment {state}")
        ctx = replace(ctx, closed=True)
    if state == "delivered":
        for ident in book.open_ids(ctx.subject, frozenset({"delivery_failed"})):
            if f":{shipment}:" in ident:
                book.resolve(
                    ctx.subject,
                    frozenset({"delivery_failed"}),
                    env,
                    "delivered",
                    exception_id=ident,
                )
    return ctx


def _rerouted(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    note = f"re-routed to {env.data['source_id']}: {env.data['reason']}"
    book.resolve(ctx.subject, _HOLDS, env, note)
    return replace(ctx, rejected_by="")


def _cancelled(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    # Only the rest of an order shipped in part (cancelled_lines): what shipped may fail yet.
    kinds = frozenset(KINDS) - ({"delivery_failed"} if env.data.get("cancelled_lines") else set())
    book.resolve(ctx.subject, kinds, env, f"order cancelled: {env.data.get('reason')}")
    return replace(ctx, closed=True)


def _submission_recorded(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    data = env.data
    kind = "parked" if data.get("reason") in PARKED_REASONS else "rejected_submission"
    problems = data.get("problems") or []
    first = problems[0] if problems else {}
    reason = f"{data.get('reason')}: {first.get('field', '')} {first.get('message', '')}".strip()
    if len(problems) > 1:
        reason += f" (+{len(problems) - 1} more)"
    book.open(
        ctx,
        kind,
        f"{kind}:{env.subject}",
        env,
        order_id="",
        channel=str(data.get("channel", "")),
        skus=(),
        reason=reason,
    )
    return ctx


def _flagged(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    data = env.data
    ident, order_id = str(data["exception_id"]), str(data.get("order_id") or "")
    order = book.contexts.get(order_id) or Context(order_id)
    if order.closed and data["kind"] != UNANSWERED:
        return ctx  # raised from a view that lagged behind the shipment or the cancellation
    existing = book.rows.get(ident)
    severity = "high" if data["kind"] == "late" else str(data["band"])
    reason = _flag_reason(data)
    if existing is not None and existing.is_open:
        book._put(replace(existing, severity=severity, reason=reason))
    else:
        book.open(order, str(data["kind"]), ident, env, severity=severity, reason=reason)
    if data["kind"] == "late":
        book.resolve(order_id, frozenset({"jeopardy"}), env, "late now")
    return ctx


def _flag_reason(data: dict[str, Any]) -> str:
    if data["kind"] == UNANSWERED:  # its promised_by is the time the order became cancelling
        return f"cancelled: a shipment's withdrawal is unanswered since {data['promised_by']}"
    risk = "" if data["kind"] == "late" else f"{data['band']} risk: "
    return f"{risk}promised by {data['promised_by']}, not shipped" + (" yet" if risk else "")


def _answered(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    book.resolve(ctx.subject, frozenset({UNANSWERED}), env, "the source answered")
    return ctx


def _assigned(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    row = book.rows.get(str(env.data["exception_id"]))
    if row is not None:
        book._put(replace(row, assignee=str(env.data["assignee"])))
    return ctx


def _case_resolved(book: Book, ctx: Context, env: EventEnvelope) -> Context:
    row = book.rows.get(str(env.data["exception_id"]))
    if row is not None and row.is_open:
        book._put(
            replace(
                row,
                resolved_at=env.time.isoformat(),
                resolved_by=str(env.actor),
                resolution=str(env.data.get("note", "")),
            )
        )
    return ctx


_RULES: dict[str, Callable[[Book, Context, EventEnvelope], Context]] = {
    EventType.ORDER_PLACED: _placed,
    EventType.ORDER_CHANGED: _placed,
    EventType.ORDER_REJECTED: _intake_rejected,
    EventType.ORDER_HELD: _held,
    EventType.ORDER_HOLD_RELEASED: _hold_released,
    EventType.ORDER_ROUTED: _routed,
    EventType.ORDER_SHIPMENT_REJECTED: _shipment_rejected,
    EventType.ORDER_SHIPMENT_PROGRESSED: _shipment_progressed,
    EventType.ORDER_CANCELLATION_REQUESTED: _cancelled,
    EventType.ORDER_SHIPMENT_CANCELLED: _answered,
    EventType.ORDER_REROUTE_REQUESTED: _rerouted,
    EventType.REJECTED_SUBMISSION_RECORDED: _submission_recorded,
    EventType.EXCEPTION_CASE_FLAGGED: _flagged,
    EventType.EXCEPTION_CASE_ASSIGNED: _assigned,
    EventType.EXCEPTION_CASE_RESOLVED: _case_resolved,
}


# The event types some rule reads (the view's `event_types`).
RULE_TYPES = frozenset(_RULES)


def has_rule(env: EventEnvelope) -> bool:
    """Whether any exception rule reads this event (the others change nothing here)."""
    return env.type in _RULES


def order_ids_of(env: EventEnvelope) -> set[str]:
    """Orders whose exceptions an event may touch (to load them before applying it)."""
    if env.type.startswith(EventFamily.ORDER):
        return {env.subject}
    order_id = env.data.get("order_id") if env.type.startswith(EventFamily.EXCEPTION_CASE) else None
    return {str(order_id)} if order_id else set()
