"""The API process's own captures as a stage of admission control (hub.api.admission).

Embedded, the API's capture (parse, store, hand to routing) was the bottleneck, not routing:
requests queued in the process while routing's backlog stayed small, so admission never shed
and accepted orders waited tens of seconds for their answer. A capture request waits in this
process first; `CaptureCount` counts them (an ASGI middleware: it sees every capture request
end, whatever answered it) and `stage()` gives the same look as the other stages: what waits
(captures begun and not answered), the age of the oldest, and the rate captures are answered
while some are in flight. Refusals (4xx: shed, rate-limited, invalid) are left out of that
rate: they take ~2 ms and would make a capture look fast. The count's `Lag` joins the routing
stages' in `Admission` (an order waits here, then for routing).

That stage never saw an embedded overload (issue 10's network, 750/s offered): a client with
64 connections held its queue itself, the hub only ever saw 64 captures, each answered within
~150 ms, and its look (a capture in flight at one look and still at the next, 0.2 s later)
never measured a rate. The client's orders waited seconds for a connection, none was shed.
So with `answer_within` (embedded, `ORDERHUB_ADMISSION_CAPTURE_SECONDS`) the count also caps
the captures let in at once at the rate they are taken times that (Little's law: an accepted
capture then waits about that long), measured over the time some capture was in flight;
`full()` beyond it: the capture is answered 429 at once, having read and stored nothing, and
the client's connection is free for its next order.
"""

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from hub.api.admission import BusyRate, Lag

# Seconds of looks the answer rate is measured over: a loaded machine's share of a core moves
# within seconds, and the cap must follow it.
RATE_WINDOW = 3.0
RATE_MIN_TAKEN = 20  # captures taken in the window before the rate is a rate, not a latency
# Let in whatever the rate: a rate measured while capped low grows back (more in flight, more
# taken a second) as long as `answer_within` exceeds a lone capture's latency. It may not (a
# starved process: 8 let in, a capture answered in ~180 ms, 40/s): the captures in flight are
# taken in batches (group commit, the views lane's passes), so a few more cost them little.
MIN_CAP = 16

CAPTURE_PATHS = ("/v1/orders", "/v1/intake/")  # POST: the routes that call Admission.check()


def is_capture(scope: dict[str, Any]) -> bool:
    path = str(scope.get("path", ""))
    return (
        scope.get("type") == "http"
        and scope.get("method") == "POST"
        and (path == CAPTURE_PATHS[0] or path.startswith(CAPTURE_PATHS[1]))
    )


class CaptureCount:
    """Captures in flight in this process, and the rate they are taken (answered 2xx)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, answer_within: float = 0.0
    ) -> None:
        self._clock = clock
        self._answer_within = answer_within  # 0: no cap
        self._busy_since = 0.0  # when the captures in flight last rose from none
        self._busy = 0.0  # seconds with some capture in flight, since the previous look
        self._paced: deque[tuple[float, int, float]] = deque()  # (look, taken, busy seconds)
        self.cap: int | None = None  # captures let in at once; None: no cap (not measured)
        self._next = 0
        self._open: dict[int, float] = {}  # token -> when it began; insertion order: oldest first
        self._answered = 0  # captures taken (answered < 400) since the start
        self._last_answered = 0
        self._last_begun = 0  # the newest token at the previous look
        self._rate = BusyRate()
        self.arrived = asyncio.Event()  # set at each capture: wakes an idle admission's look

    def begin(self) -> int:
        self.arrived.set()
        if not self._open:
            self._busy_since = self._clock()
        self._next += 1
        self._open[self._next] = self._clock()
        return self._next

    def end(self, token: int, captured: bool) -> None:
        if self._open.pop(token, None) is None:
            return
        if captured:
            self._answered += 1
        if not self._open:
            self._busy += self._clock() - self._busy_since

    def full(self) -> bool:
        """More captures in flight (this one counted) than the cap lets in."""
        return self.cap is not None and len(self._open) > self.cap

    def stage(self) -> Lag:
        """One look, as a stage of routing is looked at (`StageLag.observe`)."""
        now = self._clock()
        waiting = len(self._open)
        age = now - next(iter(self._open.values())) if waiting else 0.0
        done, self._last_answered = self._answered - self._last_answered, self._answered
        # A capture in flight at the previous look is still (tokens grow; the oldest first).
        kept = waiting > 0 and next(iter(self._open)) <= self._last_begun
        self._last_begun = self._next
        self._pace(now, done)
        return Lag(age, waiting, self._rate.drain_seconds(now, done, waiting, kept))

    def _pace(self, now: float, taken: int) -> None:
        """The cap from the captures taken per second some capture was in flight."""
        busy, self._busy = self._busy, 0.0
        if self._open:
            busy += now - self._busy_since
            self._busy_since = now
        if self._answer_within <= 0:
            return
        self._paced.append((now, taken, busy))
        while now - self._paced[0][0] > RATE_WINDOW:
            self._paced.popleft()
        taken = sum(look[1] for look in self._paced)
        seconds = sum(look[2] for look in self._paced)
        if taken < RATE_MIN_TAKEN or seconds <= 0:
            self.cap = None  # idle or just started: nothing says what the hub can take
            return
        self.cap = max(MIN_CAP, math.ceil(taken / seconds * self._answer_within))


class CountCaptures:
    """ASGI middleware: each capture request counted from its start to its response's start
    (its answer is decided then; the body may still be sent). The count is the app's
    admission's (`app.state.admission.captures`), made at start-up."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        admission = getattr(getattr(scope.get("app"), "state", None), "admission", None)
        count: CaptureCount | None = getattr(admission, "captures", None)
        if count is None or not is_capture(scope):
            await self.app(scope, receive, send)
            return
        token = count.begin()

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                count.end(token, captured=int(message["status"]) < 400)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            count.end(token, captured=False)  # no answer at all (ends once only): not counted
