"""A generated fulfillment network and the orders placed on it, for the flow benchmark.

Shaped like a mid-size European retailer: sources in seven countries (a few DCs shipping
everywhere, many stores serving their own country, some drop-shippers), every SKU held at 2-6
of them (one or two DCs, the rest stores or drop-shippers; 2 % scarce: a few units at two or
three sources), SKU demand skewed (Zipf), orders of 1-7 lines (mean about 4). Deterministic for
a seed. Pure: no I/O.
"""

import itertools
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

# (country, weight of demand and of sources, cities with coordinates)
COUNTRIES: tuple[tuple[str, float, tuple[tuple[str, float, float], ...]], ...] = (
    ("FR", 0.25, (("Paris", 48.86, 2.35), ("Lyon", 45.76, 4.84), ("Marseille", 43.30, 5.37),
                  ("Lille", 50.63, 3.06), ("Bordeaux", 44.84, -0.58), ("Toulouse", 43.60, 1.44))),
    ("DE", 0.25, (("Berlin", 52.52, 13.40), ("Hamburg", 53.55, 9.99), ("Munich", 48.14, 11.58),
                  ("Cologne", 50.94, 6.96), ("Frankfurt", 50.11, 8.68))),
    ("IT", 0.15, (("Milan", 45.46, 9.19), ("Rome", 41.90, 12.50), ("Turin", 45.07, 7.69),
                  ("Naples", 40.85, 14.27))),
    ("ES", 0.12, (("Madrid", 40.42, -3.70), ("Barcelona", 41.39, 2.17), ("Valencia", 39.47, -0.38),
                  ("Seville", 37.39, -5.98))),
    ("NL", 0.10, (("Amsterdam", 52.37, 4.90), ("Rotterdam", 51.92, 4.48),
                  ("Utrecht", 52.09, 5.12))),
    ("BE", 0.07, (("Brussels", 50.85, 4.35), ("Antwerp", 51.22, 4.40), ("Liege", 50.63, 5.57))),
    ("AT", 0.06, (("Vienna", 48.21, 16.37), ("Graz", 47.07, 15.44), ("Linz", 48.31, 14.29))),
)  # fmt: skip
COUNTRY_CODES = tuple(c for c, _, _ in COUNTRIES)
_COUNTRY_WEIGHTS = tuple(w for _, w, _ in COUNTRIES)
_CITIES = {c: cities for c, _, cities in COUNTRIES}

DROPSHIP_SHARE = 0.10
LINE_COUNTS = (1, 2, 3, 4, 5, 6, 7)
LINE_WEIGHTS = (0.08, 0.12, 0.17, 0.24, 0.17, 0.12, 0.10)  # mean 4.06
_QUANTITIES = ((1, 0.70), (2, 0.20), (3, 0.10))
_DELIVERY = (("standard", "express", "same_day"), (0.80, 0.15, 0.05))
_CLASSES = (("standard", "b2b", "vip"), (0.92, 0.05, 0.03))
SCARCE_SHARE = 0.02


@dataclass(frozen=True)
class StockRow:
    source_id: str
    sku: str
    on_hand: int


@dataclass
class Network:
    sources: list[dict[str, Any]]
    stock: list[StockRow]
    skus: list[str]
    scarce: set[str] = field(default_factory=set)

    def holders(self) -> dict[str, list[str]]:
        held: dict[str, list[str]] = {}
        for row in self.stock:
            held.setdefault(row.sku, []).append(row.source_id)
        return held

    def rows_per_source(self) -> Counter[str]:
        return Counter(row.source_id for row in self.stock)


def _source(rng: random.Random, n: int, kind: str) -> dict[str, Any]:
    country = rng.choices(COUNTRY_CODES, _COUNTRY_WEIGHTS)[0]
    city, lat, lon = rng.choice(_CITIES[country])
    others = [c for c in COUNTRY_CODES if c != country]
    if kind == "warehouse":
        ships_to, methods, lead, capacity = list(COUNTRY_CODES), ["standard", "express"], 1, 200_000
        cost = {"base": "4.50", "per_unit": "0.40", "per_km": "0.010"}
    elif kind == "store":
        ships_to, lead, capacity = [country], 0, 50_000
        methods = ["standard", "same_day", "click_and_collect"]
        cost = {"base": "6.00", "per_unit": "0.80", "per_km": "0.020"}
    else:
        ships_to = [country, *rng.sample(others, 2)]
        methods, lead, capacity = ["standard"], rng.randint(3, 5), 20_000
        cost = {"base": "3.00", "per_unit": "0.50", "per_km": "0.015"}
    return {
        "source_id": f"{kind[:2]}-{country.lower()}-{n:04d}",
        "name": f"{city} {kind} {n}",
        "kind": kind,
        "lat": round(lat + rng.uniform(-0.2, 0.2), 4),
        "lon": round(lon + rng.uniform(-0.2, 0.2), 4),
        "country": country,
        "ships_to": ships_to,
        "delivery_methods": methods,
        # High enough that a benchmark run measures routing, not capacity running out.
        "daily_capacity": capacity,
        "lead_time_days": lead,
        "cost": {**cost, "currency": "EUR"},
    }


