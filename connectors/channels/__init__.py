"""Channel adapters: pure functions from a channel's native payload (web-shop webhooks,
marketplace feeds, till and call-center entries, EDI X12 850, CSV uploads) to canonical
`OrderSubmission`s — or to refusals whose problems name the fields in the sender's own terms.

    results = adapter_for(channel.format)(raw_bytes, ChannelContext.for_channel(channel, now))

Each result is `Mapped` (submission, raw, index, actor) or `Refused` (problems, raw, index,
external_id); bytes that are not the format at all raise `UnparseablePayload`.
"""

from connectors.channels.registry import ADAPTERS, Adapter, UnknownFormat, adapter_for
from connectors.channels.results import (
    AdapterResult,
    ChannelContext,
    Mapped,
    ProblemCode,
    Refused,
    UnparseablePayload,
)

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AdapterResult",
    "ChannelContext",
    "Mapped",
    "ProblemCode",
    "Refused",
    "UnknownFormat",
    "UnparseablePayload",
    "adapter_for",
]
