"""One lane of embedded delivery: a thread that follows the store's log for some followers."""

import logging
import threading
from collections.abc import Callable

from hub.embedded.decoded_log import Entry, Log
from hub.services.followers import Follower
from projections.base import SqlView, write_together
from schemas.envelope import EventEnvelope

log = logging.getLogger(__name__)
STREAM = "notification_log"


# A follower, the events of a read it has not seen (with their positions), and the position
# it reaches with them (the read's last, which may be an event of a type it does not read).
Share = tuple[Follower, list[Entry], int]
# (follower name, the event it could not handle, the error) → keep it where people look.
Park = Callable[[str, EventEnvelope, Exception], None]
# Told, from the lane's thread, that what a caller waits for is delivered: the log position it
# waited for (the end of the log when it asked), and the error of the pass, if any.
Served = Callable[[int, Exception | None], None]


class Unavailable(RuntimeError):
    """Served with this, a caller is told the lane cannot deliver now (the routing process is
    starting again): what it asked for is delivered once the lane is back, not waited for."""


class Lane:
    """Follows the notification log like a Kafka consumer would, for its own followers.

    Each follower keeps its own position in the log, saved with its rows, so a restart resumes
    and a crash between a save and its delivery is caught up by the next call. Each batch of
    the log is read once per lane and handed to every follower of the lane that has not seen it
    yet; the events are decoded once for both lanes (`DecodedLog`), and only those of the types
    the lane's followers read when they all say which (`event_types`). The SQL views of one
    database write a batch in one transaction. Followers that record new events (the
    orchestrator) are followed round again until nothing is new. An event a follower cannot
    handle is parked and passed, so it never blocks what follows.

    Once `start()`ed, the lane's thread delivers whenever it is `nudge()`d or asked to
    (`request()`); a request is served as soon as the lane has delivered everything recorded
    before it was taken up, so callers share the lane's batches and a caller never waits for
    what was recorded after it asked, however busy the lane stays.
    """

    def __init__(
        self,
        name: str,
        store: Log,
        followers: list[Follower],
        batch_size: int,
        park: Park | None = None,
        after_batch: Callable[[], None] = lambda: None,
    ) -> None:
        self.name = name
        self.followers = followers
        self._store = store
        self._batch_size = batch_size
        self._park = park
        self._after_batch = after_batch  # e.g. wake another lane: there is something new
        self._types = types_read_by(followers)
        self._delivering = threading.Lock()  # one catch-up at a time, thread or caller
        self._state = threading.Condition()
        self._nudged = False
        self._asked: list[Served] = []  # requests not given their position yet
        self._waiting: list[tuple[int, Served]] = []  # (position waited for, callback)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._known: list[int | None] | None = None  # the positions the last pass left

    @property
    def running(self) -> bool:
        return self._thread is not None

    def catch_up(self) -> int:
        """Deliver everything recorded so far; returns the number of deliveries made."""
        return self._catch_up(background=False)

    def _catch_up(self, background: bool) -> int:
        with self._delivering:
            delivered = 0
            # Only this lane moves its followers' positions while its thread runs: they are
            # read from their stores on its first pass and after one that failed, then kept.
            # (Each read is a transaction: with routing in another process, one more turn at
            # SQLite's lock.) A caller's own catch-up reads them (a tool may have reset a view).
            positions = self._known if background else None
            if positions is None or len(positions) != len(self.followers):
                positions = [follower.positions().get(STREAM) for follower in self.followers]
            self._known = None  # until this pass ends well
            while not (background and self._stopping):  # a stop does not wait for a backlog
                # Taken up before the read: an empty read then means they are all delivered.
                self._take_up_requests()
                known = [p for p in positions if p is not None]
                after = min(known) if known and len(known) == len(positions) else None
                read = self._store.read(after, self._batch_size, self._types) if positions else None
                if read is None or read.last is None:
                    self._known = positions
                    self._serve(None, None)
                    return delivered
                shares = []
                for i, follower in enumerate(self.followers):
                    seen = positions[i]
                    if seen is None or seen < read.last:
                        # Of its own types only, when it says which; may be none: it moves on.
                        unseen = read.since(seen, getattr(follower, "event_types", None))
                        shares.append((follower, unseen, read.last))
                        positions[i] = read.last
                        delivered += max(1, len(unseen))
                for group in _together(shares):
                    self._apply_group(group)
                self._serve(read.last, None)
                self._after_batch()
            self._known = positions
            return delivered

    def forget_positions(self) -> None:
        """Another process moved the followers (e.g. the routing process): read them again."""
        with self._delivering:
            self._known = None

    def start(self) -> None:
        """Deliver on a background thread from now on (embedded API)."""
        if self._thread is None:
            self.forget_positions()
            with self._state:
                self._stopping = False  # a lane stopped before may be started again
            self._thread = threading.Thread(
                target=self._run, name=f"orderhub-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        with self._state:
            self._stopping = True
            let_go = [served for _, served in self._waiting] + self._asked
            self._waiting, self._asked = [], []
            self._state.notify_all()
        for served in let_go:  # no delivery will come: nobody waits for it
            served(0, None)
        thread.join()

    def nudge(self) -> None:
        """Something new was recorded: deliver it, nobody waits."""
        with self._state:
            self._nudged = True
            self._state.notify_all()

    def request(self, on_served: Served) -> None:
        """Call `on_served` once everything recorded before now is delivered (at once when the
        lane is not running)."""
        with self._state:
            if self._thread is None or self._stopping:
                now = True
            else:
                now = False
                self._asked.append(on_served)
                self._state.notify_all()
        if now:
            on_served(0, None)

    def _run(self) -> None:
        while True:
            with self._state:
                self._state.wait_for(lambda: self._nudged or self._asked or self._stopping)
                if self._stopping:
                    return
                self._nudged = False
            try:
                self._catch_up(background=True)
            except Exception as failed:  # reported to the callers; the next request retries
                log.exception("in-process delivery failed (%s lane)", self.name)
                self._take_up_requests()
                self._serve(None, failed)

    def _take_up_requests(self) -> None:
        with self._state:
            if not self._asked:
                return
            asked, self._asked = self._asked, []
        end = self._store.max_position()  # one look at the log's end for all of them
        with self._state:
            self._waiting.extend((end, served) for served in asked)

    def _serve(self, delivered_to: int | None, error: Exception | None) -> None:
        """Tell the callers waiting for no more than `delivered_to` (None: all of them)."""
        with self._state:
            if delivered_to is None:
                served, self._waiting = self._waiting, []
            else:
                served = [w for w in self._waiting if w[0] <= delivered_to]
                self._waiting = [w for w in self._waiting if w[0] > delivered_to]
        for position, on_served in served:
            on_served(position, error)

    def _apply_group(self, group: list[Share]) -> None:
        """Views of one database write their shares in one transaction (one commit per batch
        instead of one per view); if that fails, each is given its share on its own."""
        views = [
            (view, envelopes_of(share), {STREAM: last})
            for view, share, last in group
            if isinstance(view, SqlView)
        ]
        if len(views) > 1 and len(views) == len(group):
            try:
                write_together(views)
                return
            except Exception:
                log.exception("views failed on a batch together; delivering view by view")
        for follower, share, last in group:
            self._apply(follower, share, last)

    def _apply(self, follower: Follower, batch: list[Entry], last: int) -> None:
        try:
            follower.apply(envelopes_of(batch), {STREAM: last})
        except Exception:
            log.exception("%s failed on a batch; delivering one by one", follower_name(follower))
            self._one_by_one(follower, batch, last)

    def _one_by_one(self, follower: Follower, batch: list[Entry], last: int) -> None:
        for position, env in batch:
            try:
                follower.apply([env], {STREAM: position})
            except Exception as error:
                log.exception("%s cannot handle %s; parking it", follower_name(follower), env.id)
                if self._park is not None:
                    self._park(follower_name(follower), env, error)
                follower.apply([], {STREAM: position})  # move past it
        if not batch or batch[-1][0] < last:
            follower.apply([], {STREAM: last})  # past the events of other types read with them


def envelopes_of(batch: list[Entry]) -> list[EventEnvelope]:
    return [env for _, env in batch]


def _together(shares: list[Share]) -> list[list[Share]]:
    """The shares in the followers' order, the SQL views of one database next to each other
    grouped (a follower that must see a batch before the next one does keeps its turn)."""
    groups: list[list[Share]] = []
    for share in shares:
        follower, before = share[0], groups[-1][-1][0] if groups else None
        if (
            isinstance(follower, SqlView)
            and isinstance(before, SqlView)
            and before.database is follower.database
        ):
            groups[-1].append(share)
        else:
            groups.append([share])
    return groups


def types_read_by(followers: list[Follower]) -> frozenset[str] | None:
    """The event types the followers read, when each of them says (`event_types`): the lane
    decodes those only. None (every event) when one of them does not say."""
    read: set[str] = set()
    for follower in followers:
        declared: frozenset[str] | None = getattr(follower, "event_types", None)
        if declared is None:
            return None
        read.update(declared)
    return frozenset(read) if followers else None


def follower_name(follower: Follower) -> str:
    return str(getattr(follower, "name", type(follower).__name__))
