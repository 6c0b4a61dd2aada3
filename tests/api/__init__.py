"""The whole WB API, per operation, through the gateway in-process (issue 12, "Tests that must exist").

| module | what |
|---|---|
| test_answers.py | every operation answers a valid request: a declared success, its body valid against that status's schema, `X-Ratelimit-Remaining`; the same bytes by Host header, `*.localhost`, path prefix and bare address |
| test_refusals.py | every operation's invalid requests (what it has to break): 400/422 WB error body naming the field, charged |
| test_tokens.py | category bit (and the second hosts of Promotion and Prices), read-only, `x-token-types`, the sandbox |
| test_limits.py | each operation's rate per token type, named and sandbox groups as one bucket, 4xx = 10 on marketplace-api, a base token's stricter row, the overlay's operations |
| test_routing.py | literal over template, typed path parameters, one host a path, /ping where it is and 404 where not, 405 with Allow |

Everything is computed from the catalog (`wbseller.catalog.load()`); what is named per operation is named in
the module that needs it, with its reason (the news handler's one-of rule, the overlay's list, the four
unsatisfiable response schemas of 09-communications).

Decisions:

- **In-process.** One `Gateway(Settings(data_dir=..., test_clock=True))` per module (conftest.py), started and
  shut down with it, called through `httpx.AsyncClient(transport=httpx.ASGITransport(app=gw))`. The tests are
  plain functions driving one `asyncio.Runner` (the project has no pytest async plugin). A request is an
  `httpx.Request` sent with `client.send`: the client's URL merging cost more than the gateway's answer. httpx's
  ASGI transport tries `import sniffio` on every request; where it is not installed, `kit.py` records it as
  absent in `sys.modules` (a failed import searched `sys.path` again each time: half a request's cost).
- **A frozen clock.** `kit.FrozenClock` is the test clock (`OffsetClock`) without the real time under it, passed
  to the Gateway: two requests a few milliseconds apart see the same time, so every `X-Ratelimit-*` number is
  exact (marketplace-api refills one request in 0.2 s, enough to make a real-time count flaky). Tests move it.
- **One seller per module, buckets refilled.** Buckets are per seller; instead of a seller per test, every test
  first calls `api.refill(op)`, which moves the clock until every bucket the operation charges is full (the
  most of (burst + extra cost) x interval over the bucket's members and token types, plus a block). Tokens are
  kept per (type, bits, read-only) and made again once a quarter of their lifetime has passed on that clock.
- **Valid requests** take the documented examples where they are valid, else values generated from the schema
  (`schemas.generate`); a second request of the required parameters alone is generated only. Hosts that need no
  bit (common-api, user-management-api, devapi-digital) get a finance-only token in the valid calls and a
  content-only one in test_tokens.
- **Error bodies** are checked for the WB fields, status, `statusText`, `requestId` (= `X-Request-Id`), origin and
  the timestamp of the clock; not against each document's declared 400 schema (WB's services answer in some 23
  shapes; ours is one, docs/requests.md "Left for others").
- **Time.** Measured on the 2-CPU machine (shared): the directory runs in about 17 s of test time, 20-25 s wall
  with pytest's start (`.venv/bin/pytest -q tests/api`).
"""
