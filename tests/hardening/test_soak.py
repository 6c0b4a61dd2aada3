"""A bounded soak at high load on the loopback address: many sellers and tokens, every General method,
bad tokens from a few attacking addresses. Memory stays flat, the in-process tables stay bounded (cached
tokens and idle buckets are evicted), and no response is anything but what the limits imply.

- 100 sellers, 500 tokens (personal, base read-only, service; 5 a seller), made through the same
  `Accounts.issue_token` the CLI uses; the server's token cache holds 150 of them, so tokens keep
  being evicted and verified again (tests/hardening/soak_server.py: `wbseller serve` plus that knob).
- 48 concurrent httpx clients for WBSELLER_SOAK_SECONDS (25 by default, as in CI; the figures in
  docs/hardening.md are of longer runs): /ping on every host a token opens,
  seller information, news; and bad tokens from 50 addresses (X-Forwarded-For, trusted from 127.0.0.1:
  the server is told it is a proxy), real tokens with a different bad signature each time, which meet
  the failed-authentication limit (signature checks per address and claimed token id).
- The limits are the General section's shapes with shorter periods (the config below), so that in 25 s
  every bucket fills, empties and refills many times.

What is asserted:
- statuses: good tokens get only 200 and 429; bad tokens only 401 and 429; every 429 is a WB error body
  naming the limit (`limited by <group>`), and carries the X-Ratelimit-* headers;
- the 429s are the ones the limits imply: in every bucket, the admitted requests are at least
  min(sent, burst) (a fresh bucket admits a burst) and at most burst + elapsed / interval + 1 (GCRA);
- memory: the server's resident set, sampled twice a second, is flat after warm-up: the highest
  sample in the last third of the run is within 10 % + 8 MiB of the highest in the first third (a
  leak of a few hundred bytes a request, at thousands of requests a second, would grow past that);
- the tables: cached tokens never exceed the cache size, and token-cache misses exceed the number of
  tokens (evicted tokens were verified again); bucket counts never exceed what the sellers and the
  auth guard can make.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, free_port, stop_process
from tests.hardening.conftest import (
    ERROR_KEYS,
    assert_wb_body,
    b64url,
    parse_response,
    python_env,
    rss_kib,
    token_id,
)
from tests.hardening.flood_load import FloodTally, one_shot, pipelined
from wbseller.accounts import Accounts
from wbseller.categories import HOSTS, mask_of
from wbseller.clock import SystemClock
from wbseller.methods.table import DEFAULT_MAX_BODY
from wbseller.storage import Storage
from wbseller.tokens import TokenType

# 25 s and 100 sellers (were 40 s and 200) keep `make test` in its budget; the memory of each kind of
# refusal over 100,000 requests is the floods' test below.
SECONDS = float(os.environ.get("WBSELLER_SOAK_SECONDS", "25"))
SELLERS = 100
TOKENS_PER_SELLER = 5
TOKEN_CACHE = 150
CLIENTS = 48
HOT = 75  # tokens that carry 80 % of the traffic (the others share the rest)
ATTACKERS = 50
SEED = 20250206
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# (period, limit, burst) per group and token type: the General section's shapes, faster.
PING = (1.0, 4, 4)
INFO = {"personal": (1.0, 2, 5), "service": (1.0, 2, 5), "base": (60.0, 1, 2)}
NEWS = {"personal": (2.0, 1, 3), "service": (2.0, 1, 3), "base": (3600.0, 1, 1)}
AUTH = (60.0, 20, 20)


def _rate(r: tuple[float, int, int]) -> str:
    return f"{{ period = {r[0]}, limit = {r[1]}, burst = {r[2]} }}"


CONFIG = f"""
[limits.ping]
rates.all = {_rate(PING)}
block = {{ strikes = 40, window = 5, seconds = 2 }}

[limits.seller-info]
{chr(10).join(f"rates.{t} = {_rate(r)}" for t, r in INFO.items())}

[limits.news]
{chr(10).join(f"rates.{t} = {_rate(r)}" for t, r in NEWS.items())}

