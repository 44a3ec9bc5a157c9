"""EDI X12 850 purchase orders → canonical submissions, one per ST … SE transaction set.

Read from each set: BEG (BEG01 must be 00, an original order; BEG03 → external id; BEG05
CCYYMMDD → placed at midnight UTC, as the 850 carries no time), CUR (CUR02 currency, else the
channel's default), DTM*002 (delivery requested → promised by the end of that day, UTC), PER
(an EM communication number → customer email), the header N1 loops (N1*ST with N3/N4 → ship
to, N404 country else the channel's default; N1*BY → the customer: N104 as id, N102 as name;
without N1*BY the customer is the sender, ISA06), the PO1 lines (`edi_x12_850_lines`), CTT
(CTT01 must count the PO1 segments) and SE (SE01 must count the set's segments, ST and SE
included; SE02 must repeat ST02). GS01 must be PO.

Not supported, and refused as such: ship-to locations given only by code (N103/N104 without
N3/N4: we hold no partner location table), a ship-to per line (N1*ST inside the PO1 loop), and
change or cancel purposes (BEG01 other than 00).

B2B orders are invoiced: payment state ``not_required``; demand class ``b2b``; delivery
``standard``. Problems are named ``ST*0001/PO1[2].PO102`` (PO1 segments counted from 1 within
the set), ``ST*0001/N1*ST/N403``, ``ST*0001/SE01``; envelope problems (``GS*7/GE01``,
``ISA*000000905/IEA02``) refuse every set they enclose. Each result's raw text is its ST … SE
segments.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from connectors.channels.draft import SubmissionDraft
from connectors.channels.edi_x12_850_lines import map_po1_lines
from connectors.channels.results import (
    AdapterResult,
    ChannelContext,
    ProblemCode,
    Refused,
    UnparseablePayload,
)
from connectors.channels.values import (
    InvalidValue,
    date_from_ccyymmdd,
    end_of_day_utc,
    start_of_day_utc,
)
from connectors.channels.x12 import (
    Delimiters,
    Segment,
    TransactionSet,
    count,
    is_segment_tag,
    read_segments,
    transaction_sets,
)
from schemas.submission import PaymentState


def parse(raw: bytes, context: ChannelContext) -> list[AdapterResult]:
    """An X12 interchange → one result per 850 transaction set in it."""
    delimiters, segments = read_segments(raw)
    sets = transaction_sets(segments)
    if not sets:
        raise UnparseablePayload("the interchange holds no transaction set (ST … SE)")
    return [_map_set(tset, index, delimiters, context) for index, tset in enumerate(sets)]


@dataclass
class _Contents:
    """The segments of one set that the mapping reads, sorted by role."""

    beg: Segment | None = None
    cur: Segment | None = None
    promised: Segment | None = None
    email: str | None = None
    parties: dict[str, dict[str, Segment]] = field(default_factory=dict)
    lines: list[Segment] = field(default_factory=list)
    ctt: Segment | None = None


def _map_set(
    tset: TransactionSet, index: int, delimiters: Delimiters, context: ChannelContext
) -> AdapterResult:
    root = tset.name
    raw = delimiters.segment.join(segment.text for segment in tset.segments) + delimiters.segment
    draft = SubmissionDraft(context, root=root)
    for problem in tset.problems:
        draft.refuse(problem.field, problem.message, problem.code)
    st = tset.segments[0]
    if st.element(1) != "850":
        draft.refuse(
            f"{root}/ST01",
            f"must be 850 (purchase order), not {st.element(1)!r}",
            ProblemCode.UNSUPPORTED,
        )
        return Refused(problems=draft.problems, raw=raw, index=index, external_id=None)
    if tset.functional_id not in ("PO", ""):
        draft.refuse(
            f"GS*{tset.group_control_number}/GS01",
            f"must be PO (purchase orders) for an 850, not {tset.functional_id!r}",
            ProblemCode.UNSUPPORTED,
        )
    _check_trailer(tset, draft)
    contents = _sort(tset, draft)
    external_id = _map_header(contents, draft, context, root)
    _map_customer(contents, draft, tset, root)
    _map_ship_to(contents, draft, context, root)
    map_po1_lines(contents.lines, draft, context, root)
    return draft.finish(raw=raw, index=index, actor=context.channel_actor, external_id=external_id)


def _check_trailer(tset: TransactionSet, draft: SubmissionDraft) -> None:
    se = tset.segments[-1]
    if se.tag != "SE":
        return  # the envelope walk has said so
    stated = count(se.element(1))
    if stated != len(tset.segments):
        draft.refuse(
            f"{tset.name}/SE01",
            f"says {se.element(1) or 'nothing'} segments, the set has {len(tset.segments)}"
            " (ST and SE included)",
            ProblemCode.COUNT_MISMATCH,
        )
    if se.element(2) != tset.control_number:
        draft.refuse(
            f"{tset.name}/SE02",
            f"must repeat ST02 {tset.control_number!r}, not {se.element(2)!r}",
            ProblemCode.CONTROL_NUMBER_MISMATCH,
        )


def _sort(tset: TransactionSet, draft: SubmissionDraft) -> _Contents:
    sorter = _Sorter(tset, draft)
    for segment in tset.segments[1:-1] if tset.segments[-1].tag == "SE" else tset.segments[1:]:
        sorter.take(segment)
    _check_line_count(sorter.contents, tset, draft)
    return sorter.contents


class _Sorter:
    """Reads a set's segments in order; ``party`` is the N1 loop the N2-N4 that follow are of."""

    def __init__(self, tset: TransactionSet, draft: SubmissionDraft) -> None:
        self.tset = tset
        self.draft = draft
        self.contents = _Contents()
        self.party: str | None = None

    def take(self, segment: Segment) -> None:
        if not is_segment_tag(segment.tag):
            self.draft.refuse(
                f"{self.tset.name}/segment {segment.position}",
                f"{segment.text[:20]!r} is not a segment",
                ProblemCode.MALFORMED,
            )
            return
        read = _READERS.get(segment.tag)
        if read is not None:
            read(self, segment)

    def beg(self, segment: Segment) -> None:
        if self.contents.beg is not None:
            self.draft.refuse(f"{self.tset.name}/BEG", "appears twice", ProblemCode.DUPLICATE)
        self.contents.beg = self.contents.beg or segment

    def cur(self, segment: Segment) -> None:
        self.contents.cur = self.contents.cur or segment

    def dtm(self, segment: Segment) -> None:
        if segment.element(1) == "002":
            self.contents.promised = self.contents.promised or segment

    def per(self, segment: Segment) -> None:
        emails = [segment.element(n + 1) for n in (3, 5, 7) if segment.element(n) == "EM"]
        self.contents.email = self.contents.email or next(iter(emails), None)

    def n1(self, segment: Segment) -> None:
        contents = self.contents
        if contents.lines:
            self.party = None  # a party of the PO1 loop: only a line-level ship-to matters
            if segment.element(1) == "ST":
                self.draft.refuse(
                    f"{self.tset.name}/PO1[{len(contents.lines)}]/N1*ST",
                    "a ship-to per line is not supported: send one order per ship-to",
                    ProblemCode.UNSUPPORTED,
                )
            return
        party = self.party = segment.element(1)
        if party == "ST" and party in contents.parties:
            self.draft.refuse(
                f"{self.tset.name}/N1*ST",
                "appears twice: one ship-to per order",
                ProblemCode.DUPLICATE,
            )
        contents.parties.setdefault(party, {"N1": segment})

    def party_detail(self, segment: Segment) -> None:
        if self.party is not None:
            self.contents.parties[self.party].setdefault(segment.tag, segment)

    def po1(self, segment: Segment) -> None:
        self.party = None
        self.contents.lines.append(segment)

    def ctt(self, segment: Segment) -> None:
        self.contents.ctt = segment


