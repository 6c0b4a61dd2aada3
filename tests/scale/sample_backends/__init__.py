"""Two backends that exist only for tests/scale/test_backends.py: the shape a section's backend takes (its
tables on a MetaData of its own, named after the section, its own alembic branch), and a handler that
reaches one through its Context."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, func, insert, select

from wbseller.backends import Backend
from wbseller.methods.context import Context, Reply, json_reply

HERE = Path(__file__).parent

notes_metadata = MetaData()
notes_items = Table(
    "test_notes_items",
    notes_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sid", String(36), nullable=False, index=True),
    Column("text", Text, nullable=False),
)
notes_kinds = Table(  # shared by every seller: no `sid`, so a reset leaves it alone
    "test_notes_kinds",
    notes_metadata,
    Column("name", String(32), primary_key=True),
)


class Notes(Backend):
    name = "test-notes"
    metadata = notes_metadata
    versions = HERE / "notes_versions"

    async def add(self, sid: str, text: str) -> None:
        async with self.begin() as conn:
            await conn.execute(insert(notes_items).values(sid=sid, text=text))

    async def count(self, sid: str) -> int:
        async with self.begin() as conn:
            query = select(func.count()).select_from(notes_items).where(notes_items.c.sid == sid)
            return int((await conn.execute(query)).scalar_one())


tallies_metadata = MetaData()
tallies_counts = Table(
    "test_tallies_counts",
    tallies_metadata,
    Column("sid", String(36), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("label", Text, nullable=False, server_default=""),  # added by the branch's second revision
)


class Tallies(Backend):
    name = "test-tallies"
    metadata = tallies_metadata
    versions = HERE / "tallies_versions"


async def note_count(ctx: Context) -> Reply:
    """A handler that reads its section's state: the seller's notes."""
    notes = ctx.backends.of(Notes)
    await notes.add(ctx.claims.sid, ctx.path)
    return json_reply({"notes": await notes.count(ctx.claims.sid)})
