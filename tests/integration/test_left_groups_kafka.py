"""`orderhub groups` on the real broker: the roles' groups an upgrade left behind are told apart
from those in use, and deleting them removes only those without members."""

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from typer.testing import CliRunner

from connectors.topics import ensure_topics
from hub.cli import app
from hub.settings import Settings
from hub.streaming.left_groups import delete_groups, hub_groups, left_behind
from hub.streaming.roles import Role, plain_group
from tests.integration.test_plain_roles_kafka import commit_as, settings_for

pytestmark = [pytest.mark.kafka]


def test_only_the_roles_faust_groups_read_by_plain_consumers_are_left_behind(
    tmp_path: Path,
) -> None:
    s = Settings(_env_file=None, data_dir=tmp_path, consumer_group="hub")  # type: ignore[call-arg]
    # Fulfillment's too, since its updates are read by a plain consumer like its stock feed.
    expected = {"hub-intake", "hub-orchestration", "hub-projections", "hub-fulfillment"}
    assert left_behind(s) == expected


@pytest.mark.asyncio
async def test_left_behind_groups_are_listed_and_deleted_unless_a_member_is_in(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    s = settings_for(tmp_path, kafka_bootstrap)
    topic = s.topic("order_events")
    await ensure_topics(kafka_bootstrap, {topic: 1})
    old_orchestration = s.group_for(Role.ORCHESTRATION.value)
    old_projections = s.group_for(Role.PROJECTIONS.value)
    in_use = plain_group(s, Role.ORCHESTRATION, "order-events")
    for group in (old_orchestration, old_projections, in_use):
        await commit_as(kafka_bootstrap, group, {TopicPartition(topic, 0): 0})
    # A worker of the earlier release still reading as the old projections group.
    member = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=old_projections)
    await member.start()
    try:
        async with asyncio.timeout(30):
            while not member.assignment():
                await asyncio.sleep(0.1)
        listed = {g.group: g for g in await hub_groups(s)}
        assert set(listed) == {old_orchestration, old_projections, in_use}
        assert listed[old_orchestration].left_behind and listed[old_projections].left_behind
        assert not listed[in_use].left_behind
        assert listed[old_orchestration].partitions == 1

        outcome = await delete_groups(s, [old_orchestration, old_projections])
        assert outcome[old_orchestration] is None
        assert outcome[old_projections] == "it has members: a worker still reads with it"
    finally:
        await member.stop()
    remaining = {g.group for g in await hub_groups(s)}
    assert remaining == {old_projections, in_use}


def test_the_command_lists_and_deletes(tmp_path: Path, kafka_bootstrap: str) -> None:
    s = settings_for(tmp_path, kafka_bootstrap)
    topic = s.topic("order_events")
    asyncio.run(ensure_topics(kafka_bootstrap, {topic: 1}))
    old = s.group_for(Role.ORCHESTRATION.value)
    asyncio.run(commit_as(kafka_bootstrap, old, {TopicPartition(topic, 0): 0}))
    env = {
        "ORDERHUB_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ORDERHUB_CONSUMER_GROUP": s.consumer_group,
        "ORDERHUB_DATA_DIR": str(tmp_path),
    }
    runner = CliRunner()
    listed = runner.invoke(app, ["groups"], env=env)
    assert listed.exit_code == 0, listed.output
    assert old in listed.output and "1 left behind" in listed.output
    deleted = runner.invoke(app, ["groups", "--delete"], env=env)
    assert deleted.exit_code == 0, deleted.output
    assert f"{old}: deleted" in deleted.output
    assert asyncio.run(hub_groups(s)) == []
