"""The adapters by format name, as a channel definition names its format."""

from typing import Protocol

from connectors.channels import (
    assisted,
    canonical,
    csv_bulk,
    edi_x12_850,
    marketplace,
    webshop,
)
from connectors.channels.results import AdapterResult, ChannelContext


class Adapter(Protocol):
    """A pure function from a channel's native payload to one result per order in it.

    Raises UnparseablePayload when the bytes are not the format at all, and nothing else.
    """

    def __call__(self, raw: bytes, context: ChannelContext, /) -> list[AdapterResult]: ...


class UnknownFormat(LookupError):
    """No adapter reads this format."""


ADAPTERS: dict[str, Adapter] = {
    "canonical": canonical.parse,
    "webshop": webshop.parse,
    "marketplace": marketplace.parse,
    "assisted": assisted.parse,
    "edi-x12-850": edi_x12_850.parse,
    "csv": csv_bulk.parse,
}


def adapter_for(format_name: str) -> Adapter:
    """The adapter for a channel's format."""
    try:
        return ADAPTERS[format_name]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise UnknownFormat(f"no adapter for format {format_name!r}; known: {known}") from None
