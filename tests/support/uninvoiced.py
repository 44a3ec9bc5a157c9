"""A log as releases before inline invoicing wrote it: a source's update recorded the shipment
alone, and billing's follower invoiced it afterwards (hub.services.fulfillment_batch)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import hub.services.fulfillment as fulfillment_module
from hub.services.fulfillment_batch import apply_updates


@contextmanager
def shipments_left_uninvoiced() -> Iterator[None]:
    """While open, the updates that ship record no invoice."""

    def without_invoices(*args: Any, invoice: Any = None, **kwargs: Any) -> Any:
        return apply_updates(*args[:4], **kwargs)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(fulfillment_module, "apply_updates", without_invoices)
        yield
