"""A client's `Idempotency-Key` on a command to an order (cancel, change).

A command asked again after a timeout must be answered as the first time and record nothing,
and a whole-order cancel can tell that from the order's state; a partial cancel or a change
cannot (a second "cancel one unit of line 1" is a new request). The key, with the digest of
the request it came with, is recorded in the event the command records, so it is as durable
as the command itself and commits with it; the order keeps what each key answered."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aggregates.errors import OrderError


@dataclass(frozen=True)
class RequestKey:
    """The client's key and the digest of the request it came with (command and body)."""

    key: str
    digest: str


class RequestKeyReusedError(OrderError):
    """The key came with another request before: a retry must send what it sent first."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was used for another request to this order; "
            "a retry sends the same request, a new request a new key"
        )
        self.key = key


def earlier_answer(
    answers: Mapping[str, Mapping[str, Any]], request: RequestKey | None
) -> list[str] | None:
    """The shipments the first request under this key withdrew, when it comes again; None
    when no key was given or the key is new."""
    if request is None:
        return None
    earlier = answers.get(request.key)
    if earlier is None:
        return None
    if earlier["digest"] != request.digest:
        raise RequestKeyReusedError(request.key)
    return list(earlier["withdrawn"])


def key_fields(request: RequestKey | None) -> dict[str, Any]:
    """The fields of the event that records the keyed command (left at None without one)."""
    if request is None:
        return {}
    return {"request_key": request.key, "request_digest": request.digest}


def with_answer(
    answers: Mapping[str, Mapping[str, Any]], key: str, digest: str, withdrawn: list[str]
) -> dict[str, Mapping[str, Any]]:
    """The answers with this event's key added, as a new dict: the one before may be the
    class's empty default (a mapping proxy, which the library's aggregate cache cannot copy)."""
    return {**answers, key: {"digest": digest, "withdrawn": list(withdrawn)}}
