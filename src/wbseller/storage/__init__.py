"""Storage of sellers, users, services, tokens' metadata, keys and news (SQLite by default)."""

from wbseller.storage.store import (
    Event,
    NewsItem,
    NotFoundError,
    Seller,
    SellerState,
    Service,
    Storage,
    TokenRecord,
    TokenStatus,
    User,
    prepare_data_dir,
    sqlite_url,
)

__all__ = [
    "Event",
    "NewsItem",
    "NotFoundError",
    "Seller",
    "SellerState",
    "Service",
    "Storage",
    "TokenRecord",
    "TokenStatus",
    "User",
    "prepare_data_dir",
    "sqlite_url",
]
