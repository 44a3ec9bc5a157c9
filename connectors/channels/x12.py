"""X12 interchanges: delimiters from the ISA header, segments, and the ISA/GS/ST envelope
(control numbers and counts checked) — whatever the transaction set inside."""

import re
from dataclasses import dataclass, field

from connectors.channels.results import ProblemCode, UnparseablePayload
from schemas.problems import FieldProblem

_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_COUNT = re.compile(r"[0-9]{1,9}")
_ISA_ELEMENTS = 16


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    segment: str


@dataclass(frozen=True)
class Segment:
    tag: str
    elements: tuple[str, ...]
    text: str
    position: int  # 1-based position in the payload

    def element(self, number: int) -> str:
        """Element `number` (1-based, as in "PO102"), trimmed; "" when absent."""
        return self.elements[number - 1].strip() if 0 < number <= len(self.elements) else ""


@dataclass
class TransactionSet:
    """ST … SE, with the envelope it came in and every envelope problem that touches it."""

    segments: list[Segment]
    sender_id: str  # ISA06
    functional_id: str  # GS01
    group_control_number: str  # GS06
    problems: list[FieldProblem] = field(default_factory=list)

    @property
    def control_number(self) -> str:
        return self.segments[0].element(2)

    @property
    def name(self) -> str:
        return f"ST*{self.control_number or '?'}"


