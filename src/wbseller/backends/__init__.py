"""State of the WB sections, one backend each (`base.Backend`): its own tables, migrations and reset.

`INSTALLED` lists the backend classes a server builds (gateway/parts.py, once, on the shared engine);
a section's issue adds its class here. General (users, invitations, accesses, Jam, rating:
docs/general.md) is the first with state; every other operation is answered by generation
(methods/generated.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from wbseller.backends.base import Backend, check, migrate
from wbseller.backends.general import General
from wbseller.backends.registry import Backends
from wbseller.storage import Storage

INSTALLED: tuple[type[Backend], ...] = (General,)


def build(storage: Storage, kinds: Iterable[type[Backend]] = INSTALLED) -> Backends:
    """One instance of each backend class, on `storage`'s engine; classes that break the conventions
    (base.py) are refused here, at start."""
    made = []
    for kind in kinds:
        check(kind)
        made.append(kind(storage))
    return Backends(made)


__all__ = ["INSTALLED", "Backend", "Backends", "General", "build", "migrate"]
