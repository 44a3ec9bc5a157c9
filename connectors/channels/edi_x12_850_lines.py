"""The PO1 line items of an X12 850 → canonical order lines.

PO101 → line id (the line's position when blank); PO102 → quantity, a whole number ("24" or
"24.0"); PO103 must be an each (EA, PC, UN or blank): other units need a pack size we do not
have; PO104 → unit price (X12 "R" numbers such as ".5" and "12." are read as written); the
PO106…PO125 qualifier/id pairs → SKU: the first VP (the vendor's part: ours), VN or SK id
through the channel's SKU map, else the first other id (BP, UP, EN…) the SKU map knows.
"""

import re
from decimal import Decimal

from connectors.channels.draft import SubmissionDraft
from connectors.channels.results import ChannelContext, ProblemCode
from connectors.channels.values import InvalidValue, money_from_text, whole_number_from_text
from connectors.channels.x12 import Segment

_OUR_QUALIFIERS = ("VP", "VN", "SK")
_EACH = ("", "EA", "PC", "UN")
_WHOLE_R = re.compile(r"([0-9]{1,9})(\.0*)?")


def map_po1_lines(
    lines: list[Segment], draft: SubmissionDraft, context: ChannelContext, root: str
) -> None:
    """Each PO1 segment → a canonical line, problems named ``ST*0001/PO1[2].PO102``."""
    draft.name(("lines",), f"{root}/PO1")
    for index, po1 in enumerate(lines):
        path = f"{root}/PO1[{index + 1}]"
        draft.add_line(index, path)
        draft.put(("lines", index, "line_id"), po1.element(1) or str(index + 1), f"{path}.PO101")
        draft.put(("lines", index, "quantity"), _quantity(po1, path, draft), f"{path}.PO102")
        if po1.element(3).upper() not in _EACH:
            draft.refuse(
                f"{path}.PO103",
                f"unit {po1.element(3)!r} is not supported: order in eaches (EA)",
                ProblemCode.UNSUPPORTED,
            )
        draft.put(("lines", index, "unit_price"), _price(po1, path, draft), f"{path}.PO104")
        sku, origin = _sku(po1, path, draft, context)
        draft.put(("lines", index, "sku"), sku, origin)


def _quantity(po1: Segment, path: str, draft: SubmissionDraft) -> int | None:
    text = po1.element(2)
    whole = _WHOLE_R.fullmatch(text)
    try:
        return whole_number_from_text(whole.group(1) if whole else text)
    except InvalidValue as error:
        draft.refuse(f"{path}.PO102", error.message, error.code)
        return None


def _price(po1: Segment, path: str, draft: SubmissionDraft) -> Decimal | None:
    text = po1.element(4)
    if not text:
        draft.refuse(f"{path}.PO104", "the unit price is required", ProblemCode.MISSING)
        return None
    # X12 R values may be written ".5" or "12.": both are plain numbers.
    normal = ("0" + text if text.startswith(".") else text).removesuffix(".")
    try:
        return money_from_text(normal)
    except InvalidValue as error:
        draft.refuse(f"{path}.PO104", error.message, error.code)
        return None


def _sku(
    po1: Segment, path: str, draft: SubmissionDraft, context: ChannelContext
) -> tuple[str | None, str]:
    pairs = [(po1.element(n), po1.element(n + 1), n + 1) for n in range(6, 26, 2)]
    pairs = [(qualifier, ident, n) for qualifier, ident, n in pairs if ident]
    for qualifier, ident, n in pairs:
        if qualifier in _OUR_QUALIFIERS:
            return context.sku_map.get(ident, ident), f"{path}.PO1{n:02d}"
    for _, ident, n in pairs:
        if ident in context.sku_map:
            return context.sku_map[ident], f"{path}.PO1{n:02d}"
    if pairs:
        known = ", ".join(f"{qualifier} {ident!r}" for qualifier, ident, _ in pairs)
        draft.refuse(
            f"{path}.PO107",
            f"no VP, VN or SK product id, and {known} not in the channel's SKU map",
            ProblemCode.UNKNOWN_SKU,
        )
    else:
        draft.refuse(f"{path}.PO107", "a product id (PO106/PO107) is required", ProblemCode.MISSING)
    return None, f"{path}.PO107"
