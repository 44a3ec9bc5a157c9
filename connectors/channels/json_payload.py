"""JSON payloads: decoded without floats, re-serialised exactly, and read field by field with
each field's path in the sender's terms (``line_items[2].price``)."""

import json
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation

from connectors.channels.draft import ProblemSink
from connectors.channels.results import ProblemCode, UnparseablePayload
from connectors.channels.values import (
    InvalidValue,
    money_from_integer,
    money_from_text,
    timestamp_from_text,
)

MAX_DEPTH = 32
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]{1,3}(\.[0-9]{1,12})?")


class JsonFraction(Decimal):
    """A JSON number written with a fraction or exponent (``19.9``, ``3.0``, ``1e2``).

    Kept exactly as a Decimal, but marked: money sent this way was most likely a binary float in
    the sender's program and is refused, and a quantity sent this way is not a count.
    """


def _fraction(text: str) -> JsonFraction:
    try:
        return JsonFraction(text)
    except InvalidOperation:
        raise ValueError(f"number {text[:20]!r}… is out of range") from None


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def load_json(raw: bytes) -> object:
    """Strict JSON (UTF-8, BOM tolerated): no floats, no NaN, at most MAX_DEPTH levels."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnparseablePayload(f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        value: object = json.loads(text, parse_float=_fraction, parse_constant=_no_constant)
    except RecursionError:
        raise UnparseablePayload("JSON nested too deeply") from None
    except ValueError as error:
        raise UnparseablePayload(f"not JSON: {error}") from None
    if _may_be_deep(text) and _depth(value) > MAX_DEPTH:
        raise UnparseablePayload(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _may_be_deep(text: str) -> bool:
    """Whether the decoded value may be nested deeper than MAX_DEPTH: each level below the top
    is an object or array opened by a bracket, so a text of fewer brackets (counted in C,
    inside strings too, which only makes the count larger) cannot be. Walking the value was
    more than half of a channel order's JSON reading, most of it for orders of a few levels."""
    return text.count("{") + text.count("[") >= MAX_DEPTH


def _depth(value: object) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def dump_json(value: object) -> str:
    """Compact JSON of a decoded value, numbers exactly as they were sent."""
    if isinstance(value, dict):
        members = (
            f"{json.dumps(str(k), ensure_ascii=False)}:{dump_json(v)}" for k, v in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump_json(item) for item in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class JsonObject:
    """One JSON object of the payload; each reader records a problem and returns None when the
    field is absent or unusable, so an adapter reads on and reports every problem at once."""

    def __init__(self, members: Mapping[str, object], path: str, sink: ProblemSink) -> None:
        self.members = members
        self.path = path
        self.sink = sink

    @classmethod
    def of(cls, value: object, path: str, sink: ProblemSink) -> "JsonObject | None":
        if isinstance(value, dict):
            return cls(value, path, sink)
        sink.refuse(
            path or "(body)", f"must be an object, not {type_name(value)}", ProblemCode.WRONG_TYPE
        )
        return None

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        value = self.members.get(key)
        return value is not None and value != ""

    def get(self, key: str) -> object:
        return self.members.get(key)

    def _absent(self, key: str, required: bool) -> None:
        if required:
            self.sink.refuse(self.at(key), "is required", ProblemCode.MISSING)

    def _wrong(self, key: str, expected: str, code: ProblemCode = ProblemCode.WRONG_TYPE) -> None:
        value = self.members.get(key)
        self.sink.refuse(self.at(key), f"must be {expected}, not {type_name(value)}", code)

    def text(self, key: str, *, required: bool = True, numbers: bool = False) -> str | None:
        """A string (or, with numbers=True, an integer id such as 4711 → "4711")."""
        value = self.members.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            self._absent(key, required)
            return None
        if isinstance(value, str):
            return value
        if numbers and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        self._wrong(key, "a string" if not numbers else "a string or an integer")
        return None

    def whole(self, key: str, *, required: bool = True) -> int | None:
        """A count: a JSON integer > 0 (3.0 and "3" are refused, never rounded or parsed)."""
        value = self.members.get(key)
        if value is None:
            self._absent(key, required)
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            shown = (
                value if isinstance(value, int | Decimal) and not isinstance(value, bool) else None
            )
            got = f" (got {shown})" if shown is not None else f", not {type_name(value)}"
            self.sink.refuse(
                self.at(key), f"must be a whole number > 0{got}", ProblemCode.NOT_WHOLE_NUMBER
            )
            return None
        return value

    def money(self, key: str, *, required: bool = True) -> Decimal | None:
        """An amount as a string ("19.90") or an integer; a JSON number with a fraction is
        refused."""
        value = self.members.get(key)
        if value is None or value == "":
            self._absent(key, required)
            return None
        try:
            if isinstance(value, JsonFraction):
                raise InvalidValue(
                    f'must be a string such as "{value}" or an integer, not a JSON number with '
                    "a fraction: a binary float cannot hold every amount of money",
                    ProblemCode.FLOAT_MONEY,
                )
            if isinstance(value, str):
                return money_from_text(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return money_from_integer(value)
        except InvalidValue as error:
            self.sink.refuse(self.at(key), error.message, error.code)
            return None
        self._wrong(key, 'a decimal string such as "19.90"', ProblemCode.BAD_MONEY)
        return None

    def timestamp(self, key: str, *, required: bool = True) -> datetime | None:
        text = self.text(key, required=required)
        if text is None:
            return None
        try:
            return timestamp_from_text(text)
        except InvalidValue as error:
            self.sink.refuse(self.at(key), error.message, error.code)
            return None

    def number(self, key: str) -> Decimal | None:
        """A coordinate or other measure: a JSON number or a numeric string (optional)."""
        value = self.members.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, Decimal):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        if isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value.strip()):
            return Decimal(value.strip())
        self._wrong(key, "a number")
        return None

    def child(self, key: str, *, required: bool = True) -> "JsonObject | None":
        value = self.members.get(key)
        if value is None:
            self._absent(key, required)
            return None
        return JsonObject.of(value, self.at(key), self.sink)

    def children(self, key: str, *, required: bool = True) -> list["JsonObject"]:
        """The objects of an array; a non-object item is a problem at its own index."""
        value = self.members.get(key)
        if value is None:
            self._absent(key, required)
            return []
        if not isinstance(value, list):
            self._wrong(key, "an array")
            return []
        found = []
        for position, item in enumerate(value):
            member = JsonObject.of(item, f"{self.at(key)}[{position}]", self.sink)
            if member is not None:
                found.append(member)
        return found
