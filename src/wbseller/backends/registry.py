"""The backends of one server, built once from `INSTALLED` on the shared engine; a handler reaches its
section's through its Context: `ctx.backends.of(Cards)` (typed), or `ctx.backends["products"]`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from wbseller.backends.base import Backend

B = TypeVar("B", bound="Backend")


class Backends:
    def __init__(self, backends: Iterable[Backend] = ()) -> None:
        self._by_name: dict[str, Backend] = {}
        self._by_kind: dict[type[Backend], Backend] = {}
        for b in backends:
            if b.name in self._by_name:
                raise ValueError(f"two backends for the section {b.name!r}")
            self._by_name[b.name] = b
            self._by_kind[type(b)] = b

    def __getitem__(self, name: str) -> Backend:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise KeyError(f"no backend for the section {name!r} (installed: {known})") from None

    def of(self, kind: type[B]) -> B:
        """The backend of this class, typed as such."""
        found = self._by_kind.get(kind)
        if found is None:
            raise KeyError(f"backend {kind.__qualname__} is not installed")
        assert isinstance(found, kind)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    async def reset(self, sid: str) -> None:
        """One seller's state, forgotten in every section."""
        for b in self:
            await b.reset(sid)
