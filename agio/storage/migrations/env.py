"""Alembic environment: Agio runs migrations on a connection it hands over itself."""

from alembic import context

from agio.storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Agio applies its migrations itself at start-up (agio.storage.migrate.upgrade); "
        "run `agio serve` or `agio db upgrade` instead of the alembic command"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
