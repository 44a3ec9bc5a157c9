"""The projections role decodes `Routed` and `Held` without parsing their decision's explanation
(connectors.unread_explanation), and every view writes the rows it wrote when the whole data was
parsed: over a generated history, as `envelope_to_record` writes it (sorted) and as the relay
publishes it (the decision record spliced as stored), and over the earlier release's events.
Anywhere the cut is not certain the whole is parsed; a follower that may read the explanation
has it parsed."""

import dataclasses
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.projection_events import projection_records, record_history
from benchmarks.route_profile import NOW
from connectors.consumed import ConsumedMessage
from connectors.unread_explanation import load_unexplained, without_explanation
from hub.bootstrap import Hub, bootstrap
from hub.settings import Settings
from hub.store import OrderStore
from hub.stored_records import RecordReader
from hub.streaming import feeds as feeds_module
from hub.streaming.feeds import DECISION_TYPES, Feed, decode, unexplained_types
from hub.streaming.relay import route_for
from hub.streaming.roles import Role, role_topics
from projections.base import SqlView
from schemas.event_types import UNPUBLISHED, EventType
from tests.contracts.feeds_contract import consumer, dump, feed_all, role_feeds
from tests.support.examples import examples

RELEASE = Path(__file__).parents[1] / "fixtures" / "release_2026_12"
NO_BROKER = "127.0.0.1:1"  # distributed settings: no in-process delivery; nothing connects
PARTITIONS = 3


def relay_records(store: OrderStore, settings: Settings) -> list[ConsumedMessage]:
    """The store's events as the relay publishes them (hub.stored_records), on the projections
    role's topics, numbered per partition as a consumer reads them."""
    reader = RecordReader(store, route_for(settings), UNPUBLISHED)
    wanted = set(role_topics(settings, Role.PROJECTIONS))
    offsets: dict[tuple[str, int], int] = {}
    found = []
    for stored in store.recorder.select_notifications(start=None, limit=1_000_000):
        for r in reader.records(stored):
            if r.topic not in wanted:
                continue
            partition = zlib.crc32(r.key) % PARTITIONS
            offset = offsets[(r.topic, partition)] = offsets.get((r.topic, partition), -1) + 1
            found.append(ConsumedMessage(r.topic, partition, offset, r.key, r.value, r.headers))
    return found


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[ConsumedMessage]]:
    hub = bootstrap(Settings(data_dir=tmp_path_factory.mktemp("history")), clock=lambda: NOW)
    try:
        record_history(hub, orders=40, sources=40, skus=400)  # some held
        return {
            "written": projection_records(hub),
            "relayed": relay_records(hub.store, hub.settings),
        }
    finally:
        hub.close()


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[Any]:
    hubs: list[Hub] = []

    def make() -> Hub:
        settings = Settings(data_dir=tmp_path / f"hub-{len(hubs)}", kafka_bootstrap=NO_BROKER)
        hubs.append(bootstrap(settings, clock=lambda: NOW))
        return hubs[-1]

    yield make
    for hub in hubs:
        hub.close()


def view_feeds(hub: Hub, explained: bool | None = None) -> list[Feed]:
    """The role's views (billing, which records in its own store, left out); `explained`:
    each said to read explanations (the whole data parsed, as before) or not."""
    feeds = [f for f in role_feeds(hub) if isinstance(f.follower, SqlView)]
    if explained is None:
        return feeds
    return [dataclasses.replace(f, explained=explained) for f in feeds]


def decisions(records: list[ConsumedMessage]) -> list[ConsumedMessage]:
    return [r for r in records if r.header("ce_type") in DECISION_TYPES]


def views_after(hub: Hub, feeds: list[Feed], records: list[ConsumedMessage]) -> Any:
    feed_all(consumer(hub, feeds), records)
    return dump(hub)


