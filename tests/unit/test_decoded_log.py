"""The embedded lanes' shared log: each event decoded once, only for the lanes that read its
type, and never a read that differs from the store's."""

import random
from collections.abc import Sequence
from pathlib import Path

from eventsourcing.sqlite import SQLiteApplicationRecorder

from hub.embedded.decoded_log import DecodedLog
from hub.embedded.delivery import STREAM, InProcessDelivery
from hub.embedded.lane import types_read_by
from hub.embedded.sqlite_log import read_leaving_out
from hub.services.intake import IntakeService, RejectSubmission, SubmitOrder
from hub.store import OrderStore
from projections.order_status import InMemoryOrderStatusView
from schemas.envelope import EventEnvelope
from schemas.event_types import EventType
from schemas.submission import OrderSubmission
from tests.contracts.factories import fixed_clock, submission_dict


def _store(tmp_path: Path) -> OrderStore:
    return OrderStore(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "e")}
    )


def _place(store: OrderStore, *external_ids: str) -> None:
    commands = []
    for external_id in external_ids:
        submission = OrderSubmission.model_validate(submission_dict(external_id=external_id))
        commands.append(SubmitOrder(submission, submission.model_dump_json(), "channel:web", "c"))
    IntakeService(store, fixed_clock()).place_orders(commands)


def test_any_reads_while_the_log_grows_answer_what_the_store_answers(tmp_path: Path) -> None:
    store = _store(tmp_path)
    log = DecodedLog(store, keep=7)
    rng = random.Random(3)
    positions = [0, 0]  # two readers, as the lanes, each moving at its own pace
    for step in range(120):
        if rng.random() < 0.3:
            _place(store, f"WEB-{step}")
        reader = rng.randrange(2)
        after = positions[reader] if rng.random() < 0.8 else rng.randrange(positions[reader] + 1)
        limit = rng.randint(1, 9)
        got = log.read_envelopes(after, limit)
        expected = store.read_envelopes(after, limit)
        assert [p for p, _ in got] == [p for p, _ in expected][: len(got)], (step, after, limit)
        assert [e for _, e in got] == [e for _, e in expected][: len(got)]
        assert got or not expected, "never empty while the store has more"
        if got:
            positions[reader] = max(positions[reader], got[-1][0])
    assert log.hits > 0 and log.reads > 0


