"""Tokens and scopes, called as the services they are (no API)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from firmware_sim.fleet import batu_fleet
from services import InvalidInput
from services.access import Principal, Role, create_token, hash_token, list_tokens, resolve, revoke
from services.registry_import import import_document
from storage.db import ApiToken, Field
from storage.db.engine import open_registry, sqlite_url


def test_a_token_resolves_to_its_principal_until_revoked(tmp_path: Path) -> None:
    sessions = open_registry(sqlite_url(tmp_path / "r.sqlite3"))
    with sessions() as session:
        import_document(session, batu_fleet().subset(1, 2))
        token = create_token(session, name="petani", role=Role.FARMER, farmer_id="oro-oro-ombo-f01-farmer")
        principal = resolve(session, token)
        assert principal is not None
        assert (principal.role, principal.coop_id, principal.farmer_id) == (
            Role.FARMER,
            "oro-oro-ombo",
            "oro-oro-ombo-f01-farmer",
        )
        rows = list_tokens(session)
        assert [r.token_sha256 for r in rows] == [hash_token(token)]
        assert token not in str([vars(r) for r in rows])  # only the hash is kept
        assert revoke(session, principal.token_id)
        assert resolve(session, token) is None
        assert not revoke(session, 999)
        with pytest.raises(InvalidInput, match="existing --farmer"):
            create_token(session, name="x", role=Role.FARMER, farmer_id="nobody")
        with pytest.raises(InvalidInput, match="existing --coop"):
            create_token(session, name="x", role=Role.COOP_MANAGER, coop_id="atlantis")
        assert session.scalar(select(ApiToken).where(ApiToken.name == "x")) is None


@pytest.mark.parametrize("role", list(Role))
def test_the_sql_scope_selects_exactly_the_fields_a_principal_can_see(role: Role, tmp_path: Path) -> None:
    sessions = open_registry(sqlite_url(tmp_path / "r.sqlite3"))
    with sessions() as session:
        import_document(session, batu_fleet().subset(3, 4))
        principal = Principal(1, "p", role, "oro-oro-ombo", "oro-oro-ombo-f02-farmer")
        every = list(session.scalars(select(Field)))
        condition = principal.field_filter()
        chosen = every if condition is None else list(session.scalars(select(Field).where(condition)))
        assert {f.id for f in chosen} == {f.id for f in every if principal.can_see_field(f)}
        assert chosen  # every role sees something of this fleet
