"""docs/client.md is the one place the exception hierarchy is written: it must match the code."""

from __future__ import annotations

import inspect
import re

import wbseller.client
from tests.conftest import REPO
from wbseller.client import exceptions

DOC = REPO / "docs" / "client.md"


def _tree() -> dict[str, int]:
    """Exception name -> depth, from the tree drawn in the docs."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("## Exceptions", 1)[1].split("```", 2)[1]
    tree: dict[str, int] = {}
    for line in block.splitlines():
        m = re.match(r"^([│ ├└─]*)(\w+)", line)
        if m and m.group(2)[0].isupper():
            tree[m.group(2)] = len(m.group(1)) // 4
    return tree


def test_the_documented_tree_is_the_code_s() -> None:
    classes = {
        name: cls
        for name, cls in vars(exceptions).items()
        if inspect.isclass(cls) and issubclass(cls, exceptions.WBClientError)
    }
    tree = _tree()
    assert set(tree) == set(classes)
    # Each documented parent is the class's own base among ours.
    stack: list[str] = []
    for name, depth in tree.items():
        del stack[depth:]
        if stack:
            assert issubclass(classes[name], classes[stack[-1]]), (name, stack[-1])
        stack.append(name)
    assert all(hasattr(wbseller.client, name) for name in classes)  # all importable from the package
