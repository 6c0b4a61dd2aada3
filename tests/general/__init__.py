"""The General section with state (issue 13): users and invitations, accesses, rating, Jam.

| module | what |
|---|---|
| test_api.py | the six operations in-process through the gateway (tests/api's harness): the access-list rules, phones, users and invitations, PUT access, DELETE (owner, another seller's user, tokens refused), token types, rating, every Jam state on the test clock, the Jam gate before and after `till` |
| test_backend.py | General alone: accept_invite's refusals, Jam history, reset, the access codes are the document's |
| test_e2e.py | a real server: CLI invite -> accepted -> GET /api/v1/users; `seller subscribe` for Jam; two servers on one PostgreSQL: a deleted user's token 403 on both within 1 s |
"""
