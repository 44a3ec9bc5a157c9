"""The hub's Kafka topics by their settings names, before `ORDERHUB_TOPIC_PREFIX`."""

TOPIC_DEFAULTS = {
    "submitted": "orderhub.orders.submitted",
    "order_events": "orderhub.orders.events",
    "inventory_events": "orderhub.inventory.events",
    "inventory_snapshots": "orderhub.inventory.snapshots",
    "catalog_events": "orderhub.catalog.events",
    "fulfillment_requests": "orderhub.fulfillment.requests",
    "fulfillment_updates": "orderhub.fulfillment.updates",
    "billing_events": "orderhub.billing.events",
    "rejected": "orderhub.orders.rejected",
    "inventory_rejected": "orderhub.inventory.rejected",
    "dlq": "orderhub.dlq",
}