def read_segments(raw: bytes) -> tuple[Delimiters, list[Segment]]:
    """Split an interchange into segments; UnparseablePayload when it does not start with ISA."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.lstrip()
    if not text.startswith("ISA") or len(text) < 4:
        raise UnparseablePayload("not an X12 interchange: it must start with an ISA segment")
    delimiters = _delimiters(text)
    if delimiters.segment in "\r\n":
        parts = re.split(r"\r\n|\r|\n", text)
    else:
        parts = text.split(delimiters.segment)
    segments: list[Segment] = []
    for part in parts:
        stripped = part.strip()
        if stripped:
            elements = stripped.split(delimiters.element)
            segments.append(
                Segment(
                    tag=elements[0].strip(),
                    elements=tuple(elements[1:]),
                    text=stripped,
                    position=len(segments) + 1,
                )
            )
    return delimiters, segments


def _delimiters(text: str) -> Delimiters:
    element = text[3]
    if element.isalnum() or element.isspace():
        raise UnparseablePayload(f"ISA: {element!r} cannot be the element separator")
    # ISA is fixed-width in the standard, but senders pad badly: find ISA16 by counting
    # separators instead of trusting offset 104.
    position = 3
    for _ in range(_ISA_ELEMENTS - 1):
        position = text.find(element, position + 1)
        if position < 0:
            raise UnparseablePayload("ISA: the segment is incomplete (fewer than 16 elements)")
    if position + 2 >= len(text):
        raise UnparseablePayload("ISA: the segment is incomplete (no ISA16 and terminator)")
    component, terminator = text[position + 1], text[position + 2]
    if len({element, component, terminator}) < 3 or terminator.isalnum() or terminator == " ":
        raise UnparseablePayload(
            f"ISA: separators {element!r}, {component!r}, {terminator!r} must be distinct"
            " non-alphanumeric characters"
        )
    return Delimiters(element=element, component=component, segment=terminator)


def transaction_sets(segments: list[Segment]) -> list[TransactionSet]:
    """Group segments into transaction sets and check the envelope around them."""
    return _EnvelopeWalk().walk(segments)


class _EnvelopeWalk:
    def __init__(self) -> None:
        self.sets: list[TransactionSet] = []
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.current: TransactionSet | None = None
        self.interchange_sets: list[TransactionSet] = []
        self.interchange_problems: list[FieldProblem] = []
        self.group_sets: list[TransactionSet] = []
        self.group_problems: list[FieldProblem] = []
        self.groups = 0

    def walk(self, segments: list[Segment]) -> list[TransactionSet]:
        for segment in segments:
            if self.current is not None and segment.tag in ("ISA", "GS", "ST", "GE", "IEA"):
                self._close_set(None)
            handler = {
                "ISA": self._open_interchange,
                "GS": self._open_group,
                "ST": self._open_set,
                "SE": self._close_set,
                "GE": self._close_group,
                "IEA": self._close_interchange,
            }.get(segment.tag, self._other)
            handler(segment)
        if self.current is not None:
            self._close_set(None)
        if self.gs is not None:
            self._close_group(None)
        if self.isa is not None:
            self._close_interchange(None)
        return self.sets

    def _problem(self, problems: list[FieldProblem], where: str, message: str, code: str) -> None:
        problems.append(FieldProblem(field=where, message=message, code=code))

    @property
    def _isa_name(self) -> str:
        return f"ISA*{self.isa.element(13) if self.isa else '?'}"

    def _open_interchange(self, segment: Segment) -> None:
        if self.isa is not None:
            self._close_interchange(None)
        self.isa, self.groups = segment, 0

    def _open_group(self, segment: Segment) -> None:
        if self.gs is not None:
            self._close_group(None)
        if self.isa is None:
            self._problem(
                self.interchange_problems,
                f"segment {segment.position} (GS)",
                "GS outside an interchange (after IEA)",
                ProblemCode.MALFORMED,
            )
        self.gs = segment
        self.groups += 1

    def _open_set(self, segment: Segment) -> None:
        sender = self.isa.element(6) if self.isa else ""
        self.current = TransactionSet(
            [segment],
            sender_id=sender,
            functional_id=self.gs.element(1) if self.gs else "",
            group_control_number=self.gs.element(6) if self.gs else "",
        )
        if self.gs is None:
            self._problem(
                self.current.problems,
                self.current.name,
                "the set is not inside a functional group (GS … GE)",
                ProblemCode.MALFORMED,
            )
        self.sets.append(self.current)
        self.group_sets.append(self.current)
        self.interchange_sets.append(self.current)

    def _close_set(self, segment: Segment | None) -> None:
        current = self.current
        if current is None:
            self._other(segment)
            return
        self.current = None
        if segment is None:
            self._problem(
                current.problems,
                f"{current.name}/SE",
                "missing: the set ends without its SE trailer (truncated?)",
                ProblemCode.MALFORMED,
            )
            return
        current.segments.append(segment)

    def _close_group(self, segment: Segment | None) -> None:
        gs = self.gs
        name = f"GS*{gs.element(6) if gs else '?'}"
        if gs is None and segment is not None:
            self._problem(
                self.interchange_problems,
                f"segment {segment.position} (GE)",
                "GE without its GS",
                ProblemCode.MALFORMED,
            )
        elif segment is None:
            self._problem(
                self.group_problems,
                f"{name}/GE",
                "missing: the group ends without its GE trailer (truncated?)",
                ProblemCode.MALFORMED,
            )
        else:
            self._check_count(segment, 1, len(self.group_sets), f"{name}/GE01", "transaction sets")
            if segment.element(2) != (gs.element(6) if gs else ""):
                self._problem(
                    self.group_problems,
                    f"{name}/GE02",
                    f"must repeat GS06 {gs.element(6) if gs else ''!r}",
                    ProblemCode.CONTROL_NUMBER_MISMATCH,
                )
        for member in self.group_sets:
            member.problems.extend(self.group_problems)
        self.gs, self.group_sets, self.group_problems = None, [], []

    def _close_interchange(self, segment: Segment | None) -> None:
        if self.gs is not None:
            self._close_group(None)
        isa = self.isa
        if isa is None and segment is not None:
            self._problem(
                self.interchange_problems,
                f"segment {segment.position} (IEA)",
                "IEA without its ISA",
                ProblemCode.MALFORMED,
            )
        elif segment is None:
            self._problem(
                self.interchange_problems,
                f"{self._isa_name}/IEA",
                "missing: the interchange ends without its IEA trailer (truncated?)",
                ProblemCode.MALFORMED,
            )
        else:
            self._check_count(segment, 1, self.groups, f"{self._isa_name}/IEA01", "groups")
            if segment.element(2) != (isa.element(13) if isa else ""):
                self._problem(
                    self.interchange_problems,
                    f"{self._isa_name}/IEA02",
                    f"must repeat ISA13 {isa.element(13) if isa else ''!r}",
                    ProblemCode.CONTROL_NUMBER_MISMATCH,
                )
        for member in self.interchange_sets:
            member.problems.extend(self.interchange_problems)
        self.isa, self.interchange_sets, self.interchange_problems = None, [], []

    def _check_count(
        self, segment: Segment, number: int, found: int, where: str, what: str
    ) -> None:
        stated = segment.element(number)
        problems = self.group_problems if segment.tag == "GE" else self.interchange_problems
        if not _COUNT.fullmatch(stated) or int(stated) != found:
            self._problem(
                problems,
                where,
                f"says {stated or 'nothing'} {what}, the payload has {found}",
                ProblemCode.COUNT_MISMATCH,
            )

    def _other(self, segment: Segment | None) -> None:
        if segment is None:
            return
        if self.current is not None:
            self.current.segments.append(segment)
            return
        self._problem(
            self.interchange_problems,
            f"segment {segment.position} ({segment.tag[:3]})",
            "stray segment outside any transaction set",
            ProblemCode.MALFORMED,
        )


def is_segment_tag(tag: str) -> bool:
    return bool(_TAG.fullmatch(tag))


def count(text: str) -> int | None:
    """An X12 count (N0): digits only."""
    return int(text) if _COUNT.fullmatch(text) else None
