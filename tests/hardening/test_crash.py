"""Crash safety: kill -9 at random moments, restart, and find no half-written record, every printed
token working, and every news file imported whole or not at all.

Tokens. A token is signed only after its record is committed (accounts.py: `issue_token` inserts the
record in one transaction, then signs) and the CLI prints it only after that (cli.py `token create`
prints what `issue_token` returned). So a kill can leave a committed record whose token was never
printed: nobody has that token, and nobody can make it without the server's private key, so it opens
nothing; such records are counted and must be at most one a kill (the creation in flight). A printed
token must always have its record. Two kinds of victim, each killed at random moments (seeded):

- real `wbseller token create` processes (one token each), killed anywhere in their life;
- a loop issuing tokens back to back (tests/hardening/token_loop.py, the CLI's two steps in a loop),
  killed a random few milliseconds after its k-th printed token, which lands inside the next
  creation: in its insert, its commit, its signing or its print.

Every third round the server (which shares the SQLite database) is killed -9 as well and restarted.
And the server itself creates tokens: in the seller's account pages (portal). A signed-in user keeps
posting the "create token" form while the server is killed -9 at a random moment, six times over:
every token a page showed works after the restart, and the records no page showed are at most one a
kill.

News. `wbseller news import FILE` adds a file's items in one transaction. It is killed at random
moments inside the import (after the process's start-up, measured on an empty file, and before its
measured end); afterwards the file's id range holds all of its items or none, with all their tags, and
importing the same file again then works.
"""

from __future__ import annotations

import html
import json
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, Server
from tests.hardening.conftest import (
    JWT_LINE,
    LIFTED_LIMITS,
    NEWS,
    PING,
    python_env,
    token_id,
    wbseller_cmd,
)
from tests.portal.conftest import Portal, make_user
from wbseller.tokens import LIFETIME

SEED = 8725
CLI_ROUNDS = 6
LOOP_ROUNDS = 6
NEWS_ROUNDS = 5
NEWS_ITEMS = 600
PORTAL_ROUNDS = 6
SHOWN = re.compile(r'<textarea id="new-token"[^>]*>([^<]+)</textarea>')
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

StartServer = Callable[..., Server]


def integrity(data_dir: Path) -> str:
    with sqlite3.connect(f"file:{data_dir / 'wbseller.db'}?mode=ro", uri=True) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def read_lines(out: bytes) -> tuple[list[str], list[str]]:
    """(complete token lines, anything else: a partly written last line)."""
    lines = out.split(b"\n")
    full = [ln.decode() for ln in lines[:-1] if JWT_LINE.match(ln)]
    rest = [ln.decode("latin-1") for ln in lines[:-1] if not JWT_LINE.match(ln)] + (
        [lines[-1].decode("latin-1")] if lines[-1] else []
    )
    return full, rest


def restart(srv: Server) -> None:
    """Start the killed server again on the same data directory (and port)."""
    srv.start()


