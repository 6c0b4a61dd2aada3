"""The category table against FACTS.md: names, bits, production and sandbox hosts, and the mask helpers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import SPECS
from wbseller.categories import (
    BY_NAME,
    CATEGORIES,
    CATEGORY_MASK,
    COMMON,
    HOST_BY_PREFIX,
    HOSTS,
    KNOWN_MASK,
    READ_ONLY_BIT,
    READ_ONLY_MASK,
    mask_of,
    names_of,
    unknown_bits,
)

# Copied from the table "Categories, hosts, bits" of FACTS.md, in its order:
# (category, bit position or None for "any token", production host, sandbox host or None).
FACTS_TABLE: list[tuple[str, int | None, str, str | None]] = [
    ("Content", 1, "content-api.wildberries.ru", "content-api-sandbox.wildberries.ru"),
    ("Analytics", 2, "seller-analytics-api.wildberries.ru", None),
    (
        "Prices and Discounts",
        3,
        "discounts-prices-api.wildberries.ru",
        "discounts-prices-api-sandbox.wildberries.ru",
    ),
    ("Marketplace", 4, "marketplace-api.wildberries.ru", None),
    ("Statistics", 5, "statistics-api.wildberries.ru", "statistics-api-sandbox.wildberries.ru"),
    ("Promotion", 6, "advert-api.wildberries.ru", "advert-api-sandbox.wildberries.ru"),
    ("Feedbacks and Questions", 7, "feedbacks-api.wildberries.ru", "feedbacks-api-sandbox.wildberries.ru"),
    ("Buyers Chat", 9, "buyer-chat-api.wildberries.ru", None),
    ("Supplies", 10, "supplies-api.wildberries.ru", None),
    ("Buyers Returns", 11, "returns-api.wildberries.ru", None),
    ("Documents", 12, "documents-api.wildberries.ru", None),
    ("Finance", 13, "finance-api.wildberries.ru", None),
    ("Tariffs, News, Seller Information", None, "common-api.wildberries.ru", None),
]

# Our short names (the CLI's --categories values), in the same order.
SHORT_NAMES = [
    "content",
    "analytics",
    "prices",
    "marketplace",
    "statistics",
    "promotion",
    "feedbacks",
    "chat",
    "supplies",
    "returns",
    "documents",
    "finance",
    "common",
]
WITH_BIT = [n for n, row in zip(SHORT_NAMES, FACTS_TABLE, strict=True) if row[1] is not None]


def test_the_table_is_the_one_of_facts() -> None:
    assert len(CATEGORIES) == 13
    actual = [(c.title, c.bit, c.host, c.sandbox_host) for c in CATEGORIES]
    assert actual == FACTS_TABLE


def test_short_names_and_lookup() -> None:
    assert [c.name for c in CATEGORIES] == SHORT_NAMES
    assert set(BY_NAME) == set(SHORT_NAMES)
    assert COMMON is BY_NAME["common"]
    assert COMMON.bit is None
    assert COMMON.mask == 0


@pytest.mark.parametrize("row", FACTS_TABLE, ids=[r[0] for r in FACTS_TABLE])
def test_each_category(row: tuple[str, int | None, str, str | None]) -> None:
    title, bit, host, sandbox = row
    cat = next(c for c in CATEGORIES if c.title == title)
    assert cat.bit == bit
    assert cat.mask == (0 if bit is None else 1 << bit)
    assert cat.host == host
    assert cat.sandbox is (sandbox is not None)
    assert cat.sandbox_host == sandbox
    assert cat.sandbox_prefix == (None if sandbox is None else sandbox.removesuffix(".wildberries.ru"))


def test_bits_are_distinct_and_not_read_only() -> None:
    bits = [c.bit for c in CATEGORIES if c.bit is not None]
    assert len(bits) == len(set(bits)) == 12
    assert READ_ONLY_BIT not in bits
    # Bits 0, 8 and 14..29 are no category of ours.
    assert not {0, 8, *range(14, 30)} & set(bits)


def test_read_only_and_masks() -> None:
    assert READ_ONLY_BIT == 30
    assert READ_ONLY_MASK == 1 << 30 == 1073741824
    expected_categories = sum(1 << row[1] for row in FACTS_TABLE if row[1] is not None)
    assert expected_categories == 0b11111011111110
    assert expected_categories == CATEGORY_MASK
    assert expected_categories | (1 << 30) == KNOWN_MASK


def test_hosts_are_every_production_host_and_every_sandbox_twin() -> None:
    expected = {row[2] for row in FACTS_TABLE} | {row[3] for row in FACTS_TABLE if row[3] is not None}
    assert len(expected) == 18
    assert {h.name for h in HOSTS} == expected
    assert len(HOSTS) == 18
    for h in HOSTS:
        assert HOST_BY_PREFIX[h.prefix] is h
        assert h.name == f"{h.prefix}.wildberries.ru"
        assert h.sandbox == h.prefix.endswith("-sandbox")
        assert h.name == (h.category.sandbox_host if h.sandbox else h.category.host)
    assert set(HOST_BY_PREFIX) == {n.removesuffix(".wildberries.ru") for n in expected}


# --- mask_of / names_of / unknown_bits ---------------------------------------------------------


def test_mask_of() -> None:
    assert mask_of([]) == 0
    assert mask_of(["content"]) == 1 << 1
    assert mask_of(["content", "marketplace"]) == (1 << 1) | (1 << 4) == 18
    assert mask_of(("finance", "chat")) == (1 << 13) | (1 << 9)
    assert mask_of(["content", "content"]) == 2
    assert mask_of(["all"]) == CATEGORY_MASK
    assert mask_of(["all", "content"]) == CATEGORY_MASK
    assert not mask_of(["all"]) & READ_ONLY_MASK


@pytest.mark.parametrize("bad", ["common", "nosuch", "Content", "", "read-only"])
def test_mask_of_refuses_what_is_no_category_with_a_bit(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown category") as exc:
        mask_of(["content", bad])
    # The message lists the valid names.
    for name in WITH_BIT:
        assert name in str(exc.value)


def test_names_of() -> None:
    assert names_of(0) == []
    assert names_of(18) == ["content", "marketplace"]
    assert names_of(CATEGORY_MASK) == WITH_BIT
    # Read-only and unknown bits are not categories.
    assert names_of(READ_ONLY_MASK) == []
    assert names_of(2 | READ_ONLY_MASK | (1 << 8) | (1 << 16) | 1) == ["content"]


def test_unknown_bits() -> None:
    assert unknown_bits(0) == []
    assert unknown_bits(CATEGORY_MASK | READ_ONLY_MASK) == []
    # Real WB tokens carry bits such as 8 and 16.
    assert unknown_bits(2 | (1 << 8) | (1 << 16)) == [8, 16]
    assert unknown_bits(1) == [0]
    assert unknown_bits(1 << 31) == [31]
    assert unknown_bits((1 << 40) | READ_ONLY_MASK) == [40]


@given(st.lists(st.sampled_from(WITH_BIT)))
def test_names_of_inverts_mask_of(names: list[str]) -> None:
    mask = mask_of(names)
    assert names_of(mask) == [n for n in WITH_BIT if n in names]
    assert names_of(mask | READ_ONLY_MASK) == names_of(mask)
    assert unknown_bits(mask) == []


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_every_bit_is_a_category_read_only_or_unknown(mask: int) -> None:
    known = mask_of(names_of(mask)) | (mask & READ_ONLY_MASK)
    unknown = sum(1 << b for b in unknown_bits(mask))
    assert known | unknown == mask
    assert not known & unknown


# --- x-category: the name WB's own OpenAPI documents give each category ------------------------


def _spec_categories_by_host() -> dict[str, Counter[str]]:
    """host -> how often each `x-category` occurs on operations served there, over WB's documents."""
    found: dict[str, Counter[str]] = {}
    for path in sorted(Path(SPECS).glob("[0-9][0-9]-*.yaml")):
        doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
        top = [s["url"] for s in doc.get("servers", [])]
        for item in (doc.get("paths") or {}).values():
            urls = [s["url"] for s in item.get("servers", [])] or top
            for op in item.values():
                if not isinstance(op, dict) or "x-category" not in op:
                    continue
                op_urls = [s["url"] for s in op.get("servers", [])] or urls
                for url in op_urls:
                    host = url.split("://", 1)[-1].split("/", 1)[0]
                    found.setdefault(host, Counter())[op["x-category"]] += 1
    return found


def test_spec_name_is_the_x_category_of_wb_documents() -> None:
    """`Category.spec_name` is documented as "the `x-category` value in WB's OpenAPI documents":
    on each category's production host, the official documents' operations carry that value."""
    by_host = _spec_categories_by_host()
    wrong = {}
    for cat in CATEGORIES:
        counts = by_host.get(cat.host)
        assert counts, f"no operation of WB's documents is served on {cat.host}"
        if cat.spec_name not in counts:
            wrong[cat.name] = (cat.spec_name, counts.most_common(1)[0][0])
    assert wrong == {}, "category: (spec_name, x-category in WB's documents)"
