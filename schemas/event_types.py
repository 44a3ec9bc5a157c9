"""The vocabulary of events: every `type` an EventEnvelope can carry, named once.

A type is `orderhub.<aggregate>.<event>` in snake case, derived from the stored event's class
(aggregates/contract.py); a test checks that every event the aggregates can record has a member
here, so handlers keyed by these members cannot drift from what the store produces.
"""

from enum import StrEnum


class EventFamily(StrEnum):
    """The events of one kind of aggregate share a prefix: `env.type.startswith(family)`."""

    ORDER = "orderhub.order."
    CHANNEL = "orderhub.channel."
    API_KEY = "orderhub.api_key."
    BOOTSTRAP_KEY = "orderhub.bootstrap_key."
    DIRECTORY = "orderhub.directory."
    EXCEPTION_CASE = "orderhub.exception_case."
    POLICY_VERSIONS = "orderhub.policy_versions."
    FULFILLMENT_SOURCE = "orderhub.fulfillment_source."
    STOCK_ITEM = "orderhub.stock_item."
    REJECTED_SUBMISSION = "orderhub.rejected_submission."
    RECORDED_INPUTS = "orderhub.recorded_inputs."
    RECORDED_SOURCE = "orderhub.recorded_source."


# Event families that stay in the event store: credentials (nothing downstream needs them) and
# decision inputs (read from the store by re-runs, by no consumer). The relay does not publish
# them, nor does the API serve them as events.
UNPUBLISHED = (
    EventFamily.API_KEY,
    EventFamily.BOOTSTRAP_KEY,
    EventFamily.RECORDED_INPUTS,
    EventFamily.RECORDED_SOURCE,
)


class EventType(StrEnum):
    """Every public event type, grouped by the aggregate that records it."""

    ORDER_PLACED = "orderhub.order.placed"
    ORDER_ACCEPTED = "orderhub.order.accepted"
    ORDER_REJECTED = "orderhub.order.rejected"
    ORDER_HELD = "orderhub.order.held"
    ORDER_HOLD_RELEASED = "orderhub.order.hold_released"
    ORDER_ROUTED = "orderhub.order.routed"
    ORDER_FULFILLMENT_REQUESTED = "orderhub.order.fulfillment_requested"
    ORDER_SHIPMENT_PROGRESSED = "orderhub.order.shipment_progressed"
    ORDER_SHIPMENT_REJECTED = "orderhub.order.shipment_rejected"
    ORDER_SHIPMENT_CANCELLED = "orderhub.order.shipment_cancelled"
    ORDER_CANCELLATION_REQUESTED = "orderhub.order.cancellation_requested"
    ORDER_CHANGED = "orderhub.order.changed"
    ORDER_REROUTE_REQUESTED = "orderhub.order.reroute_requested"
    ORDER_INVOICE_ISSUED = "orderhub.order.invoice_issued"
    ORDER_PAYMENT_CAPTURED = "orderhub.order.payment_captured"
    ORDER_RETURN_REQUESTED = "orderhub.order.return_requested"
    ORDER_RETURN_RECEIVED = "orderhub.order.return_received"
    ORDER_REFUNDED = "orderhub.order.refunded"

    CHANNEL_REGISTERED = "orderhub.channel.registered"
    CHANNEL_REDEFINED = "orderhub.channel.redefined"

    API_KEY_ISSUED = "orderhub.api_key.issued"
    API_KEY_REVOKED = "orderhub.api_key.revoked"
    API_KEY_ROTATED = "orderhub.api_key.rotated"

    BOOTSTRAP_KEY_REVOKED = "orderhub.bootstrap_key.revoked"

    DIRECTORY_CREATED = "orderhub.directory.created"
    DIRECTORY_ADDED = "orderhub.directory.added"

    EXCEPTION_CASE_OPENED = "orderhub.exception_case.opened"
    EXCEPTION_CASE_FLAGGED = "orderhub.exception_case.flagged"
    EXCEPTION_CASE_ASSIGNED = "orderhub.exception_case.assigned"
    EXCEPTION_CASE_RESOLVED = "orderhub.exception_case.resolved"

    POLICY_VERSIONS_CREATED = "orderhub.policy_versions.created"
    POLICY_VERSIONS_PUBLISHED = "orderhub.policy_versions.published"
    POLICY_VERSIONS_ROLLED_BACK = "orderhub.policy_versions.rolled_back"

    FULFILLMENT_SOURCE_REGISTERED = "orderhub.fulfillment_source.registered"
    FULFILLMENT_SOURCE_REDEFINED = "orderhub.fulfillment_source.redefined"
    FULFILLMENT_SOURCE_PAUSED = "orderhub.fulfillment_source.paused"
    FULFILLMENT_SOURCE_RESUMED = "orderhub.fulfillment_source.resumed"

    STOCK_ITEM_REGISTERED = "orderhub.stock_item.registered"
    STOCK_ITEM_COUNTED = "orderhub.stock_item.counted"
    STOCK_ITEM_ADJUSTED = "orderhub.stock_item.adjusted"
    STOCK_ITEM_RESERVED = "orderhub.stock_item.reserved"
    STOCK_ITEM_RELEASED = "orderhub.stock_item.released"
    STOCK_ITEM_CONSUMED = "orderhub.stock_item.consumed"

    REJECTED_SUBMISSION_RECORDED = "orderhub.rejected_submission.recorded"

    RECORDED_INPUTS_RECORDED = "orderhub.recorded_inputs.recorded"
    RECORDED_SOURCE_RECORDED = "orderhub.recorded_source.recorded"

    @property
    def family(self) -> EventFamily:
        return EventFamily(self.value.rpartition(".")[0] + ".")


def types_of(*families: EventFamily) -> frozenset[str]:
    """Every event type of these families (a follower's `event_types` when it reads them all)."""
    return frozenset(t.value for t in EventType if t.family in families)
