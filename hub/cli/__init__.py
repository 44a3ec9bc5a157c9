"""The `orderhub` command: serve the API, run the worker or the relay, create topics."""

import asyncio
import logging
import os
import signal
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console

from hub.api.http_protocol import OneWriteProtocol
from hub.cli.decisions import decision_commands
from hub.cli.groups import groups_command
from hub.cli.what_if import what_if_command
from hub.settings import Settings

app = typer.Typer(help="OrderHub: event-sourced order orchestration hub.", no_args_is_help=True)
console = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as invalid:
        # A setting the hub cannot run with (e.g. a short ORDERHUB_ADMIN_API_KEY): say which and
        # why, and refuse to start.
        for error in invalid.errors():
            name = "ORDERHUB_" + "_".join(str(p) for p in error["loc"]).upper()
            message = error.get("ctx", {}).get("error", error["msg"])
            console.print(f"[red]{name}: {message}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


def _name_connections(name: str) -> None:
    """PostgreSQL shows this process's connections as `orderhub-<name>` (libpq reads
    PGAPPNAME): pg_stat_activity and pg_stat_statements tell the roles apart. A name given by
    the operator is kept."""
    os.environ.setdefault("PGAPPNAME", f"orderhub-{name}")


app.add_typer(decision_commands(_settings), name="decision")


app.command("what-if")(what_if_command(_settings))
app.command("groups")(groups_command(_settings))


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Bind address (default ORDERHUB_API_HOST)"),
    port: int | None = typer.Option(None, help="Port (default ORDERHUB_API_PORT, 8000)"),
    workers: int = typer.Option(
        1, min=1, help="API processes (distributed mode only: they share nothing but Kafka and PG)"
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Embedded mode: fill an empty hub with demo sources, stock, orders"
    ),
) -> None:
    """Run the API and the console. With no configuration: embedded mode, SQLite in
    ./orderhub-data."""
    settings = _settings()
    _name_connections("api")
    if demo:
        _seed_demo(settings)
    mode = "distributed" if settings.distributed else "embedded"
    if workers > 1 and not settings.distributed:
        console.print("[red]--workers > 1 needs distributed mode (one SQLite writer).[/red]")
        raise typer.Exit(2)
    store = settings.database_url or f"SQLite in {settings.data_dir}/"
    console.print(f"[bold]OrderHub[/bold] {mode} mode; event store: {store}")
    if not settings.auth_required:
        console.print(
            "[yellow]Auth is off: requests without an API key act as an admin. Set "
            "ORDERHUB_AUTH_REQUIRED=true (and ORDERHUB_ADMIN_API_KEY) for anything but a trial."
            "[/yellow]"
        )
    uvicorn.run(
        "hub.api.app:app_from_environment",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # Above info the access log prints nothing, yet uvicorn formats each request's line
        # arguments (client, quoted path) before the logger drops it.
        access_log=_logs_info(settings.log_level),
        # httptools, each answer written to the socket once (head and body), not twice.
        http=OneWriteProtocol,
    )


def _logs_info(level: str) -> bool:
    return level.lower() in ("trace", "debug", "info")


def _seed_demo(settings: Settings) -> None:
    if settings.distributed:
        console.print("[red]--demo is for embedded mode (no Kafka, no PostgreSQL).[/red]")
        raise typer.Exit(2)
    from hub.bootstrap import bootstrap
    from hub.tools.demo import seed

    hub = bootstrap(settings)
    try:
        placed = seed(hub)
    finally:
        hub.close()
    console.print(f"demo data: {placed} orders placed" if placed else "demo data: hub not empty")


@app.command()
def rebuild(
    view: Annotated[
        list[str] | None, typer.Argument(help="Views to rebuild (default: all of them)")
    ] = None,
) -> None:
    """Rebuild read models from the event store (e.g. after changing a projection)."""
    settings = _settings()
    from rich.progress import Progress, TaskID

    from hub.bootstrap import bootstrap
    from hub.tools.rebuild import rebuild as replay
    from hub.tools.rebuild import views

    hub = bootstrap(settings)
    try:
        known = views(hub)
        unknown = sorted(set(view or []) - set(known))
        if unknown:
            console.print(f"[red]unknown view(s) {unknown}; known: {sorted(known)}[/red]")
            raise typer.Exit(2)
        with Progress(console=console) as progress:
            for name in view or sorted(known):
                task = progress.add_task(name, total=None)

                def advance(done: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done)

                count = replay(hub, known[name], progress=advance)
                progress.update(task, completed=count, total=count)
    finally:
        hub.close()