def test_a_reader_close_behind_is_answered_without_a_round_trip(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _place(store, "WEB-1", "WEB-2", "WEB-3")
    end = store.max_position()
    log = DecodedLog(store, keep=100)

    first = log.read_envelopes(0, 100)
    second = log.read_envelopes(0, 100)

    assert [p for p, _ in first] == list(range(1, end + 1))
    assert second == first and second[0][1] is first[0][1], "the same envelopes, decoded once"
    assert (log.reads, log.hits) == (1, 1)
    assert log.read_envelopes(end, 100) == [] and log.reads == 2, "past the end: the store"


def test_a_reader_far_behind_does_not_take_the_run_from_the_one_ahead(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _place(store, *(f"WEB-{i}" for i in range(6)))
    log = DecodedLog(store, keep=4)
    head = store.max_position() - 4
    log.read_envelopes(head, 4)  # the lane ahead

    behind = log.read_envelopes(0, 3)  # the lane behind: from the store
    again = log.read_envelopes(head, 4)  # the lane ahead again: still kept

    assert [p for p, _ in behind] == [1, 2, 3]
    assert [p for p, _ in again] == list(range(head + 1, head + 5))
    assert (log.reads, log.hits) == (2, 1)


def test_both_lanes_decode_each_batch_once(tmp_path: Path) -> None:
    store = _store(tmp_path)
    view, routing = InMemoryOrderStatusView(), InMemoryOrderStatusView()
    delivery = InProcessDelivery(store, [view], [routing], batch_size=4)
    delivery.catch_up()  # both lanes at the log's (empty) start, as after start-up
    _place(store, *(f"WEB-{i}" for i in range(5)))

    delivery.catch_up()

    assert view.positions()[STREAM] == routing.positions()[STREAM] == store.max_position()
    assert delivery.log.decoded == store.max_position(), "each event decoded once"
    assert delivery.log.hits >= store.max_position() // 4, "the lane behind read it kept"


class Accepting:
    """A follower that reads accepted orders only, and says so."""

    event_types = frozenset({EventType.ORDER_ACCEPTED})

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.at: dict[str, int] = {}

    def apply(self, envelopes: Sequence[EventEnvelope], positions: dict[str, int]) -> None:
        self.seen += [env.type for env in envelopes]
        self.at.update(positions)

    def positions(self) -> dict[str, int]:
        return dict(self.at)


def test_a_lane_decodes_only_the_types_its_followers_read_and_moves_past_the_rest(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    _place(store, "WEB-1", "WEB-2", "WEB-3")
    follower = Accepting()
    delivery = InProcessDelivery(store, [], [follower], batch_size=2)

    delivery.catch_up()

    assert follower.seen == [EventType.ORDER_ACCEPTED] * 3
    assert follower.positions()[STREAM] == store.max_position() > 3, "past the others too"
    assert delivery.log.decoded == 3, "the other events were not decoded"
    _place(store, "WEB-4")
    delivery.catch_up()
    assert follower.seen == [EventType.ORDER_ACCEPTED] * 4
    assert follower.positions()[STREAM] == store.max_position()


def test_a_typed_read_of_what_the_other_lane_kept_is_answered_from_it(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _place(store, "WEB-1", "WEB-2")
    log = DecodedLog(store, keep=100)
    everything = log.read(None, 100)

    accepted = log.read(None, 100, frozenset({EventType.ORDER_ACCEPTED}))

    assert [e for e in everything.entries if e[1].type == EventType.ORDER_ACCEPTED] == (
        accepted.entries
    )
    assert accepted.last == everything.last == store.max_position()
    assert (log.reads, log.hits) == (1, 1)


def test_a_lane_decodes_everything_when_one_follower_does_not_say_what_it_reads() -> None:
    assert types_read_by([Accepting(), InMemoryOrderStatusView()]) is None
    assert types_read_by([]) is None
    assert types_read_by([Accepting()]) == {EventType.ORDER_ACCEPTED}


class Placing(Accepting):
    """A follower that reads placed orders only."""

    event_types = frozenset({EventType.ORDER_PLACED})


def test_each_follower_of_a_lane_is_handed_the_events_of_its_own_types_only(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    _place(store, "WEB-1", "WEB-2", "WEB-3")
    accepting, placing = Accepting(), Placing()
    delivery = InProcessDelivery(store, [accepting, placing], [], batch_size=4)

    delivery.catch_up()

    assert accepting.seen == [EventType.ORDER_ACCEPTED] * 3
    assert placing.seen == [EventType.ORDER_PLACED] * 3
    assert accepting.at[STREAM] == placing.at[STREAM] == store.max_position()


def test_both_lanes_share_one_run_that_decodes_only_the_types_some_lane_reads(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    view, routing = Placing(), Placing()
    delivery = InProcessDelivery(store, [view], [routing], batch_size=4)
    delivery.catch_up()
    _place(store, *(f"WEB-{i}" for i in range(6)))
    events = store.max_position()

    delivery.catch_up()

    assert view.seen == routing.seen == [EventType.ORDER_PLACED] * 6
    assert view.at[STREAM] == routing.at[STREAM] == events == 12
    assert delivery.log.decoded == 6, "each placed once, no accepted at all"
    assert delivery.log.hits >= 1, "the lane behind read the run"


def test_a_kept_run_with_skipped_types_answers_any_start_and_limit_like_the_store(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    _place(store, *(f"WEB-{i}" for i in range(6)))
    wanted = frozenset({EventType.ORDER_PLACED, EventType.ORDER_ACCEPTED})
    log = DecodedLog(store, keep=1_000)
    log.decodes = wanted
    assert log.read(None, 1_000, wanted).last == store.max_position()  # the run
    everything = store.read_envelopes(None, 1_000)

    for after in range(0, store.max_position() + 1):
        for limit in (1, 2, 3, 5, 1_000):
            read = log.read(after, limit, frozenset({EventType.ORDER_ACCEPTED}))
            reached = read.last if read.last is not None else after
            expected = [
                (p, e)
                for p, e in everything
                if after < p <= reached and e.type == EventType.ORDER_ACCEPTED
            ]
            assert read.entries == expected
            assert len(read.entries) <= limit
            if after < store.max_position():
                assert reached > after, "a read inside the run moves on"
    # All from the run but the five at the log's end: only the store knows what follows.
    assert log.reads == 1 + 5
    # A read of a type the run does not keep goes to the store, and is answered right.
    other = log.read(None, 1_000)
    assert [p for p, _ in other.entries] == [p for p, _ in everything]


# The store read with SQLite leaving out the topics no lane asked for (hub.embedded.sqlite_log):
# the same events and the same end as the library's read filtered in Python.


def _reject(store: OrderStore, n: int) -> None:
    refusal = RejectSubmission(
        channel="web",
        raw_payload=f"not json {n}",
        format="canonical",
        reason="unparseable",
        problems=[],
        actor="channel:web",
    )
    IntakeService(store, fixed_clock()).record_rejections([refusal])


def _recorder(store: OrderStore) -> SQLiteApplicationRecorder:
    recorder = store.recorder
    assert isinstance(recorder, SQLiteApplicationRecorder)
    return recorder


def test_typed_reads_answer_what_the_store_answers_filtered_while_the_log_grows(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    log = DecodedLog(store, keep=1)  # every read goes to the store
    kinds = [
        frozenset({EventType.ORDER_ACCEPTED}),
        frozenset({EventType.ORDER_PLACED, EventType.ORDER_ACCEPTED}),
        frozenset({EventType.REJECTED_SUBMISSION_RECORDED}),
    ]
    rng = random.Random(5)
    short_reads = 0
    for step in range(150):
        if rng.random() < 0.3:
            _place(store, *(f"WEB-{step}-{i}" for i in range(rng.randint(1, 3))))
        if rng.random() < 0.1:
            _reject(store, step)
        end = store.max_position()
        after, limit, types = rng.randint(0, end), rng.randint(1, 6), rng.choice(kinds)
        log._kept.clear()
        log._start = log._end = None
        known = set(log._types)  # the topics seen before this read: those it leaves out
        read = log.read(after, limit, types)
        everything = store.read_envelopes(after, 10_000)
        if read.last is None:
            assert after == end, "nothing new only at the log's end"
            continue
        expected = [(p, e) for p, e in everything if p <= read.last and e.type in types]
        assert read.entries == expected, (step, after, limit, types)
        assert len(read.entries) <= limit
        if len(read.entries) == limit:
            assert read.last == read.entries[-1][0]
        elif {n.topic for n in _recorder(store).select_notifications(None, 10_000)} <= known:
            # Every topic seen: the rows of other types were left out, not counted in the limit
            assert read.last == end, "short of the limit: the read covers the whole log"
            short_reads += 1
    assert short_reads > 10


def test_the_rows_of_the_topics_left_out_are_not_fetched(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _place(store, "WEB-1", "WEB-2")
    _reject(store, 1)
    recorder = _recorder(store)
    everything = recorder.select_notifications(start=None, limit=100)
    rejected = [n.topic for n in everything if "rejected" in n.topic.lower()]
    assert rejected, "the history has a topic to leave out"

    left = read_leaving_out(recorder, 0, 100, rejected[:1])
    assert [n.id for n in left.notifications] == [
        n.id for n in everything if n.topic != rejected[0]
    ]
    assert left.last == store.max_position(), "the end is the log's, whatever its type"
    # All of it left out: nothing fetched, and the read still covers the whole log.
    left = read_leaving_out(recorder, 0, 100, sorted({n.topic for n in everything}))
    assert left.notifications == [] and left.last == store.max_position()
    assert read_leaving_out(recorder, store.max_position(), 100, []).last is None


def test_with_nothing_left_out_the_read_is_the_librarys(tmp_path: Path) -> None:
    """A topic no lane has seen yet (an earlier release's, say) is read: only seen topics are
    ever left out."""
    store = _store(tmp_path)
    _place(store, "WEB-1", "WEB-2", "WEB-3")
    recorder = _recorder(store)
    for after in range(store.max_position() + 1):
        for limit in (1, 2, 5, 100):
            ours = read_leaving_out(recorder, after, limit, [])
            theirs = recorder.select_notifications(
                start=after, limit=limit, inclusive_of_start=False
            )
            assert ours.notifications == list(theirs)
            if len(theirs) == limit:
                assert ours.last == theirs[-1].id
