"""FulfillmentSource: a warehouse, store or drop-ship supplier that can ship orders."""

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from aggregates.errors import SourceError
from aggregates.ids import source_aggregate_id


class FulfillmentSource(Aggregate):
    """Its definition is a validated document (schemas.sources.SourceDefinition as JSON)."""

    @staticmethod
    def create_id(source_id: str) -> UUID:
        return source_aggregate_id(source_id)

    @event("Registered")
    def __init__(
        self, source_id: str, definition: dict[str, Any], actor: str, at: datetime
    ) -> None:
        self.source_id = source_id
        self.definition = definition
        self.active = True
        self.pause_reason: str | None = None

    def redefine(self, definition: dict[str, Any], actor: str, at: datetime) -> None:
        if definition.get("source_id", self.source_id) != self.source_id:
            raise SourceError("a source's id cannot change; register a new source instead")
        if definition != self.definition:
            self._redefined(definition=definition, actor=actor, at=at)

    @event("Redefined")
    def _redefined(self, definition: dict[str, Any], actor: str, at: datetime) -> None:
        self.definition = definition

    def pause(self, reason: str, actor: str, at: datetime) -> None:
        if self.active:
            self._paused(reason=reason, actor=actor, at=at)

    @event("Paused")
    def _paused(self, reason: str, actor: str, at: datetime) -> None:
        self.active = False
        self.pause_reason = reason

    def resume(self, actor: str, at: datetime) -> None:
        if not self.active:
            self._resumed(actor=actor, at=at)

    @event("Resumed")
    def _resumed(self, actor: str, at: datetime) -> None:
        self.active = True
        self.pause_reason = None
