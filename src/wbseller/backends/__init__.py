"""State of the WB sections, one backend each (`base.Backend`): its own tables, migrations and reset.

`INSTALLED` lists the backend classes a server builds (gateway/parts.py, once, on the shared engine);
a section's issue adds its class here. None has state yet: every operation is answered by a handler
without state or by generation (methods/generated.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from wbseller.backends.base import Backend, check, migrate
from wbseller.backends.registry import Backends
from wbseller.storage import Storage

INSTALLED: tuple[type[Backend], ...] = ()


def build(storage: Storage, kinds: Iterable[type[Backend]] = INSTALLED) -> Backends:
    """One instance of each backend class, on `storage`'s engine; classes that break the conventions
    (base.py) are refused here, at start."""
    made = []
    for kind in kinds:
        check(kind)
        made.append(kind(storage))
    return Backends(made)


__all__ = ["INSTALLED", "Backend", "Backends", "build", "migrate"]
