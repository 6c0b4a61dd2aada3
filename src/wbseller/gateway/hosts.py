"""Which WB host a request is for: by Host header, `<prefix>.localhost`, or a path prefix.

content-api.wildberries.ru        -> content-api          (the exact WB host names)
content-api.localhost:8000        -> content-api          (any port)
127.0.0.1:8000/content-api/ping   -> content-api, path /ping
127.0.0.1:8000/ping               -> the host whose method owns the path (common-api for /ping)
"""

from __future__ import annotations

from dataclasses import dataclass

from wbseller.categories import ALL_HOST_BY_PREFIX, WB_DOMAIN, Host

# Names under which the seller's account pages are served (the portal issue builds on this).
PORTAL_PREFIX = "seller"


@dataclass(frozen=True, slots=True)
class Target:
    host: Host | None  # None: a bare address (route by path) or the portal
    portal: bool = False


BARE = Target(None)
PORTAL = Target(None, portal=True)


class HostResolver:
    def __init__(self) -> None:
        self._cache: dict[bytes, Target] = {}

    def by_header(self, value: bytes | None) -> Target:
        if value is None:
            return BARE
        target = self._cache.get(value)
        if target is None:
            target = _resolve(value.decode("latin-1"))
            if len(self._cache) < 10_000:  # host names are few; an attacker's random ones are not cached
                self._cache[value] = target
        return target


def _resolve(value: str) -> Target:
    name = value.strip().lower()
    if name.startswith("["):  # [::1]:8000
        return BARE
    name = name.rsplit(":", 1)[0] if ":" in name else name
    name = name.rstrip(".")
    for suffix in (f".{WB_DOMAIN}", ".localhost"):
        if name.endswith(suffix):
            prefix = name[: -len(suffix)]
            if prefix == PORTAL_PREFIX:
                return PORTAL
            host = ALL_HOST_BY_PREFIX.get(prefix)
            if host is not None:
                return Target(host)
    return BARE


def split_prefix(path: str) -> tuple[Target, str] | None:
    """`/content-api/ping` -> (content-api, `/ping`); None when the first segment names no host."""
    if len(path) < 2:
        return None
    end = path.find("/", 1)
    first = path[1:] if end < 0 else path[1:end]
    rest = "/" if end < 0 else path[end:]
    if first == PORTAL_PREFIX:
        return PORTAL, rest
    host = ALL_HOST_BY_PREFIX.get(first)
    if host is None:
        return None
    return Target(host), rest
