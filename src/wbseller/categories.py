"""The one table of WB API categories: name, token bit, production host, sandbox host.

Every other module asks this one for a category's host or bit; none writes a host name itself.

`CATEGORIES` and `HOSTS` are what the gateway serves today (the 13 categories of FACTS.md and their 5
documented sandbox twins). `ALL_CATEGORIES` and `ALL_HOSTS` add what the official documents and the sandbox
notes name beside them (`docs/catalog.md`): a category's second hosts (advert-media-api, dp-calendar-api),
hosts with no category bit (user-management-api, devapi-digital) and the sandbox twins without a documented
`/ping` (marketplace-api-sandbox, supplies-api-sandbox).
"""

from __future__ import annotations

from dataclasses import dataclass, field

READ_ONLY_BIT = 30
READ_ONLY_MASK = 1 << READ_ONLY_BIT

WB_DOMAIN = "wildberries.ru"


@dataclass(frozen=True, slots=True)
class Category:
    name: str  # our short, stable name (CLI, config, client)
    title: str
    bit: int | None  # None: any token may call it (common-api)
    prefix: str  # host prefix: `<prefix>.wildberries.ru`
    sandbox: bool  # whether a `<prefix>-sandbox` twin exists
    spec_name: str  # the `x-category` value in WB's OpenAPI documents
    mask: int = field(init=False)  # the bit's value in a token's `s`; 0 for common-api

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", 0 if self.bit is None else 1 << self.bit)

    @property
    def host(self) -> str:
        return f"{self.prefix}.{WB_DOMAIN}"

    @property
    def sandbox_prefix(self) -> str | None:
        return f"{self.prefix}-sandbox" if self.sandbox else None

    @property
    def sandbox_host(self) -> str | None:
        return f"{self.prefix}-sandbox.{WB_DOMAIN}" if self.sandbox else None


CATEGORIES: tuple[Category, ...] = (
    Category("content", "Content", 1, "content-api", True, "content"),
    Category("analytics", "Analytics", 2, "seller-analytics-api", False, "contentanalytics"),
    Category("prices", "Prices and Discounts", 3, "discounts-prices-api", True, "discountsandprices"),
    Category("marketplace", "Marketplace", 4, "marketplace-api", False, "marketplace"),
    Category("statistics", "Statistics", 5, "statistics-api", True, "statistics"),
    Category("promotion", "Promotion", 6, "advert-api", True, "advert"),
    Category("feedbacks", "Feedbacks and Questions", 7, "feedbacks-api", True, "questionsandfeedback"),
    Category("chat", "Buyers Chat", 9, "buyer-chat-api", False, "buyerchat"),
    Category("supplies", "Supplies", 10, "supplies-api", False, "supplies"),
    Category("returns", "Buyers Returns", 11, "returns-api", False, "returns"),
    Category("documents", "Documents", 12, "documents-api", False, "documents"),
    Category("finance", "Finance", 13, "finance-api", False, "finance"),
    Category("common", "Tariffs, News, Seller Information", None, "common-api", False, "commonapi"),
)

BY_NAME: dict[str, Category] = {c.name: c for c in CATEGORIES}
COMMON = BY_NAME["common"]

# Every bit our server may issue: the categories' bits and read-only.
KNOWN_MASK = READ_ONLY_MASK
for _c in CATEGORIES:
    KNOWN_MASK |= _c.mask
# The bits a token's categories may carry (not read-only).
CATEGORY_MASK = KNOWN_MASK & ~READ_ONLY_MASK


# The realms a host's tokens come from: our seller tokens, or WB Digital's own `api_token` (docs/catalog.md:
# our seller tokens stand in for it, with no category bit required).
SELLER_REALM = "seller"
WBD_REALM = "wbd"


