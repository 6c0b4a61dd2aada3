"""Answers made from the catalog, for every operation without a hand-written handler.

    handler = Generated(op, catalog.defs_of(op))      # once per operation, at start: nothing compiled yet
    reply = await handler(ctx)                         # = handler.answer(sid, path, query_string, body)

The answer is the operation's lowest declared 2xx (else its lowest status below 400) with, in this order:
no body where none is declared; a small valid file (`binary_stub`) where the media is not JSON; the
documented example where it validates (`example`, else the first valid of `examples`); else an instance
generated from the schema, seeded by a hash of (operation, seller, path, query, body), so one request always
gets the same bytes and different sellers see different data. The decision is made on the first call
(compiling the validator), and generated replies are kept in a bounded LRU shared by all operations, keyed by
the seed: a repeated request costs a hash and a dict lookup. docs/catalog.md ("Generated answers") has the
decisions, and the four responses no instance can satisfy (answered with the closest one).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wbseller.methods.context import Reply
from wbseller.schemas.generate import binary_stub, generate
from wbseller.schemas.validate import Validator

if TYPE_CHECKING:
    from wbseller.catalog import Media, Operation
    from wbseller.methods.context import Context

CACHE_SIZE = 4096  # generated replies kept, over all operations


class ReplyCache:
    """A bounded LRU of generated replies by request key. One instance is shared by every `Generated`."""

    def __init__(self, maxsize: int = CACHE_SIZE) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, Reply] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Reply | None:
        reply = self._items.get(key)
        if reply is not None:
            self._items.move_to_end(key)
        return reply

    def put(self, key: Hashable, reply: Reply) -> None:
        self._items[key] = reply
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


SHARED = ReplyCache()


def is_json(content_type: str) -> bool:
    """application/json, any `+json` type (application/problem+json) or any `/json` one (text/json)."""
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    return kind.endswith(("/json", "+json"))


def answer_status(op: Operation) -> str | None:
    """The declared status answered: the lowest 2xx, else the lowest below 400 (None: nothing below 400)."""
    codes = sorted(int(s) for s in op.responses if s.isdigit())
    success = [c for c in codes if 200 <= c < 300] or [c for c in codes if c < 400]
    return str(success[0]) if success else None


def answer_media(content: Mapping[str, Media]) -> str | None:
    """The content type answered: the first JSON one, else the first declared (None: no body)."""
    return next((c for c in content if is_json(c)), next(iter(content), None))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class _Plan:
    """What an operation answers, decided on its first call."""

    source: str  # "empty", "binary", "example", "examples[<name>]", "generated"
    reply: Reply | None  # the same for every request (all but "generated")
    status: int
    content_type: bytes
    schema: Any = None
    value: Any = None  # the example's value (JSON examples): the path's ids are echoed into a copy


class Generated:
    """The handler of one catalog operation that has no hand-written one."""

    def __init__(self, op: Operation, defs: Mapping[str, Any], *, cache: ReplyCache | None = None) -> None:
        self.op = op
        # generate() caches validators by the identity of defs: keep the catalog's own dict, never a copy
        self.defs: dict[str, Any] = defs if isinstance(defs, dict) else dict(defs)
        self.cache = SHARED if cache is None else cache
        self._prefix = op.id.encode()
        self._plan: _Plan | None = None
        self._validator: Validator | None = None  # the answer's, for echoed path ids

    @property
    def plan(self) -> _Plan:
        if self._plan is None:
            self._plan = self._decide()
        return self._plan

    @property
    def source(self) -> str:
        """How this operation is answered: empty, binary, example, examples[<name>] or generated."""
        return self.plan.source

    def _decide(self) -> _Plan:
        code = answer_status(self.op)
        if code is None:  # no success declared at all (none in the catalog): an empty 200
            return _Plan("empty", Reply(200, b""), 200, b"")
        status = int(code)
        content = self.op.responses[code]
        kind = answer_media(content)
        if kind is None:
            return _Plan("empty", Reply(status, b""), status, b"")
        content_type = kind.encode()
        if not is_json(kind):
            return _Plan("binary", Reply(status, binary_stub(kind), content_type), status, content_type)
        media = content[kind]
        if media.schema is None:  # any JSON is valid: the example, else an empty object
            body = media.example if media.has_example else {}
            return _Plan("example", Reply(status, _dumps(body), content_type), status, content_type)
        validator = Validator(media.schema, self.defs)
        if media.has_example and validator.is_valid(media.example):
            reply = Reply(status, _dumps(media.example), content_type)
            return _Plan("example", reply, status, content_type, media.schema, media.example)
        for name, example in media.examples.items():
            if validator.is_valid(example):
                reply = Reply(status, _dumps(example), content_type)
                return _Plan(f"examples[{name}]", reply, status, content_type, media.schema, example)
        return _Plan("generated", None, status, content_type, media.schema)

    def seed(self, seller_id: str, path: str, query_string: bytes, body: bytes) -> bytes:
        """The request's seed: a hash of what makes it this request (stable across runs and processes)."""
        digest = hashlib.blake2b(digest_size=16)
        for part in (self._prefix, seller_id.encode(), path.encode(), query_string, body):
            digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: parts cannot run into each other
            digest.update(part)
        return digest.digest()

    def key(self, seller_id: str, path: str, query_string: bytes, body: bytes) -> Hashable:
        """The request's key in the reply cache: its parts (a big body by its digest)."""
        return (self._prefix, seller_id, path, query_string, body if len(body) <= 256 else _digest(body))

    def answer(
        self,
        seller_id: str,
        path: str,
        query_string: bytes,
        body: bytes,
        path_params: Mapping[str, Any] | None = None,
    ) -> Reply:
        """The answer; `path_params` (typed) are echoed where the answer has a field of their name (an
        order's `orderId`, a supply's `id`), if the answer stays valid."""
        plan = self.plan
        echo = path_params and plan.schema is not None and (plan.reply is None or plan.value is not None)
        if plan.reply is not None and not echo:
            return plan.reply
        # The cache's key is the request itself (a tuple hashes in well under a microsecond; a big body by
        # its digest); the seed, a hash of the same parts, is made only to generate.
        key = self.key(seller_id, path, query_string, body)
        reply = self.cache.get(key)
        if reply is None:
            if plan.reply is not None:
                value = copy.deepcopy(plan.value)
            else:
                value = generate(
                    plan.schema, self.defs, seed=self.seed(seller_id, path, query_string, body).hex()
                )
            if echo and path_params:
                value = self._echo(value, path_params)
            reply = Reply(plan.status, _dumps(value), plan.content_type)
            self.cache.put(key, reply)
        return reply

    def _echo(self, value: Any, params: Mapping[str, Any]) -> Any:
        echoed = copy.deepcopy(value)
        if not _put_params(echoed, params, 0):
            return value
        if self._validator is None:
            self._validator = Validator(self.plan.schema, self.defs)
        return echoed if self._validator.is_valid(echoed) else value

    async def __call__(self, ctx: Context) -> Reply:
        params = ctx.checked.path if ctx.checked is not None else None
        return self.answer(ctx.claims.sid, ctx.path, ctx.query_string, ctx.body, params)


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _put_params(value: Any, params: Mapping[str, Any], depth: int) -> bool:
    """Set fields named like a path parameter (any case, `_` ignored) to its value, in objects down to a
    few levels and in each item of a list; a lone id parameter also fills the top object's `id`. Whether
    anything was set."""
    if depth > 3:
        return False
    changed = False
    if isinstance(value, dict):
        wanted = {_norm(k): v for k, v in params.items()}
        for key in value:
            hit = wanted.get(_norm(key))
            if hit is not None and not isinstance(value[key], (dict, list)):
                value[key] = hit
                changed = True
        if depth == 0 and len(params) == 1 and "id" in value and not isinstance(value["id"], (dict, list)):
            (only,) = params.values()
            value["id"] = only
            changed = True
        for child in value.values():
            if isinstance(child, (dict, list)):
                changed = _put_params(child, params, depth + 1) or changed
    elif isinstance(value, list):
        for item in value:
            changed = _put_params(item, params, depth + 1) or changed
    return changed


def answered_by(op: Operation, defs: Mapping[str, Any]) -> str:
    """How `op` is answered (Generated.source), for listings."""
    return Generated(op, defs, cache=ReplyCache(0)).source


__all__ = [
    "CACHE_SIZE",
    "SHARED",
    "Generated",
    "ReplyCache",
    "answer_media",
    "answer_status",
    "answered_by",
    "is_json",
]
