"""The intake role's one plain consumer (hub.streaming.roles) on the real broker and PostgreSQL:
its new group takes up where the role's Faust group had committed, on the submissions topic and
the channels' topics alike; a poison record is parked and the batch committed past it; a
submission read twice is one order; and a channel redefined between batches is read its new
way from the next one."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import TopicPartition

from aggregates import OrderStatus, order_id_for
from connectors.publisher import RecordingPublisher
from connectors.topics import ensure_topics
from hub.bootstrap import Hub
from hub.settings import Settings
from hub.streaming.plain_batches import PlainBatchConsumer
from hub.streaming.roles import Role
from hub.streaming.worker import ROLES, Agents
from schemas.channels import ChannelDefinition
from tests.contracts.factories import submission_dict
from tests.integration.test_plain_roles_kafka import (
    commit_as,
    produce,
    run_until_committed,
    settings_for,
)
from tests.support.running_hub import embedded_hub

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
CHANNEL = "marketplace-1"


def _settings(tmp_path: Path, bootstrap: str, database_url: str) -> Settings:
    return settings_for(tmp_path, bootstrap).model_copy(update={"database_url": database_url})


def _body(channel: str, external_id: str, **changes: Any) -> bytes:
    return json.dumps(submission_dict(channel=channel, external_id=external_id, **changes)).encode()


def _definition(**changes: Any) -> ChannelDefinition:
    body = {"channel_id": CHANNEL, "name": "A marketplace", "kind": "marketplace"}
    return ChannelDefinition.model_validate({"format": "canonical", **body, **changes})


def _intake_reader(hub: Hub, publisher: RecordingPublisher) -> PlainBatchConsumer:
    app = faust.App(hub.settings.group_for("intake"), broker="kafka://127.0.0.1:1")
    agents = Agents(app, hub, publisher)  # type: ignore[arg-type]
    ROLES[Role.INTAKE](agents)
    assert agents.consumed == set()  # no Faust agent left
    (reader,) = agents.readers
    return reader


def _status(hub: Hub, channel: str, external_id: str) -> OrderStatus | None:
    order = hub.intake.find(order_id_for(channel, external_id))
    return None if order is None else order.status


@pytest.mark.asyncio
async def test_the_intake_role_takes_up_its_faust_group_s_offsets_parks_poison_and_dedupes(
    tmp_path: Path, kafka_bootstrap: str, database_url: str
) -> None:
    settings = _settings(tmp_path, kafka_bootstrap, database_url)
    submitted, dlq = settings.topic("submitted"), settings.topic("dlq")
    channel = settings.channel_topic(CHANNEL)
    await ensure_topics(kafka_bootstrap, {submitted: 1, dlq: 1, channel: 1})
    hub = embedded_hub(tmp_path / "hub", database_url=database_url)
    hub = dataclasses.replace(hub, settings=settings)
    try:
        hub.access.register_channel(_definition(), "user:admin")
        await produce(
            kafka_bootstrap,
            [
                (submitted, b"k", _body("web-shop", "WEB-0"), ()),  # read by the Faust group
                (submitted, b"k", _body("web-shop", "WEB-1"), ()),
                (submitted, b"k", b"{not json", ()),
                (submitted, b"k", _body("web-shop", "WEB-1"), ()),  # sent again: one order
                (channel, b"k", _body(CHANNEL, "MP-0"), ()),  # read by the Faust group
                (channel, b"k", _body(CHANNEL, "MP-1"), ()),
            ],
        )
        faust_group = settings.group_for("intake")
        await commit_as(
            kafka_bootstrap,
            faust_group,
            {TopicPartition(submitted, 0): 1, TopicPartition(channel, 0): 1},
        )
        publisher = RecordingPublisher()
        reader = _intake_reader(hub, publisher)
        assert reader.group == settings.group_for("intake-submissions")
        assert sorted(reader.topics) == sorted([submitted, dlq, channel])
        assert reader.resume_from == faust_group

        await run_until_committed(
            reader, {TopicPartition(submitted, 0): 4, TopicPartition(channel, 0): 2}
        )

        # Neither lost nor read again: what the Faust group had read is not placed now.
        assert _status(hub, "web-shop", "WEB-0") is None
        assert _status(hub, CHANNEL, "MP-0") is None
        assert _status(hub, "web-shop", "WEB-1") is OrderStatus.ACCEPTED
        assert _status(hub, CHANNEL, "MP-1") is OrderStatus.ACCEPTED
        (parked,) = publisher.records
        assert (parked.topic, parked.value) == (dlq, b"{not json")
        assert dict(parked.headers)["dlq-consumer"] == b"intake"
        topics = [n.topic for n in hub.store.recorder.select_notifications(None, 1000)]
        assert sum(t.endswith("Order.Placed") for t in topics) == 2
        assert not any("RejectedSubmission" in t for t in topics)  # the duplicate is no conflict

        # The channel now sends the marketplace's own format: its next record is refused, not
        # placed with the definition read before.
        hub.access.register_channel(_definition(format="marketplace"), "user:admin")
        await produce(kafka_bootstrap, [(channel, b"k", _body(CHANNEL, "MP-2"), ())])
        await run_until_committed(
            reader, {TopicPartition(submitted, 0): 4, TopicPartition(channel, 0): 3}
        )
        assert _status(hub, CHANNEL, "MP-2") is None
        topics = [n.topic for n in hub.store.recorder.select_notifications(None, 1000)]
        assert topics[-1].endswith("RejectedSubmission.Recorded")
    finally:
        hub.close()
