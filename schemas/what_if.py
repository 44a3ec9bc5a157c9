"""What-if runs over recorded history: the request and the report, draft beside live."""

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.problems import FieldProblem

__all__ = [
    "WhatIfChange",
    "WhatIfChangeSide",
    "WhatIfComparison",
    "WhatIfJobPublic",
    "WhatIfReportPublic",
    "WhatIfRun",
    "WhatIfSide",
]

MAX_POLICY_CHARS = 200_000


class WhatIfRun(BaseModel):
    """Re-decide the recorded decisions of a window with a draft policy (nothing is written)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    policy: str = Field(
        min_length=1, max_length=MAX_POLICY_CHARS, description="The draft policy document (YAML)"
    )
    from_: date = Field(alias="from", description="First day (UTC) of decisions to re-decide")
    to: date = Field(description="Last day (UTC), included")
    channel: str | None = Field(
        default=None, min_length=1, max_length=100, description="Only this channel's decisions"
    )
    changes: int = Field(
        default=100, ge=0, le=1000, description="How many changed decisions to list in full"
    )


class WhatIfSide(BaseModel):
    """One policy's figures over the re-decided decisions."""

    decisions: int
    routed: int = Field(description="One shipment, nothing waits")
    split: int = Field(description="Several shipments, nothing waits")
    backordered: int = Field(description="Some lines wait for stock")
    held: int = Field(description="A person decides (hold rule, backorder hold, split limit)")
    unroutable: int = Field(description="Some lines can neither ship nor wait")
    shipments: int
    shipments_per_order: float | None
    mean_distance_km: float | None = Field(description="Over shipments with a known distance")
    cost: dict[str, str] = Field(description="Estimated shipping cost by currency (decimal)")
    promises_checked: int = Field(description="Decisions that shipped for an order with a promise")
    promise_misses: int = Field(
        description="Of those, the slowest shipment's lead time plus transit passes the promise"
    )


class WhatIfComparison(BaseModel):
    orders: int
    changed: int = Field(description="Decisions the draft takes differently")
    live: WhatIfSide
    draft: WhatIfSide


class WhatIfChangeSide(BaseModel):
    outcome: str
    sources: list[str]
    explanation: str


class WhatIfChange(BaseModel):
    order_id: str
    n: int = Field(description="Which of the order's decisions (1-based)")
    channel: str
    decided_at: datetime
    live: WhatIfChangeSide
    draft: WhatIfChangeSide


class WhatIfPolicyRef(BaseModel):
    id: str
    version: int


class WhatIfReportPublic(BaseModel):
    policy: WhatIfPolicyRef
    decisions: int = Field(description="Recorded decisions read in the window")
    redecided: int
    skipped: int = Field(description="Inputs not recorded: they stand as recorded")
    out_of_scope: int = Field(
        description="Another channel, or the draft does not apply: they stand as recorded"
    )
    condition_failures: int = Field(
        description="Draft decisions where a condition could not be evaluated (held or "
        "excluded for it, as decide() does)"
    )
    total: WhatIfComparison
    by_channel: dict[str, WhatIfComparison]
    changed: int
    changes: list[WhatIfChange] = Field(description="The first changed decisions, explained")


class WhatIfJobPublic(BaseModel):
    job_id: str
    state: Literal["running", "done", "failed", "cancelled"]
    decisions_done: int
    window: dict[str, str | None]
    report: WhatIfReportPublic | None = None
    detail: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)
