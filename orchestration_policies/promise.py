"""When an order is promised, and how much at risk it is: pure date arithmetic.

The channel's own promise (``promised_by`` on the submission) always wins. Without one the
promise is placed-at + the chosen sources' longest lead time + the delivery method's transit.
"""

from datetime import datetime, timedelta
from enum import StrEnum

# Days in transit after the source ships, by delivery method (what carriers commonly offer).
TRANSIT_DAYS: dict[str, float] = {
    "same_day": 0.5,
    "express": 1,
    "standard": 3,
    "click_and_collect": 1,
}


class Risk(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    LATE = "late"


def promised_by(
    placed_at: datetime,
    delivery_method: str,
    lead_time_days: int,
    channel_promise: datetime | None = None,
) -> datetime:
    if channel_promise is not None:
        return channel_promise
    transit = TRANSIT_DAYS.get(delivery_method, TRANSIT_DAYS["standard"])
    try:
        return placed_at + timedelta(days=lead_time_days + transit)
    except OverflowError:  # an order recorded before times were bounded (year 9999)
        return datetime.max.replace(tzinfo=placed_at.tzinfo)


def risk(now: datetime, promise: datetime, margin: timedelta) -> Risk:
    """For an order not shipped yet at ``now``: late once the promise has passed; inside the
    margin before it, the band grows as the time left shrinks (by thirds of the margin)."""
    left = promise - now
    if left <= timedelta(0):
        return Risk.LATE
    if margin <= timedelta(0) or left > margin:
        return Risk.NONE
    if left > margin * 2 / 3:
        return Risk.LOW
    if left > margin / 3:
        return Risk.MEDIUM
    return Risk.HIGH
