"""A YAML document's shape, measured before it is loaded: how deep it nests and how many nodes
it has once its aliases are expanded.

YAML's loader recurses once per level, so a document nested thousands deep takes seconds and
ends in a RecursionError; and a few aliases of aliases expand into billions of nodes ("billion
laughs") once the document is validated. This walks the parser's events instead (a flat
stream, no recursion) and stops at the first limit passed.
"""

from dataclasses import dataclass, field

import yaml

# LibYAML's event parser when PyYAML was built with it (it is, in the wheels): many times faster.
_EVENTS: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ShapeError(ValueError):
    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass
class _Anchored:
    """What an anchor stands for, wherever an alias repeats it: its nodes, and the levels of
    nesting it adds (none for a scalar, one and those inside it for a collection)."""

    nodes: int = 1
    depth: int = 0


@dataclass
class _Open:
    anchor: str | None
    nodes_before: int
    depth: int
    deepest: int = field(default=0)


def check_shape(text: str, max_depth: int, max_nodes: int) -> None:
    """Raise ShapeError when the document (aliases expanded) is deeper or larger than allowed;
    yaml.YAMLError when it is not YAML (the loader then says where)."""
    anchors: dict[str, _Anchored] = {}
    open_: list[_Open] = []
    nodes = 0

    def reach(event: yaml.Event, depth: int, added: int) -> None:
        nonlocal nodes
        nodes += added
        for parent in open_:
            parent.deepest = max(parent.deepest, depth)
        if depth > max_depth:
            raise _error(event, f"the document nests deeper than {max_depth}")
        if nodes > max_nodes:
            raise _error(event, f"the document has more than {max_nodes} nodes (aliases expanded)")

    for event in yaml.parse(text, Loader=_EVENTS):
        depth = len(open_)
        if isinstance(event, yaml.AliasEvent):
            anchored = anchors.get(event.anchor or "")
            if anchored is None:  # unknown, or its own ancestor (a recursive structure)
                raise _error(event, f"alias *{event.anchor} refers to no finished anchor")
            reach(event, depth + anchored.depth, anchored.nodes)
        elif isinstance(event, yaml.ScalarEvent):
            reach(event, depth, 1)
            if event.anchor:
                anchors[event.anchor] = _Anchored()
        elif isinstance(event, yaml.CollectionStartEvent):
            open_.append(_Open(event.anchor, nodes, depth + 1, depth + 1))
            reach(event, depth + 1, 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            closed = open_.pop()
            if closed.anchor:
                anchors[closed.anchor] = _Anchored(
                    nodes - closed.nodes_before, 1 + closed.deepest - closed.depth
                )


def _error(event: yaml.Event, message: str) -> ShapeError:
    mark = event.start_mark
    if mark is None:
        return ShapeError(message, None, None)
    return ShapeError(message, mark.line + 1, mark.column + 1)
