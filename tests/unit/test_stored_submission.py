"""A stored submission `as_stored` accepts is exactly what pydantic's round trip (the mapper's
read, `to_envelope`'s dump) gives back, and its neighbours that the round trip would change or
refuse are not accepted."""

import random
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

from hub.settings import Settings
from hub.store import OrderStore
from hub.stored_submission import as_stored
from schemas.submission import OrderSubmission

_ADAPTER: TypeAdapter[OrderSubmission] = TypeAdapter(OrderSubmission)


def _submission(lines: int = 3, **changes: Any) -> dict[str, Any]:
    """As the store holds it: a validated submission dumped in JSON mode."""
    raw: dict[str, Any] = {
        "channel": "web-shop",
        "external_id": "EXT-1",
        "placed_at": "2026-11-20T08:00:00.250000Z",
        "customer": {"id": "CUST-1", "name": "Ann Lee", "email": "ann@example.com"},
        "ship_to": {
            "name": "Ann Lee",
            "line1": "1 rue du Test",
            "city": "Lyon",
            "postal_code": "69001",
            "country": "FR",
            "lat": 45.76,
            "lon": 4.83,
        },
        "lines": [
            {"line_id": str(i), "sku": f"SKU-{i:05d}", "quantity": i, "unit_price": f"{i}.90"}
            for i in range(1, lines + 1)
        ],
        "currency": "EUR",
        "promised_by": "2026-11-22T18:00:00Z",
        "payment_state": "authorized",
    }
    dumped: dict[str, Any] = to_jsonable_python(_ADAPTER.validate_python(raw))
    dumped.update(changes)
    return dumped


def _round_trip(stored: Any) -> Any:
    """What the mapper path publishes, or None where it refuses the value."""
    try:
        return to_jsonable_python(_ADAPTER.validate_python(stored))
    except ValueError:
        return None


def _json(value: Any) -> bytes:
    return orjson.dumps(value)  # the keys in their order: the envelope's JSON keeps it


def _accepted_means_unchanged(stored: Any) -> bool:
    accepted = as_stored(stored)
    if accepted:
        assert _json(_round_trip(stored)) == _json(stored), stored
    return accepted


def test_dumped_submissions_are_accepted_and_unchanged_by_the_round_trip() -> None:
    assert _accepted_means_unchanged(_submission())
    assert _accepted_means_unchanged(_submission(lines=7, promised_by=None))
    minimal = _submission(lines=1)
    minimal["customer"] = {"id": "C", "name": None, "email": None, "demand_class": "vip.1"}
    minimal["ship_to"] |= {"line2": "", "region": "Rhône"[:2], "lat": None, "lon": -180.0}
    assert _accepted_means_unchanged(minimal)
    accented = _submission()
    accented["customer"]["name"] = "Anne-Marie Lefèvre"
    accented["ship_to"]["line1"] = "12 rue de la République"
    assert _accepted_means_unchanged(accented)
    # Kept by the round trip, but outside the narrow form the test knows: pydantic's way.
    spaced = _submission()
    spaced["ship_to"]["line1"] = "12\u2003rue"
    assert _json(_round_trip(spaced)) == _json(spaced) and not as_stored(spaced)


