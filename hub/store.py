"""The event store application: the eventsourcing library's own recorders, SQLite or PostgreSQL."""

from collections.abc import Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Notification

from aggregates.contract import to_envelope
from aggregates.typed_mapper import TypedMapper
from schemas.envelope import EventEnvelope


class OrderStore(Application[Any]):
    """Holds every aggregate's history; the notification log orders all events of all aggregates."""

    name = "orderhub"
    # Orders have short histories; snapshots only pay off for long streams (stock, policies).
    snapshotting_intervals = {}

    def construct_mapper(self) -> Mapper[Any]:
        # Events carry the order's values (submission, shipment lines ...) as typed objects.
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=TypedMapper)

    def read_envelopes(self, after: int | None, limit: int) -> list[tuple[int, EventEnvelope]]:
        """The next events after a notification id, as public envelopes with their positions."""
        notifications: Sequence[Notification] = self.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=after is None
        )
        return [(n.id, to_envelope(self.mapper.to_domain_event(n))) for n in notifications]

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0
