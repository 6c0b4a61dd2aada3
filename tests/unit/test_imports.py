"""No cycle among wbseller's modules: every `import` and `from ... import` of every module under src/wbseller,
wherever it is written (module level, inside a function, under `if TYPE_CHECKING:`), read with `ast`.

An edge goes to the module named: `from wbseller.gateway import protocol` is an edge to
wbseller.gateway.protocol (a submodule), `from wbseller.storage import Storage` to wbseller.storage (the
package's __init__). A module's own parent packages, which Python runs first, are not edges: a package's
__init__ re-exporting its submodules is not a cycle with them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import wbseller

ROOT = Path(wbseller.__file__).parent
PACKAGE = "wbseller"


def modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Module name -> (its file, whether it is a package's __init__)."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _known(name: str, known: Mapping[str, object]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules (an attribute of it is it)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(name: str, path: Path, is_package: bool, known: Mapping[str, object]) -> set[str]:
    """The wbseller modules that the module `name` imports, anywhere in its file."""
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _known(alias.name, known)
                if target is not None:
                    out.add(target)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package, up level - 1
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if sub in known else _known(base, known)
                if target is not None:
                    out.add(target)
    out.discard(name)
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports_of(name, path, pkg, known) for name, (path, pkg) in known.items()}


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        # Iterative: the graph is small, but a recursion limit is no reason for a test to fail.
        work: list[tuple[str, Iterator[str]]] = [(v, iter(sorted(edges.get(v, ()))))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_module_imports_one_that_imports_it_back() -> None:
    edges = graph()
    assert len(edges) > 50  # the whole package was read
    assert cycles(edges) == []


def test_the_server_composes_and_nothing_imports_it() -> None:
    edges = graph()
    composed = {"wbseller.gateway.app", "wbseller.gateway.extras", "wbseller.portal.app"}
    assert composed <= edges["wbseller.server"]
    importers = sorted(m for m, targets in edges.items() if "wbseller.server" in targets)
    assert importers == ["wbseller.cli"]
    # The request path and the pages beside it: neither imports the other's builder.
    assert "wbseller.gateway.extras" not in edges["wbseller.gateway.app"]
    assert "wbseller.portal.app" not in edges["wbseller.gateway.app"]
    for page in ("wbseller.gateway.extras", "wbseller.gateway.metrics", "wbseller.portal.app"):
        assert "wbseller.gateway.app" not in edges[page], page


def test_the_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The reader itself, on a small package: a cycle through an import inside a function, one through
    `if TYPE_CHECKING:` and a relative import, and a package re-exporting its submodule (no cycle)."""
    pkg = tmp_path / "wbseller"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "def f():\n    from wbseller import b\n",
        "b.py": "import wbseller.a.f\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub.d import X\n",
        "sub/__init__.py": "from wbseller.sub.d import X\n",
        "sub/d.py": "from .. import c\nX = 1\n",
        "e.py": "from wbseller.sub import X\nimport json\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    edges = graph(pkg)
    assert edges["wbseller.a"] == {"wbseller.b"}
    assert edges["wbseller.b"] == {"wbseller.a"}
    assert edges["wbseller.c"] == {"wbseller.sub.d"}
    assert edges["wbseller.sub.d"] == {"wbseller.c"}
    assert edges["wbseller.e"] == {"wbseller.sub"}
    assert cycles(edges) == [["wbseller.a", "wbseller.b"], ["wbseller.c", "wbseller.sub.d"]]
