"""The registry of adapters and the context every adapter is given."""

from datetime import UTC, datetime

import pytest

from connectors.channels import (
    ADAPTERS,
    ChannelContext,
    Mapped,
    UnknownFormat,
    adapter_for,
)
from schemas.channels import FORMATS, ChannelDefinition, ChannelKind

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_every_channel_format_has_an_adapter_and_no_adapter_lacks_a_format() -> None:
    assert sorted(ADAPTERS) == sorted(FORMATS)


def test_an_unknown_format_is_a_lookup_error_naming_the_known_ones() -> None:
    with pytest.raises(UnknownFormat, match="edi-x12-850"):
        adapter_for("edifact-orders")


def test_adapter_for_returns_the_registered_adapter() -> None:
    assert adapter_for("csv") is ADAPTERS["csv"]


def test_the_context_of_a_registered_channel_carries_its_defaults_and_sku_map() -> None:
    definition = ChannelDefinition(
        channel_id="market-eu",
        name="Marketplace EU",
        kind=ChannelKind.MARKETPLACE,
        format="marketplace",
        default_currency="eur",
        default_country="de",
        sku_map={"B07XJ8C8F5": "RED-CHAIR"},
    )

    context = ChannelContext.for_channel(definition, NOW, operator="op-1")

    assert (context.channel_id, context.default_currency, context.default_country) == (
        "market-eu",
        "EUR",
        "DE",
    )
    assert dict(context.sku_map) == {"B07XJ8C8F5": "RED-CHAIR"}
    assert context.operator == "op-1"
    assert context.channel_actor == "channel:market-eu"


def test_the_sku_map_of_a_context_cannot_be_changed_behind_its_back() -> None:
    definition = ChannelDefinition(
        channel_id="market-eu", name="M", kind=ChannelKind.MARKETPLACE, format="marketplace"
    )
    context = ChannelContext.for_channel(definition, NOW)

    with pytest.raises(TypeError):
        context.sku_map["X"] = "Y"  # type: ignore[index]


def test_the_received_time_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ChannelContext(channel_id="web-shop", received_at=datetime(2026, 11, 20, 12))


def test_adapters_read_no_clock_the_same_payload_maps_the_same_at_any_time() -> None:
    payload = (
        b'{"mode": "call_center", "operator_id": "agent-1", "reference": "CC-1",'
        b' "placed_at": "2026-11-20T10:00:00Z", "customer": {"id": "C1"}, "currency": "EUR",'
        b' "ship_to": {"name": "A", "line1": "1 rue A", "city": "Paris",'
        b' "postal_code": "75001", "country": "FR"},'
        b' "lines": [{"sku": "RED-CHAIR", "quantity": 1, "unit_price": "19.90"}]}'
    )
    early = ChannelContext(channel_id="calls", received_at=NOW)
    late = ChannelContext(channel_id="calls", received_at=datetime(2030, 1, 1, tzinfo=UTC))

    [first] = adapter_for("assisted")(payload, early)
    [second] = adapter_for("assisted")(payload, late)

    assert isinstance(first, Mapped) and isinstance(second, Mapped)
    assert first.submission == second.submission
