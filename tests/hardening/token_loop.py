"""Issue tokens one after another, each exactly as `wbseller token create` does it (its record committed
by `Accounts.issue_token`, then the token printed), every line flushed at once: the crash test kills
this process at random moments and checks what was printed against what was stored.

Run as `python -m tests.hardening.token_loop --data-dir D --seller SID --count N`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from wbseller.accounts import Accounts
from wbseller.categories import mask_of
from wbseller.clock import SystemClock
from wbseller.storage import Storage
from wbseller.tokens import TokenType


async def issue(data_dir: Path, sid: str, count: int) -> None:
    storage = Storage.in_dir(data_dir)
    try:
        await storage.migrate()
        accounts = Accounts(storage, SystemClock())
        await accounts.load_keys()
        for i in range(count):
            issued = await accounts.issue_token(
                sid, TokenType.PERSONAL, scope=mask_of(["all"]), accept_liability=True, name=f"loop {i}"
            )
            print(issued.token, flush=True)
    finally:
        await storage.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seller", required=True)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(issue(args.data_dir, args.seller, args.count))


if __name__ == "__main__":
    main()
