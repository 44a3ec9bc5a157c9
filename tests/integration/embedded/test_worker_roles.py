"""Worker roles: each reads its own topics in its own consumer group, and the lag watch of the
API looks at exactly the topics the workers read."""

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import faust
import pytest

from connectors.consumed import ConsumedMessage
from connectors.publisher import KafkaPublisher
from hub.bootstrap import Hub
from hub.settings import Settings
from hub.streaming.kafka_parts import instance_id
from hub.streaming.roles import Role, role_groups, role_topics
from hub.streaming.worker import ROLES, Agents, OneAtATime
from schemas.channels import ChannelDefinition, ChannelKind
from tests.support.running_hub import embedded_hub


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    the_hub = embedded_hub(tmp_path, topic_prefix="t.")
    the_hub.access.register_channel(
        ChannelDefinition(
            channel_id="pos-lyon", name="POS Lyon", kind=ChannelKind.POS, format="canonical"
        ),
        "user:admin",
    )
    yield the_hub
    the_hub.close()


@pytest.mark.parametrize("role", list(Role))
def test_each_role_reads_the_topics_its_consumer_group_is_watched_on(hub: Hub, role: Role) -> None:
    app = faust.App(f"test-{role.value}", broker="kafka://127.0.0.1:1")
    agents = Agents(app, hub, KafkaPublisher("127.0.0.1:1"))
    ROLES[role](agents)
    plain = [topic for topics in agents.plain.values() for topic in topics]
    assert sorted([*agents.consumed, *plain]) == role_topics(hub.settings, role, ["pos-lyon"])
    assert not agents.consumed & set(plain)  # a topic is read in one group only
    groups = role_groups(hub.settings, ["pos-lyon"])
    # A role whose topics are all read by plain consumers has no Faust group to watch.
    assert groups.get(hub.settings.group_for(role.value), []) == sorted(agents.consumed)
    for group, topics in agents.plain.items():
        assert groups[group] == topics


def test_read_models_and_routing_never_share_a_consumer_group(hub: Hub) -> None:
    groups = role_groups(hub.settings, ["pos-lyon"])
    # No Faust group: plain ones for intake's, the sources' updates, the stock feed, and the
    # order events and the stock events of both routing and the read models.
    assert len(groups) == 7
    assert groups[hub.settings.group_for("fulfillment-updates")] == [
        "t.orderhub.fulfillment.updates"
    ]
    assert hub.settings.group_for("fulfillment") not in groups
    projections = groups[hub.settings.group_for("projections-order-events")]
    orchestration = groups[hub.settings.group_for("orchestration-order-events")]
    # Both read the order events, each at its own pace.
    assert projections == ["t.orderhub.orders.events", "t.orderhub.orders.rejected"]
    assert orchestration == ["t.orderhub.orders.events"]
    # Intake: one plain consumer for the submissions, the channels' topics and the DLQ.
    assert groups[hub.settings.group_for("intake-submissions")] == [
        "t.orderhub.channel.pos-lyon.orders",
        "t.orderhub.dlq",
        "t.orderhub.orders.submitted",
    ]
    assert hub.settings.group_for("intake") not in groups


def test_static_membership_names_the_worker_and_its_role(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, worker_id="w2")
    assert instance_id(settings, Role.PROJECTIONS) == "w2-projections"
    dynamic = settings.model_copy(update={"static_membership": False})
    assert instance_id(dynamic, Role.INTAKE) is None


def test_the_jeopardy_clock_runs_in_fulfillment_and_the_sweep_beside_routing(hub: Hub) -> None:
    timers = {}
    for role in Role:
        app = faust.App(f"t-{role.value}", broker="kafka://127.0.0.1:1")
        agents = Agents(app, hub, KafkaPublisher("127.0.0.1:1"))
        ROLES[role](agents)
        timers[role] = agents.timers
    assert timers == {
        Role.INTAKE: [],
        Role.ORCHESTRATION: ["backorder sweep"],
        Role.FULFILLMENT: ["jeopardy clock"],
        Role.PROJECTIONS: [],
    }


@pytest.mark.asyncio
async def test_a_follower_fed_by_two_consumers_is_applied_one_batch_at_a_time() -> None:
    seen: list[str] = []

    class Slow:
        def __init__(self, name: str) -> None:
            self.name = name

        async def handle(self, messages: Sequence[ConsumedMessage]) -> None:
            seen.append(f"{self.name} in")
            await asyncio.sleep(0.05)
            seen.append(f"{self.name} out")

    lock = asyncio.Lock()
    orders, stock = OneAtATime(Slow("orders"), lock), OneAtATime(Slow("stock"), lock)

    await asyncio.gather(orders.handle([]), stock.handle([]), orders.handle([]))

    assert seen == ["orders in", "orders out", "stock in", "stock out", "orders in", "orders out"]


def test_the_orchestration_role_reads_stock_events_apart_from_order_events(
    hub: Hub,
) -> None:
    app = faust.App("t-orchestration", broker="kafka://127.0.0.1:1")
    agents = Agents(app, hub, KafkaPublisher("127.0.0.1:1"))
    ROLES[Role.ORCHESTRATION](agents)
    assert agents.consumed == set()
    assert agents.plain == {
        hub.settings.group_for("orchestration-order-events"): ["t.orderhub.orders.events"],
        hub.settings.group_for("orchestration-stock-events"): ["t.orderhub.inventory.events"],
    }


@pytest.mark.parametrize("close_early", [True, False])
def test_only_the_consumers_on_an_orders_way_to_its_decision_close_their_batches_early(
    hub: Hub, close_early: bool
) -> None:
    hub.settings = hub.settings.model_copy(update={"batch_close_early": close_early})
    early = []
    for role in Role:
        agents = Agents(faust.App(f"e-{role.value}", broker="kafka://127.0.0.1:1"), hub,
                        KafkaPublisher("127.0.0.1:1"))  # fmt: skip
        ROLES[role](agents)
        early += agents.closing_early
    group = hub.settings.group_for
    assert early == ([group("intake-submissions"), group("orchestration-order-events")]
                     if close_early else [])  # fmt: skip


def test_the_consumers_on_an_orders_way_to_its_decision_take_the_order_window(hub: Hub) -> None:
    hub.settings = hub.settings.model_copy(
        update={
            "batch_window_seconds": 0.05,
            "order_window_seconds": 0.02,
            "views_window_seconds": 0.3,
        }
    )
    windows = {}
    for role in Role:
        agents = Agents(faust.App(f"w-{role.value}", broker="kafka://127.0.0.1:1"), hub,
                        KafkaPublisher("127.0.0.1:1"))  # fmt: skip
        ROLES[role](agents)
        windows |= {reader.group: reader.window for reader in agents.readers}
    group = hub.settings.group_for
    order_path = {group("intake-submissions"), group("orchestration-order-events")}
    # The read models' consumers take the views' window, longer: an order's bursts in one batch.
    views = {group("projections-order-events"), group("projections-stock-events")}
    assert {g for g, w in windows.items() if w == 0.02} == order_path
    assert {g for g, w in windows.items() if w == 0.3} == views
    assert all(w == 0.05 for g, w in windows.items() if g not in order_path | views)
    assert len(windows) > len(order_path | views)  # stock, updates keep the batch window
