"""What every capture endpoint shares: who may submit for which channel, the rate limit, and
recording the commands (embedded: the event store; distributed: Kafka, acks=all)."""

import asyncio
import logging

from fastapi import Request

from hub.api.problems import ProblemError
from hub.api.ratelimit import RateLimiter
from hub.bootstrap import Hub
from hub.services.access import Principal
from hub.services.intake import Outcome, PlaceResult, RejectSubmission, SubmitOrder
from hub.streaming.submissions import SubmissionGateway
from schemas.channels import Role
from schemas.problems import FieldProblem, Problem

log = logging.getLogger(__name__)
CORRELATION_HEADER = "X-Correlation-Id"


def check_may_submit_for(principal: Principal, channel: str) -> None:
    """A channel key submits for its own channel only."""
    if principal.role is Role.CHANNEL and channel != principal.channel_id:
        raise ProblemError(
            Problem(
                type="/problems/forbidden",
                title="This credential submits for another channel",
                status=403,
                errors=[
                    FieldProblem(
                        field="channel",
                        message=f"must be {principal.channel_id!r} for this key",
                        code="channel_mismatch",
                    )
                ],
            )
        )


async def check_rate(request: Request, hub: Hub, principal: Principal) -> None:
    """429 with Retry-After when the channel is over its rate; call it before reading the body."""
    if principal.role is not Role.CHANNEL or principal.channel_id is None:
        return
    definition = await asyncio.to_thread(hub.access.channel, principal.channel_id)
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.take(principal.channel_id, definition.rate_limit_per_minute)
    if wait is not None:
        raise ProblemError(
            Problem(
                type="/problems/rate-limited",
                title="Too many requests for this channel",
                status=429,
                detail=f"limit {definition.rate_limit_per_minute}/minute",
            ),
            headers={"Retry-After": str(int(wait))},
        )


async def charge_rate(request: Request, hub: Hub, principal: Principal, items: int) -> None:
    """Charge the rest of a payload that carried `items` orders (the first paid at the door),
    refused ones included: each costs a parse, a rejection record and an exception."""
    if principal.role is not Role.CHANNEL or principal.channel_id is None or items <= 1:
        return
    definition = await asyncio.to_thread(hub.access.channel, principal.channel_id)
    limiter: RateLimiter = request.app.state.rate_limiter
    limiter.charge(principal.channel_id, definition.rate_limit_per_minute, items - 1)


def actor_for(principal: Principal, channel: str) -> str:
    """Channel keys act as their channel, staff as themselves; a trial caller as the channel."""
    return f"channel:{channel}" if principal.key_id == "trial" else principal.actor


async def record(
    hub: Hub,
    gateway: SubmissionGateway | None,
    commands: list[SubmitOrder],
    rejections: list[RejectSubmission],
) -> list[PlaceResult | None]:
    """Record the commands; None for one accepted for asynchronous intake (distributed)."""
    if rejections:
        await asyncio.to_thread(hub.intake.record_rejections, rejections)
    results: list[PlaceResult | None] = []
    if gateway is not None:
        for command in commands:
            existing = await asyncio.to_thread(hub.intake.check_existing, command)
            if existing is None:
                await gateway.submit(command)
            results.append(existing)
    elif commands:
        results = list(await hub.group_commit.place(commands))
    await deliver_quietly(hub)
    return results


async def deliver_quietly(hub: Hub) -> None:
    """The order is recorded: a follower's failure must not turn that into an error answer.
    Undelivered events are caught up on the next command or at start-up."""
    try:
        await hub.delivered()
    except Exception:
        log.exception("in-process delivery failed; it will be retried")


def is_conflict(result: PlaceResult | None) -> bool:
    return result is not None and result.outcome is Outcome.CONFLICT
