"""Domain errors, kept together so callers can translate them in one place."""


class DomainError(Exception):
    """A command broke a business rule; the message says which, in words a user can act on."""


class OrderError(DomainError):
    pass


class InvalidTransitionError(OrderError):
    def __init__(self, order_id: object, status: str, command: str) -> None:
        super().__init__(f"order {order_id} is {status}; it cannot be {command}")
        self.order_id = order_id
        self.status = status
        self.command = command


class CancelLinesError(OrderError):
    """A line of a cancel that cannot be: unknown or more than ordered (422, the request is
    wrong), or shipped (409, the order's state forbids it). Named by its line."""

    def __init__(self, line_id: str, message: str, code: str, status: int = 409) -> None:
        super().__init__(message)
        self.line_id = line_id
        self.code = code
        self.status = status


class StockError(DomainError):
    pass


class InsufficientStockError(StockError):
    def __init__(self, source_id: str, sku: str, wanted: int, available: int) -> None:
        super().__init__(f"{source_id}/{sku}: {wanted} wanted but only {available} available")
        self.source_id = source_id
        self.sku = sku
        self.wanted = wanted
        self.available = available


class SourceError(DomainError):
    pass


class PolicyVersionError(DomainError):
    pass


class ShipmentError(OrderError):
    """An update that cannot be applied as sent (wrong source, too many units shipped, ...)."""


class UnknownShipmentError(ShipmentError):
    pass


def unknown_shipment(order_id: object, shipment_id: str, source_id: str) -> UnknownShipmentError:
    """The one answer for a shipment a source may not report on: unknown order, unknown
    shipment and another source's shipment read the same."""
    return UnknownShipmentError(
        f"source {source_id} has no shipment {shipment_id} on order {order_id}"
    )