_READERS: dict[str, Callable[[_Sorter, Segment], None]] = {
    "BEG": _Sorter.beg,
    "CUR": _Sorter.cur,
    "DTM": _Sorter.dtm,
    "PER": _Sorter.per,
    "N1": _Sorter.n1,
    "N2": _Sorter.party_detail,
    "N3": _Sorter.party_detail,
    "N4": _Sorter.party_detail,
    "PO1": _Sorter.po1,
    "CTT": _Sorter.ctt,
}


def _check_line_count(contents: _Contents, tset: TransactionSet, draft: SubmissionDraft) -> None:
    if contents.ctt is None:
        return
    if count(contents.ctt.element(1)) != len(contents.lines):
        draft.refuse(
            f"{tset.name}/CTT01",
            f"says {contents.ctt.element(1) or 'nothing'} line items, the set has "
            f"{len(contents.lines)} PO1 segments",
            ProblemCode.COUNT_MISMATCH,
        )


def _map_header(
    contents: _Contents, draft: SubmissionDraft, context: ChannelContext, root: str
) -> str | None:
    draft.put(("payment_state",), PaymentState.NOT_REQUIRED, f"{root}/BEG")
    cur = contents.cur.element(2) if contents.cur else ""
    draft.put(("currency",), cur or context.default_currency, f"{root}/CUR02")
    if not cur and context.default_currency is None:
        draft.refuse(f"{root}/CUR02", "is required (no default currency)", ProblemCode.MISSING)
    beg = contents.beg
    if beg is None:
        draft.refuse(f"{root}/BEG", "is required", ProblemCode.MISSING)
        return None
    if beg.element(1) != "00":
        draft.refuse(
            f"{root}/BEG01",
            f"must be 00 (original): {beg.element(1)!r} is not a new order",
            ProblemCode.UNSUPPORTED,
        )
    external_id = beg.element(3) or None
    if external_id is None:
        draft.refuse(f"{root}/BEG03", "the purchase order number is required", ProblemCode.MISSING)
    draft.put(("external_id",), external_id, f"{root}/BEG03")
    placed = _date(beg.element(5), f"{root}/BEG05", draft, required=True)
    draft.put(("placed_at",), start_of_day_utc(placed) if placed else None, f"{root}/BEG05")
    if contents.promised is not None:
        promised = _date(contents.promised.element(2), f"{root}/DTM*002/DTM02", draft)
        promised_by: datetime | None = end_of_day_utc(promised) if promised else None
        draft.put(("promised_by",), promised_by, f"{root}/DTM*002/DTM02")
    return external_id


