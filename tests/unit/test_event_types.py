"""One vocabulary of events: every type the store can record is a member, and nothing else is."""

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

from hub.services.followers import ORDER_TRIGGERS, STOCK_TRIGGERS
from projections.decision_history import _TRIGGERS
from projections.exception_rules import _RULES
from projections.order_rows import HANDLERS
from projections.summaries import _SENTENCES
from schemas.envelope import EVENT_TYPE_PREFIX
from schemas.event_types import EventFamily, EventType
from schemas.fulfillment import WITHDRAWAL_EVENT_TYPES
from tests.support.event_catalogue import recordable_event_types

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("hub", "aggregates", "schemas", "projections", "connectors", "orchestration_policies")
VOCABULARY = ROOT / "schemas" / "event_types.py"


def test_every_event_an_aggregate_can_record_has_a_member() -> None:
    missing = recordable_event_types() - set(EventType)

    assert missing == set(), f"add these to schemas/event_types.py: {sorted(missing)}"


def test_every_member_is_recorded_by_some_aggregate() -> None:
    stale = set(EventType) - recordable_event_types()

    assert stale == set(), f"no aggregate records {sorted(stale)}"


def test_every_member_belongs_to_a_family_and_every_family_has_members() -> None:
    assert {member.family for member in EventType} == set(EventFamily)
    assert all(family.startswith(EVENT_TYPE_PREFIX) for family in EventFamily)


def test_a_typo_is_not_a_member() -> None:
    with pytest.raises(ValueError):
        EventType("orderhub.order.routd")


@pytest.mark.parametrize(
    ("table", "keys"),
    [
        ("projections.order_rows.HANDLERS", HANDLERS),
        ("projections.summaries._SENTENCES", _SENTENCES),
        ("projections.exception_rules._RULES", _RULES),
        ("projections.decision_history._TRIGGERS", _TRIGGERS),
        ("hub.services.followers.ORDER_TRIGGERS", ORDER_TRIGGERS),
        ("hub.services.followers.STOCK_TRIGGERS", STOCK_TRIGGERS),
        ("schemas.fulfillment.WITHDRAWAL_EVENT_TYPES", WITHDRAWAL_EVENT_TYPES),
    ],
)
def test_followers_subscribe_only_to_members(table: str, keys: Iterable[str]) -> None:
    loose = [key for key in keys if not isinstance(key, EventType)]

    assert loose == [], f"{table} names types outside the vocabulary: {loose}"


def _loose_event_types(source: str) -> list[str]:
    """String constants that look like event types (or their prefixes) written out by hand.

    Docstrings and f-string parts are left out: channel topics are `orderhub.channel.<id>.orders`.
    """
    tree = ast.parse(source)
    prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    prose |= {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    return [
        f"{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and node.value.startswith(tuple(EventFamily))
    ]


def test_product_code_names_event_types_only_through_the_vocabulary() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{hit}"
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != VOCABULARY
        for hit in _loose_event_types(path.read_text(encoding="utf-8"))
    ]

    assert found == []


def test_the_check_finds_a_hand_written_type_but_not_a_topic() -> None:
    source = (
        '"""orderhub.order.routed: prose."""\n'
        'TOPIC = "orderhub.orders.events"\n'
        'CHANNEL = f"orderhub.channel.{channel_id}.orders"\n'
        'HANDLED = {"orderhub.order.routd"}\n'
    )

    assert _loose_event_types(source) == ["4: 'orderhub.order.routd'"]
