"""Operations staff's actions on orders and exceptions, each recorded with the user as actor."""

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from aggregates import Order
from aggregates.errors import DomainError
from aggregates.exception_case import ExceptionCase
from hub.services.catalog import CatalogService
from hub.services.fulfillment import retry_on_conflict
from hub.services.lookup import UnknownOrderError, find
from hub.store import OrderStore
from projections.exception_rules import ExceptionRow

__all__ = ["OperationsService", "UnknownExceptionError", "UnknownOrderError"]


class UnknownExceptionError(DomainError):
    def __init__(self, exception_id: str) -> None:
        super().__init__(f"no exception {exception_id}")
        self.exception_id = exception_id


class OperationsService:
    def __init__(
        self,
        store: OrderStore,
        clock: Callable[[], datetime],
        catalog: CatalogService,
        exception: Callable[[str], ExceptionRow | None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._catalog = catalog
        self._exception = exception

    def release_hold(self, order_id: UUID, note: str, actor: str) -> Order:
        """Release a held order; orchestration picks it up again, without hold rules."""

        def release() -> Order:
            order = self._order(order_id)
            order.release_hold(note, actor=actor, now=self._clock())
            self._store.save(order)
            return order

        return retry_on_conflict(release)

    def reroute(self, order_id: UUID, source_id: str, reason: str, actor: str) -> list[str]:
        """Send an order to the chosen source; returns the shipments withdrawn elsewhere."""
        self._catalog.get_source(source_id)  # an unknown source is refused before any record

        def reroute() -> list[str]:
            order = self._order(order_id)
            withdrawn = order.reroute(source_id, reason, actor=actor, now=self._clock())
            self._store.save(order)
            return withdrawn

        return retry_on_conflict(reroute)

    def assign_exception(self, exception_id: str, assignee: str, actor: str) -> None:
        self._on_case(exception_id, lambda case: case.assign(assignee, actor, self._clock()))

    def resolve_exception(self, exception_id: str, note: str, actor: str) -> None:
        self._on_case(exception_id, lambda case: case.resolve(note, actor, self._clock()))

    def _on_case(self, exception_id: str, act: Callable[[ExceptionCase], None]) -> None:
        row = self._exception(exception_id)
        if row is None:
            raise UnknownExceptionError(exception_id)

        def command() -> None:
            case = find(self._store, ExceptionCase.create_id(exception_id), ExceptionCase)
            if case is None:
                case = ExceptionCase(
                    exception_id=exception_id,
                    kind=row.kind,
                    order_id=row.order_id or None,
                    actor="system:orderhub",
                    at=self._clock(),
                )
            if not row.is_open and case.resolved_by is None:
                # Resolved by the order's own history (hold released, stock arrived…).
                raise DomainError(f"exception {exception_id} is resolved already")
            act(case)
            self._store.save(case)

        retry_on_conflict(command)

    def _order(self, order_id: UUID) -> Order:
        order = find(self._store, order_id, Order)
        if order is None:
            raise UnknownOrderError(order_id)
        return order
