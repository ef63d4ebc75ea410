"""The registry's schema migrations (Alembic), run by :func:`storage.db.engine.open_registry`.

A new schema change is a new revision in ``versions/`` (``alembic -c storage/migrations/alembic.ini
revision -m "..."``, then edit its ``upgrade``); ``tests/storage/test_registry_migration.py`` checks
that a registry of every earlier layout ends up with the schema of a fresh one.
"""
