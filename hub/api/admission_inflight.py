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
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from hub.api.admission import BusyRate, Lag

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

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next = 0
        self._open: dict[int, float] = {}  # token -> when it began; insertion order: oldest first
        self._answered = 0  # captures taken (answered < 400) since the start
        self._last_answered = 0
        self._last_begun = 0  # the newest token at the previous look
        self._rate = BusyRate()
        self.arrived = asyncio.Event()  # set at each capture: wakes an idle admission's look

    def begin(self) -> int:
        self.arrived.set()
        self._next += 1
        self._open[self._next] = self._clock()
        return self._next

    def end(self, token: int, captured: bool) -> None:
        if self._open.pop(token, None) is not None and captured:
            self._answered += 1

    def stage(self) -> Lag:
        """One look, as a stage of routing is looked at (`StageLag.observe`)."""
        now = self._clock()
        waiting = len(self._open)
        age = now - next(iter(self._open.values())) if waiting else 0.0
        done, self._last_answered = self._answered - self._last_answered, self._answered
        # A capture in flight at the previous look is still (tokens grow; the oldest first).
        kept = waiting > 0 and next(iter(self._open)) <= self._last_begun
        self._last_begun = self._next
        return Lag(age, waiting, self._rate.drain_seconds(now, done, waiting, kept))


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