# Values the round trip changes or refuses, one field at a time (path, value).
_CHANGED_OR_REFUSED: list[tuple[tuple[Any, ...], Any]] = [
    (("channel",), "Web"),
    (("channel",), " web"),
    (("external_id",), ""),
    (("external_id",), "EXT-1 "),
    (("external_id",), "x" * 129),
    (("external_id",), "EXT\u202e1"),
    (("external_id",), "\u3000EXT-1"),
    (("placed_at",), "2026-11-20T08:00:00+00:00"),
    (("placed_at",), "2026-11-20T08:00:00.000000Z"),
    (("placed_at",), "2026-11-20T08:00:00.25Z"),
    (("placed_at",), "1999-12-31T23:59:59Z"),
    (("placed_at",), "2100-01-01T00:00:00Z"),
    (("placed_at",), "2026-02-30T08:00:00Z"),
    (("promised_by",), "2026-11-20T08:00:00.250000Z"),
    (("promised_by",), "2026-11-19T08:00:00Z"),
    (("customer", "name"), "x" * 201),
    (("customer", "email"), "ann@@example.com"),
    (("customer", "email"), "ann example@x.com"),
    (("customer", "email"), "@x"),
    (("customer", "demand_class"), "VIP"),
    (("ship_to", "country"), "fr"),
    (("ship_to", "country"), "XX"),
    (("ship_to", "lat"), 45),
    (("ship_to", "lat"), 90.5),
    (("ship_to", "lat"), float("nan")),
    (("ship_to", "lon"), True),
    (("ship_to", "city"), ""),
    (("ship_to", "city"), "Lyon\u00a0"),
    (("ship_to", "name"), "Ann\u0085"),
    (("customer", "email"), "ann\u00a0x@example.com"),
    (("ship_to", "postal_code"), "1" * 21),
    (("ship_to", "line2"), "\tFloor 2"),
    (("lines", 0, "quantity"), 0),
    (("lines", 0, "quantity"), 100_001),
    (("lines", 0, "quantity"), True),
    (("lines", 0, "quantity"), 2.0),
    (("lines", 0, "unit_price"), "01.90"),
    (("lines", 0, "unit_price"), "1.90001"),
    (("lines", 0, "unit_price"), "1e2"),
    (("lines", 0, "unit_price"), 190),
    (("lines", 0, "unit_price"), 1.9),
    (("lines", 0, "sku"), "-SKU"),
    (("lines", 0, "sku"), "S" * 65),
    (("lines", 0, "line_id"), "2"),
    (("lines", 0, "line_id"), " 1"),
    (("currency",), "eur"),
    (("currency",), "EUX"),
    (("delivery_method",), "Express"),
    (("payment_state",), "paid"),
]


def _set(stored: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = stored
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


@pytest.mark.parametrize(("path", "value"), _CHANGED_OR_REFUSED)
def test_values_the_round_trip_changes_or_refuses_are_not_accepted(
    path: tuple[Any, ...], value: Any
) -> None:
    stored = _submission()
    _set(stored, path, value)
    assert _json(_round_trip(stored)) != _json(stored)
    assert not as_stored(stored)


def test_keys_missing_extra_or_out_of_order_are_not_accepted() -> None:
    missing = _submission()
    del missing["payment_state"]
    extra = _submission(note="x")
    reordered = dict(reversed(list(_submission().items())))
    customer = _submission()
    del customer["customer"]["email"]
    no_lines = _submission(lines=1)
    no_lines["lines"] = []
    for stored in (missing, extra, reordered, customer, no_lines, [], None):
        assert not as_stored(stored)


def test_random_neighbours_accepted_only_where_the_round_trip_keeps_them() -> None:
    """Each field of a dumped submission swapped for another field's value (or a few odd
    ones): wherever the test accepts, the round trip gives the very same JSON back."""
    rng = random.Random(10)
    base = _submission(lines=2)
    paths = [path for path, _ in _CHANGED_OR_REFUSED]
    pool = [value for _, value in _CHANGED_OR_REFUSED] + [None, "", "A", 7, -1.0, [], {}]
    accepted = 0
    for _ in range(3000):
        stored = orjson.loads(orjson.dumps(base))
        for _ in range(rng.randint(1, 2)):
            _set(stored, rng.choice(paths), rng.choice([*pool, rng.choice(paths)[-1]]))
        accepted += _accepted_means_unchanged(stored)
    assert accepted > 0


def test_the_earlier_releases_stored_submissions_are_accepted_and_unchanged(
    tmp_path: Path,
) -> None:
    release = Path(__file__).parents[1] / "fixtures" / "release_2026_12" / "events.sqlite3"
    shutil.copy(release, tmp_path / "events.sqlite3")
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=None, database_url=None)
    store = OrderStore(env=settings.eventsourcing_env())
    try:
        stored = store.recorder.select_notifications(start=None, limit=1_000_000)
        submissions = [
            orjson.loads(n.state)["submission"] for n in stored if b'"submission"' in n.state
        ]
    finally:
        store.close()
    assert len(submissions) > 10  # Placed and Changed, accented addresses among them
    assert all(_accepted_means_unchanged(submission) for submission in submissions)


