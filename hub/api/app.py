"""The FastAPI application factory."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from connectors.lag import LagProbe
from hub.api import console
from hub.api.admission_inflight import CountCaptures
from hub.api.admission_sources import admission_for
from hub.api.auth_throttle import AuthThrottle
from hub.api.capture_path import CaptureFastPath
from hub.api.guard import RequestGuard
from hub.api.openapi import install_openapi
from hub.api.problems import install_problem_handlers
from hub.api.ratelimit import RateLimiter
from hub.api.route_table import build_route_table
from hub.api.routes import (
    channels,
    decisions,
    events,
    fulfillment,
    health,
    intake,
    ops,
    orders,
    policies,
    sources,
    stock,
    submissions,
    what_if,
)
from hub.api.settling import RoutingPendingHeader
from hub.bootstrap import Hub, bootstrap
from hub.services.rerun import warm_in_background
from hub.services.vouched import proof_for
from hub.settings import Settings
from hub.streaming.kafka_parts import KafkaParts
from hub.streaming.roles import role_groups
from hub.streaming.submissions import SubmissionGateway
from hub.streaming.watchdog import ConsumerWatch

log = logging.getLogger(__name__)


def create_app(hub: Hub | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the API around a hub (built from settings when not given) without connecting yet."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        the_hub = hub or bootstrap(settings or Settings())
        app.state.hub = the_hub
        app.state.capture = the_hub.capture
        publisher = None
        s = the_hub.settings
        if app.state.auth_throttle is None:  # a test may have given its own
            app.state.auth_throttle = AuthThrottle.from_settings(s)
        app.state.consumer_watch = None
        watch_task = None
        probe = None
        if s.kafka_bootstrap is not None:
            kafka = KafkaParts(s)
            await kafka.ensure_topics(wait=False)
            # Closed batches, sent at once: the gateway gathers the requests' records itself.
            publisher = kafka.publisher("api", whole_batches=True)
            await publisher.start()
            # The producer's linger spent before the duplicate checks, not after: a round of
            # checks waits it for others, and its new orders go out together, without waiting
            # again (hub.services.existing_checks).
            gateway = SubmissionGateway(publisher, s.topic("submitted"), proof=proof_for(s))
            app.state.capture = the_hub.capture.handing_new_orders_to(
                gateway.submit, gather_seconds=s.kafka_linger_ms / 1000
            )
            app.state.consumer_watch = consumer_watch(the_hub, kafka)
            watch_task = asyncio.create_task(app.state.consumer_watch.run())
            probe = LagProbe(s.kafka_bootstrap)
        clock_task = None
        if s.kafka_bootstrap is None:
            # From now on the read models' lane and routing's lane deliver in the background
            # (routing in a second process: Settings.routing_process); requests share their
            # batches (hub.seen_by_views, hub.delivered).
            the_hub.start_delivery()
            # Embedded: this process is the only one; it runs the jeopardy clock too.
            clock_task = asyncio.create_task(jeopardy_clock(the_hub))
        # Built again at each start (it reads this start's hub), unless a test gave its own.
        if app.state.admission is None or app.state.admission_built:
            channels = [c.channel_id for c in the_hub.access.channels()] if probe else []
            app.state.admission = admission_for(the_hub, probe, channels)
            app.state.admission_built = True
        admission_task = None
        if app.state.admission.enabled:
            admission_task = asyncio.create_task(app.state.admission.run())
        # What the first re-run (or what-if) would pay, paid now in the background; a served
        # process then freezes what it has loaded (hub.collector.freeze_what_is_loaded).
        warming = warm_in_background(
            getattr(app.state, "freeze_at_start", False),
            the_hub.store,
            the_hub.policies,
            first=lambda: build_route_table(app),  # FastAPI builds routes at first use
        )
        try:
            yield
        finally:
            for task in (clock_task, watch_task, admission_task):
                if task is not None:
                    task.cancel()
            if probe is not None:
                await probe.stop()
            # The warming reads the store: it ends before the hub (and its SQLite connection)
            # can be closed under it (a read on a closed connection crashed the process).
            await asyncio.to_thread(warming.join, 30)
            jobs = getattr(app.state, "what_if_jobs", None)
            if jobs is not None:
                await asyncio.to_thread(jobs.stop)  # each run's reading process ends with it
            the_hub.stop_delivery()
            if publisher is not None:
                await publisher.stop()
            if hub is None:
                the_hub.close()

    app = FastAPI(
        title="OrderHub",
        version="0.1.0",
        description="Event-sourced order orchestration hub.",
        lifespan=lifespan,
    )
    app.state.rate_limiter = RateLimiter()
    app.state.admission = None  # made at start-up from the hub's settings (hub.api.admission)
    app.state.admission_built = False
    # Made here when the hub is given (a test may replace it), else at start-up from settings.
    app.state.auth_throttle = AuthThrottle.from_settings(hub.settings) if hub is not None else None
    app.add_middleware(CaptureFastPath)  # innermost: POST /v1/orders without the router
    app.add_middleware(CountCaptures)  # inside the guard: a 401 is not a capture (admission)
    app.add_middleware(RequestGuard)
    app.add_middleware(RoutingPendingHeader)  # says when routing did not take a command up
    install_openapi(app)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(orders.router)
    app.include_router(decisions.router)
    app.include_router(sources.router)
    app.include_router(stock.router)
    app.include_router(what_if.router)
    app.include_router(policies.router)
    app.include_router(submissions.router)
    app.include_router(channels.router)
    app.include_router(intake.router)
    app.include_router(fulfillment.router)
    app.include_router(ops.router)
    app.include_router(events.router)
    app.include_router(console.router)
    return app


def consumer_watch(hub: Hub, kafka: KafkaParts) -> ConsumerWatch:
    """The workers' consumer groups, watched for stalls (reported by /healthz)."""
    channels = [c.channel_id for c in hub.access.channels()]
    return kafka.consumer_watch(role_groups(hub.settings, channels))


async def jeopardy_clock(hub: Hub) -> None:
    while True:
        await asyncio.sleep(hub.settings.jeopardy_interval_seconds)
        try:
            await asyncio.to_thread(hub.jeopardy.tick)
            await hub.delivered()
        except Exception:
            log.exception("jeopardy clock failed; the next tick will try again")


def app_from_environment() -> FastAPI:
    """The app as `orderhub serve` runs it (uvicorn's factory, once per worker process)."""
    app = create_app(settings=Settings())
    app.state.freeze_at_start = True  # one server per process: see hub.collector
    return app
