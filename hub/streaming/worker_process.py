"""One worker role as a process (`orderhub worker --role X`): its topics made, its event loop
(uvloop's), its Faust worker run until SIGTERM/SIGINT, then its hub closed."""

import asyncio
import signal
from asyncio import AbstractEventLoop

import faust

from hub.bootstrap import bootstrap
from hub.settings import Settings
from hub.streaming.event_loop import new_event_loop
from hub.streaming.kafka_parts import KafkaParts
from hub.streaming.roles import Role
from hub.streaming.worker import create_worker_app


def faust_worker(app: faust.App, settings: Settings) -> faust.Worker:
    """Faust's worker on the app's loop, without its terminal spinner: at a log level of
    WARNING or above, Faust keeps the spinner and, to turn it on every log record, sets the
    root logger to DEBUG. Every debug call of aiokafka, mode and the CEL evaluator then built a
    record and handed it to a handler (py-spy: 1.5-4 % of each role's CPU) only for the other
    handlers to drop it."""
    worker = faust.Worker(app, loop=app.loop, loglevel=settings.log_level.upper(), quiet=True)
    worker.spinner = None
    return worker


def run_worker(settings: Settings, role: Role) -> None:
    """Create missing topics, then run one role's Faust worker until SIGTERM/SIGINT (one before
    Faust runs ends the start-up by SystemExit(0): hub.cli.worker)."""
    asyncio.run(KafkaParts(settings).ensure_topics())
    settings = asyncio.run(KafkaParts(settings).bounded_settings())
    kafka = KafkaParts(settings)
    # The app and the worker are given the loop rather than left to find it: mode keeps the
    # first loop a thread asked it for, whatever asks first.
    loop: AbstractEventLoop = new_event_loop()  # asyncio.run closed the previous one
    asyncio.set_event_loop(loop)
    hub = bootstrap(settings)
    try:
        if role is Role.ORCHESTRATION:
            hub.start_supply()  # the supply view ready before the first order
        publisher = kafka.publisher(role.value)
        worker = faust_worker(create_worker_app(hub, publisher, role, loop), settings)
        worker.execute_from_commandline()
    finally:
        # uvloop leaves its own handlers on these once its loop is closed, which ignore the
        # signal: a second SIGTERM or Ctrl-C while the hub closes would wait for a SIGKILL.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        hub.close()
