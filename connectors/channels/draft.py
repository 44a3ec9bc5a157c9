"""A canonical submission being assembled, remembering where in the native payload each value
came from, so that every problem — the adapter's own or the schema's — names the sender's field."""

from typing import Any, Protocol

from pydantic import ValidationError

from connectors.channels.results import AdapterResult, ChannelContext, Mapped, Refused
from schemas.problems import FieldProblem
from schemas.submission import OrderSubmission

Loc = tuple[str | int, ...]


class ProblemSink(Protocol):
    def refuse(self, field: str, message: str, code: str) -> None: ...


class SubmissionDraft:
    """Collects canonical values (`put`) and problems (`refuse`), then validates once (`finish`).

    `root` names the order itself in the native payload (e.g. ``orders[2]``, ``ST*0001``,
    ``rows 2-4``); problems the schema finds on the whole order (duplicate line ids…) point there.
    """

    def __init__(self, context: ChannelContext, root: str) -> None:
        self.context = context
        self.root = root
        self._data: dict[str, Any] = {"channel": context.channel_id}
        self._lines: dict[int, dict[str, Any]] = {}
        self._origins: dict[Loc, str] = {("channel",): root}
        self._problems: list[FieldProblem] = []

    @property
    def problems(self) -> list[FieldProblem]:
        return list(self._problems)

    def refuse(self, field: str, message: str, code: str) -> None:
        problem = FieldProblem(field=field, message=message, code=str(code))
        if problem not in self._problems:
            self._problems.append(problem)

    def name(self, loc: Loc, origin: str) -> None:
        """Say where a canonical field or container comes from, without giving a value."""
        self._origins[loc] = origin

    def put(self, loc: Loc, value: object, origin: str) -> None:
        """Set a canonical value (None leaves it unset: the schema's default or 'required')."""
        self._origins[loc] = origin
        if value is None:
            return
        if loc[0] == "lines":
            index, key = loc[1], loc[2]
            assert isinstance(index, int) and isinstance(key, str)
            self._lines.setdefault(index, {})[key] = value
            return
        target = self._data
        for key in loc[:-1]:
            target = target.setdefault(str(key), {})
        target[str(loc[-1])] = value

    def add_line(self, index: int, origin: str) -> None:
        """Open line `index` (0-based, in payload order) even before any of its values is known."""
        self._origins[("lines", index)] = origin
        self._lines.setdefault(index, {})

    def finish(self, *, raw: str, index: int, actor: str, external_id: str | None) -> AdapterResult:
        """Validate against the canonical schema; Mapped only when nobody found a problem."""
        data = dict(self._data)
        data["lines"] = [self._lines[i] for i in sorted(self._lines)]
        try:
            submission = OrderSubmission.model_validate(data)
        except ValidationError as error:
            problems = self._problems + self._schema_problems(error)
            return Refused(problems=problems, raw=raw, index=index, external_id=external_id)
        if self._problems:
            return Refused(problems=self._problems, raw=raw, index=index, external_id=external_id)
        return Mapped(submission=submission, raw=raw, index=index, actor=actor)

    def _schema_problems(self, error: ValidationError) -> list[FieldProblem]:
        already = {problem.field for problem in self._problems}
        found: list[FieldProblem] = []
        for item in error.errors(include_url=False):
            # A value the adapter could not read was left unset; "required" would say it twice.
            if self._problems and item["type"] == "missing":
                continue
            field, rest = self._native(tuple(item["loc"]))
            if field in already:
                continue
            message = _message(item["msg"])
            message = f"{rest}: {message}" if rest else message
            problem = FieldProblem(field=field, message=message, code=item["type"])
            if problem not in found:
                found.append(problem)
        return found

    def _native(self, loc: Loc) -> tuple[str, str]:
        for end in range(len(loc), 0, -1):
            origin = self._origins.get(loc[:end])
            if origin is not None:
                return origin, ".".join(str(part) for part in loc[end:])
        return self.root, ".".join(str(part) for part in loc)


def _message(text: str) -> str:
    # pydantic prefixes the schema's own messages; the sender needs only the message.
    return text.removeprefix("Value error, ")
