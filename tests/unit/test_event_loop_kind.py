"""The relay and the worker roles run on uvloop where it is installed (it is, with
uvicorn[standard] in the lock): asyncio's selector loop, in Python, was a visible share of
their CPU."""

import asyncio

import uvloop

from hub.streaming.event_loop import new_event_loop, run_in_loop


def test_new_loops_are_uvloops() -> None:
    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_run_in_loop_runs_the_coroutine_on_uvloop() -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        await asyncio.sleep(0)
        seen.append(asyncio.get_running_loop())

    run_in_loop(main())
    assert len(seen) == 1 and isinstance(seen[0], uvloop.Loop)
