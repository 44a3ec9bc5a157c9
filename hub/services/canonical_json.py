"""A submission's canonical JSON, byte for byte what `json.dumps(value, sort_keys=True,
separators=(",", ":"))` writes (ASCII only), made by orjson where it can be.

A submission's digest (`hub.services.intake.submission_digest`) is the sha256 of these bytes;
it is stored with every order and compared with every re-submission, across releases, so its
value must never change. The standard encoder took ~14 µs of a five-line order's ~22 µs digest.

`orchestration_policies.canonical.canonical_json` already writes the standard library's bytes
through orjson, but with `ensure_ascii=False`. The two standard outputs differ only in the
characters outside printable ASCII (DEL and every non-ASCII one), which `ensure_ascii` writes as
`\\uXXXX` (lowercase hex, astral ones as a surrogate pair) and which otherwise stand as they are,
inside texts only: they are escaped here the same way. A lone surrogate cannot be written as
UTF-8 at all: such a value goes to the standard library whole.
"""

import json
import re
from typing import Any

from orchestration_policies.canonical import canonical_json

_OUTSIDE_PRINTABLE_ASCII = re.compile("[\x7f-\U0010ffff]")


def reference_dumps(value: Any) -> bytes:
    """The definition: the standard library's compact, key-sorted, ASCII-only JSON."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def canonical_ascii_json(value: Any) -> bytes:
    """`reference_dumps(value)`: the same bytes, through orjson where it writes them."""
    try:
        data = canonical_json(value)
    except UnicodeEncodeError:  # a lone surrogate (ensure_ascii writes it as an escape)
        return reference_dumps(value)
    if data.isascii() and b"\x7f" not in data:
        return data
    return _OUTSIDE_PRINTABLE_ASCII.sub(_escape, data.decode()).encode()


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