@pytest.mark.parametrize("layout", ["written", "relayed"])
def test_every_view_writes_the_rows_of_the_whole_data(
    layout: str, layouts: dict[str, list[ConsumedMessage]], make_hub: Any
) -> None:
    records = layouts[layout]
    cut, whole = make_hub(), make_hub()
    feeds = view_feeds(cut)
    unexplained = unexplained_types(feeds)
    assert set(unexplained.values()) == {DECISION_TYPES}  # the order events' views: none reads it

    assert views_after(cut, feeds, records) == views_after(
        whole, view_feeds(whole, explained=True), records
    )
    decoded = decode(decisions(records), None, unexplained).events
    kinds = {env.type for _, env in decoded}
    assert kinds == DECISION_TYPES  # both kinds, in this layout, left unparsed
    assert all(type(env.data["decision"]["explanation"]) is orjson.Fragment for _, env in decoded)


def test_a_broken_cut_shows_in_the_rows(
    layouts: dict[str, list[ConsumedMessage]], make_hub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison above sees a cut that loses what a view reads (the shipment details)."""

    def losing(value: bytes) -> Any:
        data = load_unexplained(value)
        data["decision"].pop("shipment_details", None)
        return data

    records = layouts["written"]
    whole = views_after(make_hub(), view_feeds(make_hub(), explained=True), records)
    monkeypatch.setattr(feeds_module, "load_unexplained", losing)
    hub = make_hub()
    assert views_after(hub, view_feeds(hub), records) != whole


def test_a_follower_that_may_read_the_explanation_has_it_parsed() -> None:
    topics = frozenset({"orders"})
    views = [Feed("v", object(), topics, DECISION_TYPES, explained=False)]  # type: ignore[arg-type]
    reader = Feed("trail", object(), topics, None)  # type: ignore[arg-type]
    other = Feed("billing", object(), topics, frozenset({"x"}))  # type: ignore[arg-type]

    assert unexplained_types(views) == {"orders": DECISION_TYPES}
    assert unexplained_types([*views, other]) == {"orders": DECISION_TYPES}
    assert unexplained_types([*views, reader]) == {"orders": frozenset()}
    assert unexplained_types([reader]) == {}


def _json(data: Any) -> Any:
    """The JSON values, whatever part is a Fragment (orjson writes it as it is)."""
    return orjson.loads(orjson.dumps(data))


def assert_read_alike(records: list[ConsumedMessage]) -> int:
    """Each record's envelope cut is the whole one, its data the same JSON; how many were cut."""
    cut = decode(records, None, {r.topic: DECISION_TYPES for r in records})
    whole = decode(records)
    assert [m for m, _ in cut.undecodable] == [m for m, _ in whole.undecodable]
    assert len(cut.events) == len(whole.events)
    unparsed = 0
    for (_, mine), (_, theirs) in zip(cut.events, whole.events, strict=True):
        assert mine.model_dump(exclude={"data"}) == theirs.model_dump(exclude={"data"})
        assert mine.model_fields_set == theirs.model_fields_set
        assert _json(mine.data) == theirs.data
        explanation = mine.data.get("decision", {}).get("explanation")
        if type(explanation) is orjson.Fragment:
            unparsed += 1
            rest = {k: v for k, v in mine.data["decision"].items() if k != "explanation"}
            assert rest == {k: v for k, v in theirs.data["decision"].items() if k != "explanation"}
    return unparsed


@pytest.mark.parametrize("layout", ["written", "relayed"])
def test_each_decision_reads_as_the_whole_but_its_explanation(
    layout: str, layouts: dict[str, list[ConsumedMessage]]
) -> None:
    records = decisions(layouts[layout])
    assert assert_read_alike(records) == len(records) > 0


def test_the_earlier_releases_decisions_read_as_the_whole(tmp_path: Path) -> None:
    shutil.copy(RELEASE / "events.sqlite3", tmp_path / "events.sqlite3")
    settings = Settings(data_dir=tmp_path, kafka_bootstrap=NO_BROKER)
    store = OrderStore(env=settings.eventsourcing_env())
    try:
        records = decisions(relay_records(store, settings))
    finally:
        store.close()
    # Every one of them cut (the release writes the layouts of today), and read as the whole.
    assert assert_read_alike(records) == len(records) > 0


def _record(layouts: dict[str, list[ConsumedMessage]], change: Any) -> ConsumedMessage:
    """The first `Routed` as written, its data changed and written again (sorted)."""
    routed = EventType.ORDER_ROUTED
    original = next(r for r in layouts["written"] if r.header("ce_type") == routed)
    data = orjson.loads(original.value)
    change(data)
    value = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return dataclasses.replace(original, value=value)


def _set(path: str, value: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        data[last] = value

    return change


ODD = {
    "no explanation": _set("decision.explanation", None),
    "an explanation of an earlier shape": _set("decision.explanation", {"criteria": ["d"]}),
    "an escape in the weights": _set("decision.explanation.weights", {'a"}}': 1.0}),
    "a brace in a weight's name": _set("decision.explanation.weights", {"a}": 1.0, "b": 2}),
    "a criterion named as the last key": _set(
        "decision.explanation.normalisation.weights", {"better": "lower", "max": 1, "min": 0}
    ),
    "the last key's object farther on, the explanation lacking it": lambda data: (
        data["decision"]["explanation"].pop("weights"),
        _set("decision.zz", {"weights": {"a": 1}})(data),
    ),
    "no order id": lambda data: data["decision"].pop("order_id"),
}


@pytest.mark.parametrize("name", ODD)
def test_a_shape_the_cut_is_not_certain_of_is_parsed_whole(
    name: str, layouts: dict[str, list[ConsumedMessage]]
) -> None:
    record = _record(layouts, ODD[name])

    assert without_explanation(record.value) is None
    assert assert_read_alike([record]) == 0


def test_a_weight_named_with_a_quote_or_brace_elsewhere_still_cuts(
    layouts: dict[str, list[ConsumedMessage]],
) -> None:
    record = _record(layouts, _set("decision.explanation.criteria", ['a"}}', "{"]))

    assert assert_read_alike([record]) == 1


def test_a_malformed_rest_is_refused_as_before(layouts: dict[str, list[ConsumedMessage]]) -> None:
    record = _record(layouts, lambda data: None)
    broken = dataclasses.replace(record, value=record.value.replace(b'"at":', b'"at" ', 1))

    cut = decode([broken], None, {broken.topic: DECISION_TYPES})
    assert [e for _, e in cut.undecodable] == [e for _, e in decode([broken]).undecodable] != []


# JSON values with texts that hold the cut's marks: quotes, braces, backslashes, the keys.
pieces = [*'ab"{}[]\\:,', "weights", "omitted", "explanation", "decision", '"weights":{', "}}"]
texts = st.lists(st.sampled_from(pieces), max_size=4).map("".join)
keys = texts | st.sampled_from(["weights", "omitted", "explanation", "held", "order_id"])
scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | texts


def json_values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
        max_leaves=12,
    )


# Outside the explanation, no object keyed as its last key (what the cut does not tell from the
# explanation's own: the module's docstring).
outside = keys.filter(lambda k: k not in ("weights", "omitted"))
figures = st.dictionaries(texts, st.floats(allow_nan=False, allow_infinity=False), max_size=3)


@settings(max_examples=examples(300))
@given(
    explanation=st.dictionaries(keys, json_values(keys), max_size=4),
    last=st.sampled_from(["weights", "omitted", None]),
    last_figures=figures,
    extra=st.dictionaries(keys, json_values(outside), max_size=3),
    layout=st.sampled_from(["sorted", "stored"]),
)
def test_any_data_reads_as_the_whole_where_it_is_cut(
    explanation: dict[str, Any],
    last: str | None,
    last_figures: dict[str, float],
    extra: dict[str, Any],
    layout: str,
) -> None:
    """Whatever the explanation and the decision hold around it, the data read with the
    explanation cut out is the whole data's JSON; the decision's keys kept are the whole's."""
    if last is not None:
        explanation = {k: v for k, v in explanation.items() if k != last} | {last: last_figures}
    decision = {"order_id": "o", "policy": {"id": "p", "version": 1}, "decided_at": "t"}
    decision |= {k: v for k, v in extra.items() if k not in ("explanation", *decision)}
    decision |= {"shipments": {}, "explanation": explanation}
    data = {"at": "t", "decision": decision, "explanation": "", "rule": "r"}
    sort = orjson.OPT_SORT_KEYS if layout == "sorted" else 0
    value = orjson.dumps(data, option=sort)

    read = load_unexplained(value)

    assert _json(read) == orjson.loads(value)
    assert read["decision"].keys() == orjson.loads(value)["decision"].keys()