def _map_customer(
    contents: _Contents, draft: SubmissionDraft, tset: TransactionSet, root: str
) -> None:
    buyer = contents.parties.get("BY", {}).get("N1")
    buyer_id = buyer.element(4) if buyer else ""
    if buyer_id:
        draft.put(("customer", "id"), buyer_id, f"{root}/N1*BY/N104")
    else:
        draft.put(("customer", "id"), tset.sender_id.strip() or None, "ISA06")
        if not tset.sender_id.strip():
            draft.refuse("ISA06", "the sender id is required", ProblemCode.MISSING)
    name = buyer.element(2) if buyer else ""
    draft.put(("customer", "name"), name or None, f"{root}/N1*BY/N102")
    draft.put(("customer", "email"), contents.email, f"{root}/PER04")
    draft.put(("customer", "demand_class"), "b2b", f"{root}/N1*BY")


def _map_ship_to(
    contents: _Contents, draft: SubmissionDraft, context: ChannelContext, root: str
) -> None:
    loop = f"{root}/N1*ST"
    draft.name(("ship_to",), loop)
    party = contents.parties.get("ST")
    if party is None:
        draft.refuse(
            loop, "the ship-to party (N1*ST with N3 and N4) is required", ProblemCode.MISSING
        )
        return
    n3, n4 = party.get("N3"), party.get("N4")
    for tag, segment in (("N3", n3), ("N4", n4)):
        if segment is None:
            draft.refuse(
                f"{loop}/{tag}", "is required for the ship-to address", ProblemCode.MISSING
            )
    values = {
        "name": (party["N1"].element(2), f"{loop}/N102", True),
        "line1": (n3.element(1) if n3 else "", f"{loop}/N301", n3 is not None),
        "line2": (n3.element(2) if n3 else "", f"{loop}/N302", False),
        "city": (n4.element(1) if n4 else "", f"{loop}/N401", n4 is not None),
        "region": (n4.element(2) if n4 else "", f"{loop}/N402", False),
        "postal_code": (n4.element(3) if n4 else "", f"{loop}/N403", n4 is not None),
        "country": (n4.element(4) if n4 else "", f"{loop}/N404", False),
    }
    for key, (value, origin, required) in values.items():
        if key == "country" and not value:
            value = context.default_country or ""
            required = n4 is not None
        if required and not value:
            draft.refuse(origin, "is required", ProblemCode.MISSING)
        draft.put(("ship_to", key), value or None, origin)


def _date(text: str, where: str, draft: SubmissionDraft, *, required: bool = False) -> date | None:
    if not text:
        if required:
            draft.refuse(where, "is required", ProblemCode.MISSING)
        return None
    try:
        return date_from_ccyymmdd(text)
    except InvalidValue as error:
        draft.refuse(where, error.message, error.code)
        return None
