"""Every error answer is a problem body (RFC 9457); bad input is never a 500."""

import logging

from aiokafka.errors import MessageSizeTooLargeError
from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aggregates.errors import DomainError, PolicyVersionError, StockError
from hub.services.access import UnknownChannelError, UnknownKeyError
from hub.services.capture import ChannelMismatch
from hub.services.catalog import UnknownSourceError
from hub.services.operations import UnknownExceptionError, UnknownOrderError
from schemas.problems import FieldProblem, Problem, field_problems, listed_errors

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    """Raise from a route to answer with a problem body."""

    def __init__(
        self, problem: Problem, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> None:
        super().__init__(problem.title)
        self.problem = problem
        self.headers = headers or {}
        # `problem_response(problem, headers).body`, when the raiser made it already (one
        # problem raised for many requests: admission's 429 between two looks).
        self.body = body


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    # RFC 9457 puts extension members beside the standard ones, not in a nested object.
    body = problem.model_dump(mode="json", exclude={"extra"})
    body.update(problem.extra)
    return JSONResponse(
        body,
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def invalid_body(error: ValidationError) -> ProblemError:
    return invalid_submission(field_problems(error))


def invalid_submission(problems: list[FieldProblem]) -> ProblemError:
    return ProblemError(
        Problem(
            type="/problems/invalid-submission",
            title="The submission is not valid",
            status=422,
            detail="See errors for each field that must change; no order was recorded.",
            errors=problems,
        )
    )


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> Response:
        if exc.body is not None:  # the same bytes, headers and status, made once before
            status = exc.problem.status
            return Response(exc.body, status, exc.headers, media_type=PROBLEM_JSON)
        return problem_response(exc.problem, exc.headers)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        unknown = (
            UnknownSourceError
            | UnknownOrderError
            | UnknownChannelError
            | UnknownExceptionError
            | UnknownKeyError
        )
        status = 404 if isinstance(exc, unknown) else 409
        if isinstance(exc, StockError | PolicyVersionError):
            status = 422
        return problem_response(
            Problem(type=f"/problems/{type(exc).__name__}", title=str(exc), status=status)
        )

    @app.exception_handler(IntegrityError)
    async def _conflict(_: Request, exc: IntegrityError) -> JSONResponse:
        return problem_response(
            Problem(
                type="/problems/concurrent-change",
                title="Another change to the same record was saved meanwhile; try again",
                status=409,
            )
        )

    @app.exception_handler(MessageSizeTooLargeError)
    async def _over_the_topics_limit(_: Request, exc: MessageSizeTooLargeError) -> JSONResponse:
        # The broker refused the submission's record: its topic takes less than the body the
        # API took (a topic made before the hub set its record limit keeps the broker's ~1 MB).
        # Sending it again cannot help; the requests after it are not held up.
        log.warning("a submission over its Kafka topic's max.message.bytes was refused: %r", exc)
        return problem_response(
            Problem(
                type="/problems/body-too-large",
                title="The submission is larger than this hub's Kafka topic takes",
                status=413,
                detail="Its operator can raise the topic's max.message.bytes (README, "
                "the relay's paragraph); nothing was recorded.",
            )
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = listed_errors(exc.errors())
        return problem_response(
            Problem(title="The request is not valid", status=422, errors=errors)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            Problem(title=str(exc.detail), status=exc.status_code),
            dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(
            Problem(title="Internal error", status=500, detail="The error was logged.")
        )


def not_found(what: str) -> ProblemError:
    return ProblemError(Problem(type="/problems/not-found", title=f"No such {what}", status=404))


def forbidden(title: str, detail: str | None = None) -> ProblemError:
    return ProblemError(Problem(type="/problems/forbidden", title=title, status=403, detail=detail))


def channel_mismatch(mismatch: ChannelMismatch) -> ProblemError:
    """403: a channel's credential submits for its own channel only."""
    return ProblemError(
        Problem(
            type="/problems/forbidden",
            title="This credential submits for another channel",
            status=403,
            errors=[FieldProblem(field="channel", message=str(mismatch), code="channel_mismatch")],
        )
    )
