"""The event loop the hub's long-running processes run on: uvloop's where it is installed (it
comes with uvicorn[standard], which `serve` runs on already), else asyncio's.

The relay and each worker role are loops of small steps (a fetch answered, a batch handed to a
thread and back, a produce request, a commit): asyncio's selector loop, in Python, was a tenth
of the relay's busy samples and a visible share of each role's (py-spy, benchmarks/README.md).
aiokafka, psycopg's async connections and Faust (mode) run on either."""

import asyncio
from collections.abc import Coroutine
from typing import Any


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed wherever uvicorn[standard] is
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_in_loop(main: Coroutine[Any, Any, None]) -> None:
    """`main` to completion in a new loop of `new_event_loop`'s kind."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main)
