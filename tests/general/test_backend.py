"""General alone: its facts match the document, accept_invite's refusals, reset."""

from __future__ import annotations

import pytest

from tests.api.kit import CATALOG, Api
from wbseller.backends.general import ACCESS_CODES, DAY, General, GeneralError


def test_the_access_codes_are_the_document_s() -> None:
    op = CATALOG.by_id("post-api-v1-invite")
    assert tuple(CATALOG.defs_of(op)["Access"]["items"]["properties"]["code"]["enum"]) == ACCESS_CODES


def test_accept_invite_refusals(api: Api) -> None:
    g = api.gw.backends.of(General)
    sid = api.seller()
    inv = api.run(g.create_invite(sid, "79991234567", now=api.now))
    with pytest.raises(GeneralError, match="no such invitation"):
        api.run(g.accept_invite("nope", "x", "pw", "X", api.now))
    taken = f"taken-{sid}"
    api.run(api.gw.storage.create_user(sid, "T", "user", api.now, login=taken))
    with pytest.raises(GeneralError, match="choose another login"):
        api.run(g.accept_invite(inv.uuid, taken, "pw", "X", api.now))
    user = api.run(g.accept_invite(inv.uuid, f"ok-{sid}", "pw", "X", api.now))  # still open after the refusal
    assert user.sid == sid and user.role == "user"
    with pytest.raises(GeneralError, match="accepted already"):
        api.run(g.accept_invite(inv.uuid, f"again-{sid}", "pw", "X", api.now))
    old = api.run(g.create_invite(sid, "79991234567", now=api.now - 8 * DAY))
    with pytest.raises(GeneralError, match="expired"):
        api.run(g.accept_invite(old.uuid, f"late-{sid}", "pw", "X", api.now))


def test_reset_forgets_the_section_and_the_gate_row(api: Api) -> None:
    g = api.gw.backends.of(General)
    sid = api.seller()
    api.run(g.jam_connect(sid, "standard", "jam", 5, api.now))
    api.run(g.create_invite(sid, "79991234567", now=api.now))
    api.run(g.reset(sid))
    assert api.run(g.jam_state(sid, api.now)) is None
    assert api.run(g.people(sid, True))[0] == 0
    state = api.run(api.gw.storage.seller_state(sid))
    assert state is not None and "jam" not in state.subscriptions
