"""PostgreSQL tells the relay when events were committed (LISTEN/NOTIFY), so it need not poll.

Polling the notification log every 50 ms cost the relay and PostgreSQL some 30 ms of CPU a
second with nothing to publish (benchmarks/README.md), and made a lone event wait up to 50 ms.
A statement trigger on the event table raises a notice on one channel; PostgreSQL delivers it
when the inserting transaction commits (never for one rolled back) and folds a transaction's
notices into one. Any writer (API, intake, orchestration, fulfillment) wakes the relay so.

A notice only wakes the relay; the log is the truth. The relay clears the wake-up before each
read, so a notice arriving during a read is not lost, and still reads every `fallback` seconds
without one: a notice lost with the listening connection, or a writer that bypassed the
trigger, delays events by that much at most, never drops them. While the connection is down the
relay polls as before, and the listener reconnects with backoff.
"""

import asyncio
import logging

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

CHANNEL = "orderhub_events_committed"
_FUNCTION = "orderhub_notify_events_committed"


def install_trigger(conninfo: str, table: str, schema: str = "public") -> None:
    """The trigger on the event table (idempotent; PostgreSQL 14+ for CREATE OR REPLACE)."""
    statements = [
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN PERFORM pg_notify({channel}, ''); RETURN NULL; END $$"
        ),
        sql.SQL(
            "CREATE OR REPLACE TRIGGER {function} AFTER INSERT ON {schema}.{table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION {schema}.{function}()"
        ),
    ]
    names = {
        "schema": sql.Identifier(schema),
        "table": sql.Identifier(table),
        "function": sql.Identifier(_FUNCTION),
        "channel": sql.Literal(CHANNEL),
    }
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        for statement in statements:
            conn.execute(statement.format(**names))


class StoreNotices:
    """A listening connection that sets `woken` on every notice of a commit."""

    def __init__(self, conninfo: str, reconnect_seconds: float = 1.0) -> None:
        self._conninfo = conninfo
        self._reconnect_seconds = reconnect_seconds
        self.woken = asyncio.Event()
        self.listening = False
        self.notices = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until told to stop, reconnecting after a failure."""
        while not stop.is_set():
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self.listening = True
                    self.woken.set()  # whatever was committed while not listening
                    await self._relay_notices(conn, stop)
            except (psycopg.Error, OSError) as error:
                log.warning("relay wake-ups: %s; polling till reconnected", error)
            finally:
                self.listening = False
            if not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self._reconnect_seconds)
                except TimeoutError:
                    pass

    async def _relay_notices(self, conn: psycopg.AsyncConnection, stop: asyncio.Event) -> None:
        # Each generator waits at most a second, so a stop is seen; a notice that arrives
        # between two of them waits in the socket for the next.
        while not stop.is_set():
            async for _ in conn.notifies(timeout=1.0):
                self.notices += 1
                self.woken.set()
