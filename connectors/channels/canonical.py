"""The canonical format: OrderSubmission JSON as documented in `schemas/submission.py`, one
object or a list of them. Problems are named by their path in the payload: ``lines[1].quantity``
for a single order, ``[3].lines[1].quantity`` for the fourth order of a list.

Beyond the schema itself: money written as a JSON number with a fraction (``19.9``) is refused
(the schema refuses floats; we decode without floats, so we say so ourselves); ``channel`` may be
left out (it is the channel submitting) but must not name another channel; times are read with
their offset and kept in UTC.
"""

from typing import Any

from pydantic import ValidationError

from connectors.channels.json_payload import JsonFraction, dump_json, load_json, type_name
from connectors.channels.results import (
    AdapterResult,
    ChannelContext,
    Mapped,
    ProblemCode,
    Refused,
)
from connectors.channels.values import InvalidValue, timestamp_from_text
from schemas.problems import FieldProblem
from schemas.submission import OrderSubmission

_TIMES = ("placed_at", "promised_by")


def parse(raw: bytes, context: ChannelContext) -> list[AdapterResult]:
    """Canonical JSON submissions → one result per order."""
    payload = load_json(raw)
    if isinstance(payload, list):
        return [
            _map_order(item, f"[{i}]", dump_json(item), i, context)
            for i, item in enumerate(payload)
        ]
    return [_map_order(payload, "", raw.decode("utf-8-sig"), 0, context)]


def _map_order(
    order: object, prefix: str, raw: str, index: int, context: ChannelContext
) -> AdapterResult:
    if not isinstance(order, dict):
        problem = FieldProblem(
            field=prefix or "(body)",
            message=f"must be an order object, not {type_name(order)}",
            code=ProblemCode.WRONG_TYPE,
        )
        return Refused(problems=[problem], raw=raw, index=index, external_id=None)
    external_id = order.get("external_id")
    known_id = (external_id.strip() or None) if isinstance(external_id, str) else None
    problems: list[FieldProblem] = []
    data: dict[str, Any] = dict(order)

    channel = data.setdefault("channel", context.channel_id)
    if channel != context.channel_id:
        problems.append(
            FieldProblem(
                field=_path(prefix, ("channel",)),
                message=f"must be {context.channel_id!r} (or left out) for this channel",
                code=ProblemCode.CHANNEL_MISMATCH,
            )
        )
    for key in _TIMES:
        value = data.get(key)
        if isinstance(value, str):
            try:
                data[key] = timestamp_from_text(value)
            except InvalidValue as error:
                problems.append(
                    FieldProblem(
                        field=_path(prefix, (key,)), message=error.message, code=error.code
                    )
                )
                del data[key]
    lines = data.get("lines")
    for position, line in enumerate(lines if isinstance(lines, list) else []):
        if isinstance(line, dict) and isinstance(line.get("unit_price"), JsonFraction):
            problems.append(
                FieldProblem(
                    field=_path(prefix, ("lines", position, "unit_price")),
                    message=f'must be a string such as "{line["unit_price"]}" or an integer, '
                    "not a JSON number with a fraction",
                    code=ProblemCode.FLOAT_MONEY,
                )
            )
    try:
        submission = OrderSubmission.model_validate(data)
    except ValidationError as error:
        problems.extend(_schema_problems(error, prefix, problems))
        return Refused(problems=problems, raw=raw, index=index, external_id=known_id)
    if problems:
        return Refused(problems=problems, raw=raw, index=index, external_id=known_id)
    return Mapped(submission=submission, raw=raw, index=index, actor=context.channel_actor)


def _schema_problems(
    error: ValidationError, prefix: str, found: list[FieldProblem]
) -> list[FieldProblem]:
    already = {problem.field for problem in found}
    problems = []
    for item in error.errors(include_url=False):
        field = _path(prefix, tuple(item["loc"]))
        if field in already:
            continue
        problems.append(FieldProblem(field=field, message=_message(item["msg"]), code=item["type"]))
    return problems


def _path(prefix: str, loc: tuple[str | int, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(order)"


def _message(text: str) -> str:
    # pydantic prefixes the schema's own messages; the sender needs only the message.
    return text.removeprefix("Value error, ")
