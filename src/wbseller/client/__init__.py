"""The Python client of the WB seller API: `Client` (sync) and `AsyncClient`, one core behind both.

    from wbseller.client import Client
    with Client() as wb:                      # token from $WB_API_TOKEN
        print(wb.seller_info().name)
        orders = wb.call("get-api-v3-orders-new").json()   # any operation of the catalog, by id

It paces itself by the same catalog of operations and limits the server uses, retries 429s, 5xx and network errors by a
`RetryPolicy`, refuses calls the token cannot make before sending them, and raises one exception
hierarchy (`wbseller.client.exceptions`). docs/client.md has the whole story.
"""

from wbseller.client._async import AsyncClient
from wbseller.client._core import Wait
from wbseller.client._retry import RetryPolicy
from wbseller.client._sync import Client
from wbseller.client._throttle import Throttle
from wbseller.client._token import decode_token
from wbseller.client.exceptions import (
    BadRequest,
    CategoryNotAllowed,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidCall,
    NotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ReadOnlyNotAllowed,
    ServerError,
    ServiceUnavailable,
    TokenError,
    TokenExpiringWarning,
    TokenTypeNotAllowed,
    Unauthorized,
    UnexpectedResponse,
    UnknownOperation,
    Unprocessable,
    WBAPIError,
    WBClientError,
)
from wbseller.client.models import (
    Access,
    CallResult,
    NewsItem,
    NewsType,
    Ping,
    SellerInfo,
    TokenInfo,
    TokenType,
)

__all__ = [
    "Access",
    "AsyncClient",
    "BadRequest",
    "CallResult",
    "CategoryNotAllowed",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "InvalidCall",
    "NewsItem",
    "NewsType",
    "NotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "Ping",
    "RateLimited",
    "ReadOnlyNotAllowed",
    "RetryPolicy",
    "SellerInfo",
    "ServerError",
    "ServiceUnavailable",
    "Throttle",
    "TokenError",
    "TokenExpiringWarning",
    "TokenInfo",
    "TokenType",
    "TokenTypeNotAllowed",
    "Unauthorized",
    "UnexpectedResponse",
    "UnknownOperation",
    "Unprocessable",
    "WBAPIError",
    "WBClientError",
    "Wait",
    "decode_token",
]
