"""Paths to methods: literal paths by one dict lookup, templates (`/api/v3/orders/{orderId}/cancel`) by a tree
of path segments in which a literal segment wins over a variable one (WB Digital serves `offers/thumb` beside
`offers/{offer_id}`), with backtracking, so a literal that leads nowhere still lets a template match.

Path parameters come back as strings; their types are checked with the rest of the request (methods/checks.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from wbseller.methods.table import Method

_VARIABLE = re.compile(r"^\{([^{}]+)\}$")

ByVerb = dict[str, Method]


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    variable: _Node | None = None
    methods: ByVerb | None = None  # a template ends here


@dataclass(frozen=True, slots=True)
class Match:
    by_verb: ByVerb
    values: tuple[str, ...] = ()  # the variable segments, in order (empty for a literal path)


def names_of(template: str) -> tuple[str, ...]:
    """The variables of a path template, in order."""
    return tuple(m.group(1) for seg in template.split("/") if (m := _VARIABLE.match(seg)))


class Router:
    """The paths of one host (or, for a bare address, of every production host)."""

    def __init__(self, methods: Iterable[Method] = ()) -> None:
        self.literal: dict[str, ByVerb] = {}
        self._root = _Node()
        self.templated = 0
        for m in methods:
            self.add(m)

    def add(self, method: Method) -> None:
        if "{" not in method.path:
            self.literal.setdefault(method.path, {})[method.http] = method
            return
        node = self._root
        for seg in method.path.split("/")[1:]:
            if _VARIABLE.match(seg):
                if node.variable is None:
                    node.variable = _Node()
                node = node.variable
            else:
                node = node.literal.setdefault(seg, _Node())
        if node.methods is None:
            node.methods = {}
            self.templated += 1
        node.methods[method.http] = method

    def match(self, path: str, verb: str) -> Match | None:
        """The methods of `path`: a literal path first, else a template. Where the literal path lacks the
        verb and a template has it (`GET offers/thumb` beside `GET offers/{offer_id}`), the template's."""
        by_verb = self.literal.get(path)
        if by_verb is not None and (verb in by_verb or not self.templated):
            return Match(by_verb)
        if not self.templated or not path.startswith("/"):
            return None if by_verb is None else Match(by_verb)
        values: list[str] = []
        found = _walk(self._root, path.split("/")[1:], 0, values)
        if found is None or (by_verb is not None and verb not in found):
            return None if by_verb is None else Match(by_verb)
        return Match(found, tuple(values))


def _walk(node: _Node, segments: list[str], i: int, values: list[str]) -> ByVerb | None:
    if i == len(segments):
        return node.methods
    seg = segments[i]
    child = node.literal.get(seg)
    if child is not None:
        found = _walk(child, segments, i + 1, values)
        if found is not None:
            return found
    if node.variable is not None and seg:
        values.append(seg)
        found = _walk(node.variable, segments, i + 1, values)
        if found is not None:
            return found
        values.pop()
    return None


__all__ = ["Match", "Router", "names_of"]
