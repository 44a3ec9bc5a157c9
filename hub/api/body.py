"""Reading a request body safely: size-limited, JSON with a position on error, raw text kept."""

import json
from typing import Any

from fastapi import Request

from hub.api.problems import ProblemError
from hub.services.what_if_log import loads
from schemas.problems import FieldProblem, Problem

# The scope's key for the body the front door read whole and bounded (`hub.api.guard`).
GUARDED_BODY = "orderhub.body"


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The whole body, or 413 as soon as it passes max_bytes (never read to the end first)."""
    guarded: bytes | None = request.scope.get(GUARDED_BODY)
    if guarded is not None:  # read by the front door: the same bytes, not read again
        if len(guarded) > max_bytes:
            raise too_large(max_bytes)
        return guarded
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > max_bytes:
            raise too_large(max_bytes)
    return bytes(chunks)


def parse_json(raw: bytes) -> tuple[str, Any]:
    """(text, value) or 400 naming where the JSON breaks."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProblemError(
            Problem(
                type="/problems/malformed-body",
                title="The body is not UTF-8 text",
                status=400,
                detail=f"invalid byte at position {error.start}",
            )
        ) from None
    try:
        return text, loads(text)  # orjson where it reads as json.loads would, else json.loads
    except json.JSONDecodeError as error:
        raise malformed(f"{error.msg} at line {error.lineno}, column {error.colno}") from None
    except (ValueError, RecursionError) as error:
        # json raises these for absurd nesting or numbers with thousands of digits.
        raise malformed(str(error) or type(error).__name__) from None


def malformed(
    detail: str, title: str = "The body is not valid JSON", code: str = "json_invalid"
) -> ProblemError:
    return ProblemError(
        Problem(
            type="/problems/malformed-body",
            title=title,
            status=400,
            detail=detail,
            errors=[FieldProblem(field="(body)", message=detail, code=code)],
        )
    )


def too_large(max_bytes: int) -> ProblemError:
    return ProblemError(
        Problem(
            type="/problems/body-too-large",
            title="The body is too large",
            status=413,
            detail=f"at most {max_bytes} bytes are accepted",
        )
    )