[limits.auth-failures]
rates.all = {_rate(AUTH)}
"""


@dataclass(frozen=True)
class Tok:
    token: str
    sid: str
    type: str
    hosts: tuple[str, ...]  # host prefixes whose /ping this token opens

    @property
    def id(self) -> str:
        return token_id(self.token)


async def make_world(data_dir: Path) -> list[Tok]:
    """Sellers and tokens, through the same code the CLI runs."""
    storage = Storage.in_dir(data_dir)
    try:
        await storage.migrate()
        accounts = Accounts(storage, SystemClock())
        await accounts.load_keys()
        service = await storage.create_service("Soak ERP", mask_of(["content", "marketplace"]), time.time())
        production = [h for h in HOSTS if not h.sandbox]
        every = tuple(h.prefix for h in production)
        kinds: list[tuple[TokenType, dict[str, Any], tuple[str, ...]]] = [
            (TokenType.PERSONAL, {"scope": mask_of(["all"]), "accept_liability": True}, every),
            (TokenType.PERSONAL, {"scope": mask_of(["all"]), "accept_liability": True}, every),
            (
                TokenType.BASE,
                {"scope": mask_of(["content", "finance"]), "read_only": True},
                ("common-api", "content-api", "finance-api"),
            ),
            (TokenType.SERVICE, {"service_id": service.id}, ("common-api", "content-api", "marketplace-api")),
            (TokenType.BASE, {"scope": mask_of(["all"])}, every),
        ]
        out: list[Tok] = []
        for i in range(SELLERS):
            seller, _ = await storage.create_seller(
                f"ИП Нагрузкин {i}", "7700000000", f"Soak {i}", time.time()
            )
            for ttype, options, hosts in kinds[:TOKENS_PER_SELLER]:
                issued = await accounts.issue_token(seller.sid, ttype, **options)
                out.append(Tok(issued.token, seller.sid, ttype.value, hosts))
        return out
    finally:
        await storage.close()


@dataclass
class Bucket:
    sent: int = 0
    admitted: int = 0
    first_send: float = float("inf")
    last_recv: float = 0.0


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    buckets: dict[tuple[str, ...], Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    rss: list[tuple[float, int]] = field(default_factory=list)
    states: list[dict[str, int]] = field(default_factory=list)


def limit_of(key: tuple[str, ...]) -> tuple[float, int, int]:
    group, ttype = key[1], key[2]
    if group == "ping":
        return PING
    if group == "seller-info":
        return INFO[ttype]
    if group == "news":
        return NEWS[ttype]
    return AUTH


def check_429(r: httpx.Response, group: str) -> str | None:
    """What is wrong with a 429 (None: nothing)."""
    if r.headers.get("content-type") != "application/problem+json":
        return f"429 without a WB body: {r.text[:200]}"
    body = r.json()
    if set(body) != ERROR_KEYS or body["status"] != 429:
        return f"429 with a bad body: {body}"
    if not str(body["detail"]).startswith(f"limited by {group}"):
        return f"429 for {group} says {body['detail']}"
    if body["code"] not in ("rate-limited", "method-blocked-polling", "auth-failures"):
        return f"429 code {body['code']}"
    for name in ("x-ratelimit-retry", "x-ratelimit-limit", "x-ratelimit-reset"):
        if not r.headers.get(name, "").isdigit():
            return f"429 without {name}"
    return None


async def client(base: str, toks: list[Tok], deadline: float, worker: int, tally: Tally) -> None:
    rnd = random.Random(SEED + worker)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        while time.monotonic() < deadline:
            # Traffic as integrators make it: a few busy tokens, a long tail of quiet ones.
            tok = rnd.choice(toks[:HOT]) if rnd.random() < 0.8 else rnd.choice(toks)
            roll = rnd.random()
            headers = {"Authorization": tok.token}
            params: dict[str, str] = {}
            key: tuple[str, ...]
            if roll < 0.1:  # an attacker: a bad token from one of a few addresses
                addr = f"203.0.113.{rnd.randrange(ATTACKERS)}"
                # Each attempt a new signature (a repeated one could be refused from memory, unchecked);
                # the last character stays "A", whose unused low bits a strict decoder wants zero.
                forged = tok.token[:-8] + "".join(rnd.choices(B64URL, k=7)) + "A"
                headers = {"Authorization": forged, "X-Forwarded-For": addr}
                path, key = "/common-api/ping", ("auth", "auth-failures", "all", addr, tok.id)
            elif roll < 0.7:
                host = rnd.choice(tok.hosts)
                path, key = f"/{host}/ping", (tok.sid, "ping", tok.type, host)
            elif roll < 0.9:
                path, key = "/common-api/api/v1/seller-info", (tok.sid, "seller-info", tok.type)
            else:
                path, key = "/common-api/api/communications/v2/news", (tok.sid, "news", tok.type)
                params = {"fromID": "1"}
            sent = time.monotonic()
            try:
                r = await http.get(path, headers=headers, params=params)
            except httpx.HTTPError as exc:
                tally.statuses["transport error"] += 1
                tally.wrong.append(f"{path}: {exc!r}")
                continue
            got = time.monotonic()
            tally.statuses[str(r.status_code)] += 1
            b = tally.buckets[key]
            b.sent += 1
            b.first_send = min(b.first_send, sent)
            b.last_recv = max(b.last_recv, got)
            bad = key[0] == "auth"
            if r.status_code == 429:
                problem = check_429(r, key[1])
                if problem:
                    tally.wrong.append(problem)
            elif r.status_code == (401 if bad else 200):
                b.admitted += 1
            else:
                tally.wrong.append(
                    f"{path} ({tok.type}{', bad' if bad else ''}): {r.status_code} {r.text[:200]}"
                )


async def sampler(base: str, pid: int, deadline: float, tally: Tally) -> None:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        n = 0
        while time.monotonic() < deadline:
            tally.rss.append((time.monotonic() - started, rss_kib(pid)))
            if n % 10 == 0:
                tally.states.append((await http.get("/_soak/state")).json())
            n += 1
            await asyncio.sleep(0.5)


async def soak(base: str, pid: int, toks: list[Tok], seconds: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        sampler(base, pid, deadline, tally), *(client(base, toks, deadline, w, tally) for w in range(CLIENTS))
    )
    return tally


@pytest.fixture
def soak_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes], list[Tok], Path]]:
    data = tmp_path / "data"
    started = time.monotonic()
    toks = asyncio.run(make_world(data))
    setup = time.monotonic() - started
    config = tmp_path / "soak.toml"
    config.write_text(CONFIG)
    port = free_port()
    log = tmp_path / "soak-server.log"
    args = [sys.executable, "-m", "tests.hardening.soak_server", "--port", str(port)]
    args += ["--data-dir", str(data), "--config", str(config), "--token-cache", str(TOKEN_CACHE)]
    args += ["--trusted-proxies", "127.0.0.1"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=REPO, env=python_env(), stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"{base}/ready", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    print(f"soak world: {len(toks)} tokens in {setup:.1f} s")
    yield base, proc, toks, log
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_soak(
    soak_server: tuple[str, subprocess.Popen[bytes], list[Tok], Path], figures: dict[str, Any]
) -> None:
    base, proc, toks, log = soak_server
    assert len(toks) == SELLERS * TOKENS_PER_SELLER
    tally = asyncio.run(soak(base, proc.pid, toks, SECONDS))
    assert proc.poll() is None, log.read_text()[-3000:]
    total = sum(v for k, v in tally.statuses.items() if k != "transport error")

    # Nothing but what the limits imply.
    assert not tally.wrong, f"{len(tally.wrong)} unexpected responses, e.g. {tally.wrong[:10]}"
    assert set(tally.statuses) <= {"200", "401", "429"}, tally.statuses
    over, under = [], []
    for key, b in tally.buckets.items():
        period, limit, burst = limit_of(key)
        interval = period / limit
        ceiling = burst + (b.last_recv - b.first_send) / interval + 1
        if b.admitted > ceiling:
            over.append((key, b.admitted, round(ceiling, 1)))
        if b.admitted < min(b.sent, burst):
            under.append((key, b.admitted, b.sent))
    assert not over, f"buckets that admitted more than GCRA allows: {over[:10]}"
    assert not under, f"buckets that refused part of a fresh burst: {under[:10]}"

    # Memory: flat after warm-up.
    warm = max(15.0, SECONDS * 0.2)
    after = [kib for t, kib in tally.rss if t >= warm]
    assert len(after) >= 9, tally.rss
    third = len(after) // 3
    first, last = max(after[:third]), max(after[-third:])
    assert last <= first * 1.10 + 8 * 1024, f"RSS grew from {first} kB to {last} kB: {tally.rss}"

    # Tables: bounded; evicted tokens were verified again.
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(metrics)
        for s in fam.samples
    }
    misses = samples[("wbseller_token_cache_total", (("outcome", "miss"),))]
    hits = samples[("wbseller_token_cache_total", (("outcome", "hit"),))]
    state = httpx.get(f"{base}/_soak/state", timeout=10).json()
    tally.states.append(state)
    assert max(s["tokens"] for s in tally.states) <= TOKEN_CACHE, tally.states
    assert misses > len(toks), (misses, hits)
    # The sellers' buckets, plus the auth guard's (one per client address and claimed token id whose
    # signature was checked): every token from the loopback, each forged (address, id) pair sent.
    forged_pairs = sum(1 for key in tally.buckets if key[0] == "auth")
    possible_buckets = SELLERS * (len(HOSTS) * 2 + 2 * 3) + len(toks) + forged_pairs
    assert max(s["buckets"] for s in tally.states) <= possible_buckets, tally.states
    assert max(s["auth_addresses"] for s in tally.states) <= ATTACKERS, tally.states
    assert "Traceback" not in log.read_text()

    figures.update(
        {
            "seconds": SECONDS,
            "sellers": SELLERS,
            "tokens": len(toks),
            "clients": CLIENTS,
            "requests": total,
            "requests per second": round(total / SECONDS),
            "statuses": dict(sorted(tally.statuses.items())),
            "buckets checked": len(tally.buckets),
            "rss kB first third max": first,
            "rss kB last third max": last,
            "rss kB min/max after warm-up": [min(after), max(after)],
            "token cache misses": int(misses),
            "token cache hits": int(hits),
            "tables max": {k: max(s[k] for s in tally.states) for k in state},
            "tables at end": state,
        }
    )


# --- floods: every way of being refused, 100,000 times each ------------------------------------------

FLOOD_REQUESTS = int(os.environ.get("WBSELLER_FLOOD_REQUESTS", "100000"))
# e.g. "no token,not HTTP": only these kinds (all when empty)
FLOOD_KINDS = os.environ.get("WBSELLER_FLOOD_KINDS", "")
FLOOD_WARMUP = 10_000  # requests of each kind before its first memory reading
# ... and, for the floods of a connection each, at least this long: a margin for the rate of new
# connections to settle (uvicorn used to hold a reset connection until its 5 s keep-alive timer fired;
# gateway/protocol.py now cancels the timer when the connection is lost)
FLOOD_WARMUP_SECONDS = 3.0
FLOOD_SAMPLES = 10  # memory readings over the measured requests, the last one at the end
FLOOD_GROWTH = 0.10  # resident memory may grow at most this much over the measured requests
MAX_BODY = DEFAULT_MAX_BODY  # /ping's limit: the built-in table sets none of its own
FLOOD_HOST = b"content-api.localhost"

# The built-in table (the real /ping limit, 3 per 30 s, and its block), with the failed-authentication
# limit lifted: every bad token then goes all the way through the token check, the dearest path.
FLOOD_CONFIG = """
[limits.auth-failures]
rates.all = { period = 1, limit = 1000000000, burst = 1000000000 }
"""


@dataclass(frozen=True)
class Flood:
    name: str
    make: Callable[[random.Random], Callable[[int], bytes]]  # a fresh request maker per phase
    statuses: frozenset[int]
    codes: frozenset[str]  # the WB error codes its refusals may carry
    one_shot: bool = False  # a connection per request: the server closes it, or would wait for a body


def _get(path: bytes, auth: bytes | None = None, method: bytes = b"GET", extra: bytes = b"") -> bytes:
    head = method + b" " + path + b" HTTP/1.1\r\nHost: " + FLOOD_HOST + b"\r\n"
    if auth is not None:
        head += b"Authorization: " + auth + b"\r\n"
    return head + extra + b"\r\n"


def floods(token: str) -> list[Flood]:
    tok = token.encode()
    header_payload = tok.rsplit(b".", 1)[0]
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    garbage_first = bytes([*range(0x00, 0x20), *range(0x7F, 0x100)])  # no method starts so: not HTTP

    def same(request: bytes) -> Callable[[random.Random], Callable[[int], bytes]]:
        return lambda rnd: lambda i: request

    def garbage_token(rnd: random.Random) -> Callable[[int], bytes]:
        # Random strings, each different (a number in it), some shaped like a JWT, none of them one.
        return lambda i: _get(b"/ping", bytes(rnd.choices(alphabet, k=rnd.randrange(8, 200))) + b"%x" % i)

    def bad_signature(rnd: random.Random) -> Callable[[int], bytes]:
        # A real token's header and payload, 64 random signature bytes (ES256's size): each different.
        return lambda i: _get(b"/ping", header_payload + b"." + b64url(rnd.randbytes(64)).encode())

    def unknown_path(rnd: random.Random) -> Callable[[int], bytes]:
        return lambda i: _get(b"/api/v1/no-such-method/%d" % rnd.randrange(1 << 62), tok)

    def not_http(rnd: random.Random) -> Callable[[int], bytes]:
        return lambda i: bytes([rnd.choice(garbage_first)]) + rnd.randbytes(rnd.randrange(16, 512))

    over = b"Content-Length: %d\r\n" % (MAX_BODY + 1)
    return [
        Flood("no token", same(_get(b"/ping")), frozenset({401}), frozenset({"token-missing"})),
        Flood("garbage tokens", garbage_token, frozenset({401, 429}), frozenset()),
        Flood("bad signatures", bad_signature, frozenset({401, 429}), frozenset()),
        Flood(
            "over the limit",
            same(_get(b"/ping", tok)),
            frozenset({429}),
            frozenset({"rate-limited", "method-blocked-polling"}),
        ),
        Flood("unknown paths", unknown_path, frozenset({404}), frozenset()),
        Flood("wrong verb", same(_get(b"/ping", tok, b"DELETE")), frozenset({405}), frozenset()),
        Flood(
            "oversized body",
            same(_get(b"/ping", tok, extra=over)),
            frozenset({413}),
            frozenset(),
            one_shot=True,
        ),
        Flood("not HTTP", not_http, frozenset({400}), frozenset({"http-malformed"}), one_shot=True),
    ]


async def make_flood_token(data_dir: Path) -> str:
    storage = Storage.in_dir(data_dir)
    try:
        await storage.migrate()
        accounts = Accounts(storage, SystemClock())
        await accounts.load_keys()
        seller, _ = await storage.create_seller("ИП Потопов", "7700000001", "Flood", time.time())
        issued = await accounts.issue_token(
            seller.sid, TokenType.PERSONAL, scope=mask_of(["all"]), accept_liability=True
        )
        return issued.token
    finally:
        await storage.close()


@pytest.fixture
def flood_server(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes], str, Path]]:
    """The soak's server (`wbseller serve --no-access-log`, the same Gateway and uvicorn options) on
    the built-in table; one personal token."""
    data = tmp_path / "data"
    token = asyncio.run(make_flood_token(data))
    config = tmp_path / "flood.toml"
    config.write_text(FLOOD_CONFIG)
    port = free_port()
    log = tmp_path / "flood-server.log"
    args = [sys.executable, "-m", "tests.hardening.soak_server", "--port", str(port)]
    args += ["--data-dir", str(data), "--config", str(config), "--token-cache", "100000"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, cwd=REPO, env=python_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield port, proc, token, log
    finally:
        stop_process(proc)


def check_refusal(flood: Flood, status: int, raw: bytes) -> None:
    """The first response of each status a flood got: a WB error body, its code one the flood may get."""
    resp = parse_response(raw)
    assert resp is not None, (flood.name, raw[:300])
    body = assert_wb_body(resp, status)
    if status == 429 and flood.name != "over the limit":
        assert body["code"] == "auth-failures", (flood.name, body)
    elif flood.codes:
        assert body["code"] in flood.codes, (flood.name, body)


async def run_flood(port: int, flood: Flood, rnd: random.Random, total: int) -> FloodTally:
    make = flood.make(rnd)
    if flood.one_shot:
        return await one_shot(port, make, total)
    return await pipelined(port, make, total)


def test_floods_keep_memory_flat(
    flood_server: tuple[int, subprocess.Popen[bytes], str, Path], figures: dict[str, Any]
) -> None:
    """Each kind of refusal, FLOOD_REQUESTS times after a warm-up of its own: resident memory after the
    warm-up and then FLOOD_SAMPLES times over the measured requests; no reading more than 10 % over the
    first. A leak of 100 bytes a request would be 10 MB over 100,000 requests, about 10 % of the server."""
    port, proc, token, log = flood_server
    rnd = random.Random(SEED)
    rows: dict[str, dict[str, Any]] = {}
    grew: list[str] = []
    kinds = [f for f in floods(token) if not FLOOD_KINDS or f.name in FLOOD_KINDS.split(",")]
    assert kinds, f"no flood is named in WBSELLER_FLOOD_KINDS={FLOOD_KINDS!r}"
    for flood in kinds:
        warm = FloodTally()
        settle = FLOOD_WARMUP_SECONDS if flood.one_shot else 0.0
        while warm.requests < FLOOD_WARMUP or warm.seconds < settle:
            warm.add(uvloop.run(run_flood(port, flood, rnd, FLOOD_WARMUP)))
        assert proc.poll() is None, log.read_text()[-3000:]
        if flood.name == "over the limit":
            assert warm.statuses.pop(200, 0) <= 3, warm.statuses  # the fresh bucket's burst
            warm.first.pop(200, None)
        assert set(warm.statuses) <= flood.statuses, (flood.name, warm.statuses)
        before = rss_kib(proc.pid)
        readings, measured = [before], FloodTally()
        for k in range(FLOOD_SAMPLES):
            part = FLOOD_REQUESTS * (k + 1) // FLOOD_SAMPLES - FLOOD_REQUESTS * k // FLOOD_SAMPLES
            measured.add(uvloop.run(run_flood(port, flood, rnd, part)))
            readings.append(rss_kib(proc.pid))
        assert proc.poll() is None, log.read_text()[-3000:]
        assert set(measured.statuses) <= flood.statuses, (flood.name, measured.statuses)
        assert measured.requests == FLOOD_REQUESTS, (flood.name, measured.statuses)
        for status, raw in (warm.first | measured.first).items():
            check_refusal(flood, status, raw)
        growth = max(readings) / before - 1
        rows[flood.name] = {
            "requests": measured.requests,
            "req/s": round(measured.requests / measured.seconds),
            "statuses": {str(k): v for k, v in sorted(measured.statuses.items())},
            "rss kB after warm-up": before,
            "rss kB at end": readings[-1],
            "rss kB max": max(readings),
            "growth %": round(growth * 100, 1),
        }
        print(f"flood {flood.name}: {rows[flood.name]}")
        if growth > FLOOD_GROWTH:
            grew.append(
                f"{flood.name}: {before} kB -> {max(readings)} kB ({growth:+.0%}), readings {readings}"
            )
    figures.update(rows)
    assert not grew, "resident memory grew under a flood:\n" + "\n".join(grew)
    assert "Traceback" not in log.read_text()