@dataclass(frozen=True, slots=True)
class Host:
    """One API host: a category in production or in its sandbox.

    `base` names a second host of a category (advert-media-api of Promotion); None is the category's own
    prefix. `ping`: whether WB documents a `/ping` there. `realm`: whose tokens it takes."""

    category: Category
    sandbox: bool
    base: str | None = None
    ping: bool = True
    realm: str = SELLER_REALM
    # Derived once: the request path reads them on every call.
    prefix: str = field(init=False)
    name: str = field(init=False)
    mask: int = field(init=False)

    def __post_init__(self) -> None:
        base = self.base or self.category.prefix
        prefix = f"{base}-sandbox" if self.sandbox else base
        object.__setattr__(self, "prefix", prefix)
        object.__setattr__(self, "name", f"{prefix}.{WB_DOMAIN}")
        object.__setattr__(self, "mask", self.category.mask)


HOSTS: tuple[Host, ...] = tuple(
    h for c in CATEGORIES for h in ((Host(c, False), Host(c, True)) if c.sandbox else (Host(c, False),))
)
HOST_BY_PREFIX: dict[str, Host] = {h.prefix: h for h in HOSTS}

# Categories beside the 13 of FACTS.md, with no token bit (docs/catalog.md):
# user-management-api: the documents give no bit; its methods take personal tokens only (x-token-types).
# devapi-digital: WB Digital has its own token realm; our seller tokens of any category stand in for it.
USERS = Category("users", "Seller's Users", None, "user-management-api", False, "usermanagement")
DIGITAL = Category("digital", "WB Digital", None, "devapi-digital", False, "")
MORE_CATEGORIES: tuple[Category, ...] = (USERS, DIGITAL)
ALL_CATEGORIES: tuple[Category, ...] = CATEGORIES + MORE_CATEGORIES
ALL_BY_NAME: dict[str, Category] = {c.name: c for c in ALL_CATEGORIES}
# `x-category` of WB's documents -> our category (`all` is /ping's: every host, not a category).
BY_SPEC_NAME: dict[str, Category] = {c.spec_name: c for c in ALL_CATEGORIES if c.spec_name}

MORE_HOSTS: tuple[Host, ...] = (
    Host(USERS, False),  # its own /ping is in WB's table
    Host(BY_NAME["promotion"], False, "advert-media-api", ping=False),
    Host(BY_NAME["prices"], False, "dp-calendar-api", ping=False),
    Host(DIGITAL, False, ping=False, realm=WBD_REALM),
    Host(BY_NAME["marketplace"], True, ping=False),  # marketplace-api-sandbox (SANDBOX.md)
    Host(BY_NAME["supplies"], True, ping=False),  # supplies-api-sandbox (SANDBOX.md)
)
ALL_HOSTS: tuple[Host, ...] = HOSTS + MORE_HOSTS
ALL_HOST_BY_PREFIX: dict[str, Host] = {h.prefix: h for h in ALL_HOSTS}


def hosts_of(category: str) -> tuple[Host, ...]:
    """Every host of a category (production first, then sandbox twins), of `ALL_HOSTS`."""
    found = [h for h in ALL_HOSTS if h.category.name == category]
    return tuple(sorted(found, key=lambda h: h.sandbox))


def sandbox_of(prefix: str) -> Host | None:
    """The sandbox twin of a production host prefix, if WB runs one."""
    return ALL_HOST_BY_PREFIX.get(f"{prefix}-sandbox")


def mask_of(names: list[str] | tuple[str, ...]) -> int:
    """The `s` bits of a list of category names; `all` means every category with a bit."""
    mask = 0
    for name in names:
        if name == "all":
            mask |= CATEGORY_MASK
            continue
        cat = BY_NAME.get(name)
        if cat is None or cat.bit is None:
            valid = ", ".join(c.name for c in CATEGORIES if c.bit is not None)
            raise ValueError(f"unknown category {name!r}; expected one of: {valid}, all")
        mask |= cat.mask
    return mask


def names_of(mask: int) -> list[str]:
    """The category names whose bits are set in `mask` (read-only and unknown bits ignored)."""
    return [c.name for c in CATEGORIES if c.bit is not None and mask & c.mask]


def unknown_bits(mask: int) -> list[int]:
    return [b for b in range(mask.bit_length()) if mask >> b & 1 and not KNOWN_MASK >> b & 1]