def test_the_check_follows_the_models_fields_and_their_limits() -> None:
    """The check is written beside the models: a field added, moved or given another limit
    must change it too, or this fails (the fallback would keep the envelope right, but the
    check would accept a form the model no longer writes)."""
    from annotated_types import MaxLen, MinLen

    from hub import stored_submission as check
    from schemas.submission import Address, Customer, OrderLine

    for model, keys in (
        (OrderSubmission, check._TOP),
        (Customer, check._CUSTOMER),
        (Address, check._ADDRESS),
        (OrderLine, check._LINE),
    ):
        assert list(model.model_fields) == keys, model
    # Every text with a maximum length: at it, kept; one character past it, refused by both.
    for model, key in ((Customer, "customer"), (Address, "ship_to")):
        for name, field in model.model_fields.items():
            limits = [m.max_length for m in field.metadata if isinstance(m, MaxLen)]
            lows = [m.min_length for m in field.metadata if isinstance(m, MinLen)]
            if not limits or lows == limits or field.annotation not in (str, str | None):
                continue  # not a text of a length, or a code of one length (its own validator)
            too_long = _submission()
            value = "a" * (limits[0] - 2) + "@b" if name == "email" else "a" * limits[0]
            too_long[key][name] = value
            assert _accepted_means_unchanged(too_long), (model, name)
            too_long[key][name] = "a" + value
            assert _round_trip(too_long) is None, (model, name)
            assert not as_stored(too_long), (model, name)


def _kept(stored: dict[str, Any]) -> bool:
    """The round trip gives the very same JSON back."""
    return _json(_round_trip(stored)) == _json(stored)


# Every ASCII character and a few beyond (Latin-1, a no-break space, a line separator, a
# full-width letter, an accented capital): the slugs and SKUs the check knows by its own copy
# of the models' patterns.
_CHARACTERS = [chr(c) for c in range(128)] + ["é", "\u00a0", "\u2028", "\uff21", "Ä", "ß"]


@pytest.mark.parametrize("path", [("channel",), ("customer", "demand_class"), ("lines", 0, "sku")])
def test_the_check_takes_a_slug_or_sku_exactly_where_the_model_keeps_it(
    path: tuple[Any, ...],
) -> None:
    """The check's patterns are copies of the models' (`SLUG_PATTERN`, `SKU_PATTERN` and the
    SKU's length): each character first, inside and last, and the longest text and one past
    it, accepted exactly where the round trip keeps the value. A pattern made stricter in the
    model (the check would then accept a form the model refuses), or looser, fails here."""
    stored = _submission()
    values = [v for c in _CHARACTERS for v in (c + "a1", "a" + c + "1", "a1" + c)]
    values += ["a" * 63, "a" * 64, "a" * 65, "0" * 64, "0" * 65]
    disagree = []
    for value in values:
        _set(stored, path, value)
        if as_stored(stored) != _kept(stored):
            disagree.append(value)
    assert not disagree, (path, disagree)


def test_the_check_takes_numbers_at_the_models_limits_exactly_where_the_model_does() -> None:
    """The check's ranges are copies of the models' (`Field(gt=..., le=...)` of a quantity and
    a coordinate, the number of lines): read from the models here, each limit and its
    neighbours accepted exactly where the round trip keeps them."""
    import math

    from annotated_types import Ge, Gt, Le, MaxLen, MinLen

    from schemas.submission import Address, OrderLine

    def bounds(field: Any) -> tuple[Any, Any]:
        low = high = None
        for m in field.metadata:
            low = m.gt if isinstance(m, Gt) else m.ge if isinstance(m, Ge) else low
            high = m.le if isinstance(m, Le) else high
        assert low is not None and high is not None, field
        return low, high

    low, high = bounds(OrderLine.model_fields["quantity"])
    cases: list[tuple[tuple[Any, ...], Any]] = [
        (("lines", 0, "quantity"), q) for q in (low - 1, low, low + 1, high - 1, high, high + 1)
    ]
    for name in ("lat", "lon"):
        low, high = bounds(Address.model_fields[name])
        for edge in (float(low), float(high)):
            for value in (edge, math.nextafter(edge, 0.0), math.nextafter(edge, -2 * edge)):
                cases.append((("ship_to", name), value))
    disagree = []
    for path, value in cases:
        stored = _submission()
        _set(stored, path, value)
        if as_stored(stored) != _kept(stored):
            disagree.append((path, value))
    assert not disagree, disagree

    lines = OrderSubmission.model_fields["lines"].metadata
    fewest = next(m.min_length for m in lines if isinstance(m, MinLen))
    most = next(m.max_length for m in lines if isinstance(m, MaxLen))
    for count in (fewest, most, most + 1):
        stored = _submission(lines=min(count, most))
        if count > most:
            stored["lines"].append({**stored["lines"][0], "line_id": "extra"})
        assert as_stored(stored) == _kept(stored) == (count <= most), count