@app.command()
def worker(
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            help="intake, orchestration, fulfillment or projections (repeat for several). "
            "One role: that role's Faust worker in this process. Several or none (all): one "
            "process per role, each restarted when it exits.",
        ),
    ] = None,
) -> None:
    """Run the Faust agents. Needs ORDERHUB_KAFKA_BOOTSTRAP and ORDERHUB_DATABASE_URL."""
    _leave_cleanly_if_stopped_while_starting()
    settings = _settings()
    _require_kafka(settings)
    from hub.streaming.roles import Role

    try:
        roles = [Role(r) for r in role] if role else list(Role)
    except ValueError as error:
        console.print(f"[red]{error}; roles: {', '.join(r.value for r in Role)}[/red]")
        raise typer.Exit(2) from None
    if len(roles) == 1:
        from hub.collector import collect_for_batches
        from hub.streaming.worker_process import run_worker

        _name_connections(roles[0].value)
        collect_for_batches()  # after Faust's, aiokafka's and the hub's imports
        run_worker(settings, roles[0])
    else:
        from hub.streaming.supervisor import Supervisor

        raise typer.Exit(Supervisor(settings, roles).run())


def _leave_cleanly_if_stopped_while_starting() -> None:
    """A worker told to stop (SIGTERM, SIGINT) while it starts (importing Faust, creating
    topics, building its supply view), before Faust handles signals itself, leaves with exit
    code 0 as a stopped worker should, not ended by the signal (-15): nothing was consumed yet.
    Faust (or the supervisor) puts its own handlers in place of this one once it runs."""

    def leave(signum: int, frame: object) -> None:
        logging.getLogger("hub.cli").warning(
            "%s while the worker was starting: stopping", signal.Signals(signum).name
        )
        raise SystemExit(0)

    for stopping in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stopping, leave)


@app.command()
def relay() -> None:
    """Publish the event store's log to Kafka, in order, from the saved position."""
    settings = _settings()
    _require_kafka(settings)
    _name_connections("relay")
    from hub.free_memory import one_malloc_arena
    from hub.streaming.event_loop import run_in_loop

    one_malloc_arena()  # before its first thread (hub.collector.collect_for_batches says why)
    from hub.streaming.relay import run_relay

    async def main() -> None:
        stop = asyncio.Event()  # made in the loop it is waited in
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_relay(settings, stop)

    run_in_loop(main())


@app.command("simulate-warehouse")
def simulate_warehouse(
    source: str = typer.Option(..., "--source", help="The source id to play"),
    reject_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of requests rejected"),
    fail_rate: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of failed deliveries"),
    delay: float = typer.Option(0.0, min=0.0, help="Seconds between two updates"),
    seed: int | None = typer.Option(None, help="Random seed, for repeatable runs"),
) -> None:
    """Play a warehouse on Kafka: answer its fulfillment requests with realistic updates."""
    settings = _settings()
    if settings.kafka_bootstrap is None:
        console.print("[red]Set ORDERHUB_KAFKA_BOOTSTRAP first.[/red]")
        raise typer.Exit(2)
    from hub.tools.simulator import Behaviour, WarehouseSimulator

    simulator = WarehouseSimulator(settings, source, Behaviour(reject_rate, fail_rate, delay, seed))
    stop = asyncio.Event()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await simulator.run(stop)

    asyncio.run(main())


@app.command()
def topics() -> None:
    """Create the hub's topics (missing ones only) with the configured partition count."""
    settings = _settings()
    _require_kafka(settings)
    from hub.streaming.kafka_parts import KafkaParts

    created = asyncio.run(KafkaParts(settings).ensure_topics(wait=False))
    console.print(f"created: {created or 'nothing, all exist'}")


def _require_kafka(settings: Settings) -> None:
    if settings.kafka_bootstrap is None:
        console.print("[red]Set ORDERHUB_KAFKA_BOOTSTRAP (and ORDERHUB_DATABASE_URL) first.[/red]")
        raise typer.Exit(2)
    if settings.database_url is None:
        console.print("[red]Distributed mode needs ORDERHUB_DATABASE_URL=postgresql://…[/red]")
        raise typer.Exit(2)
