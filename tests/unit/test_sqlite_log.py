"""The embedded log read with SQLite leaving out the topics no lane asked for: the same events
and the same end as the library's read filtered in Python, and the rows left out never fetched."""

import random
from pathlib import Path

from eventsourcing.sqlite import SQLiteApplicationRecorder

from hub.embedded.decoded_log import DecodedLog
from hub.embedded.sqlite_log import read_leaving_out
from hub.services.intake import IntakeService, RejectSubmission, SubmitOrder
from hub.store import OrderStore
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
