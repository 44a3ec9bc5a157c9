"""Wiring for `orderhub relay`: the event store's log to the order events topic."""

import asyncio
import logging
from collections.abc import Callable

from connectors.publisher import KafkaPublisher
from connectors.relay import Relay
from connectors.topics import ensure_topics_waiting
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings
from schemas.envelope import EventEnvelope
from schemas.fulfillment import WITHDRAWAL_EVENT_TYPES

log = logging.getLogger(__name__)


def routes_for(settings: Settings) -> Callable[[EventEnvelope], list[tuple[str, str]]]:
    """Which topics (and keys) an event goes to: orders, inventory, catalog; fulfillment
    requests also go to the sources' topic, keyed by source so a warehouse reads its own."""
    orders = settings.topic("order_events")
    inventory = settings.topic("inventory_events")
    catalog = settings.topic("catalog_events")
    requests = settings.topic("fulfillment_requests")
    rejected = settings.topic("rejected")
    billing = settings.topic("billing_events")

    def routes(env: EventEnvelope) -> list[tuple[str, str]]:
        if env.type.startswith("orderhub.order."):
            found = [(orders, env.subject)]
            if env.type == "orderhub.order.fulfillment_requested":
                found.append((requests, str(env.data["source_id"])))
            elif env.type in WITHDRAWAL_EVENT_TYPES:
                # Each source holding an open shipment is asked to withdraw it.
                for source_id in sorted(set(env.data["withdrawn_from"].values())):
                    found.append((requests, source_id))
            elif env.type in (
                "orderhub.order.invoice_issued",
                "orderhub.order.payment_captured",
                "orderhub.order.refunded",
            ):
                found.append((billing, env.subject))
            return found
        if env.type.startswith("orderhub.exception_case."):
            # Beside the events that opened the exception, in the same partition, so that a
            # person's action is never read before the exception it acts on.
            if env.data.get("order_id"):
                return [(orders, str(env.data["order_id"]))]
            submission = str(env.data.get("exception_id", "")).partition(":")[2]
            return [(rejected, submission or env.subject)]
        if env.type.startswith(("orderhub.api_key.", "orderhub.bootstrap_key.")):
            return []  # credentials stay in the event store: nothing downstream needs them
        if env.type.startswith(("orderhub.recorded_inputs.", "orderhub.recorded_source.")):
            return []  # decision inputs are read from the store by re-runs, by no consumer
        if env.type.startswith("orderhub.rejected_submission."):
            return [(rejected, env.subject)]
        if env.type.startswith(("orderhub.stock_item.", "orderhub.fulfillment_source.")):
            return [(inventory, env.subject)]
        return [(catalog, env.subject)]

    return routes


def build_relay(hub: Hub, publisher: KafkaPublisher) -> Relay:
    return Relay(
        source=hub.store,
        publisher=publisher,
        positions=hub.relay_positions(),
        routes_for=routes_for(hub.settings),
        batch_size=hub.settings.relay_batch_size,
        poll_seconds=hub.settings.relay_poll_seconds,
    )


async def run_relay(settings: Settings, stop: asyncio.Event) -> None:
    assert settings.kafka_bootstrap is not None
    await ensure_topics_waiting(
        settings.kafka_bootstrap,
        {t: settings.topic_partitions for t in settings.all_topics()},
        settings.topic_replication,
    )
    hub = bootstrap(settings)
    publisher = KafkaPublisher(settings.kafka_bootstrap, client_id="orderhub-relay")
    await publisher.start()
    relay = build_relay(hub, publisher)
    log.info("relay started at position %s", hub.relay_positions().get("notification_log"))
    try:
        await relay.run(stop)
    finally:
        await publisher.stop()
        hub.close()
        log.info("relay stopped after publishing %d events", relay.published)
