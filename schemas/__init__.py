"""Contracts: every message on a topic and every REST body is one of these pydantic models."""

from schemas.envelope import Actor, ActorKind, EventEnvelope
from schemas.problems import FieldProblem, Problem
from schemas.submission import (
    Address,
    Customer,
    DeliveryMethod,
    OrderLine,
    OrderSubmission,
    PaymentState,
)

__all__ = [
    "Actor",
    "ActorKind",
    "Address",
    "Customer",
    "DeliveryMethod",
    "EventEnvelope",
    "FieldProblem",
    "OrderLine",
    "OrderSubmission",
    "PaymentState",
    "Problem",
]