def warehouses_for(sources: int) -> int:
    """Networks grow by stores: 2 DCs for 20 sources, 5 for 100, at most 8."""
    return max(2, min(8, sources // 20))


def generate_network(sources: int = 100, skus: int = 10_000, seed: int = 7) -> Network:
    """`sources` sources; `skus` SKUs each held at 2-6 of them: one or two DCs (which ship
    everywhere) and stores or drop-shippers; scarce SKUs at 2-3 sources, 1-3 units each."""
    rng = random.Random(seed)
    dcs = min(sources, warehouses_for(sources))
    others = sources - dcs
    dropships = min(others, max(1, round(sources * DROPSHIP_SHARE)))
    drawn = ["warehouse"] * dcs + ["dropship"] * dropships + ["store"] * (others - dropships)
    made = [_source(rng, n, kind) for n, kind in enumerate(drawn)]
    warehouses = [s["source_id"] for s in made if s["kind"] == "warehouse"]
    # The first DC is the national one and carries most of the range (as many times the share
    # of each other DC as there are DCs), so most orders can ship in three shipments or fewer.
    dc_weights = list(itertools.accumulate([dcs] + [1] * (dcs - 1)))
    rest = [s for s in made if s["kind"] != "warehouse"]
    rest_ids = [s["source_id"] for s in rest]
    # A drop-shipper carries more of the range than a store.
    rest_weights = list(itertools.accumulate(2.0 if s["kind"] == "dropship" else 1.0 for s in rest))
    kind_of = {s["source_id"]: s["kind"] for s in made}
    sku_ids = [f"SKU-{i:05d}" for i in range(skus)]
    scarce = set(rng.sample(sku_ids, int(skus * SCARCE_SHARE)))
    stock: list[StockRow] = []
    for sku in sku_ids:
        wanted = min(sources, rng.randint(2, 3) if sku in scarce else rng.randint(2, 6))
        holders: set[str] = set()
        for _ in range(rng.randint(1, 2)):
            holders.add(rng.choices(warehouses, cum_weights=dc_weights)[0])
        while len(holders) < wanted and rest_ids:
            holders.add(rng.choices(rest_ids, cum_weights=rest_weights)[0])
        for source_id in sorted(holders):
            kind = kind_of[source_id]
            if sku in scarce:
                on_hand = rng.randint(1, 3)
            elif kind == "store":
                on_hand = rng.randint(20, 500)
            elif kind == "dropship":
                on_hand = rng.randint(100, 2_000)
            else:
                on_hand = rng.randint(1_000, 20_000)
            stock.append(StockRow(source_id, sku, on_hand))
    return Network(sources=made, stock=stock, skus=sku_ids, scarce=scarce)


def with_stock_scaled(network: Network, factor: float, scarce_factor: float = 1.0) -> Network:
    """The same network, every row but the scarce SKUs' holding `factor` times its count, the
    scarce SKUs' `scarce_factor` times: a soak that reports nothing shipped (`benchmarks.flow
    --stock-scale`) runs out of stock otherwise, and routes its orders ever further, then
    backorders them. The scarce rows stay scarce by default; scaled too, a soak without
    shipping keeps one shape to its end instead of piling up the orders that wait for them."""
    if factor == 1 and scarce_factor == 1:
        return network
    stock = [
        replace(
            row,
            on_hand=round(row.on_hand * (scarce_factor if row.sku in network.scarce else factor)),
        )
        for row in network.stock
    ]
    return replace(network, stock=stock)


def with_capacity_scaled(network: Network, factor: float) -> Network:
    """The same network, every source's daily capacity `factor` times as large: a soak sends in
    an hour what the network's capacities are sized for a day of, and once the national DC's
    day is full its orders split further and the policy holds them (a shape that changes under
    the soak, not one that ships every day)."""
    if factor == 1:
        return network
    sources = [s | {"daily_capacity": round(s["daily_capacity"] * factor)} for s in network.sources]
    return replace(network, sources=sources)


class OrderMaker:
    """Canonical submissions on a network: SKUs by Zipf popularity, 1-7 distinct lines."""

    def __init__(self, network: Network, seed: int = 11, zipf: float = 0.6) -> None:
        self._rng = random.Random(seed)
        self._skus = network.skus
        self._cum = list(itertools.accumulate(1 / (k + 1) ** zipf for k in range(len(self._skus))))

    def lines(self) -> list[tuple[str, int]]:
        rng = self._rng
        count = min(rng.choices(LINE_COUNTS, LINE_WEIGHTS)[0], len(self._skus))
        chosen: list[str] = []
        while len(chosen) < count:
            sku = rng.choices(self._skus, cum_weights=self._cum)[0]
            if sku not in chosen:
                chosen.append(sku)
        quantities = rng.choices([q for q, _ in _QUANTITIES], [w for _, w in _QUANTITIES], k=count)
        return list(zip(chosen, quantities, strict=True))

    def order(self, channel: str, external_id: str, placed_at: str) -> dict[str, Any]:
        rng = self._rng
        country = rng.choices(COUNTRY_CODES, _COUNTRY_WEIGHTS)[0]
        city, lat, lon = rng.choice(_CITIES[country])
        customer = rng.randrange(100_000)
        return {
            "channel": channel,
            "external_id": external_id,
            "placed_at": placed_at,
            "customer": {
                "id": f"C{customer:06d}",
                "demand_class": rng.choices(*_CLASSES)[0],
            },
            "ship_to": {
                "name": f"Customer {customer}",
                "line1": f"{rng.randint(1, 200)} Bench Street",
                "city": city,
                "postal_code": f"{rng.randint(1000, 99999)}",
                "country": country,
                "lat": round(lat + rng.uniform(-0.3, 0.3), 4),
                "lon": round(lon + rng.uniform(-0.3, 0.3), 4),
            },
            "lines": [
                {
                    "line_id": str(i + 1),
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price": f"{5 + int(sku[4:]) % 200}.90",
                }
                for i, (sku, quantity) in enumerate(self.lines())
            ],
            "currency": "EUR",
            "delivery_method": rng.choices(*_DELIVERY)[0],
            "payment_state": "authorized",
        }
