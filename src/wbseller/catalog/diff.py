"""What changed between two catalogs (the checked-in one and one built from a newer WB release).

Operations are matched by `VERB path` (an id may change with WB's operationId); schemas by section and name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# An operation's fields compared one by one; anything else under them counts as the field changing.
FIELDS = (
    "id",
    "host",
    "category",
    "read_only",
    "token_types",
    "parameters",
    "request",
    "responses",
    "max_body",
)


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)  # "VERB path"
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # "VERB path" -> changed fields
    limits: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # "VERB path" -> (old, new)
    defs_added: list[str] = field(default_factory=list)  # "section/Name"
    defs_removed: list[str] = field(default_factory=list)
    defs_changed: list[str] = field(default_factory=list)

    def empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.limits
            or self.defs_added
            or self.defs_removed
            or self.defs_changed
        )

    def summary(self) -> str:
        if self.empty():
            return "catalog unchanged"
        lines = [
            f"operations: {len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed; "
            f"limits: {len(self.limits)} changed; schemas: {len(self.defs_added)} added, "
            f"{len(self.defs_removed)} removed, {len(self.defs_changed)} changed"
        ]
        lines += [f"+ {k}" for k in self.added]
        lines += [f"- {k}" for k in self.removed]
        lines += [f"~ {k}: {', '.join(v)}" for k, v in sorted(self.changed.items())]
        for k, (old, new) in sorted(self.limits.items()):
            lines.append(f"~ {k}: limit {_short(old)} -> {_short(new)}")
        lines += [f"+ schema {k}" for k in self.defs_added]
        lines += [f"- schema {k}" for k in self.defs_removed]
        lines += [f"~ schema {k}" for k in self.defs_changed]
        return "\n".join(lines)


def _short(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _ops(catalog: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{o['http']} {o['path']}": o for doc in catalog.values() for o in doc["operations"]}


def _defs(catalog: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"{doc['section']}/{name}": s for doc in catalog.values() for name, s in doc["defs"].items()}


def diff(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> Diff:
    """`old` and `new`: file name -> catalog document (as `build.build` returns and the data files hold)."""
    out = Diff()
    a, b = _ops(old), _ops(new)
    out.added = sorted(set(b) - set(a))
    out.removed = sorted(set(a) - set(b))
    for key in sorted(set(a) & set(b)):
        fields = [f for f in FIELDS if a[key].get(f) != b[key].get(f)]
        if fields:
            out.changed[key] = fields
        if a[key].get("limit") != b[key].get("limit"):
            out.limits[key] = (a[key].get("limit"), b[key].get("limit"))
    da, db = _defs(old), _defs(new)
    out.defs_added = sorted(set(db) - set(da))
    out.defs_removed = sorted(set(da) - set(db))
    out.defs_changed = sorted(k for k in set(da) & set(db) if da[k] != db[k])
    return out
