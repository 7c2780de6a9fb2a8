"""Alembic environment: migrations run in process, on the connection the service gives."""

from __future__ import annotations

from alembic import context

from prober.service.store import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the service always passes its connection
    raise RuntimeError("prober's migrations run through prober.service.store.migrate()")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
