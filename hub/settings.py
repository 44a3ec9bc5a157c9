"""One Settings object; the eventsourcing env, Kafka and Faust settings all derive from it."""

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import AwareDatetime, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.topic_names import TOPIC_DEFAULTS

# An operator-chosen secret that acts as admin: long enough that guessing it is hopeless.
MIN_ADMIN_KEY_LENGTH = 32


class Settings(BaseSettings):
    """Read from ORDERHUB_* environment variables (or a .env file)."""

    model_config = SettingsConfigDict(env_prefix="ORDERHUB_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="postgresql://user:pass@host:port/db; unset = SQLite files in data_dir",
    )
    data_dir: Path = Field(default=Path("orderhub-data"), description="Embedded mode's files")
    kafka_bootstrap: str | None = Field(
        default=None, description="host:port[,host:port]; unset = embedded in-process delivery"
    )
    store_connection_max_age_seconds: float = Field(
        default=600.0,
        gt=0,
        description="The event store's PostgreSQL connections are replaced after this long "
        "(each keeps buffers as large as the largest message it has carried until closed)",
    )
    topic_prefix: str = Field(default="", description="Prepended to every topic name")
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    consumer_group: str = Field(
        default="orderhub", description="Prefix of the workers' consumer groups (one per role)"
    )
    worker_id: str | None = Field(
        default=None,
        description="This worker's stable name (static group membership: a restart takes its "
        "partitions back at once). Unset: the host name. Unique per worker process and role.",
    )
    static_membership: bool = Field(
        default=True, description="Join consumer groups with group.instance.id = worker id + role"
    )
    kafka_session_timeout_seconds: float = Field(
        default=10.0, ge=6.0, description="A dead worker's partitions move after this long"
    )
    kafka_heartbeat_seconds: float = Field(default=1.0, gt=0)
    kafka_rebalance_timeout_seconds: float = Field(
        default=20.0, gt=0, description="How long members have to rejoin during a rebalance"
    )
    stall_seconds: float = Field(
        default=120.0,
        gt=0,
        description="A consumer group with lag and no commit for this long is stalled: "
        "its workers exit (to be restarted) and /healthz says so",
    )
    watch_interval_seconds: float = Field(default=5.0, gt=0, description="Lag probe interval")
    worker_health_port: int | None = Field(
        default=None,
        description="Serve the worker's /healthz on this port (the n-th role of `orderhub "
        "worker` on port + n); unset: no health endpoint",
    )
    kafka_max_record_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1_048_576,
        description="The largest record the hub's topics take (their max.message.bytes, set "
        "when the hub creates them) and its producers send: an event is published whole, and "
        "accepted input can make one over the broker's 1 MB default (a 500-line order's "
        "decision over many holders, a rejected 10 MB CSV); one over the smallest limit of the "
        "topics (this, or less on a topic that existed: topics that exist keep theirs), less "
        "64 KiB, goes out as a claim check (headers and a ce_dataref to "
        "GET /v1/events/{subject}/{sequence})",
    )
    kafka_linger_ms: int = Field(
        default=5,
        ge=0,
        description="How long the hub's producers (API, workers) hold a record for others to "
        "join its batch; each lone record waits this long before it is sent (the relay sends "
        "closed batches at once; the API waits it before a round of duplicate checks, then "
        "sends the round's new orders at once)",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_body_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest request body, except bulk intake"
    )
    max_bulk_body_bytes: int = Field(
        default=10_000_000, ge=1024, description="Largest native intake payload (CSV bulk, feeds)"
    )
    admission_max_lag_seconds: float = Field(
        default=5.0,
        ge=0,
        description="Capture answers 429 (Retry-After) while a new order could expect to wait "
        "more than half of this for routing (the backlog at each stage's drain rate), or the "
        "oldest order waiting has waited longer than this; 0 turns admission control off",
    )
    admission_sample_seconds: float = Field(
        default=0.2, gt=0, le=5, description="How often the routing backlog is looked at"
    )
    admission_max_retry_seconds: int = Field(
        default=30, ge=1, description="Longest Retry-After a shed capture is given"
    )
    admission_capture_seconds: float = Field(
        default=0.1,
        ge=0,
        description="Embedded: the captures let in at once are capped at the rate the API "
        "takes them times this (an accepted one then waits about this long for its answer); "
        "one beyond the cap is answered 429 at once; 0 turns the cap off",
    )

    intake_batch_size: int = Field(default=500, ge=1)
    relay_batch_size: int = Field(
        default=2000,
        ge=1,
        description="The most events the relay reads and hands the Kafka client at a time, as "
        "one record batch per partition. The client sends each broker one request at a time, "
        "taking one batch per partition, so over a backlog larger reads pay that round trip "
        "less often; a steady flow reads what has come since the last read",
    )
    relay_read_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024 * 1024,
        description="On PostgreSQL, a relay read stops after the event that takes the stored "
        "sizes of the states it passes over this many bytes: the relay holds a read's events "
        "at once, decoded and encoded, and a backlog of large events (rejected bulk files, "
        "10 MB each) read 2,000 at a time would take tens of GB",
    )
    relay_batches_ahead: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Over a backlog, the relay hands the Kafka client up to this many batches "
        "beyond the one it waits for (0: each batch acknowledged before the next is read)",
    )
    relay_poll_seconds: float = Field(default=0.05, gt=0)
    # PostgreSQL wakes the relay on each commit (LISTEN/NOTIFY); it still reads this often
    # without a notice. SQLite has no notices: the relay polls every relay_poll_seconds.
    relay_fallback_seconds: float = Field(default=1.0, gt=0)
    relay_save_seconds: float = Field(
        default=0.2,
        ge=0,
        description="The relay saves its position once for the batches the broker acknowledged "
        "within this long (0: after each batch); a crash re-publishes up to this much",
    )
    projection_batch_size: int = Field(default=500, ge=1)
    routing_process: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Embedded: run routing (the orchestrator, the backorder view it reads, "
        "billing) in a second process, so the API and the read models have a core of their "
        "own (both open the same store, a file or a database server). auto = on when the "
        "machine has more than one core; off = one process (routing on a thread of the API's)",
    )
    views_process: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Embedded: keep the read models (the views lane) in a process of their own "
        "too, so the API's process keeps HTTP and the event store's writes; a capture still "
        "answers once its order is readable. auto = on when the machine has more than one core",
    )
    routing_stall_seconds: float = Field(
        default=20.0,
        ge=2.0,
        description="Embedded, routing in a second process: a routing process silent this long "
        "(no sign of life from its work: a look at the log, a chunk of orders) is taken for hung, "
        "killed and started again. Above the store's lock wait (SQLite 10 s), so a routing "
        "process waiting its turn at the store is not taken for hung",
    )
    supply_checkpoint_events: int = Field(
        default=50_000,
        ge=1,
        description="The routing process checkpoints its supply view after this many supply "
        "events (a start then reads only the log after the newest checkpoint)",
    )
    supply_checkpoint_seconds: float = Field(
        default=60.0, gt=0, description="... or after this long, when anything was applied"
    )
    batch_window_seconds: float = Field(default=0.05, gt=0)
    order_window_seconds: float | None = Field(
        default=None,
        gt=0,
        description="On an order's way to its decision (the intake's submissions, the "
        "orchestration role's order events) the batch window instead of batch_window_seconds "
        "(unset: that one); each of the two hops waits up to it (benchmarks/README.md, latency9)",
    )
    views_window_seconds: float = Field(
        default=0.25,
        gt=0,
        description="Distributed: the projections role's batch window. An order's capture "
        "and its decision, a tenth of a second apart, then often fall in one batch, which "
        "writes its rows once, not once a burst; every read model is up to about this much "
        "later, and so are the backorder view's wake-ups (README, Read models)",
    )
    batch_window_at_broker: bool = Field(
        default=True,
        description="The worker's plain consumers with a window (not closing early) ask the "
        "broker to hold each fetch for their window, and take a fetch as their batch "
        "(idle, they ask for a fetch answered at the first record, which then waits out its "
        "window); off, a batch is topped up fetch by fetch within the window",
    )
    consumer_commit_seconds: float = Field(
        default=0.2,
        ge=0,
        description="The worker's plain consumers commit the offsets of the batches they "
        "handled together, at most this long after handling the first of them (0: after each "
        "batch). A crash reads up to this much again; every consumer applies a record once",
    )
    max_handler_attempts: int = Field(default=3, ge=1)
    batch_close_early: bool = Field(
        default=False,
        description="On an order's way to its decision (intake, routing's order events), a "
        "batch goes as soon as nothing more has arrived instead of waiting out "
        "batch_window_seconds: decided sooner at a low rate, but more CPU per order from 20/s "
        "up and less headroom at 100/s (benchmarks/README.md, h-latency)",
    )
    backorder_sweep_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often routing (a worker's orchestration role, the embedded hub's "
        "routing lane) tries the backordered orders again that could move, and forgets those "
        "no longer waiting",
    )
    jeopardy_margin_hours: float = Field(
        default=24.0,
        ge=0,
        description="An order not shipped this long before its promise is in jeopardy",
    )
    jeopardy_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often the jeopardy clock looks at open promises"
    )
    withdrawal_patience_minutes: float = Field(
        default=60.0,
        gt=0,
        description="An order `cancelling` this long (a source has not answered a withdrawal) "
        "is flagged to the exception queue (withdrawal_unconfirmed)",
    )
    demand_classes: list[str] = Field(
        default=["vip", "b2b", "standard", "staff"],
        description="Known demand classes, highest priority first (backorders are served so)",
    )
    tax_rates: dict[str, Decimal] = Field(
        default={
            "FR": Decimal("0.20"),
            "DE": Decimal("0.19"),
            "BE": Decimal("0.21"),
            "NL": Decimal("0.21"),
            "ES": Decimal("0.21"),
            "IT": Decimal("0.22"),
            "GB": Decimal("0.20"),
        },
        description="VAT rate by ship-to country for invoices (0 where not listed)",
    )
    auth_required: bool = Field(
        default=False,
        description="Refuse requests without an API key (turn on for anything but a trial)",
    )
    admin_api_key: str | None = Field(
        default=None,
        description="A bootstrap admin key, to issue the first real keys (at least "
        f"{MIN_ADMIN_KEY_LENGTH} characters; revoke it with DELETE /v1/keys/bootstrap)",
    )
    admin_api_key_expires_at: AwareDatetime | None = Field(
        default=None, description="When the bootstrap admin key stops working (time zone required)"
    )
    console_session_idle_minutes: float = Field(
        default=30.0, gt=0, description="A console session unused this long ends"
    )
    console_session_max_hours: float = Field(
        default=12.0,
        gt=0,
        description="A console session ends this long after sign-in (used or not)",
    )
    console_secure_cookie: bool = Field(
        default=False,
        description="Always mark the console cookie Secure (when TLS ends before the hub); "
        "it is Secure anyway on an https request",
    )
    trusted_proxy: bool = Field(
        default=False,
        description="The hub is behind a reverse proxy that sets X-Forwarded-Host/-Proto; "
        "without it those headers are ignored",
    )
    auth_failures_per_client: int = Field(
        default=10, ge=1, description="Failed authentications from one address in the window"
    )
    auth_failures_per_key: int = Field(
        default=20, ge=1, description="Failed authentications naming one key id in the window"
    )
    auth_failure_window_seconds: float = Field(
        default=60.0, gt=0, description="The window of the failed-authentication throttle"
    )
    auth_failure_tracked: int = Field(
        default=10_000,
        ge=100,
        description="At most this many addresses and key ids are remembered (least recent go)",
    )
    submission_proof_key: str | None = Field(
        default=None,
        description="The key of the proofs the API gives the intake with the submissions it "
        f"validated (at least {MIN_ADMIN_KEY_LENGTH} characters, the same in every API and "
        "worker process; set it in production). Unset: derived from the database URL "
        "(hub.services.vouched)",
    )
    log_level: str = "info"

    @field_validator("admin_api_key", "submission_proof_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value == "":
            return None  # an empty variable (as compose files write it) means none
        if value is not None and len(value) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(
                f"the key must be at least {MIN_ADMIN_KEY_LENGTH} characters "
                f"(it has {len(value)}); make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @property
    def distributed(self) -> bool:
        return self.kafka_bootstrap is not None

    @property
    def routes_in_second_process(self) -> bool:
        """Embedded, and routing not kept in the API's process (see routing_process)."""
        if self.distributed or self.routing_process == "off":
            return False
        return self.routing_process == "on" or (os.cpu_count() or 1) > 1

    @property
    def views_in_second_process(self) -> bool:
        """Embedded, and the read models not kept in the API's process (see views_process)."""
        if self.distributed or self.views_process == "off":
            return False
        return self.views_process == "on" or (os.cpu_count() or 1) > 1

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    def topic(self, name: str) -> str:
        return self.topic_prefix + TOPIC_DEFAULTS[name]

    def channel_topic(self, channel_id: str) -> str:
        """Where a channel publishes orders in its own format."""
        return f"{self.topic_prefix}orderhub.channel.{channel_id}.orders"

    def group_for(self, role: str) -> str:
        """Each worker role consumes in its own group, so one role never waits for another."""
        return f"{self.consumer_group}-{role}"

    def all_topics(self) -> list[str]:
        return [self.topic(name) for name in TOPIC_DEFAULTS]

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's persistence settings, derived, never read from os.environ."""
        if self.database_url is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.data_dir / "events.sqlite3"),
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        parts = urlsplit(self.database_url)
        if parts.scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
            raise ValueError(f"ORDERHUB_DATABASE_URL must be postgresql://…, got {parts.scheme!r}")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "orderhub",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "orderhub"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_LOCK_TIMEOUT": "5",
            # libpq keeps a connection's buffers as large as the largest message it carried.
            "POSTGRES_CONN_MAX_AGE": str(self.store_connection_max_age_seconds),
            # No ping on every checkout: it was one more round trip per store operation (17-22 %
            # of the orchestration role's time in the flow benchmark). A database restart is
            # still survived: the library retries OperationalError (10 x 0.2 s) and the pool
            # drops the broken connections it hands back (python -m benchmarks.pg_restart).
            "POSTGRES_PRE_PING": "n",
            "CREATE_TABLE": "y",
            # The library's recorder with a save's events sent in binary (hub/pg_recorder.py).
            "APPLICATION_RECORDER_TOPIC": "hub.pg_recorder:HubRecorder",
        }

    def views_url(self) -> str:
        """Where read models and positions live: the same PostgreSQL, or a SQLite file."""
        if self.database_url is not None:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'views.sqlite3'}"
