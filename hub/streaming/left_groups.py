"""Consumer groups an upgrade left behind, and removing them once the operator says so.

When a role's topics moved from its Faust agent to plain consumers of groups of their own
(hub.streaming.roles), the new groups took up the old group's offsets on their first start and
the old group stopped reading. Its offsets stay on the broker, unwatched; they are kept on
purpose, because a rollback to the release before resumes from them. `orderhub groups` lists the
hub's groups and says which are left behind; `orderhub groups --delete` removes the left-behind
ones. The broker itself refuses to delete a group that still has members (a worker of the
earlier release still running), so nothing in use can be removed by this.
"""

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import NonEmptyGroup, for_code
from aiokafka.protocol.admin import DeleteGroupsRequest

from hub.settings import Settings
from hub.streaming.roles import Role, role_groups

# A channel topic stands for all of them: intake reads each registered channel's topic, and a
# role that reads any topic with its Faust app still needs that app's group.
_ANY_CHANNEL = ["any-channel"]


@dataclass(frozen=True)
class HubGroup:
    group: str
    partitions: int  # with an offset committed
    left_behind: bool


def left_behind(settings: Settings) -> set[str]:
    """The roles' Faust groups that this release no longer reads with: every topic of the
    role is read by plain consumers of other groups."""
    in_use = set(role_groups(settings, _ANY_CHANNEL))
    return {settings.group_for(role.value) for role in Role} - in_use


async def hub_groups(settings: Settings) -> list[HubGroup]:
    """The groups on the broker named as this hub's (`<consumer_group>-…`). Whether one has
    members is not asked: aiokafka 0.14 cannot decode this broker's DescribeGroups answer, and
    the broker refuses to delete a group with members anyway."""
    prefix = f"{settings.consumer_group}-"
    old = left_behind(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        listed = sorted(g[0] for g in await admin.list_consumer_groups() if g[0].startswith(prefix))
        return [
            HubGroup(name, len(await admin.list_consumer_group_offsets(name)), name in old)
            for name in listed
        ]
    finally:
        await admin.close()


async def delete_groups(settings: Settings, groups: list[str]) -> dict[str, str | None]:
    """Delete these groups; per group None, or the broker's reason for refusing (e.g. a group
    that is not empty). aiokafka's admin client has no call for it, so the DeleteGroups request
    (API key 42) goes to each group's coordinator as its own calls do."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    outcome: dict[str, str | None] = {}
    try:
        for group in groups:
            coordinator = await admin.find_coordinator(group)
            response = await admin._send_request(DeleteGroupsRequest([group]), coordinator)
            for name, code in response.results:
                outcome[name] = None if code == 0 else _reason(code)
    finally:
        await admin.close()
    return outcome


def _reason(code: int) -> str:
    error = for_code(code)
    if error is NonEmptyGroup:
        return "it has members: a worker still reads with it"
    return str(error.__name__)