def test_kill_9_during_token_creation(start_server: StartServer, figures: dict[str, Any]) -> None:
    srv = start_server(config=LIFTED_LIMITS)
    sid = srv.seller()
    data = srv.data_dir
    rnd = random.Random(SEED)
    create = wbseller_cmd(
        "token",
        "create",
        "--data-dir",
        str(data),
        "--seller",
        sid,
        "--type",
        "personal",
        "--categories",
        "all",
        "--accept-liability",
    )
    printed: list[str] = []
    partial: list[str] = []
    kills = server_kills = 0

    # How long one creation takes, start to end, unkilled.
    started = time.monotonic()
    done = subprocess.run(create, cwd=REPO, env=python_env(), capture_output=True, timeout=60, check=True)
    lifetime = time.monotonic() - started
    printed += read_lines(done.stdout)[0]
    assert len(printed) == 1

    def round_end(proc: subprocess.Popen[bytes], kill_server: bool) -> None:
        nonlocal kills, server_kills
        if kill_server:
            srv.kill()
            server_kills += 1
        proc.kill()
        out, _ = proc.communicate(timeout=30)
        if proc.returncode == -9:
            kills += 1
        full, rest = read_lines(out)
        printed.extend(full)
        partial.extend(r for r in rest if r.strip())
        if kill_server:
            restart(srv)

    for n in range(CLI_ROUNDS):
        proc = subprocess.Popen(
            create, cwd=REPO, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        time.sleep(rnd.uniform(0.2, 1.1) * lifetime)
        round_end(proc, kill_server=n % 3 == 2)

    loop = [sys.executable, "-m", "tests.hardening.token_loop", "--data-dir", str(data), "--seller", sid]
    for n in range(LOOP_ROUNDS):
        proc = subprocess.Popen(
            loop, cwd=REPO, env=python_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        for _ in range(rnd.randint(1, 4)):
            line = proc.stdout.readline()
            assert JWT_LINE.match(line.strip()), line
            printed.append(line.decode().strip())
        time.sleep(rnd.uniform(0, 0.03))
        round_end(proc, kill_server=n % 3 == 2)

    # Afterwards: the database is whole, every record complete, every printed token works.
    assert integrity(data) == "ok"
    records = {r.id: r for r in srv.run_storage(lambda s: s.list_tokens(sid, include_revoked=True))}
    kids = {kid for kid, _, _ in srv.run_storage(lambda s: s.signing_keys())}
    for r in records.values():
        assert UUID.match(r.id), r
        assert (r.sid, r.type, r.revoked) == (sid, "personal", None), r
        assert r.kid in kids, r
        assert r.expires - r.created == LIFETIME, r
        assert r.name and r.uid, r
    ids = [token_id(t) for t in printed]
    assert len(set(ids)) == len(printed), "a token was printed twice"
    missing = [i for i in ids if i not in records]
    assert not missing, f"printed tokens without a record: {missing}"
    with srv.client() as http:
        for token in printed:
            r = http.get(PING, headers={"Authorization": token})
            assert r.status_code == 200, (r.status_code, r.text)
    for cut in partial:  # a token cut in the middle of its line opens nothing
        if "." in cut:
            assert srv.get(PING, cut.strip()).status_code == 401
    unprinted = set(records) - set(ids)
    assert len(unprinted) <= kills, (len(unprinted), kills)
    assert kills >= (CLI_ROUNDS + LOOP_ROUNDS) // 2, kills

    figures.update(
        {
            "rounds": CLI_ROUNDS + LOOP_ROUNDS,
            "creator kills": kills,
            "server kills": server_kills,
            "tokens printed": len(printed),
            "records": len(records),
            "records without a printed token (nobody has it)": len(unprinted),
            "partial lines": len(partial),
            "creation seconds (unkilled)": round(lifetime, 2),
        }
    )


def news_file(path: Path, first_id: int, n: int) -> Path:
    items = [
        {
            "id": first_id + i,
            "header": f"Новость {first_id + i}",
            "content": "Текст новости. " * 10,
            "date": "2025-03-01T12:00:00+03:00",
            "types": [{"id": 8, "name": "API"}, {"id": 700 + i % 5, "name": f"Тег {i % 5}"}],
        }
        for i in range(n)
    ]
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


def count_range(data_dir: Path, first_id: int, n: int) -> tuple[int, int]:
    """(news in the id range, tag links of those news)."""
    with sqlite3.connect(f"file:{data_dir / 'wbseller.db'}?mode=ro", uri=True) as db:
        news = db.execute(
            "SELECT COUNT(*) FROM news WHERE id BETWEEN ? AND ?", (first_id, first_id + n - 1)
        ).fetchone()[0]
        links = db.execute(
            "SELECT COUNT(*) FROM news_tag_links WHERE news_id BETWEEN ? AND ?", (first_id, first_id + n - 1)
        ).fetchone()[0]
    return int(news), int(links)


def timed_import(path: Path, data: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        wbseller_cmd("news", "import", str(path), "--data-dir", str(data)),
        cwd=REPO,
        env=python_env(),
        capture_output=True,
        timeout=120,
        check=True,
    )
    return time.monotonic() - started


def test_kill_9_during_news_import(
    start_server: StartServer, tmp_path: Path, figures: dict[str, Any]
) -> None:
    srv = start_server(config=LIFTED_LIMITS)
    data = srv.data_dir
    rnd = random.Random(SEED + 1)
    token = srv.token(srv.seller(), "personal", "all")

    # The import window: after start-up (an empty file) and before the end (a full one).
    startup = timed_import(news_file(tmp_path / "empty.json", 1, 0), data)
    total = timed_import(news_file(tmp_path / "n0.json", 100_000, NEWS_ITEMS), data)
    assert count_range(data, 100_000, NEWS_ITEMS) == (NEWS_ITEMS, 2 * NEWS_ITEMS)
    assert total > startup, (startup, total)

    outcomes: list[str] = []
    server_kills = 0
    killed_files: list[tuple[Path, int]] = []
    # The window is measured on a busy machine: after a kill that came too late (the import was whole),
    # the next one comes earlier, so the rounds cannot all land after the commit.
    shrink = 1.0
    n = 0
    while n < NEWS_ROUNDS or ("none" not in outcomes and n < 3 * NEWS_ROUNDS):
        n += 1
        first = 100_000 + n * 10_000
        path = news_file(tmp_path / f"n{n}.json", first, NEWS_ITEMS)
        proc = subprocess.Popen(
            wbseller_cmd("news", "import", str(path), "--data-dir", str(data)),
            cwd=REPO,
            env=python_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(startup + rnd.uniform(0.1, 0.9) * shrink * (total - startup))
        kill_server = n % 2 == 0
        if kill_server:
            srv.kill()
            server_kills += 1
        proc.kill()
        proc.wait(30)
        news, links = count_range(data, first, NEWS_ITEMS)
        assert (news, links) in ((0, 0), (NEWS_ITEMS, 2 * NEWS_ITEMS)), (n, news, links)
        outcomes.append("none" if news == 0 else "all")
        shrink = 1.0 if news == 0 else shrink / 2
        if news == 0:
            killed_files.append((path, first))
        if kill_server:
            restart(srv)
        assert integrity(data) == "ok"
    assert "none" in outcomes, f"no kill landed inside an import: {outcomes}"

    # The server serves exactly what is there; a file killed mid-import imports whole the second time.
    for n, outcome in enumerate(outcomes, start=1):
        first = 100_000 + n * 10_000
        r = srv.get(NEWS, token, params={"fromID": str(first)})
        assert r.status_code == 200, r.text
        got = [item["id"] for item in r.json()["data"] if item["id"] < first + 10_000]
        assert got == ([] if outcome == "none" else list(range(first, first + 100))), (n, got[:5])
    path, first = killed_files[0]
    timed_import(path, data)
    assert count_range(data, first, NEWS_ITEMS) == (NEWS_ITEMS, 2 * NEWS_ITEMS)
    item = srv.get(NEWS, token, params={"fromID": str(first)}).json()["data"][0]
    assert item["id"] == first
    assert [t["name"] for t in item["types"]] == ["API", "Тег 0"]

    figures.update(
        {
            "rounds": len(outcomes),
            "items per file": NEWS_ITEMS,
            "outcomes": outcomes,
            "server kills": server_kills,
            "startup seconds": round(startup, 2),
            "import seconds": round(total, 2),
        }
    )


def test_kill_9_of_the_server_during_token_creation_in_the_account_pages(
    start_server: StartServer, figures: dict[str, Any]
) -> None:
    srv = start_server(config=LIFTED_LIMITS)
    sid = srv.seller()
    account = make_user(srv, sid, "Анна Портальная")
    rnd = random.Random(SEED + 2)
    shown: list[str] = []
    posted = 0

    def keep_creating(portal: Portal, stop: threading.Event) -> None:
        nonlocal posted
        form = {"tab": "manual", "type": "base", "name": "", "categories": "content", "access": "rw"}
        while not stop.is_set():
            posted += 1
            try:
                r = portal.post("/integrations/new", {**form, "name": f"portal {posted}"})
            except httpx.TransportError:
                return  # the server is gone
            assert r.status_code == 200, r.text[:500]
            m = SHOWN.search(r.text)
            assert m, r.text[:500]
            shown.append(html.unescape(m.group(1)).strip())

    for _ in range(PORTAL_ROUNDS):
        portal = Portal(srv)
        try:
            assert portal.sign_in(account).status_code == 303
            portal.get("/integrations")
            stop = threading.Event()
            worker = threading.Thread(target=keep_creating, args=(portal, stop))
            worker.start()
            time.sleep(rnd.uniform(0.3, 1.0))
            srv.kill()
            stop.set()
            worker.join(30)
            assert not worker.is_alive()
        finally:
            portal.close()
        restart(srv)

    assert integrity(srv.data_dir) == "ok"
    records = {r.id: r for r in srv.run_storage(lambda s: s.list_tokens(sid, include_revoked=True))}
    ids = [token_id(t) for t in shown]
    assert not [i for i in ids if i not in records], "a page showed a token without a record"
    with srv.client() as http:
        for token in shown:
            r = http.get(PING, headers={"Authorization": token})
            assert r.status_code == 200, (r.status_code, r.text)
    unshown = set(records) - set(ids)
    assert len(unshown) <= PORTAL_ROUNDS, (len(unshown), PORTAL_ROUNDS)
    assert len(shown) >= PORTAL_ROUNDS
    figures.update(
        {
            "server kills": PORTAL_ROUNDS,
            "forms posted": posted,
            "tokens shown": len(shown),
            "records": len(records),
            "records no page showed (nobody has the token)": len(unshown),
        }
    )
