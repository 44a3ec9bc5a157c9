"""One list of followers and one Kafka builder: embedded delivery, the worker roles and
`rebuild` read the same list; the API, the worker and the relay build their Kafka parts alike."""

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import faust
import pytest
import uvloop

from hub.bootstrap import Hub, bootstrap
from hub.embedded.delivery import VIEWS, WORK
from hub.settings import Settings
from hub.streaming.event_loop import new_event_loop
from hub.streaming.kafka_parts import KafkaParts
from hub.streaming.roles import Role
from hub.streaming.worker import create_worker_app
from hub.streaming.worker_process import faust_worker
from hub.tools.rebuild import views


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    the_hub = bootstrap(Settings(data_dir=tmp_path, topic_prefix="t."))
    yield the_hub
    the_hub.close()


def _distributed(hub: Hub) -> Hub:
    settings = hub.settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:1,127.0.0.2:1"})
    return dataclasses.replace(hub, settings=settings)


def _agents(app: faust.App) -> set[str]:
    return {agent.name.rsplit(".", 1)[-1] for agent in app.agents.values()}


def test_every_follower_is_run_once_by_the_worker_and_delivered_in_process(hub: Hub) -> None:
    names = [f.name for f in hub.followers]
    assert len(names) == len(set(names))
    workers = _distributed(hub)
    publisher = KafkaParts(workers.settings).publisher("t")
    orchestration = create_worker_app(workers, publisher, Role.ORCHESTRATION)
    projections = create_worker_app(workers, publisher, Role.PROJECTIONS)
    # Both read every topic with plain consumers (hub.streaming.roles; one for all the views:
    # each record decoded once, hub.streaming.feeds): no Faust agent, and no Faust consumer
    # subscribing to nothing; their apps still run the consumers' tasks and the timers.
    for app in (orchestration, projections):
        assert _agents(app) == set()
        assert not app.boot_strategy._should_enable_kafka_consumer()
        assert [s for s in app.boot_strategy.server() if s is app.consumer] == []
    assert {t.__name__ for t in projections._app_tasks} >= {"order_events", "stock_events"}
    # Intake reads its topics with one plain consumer too; fulfillment with two (the sources'
    # updates and the stock feed), its app left with the jeopardy clock.
    intake = create_worker_app(workers, publisher, Role.INTAKE)
    assert _agents(intake) == set()
    assert not intake.boot_strategy._should_enable_kafka_consumer()
    assert {t.__name__ for t in intake._app_tasks} >= {"submissions"}
    fulfillment = create_worker_app(workers, publisher, Role.FULFILLMENT)
    assert _agents(fulfillment) == set()
    assert not fulfillment.boot_strategy._should_enable_kafka_consumer()
    assert {t.__name__ for t in fulfillment._app_tasks} >= {"updates", "stock_feed"}
    assert hub.delivery is not None
    # Embedded delivery was given every one, each in its lane, in the list's order.
    assert hub.delivery.views.followers == [f.follower for f in hub.followers if f.lane == VIEWS]
    assert hub.delivery.work.followers == [f.follower for f in hub.followers if f.lane == WORK]
    assert len(hub.delivery.followers) == len(hub.followers)
    # Routing, what it consults and what records events run behind, never ahead of a capture;
    # the stock levels too (routing's reservations; no capture waits for them), written with
    # the backorder view in one transaction (next to it, both of the views' database).
    work = [f.name for f in hub.followers if f.lane == WORK]
    assert work == ["backorders", "stock_levels", "orchestrator", "billing"]


def test_rebuild_knows_every_read_model_and_nothing_that_records_events(hub: Hub) -> None:
    known = views(hub)
    assert set(known) == {"order_status", "exceptions", "audit_trail", "stock_levels"}
    assert all(view.name == name for name, view in known.items())


def test_a_worker_role_joins_its_own_group_on_every_broker_given(hub: Hub) -> None:
    workers = _distributed(hub)
    settings = KafkaParts(workers.settings).consumer_settings(Role.INTAKE)
    assert settings["broker"] == ["kafka://127.0.0.1:1", "kafka://127.0.0.2:1"]
    assert settings["producer_acks"] == -1
    assert settings["stream_wait_empty"] is False
    app = create_worker_app(workers, KafkaParts(workers.settings).publisher("t"), Role.INTAKE)
    assert app.conf.id == workers.settings.group_for("intake")


def test_kafka_parts_refuse_a_hub_without_kafka(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="KAFKA_BOOTSTRAP"):
        KafkaParts(Settings(data_dir=tmp_path))


@pytest.mark.parametrize("level", ["warning", "error", "info"])
def test_the_worker_leaves_the_root_logger_at_the_level_asked(
    hub: Hub, level: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Faust's spinner set the root logger to DEBUG at WARNING and above."""
    settings = hub.settings.model_copy(update={"log_level": level})
    root = logging.getLogger(f"orderhub-test-root-{level}")  # stands in for the root logger
    monkeypatch.setattr(root, "handlers", [logging.NullHandler()])
    app = faust.App("t-logging", broker="kafka://127.0.0.1:1")

    # What the worker does when it configures logging (mode.Worker._setup_logging).
    faust_worker(app, settings).on_setup_root_logger(root, logging.getLevelName(level.upper()))

    assert root.level == logging.NOTSET  # not DEBUG: debug calls stay a cheap level check


def test_a_role_and_its_worker_run_on_the_loop_they_are_given(hub: Hub) -> None:
    """`run_worker` hands its uvloop loop to the app and the worker: left to find one, they take
    whichever loop mode first found for the thread (here, another test's asyncio loop)."""
    loop = new_event_loop()
    try:
        workers = _distributed(hub)
        publisher = KafkaParts(workers.settings).publisher("t")
        app = create_worker_app(workers, publisher, Role.PROJECTIONS, loop)
        worker = faust_worker(app, workers.settings)
        assert app.loop is loop and worker.loop is loop
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
