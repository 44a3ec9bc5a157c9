"""The recorded form of a decision, its text explanation, policy selection and purity."""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from decimal import Decimal
from pathlib import Path

from policies_factories import LILLE, LYON, NOW, PARIS, make_order, make_policy, make_source

import orchestration_policies
from orchestration_policies import (
    CRITERIA,
    Decision,
    DeliveryMethod,
    SourceKind,
    decide,
    default_policy,
    explain_text,
    policy_applies,
    select_policy,
)


def _decision() -> Decision:
    candidates = [
        make_source("wh-paris", at=PARIS, stock={"RED-CHAIR": 1}),
        make_source("wh-lille", at=LILLE, stock={"BLUE-LAMP": 4}, cost=("4.90", "0.35", "0.01")),
        make_source("store-lyon", at=LYON, kind=SourceKind.STORE, active=False),
    ]
    order = make_order(("RED-CHAIR", 1), ("BLUE-LAMP", 2), ("GOLD-CLOCK", 1))
    return decide(order, candidates, make_policy(), NOW)


def test_to_json_is_canonical_and_stable() -> None:
    first, second = _decision(), _decision()
    text = first.to_json()
    assert text == second.to_json()
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert data["policy"] == {"id": "test-policy", "version": 1}
    assert data["shipments"] == {
        "wh-lille": [["L2", "BLUE-LAMP", 2]],
        "wh-paris": [["L1", "RED-CHAIR", 1]],
    }
    assert data["backordered"] == [
        {"line_id": "L3", "sku": "GOLD-CLOCK", "quantity": 1, "reason": "no_stock"}
    ]


def test_money_is_a_decimal_string_and_scores_have_at_most_six_decimals() -> None:
    data = json.loads(_decision().to_json())
    lille = next(d for d in data["shipment_details"] if d["source_id"] == "wh-lille")
    distance = Decimal(repr(round(lille["distance_km"], 3)))
    expected = Decimal("4.90") + Decimal("0.35") * 2 + Decimal("0.01") * distance
    assert lille["estimated_cost"] == str(expected.quantize(Decimal("0.01")))
    assert lille["currency"] == "EUR"

    def floats(node: object) -> list[float]:
        if isinstance(node, float):
            return [node]
        if isinstance(node, dict):
            return [f for v in node.values() for f in floats(v)]
        if isinstance(node, list):
            return [f for v in node for f in floats(v)]
        return []

    for value in floats(data):
        assert round(value, 6) == value


def test_digest_is_the_sha256_of_the_canonical_json() -> None:
    decision = _decision()
    assert decision.digest() == hashlib.sha256(decision.to_json().encode()).hexdigest()


def test_explanation_covers_every_candidate_and_the_plan() -> None:
    data = json.loads(_decision().to_json())["explanation"]
    by_id = {c["source_id"]: c for c in data["candidates"]}
    assert by_id["store-lyon"] == {
        "source_id": "store-lyon",
        "status": "excluded",
        "rule": "inactive",
        "detail": "source is inactive or paused",
    }
    paris = by_id["wh-paris"]
    assert data["criteria"] == list(CRITERIA)
    for figures in ("raw", "normalised", "contribution"):
        assert len(paris[figures]) == len(CRITERIA)
    weights = [data["weights"][name] for name in CRITERIA]
    assert paris["contribution"] == [
        round(w * n, 6) for w, n in zip(weights, paris["normalised"], strict=True)
    ]
    assert set(data["normalisation"]["distance_km"]) == {"min", "max", "better"}
    assert data["plan"]["strategy"] == "split"
    assert data["plan"]["alternatives_considered"] >= 1


def test_explain_text_reads_as_plain_english() -> None:
    text = explain_text(_decision())
    assert "by policy test-policy version 1" in text
    assert "2 shipment(s)" in text
    assert "from wh-paris: 1 x RED-CHAIR (line L1)" in text
    assert "Backordered: 1 x GOLD-CLOCK (line L3)" in text and "no stock" in text
    assert "store-lyon: excluded by 'inactive'" in text
    assert "#1 wh-paris" in text


def test_explain_text_for_a_held_order() -> None:
    policy = make_policy(holds=[{"name": "always", "condition": "true", "reason": "testing"}])
    text = explain_text(decide(make_order(), [make_source("wh-paris")], policy, NOW))
    assert "HELD by rule 'always': testing" in text


def test_policy_selection_by_channel_country_and_priority() -> None:
    web_fr = make_policy(
        id="web-fr", applies_to={"channels": ["web"], "countries": ["FR"], "priority": 10}
    )
    vip_express = make_policy(
        id="vip-express",
        applies_to={
            "demand_classes": ["vip"],
            "delivery_methods": ["express"],
            "condition": "order.total >= 100.0",
            "priority": 20,
        },
    )
    fallback = default_policy()
    policies = [fallback, web_fr, vip_express]

    standard = make_order()
    vip = make_order(demand_class="vip", delivery_method=DeliveryMethod.EXPRESS)
    pos_de = make_order(channel="pos", country="DE")
    cheap_vip = make_order(
        demand_class="vip", delivery_method=DeliveryMethod.EXPRESS, total=Decimal("10.00")
    )
    assert select_policy(standard, policies, NOW) is web_fr
    assert select_policy(vip, policies, NOW) is vip_express
    assert select_policy(pos_de, policies, NOW) is fallback
    assert select_policy(cheap_vip, policies, NOW) is web_fr
    assert not policy_applies(web_fr, pos_de, NOW)
    assert select_policy(pos_de, [web_fr], NOW) is None


# schemas: the pure contracts below every package (the named shipping regions live there).
# orjson: writes the canonical JSON that decisions and inputs are digested from (no I/O).
ALLOWED_TOP_LEVEL = {
    "pydantic",
    "pydantic_core",
    "yaml",
    "celpy",
    "orjson",
    "orchestration_policies",
    "schemas",
}


def test_the_package_imports_only_the_standard_library_and_pure_libraries() -> None:
    package_dir = Path(orchestration_policies.__file__).parent
    for module in sorted(package_dir.glob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED_TOP_LEVEL or top in sys.stdlib_module_names, (
                    f"{module.name} imports {name}"
                )
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in (
                "open",
                "eval",
                "exec",
            ):
                raise AssertionError(f"{module.name} calls {node.func.id}")  # type: ignore[attr-defined]
